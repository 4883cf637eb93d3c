"""The index's levels (storage.base: recent, pending, index) on SQLite and
the real MariaDB: rows move down in key order when due, every lookup and
statistic sees each row exactly once, deletes reach every level; a Spider
or Galera index is written directly."""
import threading
import time

import numpy as np
import pytest

from dejavu_cn.config import Config
from dejavu_cn.hashing import hash_keys
from dejavu_cn.storage import open_storage
from dejavu_cn.storage.base import LEVEL_TABLES, PENDING_TABLE, RECENT_TABLE

from test_storage import fake_fingerprints, record


def _open(config, **levels):
    return open_storage(Config.from_dict({**config, "database": {**config["database"], **levels}}))


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def level_config(request):
    return request.getfixturevalue(f"{request.param}_config")


def _rows_by_table(store):
    def work(cur):
        out = {}
        for table in LEVEL_TABLES:
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            out[table] = int(cur.fetchone()[0])
        return out
    return store._run("count", work)


def _found(store, hashes):
    found = store.lookup(np.unique(hashes, axis=0))
    rows = list(zip(found.keys.tolist(), found.song_ids.tolist(), found.offsets.tolist()))
    assert len(rows) == len(set(rows)), "a row was returned twice"
    return set(rows)


def _levels(store):
    s = store.stats()
    return s["recent_fingerprints"], s["pending_fingerprints"], s["fingerprints"]


def test_rows_move_down_the_levels_and_are_found_once_wherever_they_are(level_config):
    # 500 rows a song; a move of the recent level at 500 rows; the pending level joins the index at its size
    store = _open(level_config, recent_rows=500, pending_share=1.0)
    try:
        want, added = set(), []

        def add(n, rows=500):
            hashes, offsets = fake_fingerprints(n, rows)
            song = store.add_song(record(n), hashes, offsets)
            want.update(zip(hash_keys(hashes).tolist(), [song] * rows, offsets.tolist()))
            added.append(hashes)
            return song

        add(1)                                      # into the index: it is small (500 rows / 1.0)
        assert _levels(store) == (0, 0, 500)
        add(2)                                      # recent -> pending 500 >= the index's 500: joins it
        assert _levels(store) == (0, 0, 1000)
        third = add(3)                              # pending 500 < the index's 1000: stays
        assert _levels(store) == (0, 500, 1500)
        fourth = add(4, rows=300)                   # below the recent level's size: stays there
        assert _levels(store) == (300, 500, 1800)
        assert _rows_by_table(store) == {"fingerprints": 1000, PENDING_TABLE: 500, RECENT_TABLE: 300}
        assert _found(store, np.concatenate(added)) == want

        store.delete_songs([third, fourth])         # from the pending and the recent level
        assert _levels(store) == (0, 0, 1000)
        assert _rows_by_table(store) == {"fingerprints": 1000, PENDING_TABLE: 0, RECENT_TABLE: 0}
        want = {row for row in want if row[1] not in (third, fourth)}
        assert _found(store, np.concatenate(added)) == want

        add(5, rows=200)
        assert store.merge_levels(everything=True)["pending"] == 200     # everything into the index now
        assert _rows_by_table(store) == {"fingerprints": 1200, PENDING_TABLE: 0, RECENT_TABLE: 0}
        assert _found(store, np.concatenate(added)) == want
    finally:
        store.close()


def test_a_small_index_is_written_directly(level_config):
    """Below ``recent_rows / pending_share`` rows every full recent level
    would join the index at once: rows go straight into it."""
    store = _open(level_config, recent_rows=1000, pending_share=0.5)
    try:
        store.add_song(record(70), *fake_fingerprints(70, 600))
        store.add_song(record(71), *fake_fingerprints(71, 600))
        assert _rows_by_table(store) == {"fingerprints": 1200, PENDING_TABLE: 0, RECENT_TABLE: 0}
        store.add_song(record(72), *fake_fingerprints(72, 900))        # past 2,000 rows: the levels begin
        assert _rows_by_table(store) == {"fingerprints": 1200, PENDING_TABLE: 0, RECENT_TABLE: 900}
    finally:
        store.close()


def test_a_registration_run_ends_with_the_moves_that_are_due(level_config):
    """Rows written by other stores (other processes) count: the store that
    looks at the recent level's size moves it, whoever wrote it."""
    writers = [_open(level_config, recent_rows=1000, pending_share=1.0) for _ in range(3)]
    try:
        writers[0].add_song(record(19), *fake_fingerprints(19, 2000))
        assert _levels(writers[0]) == (0, 0, 2000)
        for n, writer in enumerate(writers):
            writer.add_song(record(20 + n), *fake_fingerprints(20 + n, 400))
        assert _levels(writers[0]) == (1200, 0, 3200)   # no writer wrote 1,000 rows itself
        writers[0].optimize(added_rows=400)             # what a registration run ends with
        assert _levels(writers[0]) == (0, 1200, 3200)   # pending: below the index's size
    finally:
        for writer in writers:
            writer.close()


def test_optimize_moves_every_level_in_and_packs_the_file(level_config, tmp_path):
    """``dejavu-cn optimize`` (:meth:`Dejavu.optimize`): every row ends in
    the index, each found once, and on SQLite the file shrinks once deleted
    songs left pages free; ``dejavu-cn stats`` shows the rows waiting."""
    import json

    from clirun import run
    from dejavu_cn import Dejavu
    config = {**level_config, "database": {**level_config["database"], "recent_rows": 4000, "pending_share": 1.0}}
    (tmp_path / "config.json").write_text(json.dumps(config))
    engine = Dejavu(config)
    store = engine.storage
    try:
        songs = {n: fake_fingerprints(n, 3000) for n in range(40, 52)}
        ids = {n: store.add_song(record(n), *songs[n]) for n in songs}
        recent, pending, _ = _levels(store)
        assert recent + pending > 0                      # rows wait in the levels
        code, out, _ = run("--config", str(tmp_path / "config.json"), "stats")
        assert code == 0 and f"levels:       {recent} recent and {pending} pending fingerprints" in out
        engine.delete([ids[n] for n in range(40, 46)])   # half the rows go: their pages are left free
        kept = np.concatenate([songs[n][0] for n in range(46, 52)])
        want = _found(store, kept)
        done = engine.optimize()
        assert done["rewritten"] is True and done["bytes_before"] > 0
        assert _rows_by_table(store) == {"fingerprints": 6 * 3000, PENDING_TABLE: 0, RECENT_TABLE: 0}
        assert _found(store, kept) == want and len(want) >= 6 * 2900
        if store.placeholder == "?":                     # SQLite: VACUUM gave the free pages back
            assert done["bytes_after"] < 0.8 * done["bytes_before"]
            assert done["bytes_after"] == store.stats()["bytes"]
        code, out, _ = run("--config", str(tmp_path / "config.json"), "stats")
        assert code == 0 and "levels:" not in out and "fingerprints: 18000" in out
    finally:
        engine.close()


def test_optimize_says_when_the_disk_is_too_full_and_changes_nothing(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from dejavu_cn.errors import StorageError
    from dejavu_cn.storage.sqlite import vacuum_space
    store = _open({"database": {"path": str(tmp_path / "lib.sqlite3")}})
    try:
        hashes, offsets = fake_fingerprints(60, 3000)
        store.add_song(record(60), hashes, offsets)
        size = store.stats()["bytes"]
        assert sum(vacuum_space(store.path, size).values()) == 2 * size      # the copy and the log
        usage = namedtuple("usage", "total used free")
        monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(10 ** 12, 10 ** 12 - 1000, 1000))
        with pytest.raises(StorageError, match=r"needs about .* GB free in .*SQLITE_TMPDIR"):
            store.optimize()
        assert len(_found(store, hashes)) == 3000 and store.stats()["bytes"] == size
    finally:
        store.close()


def test_lookups_see_each_row_once_while_the_levels_move(level_config):
    """One snapshot of every level per lookup: a move between the reads of
    two levels would hide rows or show them twice. Each song is written in
    one transaction and moved in one, so every lookup must see each song
    stored before it began whole. (A song stored during a lookup may be
    seen in part: a large lookup's parts run on connections of their own.)"""
    store = _open(level_config, recent_rows=300, pending_share=0.5)
    reader = _open(level_config, recent_rows=300, pending_share=0.5)
    try:
        songs = {seed: fake_fingerprints(seed, 150) for seed in range(50, 90)}
        query = np.unique(np.concatenate([h for h, _ in songs.values()]), axis=0)
        expected, moved, errors = {}, [], []

        def writer():
            try:
                for seed, (hashes, offsets) in songs.items():
                    song = store.add_song(record(seed), hashes, offsets)
                    expected[song] = len(set(zip(hash_keys(hashes).tolist(), offsets.tolist())))
                    moved.append(_levels(store)[:2])
                    time.sleep(0.02)                # lookups run between and during the writes
            except Exception as exc:  # reported below
                errors.append(exc)

        thread = threading.Thread(target=writer)
        thread.start()
        seen = []
        while thread.is_alive():
            stored = dict(expected)
            rows = _found(reader, query)
            counts = dict(zip(*np.unique([song for _, song, _ in rows], return_counts=True)))
            seen.append({song: (rows, int(counts.get(song, 0))) for song, rows in stored.items()})
        thread.join()
        assert not errors
        assert len(seen) >= 10 and len(set(moved)) >= 3      # the levels moved meanwhile
        partial = [(song, got, want) for lookup in seen for song, (want, got) in lookup.items() if got != want]
        assert not partial, f"songs seen with part of their rows (song, rows, of): {partial[:5]}"
    finally:
        reader.close()
        store.close()


@pytest.mark.parametrize("cluster", ["spider", "galera"])
def test_a_distributed_index_is_written_directly(request, cluster):
    store = _open(request.getfixturevalue(f"{cluster}_config"), recent_rows=100)
    try:
        hashes, offsets = fake_fingerprints(60, 300)
        song = store.add_song(record(60), hashes, offsets)
        assert _levels(store) == (0, 0, 300)
        found = store.lookup(np.unique(hashes, axis=0))
        assert set(found.song_ids.tolist()) == {song} and len(found) == 300
    finally:
        store.close()
