"""Comparing a recording with an original, sentence by sentence:
:func:`compare_files` (decodes) and :func:`compare_samples` (arrays).

The steps, each a function below: read the settings, check the signals,
find the sentences (:func:`segmenter.find_sentences`, the same as
``dejavu-cn segment``), analyse both signals once
(:mod:`~recognizers.speech.analysis`), judge each sentence of the recording
(:mod:`~recognizers.speech.judge`), then find which sentences of the
original are covered, and assemble the JSON-serialisable result.
"""
import dataclasses
import logging

import numpy as np

from dejavu_cn.audio import decode_file
from dejavu_cn.config import load_config
from dejavu_cn.errors import RecognitionError
from segmenter import SEGMENT_RATE, SegmentParams, find_sentences

from .analysis import Original, Recording
from .judge import METHOD_LABELS, VERDICTS, judge_sentence
from .params import SpeechParams

log = logging.getLogger(__name__)

COVER_FRACTION = 0.5     # an original sentence is covered when a placed sentence spans this much of it


def _settings(config, segment_params, speech_params):
    """``(Config, SegmentParams, SpeechParams)``: explicit parameters win
    over the configuration's ``segment`` and ``speech`` sections."""
    cfg = load_config(config)
    seg = SegmentParams.from_dict(segment_params if segment_params is not None else cfg.section("segment") or None)
    sim = SpeechParams.from_dict(speech_params if speech_params is not None else cfg.section("speech") or None)
    return cfg, seg, sim


def _check_signals(recording, original, rate, seg):
    """Both signals as float32, refused when silent or (the original)
    shorter than one sentence."""
    recording = np.asarray(recording, dtype=np.float32)
    original = np.asarray(original, dtype=np.float32)
    for name, x in (("recording", recording), ("original", original)):
        if x.size == 0 or not np.any(np.abs(x) > 1e-6):
            raise RecognitionError(f"the {name} is silent: nothing to compare")
    if original.size / rate < seg.min_sentence_ms / 1000.0:
        raise RecognitionError(f"the original ({original.size / rate:.2f} s) is shorter than a sentence "
                               f"(min_sentence_ms = {seg.min_sentence_ms:g} ms)")
    return recording, original


def _check_sentences(recording_sentences, original_sentences, original_seconds):
    """Refuse a signal without sentences, or an original shorter than every
    sentence of the recording."""
    for name, found in (("recording", recording_sentences), ("original", original_sentences)):
        if len(found) == 0:
            raise RecognitionError(f"no sentence found in the {name} (everything is below the silence threshold)")
    shortest = float(np.min(recording_sentences.cores[:, 1] - recording_sentences.cores[:, 0]))     # s
    if original_seconds < shortest:
        raise RecognitionError(f"the original ({original_seconds:.2f} s) is shorter than every sentence of the "
                               f"recording (shortest {shortest:.2f} s)")


def _sentence_entry(place, recording, i, original, cfg, sim):
    """The result's entry for sentence ``i`` of the recording (``place``:
    its ``index``, ``start``, ``end`` and ``duration``)."""
    entry = dict(place, verdict="not_found", original_start=None, original_end=None,
                 original_index=None, similarity=0.0, method=None, nearest=None)
    entry.update(judge_sentence(recording, i, original, cfg, sim))
    entry["method_label"] = METHOD_LABELS.get(entry["method"])
    if entry["original_start"] is not None:
        entry["original_index"] = original.sentence_at_seconds(entry["original_start"], entry["original_end"])
    return entry


def _original_sentences(original, entries):
    """The original's sentences, each with the recording's sentences placed
    over at least :data:`COVER_FRACTION` of it (``covered_by``)."""
    out = []
    for i, (o, (cs, ce)) in enumerate(zip(original.sentences.to_list(), original.sentences.cores.tolist())):
        by = [x["index"] for x in entries if x["original_start"] is not None
              and min(x["original_end"], ce) - max(x["original_start"], cs) >= COVER_FRACTION * (ce - cs)]
        out.append(dict(o, covered_by=by))
    return out


def compare_samples(recording, original, rate, *, config=None, segment_params=None, speech_params=None,
                    sentences=None):
    """Compare two mono signals at ``rate`` (the fingerprint rate); see :func:`compare_files`.

    ``sentences``: the ``(recording, original)`` :class:`segmenter.Sentences`
    when already found (e.g. from the files decoded at
    :data:`segmenter.SEGMENT_RATE`); by default found in the two signals.
    """
    cfg, seg, sim = _settings(config, segment_params, speech_params)
    recording, original = _check_signals(recording, original, rate, seg)
    if sentences is None:
        sentences = (find_sentences(recording, rate, seg), find_sentences(original, rate, seg))
    _check_sentences(*sentences, original.size / rate)
    orig = Original(original, rate, sentences[1], cfg, sim)
    rec = Recording(recording, rate, sentences[0], sim)
    entries = [_sentence_entry(place, rec, i, orig, cfg, sim) for i, place in enumerate(rec.sentences.to_list())]
    originals = _original_sentences(orig, entries)
    return {
        "sentences": entries,
        "uncovered": [{"index": o["index"], "start": o["start"], "end": o["end"]} for o in originals
                      if not o["covered_by"]],
        "original_sentences": originals,
        "recording_seconds": round(rec.duration, 3),
        "original_seconds": round(orig.duration, 3),
        "counts": {v: sum(1 for x in entries if x["verdict"] == v) for v in VERDICTS},
        "parameters": {"segment": seg.to_dict(), "similar": dataclasses.asdict(sim),
                       "fingerprint_threshold": sim.same_threshold, "sample_rate": int(rate),
                       "segment_rate": SEGMENT_RATE},
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
        (exactly the sentences ``dejavu-cn segment`` lists for it)
        ``index``, ``start``, ``end``, ``duration`` (s), ``verdict``
        (``"same"``, ``"similar"`` or ``"not_found"``), ``original_start``,
        ``original_end`` (s, or None), ``original_index`` (the original
        sentence overlapping most), ``similarity`` in [0, 1] (the fingerprint
        confidence for ``same``, the DTW similarity otherwise), ``method``
        (``"fingerprint"``, ``"fingerprint+dtw"`` or ``"mfcc_dtw"``; None
        when nothing could be compared), ``method_label`` (the method in a
        user's words), ``nearest`` (for ``not_found``: the nearest place DTW
        found, ``original_start``, ``original_end``, ``original_index``,
        ``similarity`` and ``distance``, the mean distance per frame along
        the path, 0 for identical features; None otherwise) and diagnostics.
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
    cfg, seg, _ = _settings(config, segment_params, None)
    rate = cfg.fingerprint.sample_rate
    recording = decode_file(recording_path, target_rate=rate)
    original = decode_file(original_path, target_rate=rate)
    log.info("comparing %s (%.1f s) with %s (%.1f s)", recording_path, recording.size / rate,
             original_path, original.size / rate)
    sentences = None
    if rate != SEGMENT_RATE:     # cut where `segment` cuts: in the files decoded at its rate
        sentences = tuple(find_sentences(decode_file(path, target_rate=SEGMENT_RATE), SEGMENT_RATE, seg)
                          for path in (recording_path, original_path))
    result = compare_samples(recording, original, rate, config=cfg, segment_params=seg, sentences=sentences)
    result["recording"] = str(recording_path)
    result["original"] = str(original_path)
    return result
