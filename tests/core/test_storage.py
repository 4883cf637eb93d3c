"""Contract tests: the same suite against SQLite and the real MariaDB."""
import dataclasses

import numpy as np
import pytest

from dejavu_cn.config import Config
from dejavu_cn.errors import DuplicateSongError, ParameterMismatchError, StorageError
from dejavu_cn.hashing import hash_keys, hash_landmarks
from dejavu_cn.storage import SongRecord, open_storage


def record(n, name=None):
    return SongRecord(name or f"song {n}", f"/music/{n}.mp3", bytes([n]) * 20, 1000 + n, 123456789 + n, 60.0 + n)


def fake_fingerprints(seed, n=500):
    rng = np.random.default_rng(seed)
    hashes = hash_landmarks(rng.integers(14, 460, n), rng.integers(14, 460, n), rng.integers(1, 63, n))
    return hashes, rng.integers(0, 2500, n).astype(np.int32)


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql), "spider", "galera"])
def any_config(request):
    """The storage contract, on every backend: SQLite, one MariaDB, and the
    MariaDB clusters (scripts/cluster.sh: a Spider index over 4 data nodes,
    3 Galera nodes)."""
    return request.getfixturevalue(f"{request.param}_config")


@pytest.fixture
def store(any_config):
    s = open_storage(Config.from_dict(any_config))
    yield s
    s.close()


def test_add_lookup_round_trip(store):
    hashes, offsets = fake_fingerprints(1)
    song_id = store.add_song(record(1), hashes, offsets)
    found = store.lookup(np.unique(hashes[:50], axis=0))
    assert set(found.song_ids.tolist()) == {song_id}
    want = {(int(k), int(o)) for k, o in zip(hash_keys(hashes[:50]), offsets[:50])}
    got = set(zip(found.keys.tolist(), found.offsets.tolist()))
    assert want <= got
    song = store.song(song_id)
    assert song["song_name"] == "song 1" and song["total_hashes"] == len({(bytes(h), int(o)) for h, o in zip(hashes, offsets)})
    assert song["file_sha1"] == (bytes([1]) * 20).hex()


def test_lookup_of_unknown_hashes_is_empty(store):
    store.add_song(record(1), *fake_fingerprints(1))
    other, _ = fake_fingerprints(99)
    assert store.lookup(np.unique(other, axis=0)[:0]).keys.size == 0
    assert store.lookup(hash_landmarks([1], [2], [200])).keys.size == 0


def test_duplicate_content_is_refused_and_nothing_half_written(store):
    hashes, offsets = fake_fingerprints(2)
    first = store.add_song(record(2), hashes, offsets)
    before = store.stats()["fingerprints"]
    with pytest.raises(DuplicateSongError) as err:
        store.add_song(record(2, name="again"), hashes, offsets)
    assert err.value.song_id == first
    assert store.stats()["fingerprints"] == before


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_failure_mid_insert_rolls_back_everything(store, monkeypatch, error):
    hashes, offsets = fake_fingerprints(3)
    real_insert = store._insert_fingerprints

    def insert_then_fail(cur, hashes, packed):
        real_insert(cur, hashes[:100], packed[:100])                    # some rows really written
        raise error

    monkeypatch.setattr(store, "_insert_fingerprints", insert_then_fail)
    with pytest.raises((StorageError, KeyboardInterrupt)):
        store.add_song(record(3), hashes, offsets)
    monkeypatch.undo()
    assert store.stats()["songs"] == 0
    assert store.stats()["fingerprints"] == 0
    assert store.add_song(record(3), hashes, offsets) > 0             # the store is still usable


def test_list_search_page_delete_and_stats(store):
    ids = [store.add_song(record(n, name=f"{'<b>' if n == 4 else ''}track_{n}%"), *fake_fingerprints(n, 100))
           for n in range(4, 9)]
    songs, total = store.list_songs()
    assert total == 5 and [s["song_id"] for s in songs] == ids
    page, total = store.list_songs(limit=2, offset=2)
    assert total == 5 and [s["song_id"] for s in page] == ids[2:4]
    found, total = store.list_songs(search="<b>")
    assert total == 1 and found[0]["song_name"] == "<b>track_4%"
    assert store.list_songs(search="_5%")[1] == 1        # LIKE wildcards are literal
    assert store.list_songs(search="zzz")[1] == 0
    stats = store.stats()
    assert stats["songs"] == 5 and stats["fingerprints"] == 500 and stats["bytes"] > 0
    assert abs(stats["hours"] - sum(60.0 + n for n in range(4, 9)) / 3600) < 1e-9
    assert store.delete_songs([ids[0], 999999]) == [ids[0]]
    assert store.song(ids[0]) is None
    assert store.stats()["fingerprints"] == 400
    assert store.songs_by_id(ids[1:3]).keys() == set(ids[1:3])


def test_song_rows_are_reused_for_a_while_and_forgotten_on_delete(store, any_config, monkeypatch):
    from dejavu_cn.storage import base
    ids = [store.add_song(record(n), *fake_fingerprints(n, 50)) for n in (40, 41)]
    reads = []
    run = store._run
    monkeypatch.setattr(store, "_run", lambda action, work, **kw: reads.append(action) or run(action, work, **kw))
    first = store.songs_by_id(ids)
    assert store.songs_by_id(ids) == first and reads == ["read songs"]       # the second call reads nothing
    first[ids[0]]["song_name"] = "changed by the caller"
    assert store.songs_by_id(ids[:1])[ids[0]]["song_name"] == "song 40"      # callers get copies

    other = open_storage(Config.from_dict(any_config))       # another process deletes a song...
    assert other.delete_songs([ids[1]]) == [ids[1]]
    other.close()
    monkeypatch.setattr(base, "SONG_CACHE_SECONDS", 0.0)      # ...and once the rows are old, it is gone
    assert set(store.songs_by_id(ids)) == {ids[0]}
    monkeypatch.setattr(base, "SONG_CACHE_SECONDS", 60.0)
    assert store.delete_songs([ids[0]]) == [ids[0]]           # this store's own delete: at once
    assert store.songs_by_id(ids) == {}


def test_registered_files_and_sha1s(store):
    sid = store.add_song(record(5), *fake_fingerprints(5, 10))
    assert store.registered_files() == {"/music/5.mp3": (1005, 123456794)}
    assert store.known_sha1s() == {bytes([5]) * 20: sid}
    assert store.find_registered("/music/5.mp3", 1005, 123456794) == sid
    assert store.find_registered("/music/5.mp3", 1006, 123456794) is None


def test_sketches_are_stored_with_their_song_and_deleted_with_it(store):
    words = np.random.default_rng(3).integers(0, 2 ** 32, 5000, dtype=np.uint64).astype(np.uint32)
    with_sketch = dataclasses.replace(record(50), sketch=words.tobytes())
    sid = store.add_song(with_sketch, *fake_fingerprints(50, 50))
    bare = store.add_song(record(51), *fake_fingerprints(51, 50))       # registered without one
    stored = store.sketches([sid, bare, 999])
    assert set(stored) == {sid} and np.array_equal(np.frombuffer(stored[sid], "<u4"), words)
    duplicate = dataclasses.replace(with_sketch, song_name="again")
    with pytest.raises(DuplicateSongError):
        store.add_song(duplicate, *fake_fingerprints(50, 50))
    assert store.sketches([sid])[sid] == stored[sid]                    # the refused copy wrote nothing
    assert store.delete_songs([sid]) == [sid] and store.sketches([sid]) == {}
    assert store.sketches([]) == {}


def test_a_database_of_the_previous_schema_is_refused_with_what_to_do(any_config):
    from dejavu_cn.storage.base import SCHEMA_VERSION
    s = open_storage(Config.from_dict(any_config))
    s._run("age", lambda cur: cur.execute(s._sql("UPDATE dejavu_meta SET meta_value = ? WHERE meta_key = ?"),
                                          ("1", "schema_version")), write=True)
    s.close()
    with pytest.raises(StorageError, match=f"schema version 1, this dejavu-cn needs {SCHEMA_VERSION}: register"):
        open_storage(Config.from_dict(any_config))


def test_other_parameters_are_refused(any_config):
    open_storage(Config.from_dict(any_config)).close()
    changed = dict(any_config, fingerprint={"fan_value": 7})
    with pytest.raises(ParameterMismatchError, match="fan_value"):
        open_storage(Config.from_dict(changed))
    open_storage(Config.from_dict(any_config)).close()    # the original parameters still open it


def test_a_database_from_before_triplets_is_one_of_pairs(any_config):
    """Databases made before ``fingerprint.landmark`` existed do not record it:
    they were built with pairs, open with pairs, and are refused with triplets."""
    import json
    s = open_storage(Config.from_dict(any_config))

    def read(cur):
        cur.execute(s._sql("SELECT meta_value FROM dejavu_meta WHERE meta_key = ?"), ("fingerprint_parameters",))
        return json.loads(cur.fetchone()[0])
    old = {k: v for k, v in s._run("read", read).items() if k != "landmark"}
    s._run("age", lambda cur: cur.execute(s._sql("UPDATE dejavu_meta SET meta_value = ? WHERE meta_key = ?"),
                                          (json.dumps(old, sort_keys=True), "fingerprint_parameters")), write=True)
    s.close()
    open_storage(Config.from_dict(any_config)).close()
    triplets = dict(any_config, fingerprint={"landmark": "triplet", "fan_value": 4})
    with pytest.raises(ParameterMismatchError, match="landmark: database 'pair' vs config 'triplet'"):
        open_storage(Config.from_dict(triplets))


def test_reopening_keeps_data(any_config):
    s = open_storage(Config.from_dict(any_config))
    s.add_song(record(6), *fake_fingerprints(6, 50))
    s.close()
    s = open_storage(Config.from_dict(any_config))
    assert s.stats()["songs"] == 1
    s.close()


def test_unwritable_sqlite_location_gives_actionable_error(tmp_path):
    config = Config.from_dict({"database": {"path": str(tmp_path / "no" / "such" / "dir" / "x.sqlite3")}})
    with pytest.raises(StorageError, match="does not exist"):
        open_storage(config)


@pytest.mark.mysql
def test_unreachable_mysql_gives_actionable_error():
    config = Config.from_dict({"database_type": "mysql",
                               "database": {"host": "127.0.0.1", "port": 1, "user": "root", "database": "x"}})
    with pytest.raises(StorageError, match="Check that the server is running"):
        open_storage(config)


@pytest.mark.mysql
def test_missing_mysql_database_says_how_to_create_it(mysql_config):
    cfg = Config.from_dict(mysql_config).replace(database={"database": "dejavu_cn_does_not_exist"})
    with pytest.raises(StorageError, match="CREATE DATABASE"):
        open_storage(cfg)


def test_tls_modes_map_to_pymysql_arguments():
    import ssl
    from dejavu_cn.storage.mysql import tls_arguments
    assert tls_arguments("127.0.0.1", "auto") == {"ssl_disabled": True}       # loopback: nothing to protect
    assert tls_arguments("LOCALHOST", "auto") == {"ssl_disabled": True}
    assert tls_arguments("db.example.org", "auto") == {}                       # PyMySQL's preferred mode
    assert tls_arguments("127.0.0.1", "preferred") == {}
    assert tls_arguments("db.example.org", "disabled") == {"ssl_disabled": True}
    required = tls_arguments("db.example.org", "required")["ssl"]
    assert isinstance(required, ssl.SSLContext) and required.verify_mode == ssl.CERT_NONE
    assert tls_arguments("db.example.org", "required")["ssl"] is required     # made once per process


def test_a_tls_ca_file_means_a_verified_connection():
    import ssl
    from dejavu_cn.storage.mysql import tls_arguments
    ca = ssl.get_default_verify_paths().cafile
    if not ca:
        pytest.skip("no CA bundle on this machine")
    for mode in ("auto", "preferred", "required"):    # a CA file means required and verified
        context = tls_arguments("127.0.0.1", mode, ca)["ssl"]
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_unknown_tls_mode_is_a_configuration_error():
    from dejavu_cn.errors import ConfigError
    with pytest.raises(ConfigError, match="database.tls"):
        Config.from_dict({"database_type": "mysql",
                          "database": {"host": "h", "user": "u", "database": "d", "tls": "maybe"}})
    with pytest.raises(ConfigError, match="tls_ca"):
        Config.from_dict({"database_type": "mysql",
                          "database": {"host": "h", "user": "u", "database": "d", "tls": "disabled", "tls_ca": "ca.pem"}})
    from dejavu_cn.storage import MySQLStorage
    with pytest.raises(ConfigError, match="database.tls"):          # the same check when built directly
        MySQLStorage(host="h", user="u", database="d", tls="maybe")


@pytest.mark.mysql
@pytest.mark.parametrize("tls", ["auto", "disabled", "preferred", "required"])
def test_mysql_tls_modes_on_the_real_server(mysql_config, tls):
    import pymysql
    conn = pymysql.connect(connect_timeout=5, **mysql_config["database"])
    with conn.cursor() as cur:
        cur.execute("SHOW VARIABLES LIKE 'have_ssl'")
        server_tls = (cur.fetchone() or ("", ""))[1] == "YES"
    conn.close()
    config = Config.from_dict({**mysql_config, "database": {**mysql_config["database"], "tls": tls}})
    if tls == "required" and not server_tls:
        with pytest.raises(StorageError, match="database.tls"):
            open_storage(config)
        return
    store = open_storage(config)
    try:
        cipher = store._run("tls check", lambda cur: (cur.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'"),
                                                      cur.fetchone())[1])
    finally:
        store.close()
    encrypted = bool(cipher and cipher[1])
    expected = {"auto": False, "disabled": False, "preferred": server_tls, "required": True}[tls]
    assert encrypted == expected


@pytest.mark.mysql
def test_mysql_packed_lookup_falls_back_when_the_server_cuts_it_short(mysql_config):
    store = open_storage(Config.from_dict(mysql_config))
    hashes, offsets = fake_fingerprints(8, 400)
    store.add_song(record(8), hashes, offsets)
    query = np.unique(hashes, axis=0)
    full = store.lookup(query)
    with store.conn.cursor() as cur:
        cur.execute("SET SESSION group_concat_max_len = 64")      # far too short for 400 rows
    cut = store.lookup(query)
    key = lambda lk: sorted(zip(lk.keys.tolist(), lk.song_ids.tolist(), lk.offsets.tolist()))  # noqa: E731
    assert len(full.keys) == len({(bytes(h), int(o)) for h, o in zip(hashes, offsets)})
    assert key(cut) == key(full)
    store.close()


@pytest.mark.mysql
def test_mysql_reads_survive_a_dropped_connection_and_writes_say_what_happened(mysql_config):
    import pymysql
    store = open_storage(Config.from_dict(mysql_config))
    hashes, offsets = fake_fingerprints(9, 50)
    store.add_song(record(9), hashes, offsets)

    def kill_session():
        with store.conn.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID()")
            session = cur.fetchone()[0]
        killer = pymysql.connect(host=mysql_config["database"]["host"], port=mysql_config["database"]["port"],
                                 user=mysql_config["database"]["user"],
                                 password=mysql_config["database"]["password"])
        killer.cursor().execute(f"KILL {int(session)}")
        killer.close()

    kill_session()
    assert store.lookup(np.unique(hashes, axis=0)).keys.size == 50       # reconnected and read again
    kill_session()
    with pytest.raises(StorageError, match="Check that the server is running"):
        store.add_song(record(10), *fake_fingerprints(10, 50))           # a write is never replayed blindly
    assert store.stats()["songs"] == 1                                    # the next read reconnects
    store.close()


def test_repacking_keeps_every_row_and_only_runs_when_it_pays(any_config):
    store = open_storage(Config.from_dict(any_config))
    hashes, offsets = fake_fingerprints(11, 60_000)
    store.add_song(record(11), hashes, offsets)
    before = store.lookup(np.unique(hashes[:2000], axis=0))
    rows_before = store.stats()["fingerprints"]
    assert rows_before > 50_000
    assert store.optimize(added_rows=10) is False                        # a few songs never repack
    repacked = store.optimize(added_rows=60_000)
    sharded = store.placeholder == "%s" and store.index_engine() == "SPIDER"
    assert repacked is (store.placeholder == "%s" and not sharded)       # MariaDB repacks; SQLite has no need,
                                                                         # a Spider index is repacked on its nodes
    after = store.lookup(np.unique(hashes[:2000], axis=0))
    key = lambda lk: sorted(zip(lk.keys.tolist(), lk.song_ids.tolist(), lk.offsets.tolist()))  # noqa: E731
    assert key(after) == key(before) and len(before.keys) > 0
    assert store.stats()["fingerprints"] == rows_before
    assert store.stats()["songs"] == 1
    store.close()


@pytest.mark.parametrize("server_side", [True, False])
def test_batch_of_songs_stores_every_row_once_with_or_without_server_side_unpacking(store, server_side):
    if not server_side:       # the driver's plain INSERTs, for servers without json_each / JSON_TABLE
        store._server_unpacks = False
    batch = [(record(n), *fake_fingerprints(n, 3000)) for n in (10, 11, 12)]
    hashes, offsets = batch[1][1].copy(), batch[1][2].copy()
    batch[1] = (batch[1][0], np.concatenate([hashes, hashes[:7]]), np.concatenate([offsets, offsets[:7]]))
    batch.append((record(10, name="same bytes as the first"), *fake_fingerprints(13)))
    ids = store.add_songs(batch)
    assert isinstance(ids[3], DuplicateSongError) and ids[3].song_id == ids[0]
    assert len(set(ids[:3])) == 3
    for song_id, (_, h, o) in zip(ids[:3], batch[:3]):
        want = {(bytes(a), int(b)) for a, b in zip(h, o)}
        assert store.song(song_id)["total_hashes"] == len(want)
        found = store.lookup(np.unique(h, axis=0))
        on_song = found.song_ids == song_id
        got = set(zip(found.keys[on_song].tolist(), found.offsets[on_song].tolist()))
        assert got == {(int(k), o_) for k, (_, o_) in zip(hash_keys(np.array([np.frombuffer(a, np.uint8) for a, _ in want])), want)}
    assert store.stats()["fingerprints"] == sum(store.song(i)["total_hashes"] for i in ids[:3])


def test_packed_parallel_and_row_by_row_lookups_agree(store):
    """The server-side packed lookup (json_each / JSON_TABLE), the same
    spread over several connections, and the plain row-by-row read agree,
    across batches and with hashes of several songs."""
    batch = [(record(n), *fake_fingerprints(n, 2000)) for n in (20, 21)]
    store.add_songs(batch)
    query = np.unique(np.concatenate([batch[0][1][::3], batch[1][1][::5], fake_fingerprints(99, 300)[0]]), axis=0)
    store.lookup_batch = 700                                   # several statements per lookup
    key = lambda lk: sorted(zip(lk.keys.tolist(), lk.song_ids.tolist(), lk.offsets.tolist()))  # noqa: E731
    read_rows = store._lookup_rows
    store._lookup_rows = lambda cur, b, songs=None: pytest.fail("a packed lookup fell back to reading rows")
    packed = store.lookup(query)
    assert store._server_unpacks is True
    store.lookup_connections, store.parallel_lookup_min = 3, 10     # spread over three connections
    spread = store.lookup(query)
    store._lookup_rows = read_rows
    assert store._readers is not None and len(store._readers[1]) == 2
    store.close_readers()
    assert store._readers is None
    store._server_unpacks = False
    store.lookup_connections = 1
    rows = store.lookup(query)
    assert key(packed) == key(rows) == key(spread) and len(rows.keys) >= 2000 // 3 + 2000 // 5


def test_spider_lookup_right_after_registering_is_a_batched_seek(spider_config):
    """Right after songs are stored in a new Spider index (the head's
    statistics still say it is empty), a lookup through the same store seeks
    the query's hashes in a batched join (Batched Key Access: the data nodes
    get them at once) and returns every row, in well under its timeout: it
    does not read the whole index for every batch."""
    store = open_storage(Config.from_dict({**spider_config,
                                          "database": {**spider_config["database"], "timeout_seconds": 5}}))

    def plan(cur):
        cur.execute("EXPLAIN " + store.packed_lookup_sql.format(table="fingerprints"), ("[0,0]", bytes(20)))
        return [(row[2], row[3], row[-1]) for row in cur.fetchall()]           # table, access, extra
    try:
        want, query = set(), []
        for n in range(3):
            hashes, offsets = fake_fingerprints(40 + n, 4000)
            song_id = store.add_song(record(40 + n), hashes, offsets)
            want |= {(int(k), song_id, int(o)) for k, o in zip(hash_keys(hashes), offsets)}
            query.append(hashes)
        store.lookup_connections, store.parallel_lookup_min = 2, 1           # the readers' connections too
        found = store.lookup(np.unique(np.concatenate(query), axis=0))
        assert set(zip(found.keys.tolist(), found.song_ids.tolist(), found.offsets.tolist())) == want
        (first, _, _), (index, access, extra) = store._run("explain the lookup", plan)
        assert (first, index, access) == ("j", "f", "ref") and "BKA" in extra
        assert store._readers[1][0][1]._run("explain the lookup", plan)[-1] == (index, access, extra)
    finally:
        store.close()


def test_values_beyond_the_packed_lookup_are_read_row_by_row(sqlite_config):
    """Offsets past 2^24 frames (a file of over 108 hours) do not fit the
    packed lookup's integers: the rows are then read one by one, unchanged."""
    store = open_storage(Config.from_dict(sqlite_config))
    hashes, offsets = fake_fingerprints(30, 200)
    offsets = offsets.astype(np.int64) + (1 << 24)
    sid = store.add_song(record(30), hashes, offsets)
    found = store.lookup(np.unique(hashes, axis=0))
    assert store._server_unpacks is True
    assert set(zip(found.keys.tolist(), found.offsets.tolist())) == set(zip(hash_keys(hashes).tolist(), offsets.tolist()))
    assert set(found.song_ids.tolist()) == {sid}
    store.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def test_a_large_delete_writes_its_count_delta_in_rows_a_server_takes(request, backend, monkeypatch):
    """A count delta bigger than ``DELTA_ROW_BYTES`` (deleting hours of
    songs at once: 34 MB for 4 M rows, past MariaDB's 16 MB packets) is
    stored in several rows, and the counts stay exact."""
    from dejavu_cn.storage import base
    from dejavu_cn.storage import counts as hash_counts
    monkeypatch.setattr(base, "DELTA_ROW_BYTES", 64)          # 8 (key, change) pairs a row
    s = open_storage(Config.from_dict(request.getfixturevalue(f"{backend}_config")))
    try:
        kept = fake_fingerprints(80, 300)
        s.add_song(record(80), *kept)
        gone = s.add_song(record(81), *fake_fingerprints(81, 300))
        s.delete_songs([gone])
        def deltas(cur):
            cur.execute("SELECT COUNT(*) FROM hash_count_deltas")
            return cur.fetchone()[0]
        assert s._run("count", deltas) > 20
        s.expire_counts()
        truth = np.bincount(hash_counts.buckets(kept[0]), minlength=1 << hash_counts.COUNT_BITS)
        assert np.array_equal(s.hash_counts(), truth)
    finally:
        s.close()
