"""MySQL / MariaDB store through PyMySQL."""
import functools
import logging

from ..config import DB_TIMEOUT_DEFAULT, check_tls
from ..errors import StorageError
from ..hashing import HASH_BYTES
from .base import (LOOKUP_INDEX_SHIFT, LOOKUP_SONG_SHIFT, OFFSET_MASK, SONG_SHIFT,
                   Storage)

log = logging.getLogger(__name__)

# PyMySQL / server error codes that mean "the server is not there (any more)"
_CONNECTION_ERRORS = {2003, 2006, 2013, 2055}
_ACCESS_ERRORS = {1044, 1045, 1698}
_UNKNOWN_DATABASE = 1049
_DEADLOCK = 1213              # the server rolled a transaction back to break a deadlock: run it again
DEADLOCK_RETRIES = 3
OPTIMIZE_TIMEOUT_SECONDS = 3600.0   # s; rebuilding a large index takes minutes, not the usual timeout

_GROUP_CONCAT_MAX = 256 * 1024 * 1024     # bytes of one GROUP_CONCAT (a lookup's rows as one string)
# Rows unpacked by the server (JSON_TABLE, MariaDB 10.6+ / MySQL 8): a fifth of
# the client CPU of PyMySQL's escaped multi-row INSERTs, and a third less time.
_UNPACK_INSERT_SQL = (f"INSERT INTO fingerprints (hash, song_id, `offset`) "
                      f"SELECT SUBSTRING(%s, (j.i - 1) * {HASH_BYTES} + 1, {HASH_BYTES}), j.v >> {SONG_SHIFT}, "
                      f"j.v & {OFFSET_MASK} "
                      f"FROM JSON_TABLE(%s, '$[*]' COLUMNS (i FOR ORDINALITY, v BIGINT PATH '$')) AS j")
# The rows of a lookup as one string (see Storage.lookup): the query's hashes
# joined against the primary key through JSON_TABLE. Song ids and offsets are
# MEDIUMINT UNSIGNED, so they always fit the packing's 24 bits.
_PACKED_LOOKUP_SQL = (f"SELECT COUNT(*), "
                      f"GROUP_CONCAT(((j.i - 1) << {LOOKUP_INDEX_SHIFT}) | (f.song_id << {LOOKUP_SONG_SHIFT}) | f.`offset`) "
                      f"FROM JSON_TABLE(%s, '$[*]' COLUMNS (i FOR ORDINALITY)) AS j "
                      f"JOIN fingerprints AS f ON f.hash = SUBSTRING(%s, (j.i - 1) * {HASH_BYTES} + 1, {HASH_BYTES})")
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
_SSL_CONNECTION_ERROR = 2026
OPTIMIZE_GROWTH = 0.10        # a registration that grew the index by this share repacks it...
OPTIMIZE_MIN_ROWS = 50_000    # ...if it added at least this many fingerprints


class MySQLStorage(Storage):
    """A store in a MySQL or MariaDB database.

    Parameters
    ----------
    host, port, user, password, database
        As for PyMySQL. The database must exist (``CREATE DATABASE``); the
        tables are created on first use.
    tls : str
        ``"preferred"``: TLS when the server offers it, its certificate not
        checked (PyMySQL's default); ``"required"``: TLS or no connection;
        ``"disabled"``: never; ``"auto"`` (default): disabled for a loopback
        host (TLS protects nothing there, and PyMySQL's preferred mode loads
        the system's certificate store on every connection: about 35 ms),
        preferred otherwise.
    tls_ca : str, optional
        A CA file: TLS is required and the server's certificate and host
        name are verified against it.
    timeout_seconds : float
        Seconds to wait for the server to answer a statement (or take a
        statement's data) before giving up with a StorageError: a server
        that stops answering does not hang the caller.
    """

    placeholder = "%s"
    offset_column = "`offset`"
    lookup_batch = 5000
    insert_batch = 20000          # PyMySQL folds executemany into multi-row INSERTs
    unpack_insert_sql = _UNPACK_INSERT_SQL
    unpack_probe_sql = "SELECT COUNT(*) FROM JSON_TABLE('[1]', '$[*]' COLUMNS (v INT PATH '$')) AS j"
    packed_lookup_sql = _PACKED_LOOKUP_SQL
    # "+ 0": filter each hash's rows by song rather than seek (hash, song) pairs
    packed_lookup_songs_sql = (" WHERE f.song_id + 0 IN "
                               "(SELECT s FROM JSON_TABLE(%s, '$[*]' COLUMNS (s INT PATH '$')) AS t)")
    upsert_count_chunk_sql = ("INSERT INTO hash_counts (chunk, data) VALUES (%s, %s) "
                              "ON DUPLICATE KEY UPDATE data = VALUES(data)")
    # on a duplicate file_sha1 nothing changes, so rowcount is 0 (PyMySQL does not ask for found rows)
    insert_song_sql = ("INSERT INTO songs (song_name, source_path, file_sha1, file_size, file_mtime_ns, "
                       "duration_seconds, total_hashes, anchor_frames, copy_of, copy_offset_seconds) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE song_id = song_id")
    lock_rows_sql = " FOR UPDATE"

    def __init__(self, *, host, port=3306, user, password="", database, connect_timeout=10, tls="auto", tls_ca=None,
                 timeout_seconds=DB_TIMEOUT_DEFAULT):
        super().__init__()
        check_tls(tls, tls_ca)
        self.settings = dict(host=host, port=int(port), user=user, password=password,
                             database=database, connect_timeout=connect_timeout, tls=tls, tls_ca=tls_ca,
                             timeout_seconds=float(timeout_seconds))

    def _reader_copy(self):
        return MySQLStorage(**self.settings)

    @property
    def description(self):
        s = self.settings
        return f"MySQL database '{s['database']}' at {s['user']}@{s['host']}:{s['port']}"

    def _schema_name(self):
        return "mysql.sql"

    def _insert_ignore_meta_sql(self):
        return "INSERT IGNORE INTO dejavu_meta (meta_key, meta_value) VALUES (%s, %s)"

    def _connect(self):
        import pymysql
        settings = dict(self.settings)
        tls = tls_arguments(settings["host"], settings.pop("tls"), settings.pop("tls_ca"))
        timeout = settings.pop("timeout_seconds")
        conn = pymysql.connect(charset="utf8mb4", autocommit=False, max_allowed_packet=64 * 1024 * 1024,
                               read_timeout=timeout, write_timeout=timeout, **settings, **tls)
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cur.execute("SET SESSION group_concat_max_len = %s", (_GROUP_CONCAT_MAX,))
        return conn

    def _run(self, action, work, *, write=False):
        # A connection the server dropped (restart, KILL) is discarded, so the
        # next call reconnects; a read is retried once at once, a write is not replayed.
        # A transaction the server rolled back to break a deadlock (two processes
        # registering at once) is run again: nothing of it was kept.
        for attempt in range(DEADLOCK_RETRIES + 1):
            try:
                return super()._run(action, work, write=write)
            except StorageError as exc:
                if getattr(exc, "deadlock", False) and attempt < DEADLOCK_RETRIES:
                    log.info("deadlock on %s during %s; running the transaction again", self.description, action)
                    continue
                if getattr(exc, "timed_out", False):
                    self.close()          # the answer may still come: this connection is out of step
                    raise
                if not getattr(exc, "connection_lost", False):
                    raise
                self.close()
                if write:
                    raise
                log.info("connection to %s lost; reconnecting", self.description)
                return super()._run(action, work, write=write)

    def _translate(self, exc, action):
        import ssl

        import pymysql
        if not isinstance(exc, pymysql.err.MySQLError):
            return None
        code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
        detail = exc.args[1] if len(exc.args) > 1 else str(exc)
        if isinstance(exc, pymysql.err.InterfaceError):      # the client's socket is already gone
            code, detail = 2013, "connection closed"
        cause = getattr(exc, "original_exception", None)
        if isinstance(cause, ssl.SSLError):                  # reached, but the TLS handshake failed
            return StorageError(f"TLS with {self.description} failed ({cause}). The server's certificate must be "
                                "signed by the CA in 'database.tls_ca' and name the configured host.")
        if code in (2006, 2013) and "timed out" in str(detail):
            err = StorageError(
                f"{self.description} did not answer within {self.settings['timeout_seconds']:g} s during {action}. "
                "Check that the server is running and not blocked (locks, full disk), "
                "or raise 'database.timeout_seconds'.")
            err.timed_out = True
            return err
        if code == _DEADLOCK:
            err = StorageError(f"{self.description}: {action} failed: {detail}")
            err.deadlock = True
            return err
        if code in _CONNECTION_ERRORS:
            err = StorageError(
                f"cannot reach {self.description} ({detail}) during {action}. "
                "Check that the server is running and that host and port in the configuration are right.")
            err.connection_lost = code in (2006, 2013)
            return err
        if code in _ACCESS_ERRORS:
            return StorageError(f"access denied to {self.description} ({detail}). "
                                "Check user and password (or the DEJAVU_CN_DB_PASSWORD variable).")
        if code == _SSL_CONNECTION_ERROR:
            return StorageError(f"no TLS connection to {self.description} ({detail}). Enable TLS on the server, "
                                "or set 'database.tls' to \"preferred\" or \"disabled\" in the configuration.")
        if code == _UNKNOWN_DATABASE:
            return StorageError(f"{self.description} does not exist. "
                                f"Create it first: CREATE DATABASE `{self.settings['database']}`")
        return StorageError(f"{self.description}: {action} failed: {detail}")

    def _is_row_error(self, exc):
        import pymysql
        return isinstance(exc, (pymysql.err.DataError, pymysql.err.IntegrityError))

    def _packed_cut_short(self, cur):
        # group_concat_max_len or max_allowed_packet cut the string: warning 1260
        return cur.warning_count > 0

    def _is_unsupported(self, exc):
        import pymysql
        return isinstance(exc, pymysql.err.ProgrammingError)  # syntax error: no JSON_TABLE (before MariaDB 10.6)

    def optimize(self, *, added_rows=None):
        """Rebuild the fingerprint table in key order (online: reads and
        writes go on meanwhile), packing pages that random-order inserts left
        about half full: roughly halves the bytes per row. With
        ``added_rows``, only when they are at least ``OPTIMIZE_MIN_ROWS`` and
        ``OPTIMIZE_GROWTH`` of the table. Returns True if it rebuilt."""
        super().optimize(added_rows=added_rows)
        if added_rows is not None:
            if added_rows < OPTIMIZE_MIN_ROWS:
                return False
            total = self.stats()["fingerprints"]
            if added_rows < OPTIMIZE_GROWTH * total:
                return False

        def work(cur):
            cur.execute("ALTER TABLE fingerprints FORCE, ALGORITHM=INPLACE, LOCK=NONE")
            cur.execute("ANALYZE TABLE fingerprints")
            cur.fetchall()
        log.info("repacking the fingerprint index of %s", self.description)
        with MySQLStorage(**{**self.settings, "timeout_seconds": OPTIMIZE_TIMEOUT_SECONDS}) as patient:
            patient._run("optimize the index", work, write=True)
        return True

    def _bytes_used(self, cursor):
        cursor.execute("SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
                       "WHERE table_schema = DATABASE() AND table_name IN ('songs', 'fingerprints', 'sketches', 'dejavu_meta')")
        return int(cursor.fetchone()[0])


def tls_arguments(host, tls="auto", tls_ca=None):
    """PyMySQL's connection arguments for a ``tls`` mode (see :class:`MySQLStorage`)."""
    if tls_ca:
        return {"ssl": _tls_context(str(tls_ca))}
    if tls == "auto":
        tls = "disabled" if str(host).lower() in _LOOPBACK_HOSTS else "preferred"
    if tls == "disabled":
        return {"ssl_disabled": True}
    if tls == "required":
        return {"ssl": _tls_context(None)}
    return {}                                   # preferred: PyMySQL's own default


@functools.lru_cache(maxsize=8)
def _tls_context(ca):
    """One TLS context per process and CA file (making one costs about 35 ms):
    without a CA, encryption only; with one, certificate and host name checked."""
    import ssl
    if ca is None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=ca)
    return context
