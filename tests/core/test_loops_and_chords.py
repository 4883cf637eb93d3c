"""Issue 31's known answers: audio whose peaks fall on a repeated grid (a
one-bar loop) or hold still (sustained chords) is no match against a library
of other such loops and chords, while the registered ones are found, on
hashes alone and with the band-energy sketch's check (whose first format
named most unregistered held chords: its bits followed their swells)."""
import numpy as np
import pytest

from audiogen import write_wav
from dejavu_cn import Dejavu

RATE = 44100


def loop(seed, seconds=20.0, rate=RATE):
    """A one-bar drum pattern (kick, snare, hats) and a four-chord loop, one bar, repeated."""
    rng = np.random.default_rng(seed)
    bar = int(round(4 * 60.0 / rng.uniform(90, 140) * rate))
    step = bar // 16
    pattern = np.zeros(bar)
    tt = np.arange(int(0.25 * rate)) / rate
    kick = np.sin(2 * np.pi * (45 + 90 * np.exp(-tt * 30)) * tt) * np.exp(-tt * 12)
    snare = rng.standard_normal(tt.size) * np.exp(-tt * 25) * 0.5
    hat = np.diff(rng.standard_normal(int(0.05 * rate) + 1)) * np.exp(-np.arange(int(0.05 * rate)) / rate * 80) * 0.2

    def put(sound, at):
        end = min(bar, at + sound.size)
        pattern[at:end] += sound[:end - at]
    for s in ([0, 8], [0, 6, 8], [0, 3, 8, 11], [0, 4, 8, 12])[int(rng.integers(4))]:
        put(kick, s * step)
    for s in (4, 12):
        put(snare, s * step)
    for s in range(0, 16, 2):
        put(hat, s * step)
    root = rng.uniform(110, 220)
    quarter = bar // 4
    tq = np.arange(quarter) / rate
    env = np.minimum(1, tq * 50) * np.exp(-tq * 2)
    for q, chord in enumerate(rng.permutation([[1, 1.25, 1.5], [1.335, 1.68, 2.0], [1.5, 1.89, 2.25],
                                              [1.12, 1.335, 1.68]])):
        pattern[q * quarter:(q + 1) * quarter] += 0.15 * env * sum(np.sin(2 * np.pi * root * r * tq) +
                                                                   0.5 * np.sin(4 * np.pi * root * r * tq)
                                                                   for r in chord)
    x = np.tile(pattern, int(np.ceil(seconds * rate / bar)))[:int(seconds * rate)]
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


def held_chords(seed, seconds=20.0, rate=RATE):
    """Sustained chords (harmonic tones, slow swell), each held 2 to 4 s."""
    rng = np.random.default_rng(seed)
    x = np.zeros(int(seconds * rate))
    at = 0
    while at < x.size:
        n = min(x.size - at, int(rng.uniform(2, 4) * rate))
        t = np.arange(n) / rate
        root = 110.0 * 2 ** rng.uniform(0, 2)            # off any common tuning: no two songs share a chord
        env = np.minimum(1, t * 8) * np.minimum(1, (t[::-1]) * 8) * (0.8 + 0.2 * np.sin(2 * np.pi * 0.3 * t))
        for ratio in (1.0, 1.26, 1.5):
            for h in range(1, 5):
                x[at:at + n] += env * np.sin(2 * np.pi * root * ratio * h * t + rng.uniform(0, 6)) / h ** 1.5
        at += n
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    folder = tmp_path_factory.mktemp("loops")
    path = str(folder / "db.sqlite3")
    engine = Dejavu({"database": {"path": path}})
    for seed in range(4):
        engine.fingerprint_file(write_wav(folder / f"loop{seed}.wav", loop(seed)))
        engine.fingerprint_file(write_wav(folder / f"chords{seed}.wav", held_chords(seed)))
    hashes_only = Dejavu({"database": {"path": path}, "recognition": {"sketch_candidates": 0}})
    yield engine, hashes_only
    engine.close()
    hashes_only.close()


def _clip(x, start, seconds, engine):
    from dejavu_cn.audio import resample
    return resample(x[int(start * RATE):int((start + seconds) * RATE)], RATE, engine.params.sample_rate)


def _named(engine, seconds):
    """The unregistered loops and chords (seeds 10-12) that ``engine`` names."""
    named = []
    for seed in (10, 11, 12):
        for make in (loop, held_chords):
            match = engine.match_samples(_clip(make(seed), 3.3, seconds, engine))["match"]
            if match is not None:
                named.append((make.__name__, seed, match["song_name"], match["confidence"], match["decided_by"]))
    return named


@pytest.mark.parametrize("seconds", [2.0, 5.0, 10.0])
def test_unregistered_loops_and_chords_are_no_match_on_hashes(library, seconds):
    assert _named(library[1], seconds) == []


@pytest.mark.parametrize("seconds", [2.0, 5.0, 10.0])
def test_unregistered_loops_and_chords_are_no_match(library, seconds):
    assert _named(library[0], seconds) == []


@pytest.mark.parametrize("seconds", [5.0, 10.0])
def test_registered_loops_and_chords_are_found(library, seconds):
    for seed in (1, 2):
        for make, name in ((loop, "loop"), (held_chords, "chords")):
            result = library[0].match_samples(_clip(make(seed), 4.1, seconds, library[0]))
            assert result["match"] is not None and result["match"]["song_name"] == f"{name}{seed}"
