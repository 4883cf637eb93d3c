-- dejavu-cn schema for MySQL / MariaDB. Applied by dejavu_cn.storage.mysql
-- when a database is opened; every statement is idempotent. Statements are
-- separated by semicolons at the end of a line.

-- Key/value facts about this database: schema version and the fingerprint
-- parameters it was built with (a JSON object).
CREATE TABLE IF NOT EXISTS dejavu_meta (
    meta_key   VARCHAR(64) NOT NULL PRIMARY KEY,
    meta_value TEXT        NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- One row per registered file. A song row and all its fingerprints are written
-- in one transaction, so a song is either complete or absent.
CREATE TABLE IF NOT EXISTS songs (
    song_id          MEDIUMINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    song_name        VARCHAR(512)       NOT NULL,
    source_path      VARCHAR(2048)      NOT NULL,
    file_sha1        BINARY(20)         NOT NULL,  -- SHA-1 of the file's bytes
    file_size        BIGINT UNSIGNED    NOT NULL,
    file_mtime_ns    BIGINT             NOT NULL,
    duration_seconds DOUBLE             NOT NULL,
    total_hashes     INT UNSIGNED       NOT NULL,
    anchor_frames    INT UNSIGNED       NOT NULL,  -- distinct frames holding an anchor peak
    date_created     TIMESTAMP          NOT NULL DEFAULT CURRENT_TIMESTAMP,
    copy_of             MEDIUMINT UNSIGNED NULL,   -- a copy: the song_id of its original (NULL: an original)...
    copy_offset_seconds DOUBLE             NULL,   -- ...and where the copy starts in it (s); a copy has no fingerprints
    UNIQUE KEY songs_sha1 (file_sha1),
    KEY songs_source (source_path(255)),
    KEY songs_copy_of (copy_of)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Databases made before copies were linked get the columns in place (each
-- ALTER runs only where its column is missing; see Storage.setup).
ALTER TABLE songs ADD COLUMN copy_of MEDIUMINT UNSIGNED NULL, ADD KEY songs_copy_of (copy_of);
ALTER TABLE songs ADD COLUMN copy_offset_seconds DOUBLE NULL;

-- The index proper: clustered on the hash, no secondary index, 16 bytes of
-- key per row. `offset` is a reserved word in MariaDB 10.6+. Songs arrive in
-- random hash order, which leaves pages half full; a bulk registration ends
-- with an in-place rebuild (Storage.optimize) that packs them again.
CREATE TABLE IF NOT EXISTS fingerprints (
    hash     BINARY(10)         NOT NULL,   -- truncated SHA-1 of (f1, f2, dt)
    song_id  MEDIUMINT UNSIGNED NOT NULL,
    `offset` MEDIUMINT UNSIGNED NOT NULL,   -- frame of the anchor peak (2^24 frames = 108 h at 23.2 ms)
    PRIMARY KEY (hash, song_id, `offset`)
) ENGINE=InnoDB;

-- Rows on their way into the index (dejavu_cn/storage/base.py, "levels"):
-- a registration writes to the small `fingerprints_recent`; a full one moves,
-- in key order, into `fingerprints_pending`, which moves into `fingerprints`
-- once it holds a share of it. A row sits in exactly one of the three, and a
-- lookup reads all three. (A Spider or Galera index is written directly.)
CREATE TABLE IF NOT EXISTS fingerprints_pending (
    hash     BINARY(10)         NOT NULL,
    song_id  MEDIUMINT UNSIGNED NOT NULL,
    `offset` MEDIUMINT UNSIGNED NOT NULL,
    PRIMARY KEY (hash, song_id, `offset`)
) ENGINE=InnoDB;
CREATE TABLE IF NOT EXISTS fingerprints_recent (
    hash     BINARY(10)         NOT NULL,
    song_id  MEDIUMINT UNSIGNED NOT NULL,
    `offset` MEDIUMINT UNSIGNED NOT NULL,
    PRIMARY KEY (hash, song_id, `offset`)
) ENGINE=InnoDB;

-- Each song's band-energy sketch (dejavu_cn/sketch.py): one little-endian
-- uint32 per frame (frames = bytes / 4), 172 bytes a second. Read only to check the candidates
-- that the hashes leave undecided. Written with the song, in its transaction.
CREATE TABLE IF NOT EXISTS sketches (
    song_id MEDIUMINT UNSIGNED NOT NULL PRIMARY KEY,
    data    LONGBLOB           NOT NULL
) ENGINE=InnoDB;

-- Row counts per hash bucket (dejavu_cn/storage/counts.py), so a lookup can
-- choose which hashes to read before reading them. The base: one row per
-- 2^16 buckets (little-endian int32 each; all-zero chunks absent)...
CREATE TABLE IF NOT EXISTS hash_counts (
    chunk INT UNSIGNED NOT NULL PRIMARY KEY,
    data  MEDIUMBLOB   NOT NULL
) ENGINE=InnoDB;

-- ...and the changes not yet folded into it: one row per transaction that
-- added or deleted songs, written in that transaction ((key uint32: a hash's
-- first 32 bits, change int32) pairs, little-endian).
CREATE TABLE IF NOT EXISTS hash_count_deltas (
    delta_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    data     LONGBLOB        NOT NULL
) ENGINE=InnoDB;

-- Which hash keys (a hash's first 32 bits) the index holds, so that a lookup
-- skips the hashes it holds none of: one row per 2^24 keys (the keys' low
-- 24 bits, a difference-coded list or a bitmap; counts.encode_part).
CREATE TABLE IF NOT EXISTS hash_presence (
    chunk INT UNSIGNED NOT NULL PRIMARY KEY,
    data  MEDIUMBLOB   NOT NULL
) ENGINE=InnoDB;

-- Files that could not be registered (not audio, corrupt, unreadable), keyed
-- by the SHA-1 of their path (a path is too long for a key): a rerun skips
-- them while their size and modification time are unchanged, `dejavu-cn
-- failures` lists them and `register --retry-failed` tries them again. A
-- file that registers later is forgotten here.
CREATE TABLE IF NOT EXISTS register_failures (
    path_sha1     BINARY(20)      NOT NULL PRIMARY KEY,   -- SHA-1 of source_path (UTF-8)
    source_path   TEXT            NOT NULL,                -- any length: a path too long for songs fails here
    file_size     BIGINT UNSIGNED NOT NULL,
    file_mtime_ns BIGINT          NOT NULL,
    reason        TEXT            NOT NULL,
    date_failed   TIMESTAMP       NOT NULL DEFAULT CURRENT_TIMESTAMP
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
