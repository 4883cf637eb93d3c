"""Plots: the data returned with each figure is right on synthetic audio with
known answers, and the PNGs are written, valid and of the requested size."""
import io
import json
import re
import struct
import sys

import numpy as np
import pytest

from audiogen import make_song, write_wav
from dejavu_cn import Dejavu
from clirun import run
from dejavu_cn.config import FingerprintParams
from dejavu_cn.fingerprint import fingerprint
from dejavu_cn.plots import (_histogram, accuracy_data, fingerprint_data, match_data, plot_accuracy, plot_fingerprint,
                             plot_match)

P = FingerprintParams()
RATE = P.sample_rate
BIN_HZ = RATE / P.window_size                 # 10.77 Hz
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data):
    """(width, height) from a PNG's IHDR chunk; fails on anything else."""
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def beeps(freqs, seconds, *, beep=0.25, rate=RATE):
    """Tone bursts cycling through ``freqs``: ``beep`` s on, ``beep`` s off."""
    t = np.arange(int(seconds * rate)) / rate
    slot = (t // beep).astype(int)
    freq = np.asarray(freqs, float)[(slot // 2) % len(freqs)]
    on = slot % 2 == 0
    ramp = np.minimum(1.0, np.minimum(t % beep, beep - t % beep) / 0.01)   # 10 ms fades, no clicks
    return (0.5 * np.sin(2 * np.pi * freq * t) * on * ramp).astype(np.float32)


# -- fingerprint --------------------------------------------------------------

def test_fingerprint_data_puts_peaks_on_the_tones():
    x = beeps([1000.0, 2500.0], 4.0)
    data = fingerprint_data(x, P, start=12.0)
    json.dumps(data)                                            # plain data only
    hz = np.asarray(data["peaks"]["frequencies_hz"])
    assert data["peak_count"] == hz.size > 10
    near_1000 = np.abs(hz - 1000.0) <= BIN_HZ
    near_2500 = np.abs(hz - 2500.0) <= BIN_HZ
    assert np.all(near_1000 | near_2500)
    assert near_1000.sum() > 3 and near_2500.sum() > 3
    # peaks of a 1 kHz burst fall inside the burst's time (offset by start=12 s)
    times = np.asarray(data["peaks"]["times_seconds"])
    assert times.min() >= 12.0 and times.max() <= 16.0
    local = times - 12.0 + P.window_size / RATE / 2            # window centre, seconds into the signal
    slot = np.floor(local / 0.25).astype(int)
    assert np.mean(slot % 2 == 0) > 0.9                         # during beeps, not in the gaps
    assert np.all(near_1000[slot % 4 == 0]) and np.all(near_2500[slot % 4 == 2])   # the tone of each burst
    # counts agree with the fingerprinter
    assert data["hash_count"] == len(fingerprint(x, P))
    assert data["peaks_per_second"] == pytest.approx(data["peak_count"] / 4.0, rel=1e-3)
    assert data["hashes_per_second"] == pytest.approx(data["hash_count"] / 4.0, rel=1e-3)
    # axes of the spectrogram
    spec = data["spectrogram_db"]
    assert len(spec) == len(data["times_seconds"]) == 1 + (x.size - P.window_size) // P.hop_size
    assert len(spec[0]) == len(data["frequencies_hz"]) == P.window_size // 2 + 1
    assert data["times_seconds"][0] == 12.0
    k1000 = int(round(1000.0 / BIN_HZ))
    assert int(np.argmax(spec[5])) in (k1000 - 1, k1000, k1000 + 1)   # frame 5 is inside the first 1 kHz beep
    assert data["band_hz"][0] >= P.min_frequency and data["band_hz"][1] <= P.max_frequency
    lean = fingerprint_data(x, P, start=12.0, include_spectrogram=False)      # for a web page drawing its own
    assert lean["spectrogram_db"] is None and lean["peaks"] == data["peaks"] and lean["pairs"] == data["pairs"]
    assert len(json.dumps(lean)) < len(json.dumps(data)) / 5
    buf = io.BytesIO()
    plot_fingerprint(lean, buf, width=4, height=3, dpi=50)
    assert png_size(buf.getvalue()) == (200, 150)


def test_fingerprint_pairs_join_peaks_within_the_target_zone():
    x = beeps([600.0, 900.0, 1500.0], 3.0, beep=0.15)
    data = fingerprint_data(x, P, max_pairs=50)
    pairs = data["pairs"]
    assert 0 < len(pairs["t1_seconds"]) <= 50
    dt = np.asarray(pairs["t2_seconds"]) - np.asarray(pairs["t1_seconds"])
    frame = P.frame_seconds()
    assert np.all(dt >= P.min_hash_time_delta * frame - 1e-6)
    assert np.all(dt <= P.max_hash_time_delta * frame + 1e-6)
    peak_points = set(zip(np.round(data["peaks"]["times_seconds"], 4), np.round(data["peaks"]["frequencies_hz"], 2)))
    for t1, f1 in zip(pairs["t1_seconds"], pairs["f1_hz"]):
        assert (round(t1, 4), round(f1, 2)) in peak_points     # every line starts at a drawn peak


def test_silence_gives_no_peaks_and_still_plots():
    data = fingerprint_data(np.zeros(RATE * 2, np.float32), P)
    assert data["peak_count"] == data["hash_count"] == 0
    buf = io.BytesIO()
    plot_fingerprint(data, buf, width=4, height=3, dpi=50)
    assert png_size(buf.getvalue()) == (200, 150)


def test_plot_fingerprint_writes_png_of_requested_size(tmp_path):
    data = fingerprint_data(beeps([1000.0, 2500.0], 3.0), P)
    out = tmp_path / "fp.png"
    info = plot_fingerprint(data, str(out), title="beeps.wav")
    assert info == {"width_px": 1000, "height_px": 600, "dpi": 100}
    assert png_size(out.read_bytes()) == (1000, 600)
    buf = io.BytesIO()
    info = plot_fingerprint(data, buf, width=6, height=4, dpi=80)
    assert png_size(buf.getvalue()) == (480, 320) == (info["width_px"], info["height_px"])


def test_data_functions_do_not_need_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)        # "import matplotlib" now fails
    data = fingerprint_data(beeps([1000.0], 1.0), P)
    assert data["peak_count"] > 0
    with pytest.raises(ImportError):
        plot_fingerprint(data, io.BytesIO())


# -- match --------------------------------------------------------------------

CLIP_START = 6.5      # seconds into song 31
CLIP_SECONDS = 5.0


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """An engine with three generated 20 s songs registered (song31..33)."""
    folder = tmp_path_factory.mktemp("plotsongs")
    for seed in (31, 32, 33):
        write_wav(folder / f"song{seed}.wav", make_song(seed, 20.0))
    db = folder / "db.sqlite3"
    djv = Dejavu({"database": {"path": str(db)}})
    report = djv.register([str(folder)], jobs=1)
    assert len(report.outcomes) == 3 and not report.failed
    djv.song_ids = {o.path.rsplit("/", 1)[-1]: o.song_id for o in report.outcomes}
    djv.folder = folder
    yield djv
    djv.close()


def test_match_data_peaks_at_the_known_offset(engine):
    song = engine.decode(str(engine.folder / "song31.wav"))
    a = int(CLIP_START * RATE)
    clip = song[a:a + int(CLIP_SECONDS * RATE)]
    data = match_data(engine, clip, top=2)
    json.dumps(data)
    frame = P.frame_seconds()
    assert data["result"]["match"]["song_id"] == engine.song_ids["song31.wav"]
    assert data["clip_seconds"] == pytest.approx(CLIP_SECONDS, abs=1e-3)
    best, runner = data["candidates"]
    assert best["song_id"] == engine.song_ids["song31.wav"] != runner["song_id"]
    # the tallest histogram bin is at the clip's start in the song, and towers over the background
    hist = best["histogram"]
    assert hist["bin_width_seconds"] == pytest.approx(frame)
    assert abs(best["peak"]["offset_seconds"] - CLIP_START) <= 1.5 * frame
    assert best["peak"]["count"] >= 20 * max(1.0, best["peak"]["background"])
    assert abs(best["offset_seconds"] - CLIP_START) <= frame
    centres = np.asarray(hist["bin_centres_seconds"])
    counts = np.asarray(hist["counts"])
    assert counts.sum() == best["matches"] == best["points_total"]
    assert np.all(np.diff(centres) > 0)
    # the scatter: aligned points lie on song = clip + 6.5 s; most points are aligned
    pts = best["points"]
    q, s, on = (np.asarray(pts[k]) for k in ("query_seconds", "song_seconds", "aligned"))
    assert q.size == s.size == on.size == min(best["points_total"], 4000)
    assert np.all(np.abs(s[on] - q[on] - CLIP_START) <= 2.5 * frame)
    assert on.mean() > 0.8
    assert q.min() >= 0 and q.max() <= CLIP_SECONDS
    # the runner-up has no such peak
    assert runner["peak"]["count"] < best["peak"]["count"] / 10
    assert runner["confidence"] < 0.3


def test_match_data_of_unknown_audio_and_of_silence(engine):
    unknown = make_song(99, 5.0, rate=RATE)
    data = match_data(engine, unknown, top=2)
    assert data["result"]["match"] is None
    assert len(data["candidates"]) <= 2
    for c in data["candidates"]:
        assert c["peak"]["count"] < 30
    silent = match_data(engine, np.zeros(RATE * 3, np.float32))
    assert silent["candidates"] == [] and silent["result"]["match"] is None
    buf = io.BytesIO()
    info = plot_match(silent, buf, width=5, height=3, dpi=60)
    assert info["candidates"] == 0 and png_size(buf.getvalue()) == (300, 180)


def test_plot_match_writes_png_of_requested_size(engine, tmp_path):
    song = engine.decode(str(engine.folder / "song32.wav"))
    data = match_data(engine, song[RATE * 3:RATE * 7], top=2)
    out = tmp_path / "match.png"
    info = plot_match(data, out, title="clip.wav")
    assert info == {"width_px": 1000, "height_px": 600, "dpi": 100, "candidates": 2}
    assert png_size(out.read_bytes()) == (1000, 600)
    one = match_data(engine, song[RATE * 3:RATE * 7], top=1)
    assert len(one["candidates"]) == 1
    buf = io.BytesIO()
    assert plot_match(one, buf, width=7, height=4, dpi=90)["candidates"] == 1
    assert png_size(buf.getvalue()) == (630, 360)


def test_accuracy_plot_from_a_report(tmp_path):
    cells = [{"condition": c, "length": L, "top1": v, "top5": min(1.0, v + 0.1) if v is not None else None,
              "offset_accuracy_repeat_aware": v}
             for c, vals in (("clean", (0.5, 0.9, 1.0)), ("noise0", (0.1, None, 0.6)))
             for L, v in zip((1.0, 3.0, 10.0), vals)]
    report = {"cells": cells, "false_positive_rate": 0.02}
    data = accuracy_data(report)
    assert [c["condition"] for c in data["conditions"]] == ["clean", "noise0"]
    assert data["conditions"][1]["top1"] == [0.1, None, 0.6]
    assert data["conditions"][0]["lengths_seconds"] == [1.0, 3.0, 10.0]
    out = tmp_path / "acc.png"
    info = plot_accuracy(report, out, width=8, height=5, dpi=50)
    assert png_size(out.read_bytes()) == (400, 250) == (info["width_px"], info["height_px"])


# -- CLI ----------------------------------------------------------------------

def test_cli_plot_fingerprint_and_match(engine, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"database": {"path": engine.config.sqlite_path()}}))
    song = str(engine.folder / "song33.wav")
    out = tmp_path / "fp.png"
    code, stdout, err = run("--config", str(config), "plot", "fingerprint", song, "--start", "2", "--duration", "3",
                            "-o", str(out), "--json")
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["start_seconds"] == 2.0 and summary["duration_seconds"] == pytest.approx(3.0, abs=0.01)
    assert summary["peaks"] > 0 and summary["hashes_per_second"] > summary["peaks_per_second"]
    assert png_size(out.read_bytes()) == (1000, 600)

    clip = tmp_path / "clip.wav"
    write_wav(clip, make_song(33, 20.0)[44100 * 8:44100 * 12])
    out = tmp_path / "match.png"
    code, stdout, err = run("--config", str(config), "plot", "match", str(clip), "-o", str(out),
                            "--width", "8", "--height", "5", "--dpi", "50")
    assert code == 0, err
    at = re.search(r"song33 at (\d+\.\d\d) s", stdout)
    assert at and abs(float(at.group(1)) - 8.0) <= 0.03                  # one frame (23 ms)
    assert png_size(out.read_bytes()) == (400, 250)

    code, _, err = run("--config", str(config), "plot", "match", str(clip), "-o", str(tmp_path / "no" / "m.png"))
    assert code == 1 and "does not exist" in err
    code, _, err = run("--config", str(config), "plot", "fingerprint", song, "--duration", "0", "-o", str(out))
    assert code == 2
    code, _, err = run("--config", str(config), "plot", "fingerprint", str(tmp_path / "missing.ogg"), "-o", str(out))
    assert code == 1 and "missing.ogg" in err


def test_plots_work_without_a_display(tmp_path):
    """In a fresh process with no DISPLAY, plotting selects the Agg backend."""
    import os
    import subprocess
    code = ("import io, numpy as np, matplotlib\n"
            "from dejavu_cn.config import FingerprintParams\n"
            "from dejavu_cn.plots import fingerprint_data, plot_fingerprint\n"
            "buf = io.BytesIO()\n"
            "plot_fingerprint(fingerprint_data(np.zeros(22050, np.float32), FingerprintParams()), buf)\n"
            "print(matplotlib.get_backend().lower(), len(buf.getvalue()))\n")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True)
    backend, size = out.stdout.split()
    assert backend == "agg" and int(size) > 1000


def test_histogram_puts_whole_frame_differences_mid_bin():
    # a query analysed at one start point gives differences of whole frames: none may sit on a bin edge
    frame = 256 / 11025
    diff = np.array([3, 3, 3, 7, -2]) * frame
    centres, counts, width = _histogram(diff, frame, 500)
    k = int(np.argmax(counts))
    assert counts[k] == 3 and width == frame
    assert np.all(np.abs(diff[:3] - centres[k]) <= width / 2 - 1e-9)
