"""Silence-based sentence segmentation (pydub's ``detect_nonsilent``, in numpy).

Pure array code: a mono float signal in, sample intervals out. The signal,
filtered to the speech band (``low_hz``..``high_hz``, so hum, rumble and much
of a noise's power do not count), is measured in short frames (``frame_ms``,
level in dBFS of the frame's RMS over a ``window_ms`` window). A frame is silent when its level is below the
threshold; a run of silent frames at least ``min_silence_ms`` long separates
two sentences.

Threshold
---------
With ``relative=True`` (the default) ``silence_thresh_db`` is counted from the
recording's own loudness: the ``loudness_percentile``-th percentile of frame
levels (the level of its speech, not of its pauses), so a recording 30 dB
quieter is cut at the same places. A noisy recording whose noise floor (the
``floor_percentile``-th percentile) comes near that threshold has it raised
to ``noise_margin_db`` above the floor, but never above the midpoint between
floor and speech, and never below ``min_level_db`` (an empty recording's
hiss is not speech). With ``relative=False`` the threshold is absolute dBFS,
as in pydub.

After detection, sentences shorter than ``min_sentence_ms`` are dropped
(clicks, breaths), sentences longer than ``max_sentence_ms`` are split at
their quietest frame (recursively), and ``padding_ms`` of context is kept on
each side (never past the middle of the pause to the next sentence).

The sentences every command reports (``segment``, ``compare``, the web page)
come from :func:`find_sentences`, which always cuts at :data:`SEGMENT_RATE`
whatever rate the caller works at, so one file gives one list of sentences.
"""
import dataclasses
from dataclasses import dataclass

import numpy as np

from dejavu_cn.errors import ConfigError, ParameterError

_EPS = 1e-12
SEGMENT_RATE = 16000     # Hz; find_sentences cuts here, so every command finds the same sentences in a file
SPLIT_SMOOTH_MS = 50.0   # ms; a long sentence is split where its level averaged over this long is lowest


@dataclass(frozen=True)
class SegmentParams:
    """Segmentation parameters, every one with its unit.

    With the defaults a pause of 400 ms or more at 35 dB below the speech
    level (or 8 dB above the noise floor in a noisy recording) ends a
    sentence; sentences keep up to 300 ms of context each side, never past
    the middle of the pause, so the boundaries given lie inside the pauses
    even when the end of a sentence fades into noise.
    """

    min_silence_ms: float = 400.0      # ms; a shorter pause does not end a sentence
    silence_thresh_db: float = -35.0   # dB; relative to the loudness (relative=True) or dBFS
    relative: bool = True              # threshold relative to the recording's loudness
    loudness_percentile: float = 95.0  # % of frames quieter than the "loudness" (speech level)
    floor_percentile: float = 10.0     # % of frames quieter than the noise floor
    noise_margin_db: float = 8.0       # dB; the threshold stays at least this far above the noise floor
    min_level_db: float = -70.0        # dBFS; quieter frames are always silent (hiss of an empty recording)
    padding_ms: float = 300.0          # ms kept before and after each sentence (at most half the pause)
    min_sentence_ms: float = 200.0     # ms; shorter sounds are dropped
    max_sentence_ms: float = 15000.0   # ms; longer sentences are split at their quietest frame
    frame_ms: float = 10.0             # ms between level measurements (time resolution)
    window_ms: float = 30.0            # ms of signal per level measurement: steadier in noise than one frame
    low_hz: float = 250.0              # Hz; levels are measured in the speech band low_hz..high_hz, where
    high_hz: float = 3500.0            # speech is strongest: rumble, hiss and pink noise count less (0: off)
                                       # (edges are corrected by half the excess, (30 - 10) / 2 = 10 ms)

    def validate(self):
        """Check the values; returns ``self``.

        Raises
        ------
        ParameterError
        """
        checks = [
            (self.frame_ms > 0 and self.window_ms >= self.frame_ms, "need frame_ms > 0 and window_ms >= frame_ms"),
            (self.min_silence_ms >= self.frame_ms, "min_silence_ms must be >= frame_ms"),
            (self.padding_ms >= 0, "padding_ms must be >= 0"),
            (self.min_sentence_ms >= 0, "min_sentence_ms must be >= 0"),
            (self.max_sentence_ms > 2 * max(self.min_sentence_ms, self.frame_ms),
             "max_sentence_ms must exceed twice min_sentence_ms"),
            (0 <= self.floor_percentile < self.loudness_percentile <= 100,
             "need 0 <= floor_percentile < loudness_percentile <= 100"),
            (self.noise_margin_db >= 0, "noise_margin_db must be >= 0"),
            (self.low_hz >= 0 and self.high_hz >= 0 and (self.high_hz == 0 or self.low_hz < self.high_hz),
             "need 0 <= low_hz < high_hz (or 0 to switch a side off)"),
            (not self.relative or self.silence_thresh_db < 0,
             "a relative silence_thresh_db must be negative (dB below the loudness)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ParameterError(f"segmentation parameters: {message}")
        return self

    @classmethod
    def from_dict(cls, data):
        """Build from a dict (e.g. the ``segment`` section of config.json,
        or a caller's options), checked as the configuration checks every
        section (:func:`dejavu_cn.config.build_section`); ``None`` gives
        the defaults.

        Raises
        ------
        ParameterError
            Unknown keys, values of the wrong type or out of range.
        """
        from dejavu_cn.config import build_section
        try:
            return build_section(cls, data, "segment")
        except ConfigError as exc:          # a caller's argument, not only the configuration file
            raise ParameterError(f"segmentation parameters: {exc}") from None

    def to_dict(self):
        return dataclasses.asdict(self)


def _check_signal(samples, rate):
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim != 1:
        raise ParameterError(f"samples must be a 1-D (mono) array, not shape {samples.shape}")
    if not rate or rate <= 0:
        raise ParameterError("rate must be a positive number of Hz")
    return samples


def frame_levels(samples, rate, *, frame_ms=10.0, window_ms=30.0):
    """Level of a signal in short frames.

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
        Mono float samples in [-1, 1].
    rate : int
        Hz.
    frame_ms, window_ms : float
        ms between frames and ms of signal measured per frame (centred on the frame).

    Returns
    -------
    np.ndarray, shape (ceil(n / hop),), float64
        dBFS (RMS re full scale, so a full-scale square wave is 0 dBFS) of
        frame ``i``, which covers samples ``[i * hop, (i + 1) * hop)`` with
        ``hop = round(rate * frame_ms / 1000)``.
    """
    samples = _check_signal(samples, rate)
    hop = max(1, int(round(rate * frame_ms / 1000.0)))
    n_frames = -(-samples.size // hop)
    if n_frames == 0:
        return np.zeros(0)
    half = max(hop, int(round(rate * window_ms / 1000.0))) // 2
    energy = np.concatenate([[0.0], np.cumsum(np.square(samples, dtype=np.float64))])
    centres = np.arange(n_frames) * hop + hop // 2
    lo = np.clip(centres - half, 0, samples.size)
    hi = np.clip(centres + half, 0, samples.size)
    mean_square = (energy[hi] - energy[lo]) / np.maximum(hi - lo, 1)
    return 10.0 * np.log10(np.maximum(mean_square, 0.0) + _EPS)


def speech_band(samples, rate, params):
    """The signal filtered to ``low_hz``..``high_hz`` (zero phase, so edges do
    not move), or unchanged when both are 0.

    Returns
    -------
    np.ndarray, shape (n,), float32
    """
    samples = np.asarray(samples, dtype=np.float32)
    low = params.low_hz if params.low_hz > 0 else None
    high = min(params.high_hz, 0.45 * rate) if params.high_hz > 0 else None
    if samples.size < 64 or (low is None and high is None):
        return samples
    from scipy.signal import butter, sosfiltfilt
    if low is not None and high is not None:
        sos = butter(4, [low, high], btype="bandpass", fs=rate, output="sos")
    elif low is not None:
        sos = butter(4, low, btype="highpass", fs=rate, output="sos")
    else:
        sos = butter(4, high, btype="lowpass", fs=rate, output="sos")
    return sosfiltfilt(sos, samples, padlen=min(samples.size - 1, 3 * (2 * sos.shape[0] + 1))).astype(np.float32)


def silence_threshold(levels, params):
    """The threshold in dBFS that :func:`detect_nonsilent` applies to ``levels``.

    Returns
    -------
    float
        dBFS.
    """
    if not params.relative or levels.size == 0:
        return float(params.silence_thresh_db)
    loud = float(np.percentile(levels, params.loudness_percentile))
    floor = float(np.percentile(levels, params.floor_percentile))
    thresh = loud + params.silence_thresh_db
    if thresh < floor + params.noise_margin_db:
        thresh = min(floor + params.noise_margin_db, (floor + loud) / 2.0)
    return max(thresh, float(params.min_level_db))


def _runs(mask):
    """Start and end (exclusive) indices of the runs of True in a boolean array."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    change = np.diff(padded)
    return np.nonzero(change == 1)[0], np.nonzero(change == -1)[0]


def detect_nonsilent(samples, rate, params=None):
    """Sounding stretches of a signal, without padding or length limits.

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
        Mono float samples in [-1, 1].
    rate : int
        Hz.
    params : SegmentParams, optional

    Returns
    -------
    np.ndarray, shape (k, 2), int64
        ``[start, end)`` sample intervals, sorted, separated by pauses of at
        least ``min_silence_ms``. Empty if the whole signal is silent.
    """
    params = SegmentParams.from_dict(params)
    samples = _check_signal(samples, rate)
    levels = frame_levels(speech_band(samples, rate, params), rate, frame_ms=params.frame_ms,
                          window_ms=params.window_ms)
    hop = _hop(rate, params)
    return _to_samples(_sounding_runs(levels, params), params, hop, samples.size)


def _hop(rate, params):
    return max(1, int(round(rate * params.frame_ms / 1000.0)))


def _sounding_runs(levels, params):
    """Frame runs ``[start, end)`` that sound, pauses shorter than
    ``min_silence_ms`` filled. Returns a (k, 2) int64 array."""
    if levels.size == 0 or float(levels.max()) <= 10 * np.log10(_EPS) + 1:
        return np.zeros((0, 2), np.int64)
    sounding = levels >= silence_threshold(levels, params)
    min_gap = max(1, int(round(params.min_silence_ms / params.frame_ms)))
    starts, ends = _runs(~sounding)
    inner = (starts > 0) & (ends < levels.size) & (ends - starts < min_gap)
    for s, e in zip(starts[inner], ends[inner]):   # a few pauses, not samples: fill short gaps
        sounding[s:e] = True
    starts, ends = _runs(sounding)
    return np.stack([starts, ends], axis=1).astype(np.int64).reshape(-1, 2)


def _to_samples(runs, params, hop, n_samples, *, cut_starts=None, cut_ends=None):
    """Frame runs to sample intervals. A centred window longer than a frame
    hears a sound early and late by half the excess: edges found by the level
    test are taken back by that much (edges made by a split are not)."""
    if runs.shape[0] == 0:
        return np.zeros((0, 2), np.int64)
    excess = max(0, int(round(hop * (params.window_ms / params.frame_ms - 1) / 2)))
    n_frames = -(-n_samples // hop)
    keep_start = (runs[:, 0] == 0) | (cut_starts if cut_starts is not None else False)
    keep_end = (runs[:, 1] >= n_frames) | (cut_ends if cut_ends is not None else False)
    starts = runs[:, 0] * hop + np.where(keep_start, 0, excess)
    ends = runs[:, 1] * hop - np.where(keep_end, 0, excess)
    starts = np.minimum(starts, runs[:, 1] * hop - 1)
    ends = np.maximum(ends, starts + 1)
    return np.stack([np.maximum(starts, 0), np.minimum(ends, n_samples)], axis=1).astype(np.int64)


def _smooth_frames(frame_ms):
    """Frames in :data:`SPLIT_SMOOTH_MS` at ``frame_ms`` per frame, odd so the
    average is centred (5 at 10 ms, 3 at 20 ms, 11 at 5 ms)."""
    return max(1, int(round(SPLIT_SMOOTH_MS / frame_ms))) | 1


def _split_long(interval, levels, max_frames, min_frames, smooth_frames):
    """Split a frame interval at its quietest frame until every part fits
    (``smooth_frames``: odd length of the moving average of the levels)."""
    start, end = interval
    if end - start <= max_frames:
        return [interval]
    lo, hi = start + min_frames, end - min_frames
    if hi <= lo:
        return [interval]
    # the quietest point, smoothed over SPLIT_SMOOTH_MS so a single dip between two syllables does not win
    seg = levels[lo:hi]
    k = smooth_frames
    smooth = np.convolve(np.pad(seg, k // 2, mode="edge"), np.ones(k) / k, mode="valid")
    cut = lo + int(np.argmin(smooth))
    return (_split_long((start, cut), levels, max_frames, min_frames, smooth_frames)
            + _split_long((cut, end), levels, max_frames, min_frames, smooth_frames))


def split_sentences(samples, rate, params=None):
    """Sentences of a recording, as sample intervals with padding.

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
        Mono float samples in [-1, 1].
    rate : int
        Hz.
    params : SegmentParams or dict, optional
        See :class:`SegmentParams`.

    Returns
    -------
    np.ndarray, shape (k, 2), int64
        ``[start, end)`` sample intervals in order, not overlapping, each at
        least ``min_sentence_ms`` (before padding) and at most
        ``max_sentence_ms`` (before padding) long. Empty when nothing sounds.

    Examples
    --------
    >>> rate = 8000
    >>> tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)
    >>> x = np.concatenate([tone, np.zeros(rate), tone]).astype(np.float32)
    >>> (split_sentences(x, rate, {"padding_ms": 0}) / rate).round(2).tolist()
    [[0.0, 1.0], [2.0, 3.0]]
    """
    params = SegmentParams.from_dict(params)
    core = sentence_cores(samples, rate, params)
    return pad_intervals(core, rate, np.asarray(samples).size, params.padding_ms)


def sentence_cores(samples, rate, params=None):
    """Sentences without their padding: the sounding part of each.

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
        Mono float samples in [-1, 1].
    rate : int
        Hz.
    params : SegmentParams or dict, optional

    Returns
    -------
    np.ndarray, shape (k, 2), int64
        ``[start, end)`` sample intervals in order; see :func:`split_sentences`.
    """
    params = SegmentParams.from_dict(params)
    samples = _check_signal(samples, rate)
    hop = _hop(rate, params)
    levels = frame_levels(speech_band(samples, rate, params), rate, frame_ms=params.frame_ms,
                          window_ms=params.window_ms)
    runs = _sounding_runs(levels, params)
    max_frames = max(2, int(params.max_sentence_ms / params.frame_ms))
    min_frames = max(1, int(round(params.min_sentence_ms / params.frame_ms)))
    parts, cut_starts, cut_ends = [], [], []
    for run in runs.tolist():
        pieces = _split_long(tuple(run), levels, max_frames, min_frames, _smooth_frames(params.frame_ms))
        for s, e in pieces:
            parts.append((s, e))
            cut_starts.append(s != run[0])
            cut_ends.append(e != run[1])
    keep = [i for i, (s, e) in enumerate(parts) if e - s >= min_frames]
    if not keep:
        return np.zeros((0, 2), np.int64)
    return _to_samples(np.array([parts[i] for i in keep], np.int64), params, hop, samples.size,
                       cut_starts=np.array([cut_starts[i] for i in keep]),
                       cut_ends=np.array([cut_ends[i] for i in keep]))


def pad_intervals(intervals, rate, n_samples, padding_ms):
    """Widen intervals by ``padding_ms`` each side, without crossing the middle
    of the gap to a neighbour or the ends of the signal.

    Returns
    -------
    np.ndarray, shape (k, 2), int64
    """
    intervals = np.asarray(intervals, dtype=np.int64).reshape(-1, 2)
    if intervals.shape[0] == 0:
        return intervals.copy()
    pad = int(round(rate * padding_ms / 1000.0))
    starts = intervals[:, 0] - pad
    ends = intervals[:, 1] + pad
    middles = (intervals[1:, 0] + intervals[:-1, 1]) // 2
    starts[1:] = np.maximum(starts[1:], middles)
    ends[:-1] = np.minimum(ends[:-1], middles)
    return np.stack([np.maximum(starts, 0), np.minimum(ends, n_samples)], axis=1)


def intervals_to_seconds(intervals, rate):
    """``[{index, start, end, duration}]`` in seconds (JSON-friendly)."""
    return [{"index": i, "start": round(s / rate, 3), "end": round(e / rate, 3), "duration": round((e - s) / rate, 3)}
            for i, (s, e) in enumerate(np.asarray(intervals, dtype=np.int64).reshape(-1, 2).tolist())]


@dataclass(frozen=True)
class Sentences:
    """Where the sentences of a signal are, in seconds (so at any rate).

    ``cores[i]`` and ``padded[i]`` are sentence ``i``'s ``[start, end)``
    without and with its padding; both arrays have shape (k, 2), float64,
    in seconds from the start of the signal. Made by :func:`find_sentences`.
    """

    cores: np.ndarray          # (k, 2) s: the sounding part of each sentence
    padded: np.ndarray         # (k, 2) s: with padding_ms of context each side

    def __len__(self):
        return int(self.cores.shape[0])

    def samples(self, rate):
        """``(cores, padded)`` as ``[start, end)`` sample intervals at ``rate``
        (Hz): two int64 arrays of shape (k, 2)."""
        return (np.round(self.cores * rate).astype(np.int64).reshape(-1, 2),
                np.round(self.padded * rate).astype(np.int64).reshape(-1, 2))

    def to_list(self):
        """``[{index, start, end, duration}]`` of the padded sentences, in s
        rounded to the ms (as :func:`intervals_to_seconds`)."""
        return [{"index": i, "start": round(s, 3), "end": round(e, 3), "duration": round(e - s, 3)}
                for i, (s, e) in enumerate(self.padded.tolist())]


def find_sentences(samples, rate, params=None):
    """The sentences of a recording, as every command reports them.

    The signal is resampled to :data:`SEGMENT_RATE` if it is at another
    rate and cut there with :func:`sentence_cores` and :func:`pad_intervals`,
    so the answer does not depend on the rate the caller decoded at (up to
    the resampler's filter: decode at ``SEGMENT_RATE`` for exactly the
    sentences ``dejavu-cn segment`` gives).

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
        Mono float samples in [-1, 1].
    rate : int
        Hz.
    params : SegmentParams or dict, optional

    Returns
    -------
    Sentences
        In seconds; ``Sentences.samples(rate)`` gives sample intervals.
    """
    params = SegmentParams.from_dict(params)
    samples = _check_signal(samples, rate)
    duration = samples.size / rate                     # s
    if int(rate) != SEGMENT_RATE:
        from dejavu_cn.audio import resample
        samples = resample(samples, int(rate), SEGMENT_RATE)
    cores = sentence_cores(samples, SEGMENT_RATE, params)
    padded = pad_intervals(cores, SEGMENT_RATE, samples.size, params.padding_ms)
    return Sentences(cores=np.minimum(cores / SEGMENT_RATE, duration),
                     padded=np.minimum(padded / SEGMENT_RATE, duration))
