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
* a delta row names each distinct hash by its **key**, the hash's first 32
  bits, so that it also keeps the **presence** up to date: which keys the
  index holds. Once a library holds more distinct hashes than there are
  buckets (peak triplets: from about 10 hours), nearly every bucket holds
  some and a bucket count no longer tells an absent hash from a present one;
  every query hash would then cost a seek in the index. The presence is
  stored at full resolution (table ``hash_presence``: 2^PART_BITS parts,
  each its keys' low bits as a sorted list or, when that is larger, a
  bitmap) and held by a reader as a bitmap of at least
  ``PRESENCE_BITS_PER_KEY`` bits per stored key (at most 2^32 bits, 512 MiB:
  about 1,000 hours of peak triplets), so that about one absent hash in 16
  is taken for present. Deleting songs never clears a key (a stale key
  costs a seek, never a wrong answer).

Pure array code here; :class:`~dejavu_cn.storage.base.Storage` does the SQL.
"""
import zlib

import numpy as np

from ..hashing import distinct, hash_keys

COUNT_BITS = 23                 # buckets = 2^23 = 8.4 M; int32 each: 32 MiB in memory
CHUNK_BITS = 16                 # the base is stored 2^16 buckets (256 KiB) per row: 128 rows
KEY_BITS = 32                   # a delta names a hash by its first 32 bits; so does the presence
PART_BITS = 8                   # the presence is stored in 2^8 parts (by the keys' top bits)...
LOW_BITS = KEY_BITS - PART_BITS  # ...each a set of 24-bit values
PRESENCE_BITS_PER_KEY = 16      # a reader's presence bitmap: at least this many bits per key...
PRESENCE_MIN_BITS = 16          # ...and 2^16 to 2^32 bits in all
FOLD_BYTES = 64 << 20           # a writer folds the deltas after writing this many bytes of them...
FOLD_REST_BYTES = 16 << 20      # ...and, at the end of a registration, once this many are pending
REFRESH_SECONDS = 5.0           # a reader looks for new deltas at most this often
_DELTA = np.dtype([("key", "<u4"), ("change", "<i4")])
_LIST, _BITMAP = b"L", b"B"     # the two forms of a stored presence part


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


def short_keys(hashes):
    """Each hash's first ``KEY_BITS`` bits (uint32): what deltas and the presence hold."""
    return key_short_keys(hash_keys(hashes))


def key_short_keys(keys):
    """:func:`short_keys` of hash keys (:func:`~dejavu_cn.hashing.hash_keys`)."""
    return (np.asarray(keys, np.uint64) >> np.uint64(64 - KEY_BITS)).astype(np.uint32)


def _short_buckets(short):
    return (np.asarray(short, np.uint32) >> np.uint32(KEY_BITS - COUNT_BITS)).astype(np.int64)


def delta_bytes(hashes, sign=1):
    """One delta row: the (key, change) pairs of adding (``sign`` 1) or
    removing (-1) rows with these hashes, as bytes (8 per distinct key)."""
    found, times = np.unique(short_keys(hashes), return_counts=True)
    out = np.empty(found.size, _DELTA)
    out["key"] = found
    out["change"] = times * int(sign)
    return out.tobytes()


def delta_pairs(data):
    """The (key, change) pairs of one delta row."""
    return np.frombuffer(bytes(data), _DELTA)


def empty_counts():
    return np.zeros(1 << COUNT_BITS, np.int32)


def apply_delta(counts, data):
    """Add one delta row (:func:`delta_bytes`) to ``counts`` in place."""
    pairs = delta_pairs(data)
    if pairs.size:
        np.add.at(counts, _short_buckets(pairs["key"]), pairs["change"])   # keys of a row share buckets
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
    pairs = delta_pairs(data)
    return distinct(_short_buckets(pairs["key"]) >> CHUNK_BITS).tolist()


# -- presence --------------------------------------------------------------------------
def added_keys(data):
    """The keys a delta row adds rows to (uint32)."""
    pairs = delta_pairs(data)
    return pairs["key"][pairs["change"] > 0]


def split_parts(keys):
    """``{part: sorted distinct low bits (uint32)}`` of keys (uint32)."""
    keys = distinct(np.asarray(keys, np.uint32))
    part = keys >> np.uint32(LOW_BITS)
    edges = np.flatnonzero(np.diff(part)) + 1
    return {int(group[0] >> np.uint32(LOW_BITS)): group & np.uint32((1 << LOW_BITS) - 1)
            for group in np.split(keys, edges) if group.size}


PART_HEAD = 5                   # a stored part starts with its form and its number of keys (<u4)


def encode_part(lows):
    """The stored form of one part's keys (their sorted distinct low bits):
    a head (:func:`part_keys`), then the list, difference-coded and
    compressed, or the bitmap of 2^LOW_BITS bits where the list would take
    more room (over 2^19 keys a part: about 1,000 hours of triplets)."""
    lows = np.asarray(lows, np.uint32)
    count = np.uint32(lows.size).astype("<u4").tobytes()
    if lows.size * 4 < (1 << LOW_BITS) // 8:
        gaps = np.diff(lows, prepend=np.uint32(0)).astype("<u4")
        return _LIST + count + zlib.compress(gaps.tobytes(), 1)
    flags = np.zeros(1 << LOW_BITS, bool)
    flags[lows] = True
    return _BITMAP + count + np.packbits(flags, bitorder="little").tobytes()


def part_keys(head):
    """How many keys a stored part holds, from its first ``PART_HEAD`` bytes."""
    return int(np.frombuffer(bytes(head)[1:PART_HEAD], "<u4")[0])


def _part_bitmap(data):
    """The bitmap of a part stored as one, else None."""
    return np.frombuffer(data, np.uint8, offset=PART_HEAD) if data[:1] == _BITMAP else None


def decode_part(data):
    """The sorted distinct low bits a stored part (:func:`encode_part`) holds."""
    data = bytes(data)
    bitmap = _part_bitmap(data)
    if bitmap is None:
        return np.cumsum(np.frombuffer(zlib.decompress(data[PART_HEAD:]), "<u4"), dtype=np.uint32)
    return np.flatnonzero(np.unpackbits(bitmap, bitorder="little")).astype(np.uint32)


class SortedParts:
    """Stored presence parts of keys that arrive in ascending order (a scan
    of the index by hash, or rows written in key order): each part's
    :func:`encode_part` goes to ``write(part, data)`` once the keys have
    passed it, so one part's keys are held at a time."""

    def __init__(self, write):
        self._write = write
        self.part, self.lows = None, []

    def add(self, keys):
        for part, lows in split_parts(keys).items():
            if part != self.part:
                self.close()
                self.part = part
            self.lows.append(lows)

    def close(self):
        """Write the part being collected."""
        if self.part is not None and self.lows:
            self._write(self.part, encode_part(distinct(*self.lows)))
        self.part, self.lows = None, []


class Presence:
    """Which hash keys the index holds, as a reader holds it: a bitmap of
    2^``bits`` bits, the keys' first ``bits`` bits (a key present is always
    found present; an absent one is taken for present about once in
    ``PRESENCE_BITS_PER_KEY``).

    Sized for the keys stored (:meth:`sized`), then filled one stored
    part at a time (:meth:`set_part`); :meth:`add` sets the keys of newer
    deltas in place (bits are only ever set, so a query running meanwhile
    sees a key either way, both safe)."""

    def __init__(self, bits, keys=0):
        self.bits = int(bits)
        self.keys = int(keys)                           # the stored keys it was sized for
        self._shift = np.uint32(KEY_BITS - self.bits)
        self._map = np.zeros(max(1, (1 << self.bits) // 8), np.uint8)

    @classmethod
    def sized(cls, keys):
        """An empty presence for ``keys`` stored keys (``PRESENCE_BITS_PER_KEY`` bits each, or more)."""
        wanted = int(np.ceil(np.log2(max(1, keys) * PRESENCE_BITS_PER_KEY)))
        return cls(min(KEY_BITS, max(PRESENCE_MIN_BITS, wanted)), keys)

    def set_part(self, part, data):
        """Mark the keys of one stored part (:func:`encode_part`) present."""
        data = bytes(data)
        span = 1 << (self.bits - PART_BITS)             # bits of one part, a whole number of bytes
        where = slice(part * span // 8, (part + 1) * span // 8)
        bitmap = _part_bitmap(data)
        if bitmap is not None and self.bits == KEY_BITS:
            self._map[where] |= bitmap                  # the stored bitmap is this one's part as it is
            return
        flags = np.zeros(span, bool)
        flags[decode_part(data) >> self._shift] = True
        self._map[where] |= np.packbits(flags, bitorder="little")

    def add(self, keys):
        """Mark ``keys`` (uint32) present."""
        at = np.asarray(keys, np.uint32) >> self._shift
        np.bitwise_or.at(self._map, at >> np.uint32(3), np.left_shift(1, at & np.uint32(7)).astype(np.uint8))

    def contains(self, keys):
        """bool per key (uint32): the index may hold it (False: it holds none)."""
        at = np.asarray(keys, np.uint32) >> self._shift
        return ((self._map[at >> np.uint32(3)] >> (at & np.uint32(7)).astype(np.uint8)) & 1).astype(bool)

    @property
    def nbytes(self):
        return int(self._map.nbytes)
