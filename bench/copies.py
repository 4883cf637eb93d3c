"""Registering with ``--link-copies`` (issue 28, part 2) on the benchmark corpus.

A library of corpus tracks is registered, plus 40 s excerpts of two more
tracks. Then a folder is registered twice, each time into a copy of that
library: with ``dejavu-cn register --link-copies`` and plainly (the
yardstick, same run, same machine). The folder holds

* 8 copies of library tracks: excerpts of 30-90 s from a seeded offset,
  with white noise at 15 dB SNR, encoded as MP3 64 kbit/s at 48 kHz stereo;
* 3 new tracks (not in the library);
* the 2 full tracks whose 40 s excerpts are registered.

Reported: links right and their offset errors; the new and full tracks
stored as originals (and the excerpts linked to the full tracks); the
fingerprint count against a library where only the originals were
registered; registration speed (x realtime, process start-up included) with
--link-copies and plainly.

    python bench/copies.py [--library 40] [--seed 28] [--work DIR] [--json]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from dejavu_cn import Dejavu  # noqa: E402
from dejavu_cn.audio import decode_file  # noqa: E402
from dejavu_cn.evaluate import REPEAT_MAX_SECONDS, REPEAT_SIMILARITY, excerpt_similarity  # noqa: E402

sys.path.insert(0, HERE)
from run import corpus_tracks  # noqa: E402

RATE = 44100
COPIES, NEW, FULL = 8, 3, 2
EXCERPT_SECONDS = 40.0
COPY_SECONDS = (30.0, 90.0)
SNR_DB = 15.0


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *map(str, args)], check=True)


def probe_seconds(path):
    """A file's duration by ffprobe (its header: good enough to choose tracks)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
                         capture_output=True, text=True).stdout.strip()
    try:
        return float(out)
    except ValueError:
        return 0.0


def write_wav(path, x):
    import wave
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())


def make_copy(track, dst, start, seconds, rng, tmp):
    """An excerpt of ``track`` from ``start`` s, noisy at SNR_DB, as MP3 64 kbit/s 48 kHz stereo."""
    x = decode_file(track, target_rate=RATE)[int(start * RATE):int((start + seconds) * RATE)]
    noise = rng.standard_normal(x.size).astype(np.float32)
    noise *= np.sqrt(np.mean(x ** 2) / np.mean(noise ** 2) / 10 ** (SNR_DB / 10))
    wav = os.path.join(tmp, "noisy.wav")
    write_wav(wav, x + noise)
    ffmpeg("-i", wav, "-ar", "48000", "-ac", "2", "-b:a", "64k", dst)


def timed_register(db, folder, *extra):
    """``dejavu-cn register`` in a new process: (report dict, wall seconds including start-up)."""
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "dejavu_cn", "--set", f"database.path={db}", "register", "--json",
                           *extra, str(folder)], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"bench: register failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), wall


def register_into(db, paths):
    engine = Dejavu({"database": {"path": str(db)}})
    report = engine.register([str(p) for p in paths])
    engine.storage.optimize()
    engine.close()
    return report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--library", type=int, default=40, help="corpus tracks registered before (default 40)")
    ap.add_argument("--seed", type=int, default=28)
    ap.add_argument("--work", default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="dejavu-cn-copies-")
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    seconds_of = {t: probe_seconds(t) for t in corpus_tracks(work)}
    tracks = [t for t, n in seconds_of.items() if 100.0 <= n <= 600.0]
    order = rng.permutation(len(tracks))
    library = [tracks[i] for i in order[:args.library]]
    new = [tracks[i] for i in order[args.library:args.library + NEW]]
    full = [tracks[i] for i in order[args.library + NEW:args.library + NEW + FULL]]

    folder, excerpts, tmp = (os.path.join(work, n) for n in ("folder", "excerpts", "tmp"))
    for d in (folder, excerpts, tmp):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    truth = {}                  # file name in the folder: (original track, offset s) for copies
    for k, i in enumerate(rng.choice(len(library), COPIES, replace=False)):
        track = library[i]
        length = seconds_of[track]
        seconds = float(rng.uniform(*COPY_SECONDS))
        seconds = min(seconds, length - 1.0)
        start = round(float(rng.uniform(0.0, length - seconds)), 2)
        name = f"copy{k}.mp3"
        make_copy(track, os.path.join(folder, name), start, seconds, rng, tmp)
        truth[name] = (track, start)
    for track in new + full:
        shutil.copy(track, os.path.join(folder, os.path.basename(track)))
    excerpt_at = {}
    for track in full:
        length = seconds_of[track]
        start = round(float(rng.uniform(0.0, length - EXCERPT_SECONDS)), 2)
        name = "excerpt-" + os.path.splitext(os.path.basename(track))[0] + ".wav"
        x = decode_file(track, target_rate=RATE)      # cut by samples: ffmpeg's -ss on Ogg can land seconds off
        write_wav(os.path.join(excerpts, name), x[int(start * RATE):int((start + EXCERPT_SECONDS) * RATE)])
        excerpt_at[os.path.splitext(name)[0]] = (track, start)

    base, lib, ref = (os.path.join(work, f"{n}.sqlite3") for n in ("base", "library", "reference"))
    for db in (base, lib, ref):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)
    register_into(base, library)
    shutil.copy(base, ref)
    register_into(ref, new + full)                      # only the originals
    shutil.copy(base, lib)
    register_into(lib, [excerpts])                      # the 40 s excerpts, registered earlier

    runs = {}
    for mode, extra in (("plain", ()), ("link", ("--link-copies",))):
        db = os.path.join(work, f"{mode}.sqlite3")
        shutil.copy(lib, db)
        report, wall = timed_register(db, folder, *extra)
        runs[mode] = {"report": report, "wall": wall, "db": db}

    engine = Dejavu({"database": {"path": runs["link"]["db"]}})
    songs = {s["song_name"]: s for s in engine.list_songs()[0]}
    by_path = {s["source_path"]: s for s in songs.values()}
    errors, wrong = [], []
    for name, (track, start) in truth.items():
        song = by_path[os.path.join(folder, name)]
        original = songs.get(song["copy_of"] and next(n for n, s in songs.items() if s["song_id"] == song["copy_of"]))
        if original is None or original["source_path"] != track:
            wrong.append(name)
        else:
            errors.append(abs(song["copy_offset_seconds"] - start))
    originals_ok = []
    for track in new + full:
        song = by_path[os.path.join(folder, os.path.basename(track))]
        originals_ok.append(song["copy_of"] is None and song["total_hashes"] > 0)
    excerpt_errors, excerpt_wrong, excerpt_repeats = [], [], []
    for name, (track, start) in excerpt_at.items():
        song = songs[name]
        target = by_path.get(os.path.join(folder, os.path.basename(track)))
        if target is None or song["copy_of"] != target["song_id"]:
            excerpt_wrong.append(name)
        else:
            error = song["copy_offset_seconds"] - start
            excerpt_errors.append(abs(error))
            if abs(error) > 0.5:           # game music loops: the same audio a whole loop away?
                audio = decode_file(track, target_rate=RATE)
                similarity = excerpt_similarity(audio, RATE, start, start + error,
                                                min(EXCERPT_SECONDS, REPEAT_MAX_SECONDS))
                excerpt_repeats.append(round(similarity, 3) if similarity is not None else None)
    linked_prints = engine.stats()["fingerprints"]
    engine.close()
    ref_prints = Dejavu({"database": {"path": ref}}).stats()["fingerprints"]
    audio = runs["link"]["report"]["audio_seconds"]
    result = {
        "library_tracks": len(library), "folder_files": len(os.listdir(folder)),
        "folder_audio_seconds": round(audio, 1),
        "copies_linked_right": f"{len(errors)}/{COPIES}", "copies_wrong": wrong,
        "copy_offset_error_seconds": {"median": round(float(np.median(errors)), 3) if errors else None,
                                      "max": round(float(max(errors)), 3) if errors else None},
        "originals_stored_as_originals": f"{sum(originals_ok)}/{len(originals_ok)}",
        "excerpts_linked_to_full_songs": f"{len(excerpt_errors)}/{FULL}",
        "excerpt_offset_errors_seconds": [round(float(e), 3) for e in excerpt_errors],
        "excerpt_offsets_off_but_same_audio": f"{sum(1 for r in excerpt_repeats if r and r >= REPEAT_SIMILARITY)}"
                                              f"/{len(excerpt_repeats)} (correlation {excerpt_repeats})",
        "fingerprints_linked": linked_prints, "fingerprints_originals_only": ref_prints,
        "fingerprints_difference_percent": round(100.0 * (linked_prints - ref_prints) / ref_prints, 4),
        "speed_link_x_realtime": round(audio / runs["link"]["wall"], 1),
        "speed_plain_x_realtime": round(runs["plain"]["report"]["audio_seconds"] / runs["plain"]["wall"], 1),
        "wall_seconds": {m: round(r["wall"], 2) for m, r in runs.items()},
        "link_counts": runs["link"]["report"]["counts"],
        "messages": {os.path.basename(f["path"]): f["message"] for f in runs["link"]["report"]["files"]
                     if f["message"]},
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:34} {value}")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
