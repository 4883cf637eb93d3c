"""The storage interface: one contract, two implementations (SQLite, MySQL).

A store holds songs and their fingerprints, and the fingerprint parameters
the database was built with. Implementations supply a DB-API connection and a
few SQL strings; the logic (transactions, parameter check, result shaping)
lives here once. Values are always bound parameters.

The contract
------------
What every store guarantees, and what a new backend (a sharded or
replicated cluster, say) must keep:

* **A song is atomic.** A song's row, all its fingerprints, its sketch and
  its hash-count delta are written in one transaction (:meth:`Storage.add_songs`
  writes a batch of songs in one): a reader sees all of a song or none of
  it, and a crash or an error in the middle leaves nothing behind. Deleting
  (:meth:`Storage.delete_songs`) and replacing a changed file
  (:meth:`Storage.forget_path`) are atomic the same way.
* **Writes are idempotent.** A song is known by its file's SHA-1
  (``songs.file_sha1`` is unique): adding the same bytes again changes
  nothing and reports a :class:`~dejavu_cn.errors.DuplicateSongError`
  (so an interrupted registration that is run again, or a write retried
  after its connection died, never stores a song twice). Song ids are
  never reused, and a song's row never changes once written, but for its
  copy link (below).
* **Copies are atomic too.** A song may be a copy of another (``copy_of``,
  ``copy_offset_seconds``: where it starts in its original) and then has
  no fingerprints and no sketch; an original is never itself a copy. A
  copy's row is added only while its original is one (else the song is
  stored with its fingerprints, :attr:`SongRecord.copy_of` cleared);
  turning an original into a copy of a new song (:attr:`SongRecord.demotes`)
  and promoting a copy to original (:meth:`Storage.promote_copy`) move the
  fingerprints and every link in one transaction. A song with copies is
  deleted only with them (:meth:`Storage.delete_songs`).
* **Older databases** get the columns the schema files add since
  (``ALTER TABLE ... ADD COLUMN``, run only where the column is missing,
  by one process at a time) when :meth:`Storage.setup` opens them.
* **What a reader may see mid-write:** the songs committed before its
  statement began (each reader statement sees one committed state; a
  lookup's statements on one connection share one snapshot, and a lookup
  split over several connections may see a song committed meanwhile in
  some of its parts only). The hash counts
  (:meth:`Storage.hash_counts`) may lag the index by up to
  ``counts.REFRESH_SECONDS``, and are never below the true row counts of
  the songs they include: a count only decides the order and budget of a
  read, never whether a row exists.
* **The index is kept in levels** (``INDEX_TABLE``, ``PENDING_TABLE``,
  ``RECENT_TABLE``; not on a Spider or Galera index, written directly): a
  row is in exactly one; registrations write the recent level, and
  :meth:`Storage.merge_levels` moves a level down whole, in key order, in
  one transaction that excludes the writers of the levels; every reader
  (lookups, statistics, deletes) reads all three.
* **Parameters are checked.** :meth:`Storage.setup` creates the schema if
  needed (idempotent) and refuses a database built with other fingerprint
  parameters (:class:`~dejavu_cn.errors.ParameterMismatchError`).
* **Errors are StorageError.** Every driver error becomes a
  :class:`~dejavu_cn.errors.StorageError` with one actionable line (server
  away, access denied, database missing...); a store never prints.
* **Threads.** A store is one connection: use it from one thread at a
  time (:class:`~dejavu_cn.engine.Dejavu` gives each thread its own). Its
  parallel lookups open extra connections of their own.
"""
import hashlib
import json
import logging
import os
import re
import sys
import threading
import time
import warnings
from abc import ABC, abstractmethod
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import PENDING_SHARE_DEFAULT, RECENT_ROWS_DEFAULT
from ..errors import DuplicateSongError, ParameterMismatchError, StorageError
from ..columns import Lookup
from ..hashing import HASH_BYTES, bytes_to_hashes, distinct, hash_keys, hashes_to_bytes, unique_rows
from . import counts as hash_counts

log = logging.getLogger(__name__)

SCHEMA_VERSION = "2"                # 2: sketches
SONG_SHIFT = 32                     # inserts carry (song_id, offset) packed in one int64
OFFSET_MASK = (1 << SONG_SHIFT) - 1
# a packed lookup returns each row as one int64: index of its hash in the
# batch << 48 | song_id << 24 | offset (song ids and offsets below 2^24, as
# MySQL's MEDIUMINT columns hold; anything larger is read row by row)
LOOKUP_SONG_SHIFT = 24
LOOKUP_INDEX_SHIFT = 48
LOOKUP_MASK = (1 << LOOKUP_SONG_SHIFT) - 1
SONG_CACHE_SECONDS = 60.0           # a store reuses a song row it read this recently (songs_by_id)
SONG_CACHE_MAX = 100_000            # ...and forgets them all past this many
COUNTS_META_KEY = "hash_counts_version"   # bumped by every fold of the count deltas (storage/counts.py)
COUNTS_FORMAT_KEY = "hash_counts_format"  # 2: deltas name keys, and the presence is kept (storage/counts.py)
COUNTS_FORMAT = "2"
PENDING_META_KEY = "pending_rows"         # rows in PENDING_TABLE (counting them would read it all)
DELTA_ROW_BYTES = 4 << 20                 # a count delta of more (a large delete) is stored in several rows
COUNTS_SCAN_HASHES = 200_000        # hashes per statement when counting an index written before the counts
# The index's levels (sql/*.sql): a registration writes its rows to RECENT_TABLE;
# once that holds ``recent_rows`` they move, in key order, to PENDING_TABLE, and
# once that holds ``pending_share`` of INDEX_TABLE, into it. Random keys written
# straight into a large B-tree each rewrite one of its pages (into a 61 h SQLite
# library 0.9 h registered at 0.22 of its rate into an empty one); a move in key
# order rewrites each page once, and only every ``pending_share`` of the index.
INDEX_TABLE, PENDING_TABLE, RECENT_TABLE = "fingerprints", "fingerprints_pending", "fingerprints_recent"
LEVEL_TABLES = (INDEX_TABLE, PENDING_TABLE, RECENT_TABLE)


def index_rows_sql(columns, *, schema="", where=""):
    """A SELECT of ``columns`` (SQL text) of every row of the index,
    whichever level holds it (each part filtered by ``where``; ``schema``:
    a quoted schema name, for another database on the connection)."""
    prefix = f"{schema}." if schema else ""
    condition = f" WHERE {where}" if where else ""
    return " UNION ALL ".join(f"SELECT {columns} FROM {prefix}{table}{condition}" for table in LEVEL_TABLES)


class _SharedCounts:
    """A process's copy of one database's hash counts (see :meth:`Storage.hash_counts`)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = None
        self.presence = None
        self.version = None
        self.last_delta = 0
        self.songs = 0
        self.checked = float("-inf")


_shared_counts = OrderedDict()      # database identity: _SharedCounts, most recently used last
_shared_counts_lock = threading.Lock()
SHARED_COUNTS_MAX = 4               # databases whose counts a process keeps (32 MiB each, and the presence)


def schema_file(name):
    """Path of ``sql/<name>`` (source tree, or installed under share/)."""
    candidates = [Path(__file__).resolve().parents[2] / "sql" / name,
                  Path(sys.prefix) / "share" / "dejavu-cn" / "sql" / name]
    for path in candidates:
        if path.is_file():
            return path
    raise StorageError(f"schema file sql/{name} not found (looked in {', '.join(map(str, candidates))})")


_ADD_COLUMN = re.compile(r"\s*ALTER\s+TABLE\s+(\w+)\s+ADD\s+COLUMN\s+(\w+)", re.IGNORECASE)


class _NeedsMigration(StorageError):
    """The schema file adds a column the database lacks (see :meth:`Storage.setup`)."""


def split_statements(text):
    """SQL statements of a schema file (comments dropped, split at ';' ending a line)."""
    lines = [line for line in text.splitlines() if not line.strip().startswith("--")]
    statements, current = [], []
    for line in lines:
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current).strip().rstrip(";"))
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return [s for s in statements if s]


@dataclass
class SongRecord:
    """What is stored about a registered file."""

    song_name: str
    source_path: str
    file_sha1: bytes
    file_size: int
    file_mtime_ns: int
    duration_seconds: float
    sketch: bytes = b""              # the song's band-energy sketch (dejavu_cn.sketch.to_bytes), if any
    copy_of: int = None              # a copy: its original's song_id (its fingerprints are then not stored)...
    copy_offset_seconds: float = None    # ...and where it starts in the original (s)
    demotes: tuple = ()              # an original: (song_id, offset s) of registered songs it covers, which
                                     # become its copies (starting at that offset in it)


SONG_COLUMNS = ("song_id", "song_name", "source_path", "file_sha1", "file_size",
                "duration_seconds", "total_hashes", "anchor_frames", "date_created",
                "copy_of", "copy_offset_seconds")


def _song_dict(row):
    song = dict(zip(SONG_COLUMNS, row))
    song["file_sha1"] = bytes(song["file_sha1"]).hex()
    song["date_created"] = str(song["date_created"])
    song["duration_seconds"] = float(song["duration_seconds"])
    song["copy_of"] = None if song["copy_of"] is None else int(song["copy_of"])
    if song["copy_offset_seconds"] is not None:
        song["copy_offset_seconds"] = round(float(song["copy_offset_seconds"]), 3)
    return song


class HasCopiesError(StorageError):
    """Songs to delete have copies that are not deleted with them
    (``copies``: {original id: [copy ids]})."""

    def __init__(self, copies, message=None):
        self.copies = copies
        listed = "; ".join(f"song {o}: {', '.join(map(str, c))}" for o, c in sorted(copies.items()))
        super().__init__(message or f"songs to delete have copies linked to them ({listed}): delete them too "
                         "(--with-copies), or promote a copy to original first")


class Storage(ABC):
    """Base class of the stores. Use as a context manager or call close()."""

    #: SQL placeholder of the driver ("?" or "%s")
    placeholder = "?"
    #: insert a song row unless one with its file_sha1 exists (then no row changes:
    #: rowcount 0); written with "?" placeholders
    insert_song_sql = ("INSERT INTO songs (song_name, source_path, file_sha1, file_size, file_mtime_ns, "
                       "duration_seconds, total_hashes, anchor_frames, copy_of, copy_offset_seconds) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (file_sha1) DO NOTHING")
    #: appended to a read that must hold its rows until the transaction ends
    lock_rows_sql = ""
    #: how the offset column is written in SQL
    offset_column = "offset"
    #: largest number of values bound in one lookup statement
    lookup_batch = 5000
    #: rows per INSERT statement when adding fingerprints
    insert_batch = 20000
    #: ``INSERT INTO {table} ... SELECT`` unpacking rows from (hash blob, JSON
    #: array of packed integers), or None; see :meth:`_insert_fingerprints`
    unpack_insert_sql = None
    #: a statement that runs only where ``unpack_insert_sql`` can
    unpack_probe_sql = None
    #: rows per unpacking statement (about 5 MB)
    unpack_batch = 200_000
    #: ``SELECT count, text`` of the rows of ``{table}`` whose hash is in a blob of hashes,
    #: bound as (JSON array with one element per hash, blob): ``text`` holds
    #: one packed integer per row (``LOOKUP_*``), or a negative number for a
    #: row whose values do not fit the packing; or None. Runs where
    #: ``unpack_insert_sql`` does (the same JSON support); see :meth:`lookup`
    packed_lookup_sql = None
    #: what restricts ``packed_lookup_sql`` to some songs, bound as a JSON array of song ids after its values
    packed_lookup_songs_sql = None
    #: connections a large lookup is spread over, each on its own thread (the
    #: database does the work, without Python's GIL): two halve the wait of a
    #: typical query on SQLite and on MariaDB
    lookup_connections = 2 if (os.cpu_count() or 1) > 1 else 1
    #: hashes below which a lookup stays on one connection
    parallel_lookup_min = 256
    #: whether statements bind numbered values (?1), which several parts of one statement can share
    numbered_parameters = False

    def __init__(self, *, recent_rows=RECENT_ROWS_DEFAULT, pending_share=PENDING_SHARE_DEFAULT):
        self.recent_rows = int(recent_rows)
        self.pending_share = float(pending_share)
        self._recent_written = 0      # rows this store wrote to RECENT_TABLE since it last looked at its size
        self._conn = None
        self._server_unpacks = None
        self._readers = None          # (thread pool, [(lock, store)]) for parallel lookups
        self._song_cache = {}         # song_id: (time read, song dict); see songs_by_id
        self._delta_bytes = 0         # count deltas this store wrote since it last folded them
        self.followed_parameters = {}  # see setup()

    def _reader_copy(self):
        """Another store on the same database (a connection of its own), or
        None if there can be no second connection."""
        return None

    # -- to implement -------------------------------------------------------
    @abstractmethod
    def _connect(self):
        """Open and return a DB-API connection."""

    @abstractmethod
    def _schema_name(self):
        """File name under sql/."""

    @abstractmethod
    def _translate(self, exc, action):
        """Turn a driver exception into a StorageError (or return None)."""

    @abstractmethod
    def _bytes_used(self, cursor):
        """Bytes the database uses on disk (data and indexes)."""

    def _insert_ignore_meta_sql(self):
        return "INSERT OR IGNORE INTO dejavu_meta (meta_key, meta_value) VALUES (?, ?)"

    #: writes one base chunk of the hash counts or one part of the presence
    #: (``{table}``: hash_counts or hash_presence), bound as (chunk, data)
    upsert_count_chunk_sql = "INSERT OR REPLACE INTO {table} (chunk, data) VALUES (?, ?)"

    def counts_key(self):
        """What names this database among those whose counts a process
        keeps: its description (a store on several hosts names them all)."""
        return self.description

    def _counts_state(self):
        """This database's :class:`_SharedCounts`: one per database and
        process (the stores of a process on one database share their counts)."""
        key = self.counts_key()
        with _shared_counts_lock:
            state = _shared_counts.pop(key, None) or _SharedCounts()
            _shared_counts[key] = state
            while len(_shared_counts) > SHARED_COUNTS_MAX:
                _shared_counts.popitem(last=False)
            return state

    @property
    def description(self):
        """Where the data lives, for messages (never includes a password)."""
        return type(self).__name__

    # -- connection and transactions ---------------------------------------------
    @property
    def conn(self):
        if self._conn is None:
            try:
                self._conn = self._connect()
            except Exception as exc:  # driver errors become StorageError with advice
                raise self._wrap(exc, "connect") from None
        return self._conn

    def _wrap(self, exc, action):
        if isinstance(exc, StorageError):
            return exc
        translated = self._translate(exc, action)
        err = translated or StorageError(f"{self.description}: {action} failed: {exc}")
        err.row_error = isinstance(exc, UnicodeError) or self._is_row_error(exc)
        return err

    def _is_row_error(self, exc):
        """True if ``exc`` is about the values written (too long, not
        encodable, a constraint), not about the database: retrying the
        other rows alone can succeed."""
        return False

    def _begin_write(self, cursor):
        """Start a write transaction (where the store needs it said)."""

    def close(self):
        self.close_readers()
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # closing a dead connection must not hide the real error
                log.debug("error while closing %s", self.description, exc_info=True)
            self._conn = None

    def close_readers(self):
        """Close the extra lookup connections and their threads (they open
        again when needed); call before forking."""
        if self._readers is not None:
            pool, readers = self._readers
            self._readers = None
            pool.shutdown(wait=True)
            for _, reader in readers:
                reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _run(self, action, work, *, write=False):
        """Run ``work(cursor)`` in a transaction: commit on success, roll back
        on any exception (a half-written song is never left behind)."""
        conn = self.conn
        try:
            cursor = conn.cursor()
            try:
                if write:
                    self._begin_write(cursor)
                result = work(cursor)
            finally:
                cursor.close()
            conn.commit()
            return result
        except BaseException as exc:
            try:
                conn.rollback()
            except Exception:
                log.debug("rollback failed", exc_info=True)
            if isinstance(exc, Exception) and not isinstance(exc, (StorageError, KeyboardInterrupt)):
                raise self._wrap(exc, action) from exc
            raise

    # -- schema and parameters --------------------------------------------------------------
    def setup(self, parameters, *, implied=None, followed=()):
        """Create the schema if needed and check the fingerprint parameters.

        Parameters
        ----------
        parameters : dict
            The analysis parameters (JSON-serialisable). A new database
            records them; an existing one must have been built with the same.
        implied : dict, optional
            Values of parameters added since: a database that does not
            record one was built with this value.
        followed : sequence of str
            Parameters whose value in an existing database is used
            whatever ``parameters`` says: :attr:`followed_parameters`
            then holds the database's values of those that differ.

        Raises
        ------
        ParameterMismatchError
            The database was built with other parameters.
        """
        statements = split_statements(schema_file(self._schema_name()).read_text(encoding="utf-8"))
        wanted = json.dumps(parameters, sort_keys=True)

        def work(cur, write=False):
            for statement in statements:
                added = _ADD_COLUMN.match(statement)
                if added is None:
                    cur.execute(statement)
                elif added.group(2).lower() not in self._columns(cur, added.group(1)):
                    if not write:
                        raise _NeedsMigration()       # again, holding the write lock: one process migrates
                    self._add_column(cur, statement, *added.groups())
            for key, value in (("schema_version", SCHEMA_VERSION), ("fingerprint_parameters", wanted),
                               (PENDING_META_KEY, "0")):
                cur.execute(self._insert_ignore_meta_sql(), (key, value))
            cur.execute(self._sql("SELECT meta_key, meta_value FROM dejavu_meta"))
            return dict(cur.fetchall())

        try:
            meta = self._run("create schema", work)     # idempotent; takes no write lock where nothing is new
        except _NeedsMigration:
            meta = self._run("add columns", lambda cur: work(cur, write=True), write=True)
        if meta.get("schema_version") != SCHEMA_VERSION:
            raise StorageError(f"{self.description} has schema version {meta.get('schema_version')}, "
                               f"this dejavu-cn needs {SCHEMA_VERSION}: register the music into a new database")
        stored = {**(implied or {}), **json.loads(meta["fingerprint_parameters"])}
        given = json.loads(wanted)
        diffs = sorted(k for k in set(stored) | set(given) if stored.get(k) != given.get(k))
        self.followed_parameters = {k: stored[k] for k in diffs if k in followed and k in stored}
        diffs = [k for k in diffs if k not in self.followed_parameters]
        if diffs:
            details = ", ".join(f"{k}: database {stored.get(k)!r} vs config {parameters.get(k)!r}" for k in diffs)
            raise ParameterMismatchError(
                f"{self.description} was built with other fingerprint parameters ({details}). "
                "Use the database's parameters in the configuration, or register into a new database.")
        if meta.get(COUNTS_FORMAT_KEY) != COUNTS_FORMAT:
            self._count_existing_index()
        return self

    def _columns(self, cur, table):
        """Lower-case column names of ``table`` (a name from the schema file)."""
        cur.execute(f"SELECT * FROM {table} LIMIT 0")
        names = [d[0].lower() for d in cur.description]
        cur.fetchall()
        return names

    def _add_column(self, cur, statement, table, column):
        """Run an ``ALTER TABLE ... ADD COLUMN`` of the schema file on a
        database made before the column existed. Where DDL commits at once
        (MySQL), another process may have added it meanwhile: that is no error."""
        try:
            cur.execute(statement)
        except Exception:
            if column.lower() not in self._columns(cur, table):
                raise
        log.info("%s: added the column %s.%s (a database made by an earlier dejavu-cn)",
                 self.description, table, column)

    def _sql(self, text):
        return text.replace("?", self.placeholder).replace("{offset}", self.offset_column)

    # -- songs --------------------------------------------------------------------
    def add_song(self, record, hashes, offsets):
        """Store a song and its fingerprints in one transaction.

        Duplicate (hash, offset) pairs within the song are stored once.

        Returns
        -------
        int
            The new song id.

        Raises
        ------
        DuplicateSongError
            A file with the same bytes is registered already.
        """
        result = self.add_songs([(record, hashes, offsets)])[0]
        if isinstance(result, DuplicateSongError):
            raise result
        return result

    def add_songs(self, songs):
        """Store several songs, each with its fingerprints, in one transaction
        (bulk registration: one commit per batch costs far less than one per
        song, as every commit rewrites the index pages it touched).

        Parameters
        ----------
        songs : list of (SongRecord, hashes, offsets)

        A song whose file has the bytes of a registered one is a duplicate:
        the unique key on ``file_sha1`` decides (``insert_song_sql``), so
        two processes registering the same file at once store it once.
        Songs registered earlier from a record's ``source_path`` (the file
        there was replaced) are deleted in the same transaction, with their
        fingerprints and sketches.

        Returns
        -------
        list
            Per song, its new id, or a :class:`DuplicateSongError` if a file
            with the same bytes is registered already (or comes earlier in
            ``songs``); nothing is stored for those.
        """
        parts = [(np.ascontiguousarray(h, dtype=np.uint8).reshape(-1, HASH_BYTES),
                  (np.int64(i) << SONG_SHIFT) | np.asarray(o, dtype=np.int64).reshape(-1))
                 for i, (_, h, o) in enumerate(songs)]
        hashes = np.concatenate([h for h, _ in parts]) if parts else np.zeros((0, HASH_BYTES), np.uint8)
        packed = np.concatenate([k for _, k in parts]) if parts else np.zeros(0, np.int64)
        rows, _ = unique_rows(hashes, packed)       # primary-key order: each index page is touched once
        hashes, packed = hashes[rows], packed[rows]
        index = packed >> SONG_SHIFT                # which of ``songs`` each row belongs to
        totals = np.bincount(index, minlength=len(songs))
        anchors = [np.unique(np.asarray(o)).size for _, _, o in songs]

        def work(cur):
            results, seen, unlinked = [], {}, []
            song_ids = np.full(len(songs), -1, np.int64)      # the songs stored with their fingerprints
            for i, (record, _, _) in enumerate(songs):
                sha = bytes(record.file_sha1)
                if sha in seen:
                    results.append(DuplicateSongError(seen[sha], f"already registered as song {seen[sha]}"))
                    continue
                link = None if record.copy_of is None else self._original_of(cur, record.copy_of,
                                                                             record.copy_offset_seconds)
                if record.copy_of is not None and link is None:
                    log.info("%s: its original, song %s, is gone; stored with its fingerprints",
                             record.source_path, record.copy_of)
                    unlinked.append(i)
                # the unique key on file_sha1 decides, not an earlier read: another
                # process registering the same file meanwhile makes this a duplicate
                cur.execute(self._sql(self.insert_song_sql),
                            (record.song_name, record.source_path, record.file_sha1, int(record.file_size),
                             int(record.file_mtime_ns), float(record.duration_seconds),
                             0 if link else int(totals[i]), int(anchors[i]),
                             *(link or (None, None))))
                if cur.rowcount == 1:
                    song_id = seen[sha] = cur.lastrowid
                    results.append(int(song_id))
                    if link is None:
                        song_ids[i] = song_id
                        if record.sketch:
                            cur.execute(self._sql("INSERT INTO sketches (song_id, data) VALUES (?, ?)"),
                                        (int(song_id), bytes(record.sketch)))
                        for old, offset in record.demotes:
                            self._demote(cur, int(old), int(song_id), float(offset))
                else:
                    cur.execute(self._sql("SELECT song_id FROM songs WHERE file_sha1 = ?"), (record.file_sha1,))
                    song_id = seen[sha] = cur.fetchone()[0]
                    results.append(DuplicateSongError(song_id, f"already registered as song {song_id}"))
                self._replace_path(cur, record.source_path, song_id)
            # song ids grow in the order of ``songs``, so the rows stay in key order
            keep = song_ids[index] >= 0
            if keep.any():
                self._insert_fingerprints(cur, hashes[keep],
                                          (song_ids[index[keep]] << SONG_SHIFT) | (packed[keep] & OFFSET_MASK))
                self._add_count_delta(cur, hashes[keep], 1)
            return results, unlinked

        results, unlinked = self._run("add songs", work, write=True)
        for i in unlinked:                          # told once committed: stored as originals
            songs[i][0].copy_of = songs[i][0].copy_offset_seconds = None
        self._fold_counts_if_due()
        self._merge_if_due()
        return results

    # -- copies --------------------------------------------------------------------
    def _original_of(self, cur, song_id, offset):
        """(original id, offset s) to link a copy of ``song_id`` starting at
        ``offset`` in it: the song itself if it is an original, its original
        if it became a copy meanwhile; None if it is gone. Holds the row
        until the transaction ends (no delete can slip in between)."""
        cur.execute(self._sql("SELECT copy_of, copy_offset_seconds FROM songs WHERE song_id = ?" + self.lock_rows_sql),
                    (int(song_id),))
        row = cur.fetchone()
        if row is None:
            return None
        if row[0] is None:
            return int(song_id), float(offset)
        return self._original_of(cur, int(row[0]), float(offset) + float(row[1]))

    def _demote(self, cur, old_id, new_id, offset):
        """Turn the original ``old_id`` into a copy of ``new_id`` starting at
        ``offset`` s in it, with its own copies (inside a transaction): its
        fingerprints and sketch go. False if it is no longer an original."""
        cur.execute(self._sql("SELECT copy_of FROM songs WHERE song_id = ?" + self.lock_rows_sql), (old_id,))
        row = cur.fetchone()
        if row is None or row[0] is not None:
            log.info("song %d is no longer a registered original; not linked to song %d", old_id, new_id)
            return False
        self._drop_index_rows(cur, [old_id])
        cur.execute(self._sql("UPDATE songs SET copy_of = ?, copy_offset_seconds = copy_offset_seconds + ? "
                              "WHERE copy_of = ?"), (new_id, offset, old_id))
        cur.execute(self._sql("UPDATE songs SET copy_of = ?, copy_offset_seconds = ?, total_hashes = 0 "
                              "WHERE song_id = ?"), (new_id, offset, old_id))
        self._song_cache.clear()
        log.info("song %d is now a copy of song %d (from %.2f s)", old_id, new_id, offset)
        return True

    def copies_of(self, song_ids):
        """{original id: [song dicts of its copies, by id]} for the given ids (those with copies)."""
        ids = sorted({int(i) for i in song_ids})
        if not ids:
            return {}

        def work(cur):
            marks = ", ".join([self.placeholder] * len(ids))
            cur.execute(f"SELECT {', '.join(SONG_COLUMNS)} FROM songs WHERE copy_of IN ({marks}) ORDER BY song_id",
                        ids)
            found = {}
            for row in cur.fetchall():
                song = _song_dict(row)
                found.setdefault(song["copy_of"], []).append(song)
            return found
        return self._run("list copies", work)

    def promote_copy(self, original_id, copy_id, hashes, offsets, *, sketch=b""):
        """Delete the original ``original_id`` and make its copy ``copy_id``
        an original with these fingerprints (of the copy's file) in its
        place, in one transaction; the other copies are linked to it (their
        offsets then count from its start, negative where they start before
        it). Raises StorageError if ``copy_id`` is not a copy of ``original_id``."""
        hashes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, HASH_BYTES)
        offsets = np.asarray(offsets, dtype=np.int64).reshape(-1)
        packed = (np.int64(copy_id) << SONG_SHIFT) | offsets
        rows, _ = unique_rows(hashes, packed)
        hashes, packed = hashes[rows], packed[rows]

        def work(cur):
            cur.execute(self._sql("SELECT copy_of, copy_offset_seconds FROM songs WHERE song_id = ?"
                                  + self.lock_rows_sql), (int(copy_id),))
            row = cur.fetchone()
            if row is None or row[0] is None or int(row[0]) != int(original_id):
                raise StorageError(f"song {copy_id} is not a copy of song {original_id}")
            start = float(row[1])
            self._insert_fingerprints(cur, hashes, packed)
            self._add_count_delta(cur, hashes, 1)
            if sketch:
                cur.execute(self._sql("INSERT INTO sketches (song_id, data) VALUES (?, ?)"), (int(copy_id), sketch))
            cur.execute(self._sql("UPDATE songs SET copy_of = NULL, copy_offset_seconds = NULL, total_hashes = ?, "
                                  "anchor_frames = ? WHERE song_id = ?"),
                        (len(packed), int(np.unique(offsets).size), int(copy_id)))
            cur.execute(self._sql("UPDATE songs SET copy_of = ?, copy_offset_seconds = copy_offset_seconds - ? "
                                  "WHERE copy_of = ?"), (int(copy_id), start, int(original_id)))
            self._delete_rows(cur, [int(original_id)])
            self._song_cache.clear()

        self._run("promote a copy", work, write=True)
        self._fold_counts_if_due()
        self._merge_if_due()
        return int(copy_id)

    def expire_counts(self):
        """Have the next :meth:`hash_counts` read the counts written since
        (a registration that matches each file against the songs it stored
        just before)."""
        shared = self._counts_state()
        with shared.lock:
            shared.checked = float("-inf")

    def _replace_path(self, cur, source_path, song_id):
        """Delete the songs registered earlier from ``source_path`` other than
        ``song_id``: the file there was replaced (same path, new content)."""
        cur.execute(self._sql("SELECT song_id FROM songs WHERE source_path = ? AND song_id <> ?"),
                    (source_path, int(song_id)))
        old = sorted(int(r[0]) for r in cur.fetchall())
        if old:
            log.info("%s changed: song(s) %s replaced by song %d", source_path, old, song_id)
            self._delete_rows(cur, old)

    def _drop_index_rows(self, cur, ids):
        """Remove songs' fingerprints (with their count delta) and sketches,
        not their song rows (inside a transaction)."""
        marks = ", ".join([self.placeholder] * len(ids))
        tables = self._index_tables(cur)
        if len(tables) > 1:
            self._lock_levels(cur, exclusive=True)
        for table in tables:
            cur.execute(f"SELECT hash FROM {table} WHERE song_id IN ({marks})", ids)
            hashes = bytes_to_hashes([bytes(r[0]) for r in cur.fetchall()])
            self._add_count_delta(cur, hashes, -1)
            cur.execute(f"DELETE FROM {table} WHERE song_id IN ({marks})", ids)
            if table == PENDING_TABLE and len(hashes):
                self._set_meta_int(cur, PENDING_META_KEY, self._meta_int(cur, PENDING_META_KEY) - len(hashes))
        cur.execute(f"DELETE FROM sketches WHERE song_id IN ({marks})", ids)

    def _delete_rows(self, cur, ids):
        """Delete songs, their sketches and fingerprints (inside a transaction)."""
        self._drop_index_rows(cur, ids)
        marks = ", ".join([self.placeholder] * len(ids))
        cur.execute(f"DELETE FROM songs WHERE song_id IN ({marks})", ids)
        for i in ids:
            self._song_cache.pop(i, None)

    def forget_path(self, source_path, song_id):
        """Delete the songs registered from ``source_path`` other than
        ``song_id`` (the file there now holds that song's bytes). Returns
        nothing; one transaction."""
        self._run("replace a changed file", lambda cur: self._replace_path(cur, source_path, song_id), write=True)

    def _insert_fingerprints(self, cur, hashes, packed):
        """Insert rows sorted in key order: ``hashes`` (n, 10) uint8 and
        ``packed`` (n,) int64 = song_id << SONG_SHIFT | offset, into the
        recent level (or the index where the store keeps no levels).

        Where the server can (``unpack_insert_sql``), each statement carries
        one hash blob and one JSON array of the packed integers, and the
        server unpacks the rows itself: a fraction of the client CPU of a
        Python tuple bound per row. Elsewhere, plain multi-row INSERTs."""
        table = RECENT_TABLE if self._keeps_levels(cur) else INDEX_TABLE
        if table == RECENT_TABLE:
            self._lock_levels(cur, exclusive=False)
            self._recent_written += len(packed)
        if self._can_unpack(cur):
            hashes = np.ascontiguousarray(hashes, dtype=np.uint8)
            sql = self.unpack_insert_sql.format(table=table)
            for start in range(0, len(packed), self.unpack_batch):
                stop = start + self.unpack_batch
                cur.execute(sql, (hashes[start:stop].tobytes(), packed_json(packed[start:stop])))
            return
        sql = self._sql(f"INSERT INTO {table} (hash, song_id, {{offset}}) VALUES (?, ?, ?)")
        hash_list = hashes_to_bytes(hashes)
        song_list = (packed >> SONG_SHIFT).tolist()
        offset_list = (packed & OFFSET_MASK).tolist()
        for start in range(0, len(hash_list), self.insert_batch):
            stop = start + self.insert_batch
            cur.executemany(sql, zip(hash_list[start:stop], song_list[start:stop], offset_list[start:stop]))

    def _can_unpack(self, cur):
        """Whether this server runs ``unpack_insert_sql`` (probed once)."""
        if self._server_unpacks is None:
            self._server_unpacks = False
            if self.unpack_insert_sql is not None:
                try:
                    cur.execute(self.unpack_probe_sql)
                    cur.fetchall()
                    self._server_unpacks = True
                except Exception as exc:  # the driver's error for an unknown function or syntax
                    if not self._is_unsupported(exc):
                        self._server_unpacks = None
                        raise
                    log.info("%s cannot unpack rows server-side (%s); using plain INSERTs", self.description, exc)
        return self._server_unpacks

    def _is_unsupported(self, exc):
        """True if ``exc`` says the server does not know a statement's function or syntax."""
        return False

    def find_registered(self, source_path, file_size, file_mtime_ns):
        """Song id of a file registered from this path with this size and
        modification time, or None (lets a resumed run skip without reading)."""
        def work(cur):
            cur.execute(self._sql("SELECT song_id FROM songs WHERE source_path = ? AND file_size = ? "
                                  "AND file_mtime_ns = ?"), (source_path, int(file_size), int(file_mtime_ns)))
            row = cur.fetchone()
            return row[0] if row else None
        return self._run("look up file", work)

    def registered_files(self):
        """{source_path: (file_size, file_mtime_ns)} of every song."""
        def work(cur):
            cur.execute("SELECT source_path, file_size, file_mtime_ns FROM songs")
            return {path: (int(size), int(mtime)) for path, size, mtime in cur.fetchall()}
        return self._run("list files", work)

    def known_sha1s(self):
        """{file_sha1 bytes: song_id} of every song."""
        def work(cur):
            cur.execute("SELECT file_sha1, song_id FROM songs")
            return {bytes(sha): sid for sha, sid in cur.fetchall()}
        return self._run("list files", work)

    def song(self, song_id):
        """A song as a dict, or None."""
        def work(cur):
            cur.execute(self._sql(f"SELECT {', '.join(SONG_COLUMNS)} FROM songs WHERE song_id = ?"), (int(song_id),))
            row = cur.fetchone()
            return _song_dict(row) if row else None
        return self._run("read song", work)

    def songs_by_id(self, song_ids):
        """{song_id: song dict} for the given ids (those that exist).

        A song's row never changes once written and ids are never reused
        (AUTOINCREMENT), so rows read in the last ``SONG_CACHE_SECONDS`` are
        reused: naming a query's candidates then costs no round trip (1.5 ms
        on MariaDB). The time bound covers a database dropped and created
        again under a running process; :meth:`delete_songs` forgets its own."""
        ids = sorted({int(i) for i in song_ids})
        now = time.monotonic()
        cache = self._song_cache
        stale = [i for i in ids if i not in cache or now - cache[i][0] >= SONG_CACHE_SECONDS]
        if stale:
            def work(cur):
                marks = ", ".join([self.placeholder] * len(stale))
                cur.execute(f"SELECT {', '.join(SONG_COLUMNS)} FROM songs WHERE song_id IN ({marks})", stale)
                return {row[0]: _song_dict(row) for row in cur.fetchall()}
            read = self._run("read songs", work)
            if len(cache) + len(read) > SONG_CACHE_MAX:
                cache.clear()
            for i in stale:
                if i in read:
                    cache[i] = (now, read[i])
                else:
                    cache.pop(i, None)
        return {i: dict(cache[i][1]) for i in ids if i in cache}

    def sketches(self, song_ids):
        """{song_id: sketch bytes} for the given ids (those that have one)."""
        ids = sorted({int(i) for i in song_ids})
        if not ids:
            return {}

        def work(cur):
            marks = ", ".join([self.placeholder] * len(ids))
            cur.execute(f"SELECT song_id, data FROM sketches WHERE song_id IN ({marks})", ids)
            return {int(row[0]): bytes(row[1]) for row in cur.fetchall()}
        return self._run("read sketches", work)

    def list_songs(self, *, search=None, limit=None, offset=0):
        """Songs ordered by id, optionally filtered by a substring of the name
        or path. Returns (songs, total matching)."""
        where, params = "", []
        if search:
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where = self._sql(" WHERE song_name LIKE ? ESCAPE '\\' OR source_path LIKE ? ESCAPE '\\'")
            params = [pattern, pattern]

        def work(cur):
            cur.execute("SELECT COUNT(*) FROM songs" + where, params)
            total = int(cur.fetchone()[0])
            sql = f"SELECT {', '.join(SONG_COLUMNS)} FROM songs{where} ORDER BY song_id"
            args = list(params)
            if limit is not None:
                sql += self._sql(" LIMIT ? OFFSET ?")
                args += [int(limit), int(offset)]
            cur.execute(sql, args)
            return [_song_dict(r) for r in cur.fetchall()], total
        return self._run("list songs", work)

    def delete_songs(self, song_ids, *, with_copies=False):
        """Delete songs and their fingerprints. Returns the ids that existed.

        The copies of a deleted song go with it if ``with_copies`` (and are
        among the ids returned); else a song with copies that are not
        deleted too is refused (:class:`HasCopiesError`), and nothing is deleted."""
        ids = sorted({int(i) for i in song_ids})
        if not ids:
            return []

        def work(cur):
            marks = ", ".join([self.placeholder] * len(ids))
            cur.execute(f"SELECT song_id FROM songs WHERE song_id IN ({marks})", ids)
            found = sorted(int(r[0]) for r in cur.fetchall())
            if found:
                marks = ", ".join([self.placeholder] * len(found))
                cur.execute(f"SELECT song_id, copy_of FROM songs WHERE copy_of IN ({marks})", found)
                copies = {}
                for copy, original in cur.fetchall():
                    if int(copy) not in found:
                        copies.setdefault(int(original), []).append(int(copy))
                if copies and not with_copies:
                    raise HasCopiesError(copies)
                found = sorted(set(found).union(*copies.values()))
                self._delete_rows(cur, found)
            return found
        found = self._run("delete songs", work, write=True)
        self._fold_counts_if_due()
        return found

    def optimize(self, *, added_rows=None):
        """Repack the index after many inserts, where the store needs it.

        ``added_rows``: fingerprints just added; the store repacks only if
        that is worth it (None: repack now). Returns True if it repacked.
        Folds the hash count deltas when they hold ``counts.FOLD_REST_BYTES``
        or more (None: in any case): a fold rewrites the presence parts its
        keys touch, which after a few songs is all of them (40 MB at 60
        hours, 512 MiB at 1,000), while a reader applies a few MB of deltas
        in milliseconds. Moves rows down the index's levels where due
        (None: all of them into the index, :meth:`merge_levels`)."""
        self.merge_levels(everything=added_rows is None)
        if added_rows is None or self._pending_delta_bytes() >= hash_counts.FOLD_REST_BYTES:
            self.fold_counts()
        return False

    def _pending_delta_bytes(self):
        def work(cur):
            cur.execute("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM hash_count_deltas")
            return int(cur.fetchone()[0])
        return self._run("measure the hash count deltas", work)

    def stats(self):
        """Songs, fingerprints, hours of audio and bytes on disk."""
        def work(cur):
            cur.execute("SELECT COUNT(*), COALESCE(SUM(duration_seconds), 0), COALESCE(SUM(total_hashes), 0) FROM songs")
            songs, seconds, hashes = cur.fetchone()
            levels = {table: self._count_rows(cur, table) for table in self._index_tables(cur)}
            fingerprints = sum(levels.values())
            cur.execute("SELECT COUNT(*) FROM songs WHERE copy_of IS NOT NULL")
            copies = int(cur.fetchone()[0])
            return {"songs": int(songs), "copies": copies, "fingerprints": fingerprints,
                    "recent_fingerprints": levels.get(RECENT_TABLE, 0),
                    "pending_fingerprints": levels.get(PENDING_TABLE, 0),
                    "hours": float(seconds) / 3600.0,
                    "seconds": float(seconds), "bytes": int(self._bytes_used(cur))}
        return self._run("read statistics", work)

    # -- levels of the index (INDEX_TABLE, PENDING_TABLE, RECENT_TABLE) ---------------------
    def _has_levels(self, cur):
        """Whether this database's index is kept in levels (False where a
        distributed engine spreads or replicates it: written directly)."""
        return True

    def _keeps_levels(self, cur):
        """Whether a registration writes to the recent level: once the
        index holds more than ``recent_rows / pending_share`` rows. Below
        that, every full recent level would join the index at once, so the
        levels would only copy each row twice more (and random writes into
        a small index are cheap)."""
        if self.recent_rows <= 0 or not self._has_levels(cur):
            return False
        return self._stored_rows(cur) > self.recent_rows / self.pending_share

    def _stored_rows(self, cur):
        """The index's rows over every level, as the songs' rows count them."""
        cur.execute("SELECT COALESCE(SUM(total_hashes), 0) FROM songs")
        return int(cur.fetchone()[0])

    def _index_tables(self, cur):
        """The tables that hold the index's rows (a lookup reads each)."""
        return LEVEL_TABLES if self._has_levels(cur) else (INDEX_TABLE,)

    def _count_rows(self, cur, table):
        if table == PENDING_TABLE:
            return self._meta_int(cur, PENDING_META_KEY)
        cur.execute(f"SELECT COUNT(*) FROM {table}")
        return int(cur.fetchone()[0])

    def _meta_int(self, cur, key):
        cur.execute(self._sql("SELECT meta_value FROM dejavu_meta WHERE meta_key = ?"), (key,))
        row = cur.fetchone()
        return int(row[0]) if row else 0

    def _set_meta_int(self, cur, key, value):
        cur.execute(self._insert_ignore_meta_sql(), (key, "0"))
        cur.execute(self._sql("UPDATE dejavu_meta SET meta_value = ? WHERE meta_key = ?"), (str(int(value)), key))

    def _lock_levels(self, cur, *, exclusive):
        """Inside a transaction that writes to the levels: hold them against
        a move (``exclusive``: the move, or a delete), where writers do not
        exclude each other already (SQLite's write lock does)."""

    def _move_rows(self, cur, source, target):
        """Move every row of ``source`` into ``target``, in key order (inside a transaction)."""
        cur.execute(self._sql(f"INSERT INTO {target} (hash, song_id, {{offset}}) SELECT hash, song_id, {{offset}} "
                              f"FROM {source} ORDER BY hash, song_id, {{offset}}"))
        cur.execute(f"DELETE FROM {source}")

    def _merge_if_due(self):
        if self._recent_written >= self.recent_rows:
            self.merge_levels()

    def merge_levels(self, *, everything=False):
        """Move rows down the index's levels where due: the recent level
        into the pending one once it holds ``recent_rows`` (any rows, with
        ``recent_rows`` 0: levels no longer written), the pending level into the index once
        it holds ``pending_share`` of it; ``everything``: both now. One
        transaction; readers see each row in exactly one level throughout.

        Returns
        -------
        dict
            ``recent``: rows moved to the pending level, ``pending``: rows
            moved into the index, ``seconds`` the move took.
        """
        self._recent_written = 0
        moved = {"recent": 0, "pending": 0, "seconds": 0.0}

        def due(cur):
            if not self._has_levels(cur):
                return False
            recent = self._count_rows(cur, RECENT_TABLE)
            return bool(recent if everything or self.recent_rows == 0 else recent >= self.recent_rows) or (
                everything and self._count_rows(cur, PENDING_TABLE) > 0)

        def work(cur):
            self._lock_levels(cur, exclusive=True)
            recent = self._count_rows(cur, RECENT_TABLE)
            if recent:
                self._move_rows(cur, RECENT_TABLE, PENDING_TABLE)
                moved["recent"] = recent
            pending = self._count_rows(cur, PENDING_TABLE) + recent
            index = self._stored_rows(cur) - pending
            if pending and (everything or pending >= max(self.recent_rows, self.pending_share * index)):
                self._move_rows(cur, PENDING_TABLE, INDEX_TABLE)
                moved["pending"], pending = pending, 0
            self._set_meta_int(cur, PENDING_META_KEY, pending)

        if self._run("measure the recent fingerprints", due):
            t = time.monotonic()
            self._run("move fingerprints down the index's levels", work, write=True)
            moved["seconds"] = time.monotonic() - t
            log.info("%s: %d recent fingerprints moved on, %d pending ones into the index (%.1f s)",
                     self.description, moved["recent"], moved["pending"], moved["seconds"])
        return moved

    # -- hash counts (storage/counts.py) ------------------------------------------------
    def hash_counts(self):
        """Rows per hash bucket (:mod:`dejavu_cn.storage.counts`): an int32
        array indexed by ``counts.buckets(hashes)``, never below a hash's own
        row count. Read-only; shared by the stores of this process on the
        same database, loaded once and brought up to date with the deltas
        written since at most every ``REFRESH_SECONDS``."""
        return self._fresh_counts().counts

    def hash_presence(self):
        """Which hash keys the index holds (:class:`~dejavu_cn.storage.counts.Presence`),
        shared and refreshed as :meth:`hash_counts` are."""
        return self._fresh_counts().presence

    def estimated_rows(self, hashes):
        """Rows each of ``hashes`` ((n, 10) uint8) is expected to return: its
        bucket's count, or 0 where the presence says the index holds no such
        hash (an upper bound either way). What a lookup reads by."""
        shared = self._fresh_counts()
        keys = hash_keys(hashes)
        estimate = shared.counts[hash_counts.key_buckets(keys)]
        return np.where(shared.presence.contains(hash_counts.key_short_keys(keys)), estimate, 0)

    def song_count(self):
        """Songs in the library, as of the last refresh of :meth:`hash_counts`."""
        return self._fresh_counts().songs

    def _fresh_counts(self):
        shared = self._counts_state()
        with shared.lock:
            now = time.monotonic()
            if shared.counts is None or now - shared.checked >= hash_counts.REFRESH_SECONDS:
                self._refresh_counts(shared)
                shared.checked = now
            return shared

    def _refresh_counts(self, shared):
        def work(cur):
            cur.execute(self._sql("SELECT meta_value FROM dejavu_meta WHERE meta_key = ?"), (COUNTS_META_KEY,))
            row = cur.fetchone()
            version = row[0] if row else None
            if version != shared.version or shared.counts is None:
                counts, after = hash_counts.empty_counts(), 0
                cur.execute("SELECT chunk, data FROM hash_counts")
                for chunk, data in cur.fetchall():
                    hash_counts.set_chunk(counts, int(chunk), data)
                presence = self._read_presence(cur)
            else:
                counts, after, presence = shared.counts.copy(), shared.last_delta, shared.presence
            cur.execute(self._sql("SELECT delta_id, data FROM hash_count_deltas WHERE delta_id > ? ORDER BY delta_id"),
                        (after,))
            for delta_id, data in cur.fetchall():
                hash_counts.apply_delta(counts, data)
                presence.add(hash_counts.added_keys(data))
                after = int(delta_id)
            cur.execute("SELECT COUNT(*) FROM songs")
            return version, counts, presence, after, int(cur.fetchone()[0])

        shared.version, counts, shared.presence, shared.last_delta, shared.songs = \
            self._run("read hash counts", work)
        counts.flags.writeable = False
        shared.counts = counts

    def _read_presence(self, cur):
        """The stored presence as a :class:`~dejavu_cn.storage.counts.Presence`:
        sized from the parts' heads, then read a part per statement (at
        1,000 hours the parts are 2 MiB each, 512 MiB in all)."""
        cur.execute(self._sql(f"SELECT chunk, SUBSTR(data, 1, {hash_counts.PART_HEAD}) FROM hash_presence"))
        heads = {int(part): hash_counts.part_keys(head) for part, head in cur.fetchall()}
        presence = hash_counts.Presence.sized(sum(heads.values()))
        for part in sorted(heads):
            cur.execute(self._sql("SELECT data FROM hash_presence WHERE chunk = ?"), (part,))
            presence.set_part(part, cur.fetchone()[0])
        return presence

    def _add_count_delta(self, cur, hashes, sign):
        """Record, in the running transaction, that rows with these hashes were added (1) or removed (-1)."""
        data = hash_counts.delta_bytes(hashes, sign) if len(hashes) else b""
        for start in range(0, len(data), DELTA_ROW_BYTES):      # a server takes packets of 16 MB or less
            cur.execute(self._sql("INSERT INTO hash_count_deltas (data) VALUES (?)"),
                        (data[start:start + DELTA_ROW_BYTES],))
        self._delta_bytes += len(data)

    def _fold_counts_if_due(self):
        if self._delta_bytes >= hash_counts.FOLD_BYTES:
            self.fold_counts()

    def fold_counts(self):
        """Fold every count delta into the base, in one transaction, and bump
        the counts' version (readers reload). Returns the deltas folded."""
        def work(cur):
            # a write first: it takes the write lock (SQLite) or the version row's lock (MySQL), so
            # two folds never interleave and this transaction reads the latest base
            cur.execute(self._sql("UPDATE dejavu_meta SET meta_value = meta_value WHERE meta_key = ?"),
                        (COUNTS_META_KEY,))
            cur.execute(self._sql("SELECT meta_value FROM dejavu_meta WHERE meta_key = ?"), (COUNTS_META_KEY,))
            version = int(cur.fetchone()[0])
            cur.execute("SELECT delta_id, data FROM hash_count_deltas ORDER BY delta_id")
            deltas = cur.fetchall()
            if not deltas:
                return 0
            cur.execute("SELECT chunk, data FROM hash_counts")
            counts = hash_counts.empty_counts()
            for chunk, data in cur.fetchall():
                hash_counts.set_chunk(counts, int(chunk), data)
            touched, added = set(), []
            for _, data in deltas:
                hash_counts.apply_delta(counts, data)
                touched.update(hash_counts.touched_chunks(data))
                added.append(hash_counts.added_keys(data))
            self._write_count_chunks(cur, counts, sorted(touched))
            for part, lows in hash_counts.split_parts(np.concatenate(added)).items():
                cur.execute(self._sql("SELECT data FROM hash_presence WHERE chunk = ?"), (part,))
                row = cur.fetchone()
                if row is not None:
                    lows = distinct(hash_counts.decode_part(row[0]), lows)
                cur.execute(self.upsert_count_chunk_sql.format(table="hash_presence"),
                            (part, hash_counts.encode_part(lows)))
            cur.execute(self._sql("DELETE FROM hash_count_deltas WHERE delta_id <= ?"), (int(deltas[-1][0]),))
            cur.execute(self._sql("UPDATE dejavu_meta SET meta_value = ? WHERE meta_key = ?"),
                        (str(version + 1), COUNTS_META_KEY))
            return len(deltas)

        folded = self._run("fold hash counts", work, write=True)
        self._delta_bytes = 0
        return folded

    def _write_count_chunks(self, cur, counts, chunks):
        for chunk in chunks:
            data = hash_counts.chunk_of(counts, chunk)
            if data is None:
                cur.execute(self._sql("DELETE FROM hash_counts WHERE chunk = ?"), (chunk,))
            else:
                cur.execute(self.upsert_count_chunk_sql.format(table="hash_counts"), (chunk, data))

    def _count_existing_index(self):
        """Give a database whose index was written before the hash counts
        existed, or before their format 2 (deltas by key, the presence), its
        counts: one scan of the index, once (a new database just starts at
        zero)."""
        def work(cur):
            cur.execute(self._insert_ignore_meta_sql(), (COUNTS_FORMAT_KEY, COUNTS_FORMAT))
            if cur.rowcount != 1:             # counted already (or by a process that got here first)
                return 0
            for statement in ("DELETE FROM hash_counts", "DELETE FROM hash_count_deltas", "DELETE FROM hash_presence"):
                cur.execute(statement)
            cur.execute(self._insert_ignore_meta_sql(), (COUNTS_META_KEY, "1"))
            cur.execute(self._sql("UPDATE dejavu_meta SET meta_value = meta_value + 1 WHERE meta_key = ?"),
                        (COUNTS_META_KEY,))    # readers of an older format reload
            if self._has_levels(cur):         # the count reads the index alone
                for source in (RECENT_TABLE, PENDING_TABLE):
                    self._move_rows(cur, source, INDEX_TABLE)
                self._set_meta_int(cur, PENDING_META_KEY, 0)
            cur.execute("SELECT 1 FROM fingerprints LIMIT 1")
            if cur.fetchall():                # a new database has nothing to count
                log.info("counting %s's index by hash, once (format %s of the hash counts; about 4 minutes "
                         "per 60 hours of peak triplets on SQLite)", self.description, COUNTS_FORMAT)
            counts, last, rows = hash_counts.empty_counts(), None, 0
            parts = hash_counts.SortedParts(lambda part, data: cur.execute(
                self.upsert_count_chunk_sql.format(table="hash_presence"), (part, data)))
            while True:                       # the database counts each hash's rows; Python sees each hash once
                if last is None:
                    cur.execute(self._sql("SELECT hash, COUNT(*) FROM fingerprints GROUP BY hash ORDER BY hash "
                                          "LIMIT ?"), (COUNTS_SCAN_HASHES,))
                else:
                    cur.execute(self._sql("SELECT hash, COUNT(*) FROM fingerprints WHERE hash > ? GROUP BY hash "
                                          "ORDER BY hash LIMIT ?"), (last, COUNTS_SCAN_HASHES))
                found = cur.fetchall()
                if not found:
                    break
                n = np.fromiter((int(r[1]) for r in found), np.int64, len(found))
                hashes = bytes_to_hashes([bytes(r[0]) for r in found])
                np.add.at(counts, hash_counts.buckets(hashes), n)
                parts.add(hash_counts.short_keys(hashes))
                rows += int(n.sum())
                last = bytes(found[-1][0])
            parts.close()
            if rows:
                log.info("counted the %d rows of %s's index by hash", rows, self.description)
                self._write_count_chunks(cur, counts, hash_counts.chunks())
            return rows

        self._run("count the index's hashes", work, write=True)

    # -- lookup ------------------------------------------------------------------------
    def lookup(self, hashes, *, songs=None):
        """Every stored (song, offset) whose hash is among ``hashes`` ((n, 10) uint8, unique),
        of the songs whose ids are in ``songs`` if given (rows of other songs are
        skipped by the database, never sent).

        Where the server can (``packed_lookup_sql``), it joins the query's
        hashes, sent as one blob, against the index and returns the rows as
        one string of numbers per batch, which numpy parses: no Python object
        per row (rows are what a query costs; a tuple per row also wakes the
        garbage collector, which made the slowest queries several times
        slower). Elsewhere, or when the server cut the string short, the
        rows are read one by one.

        Returns
        -------
        Lookup
        """
        hashes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, HASH_BYTES)
        ways = self.lookup_connections if len(hashes) >= self.parallel_lookup_min else 1
        readers = self._lookup_readers(ways - 1) if ways > 1 else []
        if readers:
            parts = np.array_split(hashes, len(readers) + 1)
            pool = self._readers[0]
            futures = [pool.submit(_locked_lookup, lock, reader, part, songs)
                       for (lock, reader), part in zip(readers, parts[1:])]
            return Lookup.concat([self._lookup_here(parts[0], songs)] + [f.result() for f in futures])
        return self._lookup_here(hashes, songs)

    def _lookup_readers(self, n):
        """``n`` extra stores for parallel lookups (opened once), or none."""
        if self._readers is not None and len(self._readers[1]) < n:
            self.close_readers()
        if self._readers is None:
            copies = [self._reader_copy() for _ in range(n)]
            if any(c is None for c in copies):
                return []
            from concurrent.futures import ThreadPoolExecutor
            self._readers = (ThreadPoolExecutor(n, thread_name_prefix="dejavu-cn-lookup"),
                             [(threading.Lock(), c) for c in copies])
        return self._readers[1][:n]

    def _lookup_here(self, hashes, songs=None):
        """:meth:`lookup` on this store's own connection."""
        songs = None if songs is None else [int(i) for i in songs]

        def work(cur):
            packed = self.packed_lookup_sql is not None and self._can_unpack(cur)
            tables = self._index_tables(cur)
            parts = []
            for start in range(0, len(hashes), self.lookup_batch):
                batch = hashes[start:start + self.lookup_batch]
                found = self._packed_lookup(cur, tables, batch, songs) if packed else None
                if found is None:
                    found = rows_to_lookup(self._lookup_rows(cur, tables, batch, songs))
                parts.append(found)
            return parts

        return Lookup.concat(self._run("look up hashes", work))

    def _packed_lookup(self, cur, tables, batch, songs=None):
        """A :class:`Lookup` of one batch in the index's ``tables`` through
        ``packed_lookup_sql`` (one statement: one snapshot of every level),
        or None if the server's string came back cut short or a value does
        not fit the packing."""
        if len(batch) >> (63 - LOOKUP_INDEX_SHIFT):
            return None
        values = ("[" + ",".join("0" * len(batch)) + "]", batch.tobytes())
        one = self.packed_lookup_sql
        if songs is not None:
            one, values = one + self.packed_lookup_songs_sql, values + (json.dumps(songs),)
        if len(tables) == 1:
            cur.execute(one.format(table=tables[0]), values)
        else:
            cur.execute("SELECT SUM(n), GROUP_CONCAT(v) FROM ("
                        + " UNION ALL ".join(one.format(table=t) for t in tables) + ") AS u",
                        values if self.numbered_parameters else values * len(tables))
        count, text = cur.fetchone()
        with warnings.catch_warnings():       # a string cut short may end in a separator
            warnings.simplefilter("ignore", DeprecationWarning)
            packed = np.fromstring(text, sep=",", dtype=np.int64) if text else np.zeros(0, np.int64)
        if packed.size != int(count) or self._packed_cut_short(cur):
            log.info("packed lookup cut short (%d of %d rows); reading rows", packed.size, int(count))
            return None
        if packed.size and packed.min() < 0:
            log.info("a song id or offset does not fit the packed lookup; reading rows")
            return None
        return Lookup(hash_keys(batch)[packed >> LOOKUP_INDEX_SHIFT], (packed >> LOOKUP_SONG_SHIFT) & LOOKUP_MASK,
                      packed & LOOKUP_MASK)

    def _packed_cut_short(self, cur):
        """Whether the server may have cut the last packed lookup's string
        short inside its last number (where the count cannot tell)."""
        return False

    def _lookup_rows(self, cur, tables, batch, songs=None):
        """(hash, song_id, offset) rows for a batch of hashes in the index's ``tables``, one by one."""
        values = hashes_to_bytes(batch) + (songs or [])
        marks = ([f"?{i + 1}" for i in range(len(values))] if self.numbered_parameters
                 else [self.placeholder] * len(values))
        where = f"hash IN ({', '.join(marks[:len(batch)])})"
        if songs is not None:
            where += f" AND song_id IN ({', '.join(marks[len(batch):])})"
        sql = " UNION ALL ".join(f"SELECT hash, song_id, {{offset}} FROM {table} WHERE {where}" for table in tables)
        cur.execute(self._sql(sql), values if self.numbered_parameters else values * len(tables))
        return cur.fetchall()

    # -- files that failed to register ---------------------------------------------------------
    def register_failures(self):
        """Files remembered as failed: a list of dicts (``path``, ``size``,
        ``mtime_ns``, ``reason``, ``date_failed``), ordered by path."""
        def work(cur):
            cur.execute("SELECT source_path, file_size, file_mtime_ns, reason, date_failed FROM register_failures "
                        "ORDER BY source_path")
            return [{"path": path, "size": int(size), "mtime_ns": int(mtime), "reason": reason,
                     "date_failed": str(date)} for path, size, mtime, reason, date in cur.fetchall()]
        return self._run("list failed files", work)

    def remember_failures(self, failures):
        """Remember files that failed: (path, size, mtime_ns, reason) tuples;
        a path remembered already is replaced."""
        rows = [(_path_sha1(path), path, int(size), int(mtime), str(reason)) for path, size, mtime, reason in failures]
        if not rows:
            return

        def work(cur):
            cur.executemany(self._sql("REPLACE INTO register_failures (path_sha1, source_path, file_size, "
                                      "file_mtime_ns, reason) VALUES (?, ?, ?, ?, ?)"), rows)
        self._run("remember failed files", work, write=True)

    def forget_failures(self, paths):
        """Forget remembered failures of these paths (they registered, or
        are to be tried again)."""
        keys = [(_path_sha1(path),) for path in paths]
        if not keys:
            return

        def work(cur):
            cur.executemany(self._sql("DELETE FROM register_failures WHERE path_sha1 = ?"), keys)
        self._run("forget failed files", work, write=True)


def _path_sha1(path):
    return hashlib.sha1(str(path).encode("utf-8", "surrogateescape")).digest()


def _locked_lookup(lock, store, hashes, songs):
    with lock:                        # one statement at a time on a connection
        return store._lookup_here(hashes, songs)


def packed_json(values):
    """A JSON array of integers (what the stores unpack server-side on insert)."""
    return str(np.asarray(values).tolist())        # a list's repr is JSON: twice as fast as joining strings


def rows_to_lookup(rows):
    """(hash, song_id, offset) rows to a :class:`Lookup`."""
    if not rows:
        return Lookup.empty()
    found_hashes, song_ids, offsets = zip(*rows)
    return Lookup(hash_keys(bytes_to_hashes(found_hashes)),
                  np.fromiter(song_ids, dtype=np.int64, count=len(rows)),
                  np.fromiter(offsets, dtype=np.int64, count=len(rows)))
