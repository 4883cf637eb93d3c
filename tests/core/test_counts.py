"""Hash counts (storage/counts.py) and the row budget of queries (engine.QueryReader),
on SQLite and the real MariaDB."""
import numpy as np
import pytest

from dejavu_cn import Dejavu
from dejavu_cn.config import Config
from dejavu_cn.hashing import hash_keys, hash_landmarks
from dejavu_cn.matching import Query, read_order
from dejavu_cn.storage import SongRecord, open_storage
from dejavu_cn.storage import counts as hash_counts


def record(n):
    return SongRecord(f"song {n}", f"/music/{n}.mp3", bytes([n]) * 20, 1000 + n, 123456789 + n, 60.0 + n)


def song_rows(seed, n=400, *, common=None):
    """``n`` random hashes at random offsets, plus ``common`` (hashes every song holds)."""
    rng = np.random.default_rng(seed)
    hashes = hash_landmarks(rng.integers(14, 460, n), rng.integers(14, 460, n), rng.integers(1, 63, n))
    if common is not None:
        hashes = np.concatenate([hashes, common])
    return hashes, rng.integers(0, 2500, len(hashes)).astype(np.int32)


def true_counts(store, hashes):
    found = store.lookup(np.unique(hashes, axis=0))
    keys, n = np.unique(found.keys, return_counts=True)
    return dict(zip(keys.tolist(), n.tolist()))


@pytest.fixture
def store(any_config):
    s = open_storage(Config.from_dict(any_config))
    yield s
    s.close()


def test_counts_follow_adds_deletes_and_folds(store, monkeypatch):
    monkeypatch.setattr(hash_counts, "REFRESH_SECONDS", 0.0)
    common = hash_landmarks([100, 101], [120, 130], [5, 9])
    songs = [song_rows(seed, common=common) for seed in range(4)]
    ids = [store.add_song(record(i + 1), h, o) for i, (h, o) in enumerate(songs)]
    every = np.unique(np.concatenate([h for h, _ in songs]), axis=0)

    def check():
        counts = store.hash_counts()
        truth = true_counts(store, every)
        estimate = counts[hash_counts.buckets(every)]
        for key, est in zip(hash_keys(every).tolist(), estimate.tolist()):
            assert est >= truth.get(key, 0)            # a bucket never counts less than its hash has
        assert int(counts.sum()) == store.stats()["fingerprints"]
        return counts, truth

    counts, truth = check()
    assert store.hash_presence().contains(hash_counts.short_keys(every)).all()
    assert truth[int(hash_keys(common[:1])[0])] == 4
    assert counts[hash_counts.buckets(common[:1])[0]] >= 4
    store.delete_songs([ids[0]])
    counts, truth = check()
    assert truth[int(hash_keys(common[:1])[0])] == 3
    assert store.fold_counts() >= 5                    # four adds and a delete were pending
    folded = store.hash_counts()
    assert np.array_equal(folded, counts)
    assert store.hash_presence().contains(hash_counts.short_keys(every)).all()    # a delete clears no key
    assert store.fold_counts() == 0


def test_another_process_sees_new_songs_counted(any_config, monkeypatch):
    monkeypatch.setattr(hash_counts, "REFRESH_SECONDS", 0.0)
    config = Config.from_dict(any_config)
    reader, writer = open_storage(config), open_storage(config)
    try:
        hashes, offsets = song_rows(7)
        assert reader.hash_counts()[hash_counts.buckets(hashes)].sum() == 0
        writer.add_song(record(7), hashes, offsets)
        writer.fold_counts()
        writer.add_song(record(8), *song_rows(8))      # one folded, one still a delta
        assert reader.hash_counts().sum() == writer.stats()["fingerprints"]
        for seed in (7, 8):
            assert reader.hash_presence().contains(hash_counts.short_keys(song_rows(seed)[0])).all()
    finally:
        reader.close()
        writer.close()


def test_an_index_written_before_the_counts_is_counted_when_opened(any_config):
    config = Config.from_dict(any_config)
    store = open_storage(config)
    hashes, offsets = song_rows(3)
    store.add_song(record(3), hashes, offsets)

    def work(cur):                                     # as a database of the release before the counts looks
        for statement in ("DELETE FROM hash_counts", "DELETE FROM hash_count_deltas", "DELETE FROM hash_presence"):
            cur.execute(statement)
        for key in ("hash_counts_version", "hash_counts_format"):
            cur.execute(store._sql("DELETE FROM dejavu_meta WHERE meta_key = ?"), (key,))
    store._run("forget counts", work, write=True)
    store.close()
    store = open_storage(config)
    try:
        total = store.stats()["fingerprints"]
        assert int(store.hash_counts().sum()) == total > 0
        assert store.hash_presence().contains(hash_counts.short_keys(hashes)).all()
    finally:
        store.close()


def test_counts_of_the_first_format_are_counted_again(any_config):
    """A database whose deltas name buckets (format 1, no presence) gets its
    counts and presence from one scan when it is next opened."""
    config = Config.from_dict(any_config)
    store = open_storage(config)
    hashes, offsets = song_rows(4)
    store.add_song(record(4), hashes, offsets)

    def work(cur):
        cur.execute("DELETE FROM hash_presence")
        cur.execute("DELETE FROM hash_count_deltas")
        cur.execute(store._sql("INSERT INTO hash_count_deltas (data) VALUES (?)"), (b"\x07\x00\x00\x00\x01\x00\x00\x00",))
        cur.execute(store._sql("DELETE FROM dejavu_meta WHERE meta_key = ?"), ("hash_counts_format",))
    store._run("write a first-format delta", work, write=True)
    store.close()
    store = open_storage(config)
    try:
        assert int(store.hash_counts().sum()) == store.stats()["fingerprints"] == len(hashes)
        assert store.hash_presence().contains(hash_counts.short_keys(hashes)).all()
    finally:
        store.close()


def test_presence_parts_round_trip_and_tell_absent_keys():
    rng = np.random.default_rng(3)
    keys = rng.integers(0, 1 << 32, 300_000, dtype=np.uint64).astype(np.uint32)
    dense = np.arange(5 << 24, 6 << 24, 7, dtype=np.uint32)            # one part past the list's size: a bitmap
    stored = {}
    for part, lows in hash_counts.split_parts(np.concatenate([keys, dense])).items():
        data = hash_counts.encode_part(lows)
        assert data[:1] == (b"B" if part == 5 else b"L")
        assert hash_counts.part_keys(data[:hash_counts.PART_HEAD]) == lows.size
        assert np.array_equal(hash_counts.decode_part(data), lows)
        stored[part] = data
    for size in (1 << 29, sum(map(hash_counts.part_keys, stored.values()))):   # a bitmap as stored, and folded
        presence = hash_counts.Presence.sized(size)
        for part, data in stored.items():
            presence.set_part(part, data)
        assert presence.contains(keys).all() and presence.contains(dense).all()
        assert presence.bits == min(32, int(np.ceil(np.log2(size * hash_counts.PRESENCE_BITS_PER_KEY))))
    assert presence.bits >= np.log2(presence.keys * hash_counts.PRESENCE_BITS_PER_KEY)
    others = rng.integers(0, 1 << 32, 100_000, dtype=np.uint64).astype(np.uint32)
    others = others[~np.isin(others, keys) & ((others >> 24) != 5)]
    assert presence.contains(others).mean() < 2.0 / hash_counts.PRESENCE_BITS_PER_KEY
    presence.add(others[:10])
    assert presence.contains(others[:10]).all()


def test_a_query_skips_the_hashes_the_index_holds_none_of(sqlite_config, monkeypatch):
    """With more distinct hashes than count buckets every bucket holds some;
    the presence still skips a query's absent hashes (no seek for them)."""
    monkeypatch.setattr(hash_counts, "COUNT_BITS", 4)       # 16 buckets: every one holds rows
    engine = Dejavu(sqlite_config)
    hashes, offsets = song_rows(9, n=2000)
    engine.storage.add_song(record(9), hashes, offsets)
    assert (engine.storage.hash_counts()[:16] > 0).all()
    absent = song_rows(10, n=2000)[0]
    absent = absent[~np.isin(hash_keys(absent), hash_keys(hashes))]
    query_hashes = np.concatenate([hashes[:200], absent])
    looked_up = []
    real_lookup = engine.storage.lookup
    monkeypatch.setattr(engine.storage, "lookup", lambda h, **kw: looked_up.append(len(h)) or real_lookup(h, **kw))
    from dejavu_cn.engine import QueryReader
    reader = QueryReader(engine).read(Query(query_hashes, np.zeros(len(query_hashes), np.int64), 1, 1.0), 0)
    assert reader.rows >= 200
    assert 200 <= sum(looked_up) < 200 + 0.2 * len(absent)


def test_read_order_takes_the_rarest_of_each_second_in_turn():
    times = np.array([0, 1, 2, 100, 101, 102, 250, 260])
    counts = np.array([5, 1, 3, 2, 0, 9, 5000, 7])
    order, stops = read_order(times, counts, bucket_subframes=100, max_rows=2000)
    # rarest of each second (1, 2, 7), then the next rarest of each (3, 9), then 5; no rows: never; 5000: stop word
    assert order.tolist() == [1, 3, 7, 2, 5, 0] and stops == 1


def test_a_query_reads_no_more_rows_than_its_budget(sqlite_config, monkeypatch):
    monkeypatch.setattr(hash_counts, "REFRESH_SECONDS", 0.0)
    engine = Dejavu(sqlite_config)
    common = hash_landmarks(np.arange(20, 60), np.arange(60, 100), np.full(40, 7))   # in every song: many rows each
    rare_song = None
    for n in range(1, 31):
        hashes, offsets = song_rows(n, common=common)
        engine.storage.add_song(record(n), hashes, offsets)
        if n == 30:
            rare_song = hashes[:100]
    query_hashes = np.concatenate([rare_song, common])
    query = Query(query_hashes, np.zeros(len(query_hashes), np.int64), 1, 1.0)     # one second: rarest first
    from dejavu_cn.engine import QueryReader
    unlimited = QueryReader(engine).read(query, 0)
    assert unlimited.rows == engine.storage.lookup(np.unique(query_hashes, axis=0)).keys.size >= 100 + 40 * 30
    assert unlimited.pending == 0
    bounded = QueryReader(engine).read(query, 300)
    assert bounded.rows <= 300 and bounded.pending > 0
    # what it read first is the rare hashes: every one of the song's own 100
    assert set(hash_keys(rare_song).tolist()) <= set(bounded.lookup.keys.tolist())
    more = bounded.read(query, 700)                     # a second stage reads on, nothing twice
    assert 300 < more.rows <= 700
    keys = more.lookup.keys
    assert np.unique(np.stack([keys, more.lookup.song_ids, more.lookup.offsets]), axis=1).shape[1] == keys.size


def test_a_lookup_can_keep_to_some_songs(store):
    """The second stage reads a query's hashes for its candidate songs only: the same rows those songs have
    in a full lookup, and none of the others'."""
    common = hash_landmarks([100, 101, 102], [120, 130, 140], [5, 9, 11])
    ids = [store.add_song(record(n), *song_rows(n, common=common)) for n in range(1, 7)]
    every = np.unique(np.concatenate([song_rows(n, common=common)[0] for n in range(1, 7)]), axis=0)
    full = store.lookup(every)
    keep = [ids[1], ids[4]]
    some = store.lookup(every, songs=keep)
    assert set(some.song_ids.tolist()) == set(keep)
    want = sorted(zip(*(a[np.isin(full.song_ids, keep)].tolist() for a in (full.keys, full.song_ids, full.offsets))))
    assert sorted(zip(some.keys.tolist(), some.song_ids.tolist(), some.offsets.tolist())) == want
