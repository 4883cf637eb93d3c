"""Fast accuracy experiments on the benchmark's corpus and clips.

``bench/run.py`` measures the real thing (files, ffmpeg, SQLite and
MariaDB) in about 35 minutes. Trying a fingerprint or decision parameter
does not need all that: this script decodes the corpus and cuts the
benchmark's clips once (``prepare``: the same tracks, held-out split, clip
plan, seed and degradations as ``bench/run.py``), then each ``run`` builds
an in-memory index with the given parameters and recognises every clip
through the library's own engine (``Dejavu.match_samples``), in a few
minutes on 2 cores.

    python bench/tune.py prepare
    python bench/tune.py run                                  # the shipped defaults
    python bench/tune.py run --set fingerprint.peaks_per_second=40 --set recognition.query_shifts=2

Latency, ingest speed and database size are not measured here (the index
lives in numpy arrays); ``bench/run.py`` measures them. ``run`` reports,
besides accuracy, the query's hash count and the rows its lookup returns,
which is what latency depends on.
"""
import argparse
import dataclasses
import json
import multiprocessing
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from dejavu_cn import Dejavu  # noqa: E402
from dejavu_cn.audio import decode_file  # noqa: E402
from dejavu_cn.config import Config  # noqa: E402
from dejavu_cn.evaluate import (CLIP_SOURCE_RATE, OFFSET_TOLERANCE, _audible_start,  # noqa: E402
                                _make_clip, find_shared_audio, plan_clips, readable_tracks, split_tracks)
from dejavu_cn.fingerprint import drop_repeated, fingerprint, sketch_of  # noqa: E402
from dejavu_cn.hashing import hash_keys  # noqa: E402
from dejavu_cn.matching import align  # noqa: E402
from dejavu_cn.sketch import to_bytes  # noqa: E402
from dejavu_cn.columns import Lookup  # noqa: E402
from dejavu_cn.storage.counts import COUNT_BITS, key_buckets  # noqa: E402
from run import parse_sets  # noqa: E402

LENGTHS = (1.0, 2.0, 3.0, 5.0, 10.0)
CONDITIONS = ("clean", "mp3", "noise10", "noise0", "mic", "speed2")


class MemoryIndex:
    """Just enough of the storage interface for ``Dejavu.match_samples``:
    rows sorted by hash key, looked up with ``searchsorted``.

    ``scale`` > 1 stands in for a library that many times larger, as
    ``bench/scale.py`` synthesises one: every hash holds ``scale`` times its
    rows, the extra ones on synthetic songs (copies of the real songs'
    lengths) at independently random offsets, so nothing aligns."""

    SYNTHETIC_BASE = 1_000_000          # song ids of the synthetic songs start here

    def __init__(self, keys, song_ids, offsets, songs, sketches, *, scale=1):
        order = np.argsort(keys, kind="stable")
        self.keys, self.song_ids, self.offsets = keys[order], song_ids[order], offsets[order]
        self.songs, self._sketches = songs, sketches
        self.rows_returned = 0
        self.scale = int(scale)
        self._real_ids = np.array(sorted(songs), np.int64)
        frame = Config().fingerprint.frame_seconds()
        self._frames = np.array([songs[i]["duration_seconds"] / frame for i in self._real_ids])
        self._counts = None
        self._rng = np.random.default_rng(0)

    def estimated_rows(self, hashes):
        """As the real store's: the bucket's count, 0 for a hash the index
        holds none of (the presence, here exact)."""
        if self._counts is None:
            counts = np.bincount(key_buckets(self.keys), minlength=1 << COUNT_BITS) * self.scale
            self._counts = counts.astype(np.int32)
        wanted = hash_keys(hashes)
        at = np.minimum(np.searchsorted(self.keys, wanted), self.keys.size - 1)
        return np.where(self.keys[at] == wanted, self._counts[key_buckets(wanted)], 0)

    def _synthetic(self, keys):
        """(scale - 1) rows per real row of each key, on synthetic songs at random offsets."""
        n = keys.size * (self.scale - 1)
        copies = self._rng.integers(0, (self.scale - 1) * self._real_ids.size, n)
        real = copies % self._real_ids.size
        offsets = (self._rng.random(n) * self._frames[real]).astype(np.int64)
        return Lookup(np.repeat(keys, self.scale - 1), self.SYNTHETIC_BASE + copies, offsets)

    def setup(self, parameters, *, implied=None, followed=()):
        self.followed_parameters = {}
        return self

    def close(self):
        pass

    def song_count(self):
        return len(self.songs) * self.scale

    def lookup(self, hashes, *, songs=None):
        wanted = hash_keys(hashes)
        lo = np.searchsorted(self.keys, wanted, side="left")
        hi = np.searchsorted(self.keys, wanted, side="right")
        n = hi - lo
        idx = np.repeat(lo, n) + (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n))
        found = Lookup(self.keys[idx], self.song_ids[idx], self.offsets[idx])
        if self.scale > 1:
            found = Lookup.concat([found, self._synthetic(self.keys[idx])])
        if songs is not None:
            keep = np.isin(found.song_ids, np.asarray(songs, np.int64))
            found = Lookup(found.keys[keep], found.song_ids[keep], found.offsets[keep])
        self.rows_returned += found.keys.size
        return found

    def songs_by_id(self, song_ids):
        out = {}
        for i in map(int, song_ids):
            if i in self.songs:
                out[i] = self.songs[i]
            elif i >= self.SYNTHETIC_BASE:
                real = int(self._real_ids[(i - self.SYNTHETIC_BASE) % self._real_ids.size])
                out[i] = dict(self.songs[real], song_id=i, song_name=f"synthetic {i}", source_path="")
        return out

    def sketches(self, song_ids):
        return {int(i): self._sketches[int(i)] for i in song_ids if int(i) in self._sketches}


# -- prepare -------------------------------------------------------------------------------------

def _suffix(clip_set):
    """File name suffix of a named clip set ("" for the benchmark's own)."""
    return f"-{clip_set}" if clip_set else ""


def _decode_track(args):
    path, out, rate = args
    if not os.path.exists(out):
        np.save(out, decode_file(path, target_rate=rate))
    return out


def _cut_track(args):
    path, items, clip_dir, seed, rate = args
    audio = decode_file(path, target_rate=CLIP_SOURCE_RATE)
    done = []
    for n, spec in items:
        _audible_start(audio, spec, n, seed, audio.size / CLIP_SOURCE_RATE)
        _make_clip(audio, spec, n, clip_dir, seed)
        np.save(os.path.join(clip_dir, f"{n:05d}.npy"), decode_file(spec.path, target_rate=rate))
        os.remove(spec.path)
        spec.path = ""
        done.append((n, dataclasses.asdict(spec)))
    return done


def prepare(args):
    from run import corpus_tracks
    work = os.path.join(args.work, "tune")
    os.makedirs(os.path.join(work, "audio"), exist_ok=True)
    clip_dir = os.path.join(work, "clips" + _suffix(args.clip_set))
    os.makedirs(clip_dir, exist_ok=True)
    rate = Config().fingerprint.sample_rate
    conditions = tuple(args.conditions.split(","))
    lengths = tuple(float(x) for x in args.lengths.split(","))
    tracks = corpus_tracks(args.work)
    print(f"corpus: {len(tracks)} tracks; reading their lengths", flush=True)
    tracks, durations, unreadable = readable_tracks(tracks)
    known, unknown = split_tracks(tracks, 0.1)
    print(f"{len(tracks)} readable ({len(unreadable)} not), {len(known)} registered, {len(unknown)} held out",
          flush=True)
    audio_paths = [os.path.join(work, "audio", f"{i:04d}.npy") for i in range(len(tracks))]
    with multiprocessing.Pool(args.jobs) as pool:
        pool.map(_decode_track, [(t, p, rate) for t, p in zip(tracks, audio_paths)])
        print("tracks decoded", flush=True)
        specs = plan_clips(durations, known, unknown, lengths=lengths, conditions=conditions,
                           clips=args.clips, unknown_clips=args.unknown_clips, seed=args.seed)
        by_track = {}
        for n, spec in enumerate(specs):
            by_track.setdefault(spec.track, []).append((n, spec))
        jobs = [(tracks[t], items, clip_dir, args.seed, rate) for t, items in sorted(by_track.items())]
        rows = [None] * len(specs)
        for done in pool.imap_unordered(_cut_track, jobs):
            for n, spec in done:
                rows[n] = spec
    print(f"{len(specs)} clips cut", flush=True)
    with open(os.path.join(work, f"plan{_suffix(args.clip_set)}.json"), "w") as f:
        json.dump({"tracks": tracks, "durations": durations, "known": known, "unknown": unknown,
                   "audio": audio_paths, "clips": rows, "seed": args.seed}, f)
    return 0


# -- run -----------------------------------------------------------------------------------------

_G = {}


# Speeds of the renderings --grow adds (pitch and tempo together), each time-reversed: none can align with a
# forward clip, and none is within 5 % of +2 % (the speed2 clips), as bench/scale.py's 10x renderings.
GROW_SPEEDS = (0.8, 1.25, 0.9, 1.12, 0.85, 1.18, 0.75, 1.33, 0.7, 1.4, 0.72, 1.3, 0.78, 1.22, 0.82, 1.16)


def rendered_peaks(peaks, speed, params):
    """A song's peaks as a time-reversed rendering at ``speed`` would have
    them (bins and frames scaled, the band kept): a stand-in for registering
    the rendered audio, at the cost of pairing peaks."""
    from dejavu_cn.fingerprint import Peaks, band_bins
    frames = np.round((int(peaks.frames.max()) - peaks.frames) / speed).astype(np.int64)
    bins = np.round(peaks.bins * speed).astype(np.int64)
    low, high = band_bins(params)
    keep = (bins >= low) & (bins < high)
    cells = np.unique(np.stack([frames[keep], bins[keep]], axis=1), axis=0)      # sorted by (frame, bin)
    zeros = np.zeros(len(cells), np.float32)
    return Peaks(cells[:, 0].astype(np.int32), cells[:, 1].astype(np.int32), zeros, zeros)


def _fingerprint_track(args):
    i, path, params, grow = args
    audio = np.load(path)
    fps = drop_repeated(fingerprint(audio, params), params.max_hash_repeats)
    renders = []
    if grow > 1:
        from dejavu_cn.fingerprint import find_peaks, landmark_peaks
        peaks = find_peaks(audio, params)
        for k in range(grow - 1):
            if len(peaks):
                marks = landmark_peaks(rendered_peaks(peaks, GROW_SPEEDS[k % len(GROW_SPEEDS)], params), params)
                r = drop_repeated(marks.hashed(), params.max_hash_repeats)
                renders.append((hash_keys(r.hashes), r.offsets))
    return i, hash_keys(fps.hashes), fps.offsets, to_bytes(sketch_of(audio, params)), renders


RENDER_BASE = 10_000          # song ids of --grow's renderings: RENDER_BASE * k + the song's id


def build_engine(plan, overrides, jobs, *, scale=1, grow=1):
    config = Config.from_dict(overrides)
    params = config.fingerprint
    songs, sketches, keys, song_ids, offsets = {}, {}, [], [], []
    with multiprocessing.Pool(jobs) as pool:
        work = [(i, plan["audio"][i], params, grow) for i in plan["known"]]
        for i, k, o, sketch, renders in pool.imap_unordered(_fingerprint_track, work, chunksize=2):
            sid = i + 1
            sketches[sid] = sketch
            for n, (kk, oo) in enumerate([(k, o)] + renders):
                rid = sid + RENDER_BASE * n
                keys.append(kk)
                offsets.append(oo.astype(np.int64))
                song_ids.append(np.full(kk.size, rid, np.int64))
                duration = plan["durations"][i] / (GROW_SPEEDS[(n - 1) % len(GROW_SPEEDS)] if n else 1.0)
                songs[rid] = {"song_id": rid, "song_name": os.path.basename(plan["tracks"][i]) + (f" (render {n})" if n else ""),
                              "source_path": plan["tracks"][i], "file_sha1": "", "duration_seconds": duration,
                              "total_hashes": int(kk.size), "anchor_frames": int(np.unique(oo).size)}
    keys, song_ids, offsets = (np.concatenate(a) for a in (keys, song_ids, offsets))
    # the stores keep one row per (hash, song, offset)
    rows = np.unique(np.stack([keys, song_ids.astype(np.uint64), offsets.astype(np.uint64)], axis=1), axis=0)
    index = MemoryIndex(rows[:, 0], rows[:, 1].astype(np.int64), rows[:, 2].astype(np.int64), songs, sketches,
                        scale=scale)
    return Dejavu(config, storage=index), index


def _query_clip(n):
    engine, plan, shared = _G["engine"], _G["plan"], _G["shared"]
    spec = plan["clips"][n]
    samples = np.load(os.path.join(_G["clip_dir"], f"{n:05d}.npy"))
    index = engine.storage
    before = index.rows_returned
    t = time.perf_counter()
    result = engine.match_samples(samples)            # the library's own path, early decision included
    elapsed = time.perf_counter() - t
    rows = index.rows_returned - before
    rec = engine.config.recognition                   # diagnostics: the whole clip, aligned once more
    query = engine.analyze(samples)
    raw, stats = align(query, engine.lookup(query.hashes), max_rows=rec.max_hash_rows, top=10)
    truth = spec["track"] + 1 if spec["known"] else None
    accept = ({truth} if truth else set()) | set(shared.get(str(spec["track"]), []))
    match = result["match"]
    true_c = next((c for c in result["candidates"] if c["song_id"] == truth), None)
    error = match["offset_seconds"] - spec["start"] if match and truth and match["song_id"] == truth else None
    return {"n": n, "condition": spec["condition"], "length": spec["length"], "known": spec["known"],
            "accepted": bool(accept), "accept": sorted(accept), "correct": bool(match and match["song_id"] in accept),
            "matched": match is not None, "offset_error": error,
            "true_votes": true_c["aligned_frames"] if true_c else 0,
            "true_confidence": true_c["confidence"] if true_c else 0.0,
            "best_confidence": result["candidates"][0]["confidence"] if result["candidates"] else 0.0,
            "match_votes": match["aligned_frames"] if match else 0,
            "change": {k: match[k] for k in ("speed_factor", "pitch_semitones", "tempo_factor") if match and k in match},
            "hashes": int(result["input_total_hashes"]), "rows": rows, "decided_seconds": result["decided_seconds"],
            "songs_hit": stats["songs_hit"], "votes": stats["pairs"], "query_seconds": query.duration_seconds,
            "raw": [(c.song_id, c.aligned_frames, c.hits, index.songs_by_id([c.song_id])[c.song_id]["duration_seconds"])
                    for c in raw],
            "ms": 1000 * elapsed}


def shared_audio(plan, work, recompute, jobs):
    """{track index (str): [song ids sharing its audio]}, found once with the
    shipped defaults (an index of its own): which tracks share audio is the
    corpus's, not the settings tried (peak triplets name a few chance
    windows of 8 s above the threshold, which would excuse their false
    positives)."""
    path = os.path.join(work, "shared-defaults.json")
    if os.path.exists(path) and not recompute:
        with open(path) as f:
            return json.load(f)
    engine, _ = build_engine(plan, {}, jobs)
    registered = {i: i + 1 for i in plan["known"]}
    audio = {}

    def decode(i):
        if i not in audio:
            audio.clear()
            audio[i] = np.load(plan["audio"][i])
        return audio[i]
    found = find_shared_audio(engine, plan["tracks"], registered, decode=decode)
    shared = {str(k): sorted(v) for k, v in found.items()}
    with open(path, "w") as f:
        json.dump(shared, f)
    return shared


def summarise(rows):
    conditions = list(dict.fromkeys(r["condition"] for r in rows))
    lengths = sorted({r["length"] for r in rows})
    lines = [f"{'condition':<10}" + "".join(f"{x:>7g}s" for x in lengths) + "   FP"]
    cells = {}
    for cond in conditions:
        line = f"{cond:<10}"
        fp = 0
        for length in lengths:
            kn = [r for r in rows if r["condition"] == cond and r["length"] == length and r["known"]]
            un = [r for r in rows if r["condition"] == cond and r["length"] == length and not r["known"]
                  and not r["accepted"]]
            fp += sum(r["matched"] for r in un)
            acc = sum(r["correct"] for r in kn) / len(kn) if kn else float("nan")
            cells[f"{cond}_{length:g}"] = acc
            line += f"{100 * acc:7.1f}%"
        lines.append(line + f"{fp:5d}")
    unknown = [r for r in rows if not r["known"] and not r["accepted"]]
    fps = [r for r in unknown if r["matched"]]
    judged = [r for r in rows if r["offset_error"] is not None]
    ok = sum(abs(r["offset_error"]) <= OFFSET_TOLERANCE for r in judged)
    ms = [r["ms"] for r in rows]
    lines.append(f"false positives: {len(fps)} of {len(unknown)} ({100 * len(fps) / max(1, len(unknown)):.2f} %)"
                 f"; offsets within {OFFSET_TOLERANCE:g} s: {100 * ok / max(1, len(judged)):.1f} % of {len(judged)}")
    lines.append(f"per query: hashes median {np.median([r['hashes'] for r in rows]):.0f}, rows median "
                 f"{np.median([r['rows'] for r in rows]):.0f} p95 {np.percentile([r['rows'] for r in rows], 95):.0f}, "
                 f"in-memory time median {np.median(ms):.1f} ms p95 {np.percentile(ms, 95):.1f} ms")
    return "\n".join(lines), cells


def run(args):
    work = os.path.join(args.work, "tune")
    with open(os.path.join(work, f"plan{_suffix(args.clip_set)}.json")) as f:
        plan = json.load(f)
    overrides = parse_sets(args.set)
    t = time.monotonic()
    engine, index = build_engine(plan, overrides, args.jobs, scale=args.scale, grow=args.grow)
    hours = sum(s["duration_seconds"] for s in index.songs.values()) / 3600
    print(f"index: {index.keys.size} rows, {index.keys.size / hours:.0f} rows per hour, "
          f"built in {time.monotonic() - t:.0f} s", flush=True)
    shared = shared_audio(plan, work, args.recompute_shared, args.jobs)
    clip_ids = [n for n, c in enumerate(plan["clips"])
                if (not args.conditions or c["condition"] in args.conditions.split(",")) and c["length"] in
                [float(x) for x in args.lengths.split(",")]]
    _G.update(engine=engine, plan=plan, shared=shared, clip_dir=os.path.join(work, "clips" + _suffix(args.clip_set)))
    t = time.monotonic()
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        rows = pool.map(_query_clip, clip_ids, chunksize=16)
    print(f"{len(rows)} clips in {time.monotonic() - t:.0f} s", flush=True)
    text, cells = summarise(rows)
    print(text)
    if args.name:
        out = os.path.join(work, "results")
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, f"{args.name}.json"), "w") as f:
            json.dump({"overrides": overrides, "cells": cells, "rows": rows}, f)
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    ap.add_argument("--jobs", type=int, default=2)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare", help="decode the corpus and cut the benchmark's clips once")
    p.add_argument("--clips", type=int, default=100)
    p.add_argument("--unknown-clips", type=int, default=40)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--conditions", default=",".join(CONDITIONS),
                   help="conditions to cut (dejavu_cn.degrade's names; e.g. the speed, tempo and pitch changes)")
    p.add_argument("--lengths", default=",".join(f"{x:g}" for x in LENGTHS))
    r = sub.add_parser("run", help="build an index with these parameters and recognise every clip")
    r.add_argument("--set", action="append", default=[], metavar="SECTION.NAME=JSON",
                   help="a configuration value, e.g. fingerprint.fan_value=4 (repeatable)")
    r.add_argument("--name", help="save the per-clip results as work/tune/results/NAME.json")
    r.add_argument("--conditions", help="conditions to recognise (default: every one the clip set has)")
    r.add_argument("--lengths", default=",".join(f"{x:g}" for x in LENGTHS))
    r.add_argument("--scale", type=int, default=1,
                   help="stand in for a library this many times larger (synthetic rows, as bench/scale.py)")
    r.add_argument("--grow", type=int, default=1,
                   help="a library this many times larger: each song plus renderings of its peaks (time-reversed, "
                        "re-speeded), so hashes grow as with more real music (--scale copies rows instead)")
    r.add_argument("--recompute-shared", action="store_true",
                   help="probe the tracks for shared audio again (with the shipped defaults)")
    for sp in (p, r):
        sp.add_argument("--clip-set", default="", help="a named set of clips, cut and kept beside the benchmark's "
                        "(e.g. --clip-set changes --conditions speed0.90,...,pitch+1 --lengths 5,10)")
    args = ap.parse_args(argv)
    return prepare(args) if args.command == "prepare" else run(args)


if __name__ == "__main__":
    sys.exit(main())
