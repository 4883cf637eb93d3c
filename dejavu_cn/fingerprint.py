"""Spectrogram -> peaks -> landmarks (peak pairs or triplets) -> hashes.

Pure array code: samples in, arrays out. The work is done by
:class:`StreamingFingerprinter`, which takes audio in pieces of any size and
gives exactly the hashes a single pass over the whole signal would give, so a
two-hour file is fingerprinted in constant memory and a microphone stream is
fingerprinted incrementally. :func:`fingerprint` is the one-shot form.

Peaks are local maxima of the power spectrogram (a maximum filter in two
passes, see :func:`window_max`) that stand within ``peak_dynamic_range`` dB
of the loudest bin nearby and, per second of audio, are among the
``peaks_per_second`` strongest; only the peaks are taken to dB. Every test
is relative, so a louder or quieter copy of the same audio gives the same
peaks: loudness does not change how many hashes a second of audio gives.
``peak_floor`` only silences digital silence.
"""
import functools
from dataclasses import dataclass

import numpy as np
from scipy.fft import rfft

from .columns import Columns
from .hashing import HASH_BYTES, hash_landmarks, unique_rows
from .sketch import SKETCH_BITS, band_edges, band_energy, sketch_words

_DB_EPS = 1e-20


@dataclass
class Fingerprints(Columns):
    """Hashes of one signal.

    Attributes
    ----------
    hashes : np.ndarray, shape (n, 10), uint8
    offsets : np.ndarray, shape (n,), int32
        Frame of each hash's anchor peak (seconds = offset * hop / rate).
    """

    hashes: np.ndarray
    offsets: np.ndarray

    _FIELDS = ("hashes", "offsets")

    @classmethod
    def empty(cls):
        return cls(np.zeros((0, HASH_BYTES), np.uint8), np.zeros(0, np.int32))


@dataclass
class Landmarks(Columns):
    """Landmarks before hashing, int64 arrays of one length: ``f1``, ``f2``
    (bins), ``dt`` (frames from the anchor to the target) and ``t1`` (anchor
    frame) of peak pairs; a triplet's second target adds ``f3`` and ``dt3``
    (both 0 for a pair)."""

    f1: np.ndarray
    f2: np.ndarray
    dt: np.ndarray
    t1: np.ndarray
    f3: np.ndarray
    dt3: np.ndarray

    _FIELDS = ("f1", "f2", "dt", "t1", "f3", "dt3")

    @classmethod
    def empty(cls):
        return cls(*(np.zeros(0, np.int64) for _ in cls._FIELDS))

    def hashed(self):
        """The :class:`Fingerprints` of these landmarks."""
        if len(self) == 0:
            return Fingerprints.empty()
        if self.dt3.any():        # one analysis gives one kind (a triplet's dt3 is >= 1, a pair's 0)
            hashes = hash_landmarks(self.f1, self.f2, self.dt, self.f3, self.dt3)
        else:
            hashes = hash_landmarks(self.f1, self.f2, self.dt)
        return Fingerprints(hashes, self.t1.astype(np.int32))


@dataclass
class Peaks(Columns):
    """Spectral peaks: ``frames`` and ``bins`` (int32), ``strengths`` (dB
    re full scale, float32) and ``scores`` (dB, float32: how well the peak
    stands out, see :class:`StreamingFingerprinter`)."""

    frames: np.ndarray
    bins: np.ndarray
    strengths: np.ndarray
    scores: np.ndarray

    _FIELDS = ("frames", "bins", "strengths", "scores")

    @classmethod
    def empty(cls):
        return cls(np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.float32), np.zeros(0, np.float32))


def band_bins(params):
    """The [low, high) FFT bins searched for peaks."""
    bin_hz = params.sample_rate / params.window_size
    low = max(1, int(np.ceil(params.min_frequency / bin_hz)))
    high = min(params.window_size // 2 + 1, int(np.floor(params.max_frequency / bin_hz)) + 1)
    return low, high


def spectrogram(samples, *, window_size, hop_size, bins=None):
    """Log-power spectrogram of a mono signal.

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
        Float samples in [-1, 1].
    window_size, hop_size : int
        Samples.
    bins : (int, int), optional
        Keep only FFT bins [low, high).

    Returns
    -------
    np.ndarray, shape (frames, bins), float32
        dB relative to a full-scale sine; frame ``i`` covers samples
        ``[i * hop_size, i * hop_size + window_size)``.
    """
    power = power_spectrogram(samples, window_size=window_size, hop_size=hop_size, bins=bins)
    np.log10(power, out=power)
    power *= np.float32(10.0)
    return power


def power_spectrogram(samples, *, window_size, hop_size, bins=None):
    """As :func:`spectrogram`, in linear power (a full-scale sine is 1; plus
    1e-20, so that every bin has a finite log)."""
    samples = np.asarray(samples, dtype=np.float32)
    n_frames = 0 if samples.size < window_size else 1 + (samples.size - window_size) // hop_size
    low, high = bins if bins is not None else (0, window_size // 2 + 1)
    if n_frames == 0:
        return np.zeros((0, high - low), dtype=np.float32)
    window = _hann(window_size)
    frames = np.lib.stride_tricks.sliding_window_view(samples, window_size)[::hop_size][:n_frames]
    spectrum = rfft(frames * window, axis=1)[:, low:high]
    power = np.square(spectrum.real)
    power += np.square(spectrum.imag)
    power *= np.float32(4.0 / float(window.sum()) ** 2)   # full-scale sine -> 0 dB
    power += np.float32(_DB_EPS)
    return power


@functools.lru_cache(maxsize=8)
def _hann(window_size):
    window = np.hanning(window_size).astype(np.float32)
    window.flags.writeable = False
    return window


LOBE_BINS = 2        # bins either side that belong to a peak's own main lobe (a Hann window's is 4 bins wide,
                     # whatever its size)


def lobe_frames(params):
    """Frames either side that belong to a peak's own main lobe in time: a
    Hann window's weight is mostly in its middle half, so a sound spreads
    over ``window / 2`` samples, ``window / (4 hop)`` frames either side
    (1 with the defaults, hop = window / 4); at least 1, and inside the
    peak neighbourhood."""
    spread = int(round(params.window_size / (4 * params.hop_size)))
    return max(1, min(spread, params.peak_neighborhood_time))
MAX_MARGIN_DB = 20.0  # margins are capped: beyond this a peak is as safe as it gets


def window_max(x, h, axis=0):
    """Maximum over ``h`` elements either side along ``axis`` (beyond the
    edges: -inf).

    The same values as ``maximum_filter1d(x, 2 * h + 1, axis=axis,
    mode="constant", cval=-inf)``, from about log2(2 h + 1) whole-array
    ``np.maximum`` calls (the maximum over 2k elements is the maximum of two
    overlapping maxima over k): scipy filters line by line, several times
    slower for the small windows used here."""
    x = np.asarray(x)
    if h <= 0:
        return x.copy()
    width = 2 * h + 1

    def cut(a, start, stop):
        index = [slice(None)] * a.ndim
        index[axis] = slice(start, stop)
        return a[tuple(index)]

    shape = list(x.shape)
    n = shape[axis] = x.shape[axis] + 2 * h
    m = np.full(shape, -np.inf, dtype=np.result_type(x.dtype, np.float32))
    cut(m, h, n - h)[...] = x

    k = 1                       # m[j] = max of k elements from j on
    while 2 * k <= width:
        m = np.maximum(cut(m, 0, n - k), cut(m, k, n))
        n -= k
        k *= 2
    if k < width:
        m = np.maximum(cut(m, 0, n - (width - k)), cut(m, width - k, n))
    return m


def _gather_max(x, rows, cols):
    """Row-wise maximum of ``x[rows, cols]`` ((n, k) index arrays), reading
    -inf outside ``x``."""
    inside = (rows >= 0) & (rows < x.shape[0]) & (cols >= 0) & (cols < x.shape[1])
    values = x[np.clip(rows, 0, x.shape[0] - 1), np.clip(cols, 0, x.shape[1] - 1)]
    return np.where(inside, values, -np.inf).max(axis=1, initial=-np.inf)


def _rank_select(peaks, keep, half_window):
    """Keep peaks that are among the ``keep`` best scored within
    ``half_window`` frames either side of themselves (ties: the earlier
    peak ranks higher).

    ``peaks`` is sorted by frame. Peaks of one frame share a window, so the
    ``keep``-th best score is found once per frame (``np.partition``) and
    only peaks that tie with it are ranked one by one. Returns a boolean mask.
    """
    n = len(peaks)
    if n == 0:
        return np.zeros(0, dtype=bool)
    frames, scores = peaks.frames, peaks.scores
    starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]])       # first peak of each frame
    lo = np.searchsorted(frames, frames[starts] - half_window, side="left")
    hi = np.searchsorted(frames, frames[starts] + half_window, side="right")
    crowded = np.flatnonzero(hi - lo > keep)
    if crowded.size == 0:
        return np.ones(n, dtype=bool)
    kth = np.full(starts.size, -np.inf, dtype=np.float32)      # the keep-th best score of each frame's window
    step = 2048
    for s0 in range(0, crowded.size, step):    # bounded memory, not a loop over peaks
        rows = crowded[s0:s0 + step]
        width = int((hi[rows] - lo[rows]).max())
        cols = lo[rows, None] + np.arange(width)[None, :]
        window = np.where(cols < hi[rows, None], scores[np.minimum(cols, n - 1)], -np.inf)
        kth[rows] = -np.partition(-window, keep - 1, axis=1)[:, keep - 1]
    group = np.cumsum(np.r_[True, frames[1:] != frames[:-1]]) - 1
    threshold = kth[group]
    mask = scores > threshold
    tied = np.flatnonzero(scores == threshold)
    if tied.size:
        mask[tied] = _stronger_counts(tied, lo[group[tied]], hi[group[tied]], scores) < keep
    return mask


def _stronger_counts(idx, lo, hi, scores):
    """For peaks ``idx`` with windows [lo, hi): how many peaks in the window
    score higher, or equal and earlier."""
    width = int((hi - lo).max())
    cols = lo[:, None] + np.arange(width)[None, :]
    valid = cols < hi[:, None]
    other = scores[np.minimum(cols, scores.size - 1)]
    mine = scores[idx, None]
    return (valid & ((other > mine) | ((other == mine) & (cols < idx[:, None])))).sum(axis=1)


def _target_zones(frames, bins, params, anchor_end):
    """Each anchor's first ``fan_value`` targets, in chunks of anchors.

    A target lies in the anchor's zone: ``min_hash_time_delta`` <= dt <=
    ``max_hash_time_delta`` frames, |f2 - f1| <= ``max_hash_freq_delta``
    bins (``frames``, ``bins``: the peaks', int64, sorted by (frame, bin)).
    Yields (anchor indices, targets), ``targets`` an (anchors, fan_value)
    array of peak indices in time order, -1 where an anchor has fewer.
    Bounded memory: a chunk is a few thousand anchors, never a loop over
    peaks."""
    n = len(frames)
    fan = params.fan_value
    reach = np.searchsorted(frames, frames[:anchor_end] + params.max_hash_time_delta, side="right")
    step = 8192
    for start in range(0, anchor_end, step):
        idx = np.arange(start, min(anchor_end, start + step))
        width = int((reach[idx] - idx).max()) if idx.size else 0
        if width <= 1:
            continue
        cols = idx[:, None] + np.arange(1, width)[None, :]
        in_range = cols < reach[idx, None]
        cols_c = np.minimum(cols, n - 1)
        dt = frames[cols_c] - frames[idx, None]
        df = bins[cols_c] - bins[idx, None]
        valid = in_range & (dt >= params.min_hash_time_delta) & (np.abs(df) <= params.max_hash_freq_delta)
        rank = np.cumsum(valid, axis=1) - 1
        valid &= rank < fan
        targets = np.full((idx.size, fan), -1, np.int64)
        rows, cs = np.nonzero(valid)
        targets[rows, rank[rows, cs]] = cols_c[rows, cs]
        yield idx, targets


def landmark_peaks(peaks, params, *, anchor_end=None):
    """The landmarks of ``peaks`` (sorted by (frame, bin)): each anchor with
    each of its first ``fan_value`` targets (``params.landmark`` "pair"), or
    with each two of them (``"triplet"``: fan_value * (fan_value - 1) / 2 per
    anchor, a key space about 10^5 times larger, so a hash's rows stop
    growing with the library). Only anchors with index < ``anchor_end`` are
    used (all by default).

    Returns
    -------
    Landmarks
        Sorted by anchor, then by target (pairs) or target combination.
    """
    n = len(peaks)
    anchor_end = n if anchor_end is None else anchor_end
    if n < 2 or anchor_end <= 0:
        return Landmarks.empty()
    frames, bins = peaks.frames.astype(np.int64), peaks.bins.astype(np.int64)
    triplet = params.landmark == "triplet"
    fan = params.fan_value
    combos = [(i, j) for i in range(fan) for j in range(i + 1, fan)] if triplet else [(i, 0) for i in range(fan)]
    first, second = (np.array(c, np.int64) for c in zip(*combos))     # fan >= 2 for triplets: never empty
    out = []
    for idx, targets in _target_zones(frames, bins, params, anchor_end):
        b = targets[:, first]
        c = targets[:, second] if triplet else np.zeros_like(b)
        ok = (b >= 0) & (c >= 0)
        rows, k = np.nonzero(ok)                              # row-major: by anchor, then combination
        a, b, c = idx[rows], b[rows, k], c[rows, k]
        f3 = bins[c] if triplet else np.zeros(a.size, np.int64)
        dt3 = frames[c] - frames[a] if triplet else np.zeros(a.size, np.int64)
        out.append(Landmarks(bins[a], bins[b], frames[b] - frames[a], frames[a], f3, dt3))
    return Landmarks.concat(out)


class StreamingFingerprinter:
    """Fingerprint audio that arrives in pieces.

    ``feed(samples)`` returns the hashes that became final with that piece;
    ``flush()`` returns the rest. The concatenation equals
    ``fingerprint(all_samples)`` whatever the piece sizes. Offsets count
    frames from the first sample fed. ``feed_landmarks`` and
    ``flush_landmarks`` do the same but return the pairs unhashed
    (:class:`Landmarks`), so that many can be hashed at once.

    Parameters
    ----------
    params : FingerprintParams
    keep_peaks : bool
        Also collect the selected peaks in ``self.peaks`` (for plots).
    keep_sketch : False, "song" or "query"
        Also collect the band energies of the sketch of a song registered
        or of a query; :meth:`sketch` gives it once the audio is flushed
        (see :mod:`dejavu_cn.sketch`: the two sides' filler bits differ).
    """

    def __init__(self, params, *, keep_peaks=False, keep_sketch=False):
        self.p = params
        self.low, self.high = band_bins(params)
        # the spectrogram keeps F bins either side of the band, so a band-edge
        # bin is only a peak if it beats its out-of-band neighbours too
        self.spec_low = max(0, self.low - params.peak_neighborhood_freq)
        self.spec_high = min(params.window_size // 2 + 1, self.high + params.peak_neighborhood_freq)
        self.T = params.peak_neighborhood_time
        self.F = params.peak_neighborhood_freq
        self.lobe = lobe_frames(params)
        self.W = int(round(params.peak_level_seconds / params.frame_seconds()))   # level window, frames either side
        self.context = max(self.T, self.W)
        self.rank_half = int(round(0.5 / params.frame_seconds()))      # +-0.5 s window for the per-second cap
        self.rank_keep = max(1, int(round(params.peaks_per_second)))
        self.floor_power = np.float32(10.0 ** (params.peak_floor / 10.0))             # dB tests as power ratios
        self.range_ratio = np.float32(10.0 ** (-params.peak_dynamic_range / 10.0))
        self.keep_peaks = keep_peaks
        self.kept_peaks = []
        if keep_sketch not in (False, None, "song", "query"):
            raise ValueError(f"keep_sketch must be False, 'song' or 'query', not {keep_sketch!r}")
        self._sketch_edges = band_edges(params) if keep_sketch else None
        self._sketch_side = keep_sketch or None
        self._sketch_taken = 0                   # sketch words take_sketch() returned
        self._energy = []
        self.samples_fed = 0
        self._samples = np.zeros(0, np.float32)  # samples from frame self._next_frame on
        self._next_frame = 0                     # first frame not yet computed
        self._spec = np.zeros((0, self.spec_high - self.spec_low), np.float32)   # linear power
        self._spec_start = 0                     # frame index of self._spec[0]
        self._power = np.zeros(0, np.float64)    # mean in-band power of each frame (linear)...
        self._power_start = 0                    # ...from this frame on
        self._cand_done = 0                      # candidates are final for frames < this
        self._cands = Peaks.empty()              # candidate peaks not yet ranked (plus context)
        self._sel_done = 0                       # selection is final for frames < this
        self._sel = Peaks.empty()                # selected peaks not yet used as anchors (plus targets)
        self._flushed = False

    @property
    def lag_frames(self):
        """Frames of audio after an anchor frame needed before its hashes are
        final: candidates need ``context`` frames after them, the per-second
        cap ``rank_half`` frames of candidates, pairs ``max_hash_time_delta``
        frames of selected peaks."""
        return self.context + self.rank_half + self.p.max_hash_time_delta

    def feed(self, samples):
        return self.feed_landmarks(samples).hashed()

    def flush(self):
        return self.flush_landmarks().hashed()

    def feed_landmarks(self, samples, *, last=False):
        """``last``: no more samples follow (as ``flush_landmarks`` after this
        piece, with each stage run once)."""
        if self._flushed:
            raise RuntimeError("feed() after flush()")
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        self.samples_fed += samples.size
        self._samples = np.concatenate([self._samples, samples]) if self._samples.size else samples
        self._compute_frames()
        self._flushed = last
        return self._advance(final=last)

    def flush_landmarks(self):
        if self._flushed:
            return Landmarks.empty()
        self._flushed = True
        return self._advance(final=True)

    # -- stages -----------------------------------------------------------
    def _compute_frames(self):
        p = self.p
        spec = power_spectrogram(self._samples, window_size=p.window_size, hop_size=p.hop_size,
                                 bins=(self.spec_low, self.spec_high))
        if spec.shape[0]:
            power = spec[:, self.low - self.spec_low:self.high - self.spec_low].mean(axis=1, dtype=np.float64)
            self._power = np.concatenate([self._power, power])
            if self._sketch_edges is not None:
                self._energy.append(band_energy(spec, self.spec_low, self._sketch_edges))
            self._spec = np.concatenate([self._spec, spec]) if self._spec.shape[0] else spec
            self._next_frame += spec.shape[0]
            self._samples = self._samples[spec.shape[0] * p.hop_size:].copy()

    def _advance(self, final):
        end = self._next_frame
        # 1. candidates: local maxima need T frames of context on each side, the level W
        cand_end = end if final else end - self.context
        if cand_end > self._cand_done:
            self._find_candidates(self._cand_done, cand_end)
            self._cand_done = cand_end
        # 2. selection: the rank window needs rank_half frames of candidates each side
        sel_end = self._cand_done if final else self._cand_done - self.rank_half
        if sel_end > self._sel_done:
            self._select(self._sel_done, sel_end)
            self._sel_done = sel_end
        # 3. pairs: an anchor needs max_hash_time_delta frames of selected peaks after it
        pair_end = self._sel_done if final else self._sel_done - self.p.max_hash_time_delta
        return self._pair(pair_end)

    def _find_candidates(self, start, end):
        T, F, p = self.T, self.F, self.p
        lo = max(self._spec_start, start - T)
        slab = self._spec[lo - self._spec_start:min(self._next_frame, end + T) - self._spec_start]
        if slab.shape[0] == 0:
            return
        # the 2-D maximum filter as its two 1-D passes: the margins reuse the first
        across = window_max(slab, F, axis=1)
        local_max = window_max(across, T, axis=0)
        band = slab[:, self.low - self.spec_low:self.high - self.spec_low]    # DC and rumble do not set the range
        loudest = window_max(band.max(axis=1), T)
        # the spectrogram is linear power: the tests below are the dB ones as
        # ratios, and only the peaks found are taken to dB
        is_peak = ((slab == local_max) & (slab > self.floor_power)
                   & (slab >= loudest[:, None] * self.range_ratio))
        in_band = is_peak[start - lo:end - lo, self.low - self.spec_low:self.high - self.spec_low]
        rows, cols = np.nonzero(in_band)
        r = rows + (start - lo)
        c = cols + (self.low - self.spec_low)
        strengths = np.float32(10.0) * np.log10(slab[r, c])
        scores = strengths - self._level_db(rows + start) + p.peak_margin_weight * self._margins(slab, across, r, c)
        found = Peaks((rows + start).astype(np.int32), (c + self.spec_low).astype(np.int32), strengths,
                      scores.astype(np.float32))
        self._cands = Peaks.concat([self._cands, found])
        # keep the context the next candidate frame needs
        drop = max(0, end - T - self._spec_start)
        if drop:
            self._spec = self._spec[drop:]
            self._spec_start += drop
        drop = max(0, end - self.W - self._power_start)
        if drop:
            self._power = self._power[drop:]
            self._power_start += drop

    def _level_db(self, frames):
        """Mean in-band power (dB) over ``W`` frames either side of each frame."""
        if self.W == 0 or frames.size == 0:
            return np.zeros(frames.size, np.float32)
        csum = np.concatenate([[0.0], np.cumsum(self._power)])
        lo = np.clip(frames - self.W - self._power_start, 0, self._power.size)
        hi = np.clip(frames + self.W + 1 - self._power_start, 0, self._power.size)
        mean = (csum[hi] - csum[lo]) / np.maximum(hi - lo, 1)
        return (10.0 * np.log10(mean + _DB_EPS)).astype(np.float32)

    def _margins(self, slab, across, r, c):
        """dB by which each peak at (``r``, ``c``) of ``slab`` beats the rest
        of its neighbourhood (T frames, F bins either side) outside its own
        main lobe (``self.lobe`` frames, LOBE_BINS bins either side).

        That ring is two bands: the frames beyond the lobe, all 2F+1 bins
        (``across``, the maximum over +-F bins, read at those frames), and the
        lobe's own frames, the bins beyond the lobe (the maximum over
        +-``self.lobe`` frames, read at those bins): a dozen reads per peak.
        """
        if self.p.peak_margin_weight == 0 or r.size == 0:
            return np.zeros(r.size, np.float32)
        T, F, lobe = self.T, self.F, self.lobe
        rows = r[:, None] + np.r_[-T:-lobe, lobe + 1:T + 1]
        best = _gather_max(across, rows, np.broadcast_to(c[:, None], rows.shape))
        cols = c[:, None] + np.r_[-F:-LOBE_BINS, LOBE_BINS + 1:F + 1]
        if cols.shape[1]:
            lobe_rows = window_max(slab, lobe, axis=0)
            best = np.maximum(best, _gather_max(lobe_rows, np.broadcast_to(r[:, None], cols.shape), cols))
        with np.errstate(divide="ignore"):        # nothing around (a one-frame signal): as safe as it gets
            ratio = slab[r, c] / np.maximum(best, np.float32(0.0))
        return np.minimum(np.float32(10.0) * np.log10(ratio), np.float32(MAX_MARGIN_DB))

    def _select(self, start, end):
        mask = _rank_select(self._cands, self.rank_keep, self.rank_half)
        frames = self._cands.frames
        chosen = self._cands.select(mask & (frames >= start) & (frames < end))
        self._sel = Peaks.concat([self._sel, chosen])
        if self.keep_peaks and len(chosen):
            self.kept_peaks.append(chosen)
        self._cands = self._cands.select(frames >= end - self.rank_half)

    def _pair(self, pair_end):
        sel = self._sel
        n_anchor = int(np.searchsorted(sel.frames, pair_end, side="left"))
        if n_anchor <= 0:
            return Landmarks.empty()
        marks = landmark_peaks(sel, self.p, anchor_end=n_anchor)
        self._sel = sel.select(np.arange(len(sel)) >= n_anchor)
        return marks

    @property
    def peaks(self):
        return Peaks.concat(self.kept_peaks)

    def sketch(self):
        """The sketch of all the audio fed (``keep_sketch`` only): as
        :func:`sketch_of` the whole signal."""
        energy = np.concatenate(self._energy) if self._energy else np.zeros((0, SKETCH_BITS + 1), np.float32)
        return self._words(energy)

    def _words(self, energy):
        return sketch_words(energy, self.p.sketch_smoothing_frames, levels=self.p.sketch_levels,
                            side=self._sketch_side, first=self._sketch_taken)

    def take_sketch(self):
        """The sketch words that became computable since the last call
        (``keep_sketch`` only), in order; the band energies they used are
        dropped but the ``sketch_smoothing_frames`` the next word needs, so
        a long stream keeps 4 bytes a frame (the words), not the energies.
        The words of all the calls, concatenated, are :meth:`sketch`'s
        (which, after this, covers only what was not taken)."""
        if not self._energy:
            return np.zeros(0, np.uint32)
        energy = np.concatenate(self._energy)
        words = self._words(energy)
        self._energy = [energy[words.size:]]
        self._sketch_taken += words.size
        return words


def landmarks(samples, params):
    """Peak pairs of a whole signal (mono float32 at ``params.sample_rate``)."""
    return StreamingFingerprinter(params).feed_landmarks(samples, last=True)


def fingerprint(samples, params):
    """Hashes of a whole signal (mono float32 at ``params.sample_rate``)."""
    return landmarks(samples, params).hashed()


def sketch_of(samples, params, *, side="song"):
    """The band-energy sketch of a whole signal (see :mod:`dejavu_cn.sketch`),
    as a registered song's (``side="song"``) or a query's."""
    edges = band_edges(params)
    power = power_spectrogram(samples, window_size=params.window_size, hop_size=params.hop_size,
                              bins=(int(edges[0]), int(edges[-1])))
    return sketch_words(band_energy(power, int(edges[0]), edges), params.sketch_smoothing_frames,
                        levels=params.sketch_levels, side=side)


def drop_repeated(fps, max_repeats):
    """The fingerprints of a song to store: without the hashes the song holds
    at more than ``max_repeats`` places (0: keep all).

    A hash a song repeats all over (a drone, a bass line, a loop) matches a
    clip at every one of those places at once: it says the clip may be this
    song but not where, and each copy is a chance vote for a wrong
    alignment. Dropping them shrinks the index and the lookups.
    """
    if not max_repeats or len(fps) == 0:
        return fps
    rows, new_hash = unique_rows(fps.hashes, fps.offsets)             # one row per (hash, offset)
    group = np.cumsum(new_hash) - 1
    counts = np.bincount(group)
    rows = rows[counts[group] <= max_repeats]
    return Fingerprints(fps.hashes[rows], fps.offsets[rows].astype(np.int32))


def find_peaks(samples, params):
    """The selected peaks of a whole signal (for plots and tests)."""
    fp = StreamingFingerprinter(params, keep_peaks=True)
    fp.feed(samples)
    fp.flush()
    return fp.peaks
