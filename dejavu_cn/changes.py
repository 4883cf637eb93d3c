"""Copies played at another speed or pitch: the query's peaks mapped back.

A copy played ``s`` times as fast has the original's peak at frame ``T``
and bin ``F`` at about ``T / s`` and ``F * s``; shifted by ``k`` semitones
with its tempo kept, at ``T`` and ``F * 2^(k/12)``. A hash needs its bins
exact, so a change of 1 % already loses the peaks above ~1 kHz (+2 % keeps
only the lowest). Mapping the clip's peaks back under a hypothesis (time
factor, frequency factor) and pairing them again gives the hashes the
original holds there, if the hypothesis is within about half a percent;
:meth:`dejavu_cn.engine.Dejavu.match_samples` tries a grid of them
(:meth:`~dejavu_cn.config.RecognitionParams.change_grid`) when
``recognition.speed_search`` is on and the clip is otherwise undecided.
The offsets of the mapped peaks are the original's frames: a match says
where in the original the clip starts.
"""
import numpy as np

from .fingerprint import Peaks, band_bins, landmark_peaks
from .matching import Query


def map_peaks(peaks, time_factor, freq_factor, params):
    """``peaks`` with frames times ``time_factor`` and bins times
    ``freq_factor`` (rounded), those leaving the band dropped, sorted by
    (frame, bin), one per place."""
    low, high = band_bins(params)
    frames = np.round(peaks.frames * time_factor).astype(np.int64)
    bins = np.round(peaks.bins * freq_factor).astype(np.int64)
    idx = np.flatnonzero((bins >= low) & (bins < high) & (frames >= 0))
    idx = idx[np.lexsort((bins[idx], frames[idx]))]
    if idx.size:
        idx = idx[np.r_[True, (np.diff(frames[idx]) != 0) | (np.diff(bins[idx]) != 0)]]
    return Peaks(frames[idx].astype(np.int32), bins[idx].astype(np.int32), peaks.strengths[idx], peaks.scores[idx])


def mapped_query(peaks, time_factor, freq_factor, params, seconds, *, max_bin=None):
    """The :class:`~dejavu_cn.matching.Query` (one analysis) of ``seconds``
    of a clip whose ``peaks`` are mapped back by the factors; with
    ``max_bin``, only the landmarks whose peaks all lie at or below that
    bin (those a hypothesis a little off still maps to the right bins)."""
    marks = landmark_peaks(map_peaks(peaks, time_factor, freq_factor, params), params)
    if max_bin is not None:
        marks = marks.select(np.maximum(np.maximum(marks.f1, marks.f2), marks.f3) <= max_bin)
    fps = marks.hashed()
    return Query.of([(fps, 0)], 1, seconds * time_factor)


def describe_change(time_factor, freq_factor):
    """The fields a match under a hypothesis reports: ``speed_factor``
    (how many times as fast the clip plays the original: 1.25 for
    nightcore) and ``pitch_semitones`` (tempo kept), each only where it
    differs from 1 / 0."""
    if abs(time_factor - 1.0) > 1e-9:
        return {"speed_factor": round(float(time_factor), 4)}
    return {"pitch_semitones": round(float(-12 * np.log2(freq_factor)), 2)}
