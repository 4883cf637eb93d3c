"""SQLite store: the embedded default, zero set-up."""
import logging
import os
import random
import shutil
import sqlite3
import time

from ..config import DB_TIMEOUT_DEFAULT
from ..errors import StorageError
from ..hashing import HASH_BYTES
from .base import (LOOKUP_INDEX_SHIFT, LOOKUP_MASK, LOOKUP_SONG_SHIFT, OFFSET_MASK,
                   SONG_SHIFT, Storage, _SharedCounts)

log = logging.getLogger(__name__)


class SQLiteStorage(Storage):
    """A store in one SQLite file (WAL mode: recognising while registering works).

    Parameters
    ----------
    path : str
        Database file, created with its tables if missing; ``":memory:"`` for
        a private in-memory database.
    timeout_seconds : float
        Seconds a statement waits for another process's write lock.
    """

    placeholder = "?"
    numbered_parameters = True    # ?1, ?2: a value bound once serves every part of a statement
    offset_column = "offset"
    lookup_batch = 30000          # SQLite 3.32+ binds up to 32766 values per statement
    unpack_insert_sql = (f"INSERT INTO {{table}} (hash, song_id, offset) "
                         f"SELECT substr(?1, key * {HASH_BYTES} + 1, {HASH_BYTES}), value >> {SONG_SHIFT}, "
                         f"value & {OFFSET_MASK} FROM json_each(?2)")
    unpack_probe_sql = "SELECT json_valid('[]')"
    # a value past the packing's 24 bits (an offset beyond 108 hours) comes back as -1
    packed_lookup_sql = (f"SELECT count(*) AS n, group_concat(CASE WHEN f.song_id > {LOOKUP_MASK} OR f.offset > {LOOKUP_MASK} "
                         f"THEN -1 ELSE (j.key << {LOOKUP_INDEX_SHIFT}) | (f.song_id << {LOOKUP_SONG_SHIFT}) | f.offset END) AS v "
                         f"FROM json_each(?1) AS j "
                         f"JOIN {{table}} AS f ON f.hash = substr(?2, j.key * {HASH_BYTES} + 1, {HASH_BYTES})")
    # "+": filter each hash's rows by song, never seek (hash, song) pairs (50x slower for 256 songs)
    packed_lookup_songs_sql = " WHERE +f.song_id IN (SELECT value FROM json_each(?3))"

    def __init__(self, path, timeout_seconds=DB_TIMEOUT_DEFAULT, **levels):
        super().__init__(**levels)
        self.path = str(path)
        self.timeout_seconds = float(timeout_seconds)
        self._own_counts = None

    def _counts_state(self):
        if self.path != ":memory:":
            return super()._counts_state()
        if self._own_counts is None:          # a private database: its counts are its own
            self._own_counts = _SharedCounts()
        return self._own_counts

    def _reader_copy(self):
        return None if self.path == ":memory:" else SQLiteStorage(
            self.path, self.timeout_seconds, recent_rows=self.recent_rows, pending_share=self.pending_share)

    @property
    def description(self):
        return f"SQLite database {self.path}"

    def _schema_name(self):
        return "sqlite.sql"

    def _connect(self):
        if self.path != ":memory:":
            parent = os.path.dirname(os.path.abspath(self.path))
            if not os.path.isdir(parent):
                raise StorageError(f"cannot open {self.description}: the folder {parent} does not exist")
        # Two processes opening a new file at once can each hold the read lock the other's switch to WAL
        # waits for (neither gives way): each tries for a moment, lets go and tries again, until the timeout
        deadline = time.monotonic() + self.timeout_seconds
        while True:
            conn = sqlite3.connect(self.path, timeout=min(1.0, self.timeout_seconds), check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as exc:
                conn.close()
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(random.uniform(0.02, 0.2))
        # timeout: how long a statement waits for another process's write lock
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout_seconds * 1000)}")
        conn.execute("PRAGMA synchronous=NORMAL")      # WAL + NORMAL: durable at checkpoints, never corrupt
        conn.execute("PRAGMA cache_size=-262144")       # 256 MiB page cache
        conn.execute("PRAGMA temp_store=MEMORY")
        return conn

    def optimize(self, *, added_rows=None):
        """As :meth:`Storage.optimize`; with ``added_rows`` None (a repack now:
        ``dejavu-cn optimize``) the file is then rewritten in key order
        (``VACUUM``): the pages that inserts into the middle of the index
        left part empty are packed, and pages freed by deletes are given
        back to the disk. It needs free disk for a temporary copy and for
        the write-ahead log (up to twice the file, :func:`vacuum_space`),
        and holds the write lock meanwhile (readers go on). Returns True if
        it rewrote the file."""
        if added_rows is not None or self.path == ":memory:":
            super().optimize(added_rows=added_rows)
            return False
        size = self._run("measure the database", self._bytes_used)
        for folder, needed in vacuum_space(self.path, size).items():      # before anything changes
            free = shutil.disk_usage(folder).free
            if free < needed:
                raise StorageError(f"cannot compact {self.description}: it needs about {needed / 1e9:.1f} GB free "
                                   f"in {folder}, which has {free / 1e9:.1f} GB (free some space, or set "
                                   "SQLITE_TMPDIR to a folder on a disk that has it)")
        super().optimize()
        log.info("rewriting %s in key order (%.0f MB)", self.description, size / 1e6)
        conn = self.conn
        try:
            conn.execute("PRAGMA temp_store=FILE")      # the copy is as large as the database: never in memory
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise self._wrap(exc, "compact the database") from exc
        finally:
            conn.execute("PRAGMA temp_store=MEMORY")
        return True

    def _begin_write(self, cursor):
        # take the write lock first (waiting up to the timeout): a transaction
        # that read first could not get it later while another process writes
        if not self.conn.in_transaction:
            cursor.execute("BEGIN IMMEDIATE")

    def _is_row_error(self, exc):
        return isinstance(exc, (sqlite3.IntegrityError, sqlite3.DataError, OverflowError))

    def _is_unsupported(self, exc):
        return isinstance(exc, sqlite3.OperationalError)     # built without JSON (before 3.38, no JSON1)

    def _translate(self, exc, action):
        if isinstance(exc, sqlite3.OperationalError):
            text = str(exc)
            if "unable to open" in text or "readonly" in text:
                return StorageError(f"cannot {action} in {self.description}: {text}. "
                                    "Check that the folder exists and is writable.")
            if "locked" in text or "busy" in text:
                return StorageError(f"{self.description} stayed locked by another process for "
                                    f"{self.timeout_seconds:g} s ({action}); try again, or raise "
                                    "'database.timeout_seconds'")
            if "disk" in text or "full" in text:
                return StorageError(f"cannot {action} in {self.description}: {text}. Check the free disk space.")
        if isinstance(exc, sqlite3.DatabaseError):
            return StorageError(f"cannot {action} in {self.description}: {exc}. "
                                "Is this file a dejavu-cn database?")
        return None

    def _bytes_used(self, cursor):
        cursor.execute("PRAGMA page_count")
        pages = cursor.fetchone()[0]
        cursor.execute("PRAGMA page_size")
        size = pages * cursor.fetchone()[0]
        wal = self.path + "-wal"
        if self.path != ":memory:" and os.path.exists(wal):
            size = max(size, os.path.getsize(self.path))
        return size


def vacuum_space(path, size):
    """{folder: bytes} of free disk ``VACUUM`` needs for a database file of
    ``size`` bytes at ``path``: a temporary copy in SQLite's temporary
    folder (``SQLITE_TMPDIR``, ``TMPDIR``, ``/var/tmp``, ``/usr/tmp``,
    ``/tmp``: the first that is a writable folder), and in WAL mode the
    copied pages in the log beside the file before they are written back:
    each at most the file's size. Folders on one file system add up."""
    candidates = [os.environ.get("SQLITE_TMPDIR"), os.environ.get("TMPDIR"), "/var/tmp", "/usr/tmp", "/tmp", "."]
    temp = next(d for d in candidates if d and os.path.isdir(d) and os.access(d, os.W_OK | os.X_OK))
    needed, folders = {}, {}
    for folder in (os.path.dirname(os.path.abspath(path)), os.path.abspath(temp)):
        device = os.stat(folder).st_dev
        folders.setdefault(device, folder)
        needed[device] = needed.get(device, 0) + int(size)
    return {folders[d]: n for d, n in needed.items()}
