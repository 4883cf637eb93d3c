"""How many rows each hash has in the index, known before reading them.

A query's cost is the rows its hashes return, and every hash's row count
grows with the library. Counting the rows of a query's hashes in the
database costs nearly as much as reading them, so each store keeps the
counts beside the index, in a form a process can hold in memory:

* the counts are per **bucket** of hashes: the first ``COUNT_BITS`` bits of
  the (SHA-1) hash. 2^23 buckets of int32 take 32 MiB; a bucket's count is
  the sum of the rows of the hashes that fall in it, so it is never below a
  hash's own count (with the ~0.9 M distinct hashes of a 6 h library, 90 %
  of the hashes have a bucket of their own; with 5 M, 55 %), and a bucket
  at 0 means that no hash of it is stored.
* the database holds a **base** array in chunks of ``2^CHUNK_BITS`` buckets
  (table ``hash_counts``; all-zero chunks are not stored) and a log of
  **deltas** (table ``hash_count_deltas``): each transaction that adds or
  deletes songs appends one row, the (bucket, change) pairs of its rows,
  in the same transaction as the rows themselves, so the counts and the
  index never disagree and concurrent writers never wait for each other
  here. Folding the deltas into the base (a writer does it after every
  ``FOLD_BYTES`` of deltas it wrote) keeps what a reader loads small, and
  bumps a version number in ``dejavu_meta`` so readers reload.

Pure array code here; :class:`~dejavu_cn.storage.base.Storage` does the SQL.
"""
import zlib

import numpy as np

from ..hashing import hash_keys

COUNT_BITS = 23                 # buckets = 2^23 = 8.4 M; int32 each: 32 MiB in memory
CHUNK_BITS = 16                 # the base is stored 2^16 buckets (256 KiB) per row: 128 rows
FOLD_BYTES = 64 << 20           # a writer folds the deltas after writing this many bytes of them
REFRESH_SECONDS = 5.0           # a reader looks for new deltas at most this often
_DELTA = np.dtype([("bucket", "<u4"), ("change", "<i4")])


def buckets(hashes):
    """The count bucket of each hash: its first ``COUNT_BITS`` bits.

    Parameters
    ----------
    hashes : np.ndarray, shape (n, 10), uint8

    Returns
    -------
    np.ndarray, shape (n,), int64
    """
    return key_buckets(hash_keys(hashes))


def key_buckets(keys):
    """:func:`buckets` of hash keys (:func:`~dejavu_cn.hashing.hash_keys`)."""
    return (np.asarray(keys, np.uint64) >> np.uint64(64 - COUNT_BITS)).astype(np.int64)


def delta_bytes(hashes, sign=1):
    """One delta row: the (bucket, change) pairs of adding (``sign`` 1) or
    removing (-1) rows with these hashes, as bytes (8 per distinct bucket)."""
    found, times = np.unique(buckets(hashes), return_counts=True)
    out = np.empty(found.size, _DELTA)
    out["bucket"] = found
    out["change"] = times * int(sign)
    return out.tobytes()


def empty_counts():
    return np.zeros(1 << COUNT_BITS, np.int32)


def apply_delta(counts, data):
    """Add one delta row (:func:`delta_bytes`) to ``counts`` in place."""
    pairs = np.frombuffer(bytes(data), _DELTA)
    if pairs.size:
        counts[pairs["bucket"].astype(np.int64)] += pairs["change"]   # buckets are distinct within a row
    return counts


def chunk_of(counts, chunk):
    """The stored bytes of one base chunk (zlib: a small library's counts
    are mostly zeros), or None if it is all zero."""
    part = counts[chunk << CHUNK_BITS:(chunk + 1) << CHUNK_BITS]
    return zlib.compress(part.astype("<i4").tobytes(), 1) if part.any() else None


def set_chunk(counts, chunk, data):
    """Load one stored base chunk into ``counts``."""
    data = bytes(data)
    if len(data) != 4 << CHUNK_BITS:               # stored compressed (chunk_of)
        data = zlib.decompress(data)
    counts[chunk << CHUNK_BITS:(chunk + 1) << CHUNK_BITS] = np.frombuffer(data, "<i4")


def chunks():
    return range(1 << (COUNT_BITS - CHUNK_BITS))


def touched_chunks(data):
    """The base chunks a delta row changes."""
    pairs = np.frombuffer(bytes(data), _DELTA)
    return np.unique(pairs["bucket"] >> CHUNK_BITS).tolist()
