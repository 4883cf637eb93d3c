"""Web figures: time from pressing Record to the answer, and requests per
second for ``POST /api/recognize`` under concurrent clients.

The server is the real thing: ``dejavu-cn serve`` (waitress) in its own
process on 127.0.0.1, on a fresh SQLite library of real music (Debian's
singularity-music by default, any folder with ``--music``).

1. Record to answer: headless Chromium (/usr/bin/chromium via Playwright)
   with a fake microphone playing a registered track; the page's Record
   button captures ``--record-seconds`` (3 s) and the time from the click to
   the answer on screen is taken by the page itself (performance.now()).
   Target: <= 4 s with a 3 s recording.
2. Load: ``--clients`` (8) threads post a 5 s WebM/Opus clip (what browsers
   send; ``--format wav`` for PCM) for ``--duration`` seconds, keep-alive,
   and count answers, errors and wrong answers.

    python bench/web_load.py                       # defaults
    python bench/web_load.py --music ~/Music --songs 20 --duration 30

Writes bench/results/web_load.json and prints a summary.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from dejavu_cn.audio import decode_file, write_wav  # noqa: E402
from dejavu_cn.engine import Dejavu  # noqa: E402

DEFAULT_MUSIC = "/usr/share/games/singularity/music"
CHROMIUM = "/usr/bin/chromium"
MIC_RATE = 48000           # Hz, the fake microphone's WAV
CLIP_START = 30.0          # s into the track where the load clip starts
MIC_START = 40.0           # s into the track where the fake microphone starts
TARGET_RECORD_SECONDS = 4.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def music_files(folders, count):
    files = []
    for folder in folders:
        for root, dirs, names in os.walk(folder):
            dirs.sort()
            files += [os.path.join(root, n) for n in sorted(names)
                      if n.lower().endswith((".ogg", ".opus", ".mp3", ".flac", ".wav"))]
    return files[:count]


def generated_songs(folder, count):
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from audiogen import make_song
    return [str(write_wav(os.path.join(folder, f"generated{seed}.wav"), make_song(seed, 90.0), 44100))
            for seed in range(100, 100 + count)]


def start_server(config_path, port, threads):
    proc = subprocess.Popen([sys.executable, "-m", "dejavu_cn", "--config", config_path, "serve",
                             "--port", str(port), "--threads", str(threads)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode()}")
        try:
            with urllib.request.urlopen(url + "/api/health", timeout=2) as r:
                return proc, url, json.load(r)
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start in 30 s")


def measure_record(url, mic_wav, presses, expected_name, record_seconds):
    from playwright.sync_api import sync_playwright
    profile = tempfile.mkdtemp(prefix="web-load-chromium-")
    results = []
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, viewport={"width": 1280, "height": 800},
                args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update", "--disable-sync",
                      "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                      f"--use-file-for-fake-audio-capture={mic_wav}"])
            page = context.new_page()
            page.goto(url + "/")
            for i in range(presses):
                page.evaluate("document.body.dataset.state = ''")
                t0 = time.perf_counter()
                page.click("#record")
                page.wait_for_selector("body[data-state='done']", state="attached", timeout=30000)
                wall = time.perf_counter() - t0
                results.append({"press": i + 1, "page_seconds": float(page.get_attribute("#status", "data-elapsed")),
                                "wall_seconds": round(wall, 3), "song": page.text_content("#song"),
                                "offset": page.text_content("#offset"),
                                "correct": page.text_content("#song") == expected_name})
                time.sleep(1.0)
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    times = [r["page_seconds"] for r in results]
    return {"record_seconds": record_seconds, "presses": results, "median_seconds": round(statistics.median(times), 3),
            "max_seconds": round(max(times), 3), "first_seconds": round(times[0], 3),
            "target_seconds": TARGET_RECORD_SECONDS,
            "median_meets_target": statistics.median(times) <= TARGET_RECORD_SECONDS,
            "all_correct": all(r["correct"] for r in results)}


def measure_load(url, clip_path, clip_name, clients, duration, expected_id):
    import requests
    data = open(clip_path, "rb").read()
    stop = threading.Event()
    lock = threading.Lock()
    latencies, errors, wrong = [], [], [0]

    def client():
        session = requests.Session()
        while not stop.is_set():
            t0 = time.perf_counter()
            try:
                r = session.post(url + "/api/recognize", files={"file": (clip_name, data)}, timeout=60)
                elapsed = time.perf_counter() - t0
                if r.status_code != 200:
                    with lock:
                        errors.append(f"HTTP {r.status_code}: {r.text[:200]}")
                    continue
                match = r.json()["match"]
                with lock:
                    latencies.append(elapsed)
                    if not match or match["song_id"] != expected_id:
                        wrong[0] += 1
            except Exception as exc:  # a benchmark counts failures, it does not stop on them
                with lock:
                    errors.append(repr(exc))

    for _ in range(2):    # warm up (first decode, page cache)
        requests.post(url + "/api/recognize", files={"file": (clip_name, data)}, timeout=60).raise_for_status()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    time.sleep(duration)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    lat = sorted(latencies)
    pct = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 3)) if lat else (lambda q: None)
    return {"clients": clients, "duration_seconds": round(elapsed, 2), "requests": len(lat),
            "requests_per_second": round(len(lat) / elapsed, 2), "errors": len(errors), "error_samples": errors[:5],
            "wrong_answers": wrong[0], "latency_p50": pct(0.50), "latency_p95": pct(0.95), "latency_max": pct(1.0),
            "clip_bytes": len(data), "clip_format": os.path.splitext(clip_name)[1].lstrip(".")}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--music", nargs="*", default=[DEFAULT_MUSIC],
                        help=f"folders of music to register (default {DEFAULT_MUSIC}; generated songs if missing)")
    parser.add_argument("--songs", type=int, default=12, help="tracks registered (default 12)")
    parser.add_argument("--jobs", type=int, default=1, help="registration processes (default 1)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load (default 20)")
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (default 8)")
    parser.add_argument("--format", choices=("webm", "wav"), default="webm", help="load clip format")
    parser.add_argument("--presses", type=int, default=5, help="Record presses measured (default 5)")
    parser.add_argument("--record-seconds", type=float, default=3.0)
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--out", default=os.path.join(HERE, "results", "web_load.json"))
    args = parser.parse_args(argv)

    work = tempfile.mkdtemp(prefix="web-load-")
    try:
        tracks = music_files([m for m in args.music if os.path.isdir(m)], args.songs)
        source = "music" if tracks else "generated"
        if not tracks:
            tracks = generated_songs(work, args.songs)
        db = os.path.join(work, "library.sqlite3")
        config = {"database_type": "sqlite", "database": {"path": db},
                  "web": {"upload_dir": os.path.join(work, "uploads"), "record_seconds": args.record_seconds}}
        t0 = time.perf_counter()
        with Dejavu(config) as engine:
            report = engine.register(tracks, jobs=args.jobs)
            registered = {o.path: o.song_id for o in report.outcomes if o.song_id}
            durations = {o.path: o.duration_seconds for o in report.outcomes if o.song_id}
        print(f"registered {len(registered)} {source} tracks in {time.perf_counter() - t0:.1f} s", flush=True)
        # the clip's and the microphone's track: the first one long enough
        track = next(p for p in tracks if p in registered and durations[p] > MIC_START + 10)
        song_id = registered[track]
        song_name = os.path.splitext(os.path.basename(track))[0]

        clip = decode_file(track, target_rate=44100, start=CLIP_START, duration=5.0)
        clip_wav = write_wav(os.path.join(work, "clip.wav"), clip, 44100)
        clip_path = clip_wav
        if args.format == "webm":
            clip_path = os.path.join(work, "clip.webm")
            subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", clip_wav, "-c:a", "libopus",
                            "-b:a", "96k", clip_path], check=True)
        mic = decode_file(track, target_rate=MIC_RATE, start=MIC_START, duration=6.0)
        mic_wav = write_wav(os.path.join(work, "mic.wav"),
                            np.concatenate([mic, np.zeros(6 * MIC_RATE, np.float32)]), MIC_RATE)

        config_path = os.path.join(work, "config.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        proc, url, health = start_server(config_path, free_port(), args.threads)
        out = {"cpu_count": os.cpu_count(), "library": {"source": source, "songs": health["songs"],
                                                          "fingerprints": health["fingerprints"]},
               "track": song_name}
        try:
            if not args.skip_browser:
                out["record"] = measure_record(url, mic_wav, args.presses, song_name, args.record_seconds)
                r = out["record"]
                print(f"Record -> answer ({args.record_seconds:g} s recording): median {r['median_seconds']} s, "
                      f"max {r['max_seconds']} s, first {r['first_seconds']} s (target <= {TARGET_RECORD_SECONDS} s); "
                      f"all correct: {r['all_correct']}", flush=True)
            out["load"] = measure_load(url, clip_path, os.path.basename(clip_path), args.clients, args.duration,
                                       song_id)
            r = out["load"]
            print(f"POST /api/recognize, 5 s {r['clip_format']} clip, {r['clients']} clients, {r['duration_seconds']} s: "
                  f"{r['requests_per_second']} req/s ({r['requests']} requests), errors {r['errors']}, "
                  f"wrong {r['wrong_answers']}, latency p50 {r['latency_p50']} s p95 {r['latency_p95']} s", flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        os.makedirs(os.path.dirname(args.out), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(out, f, indent=2)
        print(f"report: {args.out}")
        failed = out["load"]["errors"] or out["load"]["wrong_answers"] or (
            "record" in out and not (out["record"]["all_correct"] and out["record"]["median_meets_target"]))
        return 1 if failed else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
