"""Copies linked to their originals when registering (issue 28, part 2):
known answers on generated songs, on SQLite and MariaDB."""
import json
import re

import numpy as np
import pytest

from audiogen import convert, make_song, write_wav
from dejavu_cn import Dejavu
from clirun import run
from dejavu_cn.register import LINKED, REGISTERED, CopyLinker, judge_copy, register_files
from dejavu_cn.storage import HasCopiesError
from dejavu_cn.storage import base as storage_base

RATE = 44100


def cut(x, start, stop):
    return x[int(start * RATE):int(stop * RATE)]


def noisy(x, snr_db, seed=0):
    """``x`` with white noise at ``snr_db`` dB SNR."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(x.size).astype(np.float32)
    noise *= np.sqrt(np.mean(x ** 2) / np.mean(noise ** 2) / 10 ** (snr_db / 10))
    return np.clip(x + noise, -1, 1)


@pytest.fixture(scope="module")
def songs():
    return {"a": make_song(281, 60.0), "b": make_song(282, 50.0), "c": make_song(283, 45.0)}


def engine_for(config, **register):
    return Dejavu({**config, "register": {"jobs": 1, **register}})


def by_name(engine):
    return {s["song_name"]: s for s in engine.list_songs()[0]}


def outcome(report, name):
    return next(o for o in report.outcomes if name in o.path)


def consistent(engine):
    """Every song has exactly the fingerprints it says, and copies none."""
    songs, _ = engine.list_songs()
    return sum(s["total_hashes"] for s in songs) == engine.stats()["fingerprints"] and \
        all(s["total_hashes"] == 0 for s in songs if s["copy_of"] is not None)


def test_a_copy_at_an_offset_is_linked_and_recognised_as_its_original(tmp_path, songs, any_config):
    originals, copies = tmp_path / "originals", tmp_path / "copies"
    originals.mkdir(), copies.mkdir()
    write_wav(originals / "a.wav", songs["a"])
    write_wav(originals / "b.wav", songs["b"])
    engine = engine_for(any_config)
    engine.register([originals])
    prints = engine.stats()["fingerprints"]
    # an excerpt from 17.3 s: noisy (15 dB), then MP3 64 kbit/s at 48 kHz stereo
    write_wav(tmp_path / "excerpt.wav", noisy(cut(songs["a"], 17.3, 49.3), 15.0))
    convert(tmp_path / "excerpt.wav", copies / "a-excerpt.mp3", "-ar", "48000", "-ac", "2", "-b:a", "64k")
    write_wav(copies / "c.wav", songs["c"])           # a new song
    report = engine.register([copies], link_copies=True)
    a_id = by_name(engine)["a"]["song_id"]
    linked = outcome(report, "a-excerpt")
    assert linked.status == LINKED and linked.copy_of == a_id and linked.hashes == 0
    assert abs(linked.copy_offset_seconds - 17.3) <= 0.5
    assert outcome(report, "c.wav").status == REGISTERED
    song = by_name(engine)["a-excerpt"]
    assert song["copy_of"] == a_id and abs(song["copy_offset_seconds"] - 17.3) <= 0.5
    stats = engine.stats()
    assert stats["copies"] == 1 and stats["fingerprints"] == prints + by_name(engine)["c"]["total_hashes"]
    assert consistent(engine)
    # the copy's audio names the original
    found = engine.match_samples(engine.decode(copies / "a-excerpt.mp3"))
    assert found["match"]["song_id"] == a_id
    # a rerun changes nothing
    again = engine.register([copies], link_copies=True)
    assert {o.status for o in again.outcomes} == {"skipped"}


def test_a_copy_of_a_song_registered_earlier_in_the_same_run(tmp_path, songs, sqlite_config):
    folder = tmp_path / "music"
    folder.mkdir()
    write_wav(folder / "a.wav", songs["a"])
    write_wav(folder / "z-excerpt.wav", cut(songs["a"], 5.0, 45.0))
    engine = engine_for(sqlite_config)
    report = engine.register([folder], link_copies=True)
    a_id = outcome(report, "a.wav").song_id
    linked = outcome(report, "z-excerpt")
    assert linked.status == LINKED and linked.copy_of == a_id and abs(linked.copy_offset_seconds - 5.0) <= 0.5


def test_a_file_covering_a_registered_excerpt_becomes_its_original(tmp_path, songs, any_config):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    write_wav(first / "c-excerpt.wav", cut(songs["c"], 12.0, 32.0))
    write_wav(second / "c-copy-of-excerpt.wav", cut(songs["c"], 14.0, 30.0))
    engine = engine_for(any_config)
    engine.register([first])
    engine.register([second], link_copies=True)                 # a copy of the excerpt
    write_wav(second / "c-full.wav", songs["c"])
    report = engine.register([second], link_copies=True)
    full = outcome(report, "c-full")
    songs_ = by_name(engine)
    excerpt, copy = songs_["c-excerpt"], songs_["c-copy-of-excerpt"]
    assert full.status == REGISTERED and full.copies == [excerpt["song_id"]]
    assert excerpt["copy_of"] == full.song_id and abs(excerpt["copy_offset_seconds"] - 12.0) <= 0.5
    assert excerpt["total_hashes"] == 0
    # the excerpt's own copy now points at the full song, at its place in it
    assert copy["copy_of"] == full.song_id and abs(copy["copy_offset_seconds"] - 14.0) <= 0.5
    assert engine.stats()["fingerprints"] == songs_["c-full"]["total_hashes"] and consistent(engine)


def test_a_mashup_is_stored_as_a_new_original_and_said_so(tmp_path, songs, any_config):
    originals, mixes = tmp_path / "originals", tmp_path / "mixes"
    originals.mkdir(), mixes.mkdir()
    write_wav(originals / "a.wav", songs["a"])
    write_wav(originals / "b.wav", songs["b"])
    engine = engine_for(any_config)
    engine.register([originals])
    write_wav(mixes / "mashup.wav", np.concatenate([cut(songs["a"], 0, 20), cut(songs["b"], 10, 30)]))
    report = engine.register([mixes], link_copies=True)
    mash = outcome(report, "mashup")
    assert mash.status == REGISTERED and mash.hashes > 0 and "mashup" in mash.message
    assert by_name(engine)["mashup"]["copy_of"] is None and engine.stats()["copies"] == 0


def test_a_copy_whose_original_is_deleted_mid_run_is_stored_with_its_fingerprints(tmp_path, songs, any_config):
    originals, copies = tmp_path / "originals", tmp_path / "copies"
    originals.mkdir(), copies.mkdir()
    write_wav(originals / "a.wav", songs["a"])
    write_wav(copies / "a-excerpt.wav", cut(songs["a"], 20.0, 50.0))
    engine = engine_for(any_config)
    engine.register([originals])
    a_id = by_name(engine)["a"]["song_id"]

    def match_then_delete(queries):             # another user deletes the original meanwhile
        found = engine.match_segments(queries)
        engine.storage.delete_songs([a_id])
        return found

    linker = CopyLinker(match_then_delete, (engine.query_params(), engine.config.recognition))
    report = register_files(engine.storage, engine.params, [copies], extensions=["wav"], jobs=1,
                            settings=engine.config.register, linker=linker)
    done = report.outcomes[0]
    assert done.status == REGISTERED and done.hashes > 0 and "deleted" in done.message
    songs_ = by_name(engine)
    assert list(songs_) == ["a-excerpt"] and songs_["a-excerpt"]["copy_of"] is None and consistent(engine)


def test_an_interrupted_run_resumes_and_links_what_was_left(tmp_path, songs, any_config):
    originals, copies = tmp_path / "originals", tmp_path / "copies"
    originals.mkdir(), copies.mkdir()
    write_wav(originals / "a.wav", songs["a"])
    write_wav(originals / "b.wav", songs["b"])
    engine = engine_for(any_config)
    engine.register([originals])
    for i, (song, start) in enumerate((("a", 3.0), ("b", 11.0), ("a", 25.0), ("b", 2.0))):
        write_wav(copies / f"copy{i}-{song}.wav", cut(songs[song], start, start + 20.0 + i))
    seen = []

    def interrupt_after_two(o):
        seen.append(o)
        if len(seen) == 2:
            raise KeyboardInterrupt

    first = engine.register([copies], link_copies=True, on_file=interrupt_after_two)
    assert first.interrupted and 1 <= len(first.by_status(LINKED)) < 4
    second = engine.register([copies], link_copies=True)
    assert len(second.by_status("skipped")) == len(first.by_status(LINKED))
    songs_ = by_name(engine)
    assert len(songs_) == 6 and engine.stats()["copies"] == 4 and consistent(engine)
    for i, (song, start) in enumerate((("a", 3.0), ("b", 11.0), ("a", 25.0), ("b", 2.0))):
        copy = songs_[f"copy{i}-{song}"]
        assert copy["copy_of"] == songs_[song]["song_id"] and abs(copy["copy_offset_seconds"] - start) <= 0.5


@pytest.fixture
def linked_library(tmp_path, songs, any_config):
    """An original with two copies (from 5 s and from 20 s), registered through the CLI."""
    originals, copies = tmp_path / "originals", tmp_path / "copies"
    originals.mkdir(), copies.mkdir()
    write_wav(originals / "a.wav", songs["a"])
    write_wav(copies / "a1.wav", cut(songs["a"], 5.0, 35.0))
    write_wav(copies / "a2.wav", cut(songs["a"], 20.0, 40.0))
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**any_config, "register": {"jobs": 1}}))
    assert run("--config", str(config), "register", str(originals))[0] == 0
    code, out, err = run("--config", str(config), "register", "--link-copies", str(copies))
    assert code == 0 and "linked 2 as copies" in out and "a copy of song" in err
    code, out, _ = run("--config", str(config), "list", "--json")
    listed = {s["song_name"]: s for s in json.loads(out)["songs"]}
    assert listed["a"]["copy_of"] is None and listed["a"]["copy_offset_seconds"] is None
    assert listed["a1"]["copy_of"] == listed["a2"]["copy_of"] == listed["a"]["song_id"]
    code, out, _ = run("--config", str(config), "list")
    assert re.search(r"hashes  a\n.*copy from 0:0[45].*a1\n.*copy from 0:(19|20).*a2", out), out
    code, out, _ = run("--config", str(config), "stats", "--json")
    assert json.loads(out)["copies"] == 2
    return str(config), copies, listed


def test_deleting_an_original_promotes_its_first_copy(linked_library):
    config, copies, listed = linked_library
    a, a1, a2 = (listed[n]["song_id"] for n in ("a", "a1", "a2"))
    code, out, _ = run("--config", config, "delete", str(a), "--json")
    assert code == 0 and json.loads(out) == {"deleted": [a], "not_found": [], "promoted": {str(a): a1}}
    engine = Dejavu(json.loads(open(config).read()))
    songs_ = by_name(engine)
    assert songs_["a1"]["copy_of"] is None and songs_["a1"]["total_hashes"] > 0
    assert songs_["a2"]["copy_of"] == a1 and abs(songs_["a2"]["copy_offset_seconds"] - 15.0) <= 0.5
    assert consistent(engine)
    found = engine.match_samples(engine.decode(copies / "a2.wav"))
    assert found["match"]["song_id"] == a1 and abs(found["match"]["offset_seconds"] - 15.0) <= 0.5


def test_deleting_an_original_whose_copy_file_is_gone_is_refused(linked_library):
    config, copies, listed = linked_library
    (copies / "a1.wav").unlink()
    code, out, err = run("--config", config, "delete", str(listed["a"]["song_id"]))
    assert code == 1 and "--with-copies" in err and "a1.wav" in err
    assert len(json.loads(run("--config", config, "list", "--json")[1])["songs"]) == 3     # nothing deleted
    code, out, _ = run("--config", config, "delete", "--with-copies", str(listed["a"]["song_id"]), "--json")
    assert code == 0 and sorted(json.loads(out)["deleted"]) == sorted(s["song_id"] for s in listed.values())
    engine = Dejavu(json.loads(open(config).read()))
    assert engine.stats()["songs"] == 0 and engine.stats()["fingerprints"] == 0


def test_the_store_refuses_to_orphan_copies(linked_library):
    config, _, listed = linked_library
    engine = Dejavu(json.loads(open(config).read()))
    with pytest.raises(HasCopiesError):
        engine.storage.delete_songs([listed["a"]["song_id"]])
    assert engine.stats()["songs"] == 3


def old_schema(name):
    """sql/<name> as it was before copies: without their columns."""
    text = storage_base.schema_file(name).read_text()
    text = "\n".join(line for line in text.splitlines() if "copy" not in line)
    return re.sub(r",\s*\n\)", "\n)", text)


def test_a_database_made_before_copies_is_migrated_in_place(tmp_path, songs, any_config, monkeypatch):
    originals, copies = tmp_path / "originals", tmp_path / "copies"
    originals.mkdir(), copies.mkdir()
    write_wav(originals / "a.wav", songs["a"])
    write_wav(copies / "a-excerpt.wav", cut(songs["a"], 7.0, 37.0))
    real = storage_base.schema_file
    old = {}
    for name in ("sqlite.sql", "mysql.sql"):
        old[name] = tmp_path / f"old-{name}"
        old[name].write_text(old_schema(name))
    monkeypatch.setattr(storage_base, "schema_file", lambda name: old[name])
    before = Dejavu({**any_config, "register": {"jobs": 1}})
    with pytest.raises(Exception):
        before.list_songs()                          # this code needs the columns
    store = before.storage
    cur = store.conn.cursor()
    assert "copy_of" not in store._columns(cur, "songs")
    cur.execute(store._sql("INSERT INTO songs (song_name, source_path, file_sha1, file_size, file_mtime_ns, "
                           "duration_seconds, total_hashes, anchor_frames) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
                ("old song", "/nowhere/old.wav", b"\x01" * 20, 1, 1, 10.0, 0, 0))     # a song of the old code
    store.conn.commit()
    cur.close()
    before.close()
    monkeypatch.setattr(storage_base, "schema_file", real)
    after = engine_for(any_config)
    assert by_name(after)["old song"]["copy_of"] is None
    after.register([originals])
    for _ in range(2):                               # opening again changes nothing
        after.close()
        after = engine_for(any_config)
        assert after.storage.stats()["songs"] == 2
    report = after.register([copies], link_copies=True)
    assert report.outcomes[0].status == LINKED and abs(report.outcomes[0].copy_offset_seconds - 7.0) <= 0.5


def test_judge_copy_known_answers():
    song = {"song_id": 5, "song_name": "five", "song_duration_seconds": 100.0}

    def seg(start, offset, matched=True, song_=song):
        c = {**song_, "offset_seconds": offset}
        return (start, 8.0, {"match": c if matched else None, "candidates": [c]})

    # a copy from 30 s: every segment at offset 30 + start (one undecided but at the same offset)
    v = judge_copy([seg(0, 30.0), seg(8, 38.02), seg(16, 46.0, matched=False), seg(24, 54.0)], 32.0)
    assert v.kind == "copy" and v.copy_of == 5 and abs(v.offset_seconds - 30.0) < 0.05
    # one segment from another song: 75 % < 90 %, and said so
    other = {"song_id": 6, "song_name": "six", "song_duration_seconds": 50.0}
    v = judge_copy([seg(0, 30.0), seg(8, 38.0), seg(16, 12.0, song_=other), seg(24, 54.0)], 32.0)
    assert v.kind == "original" and not v.covers and [s for s, _, _ in v.overlaps] == [5, 6]
    # one segment found at another place of the same song (music that repeats itself): still a copy
    v = judge_copy([seg(0, 30.0), seg(8, 38.0), seg(16, 70.0), seg(24, 54.0)], 32.0)
    assert v.kind == "copy" and abs(v.offset_seconds - 30.0) < 0.05
    # half one song, half another: a mashup
    v = judge_copy([seg(0, 30.0), seg(8, 38.0), seg(16, 12.0, song_=other), seg(24, 20.0, song_=other)], 32.0)
    assert v.kind == "original" and "mashup" in v.message and {s for s, _, _ in v.overlaps} == {5, 6}
    # a 200 s file whose 40 s..140 s is the registered song: it covers it
    segs = [seg(s, s - 40.0) if 40 <= s and s + 8 <= 140 else (s, 8.0, {"match": None, "candidates": []})
            for s in range(0, 200, 8)]
    v = judge_copy(segs, 200.0)
    assert v.kind == "original" and v.covers == [(5, 40.0)]
