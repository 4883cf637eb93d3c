"""The two signals of a comparison, each analysed once: where its sentences
are (in samples at the analysis rate) and its normalised MFCCs; the original
also gets an in-memory fingerprint index (no database is opened)."""
import numpy as np

from dejavu_cn.fingerprint import drop_repeated, fingerprint
from dejavu_cn.hashing import hash_keys
from dejavu_cn.columns import Lookup

from .features import mfcc, normalise, sounding_frames


class Recording:
    """The recording: its sentences and, per filterbank warp in
    ``sim.warps``, its normalised MFCCs.

    Attributes
    ----------
    samples : np.ndarray, shape (n,), float32
    rate : int
        Hz.
    sentences : segmenter.Sentences
        In seconds, as :func:`segmenter.find_sentences` gave them.
    cores, padded : np.ndarray, shape (k, 2), int64
        The sentences in samples at ``rate``, without and with padding.
    hop : int
        Samples between feature frames.
    features : list of np.ndarray, shape (frames, n_mfcc)
        One per warp.
    """

    def __init__(self, samples, rate, sentences, sim, *, warps=None):
        self.samples = samples
        self.rate = rate
        self.duration = samples.size / rate                  # s
        self.sentences = sentences
        self.cores, self.padded = sentences.samples(rate)
        self.hop = sim.frame_samples(rate)[1]
        feats = mfcc(samples, rate, sim, warps=sim.warps if warps is None else warps)
        sounding = sounding_frames(self.cores, self.hop, feats[0].shape[0])
        self.features = [normalise(f, sounding) for f in feats]

    def core_frames(self, i):
        """Feature frames of sentence ``i`` without its padding (a slice)."""
        cs, ce = self.cores[i].tolist()
        return slice(cs // self.hop, max(cs // self.hop + 1, ce // self.hop))


class Original(Recording):
    """The original: as a :class:`Recording` at the unwarped filterbank only,
    plus an in-memory fingerprint index of the whole signal."""

    def __init__(self, samples, rate, sentences, cfg, sim):
        super().__init__(samples, rate, sentences, sim, warps=(1.0,))
        fps = drop_repeated(fingerprint(samples, cfg.fingerprint), cfg.fingerprint.max_hash_repeats)
        self.lookup = Lookup(keys=hash_keys(fps.hashes), song_ids=np.zeros(len(fps), np.int64),
                             offsets=fps.offsets.astype(np.int64))

    @property
    def reference(self):
        """Normalised MFCCs of the whole original, shape (frames, n_mfcc)."""
        return self.features[0]

    def fit(self, start, end):
        """Intersection over union (0..1) of [start, end) s with the original
        sentence (without padding) that overlaps it most."""
        k = self.sentence_at_seconds(start, end)
        if k is None:
            return 0.0
        cs, ce = self.cores[k] / self.rate
        union = max(ce, end) - min(cs, start)
        return float(max(0.0, min(ce, end) - max(cs, start)) / union) if union > 0 else 0.0

    def sentence_at(self, start, end):
        """Index of the original sentence overlapping [start, end) samples most, or None."""
        if self.cores.shape[0] == 0:
            return None
        overlap = np.minimum(self.padded[:, 1], end) - np.maximum(self.padded[:, 0], start)
        best = int(np.argmax(overlap))
        return best if overlap[best] > 0 else None

    def sentence_at_seconds(self, start, end):
        """:meth:`sentence_at` for [start, end) in s."""
        return self.sentence_at(int(start * self.rate), int(end * self.rate))
