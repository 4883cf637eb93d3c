"""The streaming matcher on recorded buffers (no audio device)."""
from math import gcd

import numpy as np
import pytest
from audiogen import make_song
from scipy.signal import resample_poly

from dejavu_cn import Dejavu
from dejavu_cn.audio import resample
from dejavu_cn.errors import ParameterError
from dejavu_cn.hashing import hash_keys
from dejavu_cn.matching import analyze_query
from recognizers.cli import describe_match
from recognizers.microphone import StreamResampler
from recognizers.streaming import Monitor, StreamingMatcher, recognize_stream
from recognizers.timeline import clustered as _clustered

RATE = 11025


@pytest.fixture(scope="module")
def engine(songs_dir, tmp_path_factory):
    path = tmp_path_factory.mktemp("streamdb") / "stream.sqlite3"
    djv = Dejavu({"database": {"path": str(path)}})
    djv.register([songs_dir], jobs=1)
    yield djv
    djv.close()


@pytest.fixture(scope="module")
def song_ids(engine):
    return {s["song_name"]: s["song_id"] for s in engine.list_songs()[0]}


def song(seed, seconds=20.0):
    """A generated song at the analysis rate (the registered ones are seeds 11-15)."""
    return resample(make_song(seed, seconds), 44100, RATE)


def pieces(x, rng, low=50, high=4000):
    """Split ``x`` into random-sized pieces, as a device delivers them."""
    i = 0
    while i < x.size:
        n = int(rng.integers(low, high))
        yield x[i:i + n]
        i += n


def test_stream_query_equals_one_shot_analysis(engine):
    """Final + provisional hashes after any piece sizes = analyze_query on the whole."""
    x = song(13)[3 * RATE:9 * RATE]
    matcher = StreamingMatcher(engine, look_seconds=100.0)   # no look: only ingest
    for piece in pieces(x, np.random.default_rng(5)):
        assert matcher.feed(piece) == []
    got = matcher.query()
    ref = analyze_query(x, engine.query_params(), shifts=engine.config.recognition.query_shifts)
    assert len(got) == len(ref) > 0
    assert sorted(zip(map(bytes, got.hashes), got.times.tolist())) == \
        sorted(zip(map(bytes, ref.hashes), ref.times.tolist()))
    assert got.duration_seconds == pytest.approx(x.size / RATE)


def test_each_hash_is_looked_up_once(engine):
    seen, calls = [], []
    original = engine.lookup

    def spy(hashes):
        calls.append(len(hashes))
        seen.append(hash_keys(hashes))
        return original(hashes)

    engine.lookup = spy
    try:
        recognize_stream(engine, pieces(song(99)[:6 * RATE], np.random.default_rng(1)), max_seconds=6)
    finally:
        del engine.lookup
    keys = np.concatenate(seen)
    assert len(calls) >= 10                                 # one lookup per look, about every 0.4 s
    assert np.unique(keys).size == keys.size                # never the same hash twice


@pytest.mark.parametrize("seed,start", [(11, 2.0), (13, 7.3), (15, 12.05)])
def test_recognizes_early_with_offset_at_answer(engine, song_ids, seed, start):
    x = song(seed)[int(start * RATE):]
    result = recognize_stream(engine, pieces(x, np.random.default_rng(seed)), max_seconds=8)
    m = result["match"]
    assert m is not None and m["song_id"] == song_ids[f"song{seed}"]
    assert result["seconds_listened"] <= 3.0                  # early stop, well before the limit
    # offset = song position when answering = start + audio heard
    assert m["offset_seconds"] == pytest.approx(start + result["seconds_listened"], abs=0.05)
    assert {"song_name", "confidence", "offset_seconds", "hashes_matched_in_input"} <= set(m)


def test_unregistered_audio_gives_no_match_at_the_limit(engine):
    rng = np.random.default_rng(3)
    x = np.concatenate([song(98, 6.0), 0.1 * rng.standard_normal(2 * RATE).astype(np.float32)])
    result = recognize_stream(engine, pieces(x, rng), max_seconds=7.0)
    assert result["match"] is None
    assert result["seconds_listened"] == pytest.approx(7.0, abs=0.01)


def test_an_undecided_stream_ends_with_the_sketch_check(songs_dir, tmp_path):
    """Hashes too sparse to confirm anything (one peak a second, paired
    once): the stream runs to its limit, and the last test on all the audio
    heard names the song by its sketch, with its offset at the answer;
    without the sketch check, nothing is named."""
    def engine(candidates):
        return Dejavu({"database": {"path": str(tmp_path / "sparse.sqlite3")},
                       "fingerprint": {"peaks_per_second": 1, "fan_value": 1},
                       "recognition": {"query_fan_value": 1, "sketch_candidates": candidates}})
    with_sketch, without = engine(5), engine(0)
    with_sketch.register([songs_dir], jobs=1)
    named = 0
    for seed in (11, 12, 13):
        x = song(seed)[6 * RATE:]
        assert recognize_stream(without, pieces(x, np.random.default_rng(seed)), max_seconds=5)["match"] is None
        result = recognize_stream(with_sketch, pieces(x, np.random.default_rng(seed)), max_seconds=5)
        assert result["seconds_listened"] == pytest.approx(5.0, abs=0.01)
        if result["match"]:
            m = result["match"]
            assert m["song_name"] == f"song{seed}" and m["decided_by"] == "sketch"
            assert m["offset_seconds"] == pytest.approx(6.0 + 5.0, abs=0.1)
            named += 1
    assert named >= 2
    rng = np.random.default_rng(4)
    assert recognize_stream(with_sketch, pieces(song(97, 6.0), rng), max_seconds=5)["match"] is None


def test_confirmation_needs_two_agreeing_looks(engine, song_ids):
    x = song(12)[5 * RATE:]
    decided = []
    recognize_stream(engine, [x], max_seconds=5, on_look=lambda r: decided.append(r["decided"]))
    assert decided[-1] is True and decided[0] is False       # never on the first look
    one = []
    recognize_stream(engine, [x], max_seconds=5, confirmations=1, on_look=lambda r: one.append(r["decided"]))
    assert len(one) < len(decided)


def test_bad_parameters(engine):
    with pytest.raises(ParameterError):
        StreamingMatcher(engine, look_seconds=0)
    with pytest.raises(ParameterError):
        StreamingMatcher(engine, confirmations=0)
    with pytest.raises(ParameterError):
        recognize_stream(engine, [], max_seconds=0)


def test_monitor_announces_each_song_once(engine, song_ids):
    rng = np.random.default_rng(8)
    quiet = 0.003 * rng.standard_normal(6 * RATE).astype(np.float32)       # room noise between songs
    babble = 0.2 * song(97, 6.0)                                           # unregistered audio
    stream = np.concatenate([song(11)[:16 * RATE], quiet, babble, song(14)[2 * RATE:14 * RATE], quiet])
    monitor = Monitor(engine)
    events = []
    for piece in pieces(stream, rng):
        events.extend(monitor.feed(piece))
    final = monitor.finish()
    kinds = [(e["event"], e["match"]["song_id"] if e["event"] == "song" else e["song_id"]) for e in events]
    a, b = song_ids["song11"], song_ids["song14"]
    assert kinds == [("song", a), ("end", a), ("song", b), ("end", b)]
    assert final is None                                                    # song 14 ended before the stream
    first, second = events[0], events[2]
    assert first["time"] <= 3.0 and first["started"] == pytest.approx(0.0, abs=0.3)
    assert 28.0 <= second["time"] <= 32.0                                  # song 14 starts at 28 s
    assert second["started"] == pytest.approx(28.0, abs=0.5)
    assert second["match"]["offset_seconds"] == pytest.approx(2.0 + second["time"] - 28.0, abs=0.1)
    assert 15.0 <= events[1]["last_heard"] <= 16.2                         # song 11 stops at 16 s


def test_monitor_reports_the_end_when_the_stream_stops(engine, song_ids):
    monitor = Monitor(engine)
    events = monitor.feed(song(15)[:8 * RATE])
    final = monitor.finish()
    assert [e["event"] for e in events] == ["song"]
    assert final["event"] == "end" and final["song_id"] == song_ids["song15"]


@pytest.mark.parametrize("orig", [44100, 48000, 22050, 16000, 8000, 11025])
def test_stream_resampler_equals_whole_resampling(orig):
    rng = np.random.default_rng(orig)
    x = rng.standard_normal(orig * 2).astype(np.float32)
    resampler = StreamResampler(orig, RATE)
    y = np.concatenate([resampler.feed(p) for p in pieces(x, rng, 1, 3000)])
    g = gcd(orig, RATE)
    ref = resample_poly(x, RATE // g, orig // g)
    held_back = (2 * resampler.ctx + resampler.down) * RATE / orig    # context + one block, in output samples
    assert ref.size - held_back <= y.size <= ref.size
    n = y.size - 200                                               # the whole-signal end sees zero padding
    np.testing.assert_allclose(y[:n], ref[:n], atol=1e-5)


def test_monitor_memory_stays_bounded(engine, song_ids):
    stream = np.concatenate([song(12), song(13)])
    monitor = Monitor(engine, cache_keys=20000, listen_window_seconds=6.0)
    events, sizes = [], []
    for piece in pieces(stream, np.random.default_rng(2)):
        events.extend(monitor.feed(piece))
        sizes.append(monitor.matcher._known.size)
    assert max(sizes) < 20000 + 8000                         # pruned back whenever it passes the limit
    assert monitor.matcher._hashes.size < 10 * 3000 * 10      # about 9 s of final hashes kept, not 40 s
    assert [e["event"] for e in events] == ["song", "end", "song"]
    assert [events[0]["match"]["song_id"], events[2]["match"]["song_id"]] == [song_ids["song12"], song_ids["song13"]]


def test_lone_matches_do_not_set_where_a_song_starts():
    times = np.array([27.02, 28.02, 28.02, 28.03, 28.46, 28.95, 40.0])
    assert _clustered(times).tolist() == [28.02, 28.03, 28.46]


def test_the_human_line_says_when_the_sketch_decided():
    match = {"song_name": "Awakening", "song_id": 3, "offset_seconds": 42.5, "confidence": 0.61}
    assert "sketch" not in describe_match({"match": dict(match, decided_by="hashes")})
    assert describe_match({"match": dict(match, decided_by="sketch")}).endswith(
        "confidence 0.61 (from the band-energy sketch)")
