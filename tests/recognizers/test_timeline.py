"""The timeline of a long recording: known answers on generated audio, on
SQLite and MariaDB, through the command line in-process."""
import json

import numpy as np
import pytest
from audiogen import convert, make_song, write_wav
from mixgen import RATE, build_mix

from dejavu_cn import Dejavu
from clirun import run
from dejavu_cn.errors import ParameterError
import recognizers.timeline
from recognizers.timeline import SegmentTracker, TimelineParams, clustered, heard_by_sketch, scan_timeline

TOLERANCE = 1.5      # s; a boundary found this close to the truth is right


@pytest.fixture
def library(tmp_path, songs_dir, any_config):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(any_config))
    code, _, err = run("--config", str(config), "register", str(songs_dir), "--jobs", "1")
    assert code == 0, err
    mix, truth = build_mix()
    path = tmp_path / "mix.wav"
    write_wav(path, mix)
    return str(config), path, truth


def check(entries, truth):
    assert [e["song_name"] for e in entries] == [name for _, _, name, _ in truth]     # every stretch, nothing else
    for e, (start, end, name, offset) in zip(entries, truth):
        assert e["start_seconds"] == pytest.approx(start, abs=TOLERANCE), name
        assert e["end_seconds"] == pytest.approx(end, abs=TOLERANCE), name
        assert e["offset_seconds"] == pytest.approx(offset + e["start_seconds"] - start, abs=0.1), name
        assert e["confidence"] >= 0.4


def test_a_mix_of_three_songs_gives_their_stretches(library):
    config, path, truth = library
    code, out, err = run("--config", config, "recognize", "file", str(path), "--timeline", "--json")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    check(result["timeline"], truth)
    assert set(result["timeline"][0]) >= {"start_seconds", "end_seconds", "song_id", "song_name", "source_path",
                                          "offset_seconds", "confidence"}
    gaps = result["gaps"]                          # the unregistered stretches, around the songs
    assert len(gaps) == 4
    assert gaps[0]["start_seconds"] == 0.0 and gaps[-1]["end_seconds"] == pytest.approx(result["duration_seconds"])


def test_the_human_output_is_a_table(library):
    config, path, _ = library
    code, out, err = run("--config", config, "recognize", "file", str(path), "--timeline")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split() == ["time", "song", "offset", "confidence"]
    assert [line.split()[1] for line in lines[1:4]] == ["song11", "song13", "song15"]
    assert lines[-1].startswith("3 songs;")


def test_an_mp3_of_the_mix(library, tmp_path):
    config, path, truth = library
    mp3 = convert(path, tmp_path / "mix.mp3", "-b:a", "64k")
    code, out, err = run("--config", config, "recognize", "file", str(mp3), "--timeline", "--json")
    assert code == 0, err
    check(json.loads(out.strip().splitlines()[-1])["timeline"], truth)


def test_unknown_audio_gives_an_empty_timeline(library, tmp_path):
    config, _, _ = library
    path = write_wav(tmp_path / "unknown.wav", np.concatenate([make_song(91, 15.0), make_song(92, 15.0)]))
    code, out, err = run("--config", config, "recognize", "file", str(path), "--timeline", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["timeline"] == []
    assert result["gaps"] == [{"start_seconds": 0.0, "end_seconds": 30.0}]


def test_settings_come_from_the_timeline_section(library):
    config, path, truth = library
    code, out, err = run("--config", config, "--set", "timeline.hop_seconds=2", "--set", "timeline.window_seconds=5",
                         "recognize", "file", str(path), "--timeline", "--json")
    assert code == 0, err
    result = json.loads(out)
    check(result["timeline"], truth)
    assert result["windows"] >= 30
    code, _, err = run("--config", config, "--set", "timeline.hop_seconds=9", "recognize", "file", str(path),
                       "--timeline")
    assert code == 1 and "hop_seconds" in err


def test_the_recording_is_fed_in_pieces_of_any_size(songs_dir, sqlite_config):
    with Dejavu(sqlite_config) as engine:
        engine.register([songs_dir], jobs=1)
        mix, truth = build_mix()
        from dejavu_cn.audio import resample
        x = resample(mix, RATE, engine.params.sample_rate)
        rng = np.random.default_rng(3)
        cuts = np.sort(rng.integers(0, x.size, 40))
        result = scan_timeline(engine, np.split(x, cuts))
        whole = scan_timeline(engine, [x])
    check(result["timeline"], truth)
    assert result["timeline"] == whole["timeline"]


def test_bad_parameters():
    with pytest.raises(ParameterError):
        TimelineParams(hop_seconds=0).validate()
    with pytest.raises(ParameterError):
        TimelineParams(window_seconds=4.0, hop_seconds=5.0).validate()


def test_the_tracker_continues_resumes_and_closes():
    tracker = SegmentTracker(offset_tolerance=0.2)
    a = {"song_id": 1, "offset_seconds": 10.0, "confidence": 0.9}
    segment, resumed = tracker.open(a, started=0.0, heard=3.0)
    assert not resumed
    assert tracker.agrees({"song_id": 1, "offset_seconds": 10.15})
    assert not tracker.agrees({"song_id": 1, "offset_seconds": 10.5})     # a loop elsewhere in the song
    assert not tracker.agrees({"song_id": 2, "offset_seconds": 10.0})
    tracker.heard(6.0)
    assert tracker.silent_for(8.0) == pytest.approx(2.0)
    assert tracker.close() is segment and tracker.current is None
    _, resumed = tracker.open(dict(a, offset_seconds=9.9), started=9.0, heard=9.0)
    assert resumed                                                      # the same song, where it would have been


def test_clustered_times_ignore_lone_matches():
    times = np.array([27.02, 28.02, 28.02, 28.03, 28.46, 28.95, 40.0])
    assert clustered(times).tolist() == [28.02, 28.03, 28.46]


def fading_under_a_hum(rate=RATE):
    """Unregistered audio, song11 from 2 s whose last 6 s fade out by 20 dB,
    unregistered audio, all under a steady hum (40 constant tones: their
    peaks crowd out the fading song's, whose band energies still rise and
    fall with it). Returns (samples, truth as in build_mix)."""
    song = make_song(11, 20.0)[2 * rate:].copy()
    fade = song.size - 6 * rate
    song[fade:] *= 10 ** (-20 / 20 * np.linspace(0, 1, song.size - fade))
    x = np.concatenate([make_song(97, 5.0), song, make_song(98, 6.0)]).astype(np.float64)
    rng = np.random.default_rng(29)
    t = np.arange(x.size) / rate
    freqs = np.geomspace(200.0, 4000.0, 40) * rng.uniform(0.98, 1.02, 40)
    x += 0.1 * sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in freqs) / np.sqrt(20)
    return x.astype(np.float32), [(5.0, 23.0, "song11", 2.0)]


def test_a_song_whose_hashes_drown_before_its_end_is_heard_further(songs_dir, sqlite_config, monkeypatch):
    with Dejavu(sqlite_config) as engine:
        engine.register([songs_dir], jobs=1)
        from dejavu_cn.audio import resample
        mix, truth = fading_under_a_hum()
        x = resample(mix, RATE, engine.params.sample_rate)
        result = scan_timeline(engine, [x])
        with monkeypatch.context() as m:                # the hashes alone: the entry ends where they drown
            m.setattr(recognizers.timeline, "heard_by_sketch", lambda recording, song, shift, begin, *a, **k: begin)
            hashes_only = scan_timeline(engine, [x])
    (start, end, name, _), = truth
    (entry,), (alone,) = result["timeline"], hashes_only["timeline"]
    assert entry["song_name"] == alone["song_name"] == name
    assert entry["start_seconds"] == pytest.approx(start, abs=TOLERANCE)
    assert end - 2.0 <= entry["end_seconds"] <= end + TOLERANCE        # its last 2 s are 15 to 20 dB down: inaudible
    assert alone["end_seconds"] < entry["end_seconds"] - 1.0
    assert result["gaps"][-1] == {"start_seconds": entry["end_seconds"], "end_seconds": result["duration_seconds"]}


def sketch_words(rng, n, flip=0.0, of=None):
    """Random sketch words, or ``of``'s with a share ``flip`` of their bits flipped."""
    if of is None:
        return rng.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32)
    flips = np.packbits(rng.random((of.size, 32)) < flip, axis=1, bitorder="little").view("<u4").reshape(-1)
    return of ^ flips


@pytest.mark.parametrize("flip", [0.1, 0.3])
def test_the_sketch_hears_a_song_up_to_where_it_stops(flip):
    rng = np.random.default_rng(5)
    song = sketch_words(rng, 1000)
    recording = sketch_words(rng, 800)
    recording[200:600] = sketch_words(rng, 400, flip, song[300:700])       # the song plays there: shift 100
    block, step = 43, 11
    near = 1.5 * step                                   # blocks a step apart: where the song stops, within one
    assert abs(heard_by_sketch(recording, song, 100, 500, 800, block=block, step=step) - 600) <= near
    assert abs(heard_by_sketch(recording, song, 100, 300, 0, block=block, step=step) - 200) <= near
    assert 560 - step <= heard_by_sketch(recording, song, 100, 500, 560, block=block, step=step) <= 560  # a neighbour
    assert heard_by_sketch(recording, song, 100, 700, 800, block=block, step=step) == 700    # another song there
    assert heard_by_sketch(recording, song, 500, 300, 800, block=block, step=step) == 300    # past the song's end
