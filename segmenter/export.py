"""Writing sentences out as WAV files (pydub)."""
import logging
import os

import numpy as np

from dejavu_cn.errors import ParameterError

log = logging.getLogger(__name__)


def to_audiosegment(samples, rate):
    """Mono float samples in [-1, 1] as a 16-bit pydub ``AudioSegment``."""
    from pydub import AudioSegment
    pcm = (np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767.0).astype("<i2")
    return AudioSegment(pcm.tobytes(), frame_rate=int(rate), sample_width=2, channels=1)


def export_sentences(samples, rate, intervals, out_dir, *, prefix="sentence"):
    """Write each interval of a signal as ``<prefix>-NNN.wav`` in ``out_dir``.

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
        Mono float samples in [-1, 1].
    rate : int
        Hz.
    intervals : np.ndarray, shape (k, 2)
        ``[start, end)`` in samples (from :func:`segmenter.split_sentences`).
    out_dir : str or path-like
        Created if missing.
    prefix : str
        File name prefix.

    Returns
    -------
    list of str
        The files written, in order.

    Raises
    ------
    ParameterError
        ``out_dir`` cannot be created or written.
    """
    intervals = np.asarray(intervals, dtype=np.int64).reshape(-1, 2)
    samples = np.asarray(samples, dtype=np.float32)
    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise ParameterError(f"cannot create {out_dir}: {exc.strerror}") from None
    width = max(3, len(str(len(intervals))))
    paths = []
    for i, (start, end) in enumerate(intervals.tolist()):
        path = os.path.join(os.fspath(out_dir), f"{prefix}-{i:0{width}d}.wav")
        try:
            to_audiosegment(samples[start:end], rate).export(path, format="wav")
        except OSError as exc:
            raise ParameterError(f"cannot write {path}: {exc.strerror or exc}") from None
        paths.append(path)
    log.info("wrote %d sentences to %s", len(paths), out_dir)
    return paths
