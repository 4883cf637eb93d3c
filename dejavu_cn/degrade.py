"""Degradations for evaluation: the conditions a query meets in real life.

Each condition is a function ``(samples, rate, rng) -> (samples, rate)`` on
mono float32; the random generator makes noise reproducible.

=========  ==============================================================
clean      unchanged
mp3        MP3 at 64 kbit/s and back (ffmpeg, libmp3lame)
noise10    white + pink noise at 10 dB SNR
noise0     white + pink noise at 0 dB SNR
mic        speaker to microphone: band-pass 150-6000 Hz, room reverb
           (RT60 0.4 s), -12 dB, pink noise at 5 dB SNR, resampled to 16 kHz
speed2     played 2 % fast (pitch and tempo, like a turntable)
=========  ==============================================================

and, measured only when named (:data:`CHANGE_CONDITIONS`: the copies a
repost makes, played at another speed, tempo or pitch):

=================  =====================================================
speed0.90 ...      played at 0.90, 0.95, 1.05, 1.10 or 1.25 times the speed
speed1.25          (pitch and tempo together: a record played fast, "nightcore"; an exact resampling)
tempo0.95,         tempo 5 % slower or faster, pitch kept (ffmpeg ``atempo``, a WSOLA time stretch, as sox ``tempo``)
tempo1.05
pitch-1, pitch+1   one semitone down or up, tempo kept (resampled, then time-stretched back by ``atempo``, as sox ``pitch``)
=================  =====================================================
"""
import subprocess
from math import gcd

import numpy as np
from scipy.signal import resample_poly

from .audio import ffmpeg_binary
from .errors import ParameterError


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def pink_noise(n, rng):
    """Unit-RMS pink (1/f power) noise of ``n`` samples."""
    if n == 0:
        return np.zeros(0, np.float32)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spectrum.size, dtype=np.float64)
    f[0] = 1.0
    pink = np.fft.irfft(spectrum / np.sqrt(f), n)
    return (pink / (_rms(pink) or 1.0)).astype(np.float32)


def add_noise(x, snr_db, rng, *, white=0.5):
    """Mix white and pink noise at ``snr_db`` relative to the signal's RMS."""
    x = np.asarray(x, np.float32)
    noise = white * rng.standard_normal(x.size).astype(np.float32) + (1 - white) * pink_noise(x.size, rng)
    noise /= _rms(noise) or 1.0
    level = (_rms(x) or 1e-4) / (10 ** (snr_db / 20))
    return (x + level * noise).astype(np.float32)


def room_impulse(rate, rng, *, rt60=0.4, direct=1.0):
    """A synthetic room: a direct path plus exponentially decaying diffuse noise."""
    n = int(rate * rt60)
    t = np.arange(n) / rate
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)        # -60 dB at rt60
    tail[: int(0.003 * rate)] = 0.0                                   # first reflections after 3 ms
    ir = 0.35 * tail / (np.sqrt(np.sum(tail ** 2)) or 1.0)
    ir[0] = direct
    return ir.astype(np.float32)


def bandpass(x, rate, low, high, order=4):
    from scipy.signal import butter, sosfilt
    sos = butter(order, [low, min(high, rate / 2 * 0.99)], btype="bandpass", fs=rate, output="sos")
    return sosfilt(sos, x).astype(np.float32)


def mp3_roundtrip(x, rate, bitrate="64k"):
    """Encode to MP3 and decode back with ffmpeg."""
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()
    encode = subprocess.run([ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-f", "s16le", "-ar", str(rate),
                             "-ac", "1", "-i", "-", "-c:a", "libmp3lame", "-b:a", bitrate, "-f", "mp3", "-"],
                            input=pcm, capture_output=True, check=True)
    decode = subprocess.run([ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-f", "mp3", "-i", "-",
                             "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"],
                            input=encode.stdout, capture_output=True, check=True)
    return np.frombuffer(decode.stdout, "<f4").copy()


def clean(x, rate, rng):
    return np.asarray(x, np.float32), rate


def mp3(x, rate, rng):
    return mp3_roundtrip(x, rate), rate


def noise10(x, rate, rng):
    return add_noise(x, 10.0, rng), rate


def noise0(x, rate, rng):
    return add_noise(x, 0.0, rng), rate


def mic(x, rate, rng):
    from scipy.signal import fftconvolve
    y = bandpass(np.asarray(x, np.float32), rate, 150.0, 6000.0)
    y = fftconvolve(y, room_impulse(rate, rng))[: y.size].astype(np.float32)
    y *= 10 ** (-12 / 20)
    noise = pink_noise(y.size, rng) * ((_rms(y) or 1e-4) / 10 ** (5 / 20))
    y = y + noise
    g = gcd(int(rate), 16000)     # scipy's filter, not the library's resampler: the clips stay as they were
    return resample_poly(y, 16000 // g, int(rate) // g).astype(np.float32), 16000


def speed2(x, rate, rng):
    return played_at(x, 1.02), rate


def played_at(x, speed):
    """``x`` played ``speed`` times as fast, pitch and tempo together (an
    exact polyphase resampling: 1.25 keeps 4 samples of every 5)."""
    from fractions import Fraction
    ratio = Fraction(speed).limit_denominator(1000)
    return resample_poly(np.asarray(x, np.float32), ratio.denominator, ratio.numerator).astype(np.float32)


def ffmpeg_filter(x, rate, graph):
    """``x`` through an ffmpeg audio filter graph (mono float32 in and out, at ``rate``)."""
    run = subprocess.run([ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-f", "f32le", "-ar", str(rate), "-ac", "1",
                          "-i", "-", "-af", graph, "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"],
                         input=np.asarray(x, "<f4").tobytes(), capture_output=True, check=True)
    return np.frombuffer(run.stdout, "<f4").copy()


def _speed(factor):
    def apply(x, rate, rng):
        return played_at(x, factor), rate
    apply.source_per_second = factor
    return apply


def _tempo(factor):
    def apply(x, rate, rng):
        return ffmpeg_filter(x, rate, f"atempo={factor}"), rate
    apply.source_per_second = factor
    return apply


def _pitch(semitones):
    def apply(x, rate, rng):
        up = 2.0 ** (semitones / 12.0)      # resampled to sound `up` times higher, then stretched back in time
        return ffmpeg_filter(x, rate, f"asetrate={rate * up:.3f},aresample={rate},atempo={1.0 / up:.6f}"), rate
    return apply


#: the conditions measured by default (``dejavu-cn evaluate``, the benchmark's table)
DEFAULT_CONDITIONS = {"clean": clean, "mp3": mp3, "noise10": noise10, "noise0": noise0, "mic": mic, "speed2": speed2}
#: copies played at another speed, tempo or pitch: measured when named
CHANGE_CONDITIONS = {**{f"speed{s:.2f}": _speed(s) for s in (0.90, 0.95, 1.05, 1.10, 1.25)},
                     "tempo0.95": _tempo(0.95), "tempo1.05": _tempo(1.05),
                     "pitch-1": _pitch(-1), "pitch+1": _pitch(1)}
CONDITIONS = {**DEFAULT_CONDITIONS, **CHANGE_CONDITIONS}


def source_seconds(condition, seconds):
    """Seconds of the original that make ``seconds`` of a clip under
    ``condition`` (12.5 s make a 10 s clip played 1.25 times as fast)."""
    return seconds * getattr(CONDITIONS.get(condition), "source_per_second", 1.0)


def degrade(x, rate, condition, rng):
    """Apply a named condition. Returns (samples, rate)."""
    try:
        fn = CONDITIONS[condition]
    except KeyError:
        raise ParameterError(f"unknown condition {condition!r}; choose from {', '.join(CONDITIONS)}") from None
    return fn(x, rate, rng)
