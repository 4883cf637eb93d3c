"""End to end through the CLI entry point, in-process."""
import json
import re
import shutil

import pytest

from audiogen import convert, make_song, write_wav
from clirun import run


@pytest.fixture
def library(tmp_path, songs_dir, any_config):
    """A config file and a music folder with five songs, a corrupt file, an
    empty file and a duplicate (same bytes, other name)."""
    music = tmp_path / "music"
    shutil.copytree(songs_dir, music)
    (music / "sub").mkdir()
    shutil.copy(music / "song12.wav", music / "sub" / "copy of song12.wav")
    (music / "broken.mp3").write_text("not audio at all\n" * 100)
    (music / "empty.ogg").write_bytes(b"")
    (music / "cover.jpg").write_bytes(b"\xff\xd8\xff")          # not an audio extension: ignored
    config = tmp_path / "config.json"
    config.write_text(json.dumps(any_config))
    return str(config), music


def test_register_folder_reports_corrupt_and_duplicate(library):
    config, music = library
    code, out, err = run("--config", config, "register", str(music), "--jobs", "2", "--json")
    assert code == 1                                   # failures listed, non-zero exit
    report = json.loads(out)
    assert report["counts"] == {"registered": 5, "linked": 0, "skipped": 0, "duplicate": 1, "failed": 2, "failed_before": 0}
    failed = {f["path"].rsplit("/", 1)[-1] for f in report["files"] if f["status"] == "failed"}
    assert failed == {"broken.mp3", "empty.ogg"}
    assert "broken.mp3" in err and "empty.ogg" in err
    # a second run skips registered files unread; the copy is hashed again, not fingerprinted; the
    # broken files are remembered and skipped while unchanged, so the rerun succeeds
    code, out, _ = run("--config", config, "register", str(music), "--json")
    counts = json.loads(out)["counts"]
    assert counts == {"registered": 0, "linked": 0, "skipped": 5, "duplicate": 1, "failed": 0, "failed_before": 2}
    assert code == 0


def test_recognize_excerpts_unknown_and_bad_files(library, tmp_path):
    config, music = library
    run("--config", config, "register", str(music), "--jobs", "1")
    excerpt = make_song(13, 20.0)[int(7.3 * 44100):int(10.3 * 44100)]
    wav = write_wav(tmp_path / "excerpt.wav", excerpt, 44100, channels=2)
    mp3 = convert(wav, tmp_path / "excerpt.mp3", "-ar", "48000", "-b:a", "96k")
    unknown = write_wav(tmp_path / "unknown.wav", make_song(999, 5.0), 44100)
    code, out, err = run("--config", config, "recognize", "file", str(mp3), str(unknown), str(music / "broken.mp3"),
                         "--json", "--top", "3")
    assert code == 1 and "broken.mp3" in err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["path"] for line in lines] == [str(mp3), str(unknown), str(music / "broken.mp3")]
    hit, miss, bad = lines
    assert hit["match"]["song_name"] == "song13"
    assert abs(hit["match"]["offset_seconds"] - 7.3) < 0.1
    assert 0.0 <= hit["match"]["confidence"] <= 1.0 and hit["match"]["confidence"] >= 0.3
    for key in ("song_id", "source_path", "input_confidence", "fingerprinted_confidence", "timings"):
        assert key in hit["match"]
    assert all(0.0 <= c["input_confidence"] <= 1.0 and 0.0 <= c["fingerprinted_confidence"] <= 1.0
               for c in hit["candidates"])
    assert len(hit["candidates"]) <= 3
    assert miss["match"] is None
    assert bad["match"] is None and "error" in bad
    code, out, _ = run("--config", config, "recognize", "file", str(wav))
    at = re.search(r"song13 \(song \d+\) at 0:(\d\d\.\d\d)", out)
    assert code == 0 and at and abs(float(at.group(1)) - 7.3) <= 0.03       # one frame (23 ms)


def test_list_stats_delete(library):
    config, music = library
    run("--config", config, "register", str(music / "song11.wav"), str(music / "song14.wav"))
    code, out, _ = run("--config", config, "list", "--json")
    songs = json.loads(out)["songs"]
    assert code == 0 and sorted(s["song_name"] for s in songs) == ["song11", "song14"]
    code, out, _ = run("--config", config, "stats", "--json")
    stats = json.loads(out)
    assert stats["songs"] == 2 and stats["fingerprints"] > 0 and stats["bytes"] > 0
    assert abs(stats["hours"] - 40.0 / 3600) < 1e-3
    victim = songs[0]["song_id"]
    code, out, err = run("--config", config, "delete", str(victim), "424242", "--json")
    assert code == 1 and json.loads(out) == {"deleted": [victim], "not_found": [424242], "promoted": {}}
    assert "424242" in err
    code, out, _ = run("--config", config, "list")
    assert code == 0 and songs[0]["song_name"] not in out and songs[1]["song_name"] in out
    code, out, _ = run("--config", config, "optimize", "--json")
    done = json.loads(out)
    assert code == 0 and done["rewritten"] is True and done["bytes_after"] > 0
    code, out, _ = run("--config", config, "optimize")
    assert code == 0 and re.match(r"optimized in \d+:\d\d\.\d\d: [\d.]+ MB -> [\d.]+ MB", out)
    assert json.loads(run("--config", config, "stats", "--json")[1])["fingerprints"] == stats["fingerprints"] - \
        songs[0]["total_hashes"]


def test_usage_and_configuration_errors(tmp_path):
    assert run("recognize")[0] == 2
    assert run("register")[0] == 2
    bad = tmp_path / "bad.json"
    bad.write_text('{"database_type": "nosql"}')
    code, out, err = run("--config", str(bad), "stats")
    assert code == 1 and "database_type" in err and out == ""
    code, _, err = run("--config", str(tmp_path / "missing.json"), "list")
    assert code == 1 and "cannot read" in err


def test_config_command_hides_the_password(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"database_type": "mysql", "database": {
        "host": "127.0.0.1", "user": "root", "password": "hunter2", "database": "x"}}))
    code, out, _ = run("--config", str(cfg), "config")
    assert code == 0 and "hunter2" not in out and '"***"' in out


@pytest.mark.mysql
def test_database_gone_gives_actionable_message(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"database_type": "mysql", "database": {
        "host": "127.0.0.1", "port": 9, "user": "root", "database": "x"}}))
    code, out, err = run("--config", str(cfg), "stats")
    assert code == 1 and "Check that the server is running" in err and "Traceback" not in err
