"""The timeline of a long recording: known answers on generated audio, on
SQLite and MariaDB, through the command line in-process."""
import io
import json

import numpy as np
import pytest
from audiogen import convert, make_song, write_wav
from mixgen import RATE, build_mix

from dejavu_cn import Dejavu
from dejavu_cn.cli import main
from dejavu_cn.errors import ParameterError
from recognizers.timeline import SegmentTracker, TimelineParams, clustered, scan_timeline

TOLERANCE = 1.5      # s; a boundary found this close to the truth is right


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


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
