"""The two pictures of the README, made the way a user would make them.

    python3 scripts/docs_images.py [--music DIR] [--out DIR] [--keep]

1. A demo library: Debian's singularity-music (``apt-get install
   singularity-music``) registered into a new SQLite database in a temporary
   folder (``dejavu-cn register``).
2. The clip of ``scripts/demo.sh``: 5 s of "Awakening" from 0:42.5 at half
   volume, pink noise added, resampled to 48 kHz (ffmpeg and SoX; SoX in its
   repeatable mode, so the noise is the same on every run).
3. ``docs/match.png``: ``dejavu-cn plot match CLIP -o docs/match.png``.
4. ``docs/page.png``: ``dejavu-cn serve`` on a free local port, the
   Recognise page in Debian's headless Chromium (through Playwright) after
   the clip is uploaded, photographed at 1280 px wide.

Each picture is kept under ``MAX_BYTES``: a PNG larger than that is reduced
to 256 colours (Pillow). Every command runs this checkout's code
(``python3 -m dejavu_cn`` with the checkout first on ``PYTHONPATH``).
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MUSIC = "/usr/share/games/singularity/music"
TRACK, CLIP_START, CLIP_SECONDS = "Awakening.ogg", 42.5, 5.0     # the clip of scripts/demo.sh (s)
CLIP_RATE = 48000                                                # Hz, as a phone would record
NOISE_VOLUME = 0.05                                              # pink noise, linear gain
CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1280, "height": 800}                        # CSS px, device scale 1
MAX_BYTES = 200 * 1024                                           # each picture under 200 KB
SERVER_WAIT = 30.0                                               # s for `serve` to answer
# this checkout's code, whatever is installed
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p))
DEJAVU = [sys.executable, "-m", "dejavu_cn"]


def run(args):
    """Runs a command, echoing it; its failure stops the script with its output."""
    print("+", " ".join(str(a) for a in args), flush=True)
    done = subprocess.run([str(a) for a in args], cwd=ROOT, env=ENV, text=True, capture_output=True)
    if done.returncode != 0:
        sys.exit(f"{args[0]} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def make_clip(music, work):
    """The noisy 48 kHz clip of scripts/demo.sh; returns its path."""
    clip, noise, noisy = (os.path.join(work, name) for name in ("clip.wav", "noise.wav", "noisy_clip.wav"))
    run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-ss", CLIP_START, "-t", CLIP_SECONDS,
         "-i", os.path.join(music, TRACK), "-af", "volume=0.5", "-ar", CLIP_RATE, "-ac", 1, clip])
    run(["sox", "-R", "-n", "-r", CLIP_RATE, "-c", 1, noise, "synth", CLIP_SECONDS, "pinknoise", "vol", NOISE_VOLUME])
    run(["sox", "-R", "-m", clip, noise, noisy])
    return noisy


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url, server):
    deadline = time.monotonic() + SERVER_WAIT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"dejavu-cn serve stopped ({server.returncode}):\n{server.stdout.read()}")
        try:
            with urllib.request.urlopen(url + "/api/songs", timeout=2) as answer:
                return json.load(answer)["total"]
        except OSError:
            time.sleep(0.2)
    sys.exit(f"dejavu-cn serve did not answer on {url} within {SERVER_WAIT:.0f} s")


def photograph_page(config, clip, out):
    """The Recognise page after recognising ``clip``, served by ``dejavu-cn serve``."""
    from playwright.sync_api import sync_playwright
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    print("+", " ".join(DEJAVU + ["--config", config, "serve", "--port", str(port)]), flush=True)
    server = subprocess.Popen(DEJAVU + ["--config", config, "serve", "--port", str(port), "--threads", "2"],
                              cwd=ROOT, env=ENV, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        songs = wait_for_server(url, server)
        print(f"  serving {songs} songs on {url}", flush=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
            page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
            page.set_default_timeout(60000)
            page.goto(url + "/")
            page.set_input_files("#file", clip)
            page.wait_for_selector("body[data-state='done']", state="attached")
            page.wait_for_selector("#plot-figure:not([hidden])")
            while not page.evaluate("() => document.getElementById('plot').complete"
                                    " && document.getElementById('plot').naturalWidth > 0"):
                time.sleep(0.1)     # the page's CSP has no 'unsafe-eval': wait_for_function cannot run there
            page.evaluate("() => document.activeElement && document.activeElement.blur()")   # no focus ring
            print(f"  the page says: {page.text_content('#status')} {page.text_content('#song')}", flush=True)
            page.screenshot(path=out, full_page=True)
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def shrink(path):
    """Reduces a PNG over MAX_BYTES to 256 colours; returns its size in bytes."""
    size = os.path.getsize(path)
    if size > MAX_BYTES:
        from PIL import Image
        with Image.open(path) as image:
            small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        small.save(path, optimize=True)
        size = os.path.getsize(path)
    if size > MAX_BYTES:
        sys.exit(f"{path} is {size // 1024} KB, over {MAX_BYTES // 1024} KB")
    return size


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--music", default=MUSIC, help=f"folder of music to register (default: {MUSIC})")
    parser.add_argument("--out", default=os.path.join(ROOT, "docs"), help="folder of the pictures (default: docs/)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary library and clip")
    args = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(args.music, TRACK)):
        sys.exit(f"{os.path.join(args.music, TRACK)} is missing: apt-get install singularity-music (or --music DIR)")
    if not os.path.exists(CHROMIUM):
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium")
    os.makedirs(args.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="dejavu-cn-docs-")
    try:
        config = os.path.join(work, "config.json")
        with open(config, "w", encoding="utf-8") as f:
            json.dump({"database_type": "sqlite", "database": {"path": os.path.join(work, "demo.sqlite3")},
                       "web": {"upload_dir": os.path.join(work, "uploads")}}, f)
        run(DEJAVU + ["--config", config, "register", "--jobs", 2, args.music])
        clip = make_clip(args.music, work)
        match = os.path.join(args.out, "match.png")
        run(DEJAVU + ["--config", config, "plot", "match", clip, "-o", match])
        page = os.path.join(args.out, "page.png")
        photograph_page(config, clip, page)
        for path in (page, match):
            print(f"{os.path.relpath(path, ROOT)}: {shrink(path) // 1024} KB")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
