"""Measure recognition on a folder of music: hold some tracks out, register
the rest, recognise seeded random excerpts under each degradation, and report
accuracy, offsets, false positives, latency and ingest speed.

Used by ``bench/`` (Debian's game music) and by the tests (generated audio).
Every step is seeded: the same folder, seed and settings give the same clips.
"""
import json
import logging
import os
import resource
import time
import wave
from dataclasses import asdict, dataclass

import numpy as np

from .audio import decode_file, iter_decode
from .degrade import CONDITIONS, degrade
from .errors import AudioDecodeError

log = logging.getLogger(__name__)

CLIP_SOURCE_RATE = 44100            # Hz; excerpts are cut at this rate before degradation
OFFSET_TOLERANCE = 0.1              # seconds; an offset within this of the truth is right


@dataclass
class ClipSpec:
    track: int          # index into the track list
    known: bool         # registered (True) or held out (False)
    start: float        # seconds into the track
    length: float       # seconds
    condition: str
    path: str = ""


def split_tracks(tracks, holdout):
    """Every k-th track (k = round(1 / holdout)) is held out; returns
    (registered indices, held-out indices)."""
    if holdout <= 0:
        return list(range(len(tracks))), []
    k = max(2, int(round(1.0 / holdout)))
    held = [i for i in range(len(tracks)) if i % k == k - 1]
    return [i for i in range(len(tracks)) if i % k != k - 1], held


def readable_tracks(tracks):
    """Decode every track once (at a low rate) to learn its length.

    Returns (tracks, durations in seconds, [(path, error message)]) with the
    unreadable ones left out."""
    kept, durations, unreadable = [], [], []
    for path in tracks:
        try:
            n = sum(c.size for c in iter_decode(path, target_rate=2000, chunk_seconds=600))
        except AudioDecodeError as exc:
            unreadable.append((path, exc.message))
            continue
        kept.append(path)
        durations.append(n / 2000.0)
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


def _write_wav(path, samples, rate):
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(pcm.tobytes())


def make_clips(tracks, specs, out_dir, *, seed):
    """Cut, degrade and write every planned clip (each track decoded once)."""
    os.makedirs(out_dir, exist_ok=True)
    by_track = {}
    for n, spec in enumerate(specs):
        by_track.setdefault(spec.track, []).append((n, spec))
    for track, items in sorted(by_track.items()):
        audio = decode_file(tracks[track], target_rate=CLIP_SOURCE_RATE)
        for n, spec in items:
            rng = np.random.default_rng([seed, n])
            a = int(spec.start * CLIP_SOURCE_RATE)
            excerpt = audio[a:a + int(spec.length * CLIP_SOURCE_RATE)]
            samples, rate = degrade(excerpt, CLIP_SOURCE_RATE, spec.condition, rng)
            spec.path = os.path.join(out_dir, f"clip{n:05d}_{spec.condition}_{spec.length:g}s.wav")
            _write_wav(spec.path, samples, rate)
    return specs


def find_shared_audio(engine, tracks, registered_ids, *, probe_seconds=8.0, probes=3):
    """Tracks that contain the same audio as another track (game soundtracks
    reuse cues). Probes each track at a few places against the database.

    Returns
    -------
    dict
        track index -> set of song ids (other than its own) that share audio.
    """
    shared = {}
    for i, path in enumerate(tracks):
        audio = decode_file(path, target_rate=engine.params.sample_rate)
        duration = audio.size / engine.params.sample_rate
        own = registered_ids.get(i)
        for k in range(probes):
            start = duration * (k + 1) / (probes + 1) - probe_seconds / 2
            if start < 0:
                continue
            a = int(start * engine.params.sample_rate)
            result = engine.match_samples(audio[a:a + int(probe_seconds * engine.params.sample_rate)])
            for c in result["candidates"]:
                if c["confidence"] >= engine.config.recognition.threshold and c["song_id"] != own:
                    shared.setdefault(i, set()).add(c["song_id"])
    return shared


def _percentile(values, q):
    return float(np.percentile(values, q)) if values else None


def evaluate(engine, tracks, *, work_dir, lengths=(1, 2, 3, 5, 10), conditions=("clean",), clips=50,
             unknown_clips=20, holdout=0.1, seed=0, jobs=None, detect_shared=True, progress=None):
    """Register, recognise and report. See the module docstring.

    Parameters
    ----------
    engine : Dejavu
        On an empty (or disposable) database.
    tracks : list of str
        Audio files, in a stable order.
    progress : callable(str), optional
        Told what step is running.

    Returns
    -------
    dict
        JSON-serialisable report.
    """
    say = progress or (lambda msg: log.info(msg))
    say("reading tracks")
    tracks, durations, unreadable = readable_tracks(tracks)
    known, unknown = split_tracks(tracks, holdout)
    say(f"registering {len(known)} tracks ({len(unknown)} held out)")
    t0 = time.monotonic()
    report = engine.register([tracks[i] for i in known], jobs=jobs)
    ingest_wall = time.monotonic() - t0
    path_to_song = {o.path: o.song_id for o in report.outcomes if o.song_id is not None}
    registered_ids = {i: path_to_song.get(os.path.abspath(tracks[i])) for i in known}
    stats = engine.stats()

    shared = {}
    if detect_shared:
        say("looking for tracks that share audio")
        shared = find_shared_audio(engine, tracks, registered_ids)

    specs = plan_clips(durations, known, unknown, lengths=lengths, conditions=conditions, clips=clips,
                       unknown_clips=unknown_clips, seed=seed)
    say(f"making {len(specs)} clips")
    make_clips(tracks, specs, os.path.join(work_dir, "clips"), seed=seed)

    say(f"recognising {len(specs)} clips")
    rows = []
    for spec in specs:
        t = time.perf_counter()
        samples = engine.decode(spec.path)
        result = engine.match_samples(samples)
        latency = time.perf_counter() - t
        truth = registered_ids.get(spec.track) if spec.known else None
        accept = ({truth} if truth else set()) | shared.get(spec.track, set())
        ranks = [r for r, c in enumerate(result["candidates"], 1) if c["song_id"] in accept]
        match = result["match"]
        rows.append({
            **asdict(spec),
            "accepted": sorted(accept),
            "match": match["song_id"] if match else None,
            "correct": bool(match and match["song_id"] in accept),
            "offset_ok": bool(match and match["song_id"] == truth
                              and abs(match["offset_seconds"] - spec.start) <= OFFSET_TOLERANCE),
            "offset_error": (match["offset_seconds"] - spec.start) if match and match["song_id"] == truth else None,
            "rank": ranks[0] if ranks else None,
            "confidence": match["confidence"] if match else
            (result["candidates"][0]["confidence"] if result["candidates"] else 0.0),
            "latency": latency,
        })
    cells = []
    for condition in conditions:
        for length in lengths:
            cell = [r for r in rows if r["condition"] == condition and r["length"] == float(length)]
            kn = [r for r in cell if r["known"]]
            un = [r for r in cell if not r["known"] and not r["accepted"]]
            ranked = [r["rank"] for r in kn if r["rank"]]
            correct = [r for r in kn if r["correct"]]
            cells.append({
                "condition": condition, "length": float(length), "clips": len(kn),
                "top1": len(correct) / len(kn) if kn else None,
                "top5": sum(1 for r in kn if r["rank"] and r["rank"] <= 5) / len(kn) if kn else None,
                "mean_rank": float(np.mean(ranked)) if ranked else None,
                "offset_accuracy": (sum(1 for r in correct if r["offset_ok"]) /
                                    max(1, sum(1 for r in correct if r["offset_error"] is not None))
                                    if correct else None),
                "unknown_clips": len(un),
                "false_positives": sum(1 for r in un if r["match"] is not None),
                "latency_median_ms": 1000 * _percentile([r["latency"] for r in cell], 50) if cell else None,
                "latency_p95_ms": 1000 * _percentile([r["latency"] for r in cell], 95) if cell else None,
            })
    latencies = [r["latency"] for r in rows]
    unknown_rows = [r for r in rows if not r["known"] and not r["accepted"]]
    ru_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ru_children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "corpus": {"tracks": len(tracks), "unreadable": unreadable, "registered": len(known), "held_out": len(unknown),
                   "hours_registered": stats["hours"],
                   "shared_audio_tracks": len(shared),
                   "shared_audio_pairs": sorted({tuple(sorted((registered_ids.get(t) or -1 - t, s)))
                                                 for t, ids in shared.items() for s in ids})},
        "ingest": {"wall_seconds": ingest_wall, "audio_seconds": report.audio_seconds,
                   "speed_x_realtime": report.audio_seconds / ingest_wall if ingest_wall else None,
                   "failed": [(o.path, o.message) for o in report.failed],
                   "peak_rss_mb_main": ru_self / 1024.0, "peak_rss_mb_workers": ru_children / 1024.0},
        "database": {"bytes": stats["bytes"], "fingerprints": stats["fingerprints"],
                     "mb_per_hour": stats["bytes"] / 1e6 / stats["hours"] if stats["hours"] else None},
        "latency": {"median_ms": 1000 * _percentile(latencies, 50) if latencies else None,
                    "p95_ms": 1000 * _percentile(latencies, 95) if latencies else None},
        "false_positive_rate": (sum(1 for r in unknown_rows if r["match"] is not None) / len(unknown_rows)
                                if unknown_rows else None),
        "cells": cells,
        "clips": rows,
    }


def format_report(report):
    """The report as a human-readable table."""
    lines = []
    c, ing, db, lat = report["corpus"], report["ingest"], report["database"], report["latency"]
    lines.append(f"corpus: {c['tracks']} tracks ({len(c['unreadable'])} unreadable left out), {c['registered']} registered ({c['hours_registered']:.2f} h), "
                 f"{c['held_out']} held out; {c['shared_audio_tracks']} tracks share audio with another "
                 f"({len(c['shared_audio_pairs'])} pairs)")
    speed = ing["speed_x_realtime"]
    lines.append(f"ingest: {ing['audio_seconds'] / 3600:.2f} h in {ing['wall_seconds']:.1f} s = "
                 f"{speed:.0f}x realtime; peak memory main {ing['peak_rss_mb_main']:.0f} MB, "
                 f"workers {ing['peak_rss_mb_workers']:.0f} MB" if speed else "ingest: nothing registered")
    if db["mb_per_hour"]:
        lines.append(f"database: {db['fingerprints']} fingerprints, {db['bytes'] / 1e6:.1f} MB, "
                     f"{db['mb_per_hour']:.1f} MB per hour")
    if lat["median_ms"] is not None:
        lines.append(f"query latency: median {lat['median_ms']:.1f} ms, p95 {lat['p95_ms']:.1f} ms")
    fp = report["false_positive_rate"]
    if fp is not None:
        lines.append(f"false positives on unregistered music: {100 * fp:.2f} %")
    lines.append("")
    lines.append(f"{'condition':<10}{'length':>7}{'clips':>7}{'top-1':>8}{'top-5':>8}{'rank':>6}"
                 f"{'offset':>8}{'unk':>5}{'FP':>4}{'med ms':>8}{'p95 ms':>8}")

    def pct(v):
        return f"{100 * v:7.1f}%" if v is not None else "      -"
    for cell in report["cells"]:
        rank = f"{cell['mean_rank']:6.2f}" if cell["mean_rank"] else "     -"
        med = f"{cell['latency_median_ms']:8.1f}" if cell["latency_median_ms"] is not None else "       -"
        p95 = f"{cell['latency_p95_ms']:8.1f}" if cell["latency_p95_ms"] is not None else "       -"
        lines.append(f"{cell['condition']:<10}{cell['length']:>6g}s{cell['clips']:>7}{pct(cell['top1'])}"
                     f"{pct(cell['top5'])}{rank}{pct(cell['offset_accuracy'])}{cell['unknown_clips']:>5}"
                     f"{cell['false_positives']:>4}{med}{p95}")
    return "\n".join(lines)


def save_report(report, path):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=1, default=list)


__all__ = ["CONDITIONS", "evaluate", "format_report", "save_report", "split_tracks", "plan_clips"]
