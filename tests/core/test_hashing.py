import hashlib

import numpy as np

from dejavu_cn.hashing import (HASH_BYTES, bytes_to_hashes, hash_keys, hash_landmarks, hashes_to_bytes,
                               pack_preimage, sha1_rows, unpack_preimage)


def test_numpy_sha1_equals_hashlib_for_every_message_length():
    rng = np.random.default_rng(0)
    for length in (0, 1, 6, 20, 55):
        messages = rng.integers(0, 256, (300, length), dtype=np.uint8)
        digests = sha1_rows(messages)
        expected = [hashlib.sha1(bytes(m)).digest() for m in messages]
        assert [bytes(d) for d in digests] == expected


def test_hash_is_truncated_sha1_of_documented_preimage():
    h = hash_landmarks([300], [17], [5])
    preimage = (300).to_bytes(2, "big") + (17).to_bytes(2, "big") + (5).to_bytes(2, "big")
    assert bytes(h[0]) == hashlib.sha1(preimage).digest()[:HASH_BYTES]


def test_preimage_round_trip():
    rng = np.random.default_rng(1)
    f1, f2, dt = rng.integers(0, 1024, 500), rng.integers(0, 1024, 500), rng.integers(1, 256, 500)
    back = unpack_preimage(pack_preimage(f1, f2, dt))
    for a, b in zip(back, (f1, f2, dt)):
        np.testing.assert_array_equal(a, b)


def test_bytes_round_trip_keeps_trailing_zero_bytes():
    hashes = np.zeros((3, HASH_BYTES), np.uint8)
    hashes[1, 0] = 7            # ends in zero bytes: must not be stripped
    as_bytes = hashes_to_bytes(hashes)
    assert all(len(b) == HASH_BYTES for b in as_bytes)
    np.testing.assert_array_equal(bytes_to_hashes(as_bytes), hashes)


def test_hash_keys_distinguish_hashes():
    h = hash_landmarks(np.arange(1000), np.arange(1000) + 3, np.full(1000, 9))
    assert np.unique(hash_keys(h)).size == 1000


def test_hash_landmarks_equals_hashlib_on_both_paths_and_with_repeats():
    """Small batches go through hashlib, large ones through numpy; repeated
    pre-images are hashed once and copied back to every position."""
    from dejavu_cn.hashing import SMALL_BATCH
    rng = np.random.default_rng(2)
    for n in (1, 40, SMALL_BATCH + 500):
        f1, f2, dt = rng.integers(0, 600, n), rng.integers(0, 600, n), rng.integers(1, 64, n)
        f1[::3], f2[::3], dt[::3] = 5, 9, 2                              # a third of them the same pair
        want = [hashlib.sha1(bytes(p)).digest()[:HASH_BYTES] for p in pack_preimage(f1, f2, dt)]
        assert hashes_to_bytes(hash_landmarks(f1, f2, dt)) == want
        assert hashes_to_bytes(hash_landmarks(f1, f2, dt)) == want          # small batches again: from the cache
    assert hash_landmarks([], [], []).shape == (0, HASH_BYTES)


def test_triplet_hashes_equal_hashlib_and_never_meet_pairs():
    from dejavu_cn.hashing import SMALL_BATCH, TRIPLET_PREIMAGE_BYTES, unpack_preimage
    rng = np.random.default_rng(3)
    for n in (30, SMALL_BATCH + 100):
        f1, f2, f3 = rng.integers(0, 4095, n), rng.integers(0, 600, n), rng.integers(0, 600, n)
        dt = rng.integers(1, 200, n)
        dt3 = dt + rng.integers(0, 55, n)
        pre = pack_preimage(f1, f2, f3, dt, dt3)
        assert pre.shape == (n, TRIPLET_PREIMAGE_BYTES)
        for got, want in zip(unpack_preimage(pre, TRIPLET_PREIMAGE_BYTES), (f1, f2, f3, dt, dt3)):
            np.testing.assert_array_equal(got, want)
        want = [hashlib.sha1(bytes(p)).digest()[:HASH_BYTES] for p in pre]
        assert hashes_to_bytes(hash_landmarks(f1, f2, dt, f3, dt3)) == want
        # the cache holds pairs and triplets side by side: a pair with the triplet's first fields is another hash
        assert hashes_to_bytes(hash_landmarks(f1, f2, dt)) != want
        assert hashes_to_bytes(hash_landmarks(f1, f2, dt, f3, dt3)) == want


def test_recent_hash_cache_answers_right_when_slots_collide(monkeypatch):
    """A tiny cache: pre-images keep evicting each other from the same slots,
    and every answer is still the pre-image's own hash."""
    from dejavu_cn import hashing
    tiny = hashing._RecentHashes()
    tiny.SLOTS = 4
    monkeypatch.setattr(hashing, "_recent", tiny)
    rng = np.random.default_rng(5)
    for _ in range(20):
        f1, f2, dt = rng.integers(0, 30, 25), rng.integers(0, 30, 25), rng.integers(1, 4, 25)
        want = [hashlib.sha1(bytes(p)).digest()[:HASH_BYTES] for p in pack_preimage(f1, f2, dt)]
        assert hashes_to_bytes(hash_landmarks(f1, f2, dt)) == want
    assert (tiny._codes >= 0).all() and tiny._codes.size == 4


def test_distinct_is_np_unique_and_union1d():
    from dejavu_cn.hashing import distinct
    rng = np.random.default_rng(11)
    for n in (0, 1, 7, 5000):
        a = rng.integers(0, 1 << 62, n, dtype=np.int64).astype(np.uint64)
        a[: n // 3] = a[-(n // 3):] if n >= 3 else a[: n // 3]          # some repeats
        b = rng.integers(0, 1 << 62, n // 2 + 1, dtype=np.int64).astype(np.uint64)
        assert np.array_equal(distinct(a), np.unique(a))
        assert np.array_equal(distinct(a, b), np.union1d(a, b)) and distinct(a, b).dtype == np.uint64
