"""Evaluation on generated folders: the report's numbers are checked, offsets
on a repeat of looping audio are told apart from wrong ones, and
``dejavu-cn evaluate`` never touches the configured database."""
import io
import json
import os
import shutil

import numpy as np
import pytest

from audiogen import make_song, write_wav
from dejavu_cn import Dejavu
from dejavu_cn.cli import main
from dejavu_cn.evaluate import (OFFSET_TOLERANCE, REPEAT_SIMILARITY, STAGES, evaluate, excerpt_similarity,
                                format_report, save_report, wilson_interval)

LOOP_SECONDS = 4.0


def tracks_in(folder):
    return sorted(str(p) for p in folder.iterdir() if p.suffix == ".wav")


@pytest.fixture
def engine(tmp_path):
    with Dejavu({"database": {"path": str(tmp_path / "eval.sqlite3")}}) as djv:
        yield djv


def test_report_on_generated_songs(engine, songs_dir, tmp_path):
    tracks = tracks_in(songs_dir)                      # song11..song15; holdout 0.2 keeps song15 out
    calls = []
    report = evaluate(engine, tracks, work_dir=str(tmp_path / "work"), lengths=(5,), conditions=("clean",),
                      clips=4, unknown_clips=2, holdout=0.2, seed=3, jobs=1,
                      on_progress=lambda *a: calls.append(a))
    json.dumps(report)
    corpus = report["corpus"]
    assert (corpus["tracks"], corpus["registered"], corpus["held_out"]) == (5, 4, 1)
    assert corpus["shared_audio_tracks"] == 0
    (cell,) = report["cells"]
    assert (cell["condition"], cell["length"], cell["clips"], cell["unknown_clips"]) == ("clean", 5.0, 4, 2)
    assert cell["top1"] == cell["top5"] == 1.0 and cell["mean_rank"] == 1.0
    assert cell["offset_accuracy"] == cell["offset_accuracy_repeat_aware"] == 1.0
    assert cell["false_positives"] == 0 and report["false_positive_rate"] == 0.0
    songs = {s["source_path"]: s["song_id"] for s in engine.list_songs()[0]}
    for row in report["clips"]:
        assert os.path.isfile(row["path"])
        if row["known"]:                                # a clean 5 s excerpt is found, at its start time
            assert row["match"] == songs[tracks[row["track"]]]
            assert abs(row["offset_error"]) <= OFFSET_TOLERANCE and row["rank"] == 1
        else:                                           # the held-out song is not
            assert tracks[row["track"]].endswith("song15.wav")
            assert row["match"] is None and row["offset_error"] is None
    assert report["offset"] == {"judged": 4, "strict": 1.0, "repeat_aware": 1.0, "repeats": 0,
                                "tolerance_seconds": OFFSET_TOLERANCE, "repeat_similarity": REPEAT_SIMILARITY}
    assert report["ingest"]["speed_x_realtime"] > 1
    assert report["latency"]["median_ms"] > 0
    # progress: every stage in order, counting up to its total
    stages = [s for s, _, _ in calls]
    assert [s for k, s in enumerate(stages) if k == 0 or stages[k - 1] != s] == list(STAGES)
    for stage in STAGES:
        done = [d for s, d, _ in calls if s == stage]
        assert done[0] == 0 and done == sorted(done)
        assert done[-1] == [t for s, _, t in calls if s == stage][-1]
    assert [t for s, _, t in calls if s == "clips"][-1] == len(report["clips"]) == 6
    # text and file forms
    text = format_report(report)
    assert "clean" in text and "100.0%" in text and "4 registered" in text
    n = report["cells"][0]["clips"]
    assert report["cells"][0]["top1_interval"] == wilson_interval(n, n)
    path = tmp_path / "report.json"
    save_report(report, path)
    assert json.loads(path.read_text())["cells"] == json.loads(json.dumps(report["cells"]))


def looping_song(seed, repeats=5, rate=44100):
    """A 'song' made of one LOOP_SECONDS phrase played ``repeats`` times."""
    return np.tile(make_song(seed, LOOP_SECONDS, rate=rate), repeats)


def test_excerpt_similarity_finds_repeats_only():
    rate = 11025
    x = looping_song(41, rate=rate)
    assert excerpt_similarity(x, rate, 1.0, 1.0 + LOOP_SECONDS, 2.0) > 0.99
    assert excerpt_similarity(x, rate, 1.0, 1.0 + 3 * LOOP_SECONDS + 0.06, 2.0) > 0.99   # 60 ms off: within lag
    assert excerpt_similarity(x, rate, 1.0, 1.0 + 3 * LOOP_SECONDS + 0.06, 2.0, lag=0.02) < REPEAT_SIMILARITY
    assert excerpt_similarity(x, rate, 1.0, 2.5, 2.0) < 0.5                           # another part of the phrase
    x44 = looping_song(41, rate=44100)                                                   # as evaluate() does
    assert excerpt_similarity(x44, 44100, 1.0, 1.0 + 2 * LOOP_SECONDS + 0.0123, 1.0) > 0.99
    assert excerpt_similarity(x, rate, 1.0, x.size / rate - 1.0, 2.0) is None          # runs past the end
    assert excerpt_similarity(np.zeros(rate * 10, np.float32), rate, 1.0, 5.0, 2.0) is None   # silence
    noisy = x + 0.01 * np.random.default_rng(0).standard_normal(x.size).astype(np.float32)
    assert excerpt_similarity(noisy, rate, 2.0, 2.0 + 2 * LOOP_SECONDS, 1.0) > REPEAT_SIMILARITY


class ShiftedOffsets:
    """An engine that reports every match one loop period away from where it
    found it (in whichever direction stays inside the song)."""

    def __init__(self, engine):
        self._engine = engine

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def match_samples(self, samples, **kwargs):
        result = self._engine.match_samples(samples, **kwargs)
        m = result["match"]
        if m:
            end = m["offset_seconds"] + LOOP_SECONDS + result["query_seconds"]
            m["offset_seconds"] += LOOP_SECONDS if end <= m["song_duration_seconds"] else -LOOP_SECONDS
        return result


@pytest.fixture(scope="module")
def loop_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("loops")
    write_wav(folder / "a_loop.wav", looping_song(41))
    write_wav(folder / "b_song.wav", make_song(42, 20.0))
    write_wav(folder / "c_song.wav", make_song(43, 20.0))
    return folder


def test_offsets_on_a_repeat_are_counted_apart(engine, loop_folder, tmp_path):
    tracks = tracks_in(loop_folder)
    report = evaluate(ShiftedOffsets(engine), tracks, work_dir=str(tmp_path), lengths=(2,), conditions=("clean",),
                      clips=8, unknown_clips=0, holdout=0.0, seed=5, jobs=1, detect_shared=False)
    rows = report["clips"]
    on_loop = [r for r in rows if r["track"] == 0]
    elsewhere = [r for r in rows if r["track"] != 0]
    assert on_loop and elsewhere and all(r["correct"] for r in rows)
    repeats = [r for r in on_loop if r["offset_repeat"]]
    for r in on_loop:           # a whole number of loops off (the engine may itself pick any repeat): same audio
        assert r["offset_ok"] != r["offset_repeat"]
        if r["offset_repeat"]:
            loops = round(r["offset_error"] / LOOP_SECONDS)
            assert loops != 0 and abs(r["offset_error"] - loops * LOOP_SECONDS) < OFFSET_TOLERANCE
            assert r["repeat_similarity"] >= REPEAT_SIMILARITY
    assert repeats
    for r in elsewhere:                                 # 4 s off on different audio: wrong
        assert not r["offset_ok"] and not r["offset_repeat"] and r["repeat_similarity"] < 0.5
    (cell,) = report["cells"]
    strict = sum(r["offset_ok"] for r in rows)
    assert strict < len(rows) and cell["offset_accuracy"] == pytest.approx(strict / len(rows))
    assert cell["offset_repeats"] == report["offset"]["repeats"] == len(repeats)
    assert cell["offset_accuracy_repeat_aware"] == pytest.approx(len(on_loop) / len(rows))


def test_whichever_repeat_the_engine_reports_counts(engine, loop_folder, tmp_path):
    report = evaluate(engine, tracks_in(loop_folder), work_dir=str(tmp_path), lengths=(2,), conditions=("clean",),
                      clips=6, unknown_clips=0, holdout=0.0, seed=6, jobs=1, detect_shared=False)
    (cell,) = report["cells"]
    assert cell["top1"] == 1.0
    assert cell["offset_accuracy_repeat_aware"] == 1.0
    assert report["offset"]["judged"] == 6
    assert all(r["offset_ok"] or r["offset_repeat"] for r in report["clips"])


# -- CLI ----------------------------------------------------------------------

class Terminal(io.StringIO):
    def isatty(self):
        return True


def run(*argv, stderr=None):
    out, err = io.StringIO(), stderr or io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_evaluate_uses_a_temporary_database(songs_dir, tmp_path):
    user_db = tmp_path / "mine.sqlite3"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"database": {"path": str(user_db)}}))
    png = tmp_path / "acc.png"
    code, stdout, err = run("--config", str(config), "evaluate", str(songs_dir), "--clips", "2", "--unknown-clips",
                            "1", "--lengths", "3", "--conditions", "clean,noise10", "--holdout", "0.2", "--seed", "1",
                            "--jobs", "1", "--no-shared", "--json", "--plot", str(png), stderr=Terminal())
    assert code == 0, err
    assert not user_db.exists()                         # the user's database is never touched
    report = json.loads(stdout)
    assert [(c["condition"], c["length"]) for c in report["cells"]] == [("clean", 3.0), ("noise10", 3.0)]
    assert report["cells"][0]["top1"] == 1.0 and report["cells"][0]["false_positives"] == 0
    assert "recognising clips" in err and "registering" in err          # progress bars on a terminal
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[16:24] == (800).to_bytes(4, "big") + (500).to_bytes(4, "big")

    kept = tmp_path / "kept.sqlite3"
    code, stdout, err = run("--config", str(config), "evaluate", str(songs_dir), "--clips", "1", "--unknown-clips",
                            "0", "--lengths", "2", "--conditions", "clean", "--jobs", "1", "--no-shared",
                            "--database", str(kept))
    assert code == 0, err
    assert kept.exists() and not user_db.exists()
    assert "condition" in stdout and "top-1" in stdout and err == ""   # no bars when stderr is not a terminal
    code, stdout, err = run("--config", str(config), "evaluate", str(songs_dir), "--clips", "2", "--unknown-clips",
                            "0", "--lengths", "2", "--conditions", "clean", "--jobs", "1", "--no-shared",
                            "--database", str(kept), "--json")
    assert code == 0, err                               # the songs are already there: found all the same
    report = json.loads(stdout)
    assert report["ingest"]["audio_seconds"] == 0 and report["cells"][0]["top1"] == 1.0


def test_changed_copies_are_clips_of_the_asked_length_cut_from_the_truth(engine, songs_dir, tmp_path):
    import wave
    tracks = tracks_in(songs_dir)
    report = evaluate(engine, tracks, work_dir=str(tmp_path), lengths=(4,), conditions=("speed1.25", "pitch+1"),
                      clips=2, unknown_clips=0, holdout=0.2, seed=2, jobs=1, detect_shared=False)
    assert [c["condition"] for c in report["cells"]] == ["speed1.25", "pitch+1"]
    for row in report["clips"]:
        with wave.open(row["path"]) as w:                       # 5 s of the song played 1.25x fast: 4 s
            assert w.getnframes() / w.getframerate() == pytest.approx(4.0, abs=0.05)
    for cell in report["cells"]:
        assert cell["clips"] == 2 and 0.0 <= cell["top1"] <= 1.0


def test_cli_evaluate_measures_the_speed_search_when_asked(songs_dir, tmp_path):
    common = ["evaluate", str(songs_dir), "--clips", "3", "--unknown-clips", "0", "--lengths", "6",
              "--conditions", "speed1.10", "--jobs", "1", "--no-shared", "--holdout", "0", "--json"]
    code, out, err = run(*common)
    assert code == 0 and "--changes" in err                           # the hint
    assert json.loads(out)["cells"][0]["top1"] < 1.0
    code, out, err = run(*common, "--changes")
    assert code == 0 and "hint" not in err
    assert json.loads(out)["cells"][0]["top1"] == 1.0


def test_cli_evaluate_usage_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run("evaluate", str(empty), "--conditions", "clean,vinyl")
    assert code == 2 and "vinyl" in err
    code, _, err = run("evaluate", str(empty), "--conditions", "changes,vinyl")    # "changes" is a known group
    assert code == 2 and "vinyl" in err and "changes" not in err.split("unknown condition(s)")[1].split(";")[0]
    assert run("evaluate", str(empty), "--holdout", "0.9")[0] == 2
    code, _, err = run("evaluate", str(empty), "--lengths", "1,0")
    assert code == 2 and "--lengths" in err
    code, _, err = run("evaluate", str(empty))
    assert code == 1 and "no audio files" in err
    code, _, err = run("evaluate", str(tmp_path / "nowhere"))
    assert code == 1 and "not a folder" in err
    shutil.rmtree(empty)


def test_wilson_interval_known_answers():
    lo, hi = wilson_interval(96, 100)                      # 96 of 100: anything from 90 % to 98 %
    assert round(lo, 3) == 0.902 and round(hi, 3) == 0.984
    lo, hi = wilson_interval(278, 300)                     # three times the clips: a narrower interval
    assert round(lo, 3) == 0.891 and round(hi, 3) == 0.951
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) is None


def test_report_table_shows_the_interval_of_each_cell():
    cell = {"condition": "mic", "length": 5.0, "clips": 100, "top1": 0.96, "top1_interval": wilson_interval(96, 100),
            "top5": 1.0, "mean_rank": 1.0, "offset_accuracy": 0.95, "offset_accuracy_repeat_aware": 0.99,
            "offset_repeats": 0, "unknown_clips": 20, "false_positives": 0,
            "latency_median_ms": 10.0, "latency_p95_ms": 20.0}
    report = {"corpus": {"tracks": 2, "unreadable": [], "registered": 1, "held_out": 1, "hours_registered": 0.1,
                         "shared_audio_tracks": 0, "shared_audio_pairs": []},
              "ingest": {"wall_seconds": 1.0, "audio_seconds": 360.0, "speed_x_realtime": 360.0,
                         "peak_rss_mb_main": 1.0, "peak_rss_mb_workers": 1.0},
              "database": {"bytes": 1, "fingerprints": 1, "mb_per_hour": 0.1},
              "latency": {"median_ms": 10.0, "p95_ms": 20.0}, "false_positive_rate": 0.0, "cells": [cell]}
    row = next(line for line in format_report(report).splitlines() if line.startswith("mic"))
    assert "96.0%" in row and "90-98" in row


def test_threshold_table_known_answers():
    """Raising the threshold only takes answers away; the suggestion is the
    lowest threshold whose false-positive rate keeps to the target."""
    from dejavu_cn.evaluate import threshold_table
    unknown = [{"known": False, "accepted": [], "match": 7 if c else None, "confidence": c or 0.2, "correct": False}
               for c in [0.45, 0.62, 0.91] + [None] * 997]
    known = [{"known": True, "accepted": [1], "match": 1, "confidence": c, "correct": True}
             for c in [0.5, 0.7, 0.95, 1.0]]
    table = threshold_table(unknown + known, 0.4, target_fp_rate=0.002)
    by = {r["threshold"]: r for r in table["rows"]}
    assert by[0.4]["false_positives"] == 3 and by[0.4]["top1"] == 1.0
    assert by[0.5]["false_positives"] == 2 and by[0.65]["false_positives"] == 1 and by[0.95]["false_positives"] == 0
    assert table["suggested"]["threshold"] == 0.5                       # 2 of 1,000 = 0.2 %: within the target
    assert table["suggested"]["top1"] == 1.0 and by[0.75]["top1"] == 0.5
    lo, hi = table["suggested"]["false_positive_interval"]
    assert lo < 0.002 < hi
    assert threshold_table(unknown[:3], 0.4, target_fp_rate=0.002)["suggested"]["threshold"] == 0.95


def test_cli_evaluate_unknown_folder(songs_dir, tmp_path):
    """--unknown: audio never registered gives the unknown clips, and the
    report says the false-positive rate and a suggested threshold."""
    outside = tmp_path / "outside"
    outside.mkdir()
    for seed in (71, 72):
        write_wav(outside / f"other{seed}.wav", make_song(seed, 12.0))
    code, stdout, err = run("evaluate", str(songs_dir), "--unknown", str(outside), "--holdout", "0", "--clips", "1",
                            "--unknown-clips", "3", "--lengths", "3", "--conditions", "clean", "--jobs", "1",
                            "--no-shared", "--json")
    assert code == 0, err
    report = json.loads(stdout)
    assert report["corpus"]["unknown_folder_tracks"] == 2 and report["corpus"]["held_out"] == 2
    assert report["corpus"]["registered"] == len(tracks_in(songs_dir))    # holdout 0: the whole folder registered
    table = report["thresholds"]
    assert table["unknown_clips"] == 3 and table["rows"][0]["threshold"] == 0.4
    assert table["suggested"] is not None and table["suggested"]["false_positives"] == 0
    unknown_paths = {c["track"] for c in report["clips"] if not c["known"]}
    assert unknown_paths and min(unknown_paths) >= report["corpus"]["registered"]
    code, stdout, err = run("evaluate", str(songs_dir), "--unknown", str(outside), "--holdout", "0", "--clips", "1",
                            "--unknown-clips", "2", "--lengths", "3", "--conditions", "clean", "--jobs", "1",
                            "--no-shared")
    assert code == 0, err
    assert "suggested threshold: 0.40" in stdout and "0 of 2 unknown clips named" in stdout
    code, _, err = run("evaluate", str(songs_dir), "--unknown", str(tmp_path / "nowhere"))
    assert code == 1 and "--unknown" in err and "not a folder" in err


def test_unknown_tracks_that_are_also_the_users_count_once(engine, songs_dir, tmp_path):
    """A file given both as the user's and as unknown audio is the user's:
    read once, never an unknown track."""
    mine = tracks_in(songs_dir)
    other = tmp_path / "other.wav"
    write_wav(other, make_song(81, 10.0))
    report = evaluate(engine, mine, work_dir=str(tmp_path), lengths=(2,), conditions=("clean",), clips=1,
                      unknown_clips=1, holdout=0.0, detect_shared=False,
                      unknown_tracks=[mine[0], str(other)])
    assert report["corpus"]["tracks"] == len(mine) + 1
    assert report["corpus"]["registered"] == len(mine) and report["corpus"]["unknown_folder_tracks"] == 1
    assert report["thresholds"]["rows"][0]["threshold"] == engine.config.recognition.threshold
