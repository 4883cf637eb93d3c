"""Live microphone benchmark: benchmark-style clips played into a virtual
microphone in real time.

A private PulseAudio daemon with a null sink is started (its monitor is the
default source); clips of real music (Debian's nexuiz-, warzone2100-,
singularity- and hyperrogue-music) are played into the sink with ``paplay``
while ``recognizers.microphone`` records through PyAudio. Time-to-answer runs
from the start of playback to the answer.

Every 10th track is held out (unregistered), as in ``bench/run.py``; the rest
is registered into ``bench/work/mic/mic.sqlite3`` (this benchmark's own
database). Reported:

* median time-to-answer and correct-song rate, clean and 'mic'-degraded plays
  (targets: <= 2.0 s / <= 4.0 s; >= 98 % / >= 90 %);
* songs named during 60 s of unregistered music and 60 s of speech, by
  back-to-back ``recognize mic`` sessions and by a ``listen`` monitor
  (target: zero).

    python bench/mic.py                   # real time through PulseAudio
    python bench/mic.py --plays 20        # quicker
    python bench/mic.py --offline         # feed buffers directly (no audio device), for tuning
"""
import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from dejavu_cn import Dejavu  # noqa: E402
from dejavu_cn.audio import decode_file, resample, write_wav  # noqa: E402
from dejavu_cn.degrade import degrade  # noqa: E402
from dejavu_cn.evaluate import (REPEAT_SIMILARITY, excerpt_similarity, find_shared_audio,  # noqa: E402
                                readable_tracks, split_tracks)
from recognizers.streaming import Monitor, recognize_stream  # noqa: E402

SOURCE_RATE = 44100
CLIP_SECONDS = 10.0        # s of audio prepared per play (the recogniser's default limit)
UNKNOWN_SECONDS = 60.0     # s of unregistered music, and of speech
ASTERISK_SOUNDS = "/usr/share/asterisk/sounds/en"
OFFSET_OK = 0.2            # s; a reported song position within this of the truth is right (capture latency included)


def prepare(work, jobs):
    """Register the known tracks (once); returns (engine, tracks, known, unknown, truth, shared)."""
    from run import corpus_tracks
    work = os.path.abspath(work)
    os.makedirs(work, exist_ok=True)
    meta_path = os.path.join(work, "meta.json")
    db = os.path.join(work, "mic.sqlite3")
    if os.path.exists(meta_path) and os.path.exists(db):
        with open(meta_path) as f:
            meta = json.load(f)
        engine = Dejavu({"database": {"path": db}})
        return engine, meta
    tracks = corpus_tracks(work)
    tracks, durations, _ = readable_tracks(tracks)
    known, unknown = split_tracks(tracks, 0.1)
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    engine = Dejavu({"database": {"path": db}})
    print(f"registering {len(known)} tracks ({len(unknown)} held out)", flush=True)
    report = engine.register([tracks[i] for i in known], jobs=jobs)
    by_path = {o.path: o.song_id for o in report.outcomes if o.song_id is not None}
    truth = {i: by_path.get(os.path.abspath(tracks[i])) for i in known}
    print("looking for tracks that share audio", flush=True)
    shared = find_shared_audio(engine, tracks, truth)
    meta = {"tracks": tracks, "durations": durations, "known": known, "unknown": unknown,
            "truth": {str(k): v for k, v in truth.items()},
            "shared": {str(k): sorted(v) for k, v in shared.items()}}
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    return engine, meta


def plan_plays(meta, n, seed):
    rng = np.random.default_rng(seed)
    usable = [i for i in meta["known"] if meta["durations"][i] > CLIP_SECONDS + 2 and meta["truth"].get(str(i))]
    plays = []
    for _ in range(n):
        track = usable[int(rng.integers(len(usable)))]
        start = float(rng.uniform(0.0, meta["durations"][track] - CLIP_SECONDS - 1.0))
        plays.append((track, round(start, 3)))
    return plays


def make_audio(meta, track, start, seconds, condition, seed):
    """(samples, rate) of an excerpt under a degradation."""
    x = decode_file(meta["tracks"][track], target_rate=SOURCE_RATE, start=start, duration=seconds)
    return degrade(x, SOURCE_RATE, condition, np.random.default_rng(seed))


def unknown_music(meta, seconds, seed):
    """``seconds`` of held-out music: 15 s excerpts of several held-out tracks
    that share no audio with registered ones."""
    rng = np.random.default_rng(seed)
    pool = [i for i in meta["unknown"] if str(i) not in meta["shared"] and meta["durations"][i] > 20]
    parts = []
    while sum(p.size for p in parts) < seconds * SOURCE_RATE:
        track = pool[int(rng.integers(len(pool)))]
        start = float(rng.uniform(0, meta["durations"][track] - 16))
        parts.append(decode_file(meta["tracks"][track], target_rate=SOURCE_RATE, start=start, duration=15.0))
    return np.concatenate(parts)[: int(seconds * SOURCE_RATE)]


def speech(seconds, work):
    """``seconds`` of speech: Asterisk's recorded prompts (real voices), with
    espeak-ng if they are missing."""
    files = sorted(glob.glob(os.path.join(ASTERISK_SOUNDS, "*.gsm")))
    parts, total = [], 0
    for path in files:
        x = decode_file(path, target_rate=SOURCE_RATE)
        parts.append(x)
        parts.append(np.zeros(int(0.3 * SOURCE_RATE), np.float32))
        total += x.size
        if total >= seconds * SOURCE_RATE:
            break
    if total < seconds * SOURCE_RATE:
        wav = os.path.join(work, "espeak.wav")
        text = "This is a test of live recognition with speech only and no music at all. " * 20
        subprocess.run(["espeak-ng", "-w", wav, text], check=True)
        parts.append(decode_file(wav, target_rate=SOURCE_RATE))
    x = np.concatenate(parts)[: int(seconds * SOURCE_RATE)]
    return (0.5 * x / (np.abs(x).max() or 1)).astype(np.float32)


def correct(meta, track, match):
    if match is None:
        return False
    accept = {meta["truth"].get(str(track))} | set(meta["shared"].get(str(track), []))
    return match["song_id"] in accept


# -- offline (buffers fed directly) ------------------------------------------------
def chunks_of(x, rate, seconds=0.05):
    step = max(1, int(rate * seconds))
    for a in range(0, x.size, step):
        yield x[a:a + step]


def offline_recognize(engine, samples, rate, max_seconds=CLIP_SECONDS, **opts):
    y = resample(samples, rate, engine.params.sample_rate)
    t = time.perf_counter()
    result = recognize_stream(engine, chunks_of(y, engine.params.sample_rate), max_seconds=max_seconds, **opts)
    return result, time.perf_counter() - t


# -- real time (PulseAudio) -------------------------------------------------------------
class RealTime:
    """A private PulseAudio daemon and a way to play samples into its sink."""

    def __init__(self):
        # the test suite's daemon helper (tests/recognizers/conftest.py), so both run PulseAudio the same way
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "recognizers"))
        from conftest import PulseDaemon
        self.folder = tempfile.mkdtemp(prefix="djv_pulse_")
        self.daemon = PulseDaemon(self.folder).start()
        os.environ["PULSE_SERVER"] = self.daemon.server
        self.tmp = tempfile.mkdtemp(prefix="djv_play_")

    def play(self, samples, rate):
        """Start playing; returns (Popen, start time)."""
        path = os.path.join(self.tmp, "play.wav")
        write_wav(path, samples, rate)
        t = time.monotonic()
        return self.daemon.play(path), t

    def close(self):
        self.daemon.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
        shutil.rmtree(self.folder, ignore_errors=True)


def realtime_recognize(rt, engine, samples, rate, max_seconds=CLIP_SECONDS):
    from recognizers.microphone import MicrophoneRecognizer
    rec = MicrophoneRecognizer(engine)
    with rec.open_stream() as stream:          # the device is open before playback starts
        lead_in = stream.seconds_read          # audio read before playback (silence)
        proc, t0 = rt.play(samples, rate)
        result = rec.recognize(stream=stream, max_seconds=max_seconds)
        elapsed = time.monotonic() - t0
    proc.kill()
    proc.wait()
    result["lead_in"] = lead_in
    return result, elapsed


def realtime_listen(rt, engine, samples, rate):
    from recognizers.microphone import MicrophoneRecognizer
    rec = MicrophoneRecognizer(engine)
    events = []
    with rec.open_stream() as stream:
        proc, t0 = rt.play(samples, rate)
        for event in rec.listen(stream=stream, max_seconds=samples.size / rate + 1.0):
            events.append(event)
    proc.wait()
    return events


def summarize(rows, label):
    times = [r["time"] for r in rows if r["correct"]]
    ok = sum(r["correct"] for r in rows)
    wrong = sum(1 for r in rows if r["match"] is not None and not r["correct"])
    judged = [r for r in rows if r["offset_error"] is not None]
    offs = [abs(r["offset_error"]) for r in judged]
    right = sum(1 for r in judged if abs(r["offset_error"]) <= OFFSET_OK)
    repeats = sum(1 for r in judged if r["offset_repeat"])
    med = float(np.median([r["time"] for r in rows])) if rows else float("nan")
    print(f"{label:8s} plays {len(rows):3d}  correct {100.0 * ok / max(1, len(rows)):5.1f} %  wrong song {wrong}  "
          f"median time-to-answer {med:.2f} s (correct only {np.median(times) if times else float('nan'):.2f} s)  "
          f"offset within {OFFSET_OK:g} s: {right}/{len(judged)} (+{repeats} on a repeat of the same audio), "
          f"|err| median {np.median(offs) if offs else float('nan'):.3f} s", flush=True)
    return {"plays": len(rows), "correct_rate": ok / max(1, len(rows)), "wrong_song": wrong,
            "median_time_to_answer": med, "median_time_to_answer_correct": float(np.median(times)) if times else None,
            "offset_right": right, "offset_repeat": repeats, "offset_judged": len(judged),
            "median_offset_error": float(np.median(offs)) if offs else None}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--plays", type=int, default=50, help="plays per condition (clean, mic)")
    ap.add_argument("--conditions", default="clean,mic")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--jobs", type=int, default=2, help="processes for registering")
    ap.add_argument("--work", default=os.path.join(HERE, "work", "mic"))
    ap.add_argument("--offline", action="store_true", help="feed buffers directly instead of playing them")
    ap.add_argument("--unknown-seconds", type=float, default=UNKNOWN_SECONDS)
    ap.add_argument("--min-confidence", type=float, default=None)
    ap.add_argument("--confirmations", type=int, default=None)
    args = ap.parse_args(argv)
    opts = {}
    if args.min_confidence is not None:
        opts["min_confidence"] = args.min_confidence
    if args.confirmations is not None:
        opts["confirmations"] = args.confirmations
    engine, meta = prepare(args.work, args.jobs)
    print(f"corpus: {len(meta['tracks'])} tracks, {len(meta['known'])} registered, "
          f"{len(meta['unknown'])} held out; mode: {'offline' if args.offline else 'real time'}", flush=True)
    # a plain `kill` must still run the finally below, or the private PulseAudio daemon outlives the benchmark
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    rt = None if args.offline else RealTime()
    report = {"mode": "offline" if args.offline else "realtime", "options": opts}
    try:
        plays = plan_plays(meta, args.plays, args.seed)
        for condition in args.conditions.split(","):
            rows = []
            for n, (track, start) in enumerate(plays):
                samples, rate = make_audio(meta, track, start, CLIP_SECONDS, condition, [args.seed, n])
                if args.offline:
                    result, wall = offline_recognize(engine, samples, rate, **opts)
                    elapsed = result["seconds_listened"] + 0.0
                else:
                    result, elapsed = realtime_recognize(rt, engine, samples, rate)
                m = result["match"]
                ok = correct(meta, track, m)
                truth_id = meta["truth"].get(str(track))
                err, repeat = None, False
                if m is not None and m["song_id"] == truth_id:
                    # truth: song position at the answer = start + audio heard so far
                    err = m["offset_seconds"] - (start + result["seconds_listened"] - result.get("lead_in", 0.0))
                    if abs(err) > OFFSET_OK:     # game music loops: the same audio elsewhere in the track?
                        audio = decode_file(meta["tracks"][track], target_rate=11025)
                        sim = excerpt_similarity(audio, 11025, start, start + err, 5.0, lag=OFFSET_OK)
                        repeat = sim is not None and sim >= REPEAT_SIMILARITY
                rows.append({"track": track, "start": start, "match": m and m["song_id"], "correct": ok,
                             "time": elapsed, "listened": result["seconds_listened"], "offset_error": err,
                             "offset_repeat": repeat,
                             "confidence": m and m["confidence"]})
                if not ok:
                    print(f"  {condition} play {n}: track {track} at {start:.1f} s -> "
                          f"{m and m['song_id']} (truth {truth_id}) after {elapsed:.2f} s", flush=True)
            report[condition] = summarize(rows, condition)
            report[condition + "_rows"] = rows

        for label, maker in (("music", lambda: (unknown_music(meta, args.unknown_seconds, args.seed), SOURCE_RATE)),
                             ("speech", lambda: (speech(args.unknown_seconds, args.work), SOURCE_RATE))):
            samples, rate = maker()
            named = []
            # back-to-back 10 s recognitions
            seg = int(CLIP_SECONDS * rate)
            for a in range(0, samples.size - seg // 2, seg):
                piece = samples[a:a + seg]
                if args.offline:
                    result, _ = offline_recognize(engine, piece, rate, **opts)
                else:
                    result, _ = realtime_recognize(rt, engine, piece, rate)
                if result["match"] is not None:
                    named.append(result["match"]["song_id"])
            # one continuous monitor over the whole stretch
            if args.offline:
                mon = Monitor(engine, **opts)
                y = resample(samples, rate, engine.params.sample_rate)
                events = []
                for chunk in chunks_of(y, engine.params.sample_rate):
                    events.extend(mon.feed(chunk))
            else:
                events = realtime_listen(rt, engine, samples, rate)
            songs = [e["match"]["song_id"] for e in events if e["event"] == "song"]
            print(f"unregistered {label} ({samples.size / rate:.0f} s): songs named by recognize: {len(named)} "
                  f"{named}; by listen: {len(songs)} {songs}", flush=True)
            report["unknown_" + label] = {"seconds": samples.size / rate, "recognize_named": named,
                                          "listen_named": songs}
    finally:
        if rt is not None:
            rt.close()
        engine.close()
    with open(os.path.join(args.work, f"report_{report['mode']}.json"), "w") as f:
        json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
