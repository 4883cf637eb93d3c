"""Tables of equal-length numpy arrays: the fingerprints of a signal
(:mod:`dejavu_cn.fingerprint` builds them on :class:`Columns`) and the index
rows a lookup returns (:class:`Lookup`: the stores produce them, matching
consumes them)."""
from dataclasses import dataclass

import numpy as np


class Columns:
    """Equal-length array fields named in ``_FIELDS``, concatenated field by
    field (``empty()`` gives the zero-length instance)."""

    _FIELDS = ()

    @classmethod
    def concat(cls, parts):
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, k) for p in parts]) for k in cls._FIELDS))

    def __len__(self):
        return int(getattr(self, self._FIELDS[0]).shape[0])

    def select(self, which):
        """The rows ``which`` (a boolean mask or indices) picks, as a new table."""
        return type(self)(*(getattr(self, k)[which] for k in self._FIELDS))


@dataclass
class Lookup(Columns):
    """Database rows whose hash is among the queried ones.

    ``keys`` are the hashes' first 8 bytes as uint64 (see hashing.hash_keys).
    """

    keys: np.ndarray
    song_ids: np.ndarray
    offsets: np.ndarray

    _FIELDS = ("keys", "song_ids", "offsets")

    @classmethod
    def empty(cls):
        return cls(np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64))
