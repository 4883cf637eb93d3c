"""Issue 30's benchmark: recognition cost and registration speed as the
library grows from the benchmark corpus (1x) to ~10x and ~1,000 hours.

    python bench/scale.py build   --sizes 1x,10x,1000h --backends sqlite,mysql
    python bench/scale.py measure --sizes 1x,10x,1000h --backends sqlite,mysql
    python bench/scale.py all --quick            # smoke run, a few minutes
    python bench/scale.py probe --probe-hours 9  # registration into the built 10x again (a full cycle of levels)

Libraries (built once, reused while their manifest matches; ``--work``,
default ``bench/work-scale/``):

- **1x**: the corpus as ``bench/run.py`` registers it (every 10th track held
  out as unknown music).
- **10x**: 1x plus renderings of the registered tracks that cannot align with
  any forward clip (time-reversed, each at several speeds), rendered once to
  mono FLAC at 11.025 kHz under ``renders/`` and registered through
  ``engine.register`` (2 jobs). The last batch of renderings (``--probe-hours``)
  is registered into an empty library and then into the ~10x one, and decoded
  by ffmpeg alone, back to back: the registration-rate ratios of issue 30
  (the index's levels left to move then are moved, timed and charged to the
  batch in proportion to its rows: "amortised"). ``probe`` measures them
  again on the built library (SQLite: on a copy), logging every move.
- **1000h**: a copy of 10x grown with synthetic rows to ``--synth-hours``
  (see ``bench/synthrows.py``; the model is printed).

``measure`` recognises the same seeded clips (held-out split; clean, mp3,
noise10, noise0, mic, speed2 at 1, 2, 3, 5, 10 s; unknown clips from
held-out tracks) one after another in-process against each library, through
the public engine API only, and prints latency (total, lookup, alignment,
rest; median and p95, and their ratio to 1x), rows read per query, top-1 per
condition with its 95 % interval, false positives, registration rates and
bytes per hour. A JSON report goes to ``bench/results/``.
"""
import argparse
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import synthrows  # noqa: E402
from run import analyze_mysql, corpus_tracks, fresh_sqlite, mysql_config, reset_mysql, set_buffer_pool  # noqa: E402

from dejavu_cn import Dejavu  # noqa: E402
from dejavu_cn.audio import ffmpeg_decode_command  # noqa: E402
from dejavu_cn.storage.base import index_rows_sql  # noqa: E402
from dejavu_cn.evaluate import (ClipSpec, _recognise_clip, find_shared_audio, make_clips, plan_clips,  # noqa: E402
                                readable_tracks, split_tracks, wilson_interval)

LENGTHS = (1, 2, 3, 5, 10)
CONDITIONS = ("clean", "mp3", "noise10", "noise0", "mic", "speed2")
# Renderings for 10x, all time-reversed (a reversed peak pair is another hash, and no clip plays backwards),
# at these speeds (pitch and tempo together; asetrate + aresample), taken in order until the factor is reached.
# None is within 5 % of +2 %: the speed2 clips cannot align with a rendering either.
RENDER_SPEEDS = (1.0, 0.8, 1.25, 0.9, 1.12, 0.85, 1.18, 0.95, 1.06, 0.75, 1.33)
# Mono FLAC at the analysis rate (11025 Hz): about 5 times faster to render than Vorbis or Opus on this
# machine (the encoders, not the filters, are the cost), decodes fast; about 100 MB per hour.
RENDER_RATE = 11025                 # Hz
RENDER_CODEC = ("flac", "-compression_level", "5")
RENDER_EXT = ".flac"
MYSQL_PREFIX = "dejavu_cn_scale_"
SIZES = ("1x", "10x", "1000h")


def log(msg):
    print(msg, flush=True)


# -- corpus ------------------------------------------------------------------------------------------
class Corpus:
    """The readable corpus tracks, their lengths and the held-out split (cached in ``work/corpus.json``)."""

    def __init__(self, work, quick):
        tracks = corpus_tracks(work)
        if quick:
            tracks = [t for t in tracks if os.path.getsize(t) > 1_000_000][::12][:10]     # songs, not jingles
        cache = os.path.join(work, "corpus.json")
        key = hashlib.sha1("\n".join(tracks).encode()).hexdigest()
        data = _read_json(cache)
        if not data or data.get("key") != key:
            t = time.monotonic()
            kept, durations, unreadable = readable_tracks(tracks)
            data = {"key": key, "tracks": kept, "durations": durations, "unreadable": unreadable}
            _write_json(cache, data)
            log(f"corpus: read {len(tracks)} tracks in {time.monotonic() - t:.0f} s")
        self.tracks, self.durations, self.unreadable = data["tracks"], data["durations"], data["unreadable"]
        self.known, self.unknown = split_tracks(self.tracks, 0.1)
        self.registered = [self.tracks[i] for i in self.known]
        self.registered_seconds = sum(self.durations[i] for i in self.known)


def _read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, default=str)
    os.replace(tmp, path)


# -- libraries ---------------------------------------------------------------------------------------
def lib_name(args, size):
    """A library's name: its size, after the preset when one is given."""
    return f"{args.preset}-{size}" if args.preset else size


STATS_TIMEOUT_SECONDS = 900     # a statement may take this long: InnoDB counts a 1,000 h index's rows in about 80 s


def library_config(args, backend, size):
    config = ({"database": {"path": os.path.join(args.work, f"lib-{lib_name(args, size)}.sqlite3")}}
              if backend == "sqlite" else mysql_config(mysql_name(args, size)))
    config["database"]["timeout_seconds"] = STATS_TIMEOUT_SECONDS
    if args.recent_rows is not None:
        config["database"]["recent_rows"] = args.recent_rows
    if args.preset:
        config["preset"] = args.preset
    return config


def mysql_name(args, size):
    return MYSQL_PREFIX + ("quick_" if args.quick else "") + lib_name(args, size)


def manifest_path(args, backend, size):
    return os.path.join(args.work, f"lib-{backend}-{lib_name(args, size)}.json")


def existing(args, backend, size, spec):
    """The manifest of a built library that matches ``spec`` and opens, or None."""
    manifest = _read_json(manifest_path(args, backend, size))
    if not manifest or manifest.get("spec") != spec:
        return None
    if backend == "sqlite" and not os.path.exists(library_config(args, backend, size)["database"]["path"]):
        return None
    try:
        with Dejavu(library_config(args, backend, size)) as engine:
            songs, total = engine.list_songs(limit=1)
    except Exception as exc:                # gone, or made by another version of the schema
        log(f"  {backend} {size}: the built library does not open ({exc}); building again")
        return None
    # a 10x library's size is measured before its probe batch, which it holds afterwards
    return manifest if total == manifest["result"].get("songs_held", manifest["result"]["songs"]) else None


def empty_library(args, backend, name):
    """A fresh empty library: (config, cleanup)."""
    if backend == "sqlite":
        config = library_config(args, backend, name)
        path = fresh_sqlite(config["database"]["path"])
        return config, lambda: fresh_sqlite(path)
    db = mysql_name(args, name)
    reset_mysql(db)
    return library_config(args, backend, name), lambda: reset_mysql(db, create=False)


def register(engine, paths, jobs, backend, what):
    t = time.monotonic()
    report = engine.register(paths, jobs=jobs)
    wall = time.monotonic() - t
    if report.failed:
        log(f"  {len(report.failed)} files failed: {report.failed[:3]}")
    rate = report.audio_seconds / wall if wall else None
    log(f"  {what}: {len(paths)} files, {report.audio_seconds / 3600:.2f} h in {wall:.1f} s = {rate:.0f}x realtime")
    return {"files": len(paths), "audio_seconds": report.audio_seconds, "wall_seconds": wall, "x_realtime": rate,
            "failed": len(report.failed)}


def library_stats(engine, backend):
    if backend == "mysql":
        analyze_mysql(engine)
    t = time.monotonic()
    s = engine.stats()
    return {"songs": s["songs"], "fingerprints": s["fingerprints"], "hours": s["hours"], "bytes": s["bytes"],
            "mb_per_hour": s["bytes"] / 1e6 / s["hours"] if s["hours"] else None,
            "stats_seconds": time.monotonic() - t}


def build_1x(args, corpus, backend):
    spec = {"size": "1x", "tracks": corpus.registered, "preset": args.preset}
    found = existing(args, backend, "1x", spec)
    if found:
        log(f"  {backend} 1x: built ({found['result']['hours']:.2f} h), reused")
        return found
    config, _ = empty_library(args, backend, "1x")
    t = time.monotonic()
    with Dejavu(config) as engine:
        reg = register(engine, corpus.registered, args.jobs, backend, f"{backend} 1x")
        stats = library_stats(engine, backend)
    manifest = {"spec": spec, "result": {**stats, "register": reg, "build_seconds": time.monotonic() - t}}
    _write_json(manifest_path(args, backend, "1x"), manifest)
    return manifest


def render_speeds(factor):
    """Speeds whose renderings bring the library to ``factor`` times the corpus."""
    speeds, total = [], 1.0
    for s in RENDER_SPEEDS:
        if total >= factor - 0.05:
            break
        speeds.append(s)
        total += 1.0 / s
    return speeds


def render(args, corpus):
    """Render every registered track reversed at each speed (once; kept in
    ``work/renders``). Returns (paths, seconds per path, spec)."""
    speeds = render_speeds(args.factor)
    folder = os.path.join(args.work, "renders")
    os.makedirs(folder, exist_ok=True)
    jobs = []
    for i in corpus.known:
        stem = f"{i:04d}_{os.path.splitext(os.path.basename(corpus.tracks[i]))[0]}"
        outs = [os.path.join(folder, f"{stem}_rev{s:.2f}{RENDER_EXT}") for s in speeds]
        jobs.append((corpus.tracks[i], outs, corpus.durations[i]))

    def one(job):
        src, outs, _ = job
        if all(os.path.exists(o) and os.path.getsize(o) > 0 for o in outs):
            return
        graph = [f"[0:a]aformat=channel_layouts=mono,aresample={RENDER_RATE},areverse,asplit={len(speeds)}"
                 + "".join(f"[s{k}]" for k in range(len(speeds)))]
        graph += [f"[s{k}]asetrate={RENDER_RATE * s:.0f},aresample={RENDER_RATE}[o{k}]" for k, s in enumerate(speeds)]
        cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", src, "-filter_complex", ";".join(graph)]
        tmp = [o + ".part" + RENDER_EXT for o in outs]
        for k, o in enumerate(tmp):
            cmd += ["-map", f"[o{k}]", "-c:a", *RENDER_CODEC, o]
        subprocess.run(cmd, check=True)
        for t, o in zip(tmp, outs):
            os.replace(t, o)

    t = time.monotonic()
    with ThreadPoolExecutor(args.jobs) as pool:
        list(pool.map(one, jobs))
    paths = [o for _, outs, _ in jobs for o in outs]
    seconds = [d / s for _, _, d in jobs for s in speeds]
    size = sum(os.path.getsize(p) for p in paths)
    log(f"  renders: {len(paths)} files, {sum(seconds) / 3600:.1f} h, {size / 1e9:.2f} GB "
        f"({size * 8 / sum(seconds) / 1000:.0f} kbit/s) in {folder} ({time.monotonic() - t:.0f} s)")
    return paths, seconds, {"speeds": speeds, "rate": RENDER_RATE, "codec": list(RENDER_CODEC),
                            "bytes": size, "hours": sum(seconds) / 3600}


def probe_split(paths, seconds, hours):
    """The last renderings up to ``hours`` of audio, spread over the list
    (every k-th): the batch whose registration rate is compared."""
    k = max(1, int(len(paths) * (hours * 3600) / max(sum(seconds), 1)))
    step = max(1, len(paths) // k)
    probe = list(range(len(paths) - 1, -1, -step))[:k]
    chosen = set(probe)
    return [p for i, p in enumerate(paths) if i not in chosen], [paths[i] for i in sorted(probe)]


def decode_speed(paths, jobs, rate):
    """ffmpeg alone decoding and resampling ``paths`` (the library's own
    command, as bench/run.py's decode_reference), ``jobs`` at a time: x realtime."""
    def decode(path):
        done = subprocess.run(ffmpeg_decode_command(path, rate), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return len(done.stdout) / 4 / rate if done.returncode == 0 else 0.0
    t = time.monotonic()
    with ThreadPoolExecutor(jobs) as pool:
        seconds = sum(pool.map(decode, paths))
    return seconds / (time.monotonic() - t)


def build_10x(args, corpus, backend):
    paths, seconds, rspec = render(args, corpus)
    rest, probe = probe_split(paths, seconds, args.probe_hours)
    spec = {"size": "10x", "tracks": corpus.registered, "preset": args.preset, "renders": {k: rspec[k] for k in ("speeds", "rate", "codec")},
            "probe": [os.path.basename(p) for p in probe]}
    found = existing(args, backend, "10x", spec)
    if found:
        log(f"  {backend} 10x: built ({found['result']['hours']:.2f} h), reused")
        return found
    config, _ = empty_library(args, backend, "10x")
    t = time.monotonic()
    with Dejavu(config) as engine:
        reg = register(engine, corpus.registered + rest, args.jobs, backend, f"{backend} 10x without the probe batch")
        if backend == "mysql":
            analyze_mysql(engine)
        stats = library_stats(engine, backend)            # the size before the probe's moves
        ratios = probe_registration(args, backend, engine, probe)
        held = engine.list_songs(limit=1)[1]
    manifest = {"spec": spec, "result": {**stats, "songs_held": held, "register": reg, "registration": ratios,
                                         "renders": rspec, "build_seconds": time.monotonic() - t}}
    _write_json(manifest_path(args, backend, "10x"), manifest)
    return manifest


def probe_registration(args, backend, engine, probe):
    """The same files, back to back: ffmpeg alone, registered into an empty
    library and into ``engine``'s. Registering moves rows down the index's
    levels when due (storage.base, "levels"); a batch shorter than a cycle
    of them may see no move into the index, so each library's levels are
    then moved whole and timed, and that move charged to the batch in
    proportion to its rows ("amortised": the batch's rows over the
    pending level's full size, ``pending_share`` of the index)."""
    stats_before = engine.stats()
    ffmpeg = decode_speed(probe, args.jobs, engine.params.sample_rate)
    log(f"  probe batch: ffmpeg alone decodes it at {ffmpeg:.0f}x realtime on {args.jobs} jobs")

    def into(target, what, before):
        reg = register(target, probe, args.jobs, backend, what)
        s = target.stats()
        index_rows = s["fingerprints"] - s["pending_fingerprints"] - s["recent_fingerprints"]
        move = target.storage.merge_levels(everything=True)
        share = target.storage.pending_share
        rows = s["fingerprints"] - before["fingerprints"]
        cycle = max(target.storage.recent_rows, share * index_rows)
        reg["levels_after"] = {"recent": s["recent_fingerprints"], "pending": s["pending_fingerprints"],
                               "index": index_rows}
        reg["final_move"] = move
        reg["mb_per_hour"] = s["bytes"] / 1e6 / s["hours"] if s["hours"] else None
        reg["amortised_wall_seconds"] = reg["wall_seconds"] + move["seconds"] * min(1.0, rows / cycle)
        reg["amortised_x_realtime"] = reg["audio_seconds"] / reg["amortised_wall_seconds"]
        log(f"    levels after: {reg['levels_after']}; moving them whole took {move['seconds']:.1f} s, charged "
            f"{min(1.0, rows / cycle):.2f} of it: amortised {reg['amortised_x_realtime']:.0f}x realtime")
        return reg

    empty_cfg, cleanup = empty_library(args, backend, "probe")
    with Dejavu(empty_cfg) as empty:
        into_empty = into(empty, f"{backend} probe batch into an empty library", empty.stats())
    cleanup()
    into_full = into(engine, f"{backend} probe batch into the {stats_before['hours']:.1f} h library", stats_before)
    ratios = {"probe_hours": into_full["audio_seconds"] / 3600, "library_hours_before": stats_before["hours"],
              "ffmpeg_x_realtime": ffmpeg, "empty": into_empty, "full": into_full,
              "full_over_empty": into_full["x_realtime"] / into_empty["x_realtime"],
              "amortised_full_over_empty": into_full["amortised_x_realtime"] / into_empty["amortised_x_realtime"],
              "empty_over_ffmpeg": into_empty["x_realtime"] / ffmpeg,
              "full_over_ffmpeg": into_full["x_realtime"] / ffmpeg}
    log(f"  registration: into {stats_before['hours']:.1f} h {into_full['x_realtime']:.0f}x, into empty "
        f"{into_empty['x_realtime']:.0f}x (ratio {ratios['full_over_empty']:.2f}; amortised "
        f"{ratios['amortised_full_over_empty']:.2f}); ffmpeg alone {ffmpeg:.0f}x "
        f"(empty / ffmpeg {ratios['empty_over_ffmpeg']:.2f})")
    return ratios


def cmd_probe(args, corpus):
    """Measure registration again on a built ~10x library: its probe batch
    is deleted (from a copy, on SQLite) and registered back, beside ffmpeg
    and an empty library."""
    paths, seconds, _ = render(args, corpus)
    _, probe = probe_split(paths, seconds, args.probe_hours)
    moves = logging.getLogger("dejavu_cn.storage.base")       # each move of the levels, with its time
    moves.setLevel(logging.INFO)
    moves.addHandler(logging.StreamHandler(sys.stdout))
    out = {}
    for backend in args.backends:
        config = library_config(args, backend, "10x")
        if backend == "sqlite":
            src = config["database"]["path"]
            with Dejavu(config) as engine:            # its WAL folded in before the copy
                engine.storage.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            copy = fresh_sqlite(os.path.join(args.work, "probe-copy.sqlite3"))
            shutil.copy(src, copy)
            config = {**config, "database": {**config["database"], "path": copy}}
        with Dejavu(config) as engine:
            ids = path_ids(engine)
            gone = [ids[os.path.abspath(p)] for p in probe if os.path.abspath(p) in ids]
            t = time.monotonic()
            engine.delete_songs(gone)
            engine.storage.merge_levels(everything=True)
            log(f"  {backend}: the probe batch's {len(gone)} songs deleted ({time.monotonic() - t:.0f} s)")
            out[backend] = probe_registration(args, backend, engine, probe)
        if backend == "sqlite":
            fresh_sqlite(copy)
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, f"scale-probe-{time.strftime('%Y%m%d-%H%M%S')}.json")
    _write_json(path, out)
    log(f"written {path}")
    return 0


def distinct_hashes(args, backend, size):
    """(rows, distinct hashes) of a built library (counted once, kept in its manifest)."""
    path = manifest_path(args, backend, size)
    manifest = _read_json(path)
    if "distinct_hashes" not in manifest["result"]:
        t = time.monotonic()
        with Dejavu(library_config(args, backend, size)) as engine:
            cur = engine.storage.conn.cursor()
            cur.execute(f"SELECT COUNT(*) FROM (SELECT DISTINCT hash FROM ({index_rows_sql('hash')}) AS r) AS d")
            manifest["result"]["distinct_hashes"] = int(cur.fetchone()[0])
        _write_json(path, manifest)
        log(f"  {backend} {size}: {manifest['result']['distinct_hashes'] / 1e6:.2f} M distinct hashes of "
            f"{manifest['result']['fingerprints'] / 1e6:.2f} M rows ({time.monotonic() - t:.0f} s)")
    return manifest["result"]["fingerprints"], manifest["result"]["distinct_hashes"]


def build_1000h(args, corpus, backend):
    build_1x(args, corpus, backend)
    src = build_10x(args, corpus, backend)
    small, large = distinct_hashes(args, backend, "1x"), distinct_hashes(args, backend, "10x")
    target_rows = large[0] * args.synth_hours / src["result"]["hours"]
    share, beta = synthrows.heaps_new_key_share(small, large, target_rows)
    spec = {"size": "1000h", "source": src["spec"], "synth_hours": args.synth_hours, "seed": args.seed,
            "model_version": synthrows.MODEL_VERSION, "new_key_share": round(share, 6)}
    found = existing(args, backend, "1000h", spec)
    if found:
        log(f"  {backend} 1000h: built ({found['result']['hours']:.1f} h), reused")
        return found
    model = synthrows.model(share)
    log(f"  distinct hashes grow as rows^{beta:.3f} from 1x to 10x; model: {model}")
    config, _ = empty_library(args, backend, "1000h")
    with Dejavu(config) as engine:          # the store makes the schema
        engine.list_songs(limit=1)
        frame = engine.params.frame_seconds()
    kw = dict(target_seconds=args.synth_hours * 3600, frame_seconds=frame, seed=args.seed, chunks=args.chunks,
              new_key_share=share, progress=lambda m: log(f"  {m}"))
    if backend == "sqlite":
        out = synthrows.grow_sqlite(library_config(args, backend, "10x")["database"]["path"],
                                    config["database"]["path"], **kw)
    else:
        out = synthrows.grow_mysql(config["database"], mysql_name(args, "10x"), **kw)
    with Dejavu(config) as engine:
        stats = library_stats(engine, backend)
    log(f"  {backend} 1000h: {out['synthetic_songs']} synthetic songs, {out['rows'] / 1e6:.1f} M rows, "
        f"{stats['bytes'] / 1e9:.2f} GB, built in {out['build_seconds']:.0f} s")
    manifest = {"spec": spec, "result": {**stats, "synthesis": out, "build_seconds": out["build_seconds"],
                                         "model": model, "heaps_exponent": beta}}
    _write_json(manifest_path(args, backend, "1000h"), manifest)
    return manifest


BUILDERS = {"1x": build_1x, "10x": build_10x, "1000h": build_1000h}


def with_buffer_pool(args, backend, work):
    before = None
    if backend == "mysql" and args.buffer_pool_mb:
        before = set_buffer_pool(args.buffer_pool_mb << 20)
        if before is not None:
            log(f"  innodb_buffer_pool_size {before >> 20} MB -> {args.buffer_pool_mb} MB (restored afterwards)")
    try:
        return work()
    finally:
        if before is not None:
            set_buffer_pool(before)


def cmd_build(args, corpus):
    built = {}
    for backend in args.backends:
        for size in args.sizes:
            log(f"=== build {backend} {size} ===")
            t = time.monotonic()
            built[(backend, size)] = with_buffer_pool(args, backend, lambda: BUILDERS[size](args, corpus, backend))
            r = built[(backend, size)]["result"]
            log(f"  {backend} {size}: {r['hours']:.1f} h, {r['songs']} songs, {r['fingerprints'] / 1e6:.1f} M rows, "
                f"{r['bytes'] / 1e9:.2f} GB ({time.monotonic() - t:.0f} s this run)")
    return built


# -- measuring ---------------------------------------------------------------------------------------
def clip_set(args, corpus):
    """The seeded clip plan (made once per settings, kept in ``work/clips``)."""
    key = hashlib.sha1(json.dumps([corpus.tracks, args.seed, args.clips, args.unknown_clips, LENGTHS,
                                   CONDITIONS]).encode()).hexdigest()[:12]
    plan_file = os.path.join(args.work, f"clips-{key}.json")
    data = _read_json(plan_file)
    if data:
        specs = [ClipSpec(**s) for s in data]
        if all(os.path.exists(s.path) for s in specs):
            return specs
    specs = plan_clips(corpus.durations, corpus.known, corpus.unknown, lengths=list(LENGTHS),
                       conditions=list(CONDITIONS), clips=args.clips, unknown_clips=args.unknown_clips, seed=args.seed)
    t = time.monotonic()
    make_clips(corpus.tracks, specs, os.path.join(args.work, f"clips-{key}"), seed=args.seed)
    _write_json(plan_file, [vars(s) for s in specs])
    log(f"clips: {len(specs)} made in {time.monotonic() - t:.0f} s")
    return specs


def path_ids(engine):
    songs, _ = engine.list_songs()
    return {os.path.abspath(s["source_path"]): s["song_id"] for s in songs}


def shared_audio(args, corpus):
    """{track index: [paths of other registered tracks sharing its audio]},
    found once on a SQLite 1x library of the shipped defaults (built if
    missing): which tracks share audio is the corpus's, not the settings
    measured (peak triplets name a few chance windows of 8 s above the
    threshold, which would excuse their false positives). Renderings and
    synthetic songs share none."""
    cache = os.path.join(args.work, "shared.json")
    data = _read_json(cache)
    if data and data.get("tracks") == corpus.tracks and data.get("found_with") == "defaults":
        return {int(k): v for k, v in data["shared"].items()}
    t = time.monotonic()
    defaults = argparse.Namespace(**{**vars(args), "preset": None})
    build_1x(defaults, corpus, "sqlite")
    with Dejavu(library_config(defaults, "sqlite", "1x")) as engine:
        ids = path_ids(engine)
        registered = {i: ids.get(os.path.abspath(corpus.tracks[i])) for i in corpus.known}
        found = find_shared_audio(engine, corpus.tracks, registered)
    by_id = {v: k for k, v in ids.items()}
    shared = {int(i): sorted(by_id[s] for s in songs if s in by_id) for i, songs in found.items()}
    _write_json(cache, {"tracks": corpus.tracks, "shared": shared, "found_with": "defaults"})
    log(f"shared audio: {len(shared)} tracks share audio with another ({time.monotonic() - t:.0f} s)")
    return shared


class RowCounter:
    """Counts the rows the store returns (wraps ``engine.storage.lookup``);
    a result's own ``rows_read`` is preferred where the engine reports it."""

    def __init__(self, engine):
        self.rows = 0
        storage = engine.storage
        inner = storage.lookup

        def lookup(*a, **kw):
            found = inner(*a, **kw)
            try:
                self.rows += len(found.song_ids)
            except (AttributeError, TypeError):
                pass
            return found
        storage.lookup = lookup


class Recorder:
    """The engine as ``evaluate._recognise_clip`` sees it, keeping the last result."""

    def __init__(self, engine):
        self.engine, self.last = engine, None

    def decode(self, path, **kw):
        return self.engine.decode(path, **kw)

    def match_samples(self, samples, **kw):
        self.last = self.engine.match_samples(samples, **kw)
        return self.last


def prewarm(args, backend, size):
    """Read the library once, as a serving machine has it in memory: the
    SQLite file through the OS cache (24 GB RAM here), MariaDB's index into
    its buffer pool (a full scan); returns seconds, or None."""
    if args.no_prewarm:
        return None
    t = time.monotonic()
    if backend == "sqlite":
        with open(library_config(args, backend, size)["database"]["path"], "rb") as f:
            while f.read(1 << 24):
                pass
    else:
        import pymysql
        cfg = library_config(args, backend, size)["database"]
        conn = pymysql.connect(host=cfg["host"], port=cfg["port"], user=cfg["user"], password=cfg["password"],
                               database=cfg["database"], read_timeout=3600)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT COUNT(*) FROM fingerprints FORCE INDEX (PRIMARY)")
                cur.fetchall()
        finally:
            conn.close()
    return time.monotonic() - t


def measure_one(args, corpus, specs, shared, backend, size):
    rows = []
    warm = prewarm(args, backend, size)
    with Dejavu(library_config(args, backend, size)) as engine:
        ids = path_ids(engine)
        counter = RowCounter(engine)
        rec = Recorder(engine)
        for spec in specs[:args.warmup]:                  # not counted: first queries open connections, caches
            rec.match_samples(engine.decode(spec.path))
        t = time.monotonic()
        for spec in specs:
            truth = ids.get(os.path.abspath(corpus.tracks[spec.track])) if spec.known else None
            accept = ({truth} if truth else set()) | {ids[p] for p in shared.get(spec.track, []) if p in ids}
            before = counter.rows
            row = _recognise_clip(rec, spec, truth, accept)
            result = rec.last
            timings = result.get("timings", {})
            rows_read = result.get("rows_read")
            row.update(lookup=float(timings.get("query", 0.0)), align=float(timings.get("align", 0.0)),
                       rows_read=int(rows_read if rows_read is not None else counter.rows - before),
                       rows_source="result" if rows_read is not None else "lookup wrapper",
                       hashes_read=int(result.get("hashes_read", -1)))
            row["rest"] = row["latency"] - row["lookup"] - row["align"]
            rows.append(row)
            if len(rows) % 200 == 0 and len(rows) < len(specs):
                lat = [r["latency"] * 1000 for r in rows]
                log(f"    {len(rows)}/{len(specs)} clips: median {np.median(lat):.1f} ms, p95 "
                    f"{np.percentile(lat, 95):.1f} ms, rows read median {np.median([r['rows_read'] for r in rows]):.0f}")
        wall = time.monotonic() - t
        stats = library_stats(engine, backend)
    log(f"  {backend} {size}: {len(rows)} clips in {wall:.0f} s" + (f" (library read once first: {warm:.0f} s)" if warm else ""))
    return {"backend": backend, "size": size, "library": stats, "prewarm_seconds": warm, "clips": rows}


def summarise(m):
    rows = m["clips"]
    ms = {k: np.array([r[k] for r in rows]) * 1000 for k in ("latency", "lookup", "align", "rest")}
    out = {k: {"median_ms": float(np.median(v)), "p95_ms": float(np.percentile(v, 95))} for k, v in ms.items()}
    rr = np.array([r["rows_read"] for r in rows])
    out["rows_read"] = {"median": float(np.median(rr)), "p95": float(np.percentile(rr, 95)), "mean": float(rr.mean())}
    hr = np.array([r.get("hashes_read", -1) for r in rows])
    out["hashes_read"] = {"median": float(np.median(hr)), "p95": float(np.percentile(hr, 95))}
    known = [r for r in rows if r["known"]]
    unknown = [r for r in rows if not r["known"] and not r["accepted"]]
    out["top1"] = {}
    for c in CONDITIONS:
        cell = [r for r in known if r["condition"] == c]
        ok = sum(r["correct"] for r in cell)
        out["top1"][c] = {"correct": ok, "clips": len(cell), "rate": ok / len(cell) if cell else None,
                          "interval": wilson_interval(ok, len(cell))}
    out["cells"] = {f"{c} {L:g}s": sum(r["correct"] for r in known if r["condition"] == c and r["length"] == L)
                    / max(1, sum(1 for r in known if r["condition"] == c and r["length"] == L))
                    for c in CONDITIONS for L in LENGTHS}
    fp = sum(1 for r in unknown if r["match"] is not None)
    out["false_positives"] = {"matched": fp, "clips": len(unknown), "rate": fp / len(unknown) if unknown else None}
    return out


def report_text(args, measured, manifests):
    keys = [(b, s) for b in args.backends for s in args.sizes if (b, s) in measured]
    summ = {k: summarise(measured[k]) for k in keys}
    lines = []
    col = 16
    head = f"{'':<26}" + "".join(f"{b + ' ' + s:>{col}}" for b, s in keys)
    lines += ["", head]

    def row(label, fn):
        lines.append(f"{label:<26}" + "".join(f"{fn(k):>{col}}" for k in keys))

    def lib(k, f):
        return measured[k]["library"][f]
    row("hours", lambda k: f"{lib(k, 'hours'):.1f}")
    row("songs", lambda k: f"{lib(k, 'songs')}")
    row("rows (M)", lambda k: f"{lib(k, 'fingerprints') / 1e6:.1f}")
    row("size (GB)", lambda k: f"{lib(k, 'bytes') / 1e9:.2f}")
    row("MB per hour", lambda k: f"{lib(k, 'mb_per_hour'):.1f}")
    for part, label in (("latency", "total"), ("lookup", "lookup"), ("align", "alignment"), ("rest", "rest")):
        for q in ("median_ms", "p95_ms"):
            def cell(k, part=part, q=q):
                v = summ[k][part][q]
                base = summ.get((k[0], "1x"))
                ratio = f" x{v / base[part][q]:.2f}" if base and base[part][q] > 0 and k[1] != "1x" else ""
                return f"{v:.1f}{ratio}"
            row(f"{label} {q.replace('_ms', '')} ms", cell)
    for q in ("median", "p95"):
        def rcell(k, q=q):
            v = summ[k]["rows_read"][q]
            base = summ.get((k[0], "1x"))
            ratio = f" x{v / base['rows_read'][q]:.1f}" if base and base["rows_read"][q] > 0 and k[1] != "1x" else ""
            return f"{v:.0f}{ratio}"
        row(f"rows read per query {q}", rcell)
    for q in ("median", "p95"):
        row(f"hashes looked up per query {q}", lambda k, q=q: f"{summ[k].get('hashes_read', {}).get(q, -1):.0f}")
    lines.append("")
    for c in CONDITIONS:
        def tcell(k, c=c):
            t = summ[k]["top1"][c]
            if t["rate"] is None:
                return "-"
            lo, hi = t["interval"]
            return f"{100 * t['rate']:.1f} ({100 * lo:.0f}-{100 * hi:.0f})"
        row(f"top-1 {c} % (95% CI)", tcell)
    row("false positives", lambda k: f"{summ[k]['false_positives']['matched']}/{summ[k]['false_positives']['clips']}")
    lines.append("")
    lines.append("latency: decode + match_samples, one clip after another in-process; lookup = timings.query, "
                 "alignment = timings.align, rest = the remainder (decode, fingerprint, sketch check); x: ratio to 1x")
    lines.append("rows read: " + ", ".join(sorted({r["rows_source"] for m in measured.values() for r in m["clips"]})))
    for b in args.backends:
        man = manifests.get((b, "10x"))
        if man and "registration" in man["result"]:
            g = man["result"]["registration"]
            lines.append(f"registration ({b}, the same {g['probe_hours']:.2f} h of renderings, back to back): into an "
                         f"empty library {g['empty']['x_realtime']:.0f}x realtime, into the "
                         f"{g['library_hours_before']:.1f} h library {g['full']['x_realtime']:.0f}x "
                         f"(ratio {g['full_over_empty']:.2f}); ffmpeg alone {g['ffmpeg_x_realtime']:.0f}x "
                         f"(empty / ffmpeg {g['empty_over_ffmpeg']:.2f}, full / ffmpeg {g['full_over_ffmpeg']:.2f})")
        for s in args.sizes:
            man = manifests.get((b, s))
            if man:
                r = man["result"]
                extra = ""
                if "register" in r:
                    extra = f", registered at {r['register']['x_realtime']:.0f}x realtime"
                lines.append(f"build {b} {s}: {r['build_seconds']:.0f} s{extra}")
    for (b, s), man in manifests.items():
        if s == "1000h":
            lines.append(f"1000h {b}: distinct hashes grow as rows^{man['result'].get('heaps_exponent', 0):.3f}; "
                         + man["result"].get("model", synthrows.MODEL))
    return "\n".join(lines), summ


def cmd_measure(args, corpus):
    manifests = {}
    for backend in args.backends:
        for size in args.sizes:
            man = _read_json(manifest_path(args, backend, size))
            if man:
                manifests[(backend, size)] = man
            else:
                log(f"  {backend} {size}: not built (run build first); skipped")
    if not manifests:
        return 1
    specs = clip_set(args, corpus)
    shared = shared_audio(args, corpus)
    n_known = sum(s.known for s in specs)
    log(f"measuring: {n_known} clips of registered tracks, {len(specs) - n_known} of held-out tracks, "
        f"{args.warmup} warm-up queries first")
    measured = {}
    for backend in args.backends:
        for size in args.sizes:
            if (backend, size) in manifests:
                measured[(backend, size)] = with_buffer_pool(
                    args, backend, lambda: measure_one(args, corpus, specs, shared, backend, size))
    text, summ = report_text(args, measured, manifests)
    log(text)
    os.makedirs(args.results, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = os.path.join(args.results, f"scale-{'quick-' if args.quick else ''}{stamp}.json")
    _write_json(path, {"settings": {k: v for k, v in vars(args).items() if k != "func"},
                       "summary": {f"{b} {s}": v for (b, s), v in summ.items()},
                       "manifests": {f"{b} {s}": m for (b, s), m in manifests.items()},
                       "measured": {f"{b} {s}": m for (b, s), m in measured.items()}})
    log(f"report: {path}")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("build", "measure", "all", "probe"))
    ap.add_argument("--sizes", default="1x,10x,1000h")
    ap.add_argument("--backends", default="sqlite,mysql")
    ap.add_argument("--clips", type=int, default=None, help="clips per condition and length (default 30; quick 3)")
    ap.add_argument("--unknown-clips", type=int, default=None, help="held-out clips per cell (default 10; quick 1)")
    ap.add_argument("--seed", type=int, default=30)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--factor", type=float, default=10.0, help="10x: library hours as a multiple of the corpus")
    ap.add_argument("--probe-hours", type=float, default=None,
                    help="renderings registered last, into an empty and into the ~10x library (default 1; quick 0.1)")
    ap.add_argument("--synth-hours", type=float, default=None, help="1000h: hours in all (default 1000; quick 30)")
    ap.add_argument("--chunks", type=int, default=256, help="1000h: hash ranges the synthesis works through")
    ap.add_argument("--warmup", type=int, default=20, help="queries run first and not counted")
    ap.add_argument("--no-prewarm", action="store_true", help="do not read a library once before measuring (SQLite: its file; MariaDB: its index)")
    ap.add_argument("--recent-rows", type=int, default=None,
                    help="database.recent_rows of every library (0: new rows straight into the index, as before "
                         "the index's levels; default: the configuration's)")
    ap.add_argument("--buffer-pool-mb", type=int, default=4096,
                    help="InnoDB buffer pool while building and measuring MariaDB, restored afterwards (0: leave it)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 10 tracks, 3 clips per cell, a 30 h synthetic size (own work folder)")
    ap.add_argument("--preset", default=None,
                    help="build and measure libraries of this configuration preset (e.g. large), beside the defaults'")
    ap.add_argument("--work", default=None, help="default bench/work-scale (quick: bench/work-scale-quick)")
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    args = ap.parse_args(argv)
    q = args.quick
    args.work = os.path.abspath(args.work or os.path.join(HERE, "work-scale-quick" if q else "work-scale"))
    args.clips = args.clips if args.clips is not None else (3 if q else 30)
    args.unknown_clips = args.unknown_clips if args.unknown_clips is not None else (1 if q else 10)
    args.probe_hours = args.probe_hours if args.probe_hours is not None else (0.1 if q else 1.0)
    args.synth_hours = args.synth_hours if args.synth_hours is not None else (30.0 if q else 1000.0)
    if q and args.warmup == 20:
        args.warmup = 5
    args.sizes = [s for s in args.sizes.split(",") if s]
    args.backends = [b for b in args.backends.split(",") if b]
    bad = [s for s in args.sizes if s not in SIZES] + [b for b in args.backends if b not in ("sqlite", "mysql")]
    if bad:
        ap.error(f"unknown sizes or backends: {bad}")
    os.makedirs(args.work, exist_ok=True)
    corpus = Corpus(args.work, q)
    log(f"corpus: {len(corpus.tracks)} readable tracks, {len(corpus.known)} registered "
        f"({corpus.registered_seconds / 3600:.2f} h), {len(corpus.unknown)} held out; work folder {args.work}")
    code = 0
    if args.command in ("build", "all"):
        cmd_build(args, corpus)
    if args.command in ("measure", "all"):
        code = cmd_measure(args, corpus)
    if args.command == "probe":
        code = cmd_probe(args, corpus)
    return code


if __name__ == "__main__":
    sys.exit(main())
