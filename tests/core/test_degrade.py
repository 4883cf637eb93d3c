"""The degradations: known answers on a pure tone (duration and pitch)."""
import numpy as np
import pytest

from dejavu_cn.degrade import CHANGE_CONDITIONS, CONDITIONS, DEFAULT_CONDITIONS, degrade, played_at, source_seconds
from dejavu_cn.errors import ParameterError

RATE = 8000


def tone(hz=440.0, seconds=3.0):
    t = np.arange(int(RATE * seconds)) / RATE
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def pitch_of(y, rate):
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return float(np.fft.rfftfreq(y.size, 1 / rate)[np.argmax(spectrum)])


# condition: (duration factor, pitch factor) of what is heard
EXPECTED = {"speed0.90": (1 / 0.90, 0.90), "speed0.95": (1 / 0.95, 0.95), "speed1.05": (1 / 1.05, 1.05),
            "speed1.10": (1 / 1.10, 1.10), "speed1.25": (1 / 1.25, 1.25), "tempo0.95": (1 / 0.95, 1.0),
            "tempo1.05": (1 / 1.05, 1.0), "pitch-1": (1.0, 2 ** (-1 / 12)), "pitch+1": (1.0, 2 ** (1 / 12))}


def test_every_change_is_listed_and_separate_from_the_defaults():
    assert set(EXPECTED) == set(CHANGE_CONDITIONS)
    assert not set(DEFAULT_CONDITIONS) & set(CHANGE_CONDITIONS)
    assert set(CONDITIONS) == set(DEFAULT_CONDITIONS) | set(CHANGE_CONDITIONS)


@pytest.mark.parametrize("condition", sorted(EXPECTED))
def test_changes_move_duration_and_pitch_as_named(condition):
    stretch, shift = EXPECTED[condition]
    x = tone()
    y, rate = degrade(x, RATE, condition, np.random.default_rng(0))
    assert rate == RATE and y.dtype == np.float32
    assert y.size / x.size == pytest.approx(stretch, rel=0.01)
    assert pitch_of(y, rate) == pytest.approx(440.0 * shift, abs=2.0)       # bins of 0.33 Hz; a semitone is 25 Hz
    # a clip of 10 s under the change is made from this much of the original
    assert source_seconds(condition, 10.0) == pytest.approx(10.0 / stretch if condition[:5] != "pitch" else 10.0)


def test_played_at_is_an_exact_resampling():
    x = tone(seconds=2.0)
    assert played_at(x, 1.25).size == x.size * 4 // 5
    assert played_at(x, 1.0).size == x.size
    assert source_seconds("clean", 3.0) == source_seconds("speed2", 3.0) == 3.0


def test_unknown_condition_is_named():
    with pytest.raises(ParameterError, match="vinyl"):
        degrade(tone(), RATE, "vinyl", np.random.default_rng(0))
