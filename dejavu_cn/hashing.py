"""Landmark hashes: peak pairs and peak triplets.

Layout of a pair's pre-image (6 bytes, all big-endian unsigned 16-bit)::

    bytes 0-1  f1  frequency bin of the anchor peak
    bytes 2-3  f2  frequency bin of the target peak
    bytes 4-5  dt  frames from anchor to target (1 .. max_hash_time_delta)

A triplet's (``fingerprint.landmark = "triplet"``: an anchor and two of its
targets) adds ``f3`` and ``dt3``, the second target's bin and frames from
the anchor (dt < dt3, or dt == dt3 and f2 < f3), in 10 bytes (f1, f2, f3, dt,
dt3). The two lengths never give the same pre-image.

The stored hash is SHA-1 of the pre-image, truncated to its first 10 bytes
(``BINARY(10)``), as in worldveil/dejavu (which hashed the text "f1|f2|dt").
SHA-1 is not invertible, so :func:`unpack_preimage` inverts the pre-image and
:func:`hash_landmarks` is checked against :mod:`hashlib` in the tests.

SHA-1 is computed in numpy for many messages at once: the loops below run over
SHA-1's 80 rounds, never over pairs.
"""
import hashlib
import threading

import numpy as np

HASH_BYTES = 10
PREIMAGE_BYTES = 6            # a pair's; a triplet's is TRIPLET_PREIMAGE_BYTES
TRIPLET_PREIMAGE_BYTES = 10
_TRIPLET_CODE = 1 << 62      # tags a triplet's code (see hash_landmarks) apart from every pair's
_CHUNK = 1 << 16   # messages per numpy SHA-1 pass (80 x 4 bytes of schedule each)
_H0 = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)


def pack_preimage(*fields):
    """Pre-images, shape (n, 2 * len(fields)) uint8, from integer arrays:
    (f1, f2, dt) for pairs, (f1, f2, f3, dt, dt3) for triplets."""
    words = [np.asarray(a, dtype=np.uint16) for a in fields]
    return np.stack(words, axis=1).astype(">u2").view(np.uint8).reshape(-1, 2 * len(words))


def unpack_preimage(preimages, width=PREIMAGE_BYTES):
    """Inverse of :func:`pack_preimage`: a tuple of int arrays."""
    words = np.ascontiguousarray(preimages, dtype=np.uint8).reshape(-1, width).view(">u2")
    return tuple(words[:, k].astype(np.int64) for k in range(width // 2))


def _rotl(x, n):
    return (x << np.uint32(n)) | (x >> np.uint32(32 - n))


def sha1_rows(messages):
    """SHA-1 of each row of a (n, L) uint8 array, L <= 55 (one block each).

    Returns
    -------
    np.ndarray, shape (n, 20), uint8
    """
    messages = np.ascontiguousarray(messages, dtype=np.uint8)
    if messages.ndim != 2 or messages.shape[1] > 55:
        raise ValueError("messages must be a (n, L) array with L <= 55")
    out = np.empty((messages.shape[0], 20), dtype=np.uint8)
    for start in range(0, messages.shape[0], _CHUNK):
        out[start:start + _CHUNK] = _sha1_block(messages[start:start + _CHUNK])
    return out


def _sha1_block(messages):
    n, length = messages.shape
    block = np.zeros((n, 64), dtype=np.uint8)
    block[:, :length] = messages
    block[:, length] = 0x80
    block[:, 56:64] = np.frombuffer(np.array([length * 8], dtype=">u8").tobytes(), dtype=np.uint8)
    w = [np.ascontiguousarray(col) for col in block.view(">u4").astype(np.uint32).T]
    for t in range(16, 80):
        w.append(_rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1))
    a, b, c, d, e = (np.full(n, h, dtype=np.uint32) for h in _H0)
    with np.errstate(over="ignore"):
        for t in range(80):
            if t < 20:
                f, k = (b & c) | (~b & d), 0x5A827999
            elif t < 40:
                f, k = b ^ c ^ d, 0x6ED9EBA1
            elif t < 60:
                f, k = (b & c) | (b & d) | (c & d), 0x8F1BBCDC
            else:
                f, k = b ^ c ^ d, 0xCA62C1D6
            temp = _rotl(a, 5) + f + e + np.uint32(k) + w[t]
            e, d, c, b, a = d, c, _rotl(b, 30), a, temp
        digest = np.stack([a + np.uint32(_H0[0]), b + np.uint32(_H0[1]), c + np.uint32(_H0[2]),
                           d + np.uint32(_H0[3]), e + np.uint32(_H0[4])], axis=1)
    return digest.astype(">u4").view(np.uint8).reshape(n, 20)


SMALL_BATCH = 2048   # fewer distinct pre-images than this: hashlib per message beats numpy's 80 fixed rounds


class _RecentHashes:
    """Direct-mapped cache of recent small-batch hashes (pre-image code ->
    truncated hash), shared by the threads of a process.

    Queries, microphone pieces and uploads come in small batches whose
    pre-images repeat from one query to the next (the common peak pairs of
    music); a cached one is a numpy gather instead of a hashlib call.
    4.7 MB, allocated on first use. A slot holds the last pre-image that
    mapped to it, so an answer is always that pre-image's hash."""

    SLOTS = 1 << 18

    def __init__(self):
        self._lock = threading.Lock()
        self._codes = None
        self._hashes = None

    def get(self, codes, preimages):
        """Hashes of distinct ``codes`` (int64) with ``preimages`` (n, L) uint8."""
        bits = self.SLOTS.bit_length() - 1           # Fibonacci hashing: the top bits of code * 2^64 / phi
        slots = ((codes.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - bits)).astype(np.int64)
        with self._lock:
            if self._codes is None:
                self._codes = np.full(self.SLOTS, -1, np.int64)
                self._hashes = np.zeros((self.SLOTS, HASH_BYTES), np.uint8)
            out = self._hashes[slots]
            miss = np.flatnonzero(self._codes[slots] != codes)
            if miss.size:
                flat, width = preimages[miss].tobytes(), preimages.shape[1]
                digests = b"".join([hashlib.sha1(flat[i:i + width]).digest()[:HASH_BYTES]
                                    for i in range(0, len(flat), width)])
                out[miss] = np.frombuffer(digests, np.uint8).reshape(-1, HASH_BYTES)
                # one pre-image per slot (numpy does not say which of repeated indices an assignment keeps)
                _, once = np.unique(slots[miss], return_index=True)
                keep = miss[once]
                self._codes[slots[keep]] = codes[keep]
                self._hashes[slots[keep]] = out[keep]
        return out


_recent = _RecentHashes()


def hash_landmarks(f1, f2, dt, f3=None, dt3=None):
    """Truncated SHA-1 hashes of peak pairs (``f3``, ``dt3`` None) or triplets.

    Each distinct pre-image is hashed once (a query analysed at several
    start points, or a song's held notes, repeat many); small batches go
    through a cache of recent hashes.

    Returns
    -------
    np.ndarray, shape (n, 10), uint8
    """
    fields = (f1, f2, dt) if f3 is None else (f1, f2, f3, dt, dt3)
    preimages = pack_preimage(*fields)
    if len(preimages) == 0:
        return np.zeros((0, HASH_BYTES), np.uint8)
    words = preimages.view(">u2").astype(np.int64)
    if f3 is None:
        codes = (words[:, 0] << 32) | (words[:, 1] << 16) | words[:, 2]
    else:       # bins < 4096 and frames < 256 (FingerprintParams.validate): 52 bits, and the triplet tag
        codes = (_TRIPLET_CODE | (words[:, 0] << 40) | (words[:, 1] << 28) | (words[:, 2] << 16)
                 | (words[:, 3] << 8) | words[:, 4])
    once, inverse = np.unique(codes, return_inverse=True)
    first = np.empty(once.size, np.int64)
    first[inverse] = np.arange(codes.size)
    unique_pre = preimages[first]
    if once.size < SMALL_BATCH:
        hashed = _recent.get(once, unique_pre)
    else:
        hashed = sha1_rows(unique_pre)[:, :HASH_BYTES]
    return hashed[inverse.reshape(-1)]


def distinct(*arrays):
    """The sorted distinct values of one or more 1-D arrays (their union).

    ``np.unique`` and ``np.union1d`` without an index or counts asked for
    take a hash-table path in numpy 2.3 and later that is 5-10 times slower
    than sorting on the integer keys used here (15 k query keys: 5.7 against
    0.7 ms; 1 M: 1.6 s against 30 ms)."""
    values = np.concatenate([np.asarray(a).reshape(-1) for a in arrays]) if len(arrays) > 1 \
        else np.asarray(arrays[0]).reshape(-1)
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if values.size else values


def hash_keys(hashes):
    """The first 8 bytes of each (n, 10) hash as uint64: a sortable key that
    is unique among the hashes of one query for all practical purposes."""
    hashes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, HASH_BYTES)
    return np.ascontiguousarray(hashes[:, :8]).view(">u8").reshape(-1).astype(np.uint64)


def unique_rows(hashes, offsets):
    """Indices of the distinct (hash, offset) rows, sorted by hash bytes then
    offset (numeric sort keys: several times faster than sorting 10-byte
    records).

    Returns
    -------
    np.ndarray of int
        Index into ``hashes`` / ``offsets`` of one row per distinct pair.
    np.ndarray of bool
        Per returned row: it starts a new hash.
    """
    hashes = np.ascontiguousarray(hashes, dtype=np.uint8).reshape(-1, HASH_BYTES)
    offsets = np.asarray(offsets).reshape(-1)
    if len(hashes) == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool)
    high = hash_keys(hashes)
    low = np.ascontiguousarray(hashes[:, 8:]).view(">u2").reshape(-1)
    if offsets.min() >= 0 and offsets.max() < 1 << 47:      # (low, offset) in one key: a third faster
        order = np.lexsort(((low.astype(np.int64) << 47) | offsets.astype(np.int64), high))
    else:
        order = np.lexsort((offsets, low, high))
    h, l_, o = high[order], low[order], offsets[order]
    new_hash = np.r_[True, (h[1:] != h[:-1]) | (l_[1:] != l_[:-1])]
    first = new_hash | np.r_[True, o[1:] != o[:-1]]
    return order[first], new_hash[first]


def hashes_to_bytes(hashes):
    """(n, 10) uint8 to a list of ``bytes`` (what database drivers bind)."""
    flat = np.ascontiguousarray(hashes, dtype=np.uint8).tobytes()
    return [flat[i:i + HASH_BYTES] for i in range(0, len(flat), HASH_BYTES)]


def bytes_to_hashes(values):
    """A sequence of 10-byte ``bytes`` to an (n, 10) uint8 array."""
    if not values:
        return np.zeros((0, HASH_BYTES), dtype=np.uint8)
    return np.frombuffer(b"".join(values), dtype=np.uint8).reshape(-1, HASH_BYTES)
