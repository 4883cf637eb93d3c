"""Speech benchmark: sentence segmentation and sentence comparison.

Corpus, built at run time (nothing is committed):

* Real human speech from Debian's ``asterisk-core-sounds-en-gsm`` (Allison's
  prompts, decoded with ffmpeg). An *original* joins prompts with pauses of
  known length; a *recording* takes a shuffled subset of its sentences plus
  prompts that are not in the original, joined with other pauses, and passes
  through one condition: ``clean``, ``mp3`` (written as a 64 kbit/s MP3 file),
  ``noise10`` (white + pink noise at 10 dB SNR) or ``mic`` (the core
  benchmark's speaker-to-microphone path).
* Re-spoken speech from ``espeak-ng``: an original reads sentences in one
  voice, a recording reads a shuffled subset of the same texts in another
  voice or speed, plus texts that are not in the original.

Figures (the issue's targets in brackets):

1. sentence boundaries within 100 ms of the true pauses [>= 95 %]
2. copied sentences placed correctly, original start within 0.1 s [>= 98 %]
3. sentences not in the original reported as not found [>= 95 %]
4. re-spoken sentences matched to the right original sentence [>= 85 %]

    python bench/speech.py                 # full size
    python bench/speech.py --cases 4       # quicker
    python bench/speech.py --json
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

from dejavu_cn.audio import write_wav  # noqa: E402
from dejavu_cn.degrade import degrade  # noqa: E402
from recognizers.speech import compare_files  # noqa: E402
from segmenter import split_sentences  # noqa: E402

RATE = 16000                    # Hz of the generated files
ASTERISK_PACKAGE = "asterisk-core-sounds-en-gsm"
BOUNDARY_TOLERANCE = 0.1        # s
PLACEMENT_TOLERANCE = 0.1       # s
PAUSE_RANGE = (0.6, 1.2)        # s between sentences
TRUTH_DB = 40.0                 # a 10 ms frame sounds if within this many dB of the prompt's loudest frame
CONDITIONS = ("clean", "mp3", "noise10", "mic")
ORIGINAL_VOICE = ("en-us", 165, 50)    # espeak-ng voice, words per minute, pitch (0-99)
RESPOKEN_VOICES = (("en-gb+m3", 140, 50), ("en-us+f2", 180, 50), ("en-us", 130, 75), ("en-gb-x-rp+m5", 195, 35),
                   ("en-gb-scotland", 150, 60), ("en-us+f4", 160, 40))

# Sentences to re-speak (written for this benchmark).
TEXTS = (
    "The library opens at nine o'clock every morning.",
    "Please turn off your phone before the lesson starts.",
    "Rivers carry water from the mountains to the sea.",
    "My brother bought a red bicycle last summer.",
    "The train to the airport leaves from platform four.",
    "Fresh bread is sold in the small shop on the corner.",
    "Our teacher asked us to read the second chapter.",
    "The weather will be cold and windy tomorrow.",
    "She plays the violin in the city orchestra.",
    "Remember to water the plants on the balcony.",
    "The museum has a famous collection of old maps.",
    "We watched the sunset from the top of the hill.",
    "Children learn languages faster than adults.",
    "The meeting has been moved to Thursday afternoon.",
    "A good dictionary explains how words are used.",
    "The cat slept all day in front of the fire.",
    "Vegetables grow well in warm and sunny gardens.",
    "Write your name at the top of every page.",
    "The bridge was built more than a hundred years ago.",
    "Most birds fly south when the winter comes.",
    "He forgot his umbrella and got very wet.",
    "The doctor said that I should sleep more.",
    "Students must return their books by Friday.",
    "Coffee and tea are served in the main hall.",
    "The football match ended in a draw.",
    "Light travels much faster than sound.",
    "My grandmother tells wonderful stories about her village.",
    "Please close the window when you leave the room.",
    "The new road will make the journey much shorter.",
    "Apples and pears are picked in the autumn.",
    "The farmer keeps sheep and goats on the hills.",
    "Our neighbours are painting their house yellow.",
    "The computer needs a new battery soon.",
    "Every country has its own traditions and songs.",
    "The exam will last exactly two hours.",
    "Ice cream melts quickly on a hot day.",
    "The pilot spoke to the passengers before landing.",
    "Many people visit the old castle in spring.",
    "Thank you for listening to this short lesson.",
    "The market is busy on Saturday mornings.",
)


# -- corpus --------------------------------------------------------------------------------
def asterisk_prompts():
    """Paths of Allison's prompts (top folder only), sorted."""
    try:
        listing = subprocess.run(["dpkg", "-L", ASTERISK_PACKAGE], capture_output=True, text=True,
                                 check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        raise SystemExit(f"speech bench: {ASTERISK_PACKAGE} is not installed (apt-get install {ASTERISK_PACKAGE})")
    paths = [p for p in listing.splitlines() if p.endswith(".gsm") and os.path.isfile(p)]
    top = min(os.path.dirname(p).count("/") for p in paths)
    return sorted(p for p in paths if os.path.dirname(p).count("/") == top)


def decode_many(paths, rate=RATE, batch=40):
    """Decode files with few ffmpeg processes: one per ``batch`` inputs."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for first in range(0, len(paths), batch):
            chunk = paths[first:first + batch]
            cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y"]
            for p in chunk:
                cmd += ["-i", p]
            targets = []
            for k in range(len(chunk)):
                target = os.path.join(tmp, f"{first + k}.f32")
                cmd += ["-map", f"{k}:a:0", "-ac", "1", "-ar", str(rate), "-f", "f32le", target]
                targets.append(target)
            subprocess.run(cmd, check=True)
            out += [np.fromfile(t, dtype="<f4") for t in targets]
    return out


def speech_extent(x, rate=RATE):
    """Truth for one isolated prompt: first and last sounding sample, and the
    longest pause inside (s). A 10 ms frame sounds within ``TRUTH_DB`` dB of
    the loudest frame."""
    hop = rate // 100
    n = x.size // hop
    level = 10 * np.log10(np.mean(np.square(x[:n * hop].reshape(n, hop), dtype=np.float64), axis=1) + 1e-12)
    sounding = np.nonzero(level >= level.max() - TRUTH_DB)[0]
    if sounding.size == 0:
        return None
    gaps = np.diff(sounding) - 1
    return sounding[0] * hop, (sounding[-1] + 1) * hop, float(gaps.max(initial=0)) / 100.0


def usable_prompts(paths, *, min_seconds=1.0, max_seconds=6.0, max_gap=0.2):
    """Single-sentence prompts: (name, samples, speech start, speech end)."""
    keep = [p for p in paths if not any(w in os.path.basename(p) for w in ("tone", "beep", "silence", "tt-"))]
    out = []
    for path, x in zip(keep, decode_many(keep)):
        if not min_seconds <= x.size / RATE <= max_seconds:
            continue
        extent = speech_extent(x)
        if extent is None or extent[2] > max_gap or (extent[1] - extent[0]) / RATE < 0.5:
            continue
        out.append((os.path.basename(path)[:-4], x.astype(np.float32), extent[0], extent[1]))
    return out


def espeak(text, voice, speed, pitch=50, rate=RATE):
    """Render ``text`` with espeak-ng (SSML, so the text may hold <break> tags)."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["espeak-ng", "-m", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", tmp.name,
                        f"<speak>{text}</speak>"], check=True, capture_output=True)
        from dejavu_cn.audio import decode_file
        return decode_file(tmp.name, target_rate=rate)


def render_texts(indices, voice, speed, pitch):
    out = []
    for i in indices:
        x = espeak(TEXTS[i], voice, speed, pitch)
        s, e, _ = speech_extent(x)
        out.append((f"text{i}", x, s, e))
    return out


def join(pieces, rng, *, floor_db=-70.0):
    """Join (name, samples, speech start, speech end) with random pauses.

    Returns the signal and, per piece, (name, piece position, speech start,
    speech end) in samples of the joined signal."""
    parts, truth = [], []
    pos = int(rng.uniform(*PAUSE_RANGE) * RATE)
    parts.append(np.zeros(pos, np.float32))
    for name, x, s, e in pieces:
        truth.append((name, pos, pos + s, pos + e))
        parts.append(x)
        pos += x.size
        gap = int(rng.uniform(*PAUSE_RANGE) * RATE)
        parts.append(np.zeros(gap, np.float32))
        pos += gap
    y = np.concatenate(parts)
    y = y + (10 ** (floor_db / 20)) * rng.standard_normal(y.size).astype(np.float32)   # a quiet room, not digital zero
    return y.astype(np.float32), truth


def write_condition(path_stem, x, condition, rng):
    """Apply a condition and write the file (MP3 for "mp3", else WAV); returns its path."""
    if condition == "mp3":
        wav = write_wav(path_stem + ".tmp.wav", x, RATE)
        path = path_stem + ".mp3"
        subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", wav, "-c:a", "libmp3lame",
                        "-b:a", "64k", path], check=True)
        os.unlink(wav)
        return path
    y, rate = degrade(x, RATE, condition, rng)
    return write_wav(path_stem + ".wav", y, rate)


def build_cases(workdir, *, copy_cases=8, respoken_cases=4, seed=1, per_original=10, copied=6, foreign=3):
    """Build the benchmark's files under ``workdir``.

    Returns
    -------
    list of dict
        One per (original, recording) pair: ``kind`` ("copy" or "respoken"),
        ``condition``, paths, and the truth: ``original_truth`` and
        ``recording_truth`` lists of (name, piece position, speech start,
        speech end) in seconds.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(workdir, exist_ok=True)
    cases = []
    if copy_cases:
        paths = asterisk_prompts()
        chosen = rng.permutation(len(paths))[: min(len(paths), copy_cases * (per_original + foreign) * 3)]
        prompts = usable_prompts([paths[i] for i in sorted(chosen)])
        if len(prompts) < per_original + foreign:
            raise SystemExit("speech bench: not enough usable prompts")
    for k in range(copy_cases):
        condition = CONDITIONS[k % len(CONDITIONS)]
        pick = rng.permutation(len(prompts))[: per_original + foreign]
        in_orig = [prompts[i] for i in pick[:per_original]]
        outside = [prompts[i] for i in pick[per_original:]]
        original, o_truth = join(in_orig, rng)
        subset = [in_orig[i] for i in rng.permutation(per_original)[:copied]]
        pieces = [subset[i] if i < len(subset) else outside[i - len(subset)]
                  for i in rng.permutation(len(subset) + len(outside))]
        recording, r_truth = join(pieces, rng)
        o_path = write_wav(os.path.join(workdir, f"copy{k}-original.wav"), original, RATE)
        r_path = write_condition(os.path.join(workdir, f"copy{k}-recording-{condition}"), recording, condition, rng)
        cases.append(_case("copy", condition, o_path, r_path, o_truth, r_truth))
    for k in range(respoken_cases):
        voice, speed, pitch = RESPOKEN_VOICES[k % len(RESPOKEN_VOICES)]
        pick = rng.permutation(len(TEXTS))[: per_original + foreign]
        in_orig, outside = list(pick[:per_original]), list(pick[per_original:])
        original, o_truth = join(render_texts(in_orig, *ORIGINAL_VOICE), rng)
        subset = [in_orig[i] for i in rng.permutation(per_original)[:copied]]
        order = [int(x) for x in rng.permutation(subset + outside)]
        recording, r_truth = join(render_texts(order, voice, speed, pitch), rng)
        o_path = write_wav(os.path.join(workdir, f"respoken{k}-original.wav"), original, RATE)
        r_path = write_wav(os.path.join(workdir, f"respoken{k}-recording-{voice}-{speed}-{pitch}.wav"), recording, RATE)
        cases.append(_case("respoken", f"{voice} {speed}wpm p{pitch}", o_path, r_path, o_truth, r_truth))
    return cases


def _case(kind, condition, o_path, r_path, o_truth, r_truth):
    sec = lambda t: [(n, p / RATE, s / RATE, e / RATE) for n, p, s, e in t]     # noqa: E731
    return {"kind": kind, "condition": condition, "original": o_path, "recording": r_path,
            "original_truth": sec(o_truth), "recording_truth": sec(r_truth)}


# -- scoring -----------------------------------------------------------------------------
def boundary_hits(detected, truth, duration):
    """Per true sentence: is exactly one detected sentence on it, with both
    ends within ``BOUNDARY_TOLERANCE`` of the pauses that flank it?

    ``detected``: (k, 2) seconds; ``truth``: list of (name, pos, start, end) s.
    """
    spans = [(s, e) for _, _, s, e in truth]
    hits = []
    for i, (s, e) in enumerate(spans):
        prev_end = spans[i - 1][1] if i else 0.0
        next_start = spans[i + 1][0] if i + 1 < len(spans) else duration
        on = [d for d in detected if min(d[1], e) - max(d[0], s) > 0]
        ok = (len(on) == 1 and prev_end - BOUNDARY_TOLERANCE <= on[0][0] <= s + BOUNDARY_TOLERANCE
              and e - BOUNDARY_TOLERANCE <= on[0][1] <= next_start + BOUNDARY_TOLERANCE)
        hits.append(bool(ok))
    return hits


def _sentence_on(result, start, end):
    """The recording sentence overlapping [start, end) s most."""
    best, best_overlap = None, 0.0
    for s in result["sentences"]:
        overlap = min(s["end"], end) - max(s["start"], start)
        if overlap > best_overlap:
            best, best_overlap = s, overlap
    return best


def score_case(case, result, misses=None):
    """Scores of one compared case; failures are appended to ``misses``."""
    o_names = {n: (p, s, e) for n, p, s, e in case["original_truth"]}
    o_index = {n: i for i, (n, _, _, _) in enumerate(case["original_truth"])}
    orig_sentences = result["original_sentences"]
    placed, not_found, respoken = [], [], []
    for name, pos, s, e in case["recording_truth"]:
        sent = _sentence_on(result, s, e)
        if name not in o_names:
            not_found.append(sent is not None and sent["verdict"] == "not_found")
            _miss(misses, not_found, case, name, "reported although not in the original", sent)
            continue
        o_pos = o_names[name][0]
        if case["kind"] == "copy":
            ok = False
            if sent is not None and sent["verdict"] == "same":
                expected = sent["start"] - pos + o_pos
                ok = abs(sent["original_start"] - expected) <= PLACEMENT_TOLERANCE
            placed.append(ok)
            _miss(misses, placed, case, name, f"copy not placed (original at {o_names[name][1]:.2f} s)", sent)
        else:
            ok = False
            if sent is not None and sent["verdict"] in ("same", "similar") and sent["original_index"] is not None:
                o = orig_sentences[sent["original_index"]]
                _, ts, te = o_names[name]
                ok = min(o["end"], te) - max(o["start"], ts) > 0.5 * (te - ts) and o_index[name] >= 0
            respoken.append(ok)
            _miss(misses, respoken, case, name, f"re-spoken not matched (original at {o_names[name][1]:.2f} s)", sent)
    return {"placed": placed, "not_found": not_found, "respoken": respoken}


def _miss(misses, scores, case, name, what, sent):
    if misses is not None and not scores[-1]:
        keys = ("start", "end", "verdict", "similarity", "original_start", "fingerprint_confidence", "dtw_z", "dtw_fit")
        misses.append(f"{case['kind']} {case['condition']} {os.path.basename(case['recording'])} {name}: {what}; "
                      + (", ".join(f"{k}={sent.get(k)}" for k in keys) if sent else "no sentence there"))


def segmentation_scores(case, params=None):
    """Boundary hits of the original and of the recording of a case."""
    from dejavu_cn.audio import decode_file
    hits = []
    for key in ("original", "recording"):
        x = decode_file(case[key], target_rate=RATE)
        detected = split_sentences(x, RATE, params) / RATE
        hits += boundary_hits(detected.tolist(), case[f"{key}_truth"], x.size / RATE)
    return hits


def run(cases, *, config=None, segment_params=None):
    """Compare every case; returns the four figures, per-condition details and
    the failures (``misses``)."""
    totals = {"boundaries": [], "placed": [], "not_found": [], "respoken": []}
    by_condition = {}
    seconds = 0.0
    misses = []
    for case in cases:
        t0 = time.perf_counter()
        result = compare_files(case["recording"], case["original"], config=config, segment_params=segment_params)
        seconds += time.perf_counter() - t0
        scores = score_case(case, result, misses)
        scores["boundaries"] = segmentation_scores(case, segment_params)
        row = by_condition.setdefault(f"{case['kind']} {case['condition']}", {k: [] for k in totals})
        for key in totals:
            totals[key] += scores[key]
            row[key] += scores[key]
    rate = lambda v: (round(100.0 * sum(v) / len(v), 1) if v else None, len(v))   # noqa: E731
    return {
        "figures": {k: rate(v) for k, v in totals.items()},
        "by_condition": {c: {k: rate(v) for k, v in row.items()} for c, row in by_condition.items()},
        "compare_seconds": round(seconds, 2),
        "cases": len(cases),
        "misses": misses,
    }


TARGETS = {"boundaries": 95.0, "placed": 98.0, "not_found": 95.0, "respoken": 85.0}
LABELS = {"boundaries": "sentence boundaries within 100 ms of the true pauses",
          "placed": "copied sentences placed correctly (start within 0.1 s)",
          "not_found": "sentences not in the original reported as not found",
          "respoken": "re-spoken sentences matched to the right original sentence"}


def format_report(report, *, verbose=False):
    lines = [f"speech benchmark: {report['cases']} cases, comparisons took {report['compare_seconds']} s"]
    for key, (value, n) in report["figures"].items():
        mark = "ok" if value is not None and value >= TARGETS[key] else "BELOW TARGET"
        lines.append(f"  {LABELS[key]:<62} {value:>6} %  (n={n}, target >= {TARGETS[key]:g} %) {mark}")
    lines.append("  by condition:")
    for cond, row in report["by_condition"].items():
        cells = ", ".join(f"{k} {v[0]}% (n={v[1]})" for k, v in row.items() if v[1])
        lines.append(f"    {cond:<22} {cells}")
    if verbose and report.get("misses"):
        lines.append("  misses:")
        lines += [f"    {m}" for m in report["misses"]]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=24, help="copy cases (each condition in turn); default 24")
    ap.add_argument("--respoken", type=int, default=12, help="re-spoken cases; default 12")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--work", default=None, help="keep the generated files here")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every miss")
    args = ap.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="speech-bench-")
    try:
        t0 = time.perf_counter()
        cases = build_cases(work, copy_cases=args.cases, respoken_cases=args.respoken, seed=args.seed)
        built = time.perf_counter() - t0
        report = run(cases)
        report["build_seconds"] = round(built, 2)
        print(json.dumps(report, indent=2) if args.json else format_report(report, verbose=args.verbose))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
