"""MySQL / MariaDB store through PyMySQL."""
import functools
import logging
import time

from ..config import DB_TIMEOUT_DEFAULT, PENDING_SHARE_DEFAULT, RECENT_ROWS_DEFAULT, check_tls
from ..errors import StorageError
from ..hashing import HASH_BYTES
from .base import (LOOKUP_INDEX_SHIFT, LOOKUP_SONG_SHIFT, OFFSET_MASK, PENDING_META_KEY, PENDING_TABLE,
                   RECENT_TABLE, SONG_SHIFT,
                   Storage)

log = logging.getLogger(__name__)

# PyMySQL / server error codes that mean "the server is not there (any more)"
_CONNECTION_ERRORS = {2003, 2006, 2013, 2055}
_ACCESS_ERRORS = {1044, 1045, 1698}
_UNKNOWN_DATABASE = 1049
_NOT_READY = 1047             # a Galera node not (yet) part of the primary component: "WSREP has not yet prepared..."
_SHARD_ERRORS = {1429, 12701}  # Spider: a data node cannot be reached / went away
_DEADLOCK = 1213              # the server rolled a transaction back to break a deadlock: run it again
DEADLOCK_RETRIES = 3
FAILOVER_ROUNDS = 3               # a transaction goes round a cluster's hosts at most this many times...
FAILOVER_PAUSE_SECONDS = 1.0      # ...pausing this long after a node that is not ready (the cluster re-forming)
OPTIMIZE_TIMEOUT_SECONDS = 3600.0   # s; rebuilding a large index takes minutes, not the usual timeout

_GROUP_CONCAT_MAX = 256 * 1024 * 1024     # bytes of one GROUP_CONCAT (a lookup's rows as one string)
# Rows unpacked by the server (JSON_TABLE, MariaDB 10.6+ / MySQL 8): a fifth of
# the client CPU of PyMySQL's escaped multi-row INSERTs, and a third less time.
_UNPACK_INSERT_SQL = (f"INSERT INTO {{table}} (hash, song_id, `offset`) "
                      f"SELECT SUBSTRING(%s, (j.i - 1) * {HASH_BYTES} + 1, {HASH_BYTES}), j.v >> {SONG_SHIFT}, "
                      f"j.v & {OFFSET_MASK} "
                      f"FROM JSON_TABLE(%s, '$[*]' COLUMNS (i FOR ORDINALITY, v BIGINT PATH '$')) AS j")
# The rows of a lookup as one string (see Storage.lookup): the query's hashes
# joined against the primary key through JSON_TABLE. Song ids and offsets are
# MEDIUMINT UNSIGNED, so they always fit the packing's 24 bits.
# The plan is fixed, as it is always the right one for this query: the query's
# hashes first (STRAIGHT_JOIN), each one a seek by the primary key (FORCE INDEX).
# Left to the optimiser, a table whose statistics say it is nearly empty is
# read whole instead, every row compared with every hash: a Spider head takes
# its statistics from the data nodes only every spider_sts_interval /
# spider_crd_interval seconds (10 / 51, in the background), so for up to a
# minute after a registration into a new index every lookup batch read the
# whole index (7 s on 6 tracks, over 30 s on the benchmark's library).
_PACKED_LOOKUP_SQL = (f"SELECT COUNT(*) AS n, "
                      f"GROUP_CONCAT(((j.i - 1) << {LOOKUP_INDEX_SHIFT}) | (f.song_id << {LOOKUP_SONG_SHIFT}) | f.`offset`) AS v "
                      f"FROM JSON_TABLE(%s, '$[*]' COLUMNS (i FOR ORDINALITY)) AS j "
                      f"STRAIGHT_JOIN {{table}} AS f FORCE INDEX (PRIMARY) "
                      f"ON f.hash = SUBSTRING(%s, (j.i - 1) * {HASH_BYTES} + 1, {HASH_BYTES})")
# A Spider index is looked up by the same packed join, which the head runs as a
# Batched Key Access join: it gathers the query's hashes in its join buffer and
# hands them to the data nodes at once, each node receiving only the hashes of
# its range in one statement (without BKA the head would fetch row by row: one
# round trip per hash). The buffer is sized by the setting, not by the optimiser's
# guess of a JSON_TABLE's rows (40), which split a 5000-hash batch into 50 trips.
_SPIDER_JOIN_BUFFER = 8 * 1024 * 1024     # bytes; a lookup batch (5000 hashes) fits with room to spare
_SPIDER_LOOKUP_SESSION_SQL = ("SET SESSION join_cache_level = 8, "
                              "optimizer_switch = 'mrr=on,join_cache_bka=on,optimize_join_buffer_size=off', "
                              f"join_buffer_size = {_SPIDER_JOIN_BUFFER}")
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
    hosts : sequence of (host, port), optional
        Other servers of the same database (a Galera cluster's nodes), in
        the order they are tried: when the server in use cannot be reached
        or goes away in the middle of a transaction, the store moves to the
        next and runs the transaction again there (writes too: the storage
        contract makes them idempotent, so a song is never stored twice).
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
    upsert_count_chunk_sql = ("INSERT INTO {table} (chunk, data) VALUES (%s, %s) "
                              "ON DUPLICATE KEY UPDATE data = VALUES(data)")
    # on a duplicate file_sha1 nothing changes, so rowcount is 0 (PyMySQL does not ask for found rows)
    insert_song_sql = ("INSERT INTO songs (song_name, source_path, file_sha1, file_size, file_mtime_ns, "
                       "duration_seconds, total_hashes, anchor_frames, copy_of, copy_offset_seconds) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON DUPLICATE KEY UPDATE song_id = song_id")
    lock_rows_sql = " FOR UPDATE"

    def __init__(self, *, host, port=3306, user, password="", database, connect_timeout=10, tls="auto", tls_ca=None,
                 timeout_seconds=DB_TIMEOUT_DEFAULT, hosts=(), recent_rows=RECENT_ROWS_DEFAULT,
                 pending_share=PENDING_SHARE_DEFAULT):
        super().__init__(recent_rows=recent_rows, pending_share=pending_share)
        check_tls(tls, tls_ca)
        self.settings = dict(host=host, port=int(port), user=user, password=password,
                             database=database, connect_timeout=connect_timeout, tls=tls, tls_ca=tls_ca,
                             timeout_seconds=float(timeout_seconds), recent_rows=self.recent_rows,
                             pending_share=self.pending_share)
        self.hosts = [(host, int(port))] + [(h, int(p)) for h, p in hosts if (h, int(p)) != (host, int(port))]
        self._engine = None               # the fingerprint table's engine, once read (index_engine)
        self._levels = None               # whether the index is kept in levels, once read (_has_levels)

    def _reader_copy(self):
        copy = MySQLStorage(**self.settings, hosts=self.hosts)
        copy._engine, copy._levels = self._engine, self._levels     # read once
        return copy

    def counts_key(self):
        # one database on a cluster's hosts: the counts survive a move to another host
        s = self.settings
        return f"MySQL {s['database']} at {sorted(self.hosts)}"

    def _fail_over(self, exc, action):
        """Move to the next of ``hosts`` after ``exc`` (a lost or unreachable
        server); False when there is no other."""
        if len(self.hosts) < 2:
            return False
        here = (self.settings["host"], self.settings["port"])
        following = self.hosts[(self.hosts.index(here) + 1) % len(self.hosts)]
        self.close()
        if getattr(exc, "not_ready", False):
            time.sleep(FAILOVER_PAUSE_SECONDS)     # a cluster that lost a node re-forms within seconds
        self.settings.update(host=following[0], port=following[1])
        log.warning("%s:%s went away during %s (%s); continuing on %s:%s", here[0], here[1], action, exc,
                    following[0], following[1])
        return True

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
        for key in ("recent_rows", "pending_share"):
            settings.pop(key)
        conn = pymysql.connect(charset="utf8mb4", autocommit=False, max_allowed_packet=64 * 1024 * 1024,
                               read_timeout=timeout, write_timeout=timeout, **settings, **tls)
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            cur.execute("SET SESSION group_concat_max_len = %s", (_GROUP_CONCAT_MAX,))
            if self.index_engine(cur) == "SPIDER":
                cur.execute(_SPIDER_LOOKUP_SESSION_SQL)
        return conn

    def _run(self, action, work, *, write=False):
        # A connection the server dropped (restart, KILL) is discarded, so the
        # next call reconnects; a read is retried once at once, a write is not replayed.
        # A transaction the server rolled back to break a deadlock (two processes
        # registering at once) is run again: nothing of it was kept.
        # With several hosts (a Galera cluster), a server that cannot be reached
        # or goes away hands the transaction to the next one (at most
        # FAILOVER_ROUNDS times round them all).
        attempt = moves = 0
        while True:
            try:
                return super()._run(action, work, write=write)
            except StorageError as exc:
                if getattr(exc, "deadlock", False) and attempt < DEADLOCK_RETRIES:
                    attempt += 1
                    log.info("deadlock on %s during %s; running the transaction again", self.description, action)
                    continue
                if ((getattr(exc, "connection_lost", False) or getattr(exc, "unreachable", False))
                        and moves < FAILOVER_ROUNDS * len(self.hosts) - 1 and self._fail_over(exc, action)):
                    moves += 1
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
        if code == _NOT_READY or "primary component" in str(detail).lower():
            err = StorageError(f"{self.description} is not ready ({detail}) during {action}: a cluster node that "
                               "is joining or has lost its cluster. Wait for it, or name the other nodes in "
                               "'database.hosts'.")
            err.unreachable = err.not_ready = True
            return err
        if code in _SHARD_ERRORS:
            down = ", ".join(self._unreachable_shards()) or "one of them"
            return StorageError(f"{self.description}: {action} failed: a data node of the sharded index does not "
                                f"answer: {down} ({detail}). Start it again (a cluster made by scripts/cluster.sh: "
                                "bash scripts/cluster.sh start NAME) and run the command again; the "
                                "transaction was rolled back.")
        if code == _DEADLOCK:
            err = StorageError(f"{self.description}: {action} failed: {detail}")
            err.deadlock = True
            return err
        if code in _CONNECTION_ERRORS:
            keys = "'database.hosts'" if len(self.hosts) > 1 else "'database.host' and 'database.port'"
            err = StorageError(
                f"cannot reach {self.description} ({detail}) during {action}. "
                f"Check that the server is running and that {keys} in the configuration are right.")
            err.connection_lost = code in (2006, 2013)
            err.unreachable = code in (2003, 2055)
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
        repack = self.index_engine() != "SPIDER"   # sharded: each data node keeps its own part (rebuild it there)
        if repack and added_rows is not None:
            repack = added_rows >= OPTIMIZE_MIN_ROWS and added_rows >= OPTIMIZE_GROWTH * self.stats()["fingerprints"]
        # a repack first moves every level into the index (a move into a packed index splits its pages)
        super().optimize(added_rows=None if repack else added_rows)
        if not repack:
            return False

        def work(cur):
            cur.execute("ALTER TABLE fingerprints FORCE, ALGORITHM=INPLACE, LOCK=NONE")
            cur.execute("ANALYZE TABLE fingerprints")
            cur.fetchall()
            if self._has_levels(cur):         # emptied just now: give their pages back
                for table in (PENDING_TABLE, RECENT_TABLE):
                    cur.execute(f"ALTER TABLE {table} FORCE, ALGORITHM=INPLACE, LOCK=NONE")
        log.info("repacking the fingerprint index of %s", self.description)
        with MySQLStorage(**{**self.settings, "timeout_seconds": OPTIMIZE_TIMEOUT_SECONDS}, hosts=self.hosts) as patient:
            patient._run("optimize the index", work, write=True)
        return True

    def _lock_levels(self, cur, *, exclusive):
        cur.execute("SELECT meta_value FROM dejavu_meta WHERE meta_key = %s"
                    + (" FOR UPDATE" if exclusive else " LOCK IN SHARE MODE"), (PENDING_META_KEY,))
        cur.fetchall()

    def _has_levels(self, cur):
        # a Spider index is spread over data nodes and a Galera one replicated: written directly
        if self._levels is None:
            cur.execute("SHOW STATUS LIKE 'wsrep_local_state_comment'")
            row = cur.fetchone()
            self._levels = self.index_engine(cur) == "INNODB" and not (row and row[1])
        return self._levels

    def index_engine(self, cur=None):
        """The storage engine of the fingerprint table, upper case: "INNODB",
        or "SPIDER" when it is spread over data nodes (scripts/cluster.sh up
        spider). Read once; ``cur``: inside a transaction already open."""
        if self._engine is None:
            def work(cur):
                cur.execute("SELECT UPPER(engine) FROM information_schema.tables "
                            "WHERE table_schema = DATABASE() AND table_name = 'fingerprints'")
                row = cur.fetchone()
                return row[0] if row else "INNODB"
            self._engine = work(cur) if cur is not None else self._run("read the index's engine", work)
        return self._engine

    def stats(self):
        """:meth:`Storage.stats`, plus the cluster's shape: ``shards`` (a
        Spider index: each data node and the fingerprints it holds) or
        ``nodes`` (a Galera cluster: each node and its state, "Synced" when
        it is up to date; "unreachable" when it does not answer)."""
        out = super().stats()
        if self.index_engine() == "SPIDER":
            out["shards"] = self._run("count each shard's fingerprints", self._shards)
        else:
            nodes = self._galera_nodes()
            if nodes is not None:
                out["nodes"] = nodes
        return out

    def _shards(self, cur):
        cur.execute("SELECT p.partition_name, p.partition_comment, s.Host, s.Port FROM information_schema.partitions p "
                    "LEFT JOIN mysql.servers s ON p.partition_comment LIKE CONCAT('%%\"', s.Server_name, '\"%%') "
                    "WHERE p.table_schema = DATABASE() AND p.table_name = 'fingerprints' "
                    "ORDER BY p.partition_ordinal_position")
        shards = []
        for partition, comment, host, port in cur.fetchall():
            cur.execute(f"SELECT COUNT(*) FROM fingerprints PARTITION (`{partition}`)")
            node = f"{host}:{port}" if host else comment
            shards.append({"node": node, "partition": partition, "fingerprints": int(cur.fetchone()[0])})
        return shards

    def _galera_nodes(self):
        """[{"node", "state"}] of the hosts of a Galera cluster, or None (not one)."""
        def state(cur):
            cur.execute("SHOW STATUS LIKE 'wsrep_local_state_comment'")
            row = cur.fetchone()
            return row[1] if row else None
        if self._run("read the cluster's state", state) in (None, ""):
            return None
        nodes = []
        for host, port in self.hosts:
            probe = MySQLStorage(**{**self.settings, "host": host, "port": port, "timeout_seconds": 5.0})
            try:
                nodes.append({"node": f"{host}:{port}", "state": probe._run("read the node's state", state)})
            except StorageError:
                nodes.append({"node": f"{host}:{port}", "state": "unreachable"})
            finally:
                probe.close()
        return nodes

    def _unreachable_shards(self):
        """"name (host:port)" of each data node of a Spider index that does
        not answer a connection (for an error message; [] if unknown). The
        probes connect as this store does (TLS included), 3 s at most."""
        def servers_of(cur):
            cur.execute("SELECT Server_name, Host, Port, Username, Password, Db FROM mysql.servers")
            return cur.fetchall()
        head = MySQLStorage(**{**self.settings, "timeout_seconds": 3.0})
        try:
            servers = head._run("list the data nodes", servers_of)
        except StorageError:
            return []
        finally:
            head.close()
        down = []
        for name, host, port, user, password, database in servers:
            probe = MySQLStorage(**{**self.settings, "host": host, "port": int(port), "user": user,
                                    "password": password, "database": database, "timeout_seconds": 3.0})
            try:
                probe._run("reach a data node", lambda cur: cur.execute("SELECT 1"))
            except StorageError:
                down.append(f"{name} ({host}:{port})")
            finally:
                probe.close()
        return down

    def _bytes_used(self, cursor):
        cursor.execute("SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables "
                       "WHERE table_schema = DATABASE() AND table_name IN ('songs', 'fingerprints', "
                       "'fingerprints_pending', 'fingerprints_recent', 'sketches', 'dejavu_meta')")
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
