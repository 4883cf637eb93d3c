"""StreamResampler: reading a stream piece by piece gives what resampling
it whole gives, and the polyphase filter is designed once per rate pair,
not on every read."""
from math import gcd

import numpy as np
import pytest
import scipy.signal
import scipy.signal._signaltools as signaltools

from dejavu_cn.audio import resample, resampling_filter
from recognizers.microphone import StreamResampler

RATE = 11025


@pytest.fixture
def firwin_calls(monkeypatch):
    """Counts filter designs: scipy's public firwin and the one
    ``resample_poly`` calls when it is not given a filter."""
    calls = []
    real = scipy.signal.firwin

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)
    monkeypatch.setattr(scipy.signal, "firwin", counting)
    monkeypatch.setattr(signaltools, "firwin", counting, raising=False)
    resampling_filter.cache_clear()
    yield calls
    resampling_filter.cache_clear()


@pytest.mark.parametrize("orig", [48000, 44100, 16000, 8000])
def test_successive_reads_equal_one_resample_of_the_whole(orig):
    rng = np.random.default_rng(orig)
    x = rng.standard_normal(orig * 2).astype(np.float32)
    resampler = StreamResampler(orig, RATE)
    sizes = rng.integers(1, orig // 10, size=400)            # reads of 1 sample to 0.1 s, as a device delivers
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    y = np.concatenate([resampler.feed(x[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if a < x.size])
    whole = scipy.signal.resample_poly(x, RATE // gcd(orig, RATE), orig // gcd(orig, RATE))
    n = y.size - 200                                          # the whole signal's end sees zero padding
    assert n > 0.9 * whole.size
    np.testing.assert_allclose(y[:n], whole[:n], atol=1e-5)
    np.testing.assert_allclose(y[:n], resample(x, orig, RATE)[:n], atol=1e-5)


def test_the_filter_is_designed_once_per_rate_pair(firwin_calls):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(48000).astype(np.float32)
    first = StreamResampler(48000, RATE)
    for k in range(0, x.size, 1024):                          # 47 reads
        first.feed(x[k:k + 1024])
    assert len(firwin_calls) == 1 and firwin_calls[0] == 20 * 640 + 1     # 12,801 taps, 48 kHz -> 11,025 Hz
    second = StreamResampler(48000, RATE)                     # another stream at the same rates: no new design
    second.feed(x)
    assert len(firwin_calls) == 1
    StreamResampler(44100, RATE).feed(x)                      # another rate pair: its own design
    assert len(firwin_calls) == 2


def test_equal_rates_pass_through_without_a_filter(firwin_calls):
    x = np.arange(10, dtype=np.float32)
    resampler = StreamResampler(RATE, RATE)
    np.testing.assert_array_equal(resampler.feed(x), x)
    assert firwin_calls == []
