"""Measure recognition on a folder of music: hold some tracks out, register
the rest, recognise seeded random excerpts under each degradation, and report
accuracy, offsets, false positives, latency and ingest speed.

Used by ``bench/`` (Debian's game music), by ``dejavu-cn evaluate`` and by the
tests (generated audio). Every step is seeded: the same folder, seed and
settings give the same clips.

Offsets and repeats
-------------------
A recognised clip's offset (where in the song it starts) is right when it
is within ``OFFSET_TOLERANCE`` (0.1 s) of the truth. Game music loops, so an
offset further off can point at the same audio played again: such a clip is
counted as a *repeat* when the track's audio at the reported offset and at
the true offset have a normalised correlation of at least
``REPEAT_SIMILARITY`` (0.9), allowing a lag of ``REPEAT_LAG`` (0.1 s, the
same tolerance as for a right offset; see :func:`excerpt_similarity`). On
Debian's game music, unrelated excerpts of one track mostly correlate below
0.3, and offsets whole loops away (12.00 s, 24.00 s...) above 0.95. The
report gives the strict offset accuracy and the repeat-aware one (right or
repeat).
"""
import json
import logging
import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

import numpy as np

from .audio import decode_file, iter_decode, write_wav
from .degrade import CONDITIONS, degrade, source_seconds
from .errors import AudioDecodeError

log = logging.getLogger(__name__)

CLIP_SOURCE_RATE = 44100            # Hz; excerpts are cut at this rate before degradation
OFFSET_TOLERANCE = 0.1              # seconds; an offset within this of the truth is right
REPEAT_SIMILARITY = 0.9             # normalised correlation at or above which two excerpts are the same audio
REPEAT_LAG = OFFSET_TOLERANCE       # seconds either way the repeat may lie from the reported offset (0.1 s)
REPEAT_MAX_SECONDS = 5.0            # seconds compared at most (longer clips: their first 5 s)
TARGET_FP_RATE = 0.002              # the rate a suggested threshold keeps to (at most 1 in 500 unknown clips named)
THRESHOLD_STEP = 0.05               # the thresholds reported: from the configured one up, in these steps


@dataclass
class ClipSpec:
    track: int          # index into the track list
    known: bool         # registered (True) or held out (False)
    start: float        # seconds into the track
    length: float       # seconds
    condition: str
    path: str = ""


STAGES = {                          # on_progress stages, in order, and what they count
    "reading": "tracks read (length, readability)",
    "registering": "files registered",
    "shared": "tracks probed for audio shared with another track",
    "making": "clips cut, degraded and written",
    "clips": "clips recognised",
}


def split_tracks(tracks, holdout):
    """Every k-th track (k = round(1 / holdout)) is held out; returns
    (registered indices, held-out indices)."""
    if holdout <= 0:
        return list(range(len(tracks))), []
    k = max(2, int(round(1.0 / holdout)))
    held = [i for i in range(len(tracks)) if i % k == k - 1]
    return [i for i in range(len(tracks)) if i % k != k - 1], held


def readable_tracks(tracks, *, on_track=None, jobs=None):
    """Decode every track once (at a low rate) to learn its length.

    Parameters
    ----------
    tracks : list of str
    on_track : callable(done, total), optional
        Called after each track.
    jobs : int, optional
        Tracks decoded at a time (ffmpeg processes; default: all cores).

    Returns
    -------
    (tracks, durations in seconds, [(path, error message)])
        The unreadable ones left out.
    """
    def length(path):
        try:
            return sum(c.size for c in iter_decode(path, target_rate=2000, chunk_seconds=600)) / 2000.0, None
        except AudioDecodeError as exc:
            return None, exc.message

    kept, durations, unreadable = [], [], []
    with ThreadPoolExecutor(jobs or os.cpu_count() or 1) as pool:     # the work is in ffmpeg, off the GIL
        for k, (path, (seconds, error)) in enumerate(zip(tracks, pool.map(length, tracks)), 1):
            if error is not None:
                unreadable.append((path, error))
            else:
                kept.append(path)
                durations.append(seconds)
            if on_track:
                on_track(k, len(tracks))
    return kept, durations, unreadable


def plan_clips(durations, known, unknown, *, lengths, conditions, clips, unknown_clips, seed):
    """Seeded clip plan: per (condition, length), ``clips`` excerpts of
    registered tracks and ``unknown_clips`` of held-out ones."""
    rng = np.random.default_rng(seed)
    specs = []
    for condition in conditions:
        for length in lengths:
            for pool, n, is_known in ((known, clips, True), (unknown, unknown_clips, False)):
                usable = [i for i in pool if durations[i] > length + 1.0]
                for _ in range(n if usable else 0):
                    track = usable[int(rng.integers(len(usable)))]
                    start = float(rng.uniform(0.0, durations[track] - length - 0.5))
                    specs.append(ClipSpec(track, is_known, round(start, 4), float(length), condition))
    return specs


AUDIBLE_DBFS = -45.0          # an excerpt quieter than this (RMS, dBFS) is silence, not a query: drawn again
AUDIBLE_TRIES = 20


def _rms_dbfs(x):
    return 20.0 * np.log10(float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) + 1e-12) if x.size else -240.0


def _audible_start(audio, spec, n, seed, duration):
    """Move ``spec.start`` (seeded) off silent passages: nobody queries
    silence, and no fingerprint can name it. Returns True if it moved."""
    rate = CLIP_SOURCE_RATE
    length = int(spec.length * rate)
    a = int(spec.start * rate)
    if _rms_dbfs(audio[a:a + length]) >= AUDIBLE_DBFS:
        return False
    rng = np.random.default_rng([seed, n, 1])
    for _ in range(AUDIBLE_TRIES):
        start = float(rng.uniform(0.0, max(0.0, duration - spec.length - 0.5)))
        a = int(start * rate)
        if _rms_dbfs(audio[a:a + length]) >= AUDIBLE_DBFS:
            spec.start = round(start, 4)
            return True
    return False


def _make_clip(audio, spec, n, out_dir, seed):
    """Cut, degrade and write clip number ``n`` from its track's audio
    (``CLIP_SOURCE_RATE``); sets ``spec.path``."""
    rng = np.random.default_rng([seed, n])
    a = int(spec.start * CLIP_SOURCE_RATE)
    excerpt = audio[a:a + int(source_seconds(spec.condition, spec.length) * CLIP_SOURCE_RATE)]
    samples, rate = degrade(excerpt, CLIP_SOURCE_RATE, spec.condition, rng)
    spec.path = os.path.join(out_dir, f"clip{n:05d}_{spec.condition}_{spec.length:g}s.wav")
    write_wav(spec.path, samples, rate)
    return spec


def _by_track(specs):
    by_track = {}
    for n, spec in enumerate(specs):
        by_track.setdefault(spec.track, []).append((n, spec))
    return sorted(by_track.items())


def make_clips(tracks, specs, out_dir, *, seed, on_clip=None):
    """Move each planned clip off silence, cut, degrade and write it (each
    track decoded once); returns how many starts were redrawn.
    ``on_clip(done, total)`` is told after each clip."""
    os.makedirs(out_dir, exist_ok=True)
    redrawn = done = 0
    for track, items in _by_track(specs):
        audio = decode_file(tracks[track], target_rate=CLIP_SOURCE_RATE)
        for n, spec in items:
            redrawn += _audible_start(audio, spec, n, seed, audio.size / CLIP_SOURCE_RATE)
            _make_clip(audio, spec, n, out_dir, seed)
            done += 1
            if on_clip:
                on_clip(done, len(specs))
    return redrawn


def find_shared_audio(engine, tracks, registered_ids, *, probe_seconds=8.0, probe_every=8.0, on_track=None,
                      decode=None):
    """Tracks that contain the same audio as another track (game soundtracks
    reuse cues and build medleys). Probes each whole track, a
    ``probe_seconds`` window every ``probe_every`` seconds (by default back
    to back, so no stretch of a track goes unprobed), against the database:
    a song confidently named for a window of another track shares audio
    with it.

    Parameters
    ----------
    on_track : callable(done, total), optional
        Called after each track.
    decode : callable(track index) -> np.ndarray, optional
        The track's samples at the analysis rate (default: decode the file).

    Returns
    -------
    dict
        track index -> set of song ids (other than its own) that share audio.
    """
    shared = {}
    rate = engine.params.sample_rate
    window = int(probe_seconds * rate)
    for i, path in enumerate(tracks):
        audio = decode(i) if decode else decode_file(path, target_rate=rate)
        own = registered_ids.get(i)
        starts = range(0, max(1, audio.size - window + 1), max(1, int(probe_every * rate)))
        for a in starts:
            result = engine.match_samples(audio[a:a + window])
            for c in result["candidates"]:
                if c["confidence"] >= engine.config.recognition.threshold and c["song_id"] != own:
                    shared.setdefault(i, set()).add(c["song_id"])
        if on_track:
            on_track(i + 1, len(tracks))
    return shared


def excerpt_similarity(audio, rate, start_a, start_b, seconds, *, lag=REPEAT_LAG, compare_rate=None):
    """How alike two excerpts of one signal are: the largest normalised
    correlation between ``audio`` at ``start_a`` and ``audio`` at
    ``start_b + l`` over lags ``|l| <= lag``.

    Parameters
    ----------
    audio : np.ndarray, shape (n,)
        Mono samples at ``rate`` Hz.
    rate : int
        Hz.
    start_a, start_b : float
        Seconds.
    seconds : float
        Excerpt length in seconds.
    lag : float, keyword-only
        Seconds either way.
    compare_rate : int, optional, keyword-only
        Hz; resample both excerpts to this first (cheaper). Lags are then
        only tried in steps of one sample at this rate, so a repeat that
        falls between two samples loses its high frequencies: at 11025 Hz an
        exact copy of generated music half a sample off scores 0.95, not 1.
        Default: compare at ``rate``.

    Returns
    -------
    float or None
        In [-1, 1]; 1.0 for identical audio. None when an excerpt falls
        outside the signal or the first one is silent.
    """
    pair = _excerpt_pair(audio, rate, start_a, start_b, seconds, lag=lag, compare_rate=compare_rate)
    return None if pair is None else _max_normalised_correlation(*pair)


def _excerpt_pair(audio, rate, start_a, start_b, seconds, *, lag, compare_rate):
    """The excerpt at ``start_a`` and the stretch around ``start_b`` that
    holds every lagged copy (``lag`` s either way, clipped to the signal),
    as float64 at ``compare_rate`` (or ``rate``); None when an excerpt
    falls outside the signal."""
    from .audio import resample
    n = int(round(seconds * rate))
    m = int(round(lag * rate))
    a0, b0 = int(round(start_a * rate)), int(round(start_b * rate))
    lo, hi = max(0, b0 - m), min(audio.size, b0 + n + m)
    if n <= 0 or a0 < 0 or a0 + n > audio.size or hi - lo < n:
        return None
    a = np.asarray(audio[a0:a0 + n], np.float32)
    b = np.asarray(audio[lo:hi], np.float32)
    if compare_rate and int(compare_rate) != int(rate):
        a, b = resample(a, rate, compare_rate), resample(b, rate, compare_rate)
    if b.size < a.size:
        return None
    return a.astype(np.float64), b.astype(np.float64)


def _max_normalised_correlation(a, b):
    """The largest normalised correlation (Pearson's r, in [-1, 1]) between
    ``a`` (shape (n,)) and any window of ``n`` consecutive samples of ``b``
    (shape (m,), m >= n); None when ``a`` is silent (no energy once its mean
    is removed). Each window's mean is removed too."""
    n = a.size
    a = a - a.mean()
    energy = float(a @ a)
    if energy <= 1e-12 * n:
        return None
    from scipy.signal import fftconvolve
    cross = fftconvolve(b, a[::-1], mode="valid")               # one value per lag
    s1 = np.concatenate([[0.0], np.cumsum(b)])
    s2 = np.concatenate([[0.0], np.cumsum(b * b)])
    win_sum, win_sq = s1[n:] - s1[:-n], s2[n:] - s2[:-n]
    var = np.maximum(win_sq - win_sum * win_sum / n, 1e-12 * n)  # mean-removed energy of each window
    return float(np.clip(np.max(cross / np.sqrt(energy * var)), -1.0, 1.0))


def _percentile(values, q):
    return float(np.percentile(values, q)) if values else None


def _fraction(num, den):
    return num / den if den else None


def wilson_interval(successes, trials, z=1.96):
    """Wilson score interval of a proportion (95 % with the default ``z``):
    where the true rate plausibly lies after ``successes`` of ``trials``.
    With 100 clips a cell's 96 % is anything from 90 % to 98 %.

    >>> [round(x, 3) for x in wilson_interval(96, 100)]
    [0.902, 0.984]
    """
    if not trials:
        return None
    p = successes / trials
    scale = 1.0 + z * z / trials
    center = (p + z * z / (2 * trials)) / scale
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / scale
    return [float(max(0.0, center - half)), float(min(1.0, center + half))]


def _recognise_clip(engine, spec, truth, accept):
    """Recognise one written clip; the row of the report (its repeat check
    is left to :func:`_check_repeats`)."""
    t = time.perf_counter()
    samples = engine.decode(spec.path)
    result = engine.match_samples(samples)
    latency = time.perf_counter() - t
    ranks = [r for r, c in enumerate(result["candidates"], 1) if c["song_id"] in accept]
    match = result["match"]
    on_truth = bool(match and truth is not None and match["song_id"] == truth)
    error = match["offset_seconds"] - spec.start if on_truth else None
    return {
        **asdict(spec),
        "accepted": sorted(accept),
        "match": match["song_id"] if match else None,
        "correct": bool(match and match["song_id"] in accept),
        "offset_ok": bool(on_truth and abs(error) <= OFFSET_TOLERANCE),
        "offset_repeat": False,
        "repeat_similarity": None,
        "offset_error": error,
        "rank": ranks[0] if ranks else None,
        "confidence": match["confidence"] if match else
        (result["candidates"][0]["confidence"] if result["candidates"] else 0.0),
        "latency": latency,
    }


def _check_repeats(tracks, rows):
    """For each row found on its true song at another offset: is the audio
    there the same (a loop)? Sets ``offset_repeat`` and ``repeat_similarity``."""
    off = {}
    for row in rows:
        if row["offset_error"] is not None and not row["offset_ok"]:
            off.setdefault(row["track"], []).append(row)
    for track, track_rows in sorted(off.items()):
        audio = decode_file(tracks[track], target_rate=CLIP_SOURCE_RATE)
        for row in track_rows:
            similarity = excerpt_similarity(audio, CLIP_SOURCE_RATE, row["start"], row["start"] + row["offset_error"],
                                            min(row["length"], REPEAT_MAX_SECONDS))
            row["repeat_similarity"] = None if similarity is None else round(similarity, 4)
            row["offset_repeat"] = bool(similarity is not None and similarity >= REPEAT_SIMILARITY)


def _offset_summary(rows):
    """Strict and repeat-aware offset accuracy over correct matches on the true song."""
    judged = [r for r in rows if r["correct"] and r["offset_error"] is not None]
    strict = sum(1 for r in judged if r["offset_ok"])
    repeats = sum(1 for r in judged if r["offset_repeat"])
    return {"judged": len(judged), "strict": _fraction(strict, len(judged)),
            "repeat_aware": _fraction(strict + repeats, len(judged)), "repeats": repeats}


def evaluate(engine, tracks, *, work_dir, lengths=(1, 2, 3, 5, 10), conditions=("clean",), clips=50,
             unknown_clips=20, holdout=0.1, seed=0, jobs=None, detect_shared=True, progress=None,
             on_progress=None, unknown_tracks=(), threshold=None, target_fp_rate=TARGET_FP_RATE):
    """Register, recognise and report. See the module docstring.

    Parameters
    ----------
    engine : Dejavu
        On an empty (or disposable) database.
    tracks : list of str
        Audio files, in a stable order.
    work_dir : str
        Folder for the clips (``work_dir/clips``, WAV).
    lengths : sequence of float
        Clip lengths, seconds.
    conditions : sequence of str
        Names from :data:`dejavu_cn.degrade.CONDITIONS`.
    clips, unknown_clips : int
        Clips per (condition, length) of registered and of held-out tracks.
    holdout : float
        Share of tracks held out (every ``round(1 / holdout)``-th track).
    seed : int
        Seeds the clip plan and the degradations.
    jobs : int, optional
        Registration worker processes (None: the configuration's).
    detect_shared : bool
        Probe every track for audio shared with another registered track;
        a clip is then right on either song.
    progress : callable(str), optional
        Told what step is running.
    on_progress : callable(stage, done, total), optional
        Told how far a step is: ``stage`` is a key of :data:`STAGES`,
        ``done`` of ``total`` items (tracks, files or clips) finished; called
        with ``done = 0`` when a step starts. Suits a progress bar.
    unknown_tracks : sequence of str
        Audio known not to be registered (never registered here): its clips
        join the held-out tracks' as unknown clips.
    threshold : float, optional
        Where the report's ``thresholds`` start (default: the engine's
        ``recognition.threshold``, the one the clips were decided at).
    target_fp_rate : float
        The false-positive rate the suggested threshold must keep to.

    Returns
    -------
    dict
        JSON-serialisable report: ``corpus``, ``ingest``, ``database``,
        ``latency``, ``false_positive_rate``, ``offset`` (strict and
        repeat-aware accuracy), ``cells`` (per condition and length: top-1
        and top-5 accuracy, mean rank, offset accuracies, false positives,
        latency), ``thresholds`` (false positives and top-1 at thresholds
        from ``threshold`` up, and the suggested one) and ``clips`` (one row
        per clip).
    """
    say = progress or (lambda msg: log.info(msg))
    tick = on_progress or (lambda stage, done, total: None)
    say("reading tracks")
    mine = set(tracks)
    outside = set(t for t in unknown_tracks if t not in mine)        # a file in both is the user's
    everything = list(tracks) + [t for t in unknown_tracks if t in outside]
    tick("reading", 0, len(everything))
    kept, durations, unreadable = readable_tracks(everything, on_track=lambda d, t: tick("reading", d, t))
    tracks = [t for t in kept if t not in outside] + [t for t in kept if t in outside]
    length_of = dict(zip(kept, durations))
    durations = [length_of[t] for t in tracks]
    mine = len(tracks) - len(outside & set(kept))
    known, unknown = split_tracks(tracks[:mine], holdout)
    unknown = unknown + list(range(mine, len(tracks)))
    say(f"registering {len(known)} tracks ({len(unknown)} held out)")
    ingest, registered_ids = _register_known(engine, tracks, known, jobs=jobs, tick=tick)
    stats = engine.stats()

    shared = {}
    if detect_shared:
        say("looking for tracks that share audio")
        tick("shared", 0, len(tracks))
        shared = find_shared_audio(engine, tracks, registered_ids, on_track=lambda d, t: tick("shared", d, t))
    specs = plan_clips(durations, known, unknown, lengths=lengths, conditions=conditions, clips=clips,
                       unknown_clips=unknown_clips, seed=seed)
    # All clips are made first, then recognised one after another, as a
    # service answers a stream of queries (making a clip between two queries
    # would leave the recogniser's caches cold and add to its latency).
    say(f"making {len(specs)} clips")
    tick("making", 0, len(specs))
    redrawn = make_clips(tracks, specs, os.path.join(work_dir, "clips"), seed=seed,
                         on_clip=lambda d, t: tick("making", d, t))
    say(f"recognising {len(specs)} clips")
    rows = _recognise_clips(engine, specs, registered_ids, shared, tick)
    _check_repeats(tracks, rows)
    return {
        "corpus": {"tracks": len(tracks), "unreadable": unreadable, "registered": len(known), "held_out": len(unknown),
                   "unknown_folder_tracks": len(tracks) - mine,
                   "hours_registered": stats["hours"],
                   "shared_audio_tracks": len(shared),
                   "shared_audio_pairs": _shared_pairs(shared, registered_ids)},
        "ingest": ingest,
        "database": {"bytes": stats["bytes"], "fingerprints": stats["fingerprints"],
                     "mb_per_hour": stats["bytes"] / 1e6 / stats["hours"] if stats["hours"] else None},
        **_recognition_summary(rows),
        "settings": {"lengths": [float(x) for x in lengths], "conditions": list(conditions), "clips": clips,
                     "unknown_clips": unknown_clips, "holdout": holdout, "seed": seed,
                     "audible_dbfs": AUDIBLE_DBFS, "silent_excerpts_redrawn": redrawn},
        "cells": [_cell(rows, condition, length) for condition in conditions for length in lengths],
        "thresholds": threshold_table(rows, engine.config.recognition.threshold if threshold is None else threshold,
                                      target_fp_rate),
        "clips": rows,
    }


def threshold_table(rows, threshold, target_fp_rate=TARGET_FP_RATE):
    """False positives and top-1 at thresholds from ``threshold`` up, and
    the lowest one at which the false-positive rate is at most
    ``target_fp_rate`` (with its 95 % interval).

    A clip counts as named at threshold ``c`` when it was named at the
    configured one with confidence >= ``c``: raising the threshold only
    takes answers away, so this is what the same queries give at ``c``.

    Returns
    -------
    dict
        ``target_fp_rate``, ``unknown_clips``, ``known_clips``, ``rows``
        (per threshold: ``threshold``, ``false_positives``,
        ``false_positive_rate``, ``false_positive_interval``, ``top1``) and
        ``suggested`` (one of the rows, or None when no threshold up to 1
        keeps to the target).
    """
    unknown = [r for r in rows if not r["known"] and not r["accepted"]]
    known = [r for r in rows if r["known"]]
    steps = np.round(np.arange(threshold, 1.0 + 1e-9, THRESHOLD_STEP), 4)
    out = []
    for c in sorted(set(steps.tolist()) | {round(float(threshold), 4)}):
        fp = sum(1 for r in unknown if r["match"] is not None and r["confidence"] >= c)
        right = sum(1 for r in known if r["correct"] and r["confidence"] >= c)
        out.append({"threshold": c, "false_positives": fp, "false_positive_rate": _fraction(fp, len(unknown)),
                    "false_positive_interval": wilson_interval(fp, len(unknown)),
                    "top1": _fraction(right, len(known))})
    suggested = next((r for r in out if r["false_positive_rate"] is not None
                      and r["false_positive_rate"] <= target_fp_rate), None)
    return {"target_fp_rate": target_fp_rate, "unknown_clips": len(unknown), "known_clips": len(known),
            "rows": out, "suggested": suggested}


def _register_known(engine, tracks, known, *, jobs, tick):
    """Register the tracks ``known`` (indices); returns the report's
    ``ingest`` section and {track index: song id (None if not stored)}."""
    tick("registering", 0, len(known))
    registered = [0]

    def on_file(outcome):
        registered[0] += 1
        tick("registering", registered[0], len(known))

    t0 = time.monotonic()
    report = engine.register([tracks[i] for i in known], jobs=jobs, on_file=on_file)
    ingest_wall = time.monotonic() - t0
    # high-water marks of this process's life so far (and of its reaped children):
    # read here, before the clips are made, so that they describe registering
    ru_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ru_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    path_to_song = {o.path: o.song_id for o in report.outcomes if o.song_id is not None}
    if any(os.path.abspath(tracks[i]) not in path_to_song for i in known):
        # registered before (a reused database): the registration skipped them, the store knows them
        songs, _ = engine.list_songs()
        for song in songs:
            path_to_song.setdefault(os.path.abspath(song["source_path"]), song["song_id"])
    ingest = {"wall_seconds": ingest_wall, "audio_seconds": report.audio_seconds,
              "speed_x_realtime": report.audio_seconds / ingest_wall if ingest_wall else None,
              "failed": [(o.path, o.message) for o in report.failed],
              "peak_rss_mb_main": ru_self / 1024.0, "peak_rss_mb_workers": ru_children / 1024.0}
    return ingest, {i: path_to_song.get(os.path.abspath(tracks[i])) for i in known}


def _recognise_clips(engine, specs, registered_ids, shared, tick):
    """Recognise every written clip, in plan order; the report's rows."""
    tick("clips", 0, len(specs))
    rows = []
    for spec in specs:
        truth = registered_ids.get(spec.track)
        accept = ({truth} if spec.known and truth else set()) | shared.get(spec.track, set())
        rows.append(_recognise_clip(engine, spec, truth if spec.known else None, accept))
        tick("clips", len(rows), len(specs))
    return rows


def _shared_pairs(shared, registered_ids):
    """Sorted (song id, song id) pairs that share audio; a held-out track
    ``t`` stands in as ``-1 - t``."""
    return sorted({tuple(sorted((registered_ids.get(t) or -1 - t, s))) for t, ids in shared.items() for s in ids})


def _latency_ms(rows):
    """{"median_ms", "p95_ms"} over the rows' latencies (None without rows)."""
    latencies = [r["latency"] for r in rows]
    return {"median_ms": 1000 * _percentile(latencies, 50) if latencies else None,
            "p95_ms": 1000 * _percentile(latencies, 95) if latencies else None}


def _recognition_summary(rows):
    """The report's ``latency``, ``false_positive_rate`` and ``offset`` over all clips."""
    unknown_rows = [r for r in rows if not r["known"] and not r["accepted"]]
    return {
        "latency": _latency_ms(rows),
        "false_positive_rate": _fraction(sum(1 for r in unknown_rows if r["match"] is not None), len(unknown_rows)),
        "offset": {**_offset_summary([r for r in rows if r["known"]]), "tolerance_seconds": OFFSET_TOLERANCE,
                   "repeat_similarity": REPEAT_SIMILARITY},
    }


def _cell(rows, condition, length):
    """One cell of the report: the clips of one condition and length."""
    cell = [r for r in rows if r["condition"] == condition and r["length"] == float(length)]
    kn = [r for r in cell if r["known"]]
    un = [r for r in cell if not r["known"] and not r["accepted"]]
    ranked = [r["rank"] for r in kn if r["rank"]]
    correct = [r for r in kn if r["correct"]]
    offsets = _offset_summary(kn)
    latency = _latency_ms(cell)
    return {
        "condition": condition, "length": float(length), "clips": len(kn),
        "top1": _fraction(len(correct), len(kn)),
        "top1_interval": wilson_interval(len(correct), len(kn)),
        "top5": _fraction(sum(1 for r in kn if r["rank"] and r["rank"] <= 5), len(kn)),
        "mean_rank": float(np.mean(ranked)) if ranked else None,
        "offset_accuracy": offsets["strict"],
        "offset_accuracy_repeat_aware": offsets["repeat_aware"],
        "offset_repeats": offsets["repeats"],
        "unknown_clips": len(un),
        "false_positives": sum(1 for r in un if r["match"] is not None),
        "latency_median_ms": latency["median_ms"],
        "latency_p95_ms": latency["p95_ms"],
    }


def format_report(report):
    """The report as a human-readable table: a summary, one row per cell,
    the thresholds, and a legend."""
    return "\n".join(_summary_lines(report) + [""] + _cell_table(report["cells"]) + [""]
                     + _threshold_lines(report.get("thresholds")) + REPORT_LEGEND)


def _threshold_lines(table):
    """False positives and top-1 by threshold, and the suggestion (nothing
    without unknown clips)."""
    if not table or not table["unknown_clips"]:
        return []
    lines = [f"{'threshold':>9}{'FP':>5}{'FP rate':>9}{'95% CI':>14}{'top-1':>8}"]
    for r in table["rows"]:
        lo, hi = r["false_positive_interval"]
        lines.append(f"{r['threshold']:>9.2f}{r['false_positives']:>5}{_pct(r['false_positive_rate'])}"
                     f"{100 * lo:>7.2f}-{100 * hi:<5.2f}{_pct(r['top1'])}")
    s = table["suggested"]
    target = 100 * table["target_fp_rate"]
    if s is None:
        lines.append(f"no threshold up to 1 keeps false positives at or under {target:g} % on these "
                     f"{table['unknown_clips']} unknown clips")
    else:
        lo, hi = s["false_positive_interval"]
        lines.append(f"suggested threshold: {s['threshold']:.2f} (recognition.threshold): {s['false_positives']} "
                     f"of {table['unknown_clips']} unknown clips named, {100 * s['false_positive_rate']:.2f} % "
                     f"(95 % CI {100 * lo:.2f}-{100 * hi:.2f} %), top-1 {100 * s['top1']:.1f} %"
                     if s["top1"] is not None else
                     f"suggested threshold: {s['threshold']:.2f}: {s['false_positives']} of "
                     f"{table['unknown_clips']} unknown clips named (95 % CI {100 * lo:.2f}-{100 * hi:.2f} %)")
        if hi > table["target_fp_rate"]:
            lines.append(f"  ({table['unknown_clips']} unknown clips cannot show a rate under {target:g} % with "
                         f"confidence: the interval's top is {100 * hi:.2f} %; add more with --unknown)")
    return lines + [""]


REPORT_LEGEND = [
    "top-1: the match is the right song (95% CI: where the true rate plausibly lies, Wilson); "
    "top-5: the right song is among 5 candidates; rank: mean rank of the right song when listed",
    "offset: right start time (within 0.1 s) among top-1 hits; +rep: also counting start times "
    "on a repeat of the same audio",
    "unk / FP: clips of held-out songs / how many of them were matched anyway; "
    "med / p95 ms: time to decode and recognise one clip",
]


def _summary_lines(report):
    """Corpus, ingest and database lines, then the recognition summary."""
    c, ing, db = report["corpus"], report["ingest"], report["database"]
    lines = [f"corpus: {c['tracks']} tracks ({len(c['unreadable'])} unreadable left out), "
             f"{c['registered']} registered ({c['hours_registered']:.2f} h), {c['held_out']} held out; "
             f"{c['shared_audio_tracks']} tracks share audio with another ({len(c['shared_audio_pairs'])} pairs)"]
    speed = ing["speed_x_realtime"]
    lines.append(f"ingest: {ing['audio_seconds'] / 3600:.2f} h in {ing['wall_seconds']:.1f} s = "
                 f"{speed:.0f}x realtime; peak memory main {ing['peak_rss_mb_main']:.0f} MB, "
                 f"workers {ing['peak_rss_mb_workers']:.0f} MB" if speed else "ingest: nothing registered")
    if db["mb_per_hour"]:
        lines.append(f"database: {db['fingerprints']} fingerprints, {db['bytes'] / 1e6:.1f} MB, "
                     f"{db['mb_per_hour']:.1f} MB per hour")
    return lines + _recognition_lines(report)


def _recognition_lines(report):
    """Latency, false positives, redrawn excerpts and offsets, where known."""
    lines = []
    lat = report["latency"]
    if lat["median_ms"] is not None:
        lines.append(f"query latency: median {lat['median_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms")
    fp = report["false_positive_rate"]
    if fp is not None:
        unknown = sum(cell["unknown_clips"] for cell in report["cells"])
        lines.append(f"false positives on unregistered music: {100 * fp:.2f} % of {unknown} clips")
    settings = report.get("settings", {})
    if settings.get("silent_excerpts_redrawn"):
        lines.append(f"excerpts quieter than {settings['audible_dbfs']:g} dBFS drawn again (silence is no query): "
                     f"{settings['silent_excerpts_redrawn']}")
    off = report.get("offset")
    if off and off["strict"] is not None:
        lines.append(f"offsets (within {off['tolerance_seconds']:g} s, {off['judged']} clips found on their own "
                     f"song): {100 * off['strict']:.1f} % right; {100 * off['repeat_aware']:.1f} % counting "
                     f"{off['repeats']} that point at a repeat of the same audio")
    return lines


def _pct(v):
    return f"{100 * v:7.1f}%" if v is not None else "       -"


def _cell_table(cells):
    """The header and one row per cell (condition, length)."""
    lines = [f"{'condition':<10}{'length':>7}{'clips':>7}{'top-1':>8}{'95% CI':>10}{'top-5':>8}{'rank':>6}"
             f"{'offset':>8}{'+rep':>8}{'unk':>5}{'FP':>4}{'med ms':>8}{'p95 ms':>8}"]
    for cell in cells:
        rank = f"{cell['mean_rank']:6.2f}" if cell["mean_rank"] else "     -"
        med = f"{cell['latency_median_ms']:8.1f}" if cell["latency_median_ms"] is not None else "       -"
        p95 = f"{cell['latency_p95_ms']:8.1f}" if cell["latency_p95_ms"] is not None else "       -"
        ci = cell.get("top1_interval")
        ci = f"{100 * ci[0]:5.0f}-{100 * ci[1]:<3.0f}" if ci else "         -"
        lines.append(f"{cell['condition']:<10}{cell['length']:>6g}s{cell['clips']:>7}{_pct(cell['top1'])}{ci:>10}"
                     f"{_pct(cell['top5'])}{rank}{_pct(cell['offset_accuracy'])}"
                     f"{_pct(cell.get('offset_accuracy_repeat_aware'))}{cell['unknown_clips']:>5}"
                     f"{cell['false_positives']:>4}{med}{p95}")
    return lines


def save_report(report, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, default=list)


__all__ = ["CONDITIONS", "STAGES", "evaluate", "excerpt_similarity", "format_report", "save_report", "threshold_table",
           "split_tracks", "plan_clips", "readable_tracks", "find_shared_audio", "wilson_interval"]
