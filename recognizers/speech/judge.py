"""The verdict on one sentence of the recording: ``same``, ``similar`` or
``not_found``, where in the original, and why.

In order (see :mod:`recognizers.speech` for the whole method):

1. :func:`fingerprint_match`: the sentence as a query of the original's
   in-memory index; "same" when :func:`dejavu_cn.decision.decide` names
   it under ``SpeechParams.same_rule()`` (confidence ``same_threshold``).
2. :func:`place_by_dtw`: otherwise the best subsequence-DTW path of the
   sentence's MFCCs in the original's, over the filterbank warps, and the
   similarity it gives (:func:`similarity`).
3. :func:`confirm`: a weak fingerprint alignment at the place DTW found
   independently is judged again against that place only.
4. "similar" when the similarity reaches ``similar_threshold``; else "not
   found", with the nearest place DTW found and its distance.
"""
import dataclasses

from dejavu_cn.decision import decide
from dejavu_cn.matching import align, analyze_query, chance_p_value, confidence_from_p, query_params

from .dtw import best_path

VERDICTS = ("same", "similar", "not_found")

# what each ``method`` value means, in words a user reads (the CLI and the page show these)
METHOD_LABELS = {
    "fingerprint": "audio fingerprint",
    "fingerprint+dtw": "audio fingerprint where the voice matches",
    "mfcc_dtw": "voice match (MFCC + DTW)",
}


def fingerprint_match(sentence, original, cfg):
    """Best fingerprint alignment of one sentence (samples) in the original.

    Returns
    -------
    dict
        ``candidate`` (the :class:`~dejavu_cn.decision.Candidate`, scored;
        None when nothing aligned), ``confidence`` in [0, 1], ``offset_seconds`` (where the sentence's
        first sample falls in the original, s; None when nothing aligned),
        ``aligned`` hashes, ``p_value`` and the inputs of
        :func:`confirmed_p_value` (``hits``, ``span_frames``, ``songs_hit``).
    """
    rec = cfg.recognition
    qp = query_params(cfg.fingerprint, rec)
    query = analyze_query(sentence, qp, shifts=rec.query_shifts)
    candidates, stats = align(query, original.lookup, max_rows=rec.max_hash_rows, top=1)
    if not candidates:
        return {"candidate": None, "confidence": 0.0, "offset_seconds": None, "aligned": 0, "p_value": 1.0}
    c = candidates[0]
    frame = cfg.fingerprint.frame_seconds()                                  # s per fingerprint frame
    span = original.duration / frame + query.duration_seconds / frame      # frames an offset could take
    c.p_value = chance_p_value(c.aligned_frames, c.hits, span, stats["songs_hit"])
    c.confidence = confidence_from_p(c.p_value)
    return {"candidate": c, "confidence": round(c.confidence, 4),
            "offset_seconds": c.offset_subframes / query.shifts * frame, "aligned": int(c.aligned_frames),
            "p_value": float(f"{c.p_value:.3g}"), "hits": int(c.hits), "span_frames": span,
            "songs_hit": int(stats["songs_hit"])}


def confirmed_p_value(fp, window_frames):
    """Chance p-value of a fingerprint alignment whose offset was predicted
    independently (by DTW) to within +-``window_frames`` / 2: only the
    windows near the prediction could have produced it, not the whole span."""
    return chance_p_value(fp["aligned"], fp.get("hits", 0), fp.get("span_frames", 1.0), fp.get("songs_hit", 1),
                          searched_frames=window_frames)


def similarity(z, fit, sim):
    """Similarity in [0, 1] from how far the best path stands out (``z``) and
    how well its span fits one sentence of the original (``fit``, IoU)."""
    stand_out = min(1.0, max(0.0, (z - sim.z_none) / (sim.z_full - sim.z_none)))
    return stand_out * min(1.0, fit / sim.fit_full)


def place_by_dtw(recording, i, original, sim):
    """Where DTW puts sentence ``i`` of the recording in the original: the
    path that stands out most over the filterbank warps.

    Returns
    -------
    dict or None
        ``original_start``, ``original_end`` (s), ``distance``, ``z`` (see
        :func:`~recognizers.speech.dtw.best_path`), ``warp``, ``fit`` (IoU
        with the original sentence it overlaps most) and ``similarity``;
        None when no path fits (a sentence too short to align).
    """
    frames = recording.core_frames(i)
    found = None
    for warp, feats in zip(sim.warps, recording.features):
        path = best_path(feats[frames], original.reference)
        if path is not None and (found is None or path["z"] > found["z"]):
            found = dict(path, warp=warp)
    if found is None:
        return None
    seconds_per_frame = original.hop / original.rate                               # s
    start = found["start_frame"] * seconds_per_frame
    end = min(found["end_frame"] * seconds_per_frame, original.duration)
    fit = original.fit(start, end)
    return dict(found, original_start=start, original_end=end, fit=fit, similarity=similarity(found["z"], fit, sim))


def confirm(fp, dtw_offset, cfg, sim):
    """Confidence of a weak fingerprint alignment judged against only the
    +-``confirm_s`` around ``dtw_offset`` (s, where DTW puts the sentence's
    first sample), or None when the fingerprint's offset is not there."""
    if fp["offset_seconds"] is None or abs(fp["offset_seconds"] - dtw_offset) > sim.confirm_s:
        return None
    window_frames = 2 * sim.confirm_s / cfg.fingerprint.frame_seconds()
    return confidence_from_p(confirmed_p_value(fp, window_frames))


def _same(fp, confidence, method, length, original):
    """The fields of a "same" verdict at the fingerprint's offset."""
    return {"verdict": "same", "method": method, "similarity": round(confidence, 4),
            "original_start": round(max(0.0, fp["offset_seconds"]), 3),
            "original_end": round(min(original.duration, fp["offset_seconds"] + length), 3),
            "aligned_hashes": fp["aligned"], "p_value": fp["p_value"]}


def judge_sentence(recording, i, original, cfg, sim):
    """Verdict on sentence ``i`` of the recording: the fields of its entry
    (see :func:`recognizers.speech.compare_files`); fields not returned keep
    their "not found" defaults."""
    (s, e), (cs, _) = recording.padded[i].tolist(), recording.cores[i].tolist()
    length = (e - s) / recording.rate                                             # s
    fp = fingerprint_match(recording.samples[s:e], original, cfg)
    out = {"fingerprint_confidence": fp["confidence"]}
    same = sim.same_rule()
    if fp["candidate"] is not None and decide([fp["candidate"]], same).match is not None:
        return dict(out, **_same(fp, fp["confidence"], "fingerprint", length, original))
    dtw = place_by_dtw(recording, i, original, sim)
    if dtw is None:
        return out
    out.update(method="mfcc_dtw", similarity=round(dtw["similarity"], 4), dtw_distance=round(dtw["distance"], 4),
               dtw_z=round(dtw["z"], 3), dtw_fit=round(dtw["fit"], 3), warp=dtw["warp"])
    confirmed = confirm(fp, dtw["original_start"] - (cs - s) / recording.rate, cfg, sim)
    if confirmed is not None:
        out["confirmed_confidence"] = round(confirmed, 4)
        if decide([dataclasses.replace(fp["candidate"], confidence=confirmed)], same).match is not None:
            return dict(out, **_same(fp, confirmed, "fingerprint+dtw", length, original))
    place = {"original_start": round(dtw["original_start"], 3), "original_end": round(dtw["original_end"], 3)}
    if dtw["similarity"] >= sim.similar_threshold:
        return dict(out, verdict="similar", **place)
    return dict(out, nearest=dict(place, original_index=original.sentence_at_seconds(dtw["original_start"],
                                                                                   dtw["original_end"]),
                                  similarity=out["similarity"], distance=out["dtw_distance"]))
