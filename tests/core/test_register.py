"""Registration: parallel, resumable, never half a song."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from audiogen import make_song, write_wav
from dejavu_cn import Dejavu
from dejavu_cn.fingerprint import sketch_of
from dejavu_cn.register import DUPLICATE, REGISTERED
from dejavu_cn.sketch import from_bytes


@pytest.fixture(scope="module")
def many_songs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many")
    for seed in range(100, 112):
        write_wav(folder / f"track{seed}.wav", make_song(seed, 45.0), 44100)
    return folder


def consistent(engine):
    """Every song has exactly the fingerprints it says it has."""
    songs, _ = engine.list_songs()
    total = engine.stats()["fingerprints"]
    return sum(s["total_hashes"] for s in songs) == total, songs


def test_parallel_and_serial_give_the_same_index(tmp_path, songs_dir):
    a = Dejavu({"database": {"path": str(tmp_path / "a.sqlite3")}})
    b = Dejavu({"database": {"path": str(tmp_path / "b.sqlite3")}})
    ra, rb = a.register([songs_dir], jobs=1), b.register([songs_dir], jobs=2)
    assert len(ra.by_status(REGISTERED)) == len(rb.by_status(REGISTERED)) == 5
    by_name = lambda e: {s["song_name"]: s["total_hashes"] for s in e.list_songs()[0]}  # noqa: E731
    assert by_name(a) == by_name(b)
    assert a.stats()["fingerprints"] == b.stats()["fingerprints"]
    # each song's sketch was stored with it: the sketch of the whole decoded file (registering decodes
    # and resamples in pieces, which moves a sample by a rounding error: a bit flips here and there)
    songs = {s["song_name"]: s["song_id"] for s in b.list_songs()[0]}
    stored = b.storage.sketches(songs.values())
    for name, song_id in songs.items():
        want, got = sketch_of(b.decode(songs_dir / f"{name}.wav"), b.params), from_bytes(stored[song_id])
        assert want.size > 800 and got.size == want.size
        assert np.bitwise_count(got ^ want).sum() < 0.005 * 32 * want.size


def test_ctrl_c_keeps_finished_songs_and_resume_completes(tmp_path, many_songs, any_config):
    engine = Dejavu({**any_config, "register": {"commit_seconds": 0.0}})      # one commit per song
    seen = []

    def interrupt_after_three(outcome):
        seen.append(outcome)
        if len(seen) == 3:
            raise KeyboardInterrupt

    report = engine.register([many_songs], jobs=2, on_file=interrupt_after_three)
    assert report.interrupted
    ok, songs = consistent(engine)
    assert ok and 3 <= len(songs) < 12
    report = engine.register([many_songs], jobs=2)
    assert not report.interrupted and not report.failed
    ok, songs = consistent(engine)
    assert ok and len(songs) == 12
    assert len({s["song_name"] for s in songs}) == 12        # no duplicates
    engine.close()


def test_songs_share_transactions_and_a_batch_catches_its_own_duplicates(tmp_path, many_songs, monkeypatch):
    import shutil
    folder = tmp_path / "with_copy"
    shutil.copytree(many_songs, folder)
    shutil.copy(folder / "track100.wav", folder / "zz_copy.wav")       # same bytes, fingerprinted in the same batch
    config = {"database": {"path": str(tmp_path / "b.sqlite3")}, "register": {"commit_seconds": 3600.0}}
    engine = Dejavu(config)
    calls = []

    def count_calls(engine):
        real = engine.storage.add_songs
        monkeypatch.setattr(engine.storage, "add_songs", lambda songs: calls.append(len(songs)) or real(songs))
    count_calls(engine)
    report = engine.register([folder], jobs=2)
    assert calls == [13]                                                 # one transaction for the whole folder
    assert len(report.by_status(REGISTERED)) == 12
    (dup,) = report.by_status(DUPLICATE)
    assert dup.song_id in {o.song_id for o in report.by_status(REGISTERED)}
    ok, songs = consistent(engine)
    assert ok and len(songs) == 12
    engine.close()
    engine = Dejavu({**config, "register": {"commit_rows": 1}})        # a row limit closes batches too
    count_calls(engine)
    calls.clear()
    engine.delete_songs([s["song_id"] for s in songs[:4]])
    engine.register([folder], jobs=2)
    assert calls and max(calls) == 1 and consistent(engine)[0]
    engine.close()


def test_killed_process_resumes_without_duplicates_or_half_songs(tmp_path, many_songs):
    db = tmp_path / "k.sqlite3"
    cfg = tmp_path / "k.json"
    cfg.write_text(json.dumps({"database": {"path": str(db)}}))
    # the real command line, committing each song on its own: with the usual
    # 2 s batches a fast machine registers all 12 songs in the first commit
    cli = "import sys; from dejavu_cn.cli import console_main; sys.argv[0] = 'dejavu-cn'; console_main()"
    cmd = [sys.executable, "-c", cli, "--config", str(cfg), "--set", "register.commit_seconds=0", "register",
           str(many_songs), "--jobs", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    engine = Dejavu({"database": {"path": str(db)}})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if engine.stats()["songs"] >= 2:
                break
        except Exception:
            pass
        time.sleep(0.05)
    assert proc.poll() is None, "registration finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    engine.close()
    engine = Dejavu({"database": {"path": str(db)}})
    ok, songs = consistent(engine)
    assert ok and 2 <= len(songs) < 12
    done = subprocess.run(cmd + ["--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)["counts"]
    assert counts["registered"] + counts["skipped"] == 12 and counts["registered"] == 12 - len(songs)
    ok, songs = consistent(engine)
    assert ok and len(songs) == 12


def test_same_bytes_under_another_name_is_a_duplicate(tmp_path, songs_dir):
    engine = Dejavu({"database": {"path": str(tmp_path / "d.sqlite3")}})
    engine.register([songs_dir / "song11.wav"], jobs=1)
    copy = tmp_path / "renamed.wav"
    copy.write_bytes((songs_dir / "song11.wav").read_bytes())
    outcome = engine.fingerprint_file(copy)
    assert outcome.status == "duplicate" and outcome.song_id == 1
    assert engine.stats()["songs"] == 1


def test_extension_filter(tmp_path, songs_dir):
    engine = Dejavu({"database": {"path": str(tmp_path / "e.sqlite3")}})
    report = engine.register([songs_dir], extensions=["mp3"], jobs=1)
    assert report.outcomes == []
    report = engine.register([songs_dir], extensions=[".WAV"], jobs=1)
    assert len(report.by_status(REGISTERED)) == 5
