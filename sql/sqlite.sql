-- dejavu-cn schema for SQLite. Applied by dejavu_cn.storage.sqlite when a
-- database is opened; every statement is idempotent.

-- Key/value facts about this database: schema version and the fingerprint
-- parameters it was built with (a JSON object).
CREATE TABLE IF NOT EXISTS dejavu_meta (
    meta_key   TEXT PRIMARY KEY,
    meta_value TEXT NOT NULL
);

-- One row per registered file. A song row and all its fingerprints are written
-- in one transaction, so a song is either complete or absent.
CREATE TABLE IF NOT EXISTS songs (
    song_id          INTEGER PRIMARY KEY AUTOINCREMENT,
    song_name        TEXT    NOT NULL,
    source_path      TEXT    NOT NULL,
    file_sha1        BLOB    NOT NULL UNIQUE,  -- SHA-1 of the file's bytes: the same file is registered once
    file_size        INTEGER NOT NULL,
    file_mtime_ns    INTEGER NOT NULL,
    duration_seconds REAL    NOT NULL,
    total_hashes     INTEGER NOT NULL,
    anchor_frames    INTEGER NOT NULL,  -- distinct frames holding an anchor peak
    date_created     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    copy_of             INTEGER NULL,   -- a copy: the song_id of its original (NULL: an original)...
    copy_offset_seconds REAL    NULL    -- ...and where the copy starts in it (s); a copy has no fingerprints
);
CREATE INDEX IF NOT EXISTS songs_source ON songs (source_path);

-- Databases made before copies were linked get the columns in place (each
-- ALTER runs only where its column is missing; see Storage.setup).
ALTER TABLE songs ADD COLUMN copy_of INTEGER NULL;
ALTER TABLE songs ADD COLUMN copy_offset_seconds REAL NULL;
CREATE INDEX IF NOT EXISTS songs_copy_of ON songs (copy_of);

-- The index proper. Clustered on the hash (WITHOUT ROWID), so a lookup is a
-- range scan and no second index is stored.
CREATE TABLE IF NOT EXISTS fingerprints (
    hash    BLOB    NOT NULL,   -- 10 bytes: truncated SHA-1 of (f1, f2, dt)
    song_id INTEGER NOT NULL,
    offset  INTEGER NOT NULL,   -- frame of the anchor peak
    PRIMARY KEY (hash, song_id, offset)
) WITHOUT ROWID;

-- Rows on their way into the index (dejavu_cn/storage/base.py, "levels"):
-- a registration writes to the small `fingerprints_recent`; a full one moves,
-- in key order, into `fingerprints_pending`, which moves into `fingerprints`
-- once it holds a share of it. A row sits in exactly one of the three, and a
-- lookup reads all three. Random keys written straight into a large index
-- touch one of its pages each; a move in key order touches each page once.
CREATE TABLE IF NOT EXISTS fingerprints_pending (
    hash    BLOB    NOT NULL,
    song_id INTEGER NOT NULL,
    offset  INTEGER NOT NULL,
    PRIMARY KEY (hash, song_id, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fingerprints_recent (
    hash    BLOB    NOT NULL,
    song_id INTEGER NOT NULL,
    offset  INTEGER NOT NULL,
    PRIMARY KEY (hash, song_id, offset)
) WITHOUT ROWID;

-- Each song's band-energy sketch (dejavu_cn/sketch.py): one little-endian
-- uint32 per frame (frames = bytes / 4), 172 bytes a second. Read only to check the candidates
-- that the hashes leave undecided. Written with the song, in its transaction.
CREATE TABLE IF NOT EXISTS sketches (
    song_id INTEGER PRIMARY KEY,
    data    BLOB    NOT NULL
);

-- Row counts per hash bucket (dejavu_cn/storage/counts.py), so a lookup can
-- choose which hashes to read before reading them. The base: one row per
-- 2^16 buckets (little-endian int32 each; all-zero chunks absent)...
CREATE TABLE IF NOT EXISTS hash_counts (
    chunk INTEGER PRIMARY KEY,
    data  BLOB    NOT NULL
);

-- ...and the changes not yet folded into it: one row per transaction that
-- added or deleted songs, written in that transaction ((key uint32: a hash's
-- first 32 bits, change int32) pairs, little-endian).
CREATE TABLE IF NOT EXISTS hash_count_deltas (
    delta_id INTEGER PRIMARY KEY AUTOINCREMENT,
    data     BLOB    NOT NULL
);

-- Which hash keys (a hash's first 32 bits) the index holds, so that a lookup
-- skips the hashes it holds none of: one row per 2^24 keys (the keys' low
-- 24 bits, a difference-coded list or a bitmap; counts.encode_part).
CREATE TABLE IF NOT EXISTS hash_presence (
    chunk INTEGER PRIMARY KEY,
    data  BLOB    NOT NULL
);

-- Files that could not be registered (not audio, corrupt, unreadable), keyed
-- by the SHA-1 of their path: a rerun skips them while their size and
-- modification time are unchanged, `dejavu-cn failures` lists them and
-- `register --retry-failed` tries them again. A file that registers later is
-- forgotten here.
CREATE TABLE IF NOT EXISTS register_failures (
    path_sha1     BLOB    NOT NULL PRIMARY KEY,   -- SHA-1 of source_path (UTF-8)
    source_path   TEXT    NOT NULL,
    file_size     INTEGER NOT NULL,
    file_mtime_ns INTEGER NOT NULL,
    reason        TEXT    NOT NULL,
    date_failed   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
