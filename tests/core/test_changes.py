"""Copies played at another speed or pitch (recognition.speed_search)."""
import json

import numpy as np
import pytest

from audiogen import make_song
from clirun import run
from dejavu_cn import Dejavu
from dejavu_cn.audio import write_wav
from dejavu_cn.changes import describe_change, map_peaks
from dejavu_cn.config import Config, ConfigError
from dejavu_cn.degrade import ffmpeg_filter, played_at
from dejavu_cn.fingerprint import find_peaks

RATE = 11025


def _register(config, folder):
    songs = {seed: make_song(seed, seconds=40.0, rate=RATE).astype(np.float32) for seed in (71, 72, 73)}
    config = {**config, "recognition": {"speed_search": True}}
    with Dejavu(config) as engine:
        for seed, samples in songs.items():
            wav = folder / f"song{seed}.wav"
            write_wav(str(wav), samples, RATE)
            engine.fingerprint_file(str(wav))
        ids = {s["song_name"]: s["song_id"] for s in engine.list_songs()[0]}
    return config, songs, ids


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("changes")
    return _register({"database": {"path": str(folder / "lib.sqlite3")}}, folder)


def test_a_copy_played_fast_is_found_with_its_speed_and_the_originals_offset(any_config, tmp_path):
    config, songs, ids = _register(any_config, tmp_path)          # SQLite and MariaDB
    start = 12.0
    clip = played_at(songs[72][int(start * RATE):int((start + 11.0) * RATE)], 1.10)      # 10 s of the copy
    with Dejavu(config) as engine:
        result = engine.match_samples(clip)
        plain = Dejavu({**config, "recognition": {"speed_search": False}}).match_samples(clip)
    match = result["match"]
    assert match is not None and match["song_id"] == ids["song72"]
    assert match["speed_factor"] == pytest.approx(1.10, abs=0.01)
    assert "pitch_semitones" not in match
    assert match["offset_seconds"] == pytest.approx(start, abs=0.1)            # in the original's time
    assert result["timings"]["speed_search"] > 0
    assert plain["match"] is None                                               # what the speed search adds


def test_a_pitch_shifted_copy_is_found_with_its_semitones(library):
    config, songs, ids = library
    start = 5.0
    clip = ffmpeg_filter(songs[73][int(start * RATE):int((start + 10.0) * RATE)], RATE,
                         f"asetrate={RATE * 2 ** (1 / 12):.3f},aresample={RATE},atempo={2 ** (-1 / 12):.6f}")
    hashes_only = {**config, "recognition": {"speed_search": True, "sketch_candidates": 0}}   # the band-energy
    with Dejavu(hashes_only) as engine:                                # sketch alone may find a semitone's shift
        match = engine.match_samples(clip)["match"]
    assert match is not None and match["song_id"] == ids["song73"]
    assert match["pitch_semitones"] == pytest.approx(1.0, abs=0.15) and "speed_factor" not in match
    assert match["offset_seconds"] == pytest.approx(start, abs=0.3)


def test_a_short_clip_is_not_searched(library):
    config, songs, ids = library
    clip = played_at(songs[72][int(12.0 * RATE):int(15.5 * RATE)], 1.10)     # 3.2 s: below speed_min_seconds
    with Dejavu(config) as engine:
        short = engine.match_samples(clip)
        longer = Dejavu({**config, "recognition": {"speed_search": True, "speed_min_seconds": 2.0}}).match_samples(clip)
    assert short["match"] is None and short["timings"]["speed_search"] == 0
    assert longer["match"] is not None and longer["match"]["song_id"] == ids["song72"]


def test_an_unrelated_sped_up_clip_is_no_match(library):
    config, _, _ = library
    other = make_song(99, seconds=12.0, rate=RATE).astype(np.float32)
    with Dejavu(config) as engine:
        for speed in (0.9, 1.25):
            result = engine.match_samples(played_at(other, speed))
            assert result["match"] is None


def test_the_cli_looks_for_changed_copies_when_asked(library, tmp_path):
    config, songs, ids = library
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"database": config["database"]}))       # the search off, as shipped
    clip = tmp_path / "nightcore.wav"
    write_wav(str(clip), played_at(songs[71][5 * RATE:18 * RATE], 1.25), RATE)
    code, out, err = run("--config", str(path), "recognize", "file", str(clip))
    assert code == 0 and "no match" in out and "--changes" in err                  # the hint
    code, out, err = run("--config", str(path), "recognize", "file", "--changes", str(clip))
    assert code == 0 and "song71" in out and "played 1.25x fast" in out and "hint" not in err
    code, out, _ = run("--config", str(path), "recognize", "file", "--changes", "--json", str(clip))
    match = json.loads(out)["match"]
    assert match["song_id"] == ids["song71"] and match["speed_factor"] == pytest.approx(1.25, abs=0.01)
    assert match["offset_seconds"] == pytest.approx(5.0, abs=0.1)


def test_mapped_peaks_land_on_the_originals():
    params = Config().fingerprint
    song = make_song(5, seconds=8.0, rate=RATE).astype(np.float32)
    original = find_peaks(song, params)
    copy = find_peaks(played_at(song, 1.25), params)
    back = map_peaks(copy, 1.25, 0.8, params)
    places = set(zip(original.frames.tolist(), original.bins.tolist()))
    near = [any((f + df, b + db) in places for df in (-1, 0, 1) for db in (-1, 0, 1))
            for f, b in zip(back.frames.tolist(), back.bins.tolist())]
    assert np.mean(near) > 0.6                      # mapped back, most peaks are the original's, within a cell
    assert list(back.frames) == sorted(back.frames)


def test_grid_and_fields():
    rec = Config().recognition
    grid = rec.change_grid()
    assert (1.0, 1.0) not in grid and grid[0][0] == 1.0 or abs(np.log(grid[0][0])) < 0.011
    speeds = sorted(t for t, f in grid if t != 1.0)
    assert speeds[0] == pytest.approx(0.85, abs=0.01) and speeds[-1] == pytest.approx(1.30, abs=0.013)
    assert all(t * f == pytest.approx(1.0) for t, f in grid if t != 1.0)          # a speed change: both
    assert describe_change(1.25, 0.8) == {"speed_factor": 1.25}
    assert describe_change(1.0, 2 ** (-1 / 12)) == {"pitch_semitones": 1.0}
    assert rec.change_max_bin() == 100                  # 1.08 kHz: half a 1 % step off still rounds right
    assert (rec.change_scan_fan(5, 5), rec.change_scan_fan(4, 8)) == (5, 5)       # one target more than stored
    assert Config.from_dict({"recognition": {"speed_scan_fan": 3}}).recognition.change_scan_fan(4, 8) == 3
    with pytest.raises(ConfigError, match="speed_min"):
        Config.from_dict({"recognition": {"speed_min": 1.2}})
    for bad in ({"speed_candidates": 0}, {"speed_threshold": 1.5}, {"speed_row_budget": -1}, {"speed_scan_fan": -1}):
        with pytest.raises(ConfigError, match="speed_candidates"):
            Config.from_dict({"recognition": bad})


def test_the_human_line_says_how_the_copy_plays():
    from recognizers.cli import describe_candidate
    base = {"song_name": "Song", "song_id": 3, "offset_seconds": 62.0, "confidence": 0.91}
    assert describe_candidate({**base, "speed_factor": 1.25}).endswith("played 1.25x fast")
    assert describe_candidate({**base, "speed_factor": 0.9}).endswith("played 0.9x slow")
    assert describe_candidate({**base, "tempo_factor": 1.05}).endswith("played 1.05x fast")
    assert describe_candidate({**base, "pitch_semitones": -1.03}).endswith("pitched 1 semitone down")
    assert "played" not in describe_candidate(base) and "pitched" not in describe_candidate(base)


def test_a_tempo_change_found_by_the_index_says_its_rate_and_where_it_starts(library):
    config, songs, ids = library
    start = 8.0
    clip = ffmpeg_filter(songs[72][int(start * RATE):int((start + 10.5) * RATE)], RATE, "atempo=1.05")   # 10 s
    plain = {**config, "recognition": {"speed_search": False, "sketch_candidates": 0}}
    with Dejavu(plain) as engine:
        match = engine.match_samples(clip)["match"]
        unchanged = engine.match_samples(songs[72][int(start * RATE):int((start + 10) * RATE)])["match"]
    assert match is not None and match["song_id"] == ids["song72"]
    assert match["tempo_factor"] == pytest.approx(1.05, abs=0.005)
    assert match["offset_seconds"] == pytest.approx(start, abs=0.05)           # where it starts, not its middle
    assert "tempo_factor" not in unchanged and unchanged["offset_seconds"] == pytest.approx(start, abs=0.05)
