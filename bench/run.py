"""The dejavu-cn benchmark on real music nobody here wrote.

Corpus: Debian's nexuiz-music, warzone2100-music, singularity-music and
hyperrogue-music (``apt-get install`` them; see README). Every 10th track is
held out as unknown music, the rest is registered; seeded clips (1, 2, 3, 5,
10 s; clean, MP3 64 kbit/s, noise at 10 and 0 dB SNR, a microphone-like
path, +2 % speed) are recognised, and the report gives accuracy, offsets,
false positives, latency, ingest speed, bytes per hour and memory, for SQLite
and for MariaDB.

    python bench/run.py                      # both backends, full size
    python bench/run.py --backends sqlite --clips 20 --unknown-clips 10   # quicker
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from dejavu_cn import Dejavu  # noqa: E402
from dejavu_cn.evaluate import evaluate, format_report, save_report  # noqa: E402

PACKAGES = ("nexuiz-music", "warzone2100-music", "singularity-music", "hyperrogue-music")
NEXUIZ_PK3 = "/usr/share/games/nexuiz/data/music.pk3"
AUDIO_EXT = (".ogg", ".opus", ".mp3", ".flac", ".wav")


def corpus_tracks(work):
    """The corpus files (Nexuiz's are unpacked from its pk3 into ``work``), in
    an order that does not depend on ``work``: sorted by where each file
    comes from, so the held-out tracks and the clips are the same wherever
    the benchmark runs."""
    tracks = []
    origin = {}
    for package in PACKAGES:
        try:
            listing = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=True).stdout
        except (OSError, subprocess.CalledProcessError):
            sys.exit(f"bench: package {package} is not installed; run: apt-get install {' '.join(PACKAGES)}")
        tracks += [line for line in listing.splitlines() if line.lower().endswith(AUDIO_EXT) and os.path.isfile(line)]
    if os.path.exists(NEXUIZ_PK3):
        out = os.path.join(work, "corpus", "nexuiz")
        os.makedirs(out, exist_ok=True)
        with zipfile.ZipFile(NEXUIZ_PK3) as z:
            for info in z.infolist():
                if info.filename.lower().endswith(AUDIO_EXT):
                    target = os.path.join(out, os.path.basename(info.filename))
                    if not os.path.exists(target) or os.path.getsize(target) != info.file_size:
                        with z.open(info) as src, open(target, "wb") as dst:
                            shutil.copyfileobj(src, dst)
                    tracks.append(target)
                    origin[target] = f"{NEXUIZ_PK3}/{info.filename}"
    # drop byte-identical copies (a package may ship one file twice)
    seen, unique = set(), []
    for t in sorted(set(tracks), key=lambda t: origin.get(t, t)):
        key = (os.path.basename(t), os.path.getsize(t))
        if key not in seen:
            seen.add(key)
            unique.append(t)
    return unique


def mysql_config(name):
    return {"database_type": "mysql",
            "database": {"host": os.environ.get("DEJAVU_CN_MYSQL_HOST", "127.0.0.1"),
                         "port": int(os.environ.get("DEJAVU_CN_MYSQL_PORT", "3306")),
                         "user": os.environ.get("DEJAVU_CN_MYSQL_USER", "root"),
                         "password": os.environ.get("DEJAVU_CN_MYSQL_PASSWORD", ""), "database": name}}


def reset_mysql(name, *, create=True):
    import pymysql
    cfg = mysql_config(name)["database"]
    conn = pymysql.connect(host=cfg["host"], port=cfg["port"], user=cfg["user"], password=cfg["password"])
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        if create:
            cur.execute(f"CREATE DATABASE `{name}`")
    conn.close()


def drop_mysql(name):
    reset_mysql(name, create=False)


def parse_sets(items):
    """``section.name=JSON`` overrides into a configuration overlay."""
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        section, _, name = key.partition(".")
        out.setdefault(section, {})[name] = json.loads(value)
    return out


def fresh_sqlite(path):
    """``path``, with any database (and its WAL files) there removed."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    return path


BUFFER_POOL_BYTES = 1 << 30     # InnoDB cache the benchmark runs with (the server's default, 128 MB, is smaller than its index)


def set_buffer_pool(size):
    """Set the server's InnoDB buffer pool (a dynamic setting); returns the
    size it had, or None if this user may not change it."""
    import pymysql
    cfg = mysql_config("mysql")["database"]
    conn = pymysql.connect(host=cfg["host"], port=cfg["port"], user=cfg["user"], password=cfg["password"])
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@innodb_buffer_pool_size")
            before = int(cur.fetchone()[0])
            if before != size:
                cur.execute("SET GLOBAL innodb_buffer_pool_size = %s", (int(size),))
        return before
    except pymysql.err.MySQLError as exc:
        print(f"  cannot set innodb_buffer_pool_size ({exc}); measuring with the server's setting", flush=True)
        return None
    finally:
        conn.close()


def analyze_mysql(engine):
    with engine.storage.conn.cursor() as cur:
        cur.execute("ANALYZE TABLE fingerprints, songs")
        cur.fetchall()


def long_file_memory(work, tracks, backend):
    """Register one 2-hour file into a fresh database of ``backend`` in a
    child process; its peak memory (MB)."""
    long_path = os.path.join(work, "two_hours.ogg")
    if not os.path.exists(long_path):
        lst = os.path.join(work, "concat.txt")
        total, chosen = 0.0, []
        for t in tracks:
            chosen.append(t)
            total += float(subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of",
                                           "csv=p=0", t], capture_output=True, text=True).stdout.strip() or 0)
            if total >= 7200:
                break
        with open(lst, "w") as f:
            f.writelines(f"file '{t}'\n" for t in chosen)
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", lst,
                        "-t", "7200", "-ac", "2", "-ar", "44100", "-c:a", "libvorbis", "-q:a", "3", long_path],
                       check=True)
    if backend == "sqlite":
        config = {"database": {"path": fresh_sqlite(os.path.join(work, "long.sqlite3"))}}
    else:
        reset_mysql("dejavu_cn_long")
        config = mysql_config("dejavu_cn_long")
    cfg = os.path.join(work, "long.json")
    with open(cfg, "w") as f:
        json.dump(config, f)
    # The peak is read by a small go-between process: a child's ru_maxrss starts at its parent's resident size
    # when it was forked (Linux keeps the larger across exec), and this process holds the benchmark's hundreds of MB.
    probe = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")
    t = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "dejavu_cn", "--config", cfg,
                               "register", long_path, "--jobs", "1"], stdout=subprocess.PIPE, text=True, check=True)
        elapsed = time.monotonic() - t
    finally:
        if backend != "sqlite":
            drop_mysql("dejavu_cn_long")
    return {"file_seconds": 7200, "peak_rss_mb": int(done.stdout.split()[-1]) / 1024.0, "wall_seconds": elapsed}


def decode_reference(tracks, jobs):
    """ffmpeg alone decoding and resampling the registered tracks (the
    library's own command), ``jobs`` at a time: how fast this machine is,
    the yardstick for the speed figures. Returns (x realtime, x per core)."""
    from concurrent.futures import ThreadPoolExecutor
    from dejavu_cn.audio import ffmpeg_decode_command
    from dejavu_cn.config import FingerprintParams
    from dejavu_cn.evaluate import split_tracks
    known, _ = split_tracks(tracks, 0.1)
    rate = FingerprintParams().sample_rate

    def decode(path):
        done = subprocess.run(ffmpeg_decode_command(path, rate), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return len(done.stdout) / 4 / rate if done.returncode == 0 else 0.0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    with ThreadPoolExecutor(jobs) as pool:
        seconds = sum(pool.map(decode, [tracks[i] for i in known]))
    wall = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds / wall, seconds / cpu


def ingest_only(engine, tracks, jobs, backend):
    from dejavu_cn.evaluate import split_tracks
    known, _ = split_tracks(tracks, 0.1)
    t = time.monotonic()
    report = engine.register([tracks[i] for i in known], jobs=jobs)
    wall = time.monotonic() - t
    if backend == "mysql":
        analyze_mysql(engine)
    stats = engine.stats()
    return (f"ingest: {report.audio_seconds / 3600:.2f} h in {wall:.1f} s = {report.audio_seconds / wall:.0f}x realtime "
            f"({len(report.failed)} unreadable); {stats['fingerprints']} fingerprints, {stats['bytes'] / 1e6:.1f} MB, "
            f"{stats['bytes'] / 1e6 / stats['hours']:.1f} MB per hour")


def run_backend(args, backend, config, tracks, lengths, conditions):
    """Measure one backend; the report (None with --ingest-only, which prints)."""
    with Dejavu(config) as engine:
        if args.ingest_only:
            print(ingest_only(engine, tracks, args.jobs, backend), flush=True)
            return None
        report = evaluate(engine, tracks, work_dir=args.work, lengths=lengths, conditions=conditions,
                          clips=args.clips, unknown_clips=args.unknown_clips, seed=args.seed, jobs=args.jobs,
                          progress=lambda m: print(f"  {m}", flush=True))
        if backend == "mysql":
            analyze_mysql(engine)
            stats = engine.stats()
            report["database"].update(bytes=stats["bytes"], mb_per_hour=stats["bytes"] / 1e6 / stats["hours"])
    return report


def run_isolated(argv, backend):
    """Measure one backend in a fresh interpreter, so that its peak-memory
    figures are its own (``ru_maxrss`` never goes down: in one process the
    second backend would report the first one's peak). Returns the exit code."""
    return subprocess.call([sys.executable, os.path.abspath(__file__), *argv,
                            "--backends", backend, "--skip-reference", "--skip-memory"])


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backends", default="sqlite,mysql")
    ap.add_argument("--lengths", default="1,2,3,5,10")
    ap.add_argument("--conditions", default="clean,mp3,noise10,noise0,mic,speed2")
    ap.add_argument("--clips", type=int, default=100, help="clips of registered music per condition and length")
    ap.add_argument("--unknown-clips", type=int, default=40, help="clips of held-out music per condition and length")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--work", default=os.path.join(HERE, "work"))
    ap.add_argument("--buffer-pool-mb", type=int, default=BUFFER_POOL_BYTES >> 20,
                    help="InnoDB buffer pool for the MariaDB run, restored afterwards (0: leave the server's)")
    ap.add_argument("--skip-reference", action="store_true", help="skip timing ffmpeg alone on the corpus")
    ap.add_argument("--skip-memory", action="store_true", help="skip the 2-hour-file memory measurement")
    ap.add_argument("--ingest-only", action="store_true",
                    help="only register the corpus (minus held-out tracks) and report speed and size")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.NAME=JSON",
                    help="a configuration value for the run, e.g. recognition.speed_search=true (repeatable)")
    args = ap.parse_args(argv)
    args.work = os.path.abspath(args.work)      # the configurations written there name paths relative to themselves
    os.makedirs(args.work, exist_ok=True)
    tracks = corpus_tracks(args.work)
    print(f"corpus: {len(tracks)} tracks", flush=True)
    if not args.skip_reference:
        speed, per_core = decode_reference(tracks, args.jobs)
        print(f"machine: ffmpeg alone decodes and resamples the registered tracks at {speed:.0f}x realtime "
              f"on {args.jobs} jobs ({per_core:.0f}x per core)", flush=True)
    lengths = [float(x) for x in args.lengths.split(",")]
    conditions = args.conditions.split(",")
    backends = args.backends.split(",")
    for backend in backends:
        if len(backends) > 1:
            code = run_isolated(argv, backend)
            if code:
                return code
            continue
        print(f"\n=== {backend} ===", flush=True)
        pool_before = None
        if backend == "sqlite":
            config = {"database": {"path": fresh_sqlite(os.path.join(args.work, "bench.sqlite3"))}}
        else:
            reset_mysql("dejavu_cn_bench")
            config = mysql_config("dejavu_cn_bench")
            if args.buffer_pool_mb:
                pool_before = set_buffer_pool(args.buffer_pool_mb << 20)
                if pool_before is not None:
                    print(f"  innodb_buffer_pool_size {pool_before >> 20} MB -> {args.buffer_pool_mb} MB for this run",
                          flush=True)
        config.update(parse_sets(args.set))
        try:
            report = run_backend(args, backend, config, tracks, lengths, conditions)
        finally:
            if pool_before is not None:
                set_buffer_pool(pool_before)
        if report is not None:
            print(format_report(report), flush=True)
            save_report(report, os.path.join(args.work, f"report_{backend}.json"))
    if not args.skip_memory:
        for backend in backends:
            mem = long_file_memory(args.work, tracks, backend)
            print(f"\nregistering a 2-hour file into {backend}: peak memory {mem['peak_rss_mb']:.0f} MB, "
                  f"{mem['wall_seconds']:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
