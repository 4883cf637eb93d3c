"""Band-energy sketches: the bits, the search, the chance model, and the
engine deciding with them when the hashes cannot."""
import numpy as np
import pytest

from audiogen import make_song
from dejavu_cn import Dejavu
from dejavu_cn.audio import resample
from dejavu_cn.config import Config, ConfigError, FingerprintParams
from dejavu_cn.degrade import degrade
from dejavu_cn.fingerprint import StreamingFingerprinter, sketch_of
from dejavu_cn.sketch import (LOCAL_1PCT, SKETCH_BITS, SONG_1PCT, SONG_STARTS, band_edges, best_start, chance_p_value,
                              from_bytes, mismatches, to_bytes, verify, z_score)

PARAMS = Config().fingerprint
RATE = PARAMS.sample_rate


def song(seed, seconds=20.0):
    return resample(make_song(seed, seconds), 44100, RATE)


def error_rate(a, b):
    n = min(a.size, b.size)
    return float(np.bitwise_count(a[:n] ^ b[:n]).sum()) / (SKETCH_BITS * n)


def test_bands_are_strictly_increasing_bins_inside_the_range():
    edges = band_edges(PARAMS)
    assert edges.size == SKETCH_BITS + 2 and np.all(np.diff(edges) >= 1)
    bin_hz = RATE / PARAMS.window_size
    assert abs(edges[0] * bin_hz - PARAMS.sketch_min_frequency) < bin_hz
    assert abs(edges[-1] * bin_hz - PARAMS.sketch_max_frequency) < bin_hz


def test_streaming_sketch_equals_the_one_shot_sketch():
    x = song(11, 9.0)
    fp = StreamingFingerprinter(PARAMS, keep_sketch="song")
    for start in range(0, x.size, 3001):                 # pieces that cut frames anywhere
        fp.feed(x[start:start + 3001])
    fp.flush()
    whole = sketch_of(x, PARAMS)
    frames = 1 + (x.size - PARAMS.window_size) // PARAMS.hop_size
    assert whole.dtype == np.uint32 and whole.size == frames - PARAMS.sketch_smoothing_frames
    assert np.array_equal(fp.sketch(), whole)


def test_a_sketch_taken_piece_by_piece_is_the_whole_sketch():
    x = song(11, 9.0)
    fp = StreamingFingerprinter(PARAMS, keep_sketch="song")
    taken = []
    for start in range(0, x.size, 1001):                 # pieces shorter than the smoothing, too
        fp.feed(x[start:start + 1001])
        taken.append(fp.take_sketch())
    fp.flush()
    taken.append(fp.take_sketch())
    assert np.array_equal(np.concatenate(taken), sketch_of(x, PARAMS))
    assert len(fp._energy[0]) == PARAMS.sketch_smoothing_frames     # only what the next word needs is kept


def test_sketch_ignores_loudness_and_survives_the_microphone_path():
    x = song(12)
    ref = sketch_of(x, PARAMS)
    assert error_rate(sketch_of(x * 0.05, PARAMS), ref) < 0.01
    noisy, rate = degrade(x, RATE, "mic", np.random.default_rng(3))
    heard = sketch_of(resample(noisy, rate, RATE), PARAMS)
    other = sketch_of(song(13), PARAMS)
    assert error_rate(heard, ref) < 0.35              # far more than half of the bits agree
    assert 0.4 < error_rate(other, ref) < 0.6         # unrelated music: about half


def test_round_trip_through_bytes():
    words = np.random.default_rng(0).integers(0, 2 ** 32, 50, dtype=np.uint64).astype(np.uint32)
    data = to_bytes(words)
    assert len(data) == 200 and np.array_equal(from_bytes(data), words)


@pytest.mark.parametrize("length", [30, 31])             # the two-frames-per-word path and its odd tail
def test_mismatches_equal_a_brute_force_count(length):
    rng = np.random.default_rng(length)
    s = rng.integers(0, 2 ** 32, 200, dtype=np.uint64).astype(np.uint32)
    q = rng.integers(0, 2 ** 32, length, dtype=np.uint64).astype(np.uint32)
    brute = np.array([sum(bin(int(a) ^ int(b)).count("1") for a, b in zip(s[k:k + length], q))
                      for k in range(s.size - length + 1)])
    assert np.array_equal(mismatches(s, q), brute)
    starts = np.array([0, 17, s.size - length])
    assert np.array_equal(mismatches(s, q, starts), brute[starts])
    assert mismatches(q, s).size == 0                    # a query longer than the song fits nowhere


def test_best_start_finds_a_noisy_excerpt_with_a_coarse_pass_first():
    rng = np.random.default_rng(5)
    song = rng.integers(0, 2 ** 32, 20_000, dtype=np.uint64).astype(np.uint32)
    for length, start in ((400, 12_345), (40, 777)):          # the coarse pass, and a query too short for it
        query = song[start:start + length].copy()
        flips = rng.random((length, 32)) < 0.3                 # 30 % of the bits wrong: a noisy clip
        query ^= np.packbits(flips, axis=1, bitorder="little").view("<u4").reshape(-1)
        found, errors, starts = best_start(song, query)
        exhaustive = mismatches(song, query)
        assert (found, errors, starts) == (start, int(exhaustive.min()), exhaustive.size)
    assert mismatches(song, query, every=4).size == song.size - query.size + 1


def test_chance_model_is_anchored_and_monotone():
    assert chance_p_value(LOCAL_1PCT, whole_song=False) == pytest.approx(0.01)
    assert chance_p_value(SONG_1PCT, whole_song=True) == pytest.approx(0.01)
    zs = np.linspace(-5, 20, 60)
    for whole in (False, True):
        p = [chance_p_value(z, whole_song=whole) for z in zs]
        assert p[0] == 1.0 and all(a >= b for a, b in zip(p, p[1:])) and p[-1] < 1e-6
    # searching the whole song needs no less evidence for the same chance (measured: as much, since the hashes
    # propose the place where a wrong song resembles the clip most), and more the longer the song
    assert chance_p_value(8.0, whole_song=True) >= chance_p_value(8.0, whole_song=False)
    assert chance_p_value(9.0, whole_song=True, starts=3 * SONG_STARTS) == pytest.approx(
        3 * chance_p_value(9.0, whole_song=True))
    assert chance_p_value(9.0, whole_song=True, starts=10) == chance_p_value(9.0, whole_song=True)
    assert z_score(0, 100) > z_score(SKETCH_BITS * 100 * 0.4, 100) > z_score(SKETCH_BITS * 100 * 0.5, 100) == 0


def test_verify_finds_the_offset_anywhere_in_the_song():
    rng = np.random.default_rng(5)
    s = rng.integers(0, 2 ** 32, 3000, dtype=np.uint64).astype(np.uint32)
    flips = rng.random((120, SKETCH_BITS)) < 0.30                 # a noisy copy of 120 frames at 1234
    q = s[1234:1354] ^ np.packbits(flips, axis=1, bitorder="little").view("<u4").reshape(-1)
    unrelated = rng.integers(0, 2 ** 32, 120, dtype=np.uint64).astype(np.uint32)
    found = verify(q, [(7, 40), (8, 1234)], {7: s, 8: s[::-1].copy()})
    p, offset, rate = found[7]                # proposed at a wrong offset: found by the whole-song search
    assert offset == 1234 and 0.25 < rate < 0.35 and p < 1e-6
    assert found[8][0] > 1e-3                 # the other song does not hold it
    p_at, offset_at, _ = verify(q, [(7, 1236)], {7: s})[7]        # proposed 2 frames off: the local check
    assert offset_at == 1234 and p_at <= p
    assert verify(unrelated, [(7, 1234)], {7: s})[7][0] > 1e-3
    assert verify(q[:3], [(7, 1234)], {7: s}) == {}               # too short to say anything
    assert verify(q, [(9, 0)], {7: s}) == {}                      # a song without a sketch is skipped


def test_sketch_range_must_lie_inside_the_peaks_band():
    with pytest.raises(ConfigError):
        FingerprintParams(min_frequency=200.0).validate()
    with pytest.raises(ConfigError):
        FingerprintParams(sketch_smoothing_frames=0).validate()


def test_the_sketch_decides_when_the_hashes_cannot(tmp_path, songs_dir):
    """One peak a second paired once: hashes too few to decide anything;
    the sketch names the clips (right song, right offset) and without it
    nothing is named. Unknown music stays no match."""
    def engine(candidates):
        return Dejavu({"database_type": "sqlite", "database": {"path": str(tmp_path / "sparse.sqlite3")},
                       "fingerprint": {"peaks_per_second": 1, "fan_value": 1},
                       "recognition": {"query_fan_value": 1, "sketch_candidates": candidates}})
    with_sketch = engine(5)
    with_sketch.register([songs_dir], jobs=1)
    without = engine(0)
    named = 0
    for seed in (11, 12, 13, 14, 15):
        clip = song(seed)[6 * RATE:11 * RATE]
        assert without.match_samples(clip)["match"] is None
        match = with_sketch.match_samples(clip)["match"]
        if match:
            assert match["song_name"] == f"song{seed}" and match["decided_by"] == "sketch"
            assert abs(match["offset_seconds"] - 6.0) < 0.1 and match["sketch_bit_error_rate"] < 0.3
            named += 1
    assert named >= 3
    for seed in (501, 502, 503):
        assert with_sketch.match_samples(song(seed, 6.0))["match"] is None



def _fading(seed, seconds=6.0):
    """A static spectrum (a few steady partials over weak noise) fading out to digital silence."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    x = sum(np.sin(2 * np.pi * f * t) / (k + 1) for k, f in enumerate(rng.uniform(150, 3000, 5)))
    x = x + 0.01 * rng.standard_normal(t.size)
    x *= np.clip(1 - t / (0.7 * seconds), 0, 1) ** 2                   # silent for the last 30 %
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def test_a_fade_agrees_with_no_other_fade():
    """Where only the level of a static spectrum moves, the linear format's
    bits follow the level, so any fade agrees with any other; the shares
    format's bits follow the spectrum's shape, and silence gets filler bits
    that agree with nothing."""
    linear = FingerprintParams(sketch_levels="linear")
    a, b = _fading(1)[int(2.4 * RATE):], _fading(2)[int(2.4 * RATE):]        # the fades' ends, into silence
    assert error_rate(sketch_of(a, linear), sketch_of(b, linear, side="query")) < 0.35
    shares = sketch_of(a, PARAMS), sketch_of(b, PARAMS, side="query")
    assert 0.4 < error_rate(*shares) < 0.6
    song_side, query_side = sketch_of(np.zeros(RATE * 3, np.float32), PARAMS), \
        sketch_of(np.zeros(RATE * 3, np.float32), PARAMS, side="query")
    assert 0.4 < error_rate(song_side, query_side) < 0.6                  # two silences do not agree either
    assert np.array_equal(song_side, sketch_of(np.zeros(RATE * 3, np.float32), PARAMS))   # filler is fixed
    assert 0.4 < error_rate(song_side[:50], song_side[50:100]) < 0.6      # and no pattern repeats in it


def test_shares_keep_a_noisy_copy_and_ignore_loudness():
    x = song(12)
    ref = sketch_of(x, PARAMS)
    assert error_rate(sketch_of(x * 0.05, PARAMS), ref) < 0.01
    noisy, rate = degrade(x, RATE, "mic", np.random.default_rng(3))
    assert error_rate(sketch_of(resample(noisy, rate, RATE), PARAMS, side="query"), ref) < 0.35
    with pytest.raises(ConfigError):
        FingerprintParams(sketch_levels="log").validate()


@pytest.mark.parametrize("recorded", [True, False])
def test_a_database_keeps_the_sketch_format_it_was_made_with(any_config, songs_dir, recorded):
    """A database registered with linear sketches (the format recorded, or
    made before it was) is opened with the defaults: the engine follows it,
    so queries are sketched as its songs were; other parameters are still refused."""
    import json
    from dejavu_cn.errors import ParameterMismatchError
    old = Dejavu({**any_config, "fingerprint": {"sketch_levels": "linear"}})
    old.register([songs_dir], jobs=1)
    store = old.storage

    def forget_the_format(cur):                             # as a database of an earlier version records it
        cur.execute(store._sql("SELECT meta_value FROM dejavu_meta WHERE meta_key = ?"), ("fingerprint_parameters",))
        stored = json.loads(cur.fetchone()[0])
        del stored["sketch_levels"]
        cur.execute(store._sql("UPDATE dejavu_meta SET meta_value = ? WHERE meta_key = ?"),
                    (json.dumps(stored, sort_keys=True), "fingerprint_parameters"))
    if not recorded:
        store._run("forget the sketch format", forget_the_format, write=True)
    old.close()
    engine = Dejavu(any_config)
    assert engine.params.sketch_levels == "linear"
    clip = song(12)[5 * RATE:8 * RATE]
    stored_sketch = engine.sketches([s["song_id"] for s in engine.list_songs()[0] if s["song_name"] == "song12"])
    (words,) = stored_sketch.values()
    heard = sketch_of(clip, engine.params, side="query")
    assert error_rate(heard, words[5 * RATE // PARAMS.hop_size:]) < 0.1
    assert engine.match_samples(clip)["match"]["song_name"] == "song12"
    engine.close()
    with pytest.raises(ParameterMismatchError):
        Dejavu({**any_config, "fingerprint": {"fan_value": 3}}).list_songs()
