"""Grow a dejavu-cn library with synthetic rows: the ~1,000 h step of
``bench/scale.py`` and the CI miniature (tests/core/test_scale_rows.py).

The model (printed by the benchmark, :func:`model`): every synthetic song
copies the rows of one real song of the source library (a *template*) under
a new song id, each row at an independent offset drawn uniformly over the
template's frames. Templates are taken round-robin from the source's songs
(in a seeded order) until the target number of hours is reached. A share of
the copied rows (``new_key_share``) gets a new, random hash instead of its
template's: a real library spreads over more distinct hashes as it grows
(distinct hashes grow about as a power of the rows, Heaps' law: as the
square root for peak pairs, nearly linearly for peak triplets), and
:func:`heaps_new_key_share` sets the share so that the grown library has
the distinct hashes that the power measured between two real libraries (1x
and 10x) predicts. The other copies keep their template's hash, so those
hashes' counts grow with the library. No synthetic song can align with a
query (its offsets carry no time structure).

How it differs from real music: no co-occurrence in time (a real song's
matching hashes cluster at one offset difference; a synthetic song's never
do, so it only ever adds chance votes, never a near-miss); the counts of
the kept hashes grow in proportion, not as a real library's long tail does;
within one synthetic song a hash repeats exactly as often as in its
template; synthetic songs have no band-energy sketch.

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

from dejavu_cn.storage import counts as hash_counts
from dejavu_cn.storage.base import COUNTS_FORMAT, COUNTS_FORMAT_KEY, COUNTS_META_KEY, LEVEL_TABLES, index_rows_sql

HASH_BYTES = 10
MODEL_VERSION = 2


def model(new_key_share=0.0):
    """The model in one paragraph, for the benchmark's output."""
    keys = ("no new hash keys (a real 1,000 h library would also spread over more keys, so these counts are an "
            "upper bound)" if not new_key_share else
            f"{new_key_share:.1%} of the copied rows get a new random hash (the distinct hashes Heaps' law, fitted "
            "on the 1x and 10x libraries, predicts at this size), the rest keep their template's, whose counts "
            "grow with the library")
    return ("synthetic rows: each synthetic song copies one real song's rows (its template; templates taken "
            "round-robin in a seeded order) under a new song_id, every row at an independent offset uniform over "
            f"the template's frames; {keys}; songs rows copy the template's duration, total_hashes and "
            "anchor_frames; no sketch. Nothing aligns. Unlike real music: no time co-occurrence (a synthetic song "
            "adds only chance votes, never a near-miss alignment), counts grow in proportion rather than as a "
            "real long tail, no sketches (the sketch check never reads one).")


MODEL = model()


def heaps_new_key_share(small, large, target_rows):
    """The share of synthetic rows that must carry new hashes for a library
    of ``target_rows`` to hold the distinct hashes Heaps' law predicts.

    Parameters
    ----------
    small, large : (rows, distinct hashes)
        Two real libraries of the same music (the 1x and 10x).
    target_rows : int
        Rows of the grown library (``large`` plus the synthetic rows).

    Returns
    -------
    (share, exponent)
        ``share`` in [0, 1]: new distinct hashes over synthetic rows, where
        distinct = c * rows ** exponent through both libraries.
    """
    (r1, d1), (r2, d2) = small, large
    beta = float(np.log(d2 / d1) / np.log(r2 / r1)) if r2 > r1 and d2 > 0 and d1 > 0 else 1.0
    beta = min(1.0, max(0.0, beta))
    synthetic = target_rows - r2
    if synthetic <= 0:
        return 0.0, beta
    new = d2 * ((target_rows / r2) ** beta - 1.0)
    return min(1.0, max(0.0, new / synthetic)), beta

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


def synthesise_chunk(hashes, song_ids, offsets, copies, frames, rng, *, new_key_share=0.0, key_range=(0, 1 << 16)):
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
    new_key_share : float
        Share of the synthetic rows given a new random hash.
    key_range : (int, int)
        The range's first two hash bytes, as integers [low, high): where
        the new hashes fall.

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
    fresh = rng.random(rep.size) < new_key_share if new_key_share > 0 else np.zeros(rep.size, bool)
    kept = _sorted_copies(hashes, song_ids, offsets, rep[~fresh], new_ids[~fresh], new_offsets[~fresh])
    if not fresh.any():
        return kept
    return _merge(kept, _random_rows(new_ids[fresh], new_offsets[fresh], key_range, rng))


def _random_rows(song_ids, offsets, key_range, rng):
    """Rows with new random hashes whose first two bytes fall in ``key_range``."""
    n = song_ids.size
    hashes = rng.integers(0, 256, size=(n, HASH_BYTES), dtype=np.uint8)
    prefix = rng.integers(key_range[0], key_range[1], size=n).astype(">u2")
    hashes[:, :2] = prefix.view(np.uint8).reshape(n, 2)
    return hashes, song_ids, offsets


def _merge(a, b):
    """Two sets of rows as one, in key order (hash bytes, song, offset)."""
    hashes = np.concatenate([a[0], b[0]])
    ids = np.concatenate([a[1], b[1]])
    offsets = np.concatenate([a[2], b[2]])
    high = np.ascontiguousarray(hashes[:, :8]).view(">u8").ravel()
    low = np.ascontiguousarray(hashes[:, 8:]).view(">u2").ravel()
    order = np.lexsort((offsets, ids, low, high))
    return hashes[order], ids[order], offsets[order]


def _sorted_copies(hashes, song_ids, offsets, rep, new_ids, new_offsets):
    """The source's rows and the synthetic copies of rows ``rep`` (same
    hash), in key order, without duplicates."""
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
        columns = f"hash, song_id, {self.off}"
        levels = index_rows_sql(columns, schema=self.q(self.src), where=where)
        rows = self.execute(f"SELECT {columns} FROM ({levels}) AS r ORDER BY {columns}",
                            args * len(LEVEL_TABLES)).fetchall()
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


def grow(conn, dialect, src, *, target_seconds, frame_seconds, seed, chunks=256, new_key_share=0.0, progress=None):
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
    new_key_share : float
        Share of the synthetic rows given a new random hash
        (:func:`heaps_new_key_share`).
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
    summary = _Summary(rows)
    for k, (low, high) in enumerate(hash_ranges(chunks)):
        h, s, o = rows.read_range(low, high)
        key_range = (int.from_bytes(low[:2], "big"), 1 << 16 if high is None else int.from_bytes(high[:2], "big"))
        h, s, o = synthesise_chunk(h, s, o, copies, frames, np.random.default_rng([seed, 1, k]),
                                   new_key_share=new_key_share, key_range=key_range)
        rows.insert(h, s, o)
        summary.add(h)
        conn.commit()
        total += s.size
        if progress and (k + 1) % max(1, chunks // 16) == 0:
            elapsed = time.monotonic() - t0
            say(f"  {k + 1}/{chunks} hash ranges, {total / 1e6:.1f} M rows, {elapsed:.0f} s "
                f"({total / max(elapsed, 1e-9) / 1e3:.0f} k rows/s)")
    summary.write()
    return {"songs": len(songs) + len(plan), "synthetic_songs": len(plan), "rows": int(total), "seconds": seconds,
            "build_seconds": time.monotonic() - t0, "model_version": MODEL_VERSION, "new_key_share": new_key_share}


class _Summary:
    """The rows went in behind the store's back: their hash counts and
    presence (dejavu_cn/storage/counts.py) are made here, as the rows go
    by in key order, rather than by the store's scan of the whole index
    when it next opens it (350 M distinct hashes at 1,000 h: about an hour)."""

    def __init__(self, rows):
        self.rows = rows
        self.counts = hash_counts.empty_counts()
        self.parts = hash_counts.SortedParts(lambda part, data: self._put("hash_presence", part, data))
        for table in ("hash_counts", "hash_count_deltas", "hash_presence"):
            rows.execute(f"DELETE FROM {table}")

    def add(self, hashes):
        if len(hashes):
            np.add.at(self.counts, hash_counts.buckets(hashes), 1)
            self.parts.add(hash_counts.short_keys(hashes))

    def _put(self, table, chunk, data):
        mark = self.rows.mark
        self.rows.execute(f"REPLACE INTO {table} (chunk, data) VALUES ({mark}, {mark})", (chunk, data))

    def write(self):
        self.parts.close()
        for chunk in hash_counts.chunks():
            data = hash_counts.chunk_of(self.counts, chunk)
            if data is not None:
                self._put("hash_counts", chunk, data)
        mark = self.rows.mark
        for key, value in ((COUNTS_META_KEY, "1"), (COUNTS_FORMAT_KEY, COUNTS_FORMAT)):
            self.rows.execute(f"REPLACE INTO dejavu_meta (meta_key, meta_value) VALUES ({mark}, {mark})", (key, value))
        self.rows.conn.commit()


def _here(conn, dialect):
    if dialect == "sqlite":
        return "main"
    cur = conn.cursor()
    cur.execute("SELECT DATABASE()")
    return cur.fetchone()[0]


def grow_sqlite(src_path, dst_path, *, progress=None, **kw):
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
        out = grow(conn, "sqlite", "src", progress=progress, **kw)
        conn.commit()
        conn.execute("DETACH DATABASE src")
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
    return out


def grow_mysql(settings, src_db, *, progress=None, **kw):
    """:func:`grow` for MariaDB: ``settings`` (a library's database settings:
    ``host``, ``port``, ``user``, ``password`` and ``database``, the new,
    empty library; others are not PyMySQL's and are left out) and
    ``src_db`` on the same server."""
    import pymysql
    server = {k: settings[k] for k in ("host", "port", "user", "password", "database") if k in settings}
    conn = pymysql.connect(**server, autocommit=False, max_allowed_packet=64 * 1024 * 1024,
                           read_timeout=3600, write_timeout=3600)
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION unique_checks = 0")
        return grow(conn, "mysql", src_db, progress=progress, **kw)
    finally:
        conn.close()


def describe(out):
    return json.dumps(out, sort_keys=True)
