"""False positives across corpora, leave-one-corpus-out (issue 31).

The benchmark's own false-positive figure comes from clips of tracks held
out of the very corpus its threshold was set on. Here each corpus is held
out whole in turn: the other corpora are registered into an in-memory index
(``bench/tune.py``'s ``MemoryIndex``), clips of 1, 2, 3, 5 and 10 s are cut
from every track of the held-out corpus, clean and through the
microphone-like path (``dejavu_cn.degrade``), and recognised through the
engine (``Dejavu.match_samples``); any song named is a false positive.
Besides unregistered music, four kinds of audio nobody registers are
queried against the library of all seven corpora: speech (espeak-ng, and
the recorded prompts of asterisk-core-sounds-en-gsm where installed), mains
hum (50 or 60 Hz with harmonics over low noise), pure tones and slow drones,
and loop-heavy synthetic electronic music (a one-bar drum pattern and a
chord loop, repeated). A few clips of registered tracks per fold give the
right-answer side of the reliability table.

Corpora: the benchmark's four (nexuiz-music, warzone2100-music,
singularity-music, hyperrogue-music; decoded audio is taken from a
``bench/tune.py prepare`` work directory) and three it never used:
asc-music, fb-music-high (one module, decoded by ffmpeg's libopenmpt) and
xblast-tnt-musics (headerless PCM: unsigned 8-bit, interleaved stereo, read
at 22050 Hz; see ``XBLAST_FORMAT``).

    python bench/fp.py --tunework /work/bench-results/tunework            # all folds and negatives
    python bench/fp.py --tunework DIR --clips 10 --negative-clips 5      # quicker

Prints the false-positive rate per corpus and per kind of negative with a
95 % Wilson interval, the reliability table (share of wrong answers among
answers at confidence >= 0.4, 0.6, 0.8, 0.95), and every false positive
with its evidence: aligned frames, hits, repeat votes, p-value, and how the
aligned votes spread over the clip (``spread``: share of the clip's seconds
holding an aligned anchor; ``unique``: distinct (query frame, song frame)
pairs in the window). ``--save`` keeps the per-clip rows as JSON.
"""
import argparse
import dataclasses
import glob
import hashlib
import json
import math
import multiprocessing
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

from dejavu_cn import Dejavu  # noqa: E402
from dejavu_cn.audio import decode_file, resample  # noqa: E402
from dejavu_cn.config import Config  # noqa: E402
from dejavu_cn.degrade import degrade  # noqa: E402
from dejavu_cn.fingerprint import drop_repeated, fingerprint, sketch_of  # noqa: E402
from dejavu_cn.hashing import hash_keys  # noqa: E402
from dejavu_cn.matching import CONFIDENCE_DECADES, _join, align  # noqa: E402
from dejavu_cn.sketch import checks, to_bytes, z_score  # noqa: E402

from run import parse_sets  # noqa: E402
from tune import MemoryIndex  # noqa: E402

LENGTHS = (1.0, 2.0, 3.0, 5.0, 10.0)
CONDITIONS = ("clean", "mic")
CONFIDENCE_BINS = (0.4, 0.6, 0.8, 0.95)
AUDIBLE_DBFS = -45.0                 # a music excerpt quieter than this is drawn again (as the benchmark does)
XBLAST_FORMAT = ("u8", 2, 22050)     # sample format, channels, Hz: the bytes centre on 128 and even and odd
#                                      bytes correlate better two apart than one (interleaved stereo); the rate
#                                      is not in the files (22050 is XBlast's mixer rate; 11025 would halve tempo
#                                      and pitch, still music)
NEGATIVE_KINDS = ("speech-espeak", "speech-recorded", "hum", "tones", "loops")

BENCH_CORPORA = {                    # corpus -> how its tracks are recognised among the tune plan's paths
    "nexuiz-music": "/corpus/nexuiz/",
    "warzone2100-music": "/usr/share/games/warzone2100/",
    "singularity-music": "/usr/share/games/singularity/",
    "hyperrogue-music": "/usr/share/hyperrogue/",
}
NEW_CORPORA = {
    "asc-music": lambda: sorted(glob.glob("/usr/share/games/asc/music/*.mp3")),
    "fb-music-high": lambda: sorted(glob.glob("/usr/share/games/frozen-bubble/snd/*.xm")),
    "xblast-tnt-musics": lambda: sorted(glob.glob("/usr/share/games/xblast-tnt/sounds/xbsng*.raw")),
}


def wilson(k, n, z=1.96):
    """95 % Wilson score interval of ``k`` successes in ``n`` trials, as (low, high)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


# -- corpora -------------------------------------------------------------------------------------

def decode_any(path, rate):
    """Mono float32 at ``rate``. XBlast's headerless PCM is described to ffmpeg;
    tracker modules (.xm) go to ffmpeg directly too: ``dejavu_cn.audio`` refuses
    formats outside its whitelist of plain audio containers, libopenmpt's among them."""
    if path.endswith((".raw", ".xm", ".gsm")):
        fmt, channels, src = XBLAST_FORMAT
        given = {".raw": ["-f", fmt, "-ac", str(channels), "-ar", str(src)], ".gsm": ["-f", "gsm"], ".xm": []}
        given = given[os.path.splitext(path)[1]]
        cmd = ["ffmpeg", "-nostdin", "-loglevel", "error", *given, "-i", path, "-ac", "1", "-ar", str(rate),
               "-f", "f32le", "-"]
        return np.frombuffer(subprocess.run(cmd, capture_output=True, check=True).stdout, "<f4").copy()
    return decode_file(path, target_rate=rate)


def collect_corpora(tunework, work, rate):
    """{corpus: [(name, audio .npy path, seconds)]}: the benchmark's tracks from
    the tune plan's decoded audio, the new corpora decoded into ``work``; and
    {track: [tracks sharing its audio]} as ``bench/tune.py`` found them (a
    clip of one named as the other is right)."""
    with open(os.path.join(tunework, "tune", "plan.json")) as f:
        plan = json.load(f)
    corpora = {c: [] for c in (*BENCH_CORPORA, *NEW_CORPORA)}
    shared = {}                               # track path -> paths holding the same audio (tune.py's probe)
    if os.path.exists(os.path.join(tunework, "tune", "shared.json")):
        with open(os.path.join(tunework, "tune", "shared.json")) as f:
            shared = {plan["tracks"][int(k)]: [plan["tracks"][i - 1] for i in v] for k, v in json.load(f).items()}
    for track, audio, seconds in zip(plan["tracks"], plan["audio"], plan["durations"]):
        for corpus, marker in BENCH_CORPORA.items():
            if marker in track:
                corpora[corpus].append((track, audio, float(seconds)))
    os.makedirs(os.path.join(work, "audio"), exist_ok=True)
    for corpus, find in NEW_CORPORA.items():
        for path in find():
            out = os.path.join(work, "audio", f"{corpus}-{os.path.basename(path)}.npy")
            if not os.path.exists(out):
                np.save(out, decode_any(path, rate))
            corpora[corpus].append((path, out, float(np.load(out, mmap_mode="r").size / rate)))
    return corpora, shared


def _fingerprint(args):
    audio_path, out, params = args
    if not os.path.exists(out):
        audio = np.load(audio_path)
        fps = drop_repeated(fingerprint(audio, params), params.max_hash_repeats)
        rows = np.unique(np.stack([hash_keys(fps.hashes), fps.offsets.astype(np.uint64)], axis=1), axis=0)
        np.savez(out, keys=rows[:, 0], offsets=rows[:, 1].astype(np.int64),
                 sketch=np.frombuffer(to_bytes(sketch_of(audio, params)), np.uint8))
    return out


class Library:
    """Every track's rows, fingerprinted once (cached in ``work``), from which
    an index of any set of corpora is built."""

    def __init__(self, corpora, work, config, jobs):
        params = config.fingerprint
        self.config = config
        digest = hashlib.sha1(json.dumps(dataclasses.asdict(params), sort_keys=True).encode()).hexdigest()[:10]
        fp_dir = os.path.join(work, f"fp-{digest}")                  # one cache per set of analysis parameters
        os.makedirs(fp_dir, exist_ok=True)
        self.tracks = []                     # (corpus, name, fingerprint .npz, seconds, audio .npy)
        jobs_args = []
        for corpus, items in corpora.items():
            for name, audio, seconds in items:
                out = os.path.join(fp_dir, f"{corpus}-{len(self.tracks):04d}.npz")
                self.tracks.append((corpus, name, out, seconds, audio))
                jobs_args.append((audio, out, params))
        with multiprocessing.Pool(jobs) as pool:
            pool.map(_fingerprint, jobs_args, chunksize=1)
        self.frame = params.frame_seconds()

    def engine(self, corpora):
        """A :class:`Dejavu` on an in-memory index of these corpora's tracks (song id = track number + 1)."""
        keys, ids, offsets, songs, sketches = [], [], [], {}, {}
        for n, (corpus, name, out, seconds, _) in enumerate(self.tracks):
            if corpus not in corpora:
                continue
            z = np.load(out)
            sid = n + 1
            keys.append(z["keys"])
            offsets.append(z["offsets"])
            ids.append(np.full(z["keys"].size, sid, np.int64))
            sketches[sid] = z["sketch"].tobytes()
            songs[sid] = {"song_id": sid, "song_name": f"{corpus}/{os.path.basename(name)}", "source_path": name,
                          "file_sha1": "", "duration_seconds": seconds, "total_hashes": int(z["keys"].size),
                          "anchor_frames": int(np.unique(z["offsets"]).size)}
        index = MemoryIndex(np.concatenate(keys), np.concatenate(ids), np.concatenate(offsets), songs, sketches)
        return Dejavu(self.config, storage=index)


# -- negatives -----------------------------------------------------------------------------------

def _espeak(text, voice, speed, pitch):
    done = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text],
                          capture_output=True, check=True)
    import io
    import wave
    with wave.open(io.BytesIO(done.stdout)) as w:
        rate, data = w.getframerate(), w.readframes(w.getnframes())
    return np.frombuffer(data, "<i2").astype(np.float32) / 32768.0, rate


SENTENCES = (
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Please leave your message after the tone, and we will call you back as soon as possible.",
    "Audio fingerprinting identifies a recording from a short excerpt, even through a noisy room.",
    "Tomorrow the weather will be cloudy in the morning with some sunshine in the afternoon.",
    "Seven hundred and forty two passengers boarded the train at the central station.",
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
)


def speech_espeak(rate, rng):
    """A minute of espeak-ng sentences in several voices, speeds and pitches, with short pauses."""
    parts = []
    voices = ("en", "en-us", "en-gb-scotland", "en+f3", "en+m3", "de", "fr")
    for i in range(24):
        x, src = _espeak(SENTENCES[i % len(SENTENCES)], voices[i % len(voices)], int(rng.integers(130, 200)),
                         int(rng.integers(20, 80)))
        parts += [resample(x, src, rate), np.zeros(int(rng.uniform(0.1, 0.6) * rate), np.float32)]
    return np.concatenate(parts)


def speech_recorded(rate, rng):
    """Asterisk's recorded prompts (a professional voice), concatenated; None if not installed."""
    root = "/usr/share/asterisk/sounds"
    files = sorted(glob.glob(f"{root}/en*/*.gsm") + glob.glob(f"{root}/en*/*/*.gsm"))
    files = [f for f in files if not any(w in os.path.basename(f) for w in ("tone", "beep", "music"))]
    if not files:
        return None
    picked = [files[i] for i in rng.choice(len(files), size=min(120, len(files)), replace=False)]
    parts = []
    for path in picked:
        parts += [decode_any(path, rate), np.zeros(int(0.2 * rate), np.float32)]
    return np.concatenate(parts)


def hum(rate, rng, seconds=60.0):
    """Mains hum: 50 or 60 Hz and harmonics (random levels and phases, slow level wobble) over noise 40 dB down."""
    t = np.arange(int(seconds * rate)) / rate
    f0 = 50.0 if rng.random() < 0.5 else 60.0
    x = np.zeros_like(t)
    for k in range(1, 12):
        x += rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi))
    x *= 1 + 0.05 * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t)
    x = 0.2 * x / np.abs(x).max()
    x += 0.002 * rng.standard_normal(t.size)
    return x.astype(np.float32)


def tones(rate, rng, seconds=60.0):
    """Pure tones (one steady sine) and slow drones (a held chord of harmonic tones, slow vibrato and swell)."""
    t = np.arange(int(seconds * rate)) / rate
    if rng.random() < 0.4:
        x = np.sin(2 * np.pi * rng.uniform(80, 3000) * t)
    else:
        x = np.zeros_like(t)
        root = rng.uniform(55, 220)
        for ratio in rng.choice([1.0, 1.25, 1.5, 2.0, 1.2, 1.335, 3.0], size=3, replace=False):
            vib = 1 + 0.003 * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t)
            phase = 2 * np.pi * np.cumsum(root * ratio * vib) / rate
            for h in range(1, 6):
                x += np.sin(h * phase) / h ** 1.5
        x *= 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.02, 0.1) * t)
    x = 0.3 * x / np.abs(x).max() + 1e-4 * rng.standard_normal(t.size)
    return x.astype(np.float32)


def loop_track(rate, rng, seconds=60.0):
    """Loop-heavy electronic music: a one-bar drum pattern (kick, snare, hats) and a
    four-chord synth loop, each one bar, repeated for ``seconds``."""
    bpm = rng.uniform(90, 140)
    beat = 60.0 / bpm
    bar = int(round(4 * beat * rate))
    steps = 16
    step = bar // steps
    pattern = np.zeros(bar, np.float64)

    def put(sound, at):
        end = min(bar, at + sound.size)
        pattern[at:end] += sound[: end - at]
    tt = np.arange(int(0.25 * rate)) / rate
    kick = np.sin(2 * np.pi * (45 + 90 * np.exp(-tt * 30)) * tt) * np.exp(-tt * 12)
    snare = (rng.standard_normal(tt.size) * np.exp(-tt * 25) * 0.5
             + np.sin(2 * np.pi * 190 * tt) * np.exp(-tt * 20) * 0.3)
    hat = np.diff(rng.standard_normal(int(0.05 * rate) + 1)) * np.exp(-np.arange(int(0.05 * rate)) / rate * 80) * 0.2
    kicks = ([0, 8], [0, 6, 8], [0, 3, 8, 11], [0, 4, 8, 12])[int(rng.integers(4))]
    for s in kicks:
        put(kick, s * step)
    for s in (4, 12):
        put(snare, s * step)
    for s in range(0, steps, 2 if rng.random() < 0.5 else 1):
        put(hat, s * step)
    root = rng.uniform(110, 220)
    chords = [[1, 1.25, 1.5], [1.335, 1.68, 2.0], [1.5, 1.89, 2.25], [1.12, 1.335, 1.68]]
    order = rng.permutation(4)
    quarter = bar // 4
    tq = np.arange(quarter) / rate
    env = np.minimum(1, tq * 50) * np.exp(-tq * rng.uniform(1, 4))
    for q, c in enumerate(order):
        tone = sum(np.sign(np.sin(2 * np.pi * root * r * tq)) * 0.3 + np.sin(2 * np.pi * root * r * 2 * tq)
                   for r in chords[c])
        pattern[q * quarter:(q + 1) * quarter] += 0.15 * tone * env
    reps = int(np.ceil(seconds * rate / bar))
    x = np.tile(pattern, reps)[: int(seconds * rate)]
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def negative_sources(rate, seed):
    """{kind: [signal, ...]}: several independent minutes of each kind of negative."""
    rng = np.random.default_rng([seed, 31])
    out = {"speech-espeak": [speech_espeak(rate, rng)]}
    recorded = speech_recorded(rate, rng)
    if recorded is not None:
        out["speech-recorded"] = [recorded]
    out["hum"] = [hum(rate, rng) for _ in range(6)]
    out["tones"] = [tones(rate, rng) for _ in range(10)]
    out["loops"] = [loop_track(rate, rng) for _ in range(10)]
    return out


# -- clips ---------------------------------------------------------------------------------------

def cut(audio, length, rate, rng, *, audible=True):
    """A seeded excerpt of ``length`` s (drawn again, up to 20 times, where it is silent)."""
    n = int(length * rate)
    if audio.size <= n:
        return None
    for _ in range(20):
        a = int(rng.integers(0, audio.size - n))
        x = audio[a:a + n]
        rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
        if not audible or 20 * np.log10(rms + 1e-12) >= AUDIBLE_DBFS:
            return x, a / rate
    return None


def make_query(x, rate, condition, rng):
    """The excerpt as the engine hears it: clean, or microphone-like and back at the analysis rate."""
    y, r = degrade(x, rate, condition, rng)
    return y if r == rate else resample(y, r, rate)


_G = {}


def _query(job):
    """Recognise one clip; the answer and the evidence of the named song."""
    engine, frame = _G["engine"], _G["frame"]
    rate = engine.params.sample_rate
    tag, samples, truth = job                 # truth: the song ids that are right answers (None: none is)
    t = time.perf_counter()
    result = engine.match_samples(samples)
    row = dict(tag, truth=truth, ms=round(1000 * (time.perf_counter() - t), 1), named=None)
    best = result["candidates"][0] if result["candidates"] else None
    row["best_confidence"] = best["confidence"] if best else 0.0
    row.update(sketch_null(engine, samples, result["candidates"], truth))
    match = result["match"]
    if match is None:
        return row
    row.update(named=match["song_id"], name=match["song_name"], confidence=match["confidence"],
               p_value=match["p_value"], aligned_frames=match["aligned_frames"], repeat_votes=match["repeat_votes"],
               decided_by=match["decided_by"], offset_seconds=match["offset_seconds"],
               hashes_matched=match["hashes_matched_in_input"], input_hashes=match["input_total_hashes"],
               decided_seconds=result["decided_seconds"])
    row["correct"] = truth is not None and match["song_id"] in truth
    row.update(evidence(engine, samples, match, frame, rate))
    cands = result["candidates"]
    row["runner_up_aligned"] = max([c["aligned_frames"] for c in cands if c["song_id"] != match["song_id"]] + [0])
    return row


def sketch_null(engine, samples, candidates, truth):
    """The sketch's evidence for the wrong songs among the hashes' first
    ``recognition.sketch_candidates`` candidates, as :func:`dejavu_cn.sketch.verify`
    measures it: the largest z at a candidate's offset (+- ``LOCAL_FRAMES``)
    and anywhere in its song (with that song's count of starts), whether or
    not the engine checked them (it does when the hashes leave a clip undecided)."""
    wrong = [c for c in candidates[:max(1, engine.config.recognition.sketch_candidates)]
             if truth is None or c["song_id"] not in truth]
    out = {"null_local": None, "null_song": None, "null_starts": 0, "sketch_frames": 0}
    if not wrong:
        return out
    query = sketch_of(samples, engine.params, side="query")
    stored = engine.sketches([c["song_id"] for c in wrong])
    frame = engine.params.frame_seconds()
    out["sketch_frames"] = int(query.size)
    for c in wrong:
        offset = int(round(c["offset_seconds"] / frame))
        for whole, _, errors, starts in checks(stored.get(c["song_id"]), query, offset):
            z, key = float(z_score(errors, query.size)), "null_song" if whole else "null_local"
            if out[key] is None or z > out[key]:
                out[key] = z
                if whole:
                    out["null_starts"] = int(starts)
    return out


def evidence(engine, samples, match, frame, rate):
    """How the named song's aligned votes lie over the clip: ``hits`` (the
    candidate's votes on the song, any offset, as :func:`align` counts them),
    ``spread`` (share of the clip's whole seconds that hold an aligned match),
    ``unique`` (distinct (query frame, song frame) pairs at the offset),
    ``query_frames`` (distinct query frames among them), ``distinct_hashes``
    (distinct query hashes among them: a held note or a loop repeats one)."""
    query = engine.analyze(samples)
    song = match["song_id"]
    lookup = engine.storage.lookup(query.hashes, songs=[song])
    max_rows = engine.config.recognition.max_hash_rows
    keys = hash_keys(query.hashes)
    q_idx, r_idx, _, _ = _join(keys, lookup, max_rows)
    alone, _ = align(query, lookup, max_rows=max_rows, top=1)
    q_frames = query.times[q_idx] / query.shifts
    s_frames = lookup.offsets[r_idx]
    near = np.abs(s_frames - q_frames - match["offset_seconds"] / frame) <= 1.5
    q = np.round(q_frames[near]).astype(np.int64)
    s = s_frames[near].astype(np.int64)
    seconds = max(1, int(round(samples.size / rate)))
    covered = np.unique(np.minimum(seconds - 1, (q * frame).astype(np.int64))).size
    return {"hits": alone[0].hits if alone else 0, "spread": round(covered / seconds, 3),
            "covered_seconds": int(covered), "unique": int(np.unique(q * (1 << 32) + s).size),
            "query_frames": int(np.unique(q).size), "distinct_hashes": int(np.unique(keys[q_idx[near]]).size)}


def run_jobs(engine, jobs, workers):
    _G.update(engine=engine, frame=engine.params.frame_seconds())
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.map(_query, jobs, chunksize=4)


# -- report --------------------------------------------------------------------------------------

def rate_line(label, rows):
    n = len(rows)
    k = sum(r["named"] is not None for r in rows)
    lo, hi = wilson(k, n)
    return f"{label:<22}{k:>5} of {n:<5} {100 * k / max(1, n):6.2f} %   [{100 * lo:.2f}, {100 * hi:.2f}]"


def report(rows):
    lines = ["False positives (clips of audio not in the library that were named), 95 % Wilson interval:",
             f"{'':<22}{'named':>5}    {'clips':<5} {'rate':>8}   interval"]
    unknown = [r for r in rows if r["set"] != "known"]
    for group in sorted({r["group"] for r in unknown}, key=lambda g: (g.startswith("neg:"), g)):
        these = [r for r in unknown if r["group"] == group]
        lines.append(rate_line(group, these))
        for cond in CONDITIONS:
            lines.append(rate_line(f"  {cond}", [r for r in these if r["condition"] == cond]))
    music = [r for r in unknown if r["set"] == "music"]
    lines.append(rate_line("all music", music))
    lines.append(rate_line("all negatives", [r for r in unknown if r["set"] == "negative"]))
    lines.append("by length (music):     " + "  ".join(
        f"{x:g}s {sum(r['named'] is not None for r in music if r['length'] == x)}/"
        f"{sum(r['length'] == x for r in music)}" for x in LENGTHS))
    known = [r for r in rows if r["set"] == "known"]
    if known:
        ok = sum(r["named"] is not None and r["correct"] for r in known)
        lines.append(f"known clips: {ok} of {len(known)} named right ({100 * ok / len(known):.1f} %), "
                     f"{sum(r['named'] is not None and not r['correct'] for r in known)} named wrong")
    lines.append("")
    lines.append("Reliability (answers at confidence >= c, pooled over folds; wrong = unknown clip named, "
                 "or known clip named as another song; the share depends on how many known clips are mixed in,")
    lines.append("so the unknown clips named at >= c, against the chance the confidence promises, are shown too):")
    lines.append(f"{'c':>6} {'answers':>8} {'wrong':>6} {'share':>8}   interval          "
                 f"unknown clips named at >= c     chance p at c")
    answered = [r for r in rows if r["named"] is not None]
    for c in CONFIDENCE_BINS:
        these = [r for r in answered if r["confidence"] >= c]
        wrong = sum(not r["correct"] for r in these)
        lo, hi = wilson(wrong, len(these))
        k = sum(r["named"] is not None and r["confidence"] >= c for r in unknown)
        ulo, uhi = wilson(k, len(unknown))
        lines.append(f"{c:>6g} {len(these):>8} {wrong:>6} {100 * wrong / max(1, len(these)):7.2f} %"
                     f"   [{100 * lo:.2f}, {100 * hi:.2f}] %   {k:>4} of {len(unknown)} [{100 * ulo:.3f}, "
                     f"{100 * uhi:.3f}] %   {10 ** (-CONFIDENCE_DECADES * c):.0e}")
    lines.append("")
    lines.append("Vetoes tried on these answers (issue 31's cheapest levers; a hash decision whose aligned matches")
    lines.append("cover less than a share of the clip's seconds, or whose votes counted as distinct (query frame,")
    lines.append("song frame) pairs or distinct query frames fall below its aligned frames):")
    named_unknown = [r for r in unknown if r["named"] is not None]
    named_known = [r for r in known if r["named"] is not None and r["correct"]]
    vetoes = [(f"spread < {s:g}", lambda r, s=s: r["spread"] < s) for s in (0.2, 0.3, 0.5)]
    vetoes.append(("unique pairs < aligned", lambda r: r["unique"] < r["aligned_frames"]))
    vetoes.append(("query frames < aligned", lambda r: r["query_frames"] < r["aligned_frames"]))
    vetoes.append(("distinct hashes < aligned", lambda r: r["distinct_hashes"] < r["aligned_frames"]))
    for label, veto in vetoes:
        gone = sum(r["decided_by"] == "hashes" and veto(r) for r in named_unknown)
        lost = sum(r["decided_by"] == "hashes" and veto(r) for r in named_known)
        lines.append(f"  {label:<26} removes {gone} of {len(named_unknown)} false positives, "
                     f"{lost} of {len(named_known)} right answers")
    lines += ["", null_report(rows)]
    fps = named_unknown
    if fps:
        lines.append("")
        lines.append("The false positives:")
        lines.append(f"{'group':<20}{'cond':<6}{'len':>4} {'named':<44}{'conf':>5}{'p':>9}{'alig':>5}{'uniq':>5}"
                     f"{'qfr':>5}{'hsh':>5}{'hits':>6}{'rep':>4}{'spread':>7} by")
        for r in sorted(fps, key=lambda r: (r["group"], -r["confidence"])):
            lines.append(f"{r['group'][:19]:<20}{r['condition']:<6}{r['length']:>4g} {r['name'][:43]:<44}"
                         f"{r['confidence']:>5.2f}{r['p_value']:>9.1e}{r['aligned_frames']:>5}{r['unique']:>5}"
                         f"{r['query_frames']:>5}{r['distinct_hashes']:>5}{r['hits']:>6}{r['repeat_votes']:>4}"
                         f"{r['spread']:>7.2f} "
                         f"{r['decided_by']}  ({r['source']} @{r['start']:.1f}s)")
    return "\n".join(lines)


def null_report(rows):
    """The sketch's null: per clip, the largest z of a wrong candidate at its
    offset and over its song; the z that 1 % and 0.1 % of clips pass, pooled,
    and, for each held-out corpus, how many of its clips pass the 1 % and
    0.1 % marks fitted on every other group (what ``sketch.py``'s constants
    should hold on music never fitted on)."""
    lines = ["Sketch null (largest z of a wrong candidate per clip; sketch.py: LOCAL_1PCT / SONG_1PCT, *_DECADE):"]
    for kind, key in (("at the offset", "null_local"), ("over the song", "null_song")):
        these = [r for r in rows if r.get(key) is not None]
        if len(these) < 100:
            continue
        z = np.array([r[key] for r in these])
        q1, q01 = np.quantile(z, [0.99, 0.999])
        lines.append(f"  {kind}: {len(z)} clips, 1 % pass {q1:.2f}, 0.1 % pass {q01:.2f} "
                     f"(decade {q01 - q1:.2f}); max {z.max():.2f}")
        for group in sorted({r["group"] for r in these}):
            mine = np.array([r[key] for r in these if r["group"] == group])
            rest = np.array([r[key] for r in these if r["group"] != group])
            r1, r01 = np.quantile(rest, [0.99, 0.999])
            lines.append(f"    {group[:28]:<29}{mine.size:>5} clips: {int((mine > r1).sum()):>3} pass the others' 1 % "
                         f"({100 * (mine > r1).mean():.1f} %), {int((mine > r01).sum()):>3} their 0.1 %; "
                         f"max {mine.max():.2f}")
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tunework", required=True, help="a bench/tune.py work directory (its decoded corpus is read)")
    ap.add_argument("--work", default=os.path.join(HERE, "work-fp"), help="decoded new corpora and fingerprints")
    ap.add_argument("--clips", type=int, default=40, help="clips per held-out corpus, condition and length")
    ap.add_argument("--negative-clips", type=int, default=20, help="clips per kind of negative, condition and length")
    ap.add_argument("--known-clips", type=int, default=6,
                    help="clips of registered tracks per fold, condition and length")
    ap.add_argument("--folds", help="held-out corpora, comma-separated (default: all seven)")
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--save", help="write the per-clip rows here (JSON)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.NAME=JSON",
                    help="a configuration override (as bench/tune.py run's), e.g. fingerprint.sketch_levels=\"linear\"")
    args = ap.parse_args(argv)
    config = Config.from_dict(parse_sets(args.set))
    rate = config.fingerprint.sample_rate
    t0 = time.monotonic()
    corpora, shared = collect_corpora(args.tunework, args.work, rate)
    for corpus, items in corpora.items():
        print(f"{corpus}: {len(items)} tracks, {sum(s for _, _, s in items) / 3600:.2f} h", flush=True)
    library = Library(corpora, args.work, config, args.jobs)
    song_of = {t[1]: n + 1 for n, t in enumerate(library.tracks)}
    print(f"fingerprints ready ({time.monotonic() - t0:.0f} s)", flush=True)
    rows = []
    folds = args.folds.split(",") if args.folds else list(corpora)
    for fold, held in enumerate(folds):
        registered = [c for c in corpora if c != held]
        engine = library.engine(registered)
        rng = np.random.default_rng([args.seed, fold])
        jobs = []
        tracks = [(n, t) for n, t in enumerate(library.tracks) if t[0] == held]
        for length in LENGTHS:
            for condition in CONDITIONS:
                long_enough = [(n, t) for n, t in tracks if t[3] > length + 0.5]
                for i in range(args.clips if long_enough else 0):
                    n, t = long_enough[i % len(long_enough)] if i < len(long_enough) else \
                        long_enough[int(rng.integers(len(long_enough)))]
                    got = cut(np.load(t[4], mmap_mode="r"), length, rate, rng)
                    if got is None:
                        continue
                    x, start = got
                    jobs.append(({"set": "music", "group": held, "condition": condition, "length": length,
                                  "source": os.path.basename(t[1]), "start": start},
                                 make_query(np.asarray(x), rate, condition, rng), None))
                mine = [(n, t) for n, t in enumerate(library.tracks) if t[0] in registered and t[3] > length + 0.5]
                for _ in range(args.known_clips):
                    n, t = mine[int(rng.integers(len(mine)))]
                    got = cut(np.load(t[4], mmap_mode="r"), length, rate, rng)
                    if got is not None:
                        jobs.append(({"set": "known", "group": f"known (without {held})", "condition": condition,
                                      "length": length, "source": os.path.basename(t[1]), "start": got[1]},
                                     make_query(np.asarray(got[0]), rate, condition, rng),
                                     [n + 1] + [song_of[p] for p in shared.get(t[1], []) if p in song_of]))
        t = time.monotonic()
        done = run_jobs(engine, jobs, args.jobs)
        rows += done
        music = [r for r in done if r["set"] == "music"]
        print(f"held out {held} (registered: {', '.join(registered)}): {len(music)} clips, "
              f"{sum(r['named'] is not None for r in music)} named; {time.monotonic() - t:.0f} s", flush=True)
    if args.negative_clips:
        engine = library.engine(list(corpora))
        rng = np.random.default_rng([args.seed, 99])
        sources = negative_sources(rate, args.seed)
        jobs = []
        for kind, signals in sources.items():
            for length in LENGTHS:
                for condition in CONDITIONS:
                    for i in range(args.negative_clips):
                        got = cut(signals[i % len(signals)], length, rate, rng, audible=False)
                        if got is not None:
                            jobs.append(({"set": "negative", "group": f"neg:{kind}", "condition": condition,
                                          "length": length, "source": f"{kind}#{i % len(signals)}", "start": got[1]},
                                         make_query(got[0], rate, condition, rng), None))
        t = time.monotonic()
        done = run_jobs(engine, jobs, args.jobs)
        rows += done
        print(f"negatives against all seven corpora: {len(done)} clips, "
              f"{sum(r['named'] is not None for r in done)} named; {time.monotonic() - t:.0f} s", flush=True)
    print()
    print(report(rows))
    if args.save:
        with open(args.save, "w") as f:
            json.dump(rows, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
