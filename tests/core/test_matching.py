"""Alignment with known answers, on an in-memory index (no database)."""
import numpy as np
import pytest

from audiogen import make_song
from dejavu_cn.audio import resample
from dejavu_cn.config import FingerprintParams, RecognitionParams
from dejavu_cn.fingerprint import find_peaks, fingerprint
from dejavu_cn.hashing import hash_keys
from dejavu_cn.matching import (align, alignment_details, analyze_query, best_songs, chance_p_value,
                                confidence_from_p, query_params)
from dejavu_cn.columns import Lookup

P, R = FingerprintParams(), RecognitionParams()
QP = query_params(P, R)
SOURCE_RATE = 44100


@pytest.fixture(scope="module")
def index():
    songs = {sid: make_song(seed, 30.0, rate=SOURCE_RATE) for sid, seed in ((1, 31), (2, 32), (3, 33))}
    keys, ids, offsets = [], [], []
    for sid, x in songs.items():
        fp = fingerprint(resample(x, SOURCE_RATE, P.sample_rate), P)
        keys.append(hash_keys(fp.hashes))
        ids.append(np.full(len(fp), sid))
        offsets.append(fp.offsets.astype(np.int64))
    return songs, Lookup(np.concatenate(keys), np.concatenate(ids), np.concatenate(offsets))


def query(samples, rate):
    return analyze_query(resample(samples, rate, P.sample_rate), QP, shifts=R.query_shifts)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize("start", [3.0, 12.345, 21.7])
def test_offset_is_right_at_any_rate_and_cut(index, rate, start):
    songs, lookup = index
    clip = songs[2][int(start * SOURCE_RATE) + 7:int((start + 4) * SOURCE_RATE)]   # cut off the sample grid
    clip = resample(clip, SOURCE_RATE, rate)
    candidates, stats = align(query(clip, rate), lookup)
    best = candidates[0]
    assert best.song_id == 2
    offset = best.offset_subframes / R.query_shifts * P.frame_seconds()
    assert abs(offset - (start + 7 / SOURCE_RATE)) < 0.05
    assert best.aligned_frames > 5 * max([c.aligned_frames for c in candidates[1:]] + [1])


def test_unknown_audio_aligns_weakly_and_gets_low_confidence(index):
    songs, lookup = index
    q = query(make_song(777, 5.0, rate=SOURCE_RATE), SOURCE_RATE)
    candidates, stats = align(q, lookup)
    span = 30.0 / P.frame_seconds() + q.duration_seconds / P.frame_seconds()
    for c in candidates:
        conf = confidence_from_p(chance_p_value(c.aligned_frames, c.hits, span, stats["songs_hit"]))
        assert conf < R.threshold


def test_true_match_gets_full_confidence(index):
    songs, lookup = index
    q = query(songs[3][5 * SOURCE_RATE:8 * SOURCE_RATE], SOURCE_RATE)
    candidates, stats = align(q, lookup)
    c = candidates[0]
    span = 30.0 / P.frame_seconds() + q.duration_seconds / P.frame_seconds()
    assert c.song_id == 3
    assert confidence_from_p(chance_p_value(c.aligned_frames, c.hits, span, stats["songs_hit"])) == 1.0


def test_confidence_is_monotonic_and_bounded():
    values = [confidence_from_p(chance_p_value(a, 40, 3000, 10)) for a in range(0, 60)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert values == sorted(values)
    assert values[0] == 0.0 and values[-1] == 1.0


def test_a_minimum_of_aligned_frames_refuses_fewer_and_scores_the_rest_alike():
    """recognition.min_aligned_frames: three triplets aligned on a song with
    three hits score high by chance alone (a burst), and are refused."""
    from dejavu_cn.decision import Candidate
    from dejavu_cn.matching import score_candidates

    def scored(min_aligned):
        few = Candidate(song_id=1, aligned_frames=3, offset_subframes=0.0, hits=3)
        many = Candidate(song_id=2, aligned_frames=9, offset_subframes=0.0, hits=12)
        return score_candidates([few, many], [20000.0, 20000.0], 40, 0.4, min_aligned=min_aligned)
    plain, strict = scored(0), scored(4)
    assert plain[0].confidence >= 0.4                    # the chance model alone would name it
    assert strict[0].confidence == 0.0 and strict[0].p_value == 1.0
    assert strict[1].confidence == plain[1].confidence > 0.4


def test_empty_query_and_empty_index(index):
    songs, lookup = index
    assert align(query(np.zeros(100, np.float32), SOURCE_RATE), lookup)[0] == []
    empty = Lookup.empty()
    assert align(query(songs[1][:SOURCE_RATE * 3], SOURCE_RATE), empty)[0] == []


def test_alignment_details_form_a_diagonal(index):
    songs, lookup = index
    q = query(songs[1][10 * SOURCE_RATE:15 * SOURCE_RATE], SOURCE_RATE)
    d = alignment_details(q, lookup, 1)
    diff_seconds = d["difference_frames"] * P.frame_seconds()
    assert np.mean(np.abs(diff_seconds - 10.0) < 0.05) > 0.5


def test_align_gives_the_same_candidates_whatever_the_song_ids(index):
    """Song ids too large for the one-key sort take the three-key sort: the
    answer must not change."""
    songs, lookup = index
    q = query(songs[2][7 * SOURCE_RATE:9 * SOURCE_RATE] + 0.3 * songs[1][:2 * SOURCE_RATE], SOURCE_RATE)
    small, stats_small = align(q, lookup)
    big_ids = Lookup(lookup.keys, lookup.song_ids + (1 << 40), lookup.offsets)
    big, stats_big = align(q, big_ids)
    assert stats_small == stats_big and len(small) >= 2
    for a, b in zip(small, big):
        assert (a.song_id + (1 << 40), a.aligned_frames, a.offset_subframes, a.hits, a.repeat_votes) == \
               (b.song_id, b.aligned_frames, b.offset_subframes, b.hits, b.repeat_votes)


def test_best_songs_rank_the_songs_as_align_does(index):
    """Two-stage matching picks its songs by each one's best window of votes:
    the matching song first, and the same songs as align's candidates."""
    songs, lookup = index
    q = query(songs[3][10 * SOURCE_RATE:13 * SOURCE_RATE] + 0.5 * songs[1][:3 * SOURCE_RATE], SOURCE_RATE)
    ranked = best_songs(q, lookup, top=3)
    candidates, _ = align(q, lookup, top=3)
    assert ranked[0] == 3 == candidates[0].song_id
    assert sorted(ranked.tolist()) == sorted(c.song_id for c in candidates)
    assert best_songs(q, lookup, top=1).tolist() == [3]
    assert best_songs(query(np.zeros(SOURCE_RATE), SOURCE_RATE), lookup).size == 0


def test_groups_align_apart(index):
    """Versions of a query aligned at once (the speed search's scan): each
    (song, group) is its own candidate, with the evidence it has alone."""
    songs, lookup = index
    q = query(songs[3][4 * SOURCE_RATE:9 * SOURCE_RATE], SOURCE_RATE)
    alone, _ = align(q, lookup)
    noise = query(np.random.default_rng(3).normal(0, 0.1, 5 * SOURCE_RATE), SOURCE_RATE)
    both = type(q)(np.concatenate([noise.hashes, q.hashes]), np.concatenate([noise.times, q.times]), q.shifts,
                   q.duration_seconds)
    groups = np.repeat([0, 1], [len(noise), len(q)])
    found, stats = align(both, lookup, groups=groups, group_count=2)
    best = found[0]
    assert (best.song_id // 2, best.song_id % 2) == (3, 1)                    # song 3, as the second version
    assert (best.aligned_frames, best.offset_subframes) == (alone[0].aligned_frames, alone[0].offset_subframes)
    assert all(c.aligned_frames <= 3 for c in found if c.song_id % 2 == 0)    # the noise version: chance only


def test_progressive_analysis_gives_the_hashes_of_one_pass(index):
    """QueryAnalysis.head reads only as much audio as the opening hashes
    need, yet gives exactly the whole analysis' opening hashes; whole()
    then gives every hash of one pass."""
    from dejavu_cn.matching import QueryAnalysis
    songs, _ = index
    x = resample(songs[3][2 * SOURCE_RATE:12 * SOURCE_RATE], SOURCE_RATE, P.sample_rate)
    for shifts in (1, 3):
        ref = analyze_query(x, QP, shifts=shifts)
        rows = lambda q: sorted(zip(map(bytes, q.hashes), q.times.tolist()))  # noqa: E731
        analysis = QueryAnalysis(x, QP, shifts=shifts)
        head = analysis.head(3.0)
        assert max(analysis._fed) < 0.8 * x.size                    # the tail was not analysed yet
        assert rows(head) == rows(ref.head(3.0, P.frame_seconds())) and len(head) > 0
        assert rows(analysis.whole()) == rows(ref)
        one_pass = find_peaks(x, QP)                                  # the peaks the speed search maps
        assert np.array_equal(analysis.peaks().frames, one_pass.frames) and \
            np.array_equal(analysis.peaks().bins, one_pass.bins) and len(one_pass) > 0
        short = QueryAnalysis(x[:4 * P.sample_rate], QP, shifts=shifts)
        assert rows(short.head(3.0)) == rows(analyze_query(x[:4 * P.sample_rate], QP, shifts=shifts)
                                            .head(3.0, P.frame_seconds()))
