"""The fingerprint store on a MariaDB cluster, side by side with one node.

Registers the benchmark's corpus (the registered tracks of ``bench/tune.py
prepare``'s plan, through the real path: files, ffmpeg, workers) into one
MariaDB node (the server on 127.0.0.1:3306, a database of its own), a Spider
cluster and a Galera cluster (``scripts/cluster.sh up``, started here unless
running), then recognises the same clips on the three, one after the other
for each clip, so the latency ratios are paired against the machine's drift.

    python bench/tune.py prepare                 # once: the corpus and the clips
    python bench/cluster.py [--clips-per-cell 20] [--lengths 1,3,10]

Prints per backend: registration rate (x realtime, and as a share of one
node's), top-1 per condition, false positives on unknown clips, latency
median / p95 (ms, and as a ratio to one node's), and the Spider shards'
shares of the rows.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from dejavu_cn import Dejavu  # noqa: E402

ONE_NODE = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
DB_NAME = "dejavu_cn_bench_one_node"


def cluster_config(kind, folder):
    env = {**os.environ, "DEJAVU_CN_CLUSTER_DIR": folder, "DEJAVU_CN_BUFFER_POOL": "1G"}
    config_path = os.path.join(folder, f"{kind}.json")
    if not os.path.exists(config_path):
        done = subprocess.run(["bash", os.path.join(ROOT, "scripts", "cluster.sh"), "up", kind], env=env,
                              capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"cluster.sh up {kind} failed: {done.stderr[-2000:]}")
    with open(config_path, encoding="utf-8") as f:
        return json.load(f)


def one_node_config(db_name=DB_NAME):
    import pymysql

    from run import BUFFER_POOL_BYTES
    conn = pymysql.connect(**ONE_NODE)
    with conn.cursor() as cur:
        cur.execute("SELECT @@innodb_buffer_pool_size")
        if cur.fetchone()[0] < BUFFER_POOL_BYTES:       # as bench/run.py measures (the default 128 MB cannot
            cur.execute("SET GLOBAL innodb_buffer_pool_size = %s", (BUFFER_POOL_BYTES,))   # lock a 1 M-row batch)
        cur.execute(f"DROP DATABASE IF EXISTS `{db_name}`")
        cur.execute(f"CREATE DATABASE `{db_name}`")
    conn.close()
    return {"database_type": "mysql", "database": {**ONE_NODE, "database": db_name}}


def register(name, config, tracks, seconds):
    engine = Dejavu(config)
    t0 = time.perf_counter()
    report = engine.register(tracks, jobs=2)
    elapsed = time.perf_counter() - t0
    print(f"  {name}: registered {len(report.by_status('registered'))} of {len(tracks)} in {elapsed:.1f} s "
          f"({seconds / elapsed:.0f}x realtime)", flush=True)
    return engine, seconds / elapsed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default=os.path.join(HERE, "work"), help="bench/tune.py's --work")
    ap.add_argument("--cluster-dir", default="/tmp/dejavu-cn-bench-cluster")
    ap.add_argument("--clips-per-cell", type=int, default=20, help="clips per condition and length (known ones)")
    ap.add_argument("--lengths", default="1,3,10")
    ap.add_argument("--one-node-database", default=DB_NAME, help="the one node's database (dropped and made again)")
    ap.add_argument("--keep", action="store_true", help="leave the clusters running")
    args = ap.parse_args(argv)
    plan = json.load(open(os.path.join(args.work, "tune", "plan.json")))
    clip_dir = os.path.join(args.work, "tune", "clips")
    tracks = [plan["tracks"][i] for i in plan["known"]]
    seconds = sum(plan["durations"][i] for i in plan["known"])
    lengths = {float(x) for x in args.lengths.split(",")}
    picked, per_cell = [], {}
    for n, spec in enumerate(plan["clips"]):
        if spec["length"] not in lengths:
            continue
        cell = (spec["condition"], spec["length"], spec["known"])
        if per_cell.get(cell, 0) < (args.clips_per_cell if spec["known"] else max(1, args.clips_per_cell // 2)):
            per_cell[cell] = per_cell.get(cell, 0) + 1
            picked.append(n)
    folders = {kind: os.path.join(args.cluster_dir, kind) for kind in ("spider", "galera")}
    for folder in folders.values():
        os.makedirs(folder, exist_ok=True)
        os.chmod(folder, 0o755)
    os.chmod(args.cluster_dir, 0o755)
    configs = {"one node": one_node_config(args.one_node_database), "spider": cluster_config("spider", folders["spider"]),
               "galera": cluster_config("galera", folders["galera"])}
    print(f"registering {len(tracks)} tracks ({seconds / 3600:.2f} h) into each backend", flush=True)
    engines, rates = {}, {}
    for name, config in configs.items():
        engines[name], rates[name] = register(name, config, tracks, seconds)
    known_song = {os.path.basename(p): i for i, p in enumerate(plan["tracks"])}
    print(f"recognising {len(picked)} clips on each backend, in turn", flush=True)
    times = {name: [] for name in engines}
    right = {name: {} for name in engines}
    wrong_unknown = {name: 0 for name in engines}
    for n in picked:
        spec = plan["clips"][n]
        samples = np.load(os.path.join(clip_dir, f"{n:05d}.npy"))
        for name, engine in engines.items():
            t0 = time.perf_counter()
            result = engine.match_samples(samples)
            times[name].append(time.perf_counter() - t0)
            match = result["match"]
            if spec["known"]:
                ok = match is not None and known_song.get(match["song_name"] + _ext(plan, spec)) == spec["track"]
                cell = right[name].setdefault((spec["condition"], spec["length"]), [0, 0])
                cell[0] += int(ok)
                cell[1] += 1
            elif match is not None:
                wrong_unknown[name] += 1
    unknown = sum(1 for n in picked if not plan["clips"][n]["known"])
    base = np.asarray(times["one node"])
    print()
    for name in engines:
        t = np.asarray(times[name]) * 1000
        ratio = (np.median(t / (base * 1000)), np.percentile(t, 95) / np.percentile(base * 1000, 95))
        cells = "  ".join(f"{c}/{L:g}s {100 * a / b:.0f}%" for (c, L), (a, b) in sorted(right[name].items()))
        print(f"{name:9s} register {rates[name]:.0f}x ({rates[name] / rates['one node']:.2f} of one node); "
              f"latency median {np.median(t):.1f} ms, p95 {np.percentile(t, 95):.1f} ms "
              f"(x{ratio[0]:.2f} / x{ratio[1]:.2f} one node's, paired clip by clip for the median); "
              f"false positives {wrong_unknown[name]} of {unknown}")
        print(f"          top-1: {cells}")
    stats = engines["spider"].stats()
    shares = [s["fingerprints"] / stats["fingerprints"] for s in stats["shards"]]
    print(f"spider shards: {', '.join(f'{100 * s:.1f} %' for s in shares)} of {stats['fingerprints']} rows")
    for engine in engines.values():
        engine.close()
    if not args.keep:
        for kind, folder in folders.items():
            subprocess.run(["bash", os.path.join(ROOT, "scripts", "cluster.sh"), "down"],
                           env={**os.environ, "DEJAVU_CN_CLUSTER_DIR": folder}, capture_output=True)
    return 0


def _ext(plan, spec):
    """The extension of the clip's track's file name (song names are file names without it)."""
    return os.path.splitext(plan["tracks"][spec["track"]])[1]


if __name__ == "__main__":
    sys.exit(main())
