"""The speech recogniser: where does each sentence of a recording sit in an
original recording, and how close is it?

Both files are cut into sentences at their silences (:mod:`segmenter`). Each
sentence of the recording is then looked for in the original in two ways:

1. **Fingerprint alignment** (verdict ``"same"``): the original is
   fingerprinted once into an in-memory :class:`~dejavu_cn.storage.Lookup`
   (no database is opened), and the sentence is analysed and aligned exactly
   like a query of the engine (:func:`~dejavu_cn.matching.analyze_query`,
   :func:`~dejavu_cn.matching.align`, confidence from the chance p-value).
   A confidence at or above ``speech.same_threshold`` means the sentence is a
   copy of the original at that offset (re-encoded or noisy, but the same
   recording).
2. **MFCC + dynamic time warping** (verdict ``"similar"``): otherwise the
   sentence's MFCCs (cepstral mean and variance normalised per file, so two
   microphones compare) are aligned with subsequence DTW against the whole
   original, local slope between 1/2 and 2 (a re-speaking up to twice as fast
   or slow), once per filterbank warp in ``warps`` (vocal tract length
   normalisation, so a higher or lower voice compares). The best path is
   judged by how far it stands out from the best paths ending anywhere else
   in the original (``z``, in standard deviations: a sentence that is not in
   the original fits everywhere about equally badly) and by how well its
   span fits one sentence of the original (intersection over union). These
   give the similarity in [0, 1]; at or above ``similar_threshold`` the
   verdict is ``"similar"``, else ``"not_found"``.

   A fingerprint alignment too weak on its own (a short sentence in noise)
   whose offset falls within ``confirm_s`` of where DTW independently puts the
   sentence is judged again against only that neighbourhood instead of the
   whole original (:func:`confirmed_p_value`); if that reaches the threshold
   the verdict is ``"same"`` (method ``"fingerprint+dtw"``).

The defaults were calibrated on ``bench/speech.py``: re-spoken sentences (six
espeak-ng voices and speeds) score 0.57-1.0, sentences not in the original
(espeak-ng, and Allison's prompts against other prompts of the same speaker)
0-0.45.

Results are plain JSON-serialisable dicts; times are in seconds.
"""
import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from dejavu_cn.audio import decode_file
from dejavu_cn.config import Config
from dejavu_cn.errors import ParameterError, RecognitionError
from dejavu_cn.fingerprint import drop_repeated, fingerprint
from dejavu_cn.hashing import hash_keys
from dejavu_cn.matching import (align, analyze_query, chance_p_value, confidence_from_p,
                                query_params)
from dejavu_cn.columns import Lookup
from segmenter import SegmentParams, pad_intervals, sentence_cores

log = logging.getLogger(__name__)

VERDICTS = ("same", "similar", "not_found")


@dataclass(frozen=True)
class SpeechParams:
    """Settings of the speech comparison (the ``speech`` section of the
    configuration): MFCC, DTW and the "similar" decision.

    With the defaults: 25 ms frames every 20 ms, 26 mel bands 100-4500 Hz,
    cepstral coefficients 1-13 (c0, the loudness, is dropped).
    """

    frame_ms: float = 25.0            # ms per analysis window
    hop_ms: float = 20.0              # ms between frames (DTW cost grows with the square of frames)
    n_mels: int = 26                  # mel bands
    n_mfcc: int = 13                  # cepstral coefficients kept, after c0
    min_hz: float = 100.0             # Hz, lowest mel band edge
    max_hz: float = 4500.0            # Hz, highest mel band edge (before warping; capped at Nyquist)
    warps: tuple = (0.88, 0.94, 1.0, 1.06, 1.13, 1.2)   # filterbank warps tried on the recording (voices)
    preemphasis: float = 0.97         # first-order high-pass coefficient
    same_threshold: float = 0.3       # fingerprint confidence at or above which a sentence is "same": a chance
                                      # of 1e-3 against ONE original (the library's recognition.threshold
                                      # is set for many songs and a query's runner-up; it does not apply here)
    similar_threshold: float = 0.5    # similarity in [0, 1] at or above which a sentence is "similar"
    z_none: float = 2.5               # standard deviations the best path stands out by: similarity 0...
    z_full: float = 6.5               # ... and 1 (linear between; the threshold 0.5 sits at 4.5)
    fit_full: float = 0.8             # intersection over union of the path's span with an original
                                      # sentence at and above which the similarity is not reduced
    confirm_s: float = 0.25           # s; a fingerprint offset within this of where DTW puts the sentence
                                      # is judged against the +-0.25 s around it, not the whole original

    @classmethod
    def from_dict(cls, data):
        """Build from a dict (``None``: the defaults).

        Raises
        ------
        ParameterError
            Unknown keys, values of the wrong type or out of range.
        """
        if data is None:
            return cls()
        if isinstance(data, cls):
            return data.validate()
        if not isinstance(data, dict):
            raise ParameterError("speech parameters must be a dict")
        known = {f.name: f.default for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ParameterError(f"unknown speech parameter(s): {', '.join(unknown)}")
        try:
            params = cls(**{k: tuple(float(x) for x in v) if isinstance(known[k], tuple)
                            else bool(v) if isinstance(known[k], bool) else type(known[k])(v)
                            for k, v in data.items()})
        except (TypeError, ValueError) as exc:
            raise ParameterError(f"invalid speech parameter: {exc}") from None
        return params.validate()

    def validate(self):
        checks = [
            (0 < self.hop_ms <= self.frame_ms, "need 0 < hop_ms <= frame_ms"),
            (self.n_mels >= 2 and 1 <= self.n_mfcc < self.n_mels, "need n_mels >= 2 and 1 <= n_mfcc < n_mels"),
            (0 <= self.min_hz < self.max_hz, "need 0 <= min_hz < max_hz"),
            (len(self.warps) >= 1 and all(0.5 <= w <= 2.0 for w in self.warps), "warps must be in [0.5, 2]"),
            (0 <= self.same_threshold <= 1, "same_threshold must be in [0, 1]"),
            (0 <= self.similar_threshold <= 1, "similar_threshold must be in [0, 1]"),
            (self.z_none < self.z_full, "need z_none < z_full"),
            (0 < self.fit_full <= 1, "fit_full must be in (0, 1]"),
            (self.confirm_s >= 0, "confirm_s must be >= 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ParameterError(f"speech parameters: {message}")
        return self


# -- MFCC -------------------------------------------------------------------------
def mel_filterbank(rate, n_fft, *, n_mels=26, min_hz=100.0, max_hz=4500.0, warp=1.0):
    """Triangular mel filters (HTK mel scale), optionally frequency-warped.

    Parameters
    ----------
    rate : int
        Hz.
    n_fft : int
        FFT length in samples.
    n_mels : int
        Filters.
    min_hz, max_hz : float
        Hz, band edges before warping.
    warp : float
        Every filter edge is multiplied by this (vocal tract length
        normalisation: 1.15 reads a voice with formants 15 % higher, as a
        child's or a woman's against a man's, like the reference voice).
        Edges are capped at the Nyquist frequency.

    Returns
    -------
    np.ndarray, shape (n_mels, n_fft // 2 + 1), float64
    """
    if not 0 <= min_hz < max_hz or warp <= 0:
        raise ParameterError("need 0 <= min_hz < max_hz and warp > 0")
    mel = lambda f: 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)            # noqa: E731
    hz = lambda m: 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)           # noqa: E731
    edges = np.minimum(hz(np.linspace(mel(min_hz), mel(max_hz), n_mels + 2)) * warp, rate / 2.0)
    freqs = np.arange(n_fft // 2 + 1) * rate / n_fft
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - freqs[None, :]) / np.maximum(upper - centre, 1e-9)
    return np.maximum(0.0, np.minimum(rising, falling))


def mfcc(samples, rate, params=None, *, warps=(1.0,)):
    """Mel-frequency cepstral coefficients, for one or several frequency warps.

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
        Mono float samples.
    rate : int
        Hz.
    params : SpeechParams, optional
    warps : sequence of float
        Filterbank warp factors (see :func:`mel_filterbank`).

    Returns
    -------
    list of np.ndarray, shape (frames, n_mfcc), float64
        One per warp. Frame ``i`` starts at sample ``i * hop`` (``hop_ms``).
        Coefficients 1..n_mfcc of the orthonormal DCT-II of the log mel
        energies.
    """
    from scipy.fft import dct, rfft
    p = params or SpeechParams()
    x = np.asarray(samples, dtype=np.float64)
    win = int(round(rate * p.frame_ms / 1000.0))
    hop = max(1, int(round(rate * p.hop_ms / 1000.0)))
    if x.size < win:
        x = np.pad(x, (0, win - x.size))
    x = np.append(x[0], x[1:] - p.preemphasis * x[:-1])
    n_fft = 1 << int(np.ceil(np.log2(win)))
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop]
    power = np.abs(rfft(frames * np.hamming(win), n=n_fft, axis=1)) ** 2
    out = []
    for warp in warps:
        bank = mel_filterbank(rate, n_fft, n_mels=p.n_mels, min_hz=p.min_hz, max_hz=p.max_hz, warp=warp)
        log_mel = np.log(power @ bank.T + 1e-10)
        out.append(dct(log_mel, type=2, norm="ortho", axis=1)[:, 1:p.n_mfcc + 1])
    return out


def normalise(features, mask=None):
    """Cepstral mean and variance normalisation, statistics from the frames in ``mask``."""
    ref = features if mask is None or not mask.any() else features[mask]
    return (features - ref.mean(axis=0)) / (ref.std(axis=0) + 1e-8)


# -- DTW --------------------------------------------------------------------------
def subsequence_dtw(cost):
    """Best alignment of all of a query with some stretch of a reference.

    Steps (1, 1), (1, 2) and (2, 1) (local slope between 1/2 and 2); the
    (2, 1) step adds the skipped query frame's cost, so every path sums exactly
    one cost per query frame. Loops over query frames only; each row is one
    numpy operation over the reference.

    Parameters
    ----------
    cost : np.ndarray, shape (n, m)
        Distance between query frame ``i`` and reference frame ``j``.

    Returns
    -------
    per_end : np.ndarray, shape (m,)
        Mean cost per query frame of the best path ending at reference frame
        ``j`` (inf where none can).
    starts : np.ndarray, shape (m,), int64
        Reference frame where that path starts.
    """
    cost = np.asarray(cost)
    n, m = cost.shape
    inf = np.inf
    cols = np.arange(m)
    d1, s1 = cost[0].copy(), cols.copy()                 # row i - 1: cumulative cost, start column
    d2, s2 = np.full(m, inf), np.zeros(m, np.int64)      # row i - 2
    stack = np.empty((3, m))
    starts = np.empty((3, m), np.int64)
    for i in range(1, n):                                 # rows only: memory stays O(m)
        stack.fill(inf)
        starts.fill(0)
        stack[0, 1:], starts[0, 1:] = d1[:-1], s1[:-1]                   # step (1, 1)
        if m > 2:
            stack[1, 2:], starts[1, 2:] = d1[:-2], s1[:-2]               # step (1, 2)
        if i >= 2:
            stack[2, 1:], starts[2, 1:] = d2[:-1] + cost[i - 1, 1:], s2[:-1]   # step (2, 1)
        choice = np.argmin(stack, axis=0)
        d2, s2 = d1, s1
        d1, s1 = cost[i] + stack[choice, cols], starts[choice, cols]
    return d1 / n, s1


# -- the comparison -----------------------------------------------------------------
def _config(config):
    if config is None:
        return Config()
    if isinstance(config, Config):
        return config
    return Config.from_dict(config)


class _Original:
    """The original recording, analysed once: sentences, in-memory fingerprint
    index and normalised MFCCs."""

    def __init__(self, samples, rate, cfg, seg, sim):
        self.samples = samples
        self.rate = rate
        self.duration = samples.size / rate
        self.cores = sentence_cores(samples, rate, seg)
        self.sentences = pad_intervals(self.cores, rate, samples.size, seg.padding_ms)
        fps = drop_repeated(fingerprint(samples, cfg.fingerprint), cfg.fingerprint.max_hash_repeats)
        self.lookup = Lookup(keys=hash_keys(fps.hashes), song_ids=np.zeros(len(fps), np.int64),
                             offsets=fps.offsets.astype(np.int64))
        feats = mfcc(samples, rate, sim)[0]
        self.hop = max(1, int(round(rate * sim.hop_ms / 1000.0)))
        sounding = np.zeros(feats.shape[0], bool)
        for s, e in self.cores.tolist():
            sounding[s // self.hop:e // self.hop] = True
        self.features = normalise(feats, sounding)

    def fit(self, start, end):
        """Intersection over union (0..1) of [start, end) s with the original
        sentence (without padding) that overlaps it most."""
        k = self.sentence_at(int(start * self.rate), int(end * self.rate))
        if k is None:
            return 0.0
        cs, ce = self.cores[k] / self.rate
        union = max(ce, end) - min(cs, start)
        return float(max(0.0, min(ce, end) - max(cs, start)) / union) if union > 0 else 0.0

    def sentence_at(self, start, end):
        """Index of the original sentence overlapping [start, end) samples most, or None."""
        if self.cores.shape[0] == 0:
            return None
        overlap = np.minimum(self.sentences[:, 1], end) - np.maximum(self.sentences[:, 0], start)
        best = int(np.argmax(overlap))
        return best if overlap[best] > 0 else None


def _fingerprint_match(sentence, original, cfg):
    """Best alignment of one sentence in the original: dict or None."""
    rec = cfg.recognition
    qp = query_params(cfg.fingerprint, rec)
    query = analyze_query(sentence, qp, shifts=rec.query_shifts)
    candidates, stats = align(query, original.lookup, max_rows=rec.max_hash_rows, top=1)
    if not candidates:
        return {"confidence": 0.0, "offset_seconds": None, "aligned": 0, "p_value": 1.0}
    c = candidates[0]
    frame = cfg.fingerprint.frame_seconds()
    span = original.duration / frame + query.duration_seconds / frame
    p = chance_p_value(c.aligned_frames, c.hits, span, stats["songs_hit"])
    return {"confidence": round(confidence_from_p(p), 4), "offset_seconds": c.offset_subframes / query.shifts * frame,
            "aligned": int(c.aligned_frames), "p_value": float(f"{p:.3g}"), "hits": int(c.hits), "span_frames": span,
            "songs_hit": int(stats["songs_hit"])}


def confirmed_p_value(fp, window_frames):
    """Chance p-value of a fingerprint alignment whose offset was predicted
    independently (by DTW) to within +-``window_frames`` / 2: only the
    windows near the prediction could have produced it, not the whole span."""
    return chance_p_value(fp["aligned"], fp.get("hits", 0), fp.get("span_frames", 1.0), fp.get("songs_hit", 1),
                          searched_frames=window_frames)


def _dtw_match(query_features, original, sim):
    """Subsequence DTW of a sentence's features in the original's."""
    from scipy.spatial.distance import cdist
    n = query_features.shape[0]
    ref = original.features
    if n < 2 or ref.shape[0] < max(2, n // 2):
        return None
    cost = (cdist(query_features, ref, "euclidean") / np.sqrt(query_features.shape[1])).astype(np.float32)
    per_end, starts = subsequence_dtw(cost)
    finite = np.isfinite(per_end)
    if not finite.any():
        return None
    end = int(np.argmin(per_end))
    best = float(per_end[end])
    typical = float(np.median(per_end[finite]))
    spread = float(np.std(per_end[finite]))
    z = (typical - best) / spread if spread > 0 else 0.0
    return {"start_frame": int(starts[end]), "end_frame": end + 1, "distance": best, "z": z}


def _similarity(z, fit, sim):
    """Similarity in [0, 1] from how far the best path stands out (``z``) and
    how well its span fits one sentence of the original (``fit``, IoU)."""
    stand_out = float(np.clip((z - sim.z_none) / (sim.z_full - sim.z_none), 0.0, 1.0))
    return stand_out * float(min(1.0, fit / sim.fit_full))


def _judge(recording, padded, core, rec_feats, orig, cfg, sim):
    """Verdict on one sentence of the recording: the fields of its entry."""
    rate, threshold = orig.rate, sim.same_threshold
    (s, e), (cs, ce) = padded, core
    length = (e - s) / rate
    fp = _fingerprint_match(recording[s:e], orig, cfg)
    out = {"fingerprint_confidence": fp["confidence"]}

    def same(confidence, method):
        return dict(out, verdict="same", method=method, similarity=round(confidence, 4),
                    original_start=round(max(0.0, fp["offset_seconds"]), 3),
                    original_end=round(min(orig.duration, fp["offset_seconds"] + length), 3),
                    aligned_hashes=fp["aligned"], p_value=fp["p_value"])

    if fp["confidence"] >= threshold:
        return same(fp["confidence"], "fingerprint")
    frames = slice(cs // orig.hop, max(cs // orig.hop + 1, ce // orig.hop))
    dtw = None
    for warp, feats in zip(sim.warps, rec_feats):
        found = _dtw_match(feats[frames], orig, sim)
        if found is not None and (dtw is None or found["z"] > dtw["z"]):
            dtw = dict(found, warp=warp)
    if dtw is None:
        return out
    o_start = dtw["start_frame"] * orig.hop / rate
    o_end = min(dtw["end_frame"] * orig.hop / rate, orig.duration)
    fit = orig.fit(o_start, o_end)
    similarity = _similarity(dtw["z"], fit, sim)
    out.update(method="mfcc_dtw", similarity=round(similarity, 4), dtw_distance=round(dtw["distance"], 4),
               dtw_z=round(dtw["z"], 3), dtw_fit=round(fit, 3), warp=dtw["warp"])
    # a weak fingerprint alignment exactly where DTW puts the sentence is a copy after all
    dtw_offset = o_start - (cs - s) / rate
    if fp["offset_seconds"] is not None and abs(fp["offset_seconds"] - dtw_offset) <= sim.confirm_s:
        confirmed = confidence_from_p(confirmed_p_value(fp, 2 * sim.confirm_s / cfg.fingerprint.frame_seconds()))
        out["confirmed_confidence"] = round(confirmed, 4)
        if confirmed >= threshold:
            return same(confirmed, "fingerprint+dtw")
    if similarity >= sim.similar_threshold:
        out.update(verdict="similar", original_start=round(o_start, 3), original_end=round(o_end, 3))
    return out


def compare_samples(recording, original, rate, *, config=None, segment_params=None, speech_params=None):
    """Compare two mono signals at ``rate`` (the fingerprint rate); see :func:`compare_files`."""
    cfg = _config(config)
    seg = SegmentParams.from_dict(segment_params if segment_params is not None else cfg.section("segment") or None)
    sim = SpeechParams.from_dict(speech_params if speech_params is not None else cfg.section("speech") or None)
    recording = np.asarray(recording, dtype=np.float32)
    original_samples = np.asarray(original, dtype=np.float32)
    for name, x in (("recording", recording), ("original", original_samples)):
        if x.size == 0 or not np.any(np.abs(x) > 1e-6):
            raise RecognitionError(f"the {name} is silent: nothing to compare")
    min_seconds = seg.min_sentence_ms / 1000.0
    if original_samples.size / rate < min_seconds:
        raise RecognitionError(f"the original ({original_samples.size / rate:.2f} s) is shorter than a sentence "
                               f"(min_sentence_ms = {seg.min_sentence_ms:g} ms)")
    cores = sentence_cores(recording, rate, seg)
    if cores.shape[0] == 0:
        raise RecognitionError("no sentence found in the recording (everything is below the silence threshold)")
    sentences = pad_intervals(cores, rate, recording.size, seg.padding_ms)
    orig = _Original(original_samples, rate, cfg, seg, sim)
    if orig.cores.shape[0] == 0:
        raise RecognitionError("no sentence found in the original (everything is below the silence threshold)")
    shortest = float(np.min(cores[:, 1] - cores[:, 0])) / rate
    if orig.duration < shortest:
        raise RecognitionError(f"the original ({orig.duration:.2f} s) is shorter than every sentence of the "
                               f"recording (shortest {shortest:.2f} s)")

    rec_feats = mfcc(recording, rate, sim, warps=sim.warps)
    sounding = np.zeros(rec_feats[0].shape[0], bool)
    for s, e in cores.tolist():
        sounding[s // orig.hop:e // orig.hop] = True
    rec_feats = [normalise(f, sounding) for f in rec_feats]
    threshold = sim.same_threshold
    out = []
    for i, ((s, e), (cs, ce)) in enumerate(zip(sentences.tolist(), cores.tolist())):
        entry = {"index": i, "start": round(s / rate, 3), "end": round(e / rate, 3),
                 "duration": round((e - s) / rate, 3), "verdict": "not_found", "original_start": None,
                 "original_end": None, "original_index": None, "similarity": 0.0, "method": None}
        entry.update(_judge(recording, (s, e), (cs, ce), rec_feats, orig, cfg, sim))
        if entry["original_start"] is not None:
            entry["original_index"] = orig.sentence_at(int(entry["original_start"] * rate),
                                                       int(entry["original_end"] * rate))
        out.append(entry)

    originals = []
    covered = set()
    for i, ((s, e), (cs, ce)) in enumerate(zip(orig.sentences.tolist(), orig.cores.tolist())):
        by = []
        for entry in out:
            if entry["original_start"] is None:
                continue
            a, b = entry["original_start"] * rate, entry["original_end"] * rate
            if min(b, ce) - max(a, cs) >= 0.5 * (ce - cs):
                by.append(entry["index"])
        if by:
            covered.add(i)
        originals.append({"index": i, "start": round(s / rate, 3), "end": round(e / rate, 3),
                          "duration": round((e - s) / rate, 3), "covered_by": by})
    counts = {v: sum(1 for x in out if x["verdict"] == v) for v in VERDICTS}
    return {
        "sentences": out,
        "uncovered": [{"index": o["index"], "start": o["start"], "end": o["end"]}
                      for o in originals if o["index"] not in covered],
        "original_sentences": originals,
        "recording_seconds": round(recording.size / rate, 3),
        "original_seconds": round(orig.duration, 3),
        "counts": counts,
        "parameters": {"segment": seg.to_dict(), "similar": dataclasses.asdict(sim),
                       "fingerprint_threshold": threshold, "sample_rate": int(rate)},
    }


def compare_files(recording_path, original_path, *, config=None, segment_params=None):
    """Compare a recording with an original, sentence by sentence.

    Parameters
    ----------
    recording_path, original_path : str or path-like
        Any file ffmpeg decodes.
    config : Config or dict, optional
        dejavu-cn configuration: fingerprint and recognition parameters; its
        ``segment`` and ``speech`` sections (if any) override
        :class:`segmenter.SegmentParams` and :class:`SpeechParams`.
    segment_params : SegmentParams or dict, optional
        Segmentation parameters (win over the configuration's).

    Returns
    -------
    dict
        JSON-serialisable. ``sentences``: per sentence of the recording
        ``index``, ``start``, ``end``, ``duration`` (s), ``verdict``
        (``"same"``, ``"similar"`` or ``"not_found"``), ``original_start``,
        ``original_end`` (s, or None), ``original_index`` (the original
        sentence overlapping most), ``similarity`` in [0, 1] (the fingerprint
        confidence for ``same``, the DTW similarity otherwise), ``method``
        (``"fingerprint"``, ``"fingerprint+dtw"`` or ``"mfcc_dtw"``; None
        when nothing could be compared) and diagnostics.
        ``uncovered``: original sentences no recording sentence covers
        (``index``, ``start``, ``end``). ``original_sentences``,
        ``counts``, durations and ``parameters``.

    Raises
    ------
    AudioDecodeError
        A file cannot be decoded.
    RecognitionError
        A file is silent, has no sentence, or the original is too short.
    """
    cfg = _config(config)
    rate = cfg.fingerprint.sample_rate
    recording = decode_file(recording_path, target_rate=rate)
    original = decode_file(original_path, target_rate=rate)
    log.info("comparing %s (%.1f s) with %s (%.1f s)", recording_path, recording.size / rate,
             original_path, original.size / rate)
    result = compare_samples(recording, original, rate, config=cfg, segment_params=segment_params)
    result["recording"] = str(recording_path)
    result["original"] = str(original_path)
    return result


def plot_timeline(result, out):
    """Draw the recording's and the original's sentences on two timelines,
    joined by lines for matched sentences (green: same, orange: similar;
    not-found sentences in grey, uncovered original sentences hatched).

    Parameters
    ----------
    result : dict
        From :func:`compare_files`.
    out : str, path-like or binary file object
        Where the PNG goes.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    colours = {"same": "#2ca02c", "similar": "#ff7f0e", "not_found": "#9e9e9e"}
    length = max(result.get("recording_seconds", 0), result.get("original_seconds", 0), 1.0)
    fig, ax = plt.subplots(figsize=(max(8.0, min(24.0, length / 4.0)), 3.6), dpi=100)
    y_rec, y_orig, h = 1.0, 0.0, 0.35
    uncovered = {u["index"] for u in result.get("uncovered", [])}
    for o in result.get("original_sentences", []):
        ax.add_patch(Rectangle((o["start"], y_orig - h / 2), o["end"] - o["start"], h, facecolor="#c6dbef",
                               edgecolor="#3182bd", hatch="//" if o["index"] in uncovered else None))
        ax.text((o["start"] + o["end"]) / 2, y_orig, str(o["index"]), ha="center", va="center", fontsize=7)
    for s in result.get("sentences", []):
        colour = colours.get(s["verdict"], "#9e9e9e")
        ax.add_patch(Rectangle((s["start"], y_rec - h / 2), s["end"] - s["start"], h, facecolor=colour,
                               edgecolor="black", linewidth=0.5, alpha=0.8))
        ax.text((s["start"] + s["end"]) / 2, y_rec, str(s["index"]), ha="center", va="center", fontsize=7)
        if s.get("original_start") is not None and s["verdict"] != "not_found":
            mid_rec = (s["start"] + s["end"]) / 2
            mid_orig = (s["original_start"] + s["original_end"]) / 2
            ax.plot([mid_rec, mid_orig], [y_rec - h / 2, y_orig + h / 2], color=colour, linewidth=1.2,
                    linestyle="-" if s["verdict"] == "same" else "--")
    ax.set_xlim(0, length)
    ax.set_ylim(-0.6, 1.6)
    ax.set_yticks([y_orig, y_rec], ["original", "recording"])
    ax.set_xlabel("time (s)")
    counts = result.get("counts", {})
    ax.set_title(f"same {counts.get('same', 0)}, similar {counts.get('similar', 0)}, "
                 f"not found {counts.get('not_found', 0)}; uncovered in original {len(uncovered)}", fontsize=9)
    handles = [plt.Line2D([], [], color=c, linewidth=4, label=v.replace("_", " ")) for v, c in colours.items()]
    ax.legend(handles=handles, loc="upper right", fontsize=7, ncol=3, frameon=False)
    fig.tight_layout()
    try:
        fig.savefig(out, format="png")
    finally:
        plt.close(fig)
