"""Benchmark of ``dejavu-cn recognize file --timeline`` (issue 28, part 1).

Mixes of 5 excerpts (30 to 80 s) of registered tracks of the benchmark
corpus (see bench/run.py) plus one stretch of 20 to 40 s of held-out
(unregistered) music at a random place, joined with 2 s crossfades; the
truth boundary of a crossfade is its middle. Conditions: clean WAV, pink
noise at 15 dB SNR (WAV), MP3 64 kbit/s. The corpus is registered into a
SQLite file (every track but every 10th, as bench/run.py does), tracks that
share audio are found as bench/run.py finds them (an entry naming a song
that shares audio with the truth is not wrong, and such entries back to
back cover the stretch together: its boundaries are theirs), then the real command runs
once per mix, process start-up included, timed beside ffmpeg decoding the
same file (the yardstick). Last, the clean mixes are concatenated into a
2-hour MP3 whose scan's peak memory (the command's process, measured by
/usr/bin/time) is reported.

    python bench/timeline.py                 # 4 mixes per condition, 2-hour file
    python bench/timeline.py --mixes 2 --no-long
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from dejavu_cn import Dejavu  # noqa: E402
from dejavu_cn.audio import ffmpeg_binary, iter_decode  # noqa: E402
from dejavu_cn.degrade import add_noise  # noqa: E402
from dejavu_cn.evaluate import find_shared_audio, readable_tracks, split_tracks  # noqa: E402
from run import corpus_tracks  # noqa: E402

RATE = 22050                    # Hz; the mixes are written at this rate, mono
FADE = 2.0                      # s of crossfade between two pieces
CONDITIONS = ("clean", "noise15", "mp3")
LONG_SECONDS = 7200.0
GNU_TIME = "/usr/bin/time"


def decode_piece(path, start, seconds):
    chunks = list(iter_decode(path, target_rate=RATE, start=start, duration=seconds))
    return np.concatenate(chunks)


def write_wav(path, x):
    import wave
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.tobytes())


def make_mix(rng, tracks, durations, known, held):
    """(samples, truth, pieces): truth lists (start, end, track index, registered)."""
    picks = rng.choice([i for i in known if durations[i] >= 35.0], 5, replace=False)
    pieces = []
    for i in picks:
        length = float(rng.uniform(30.0, min(80.0, durations[i] - 1.0)))
        pieces.append((int(i), length))
    h = int(rng.choice([i for i in held if durations[i] >= 25.0]))
    pieces.insert(int(rng.integers(0, 6)), (h, float(rng.uniform(20.0, min(40.0, durations[h] - 1.0)))))
    fade = int(FADE * RATE)
    out, truth, at = np.zeros(0, np.float32), [], 0.0
    for k, (i, length) in enumerate(pieces):
        start = float(rng.uniform(0.0, durations[i] - length - 0.5))
        x = decode_piece(tracks[i], start, length)
        x = 0.5 * x / (np.sqrt(np.mean(x.astype(np.float64) ** 2)) * 4.0 + 1e-9)   # equal loudness (RMS 0.125)
        if k:
            ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
            x[:fade] *= ramp
            out[-fade:] *= ramp[::-1]
            out[-fade:] += x[:fade]
            x = x[fade:]
            begin = (out.size - fade / 2) / RATE
            truth[-1] = (truth[-1][0], begin, *truth[-1][2:])
        else:
            begin = 0.0
        out = np.concatenate([out, x])
        truth.append((begin, out.size / RATE, i, i in set(known)))
    return np.clip(out, -1, 1), truth, [(tracks[i], length) for i, length in pieces]


def run_cli(config, path):
    """(result, wall seconds, peak RSS in MB, CPU seconds) of the real command in a fresh process.

    The command runs under /usr/bin/time (GNU time): a child forked from this
    large process would report this process's memory as its own peak (Linux
    keeps the high-water mark of the forked copy across exec), a child of the
    small ``time`` process does not. CPU: the command and the ffmpeg it runs."""
    import tempfile
    cmd = [sys.executable, "-m", "dejavu_cn", "--config", config, "recognize", "file", path, "--timeline", "--json"]
    env = dict(os.environ, PYTHONPATH=ROOT)
    with tempfile.NamedTemporaryFile("r", suffix=".time") as stats:
        if os.path.exists(GNU_TIME):
            cmd = [GNU_TIME, "-o", stats.name, "-f", "%M %U %S"] + cmd
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, env=env)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            sys.exit(f"bench: the command failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
        fields = stats.read().split() if os.path.exists(GNU_TIME) else []
    if len(fields) >= 3:
        peak_mb, cpu = int(fields[-3]) / 1024.0, float(fields[-2]) + float(fields[-1])
    else:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        peak_mb, cpu = usage.ru_maxrss / 1024.0, float("nan")
    return json.loads(proc.stdout.decode().strip().splitlines()[-1]), wall, peak_mb, cpu


def ffmpeg_seconds(path, rate):
    """(wall, CPU) seconds of ffmpeg alone decoding ``path`` as the command does."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-i", path, "-ac", "1", "-ar",
                             str(rate), "-f", "f32le", "-"], stdout=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - t0, usage.ru_utime + usage.ru_stime


def score(result, truth, song_of, shared):
    """Stretches found, wrong entries, boundary errors (s) of one mix."""
    accept = [({song_of[i]} if registered else set()) | shared.get(i, set()) for _, _, i, registered in truth]
    entries = result["timeline"]
    found, errors, wrong = 0, [], []
    for (a, b, i, registered), ok in zip(truth, accept):
        if not registered:
            continue
        hits = [e for e in entries if e["song_id"] in ok and min(b, e["end_seconds"]) - max(a, e["start_seconds"]) > 0]
        if hits:
            found += 1
            # entries of songs that share the stretch's audio, back to back, cover it together
            start, end = min(e["start_seconds"] for e in hits), max(e["end_seconds"] for e in hits)
            errors += [abs(start - a), abs(end - b)]
            if max(errors[-2:]) > 5.0:
                print(f"  boundary off by {max(errors[-2:]):.1f} s: truth {a:.1f}-{b:.1f} (track {i}), entries "
                      + ", ".join(f"{e['start_seconds']:.1f}-{e['end_seconds']:.1f} song {e['song_id']}"
                                  for e in entries if min(b + 10, e["end_seconds"]) > max(a - 10, e["start_seconds"])),
                      flush=True)
    for e in entries:
        overlapping = [ok for (a, b, _, _), ok in zip(truth, accept)
                       if min(b, e["end_seconds"]) - max(a, e["start_seconds"]) > 0]
        if not any(e["song_id"] in ok for ok in overlapping):
            wrong.append(e)
    return found, wrong, errors


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", default=os.path.join(HERE, "work-timeline"))
    ap.add_argument("--mixes", type=int, default=4, help="mixes per condition (default 4)")
    ap.add_argument("--seed", type=int, default=28)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-long", action="store_true", help="skip the 2-hour memory run")
    args = ap.parse_args(argv)
    os.makedirs(args.work, exist_ok=True)
    db = os.path.join(args.work, "timeline.sqlite3")
    config = os.path.join(args.work, "config.json")
    with open(config, "w") as f:
        json.dump({"database_type": "sqlite", "database": {"path": db}}, f)

    tracks, durations, unreadable = readable_tracks(corpus_tracks(args.work))
    known, held = split_tracks(tracks, 0.1)
    engine = Dejavu(config)
    t0 = time.perf_counter()
    engine.register([tracks[i] for i in known], jobs=args.jobs)
    songs = {s["source_path"]: s["song_id"] for s in engine.list_songs()[0]}
    song_of = {i: songs.get(os.path.abspath(tracks[i])) for i in known}
    print(f"corpus: {len(tracks)} tracks ({len(unreadable)} unreadable), {len(known)} registered "
          f"({sum(durations[i] for i in known) / 3600:.2f} h, all of them), {len(held)} held out; "
          f"registering took {time.perf_counter() - t0:.0f} s", flush=True)
    shared_file = os.path.join(args.work, "shared.json")
    if os.path.exists(shared_file):
        shared = {int(k): set(v) for k, v in json.load(open(shared_file)).items()}
    else:
        shared = find_shared_audio(engine, tracks, song_of)
        json.dump({k: sorted(v) for k, v in shared.items()}, open(shared_file, "w"))
    engine.close()
    print(f"{len(shared)} tracks share audio with a registered song", flush=True)

    rng = np.random.default_rng(args.seed)
    mixes = []
    for m in range(args.mixes):
        x, truth, pieces = make_mix(rng, tracks, durations, known, held)
        mixes.append((x, truth))
    report = {}
    for condition in CONDITIONS:
        found = total = 0
        wrong, errors, audio, wall, cpu, yard, yard_cpu = [], [], 0.0, 0.0, 0.0, 0.0, 0.0
        for m, (x, truth) in enumerate(mixes):
            crng = np.random.default_rng([args.seed, m])
            path = os.path.join(args.work, f"mix{m}-{condition}.wav")
            if condition == "noise15":
                write_wav(path, add_noise(x, 15.0, crng, white=0.0))
            else:
                write_wav(path, x)
            if condition == "mp3":
                mp3 = path[:-4] + ".mp3"
                subprocess.run([ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-y", "-i", path, "-c:a",
                                "libmp3lame", "-b:a", "64k", mp3], check=True)
                os.remove(path)
                path = mp3
            result, seconds, _, used = run_cli(config, path)
            alone = ffmpeg_seconds(path, 11025)
            yard += alone[0]
            yard_cpu += alone[1]
            cpu += used
            f, w, e = score(result, truth, song_of, shared)
            found += f
            total += sum(1 for t in truth if t[3])
            wrong += w
            errors += e
            audio += x.size / RATE
            wall += seconds
            for entry in w:
                print(f"  wrong entry in mix {m} ({condition}): {entry}", flush=True)
        report[condition] = {
            "found": found, "stretches": total, "wrong": len(wrong),
            "boundary_median": statistics.median(errors) if errors else None,
            "boundary_worst": max(errors) if errors else None,
            "realtime": audio / wall, "ffmpeg_realtime": audio / yard, "audio_seconds": audio,
            "cpu_realtime": audio / cpu, "ffmpeg_cpu_realtime": audio / yard_cpu}
        r = report[condition]
        print(f"{condition:8s} stretches found {found}/{total}, wrong entries {len(wrong)}, boundary error median "
              f"{r['boundary_median']:.2f} s, worst {r['boundary_worst']:.2f} s; {r['realtime']:.0f}x realtime "
              f"(start-up included; ffmpeg decoding alone {r['ffmpeg_realtime']:.0f}x); in CPU time "
              f"{r['cpu_realtime']:.0f}x (ffmpeg alone {r['ffmpeg_cpu_realtime']:.0f}x)", flush=True)

    if not args.no_long:
        listing = os.path.join(args.work, "long.txt")
        total, names = 0.0, []
        while total < LONG_SECONDS:
            for m in range(len(mixes)):
                names.append(os.path.join(args.work, f"mix{m}-clean.wav"))
                total += mixes[m][0].size / RATE
                if total >= LONG_SECONDS:
                    break
        for m in range(len(mixes)):
            write_wav(os.path.join(args.work, f"mix{m}-clean.wav"), mixes[m][0])
        with open(listing, "w") as f:
            f.writelines(f"file '{n}'\n" for n in names)
        long_path = os.path.join(args.work, "long.mp3")
        subprocess.run([ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-y", "-f", "concat", "-safe", "0",
                        "-i", listing, "-c:a", "libmp3lame", "-b:a", "128k", long_path], check=True)
        result, seconds, peak, used = run_cli(config, long_path)
        yard, yard_cpu = ffmpeg_seconds(long_path, 11025)
        report["long"] = {"seconds": total, "wall": seconds, "peak_mb": peak, "entries": len(result["timeline"]),
                          "realtime": total / seconds, "ffmpeg_realtime": total / yard,
                          "cpu_realtime": total / used, "ffmpeg_cpu_realtime": total / yard_cpu}
        print(f"2-hour MP3 ({total / 3600:.2f} h): peak memory {peak:.0f} MB, {len(result['timeline'])} entries, "
              f"{total / seconds:.0f}x realtime (ffmpeg alone {total / yard:.0f}x); in CPU time {total / used:.0f}x "
              f"(ffmpeg alone {total / yard_cpu:.0f}x)", flush=True)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "timeline.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
