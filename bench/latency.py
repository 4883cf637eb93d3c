"""Query latency alone, replayed: recognise the same seeded clips again and
again against the databases ``bench/run.py`` left (``bench/work/bench.sqlite3``
and the MariaDB database ``dejavu_cn_bench``; ``run.py --ingest-only`` is
enough), and print the median and p95 per backend with where the time goes
(decode, fingerprint, database, alignment, sketch check).

For trying a change to the query path in a few minutes: the clips are made
once (``bench/work/latency/``, kept between runs) and each backend recognises
all of them ``--rounds`` times, back to back.

    python bench/run.py --ingest-only --skip-memory     # once: the databases
    python bench/latency.py                             # sqlite and mysql, 2 rounds
    python bench/latency.py --backends mysql --set recognition.query_shift_seconds=3
"""
import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from run import BUFFER_POOL_BYTES, corpus_tracks, mysql_config, set_buffer_pool  # noqa: E402
from tune import parse_sets  # noqa: E402

from dejavu_cn import Dejavu  # noqa: E402
from dejavu_cn.evaluate import ClipSpec, make_clips, plan_clips, readable_tracks, split_tracks  # noqa: E402

PARTS = ("decode", "fingerprint", "query", "align", "sketch")


def clip_set(work, args):
    """The clip plan (made once per seed and size, then reused)."""
    folder = os.path.join(work, "latency")
    plan_file = os.path.join(folder, f"plan_{args.seed}_{args.clips}_{args.unknown_clips}.json")
    if os.path.exists(plan_file):
        with open(plan_file) as f:
            specs = [ClipSpec(**s) for s in json.load(f)]
        if all(os.path.exists(s.path) for s in specs):
            return specs
    tracks = corpus_tracks(work)
    tracks, durations, _ = readable_tracks(tracks)
    known, unknown = split_tracks(tracks, 0.1)
    specs = plan_clips(durations, known, unknown, lengths=[1, 2, 3, 5, 10],
                       conditions=["clean", "mp3", "noise10", "noise0", "mic", "speed2"],
                       clips=args.clips, unknown_clips=args.unknown_clips, seed=args.seed)
    make_clips(tracks, specs, os.path.join(folder, "clips"), seed=args.seed)
    with open(plan_file, "w") as f:
        json.dump([vars(s) for s in specs], f)
    return specs


def replay(config, specs, rounds):
    """Per round: [(total, {part: seconds})] per clip."""
    out = []
    with Dejavu(config) as engine:
        for _ in range(rounds):
            times = []
            for spec in specs:
                t0 = time.perf_counter()
                samples = engine.decode(spec.path)
                t1 = time.perf_counter()
                result = engine.match_samples(samples)
                t2 = time.perf_counter()
                parts = {"decode": t1 - t0, **{p: result["timings"][p] for p in PARTS[1:]}}
                times.append((t2 - t0, parts))
            out.append(times)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="sqlite,mysql")
    ap.add_argument("--clips", type=int, default=30, help="clips of registered music per condition and length")
    ap.add_argument("--unknown-clips", type=int, default=10, help="clips of held-out music per condition and length")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.NAME=JSON",
                    help="override a configuration value (recognition only: the databases' parameters are fixed)")
    args = ap.parse_args(argv)
    specs = clip_set(args.work, args)
    print(f"{len(specs)} clips, {args.rounds} rounds each", flush=True)
    overlay = parse_sets(args.set)
    for backend in args.backends.split(","):
        pool_before = None
        if backend == "sqlite":
            config = {"database": {"path": os.path.join(args.work, "bench.sqlite3")}}
        else:
            config = mysql_config("dejavu_cn_bench")
            pool_before = set_buffer_pool(BUFFER_POOL_BYTES)
        config.update(overlay)
        try:
            rounds = replay(config, specs, args.rounds)
        finally:
            if pool_before is not None:
                set_buffer_pool(pool_before)
        for k, times in enumerate(rounds, 1):
            total = np.array([t for t, _ in times]) * 1000
            split = "  ".join(f"{p} {np.median([parts[p] for _, parts in times]) * 1000:.1f} / "
                              f"{np.percentile([parts[p] for _, parts in times], 95) * 1000:.1f}" for p in PARTS)
            print(f"{backend} round {k}: median {np.median(total):.1f} ms, p95 {np.percentile(total, 95):.1f} ms "
                  f"(median / p95 of each part: {split})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
