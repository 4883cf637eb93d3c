"""MFCC features of speech: mel filterbank, cepstra, per-file normalisation.

Pure array code: mono float samples in, ``(frames, n_mfcc)`` arrays out.
Frame ``i`` starts at sample ``i * hop``, ``hop`` from ``hop_ms`` and the rate
(:meth:`SpeechParams.frame_samples`).
"""
import numpy as np

from dejavu_cn.errors import ParameterError

from .params import SpeechParams


def mel_filterbank(rate, n_fft, *, n_mels=26, min_hz=100.0, max_hz=4500.0, warp=1.0):
    """Triangular mel filters (HTK mel scale), optionally frequency-warped.

    Parameters
    ----------
    rate : int
        Hz.
    n_fft : int
        FFT length in samples.
    n_mels : int
        Filters.
    min_hz, max_hz : float
        Hz, band edges before warping.
    warp : float
        Every filter edge is multiplied by this (vocal tract length
        normalisation: 1.15 reads a voice with formants 15 % higher, as a
        child's or a woman's against a man's, like the reference voice).
        Edges are capped at the Nyquist frequency.

    Returns
    -------
    np.ndarray, shape (n_mels, n_fft // 2 + 1), float64
    """
    if not 0 <= min_hz < max_hz or warp <= 0:
        raise ParameterError("need 0 <= min_hz < max_hz and warp > 0")
    mel = lambda f: 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)            # noqa: E731
    hz = lambda m: 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)           # noqa: E731
    edges = np.minimum(hz(np.linspace(mel(min_hz), mel(max_hz), n_mels + 2)) * warp, rate / 2.0)
    freqs = np.arange(n_fft // 2 + 1) * rate / n_fft
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs[None, :] - lower) / np.maximum(centre - lower, 1e-9)
    falling = (upper - freqs[None, :]) / np.maximum(upper - centre, 1e-9)
    return np.maximum(0.0, np.minimum(rising, falling))


def mfcc(samples, rate, params=None, *, warps=(1.0,)):
    """Mel-frequency cepstral coefficients, for one or several frequency warps.

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
        Mono float samples.
    rate : int
        Hz.
    params : SpeechParams, optional
    warps : sequence of float
        Filterbank warp factors (see :func:`mel_filterbank`).

    Returns
    -------
    list of np.ndarray, shape (frames, n_mfcc), float64
        One per warp. Frame ``i`` starts at sample ``i * hop`` (``hop_ms``).
        Coefficients 1..n_mfcc of the orthonormal DCT-II of the log mel
        energies.
    """
    from scipy.fft import dct, rfft
    p = params or SpeechParams()
    x = np.asarray(samples, dtype=np.float64)
    win, hop = p.frame_samples(rate)
    if x.size < win:
        x = np.pad(x, (0, win - x.size))
    x = np.append(x[0], x[1:] - p.preemphasis * x[:-1])
    n_fft = 1 << int(np.ceil(np.log2(win)))
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop]
    power = np.abs(rfft(frames * np.hamming(win), n=n_fft, axis=1)) ** 2
    out = []
    for warp in warps:
        bank = mel_filterbank(rate, n_fft, n_mels=p.n_mels, min_hz=p.min_hz, max_hz=p.max_hz, warp=warp)
        log_mel = np.log(power @ bank.T + 1e-10)
        out.append(dct(log_mel, type=2, norm="ortho", axis=1)[:, 1:p.n_mfcc + 1])
    return out


def normalise(features, mask=None):
    """Cepstral mean and variance normalisation, statistics from the frames in ``mask``."""
    ref = features if mask is None or not mask.any() else features[mask]
    return (features - ref.mean(axis=0)) / (ref.std(axis=0) + 1e-8)


def sounding_frames(cores, hop, n_frames):
    """Boolean mask of the ``n_frames`` feature frames (``hop`` samples
    apart) that lie inside the ``[start, end)`` sample intervals ``cores``:
    the frames whose statistics :func:`normalise` uses (speech, not pauses)."""
    mask = np.zeros(n_frames, bool)
    for s, e in np.asarray(cores, dtype=np.int64).reshape(-1, 2).tolist():
        mask[s // hop:e // hop] = True
    return mask
