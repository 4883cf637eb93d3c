"""Grow a dejavu-cn library with synthetic rows: the ~1,000 h step of
``bench/scale.py`` and the CI miniature (tests/core/test_scale_rows.py).

The model (printed by the benchmark, :data:`MODEL`): every synthetic song
copies the rows of one real song of the source library (a *template*) under
a new song id, each row at an independent offset drawn uniformly over the
template's frames. Templates are taken round-robin from the source's songs
(in a seeded order) until the target number of hours is reached, so every
stored hash's count grows by the same factor as the library, as it would in
a real library of similar music, and no synthetic song can align with a
query (its offsets carry no time structure).

How it differs from real music: no co-occurrence in time (a real song's
matching hashes cluster at one offset difference; a synthetic song's never
do, so it only ever adds chance votes, never a near-miss); no new hashes
(the key space a real 1,000 h library would use grows with new music, here
only the counts of the existing keys grow, so per-hash counts are an upper
bound for the same hours); within one synthetic song a hash repeats exactly
as often as in its template; synthetic songs have no band-energy sketch.

The rows are written in primary-key order: the hash space is cut into
ranges, and for each range the source's rows and their synthetic copies
are merged, sorted and appended (SQLite: server-side unpacking through
``json_each``; MariaDB: ``JSON_TABLE``), so building 500 M rows stays an
append, not a random insert.
"""
import hashlib
import json
import time

import numpy as np

HASH_BYTES = 10
MODEL_VERSION = 1

MODEL = (
    "synthetic rows: each synthetic song copies one real song's rows (its template; templates taken round-robin "
    "in a seeded order) under a new song_id, every row at an independent offset uniform over the template's "
    "frames; songs rows copy the template's duration, total_hashes and anchor_frames; no sketch. Every hash's "
    "count grows with the library as in real music of the same kind, and nothing aligns. Unlike real music: "
    "no time co-occurrence (a synthetic song adds only chance votes, never a near-miss alignment), no new "
    "hash keys (a real 1,000 h library would also spread over more keys, so these counts are an upper bound), "
    "no sketches (the sketch check never reads one).")

_PACK_SHIFT = 32
_PACK_MASK = (1 << _PACK_SHIFT) - 1
_UNPACK = {
    "sqlite": (f"INSERT INTO fingerprints (hash, song_id, offset) "
               f"SELECT substr(?1, key * {HASH_BYTES} + 1, {HASH_BYTES}), value >> {_PACK_SHIFT}, "
               f"value & {_PACK_MASK} FROM json_each(?2)"),
    "mysql": (f"INSERT INTO fingerprints (hash, song_id, `offset`) "
              f"SELECT SUBSTRING(%s, (j.i - 1) * {HASH_BYTES} + 1, {HASH_BYTES}), j.v >> {_PACK_SHIFT}, "
              f"j.v & {_PACK_MASK} "
              f"FROM JSON_TABLE(%s, '$[*]' COLUMNS (i FOR ORDINALITY, v BIGINT PATH '$')) AS j"),
}
INSERT_BATCH = 200_000          # rows per unpacking statement (about 5 MB)
SONG_COLUMNS = ("song_id", "song_name", "source_path", "file_sha1", "file_size", "file_mtime_ns",
                "duration_seconds", "total_hashes", "anchor_frames")


def plan_synthetic(songs, target_seconds, *, seed, first_id):
    """Which template each synthetic song copies.

    Parameters
    ----------
    songs : list of dict
        The source's songs: ``song_id``, ``duration_seconds``.
    target_seconds : float
        Audio the grown library should hold in all (source included).
    seed : int
    first_id : int
        Song id of the first synthetic song (above every source id).

    Returns
    -------
    list of (new song_id, template song_id)
    """
    have = sum(s["duration_seconds"] for s in songs)
    order = np.random.default_rng([seed, 0]).permutation(len(songs))
    plan, k = [], 0
    while have < target_seconds and len(songs):
        template = songs[int(order[k % len(songs)])]
        plan.append((first_id + len(plan), int(template["song_id"])))
        have += template["duration_seconds"]
        k += 1
    return plan


def hash_ranges(chunks):
    """``chunks`` (a power of two, at most 65536) ranges covering the hash
    space in order: [(low, high or None)], each bound 10 bytes."""
    bits = int(np.log2(chunks))
    assert 1 << bits == chunks and bits <= 16
    bounds = [(i << (16 - bits)).to_bytes(2, "big") + b"\0" * (HASH_BYTES - 2) for i in range(chunks)]
    return list(zip(bounds, bounds[1:] + [None]))


def synthesise_chunk(hashes, song_ids, offsets, copies, frames, rng):
    """Synthetic rows of one hash range, merged with the real ones and sorted.

    Parameters
    ----------
    hashes : np.ndarray, shape (n, 10), uint8
    song_ids, offsets : np.ndarray, shape (n,), int64
        The source's rows in the range.
    copies : dict
        ``starts`` (per source song id: first index into ``ids``), ``counts``
        (per source song id: synthetic copies) and ``ids`` (synthetic song
        ids grouped by template).
    frames : np.ndarray
        Per source song id: frames its offsets are drawn from.
    rng : np.random.Generator

    Returns
    -------
    (hashes, song_ids, offsets)
        Real and synthetic rows in key order, without duplicates.
    """
    n_copy = copies["counts"][song_ids]
    rep = np.repeat(np.arange(song_ids.size), n_copy)
    within = np.arange(rep.size) - np.repeat(np.cumsum(n_copy) - n_copy, n_copy)
    new_ids = copies["ids"][copies["starts"][song_ids[rep]] + within]
    new_offsets = (rng.random(rep.size) * frames[song_ids[rep]]).astype(np.int64)
    # rows of one hash stay together: number the distinct hashes (the source's rows come in key order)
    # and sort one int64 per row, group << (song and offset bits) | song_id << offset bits | offset
    change = np.ones(song_ids.size, bool)
    change[1:] = np.any(hashes[1:] != hashes[:-1], axis=1)
    group = np.cumsum(change) - 1
    distinct = hashes[change]
    all_groups = np.concatenate([group, group[rep]])
    all_ids = np.concatenate([song_ids, new_ids])
    all_offsets = np.concatenate([offsets, new_offsets])
    if not all_ids.size:
        return hashes, song_ids, offsets
    obits = max(1, int(all_offsets.max()).bit_length())
    sbits = max(1, int(all_ids.max()).bit_length())
    if int(all_groups.max()).bit_length() + sbits + obits <= 63:
        key = np.sort((all_groups << (sbits + obits)) | (all_ids << obits) | all_offsets)
        key = key[np.concatenate([[True], key[1:] != key[:-1]])]
        g = key >> (sbits + obits)
        return distinct[g], (key >> obits) & ((1 << sbits) - 1), key & ((1 << obits) - 1)
    order = np.lexsort((all_offsets, all_ids, all_groups))
    all_groups, all_ids, all_offsets = all_groups[order], all_ids[order], all_offsets[order]
    keep = np.ones(order.size, bool)
    keep[1:] = (all_groups[1:] != all_groups[:-1]) | (all_ids[1:] != all_ids[:-1]) | \
               (all_offsets[1:] != all_offsets[:-1])
    return distinct[all_groups[keep]], all_ids[keep], all_offsets[keep]


class _Rows:
    """A DB-API connection to the new library, reading the source's rows
    from ``src`` (a schema name on the same connection: an attached SQLite
    file or a MariaDB database)."""

    def __init__(self, conn, dialect, src):
        self.conn, self.dialect, self.src = conn, dialect, src
        self.mark = "?" if dialect == "sqlite" else "%s"
        self.off = "offset" if dialect == "sqlite" else "`offset`"
        self.q = (lambda name: f'"{name}"') if dialect == "sqlite" else (lambda name: f"`{name}`")

    def execute(self, sql, args=()):
        cur = self.conn.cursor()
        cur.execute(sql, args)
        return cur

    def columns(self, schema, table):
        if self.dialect == "sqlite":
            return [r[1] for r in self.execute(f"PRAGMA {self.q(schema)}.table_info({table})").fetchall()]
        cur = self.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                           "AND table_name = %s ORDER BY ordinal_position", (schema, table))
        return [r[0] for r in cur.fetchall()]

    def read_range(self, low, high):
        where = f"hash >= {self.mark}" + (f" AND hash < {self.mark}" if high is not None else "")
        args = (low,) if high is None else (low, high)
        rows = self.execute(f"SELECT hash, song_id, {self.off} FROM {self.q(self.src)}.fingerprints WHERE {where} "
                            f"ORDER BY hash, song_id, {self.off}", args).fetchall()
        if not rows:
            return np.zeros((0, HASH_BYTES), np.uint8), np.zeros(0, np.int64), np.zeros(0, np.int64)
        h, s, o = zip(*rows)
        hashes = np.frombuffer(b"".join(bytes(x) for x in h), np.uint8).reshape(-1, HASH_BYTES)
        return hashes, np.array(s, np.int64), np.array(o, np.int64)

    def insert(self, hashes, song_ids, offsets):
        packed = (song_ids << _PACK_SHIFT) | offsets
        for a in range(0, packed.size, INSERT_BATCH):
            b = a + INSERT_BATCH
            self.execute(_UNPACK[self.dialect], (np.ascontiguousarray(hashes[a:b]).tobytes(),
                                                 "[" + ",".join(map(str, packed[a:b].tolist())) + "]"))


def grow(conn, dialect, src, *, target_seconds, frame_seconds, seed, chunks=256, progress=None):
    """Fill an empty library (schema made by the store, ``conn`` open on it)
    with the songs, sketches and rows of the library ``src`` plus synthetic
    songs up to ``target_seconds`` of audio in all. See the module docstring.

    Parameters
    ----------
    conn : DB-API connection
        On the new library; committed here.
    dialect : "sqlite" or "mysql"
    src : str
        The source library as a schema name on ``conn`` (SQLite: ``ATTACH``
        it first; MariaDB: its database name).
    target_seconds : float
    frame_seconds : float
        Seconds per frame of the fingerprint parameters (offsets are frames).
    seed : int
    chunks : int
        Hash ranges (a power of two); memory is about 40 bytes per row of a range.
    progress : callable(str), optional

    Returns
    -------
    dict
        ``songs``, ``synthetic_songs``, ``rows``, ``seconds`` (audio),
        ``build_seconds``.
    """
    say = progress or (lambda msg: None)
    t0 = time.monotonic()
    rows = _Rows(conn, dialect, src)
    q = rows.q
    for table in ("songs", "sketches"):
        cols = [c for c in rows.columns(src, table) if c in set(rows.columns(_here(conn, dialect), table))]
        names = ", ".join(q(c) for c in cols)
        rows.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {q(src)}.{table}")
    cur = rows.execute(f"SELECT song_id, duration_seconds, total_hashes, anchor_frames FROM {q(src)}.songs "
                       "ORDER BY song_id")
    songs = [dict(zip(("song_id", "duration_seconds", "total_hashes", "anchor_frames"), r)) for r in cur.fetchall()]
    by_id = {s["song_id"]: s for s in songs}
    max_id = max(by_id) if by_id else 0
    plan = plan_synthetic(songs, target_seconds, seed=seed, first_id=max_id + 1)
    marks = ", ".join([rows.mark] * len(SONG_COLUMNS))
    insert_song = f"INSERT INTO songs ({', '.join(SONG_COLUMNS)}) VALUES ({marks})"
    values = []
    for new_id, template in plan:
        t = by_id[template]
        name = f"synthetic {new_id} (rows of song {template})"
        values.append((new_id, name, f"synthetic://{new_id}", hashlib.sha1(name.encode()).digest(), 0, 0,
                       float(t["duration_seconds"]), int(t["total_hashes"]), int(t["anchor_frames"])))
    cur = conn.cursor()
    for a in range(0, len(values), 5000):
        cur.executemany(insert_song, values[a:a + 5000])
    conn.commit()
    seconds = sum(s["duration_seconds"] for s in songs) + sum(by_id[t]["duration_seconds"] for _, t in plan)
    say(f"{len(songs)} songs copied, {len(plan)} synthetic songs planned ({seconds / 3600:.1f} h in all)")

    size = max_id + 1
    counts = np.zeros(size, np.int64)
    frames = np.ones(size, np.float64)
    for s in songs:
        frames[s["song_id"]] = max(1.0, s["duration_seconds"] / frame_seconds)
    by_template = sorted(plan, key=lambda p: (p[1], p[0]))
    ids = np.array([p[0] for p in by_template], np.int64)
    for _, template in plan:
        counts[template] += 1
    starts = np.cumsum(counts) - counts
    copies = {"counts": counts, "starts": starts, "ids": ids}
    total = 0
    for k, (low, high) in enumerate(hash_ranges(chunks)):
        h, s, o = rows.read_range(low, high)
        h, s, o = synthesise_chunk(h, s, o, copies, frames, np.random.default_rng([seed, 1, k]))
        rows.insert(h, s, o)
        conn.commit()
        total += s.size
        if progress and (k + 1) % max(1, chunks // 16) == 0:
            elapsed = time.monotonic() - t0
            say(f"  {k + 1}/{chunks} hash ranges, {total / 1e6:.1f} M rows, {elapsed:.0f} s "
                f"({total / max(elapsed, 1e-9) / 1e3:.0f} k rows/s)")
    _forget_counts(conn)
    return {"songs": len(songs) + len(plan), "synthetic_songs": len(plan), "rows": int(total), "seconds": seconds,
            "build_seconds": time.monotonic() - t0, "model_version": MODEL_VERSION}


def _forget_counts(conn):
    """The rows went in behind the store's back: drop its hash counts
    (dejavu_cn/storage/counts.py), so that it counts the index when it next
    opens it, as it does a library written before the counts existed."""
    cur = conn.cursor()
    for statement in ("DELETE FROM hash_counts", "DELETE FROM hash_count_deltas",
                      "DELETE FROM dejavu_meta WHERE meta_key = 'hash_counts_version'"):
        try:
            cur.execute(statement)
        except Exception:               # a library of a release without the counts: nothing to forget
            conn.rollback()
    conn.commit()


def _here(conn, dialect):
    if dialect == "sqlite":
        return "main"
    cur = conn.cursor()
    cur.execute("SELECT DATABASE()")
    return cur.fetchone()[0]


def grow_sqlite(src_path, dst_path, *, target_seconds, frame_seconds, seed, chunks=256, progress=None):
    """:func:`grow` for SQLite files: ``dst_path`` must hold an empty
    library (the store's schema, no songs); no other connection may be open
    on it. Journal off while building (a failed build is thrown away), WAL
    again at the end, as the store opens it."""
    import sqlite3
    conn = sqlite3.connect(dst_path)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-1048576")
        conn.execute("ATTACH DATABASE ? AS src", (src_path,))
        out = grow(conn, "sqlite", "src", target_seconds=target_seconds, frame_seconds=frame_seconds, seed=seed,
                   chunks=chunks, progress=progress)
        conn.commit()
        conn.execute("DETACH DATABASE src")
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
    return out


def grow_mysql(settings, src_db, *, target_seconds, frame_seconds, seed, chunks=256, progress=None):
    """:func:`grow` for MariaDB: ``settings`` (PyMySQL keyword arguments,
    ``database`` the new, empty library) and ``src_db`` on the same server."""
    import pymysql
    conn = pymysql.connect(**settings, autocommit=False, max_allowed_packet=64 * 1024 * 1024,
                           read_timeout=3600, write_timeout=3600)
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION unique_checks = 0")
        return grow(conn, "mysql", src_db, target_seconds=target_seconds, frame_seconds=frame_seconds, seed=seed,
                    chunks=chunks, progress=progress)
    finally:
        conn.close()


def describe(out):
    return json.dumps(out, sort_keys=True)
