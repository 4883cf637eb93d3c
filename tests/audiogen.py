"""Seeded synthetic audio for tests: songs with known content, written in
any format ffmpeg writes. No music is committed to the repository."""
import os
import subprocess
import wave

import numpy as np


def make_song(seed, seconds=20.0, rate=44100):
    """A 'song': random notes with harmonics and decays, plus noise bursts
    (drums). Different seeds give unrelated songs."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    x = np.zeros(n, np.float64)
    t = 0
    while t < n:
        dur = int(rate * rng.uniform(0.08, 0.35))
        length = min(dur * 2, n - t)
        tt = np.arange(length) / rate
        for _ in range(int(rng.integers(1, 4))):          # 1-3 simultaneous notes
            f = 110.0 * 2 ** (rng.integers(0, 48) / 12.0) * rng.uniform(0.995, 1.005)
            env = np.exp(-tt * rng.uniform(2.0, 9.0))
            x[t:t + length] += sum((0.6 ** h) * np.sin(2 * np.pi * f * (h + 1) * tt + rng.uniform(0, 6))
                                   for h in range(5)) * env * 0.15
        if rng.random() < 0.4:
            m = min(3000, n - t)
            x[t:t + m] += rng.standard_normal(m) * 0.15 * np.exp(-np.arange(m) / 400.0)
        t += dur
    return (0.7 * x / (np.abs(x).max() or 1.0)).astype(np.float32)


def write_wav(path, samples, rate=44100, *, channels=1, sample_width=2):
    """Write float samples as PCM WAV (channels duplicated)."""
    samples = np.clip(np.asarray(samples, np.float64), -1, 1)
    if channels > 1:
        samples = np.repeat(samples[:, None], channels, axis=1).reshape(-1)
    if sample_width == 2:
        data = (samples * 32767).astype("<i2").tobytes()
    elif sample_width == 4:
        data = (samples * 2147483647).astype("<i4").tobytes()
    else:
        raise ValueError("sample_width must be 2 or 4")
    with wave.open(os.fspath(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(sample_width)
        w.setframerate(int(rate))
        w.writeframes(data)
    return path


def convert(src, dst, *args):
    """ffmpeg ``src`` -> ``dst`` with extra output arguments (codec, rate...)."""
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", os.fspath(src), *args, os.fspath(dst)],
                   check=True)
    return dst
