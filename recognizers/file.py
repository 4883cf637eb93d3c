"""Recognise audio files."""
import logging
import os
import time

from .base import BaseRecognizer

log = logging.getLogger(__name__)


class FileRecognizer(BaseRecognizer):
    """Recognise a file (anything ffmpeg reads).

    ``recognize(path)`` returns the engine's result dict with ``path`` (as
    given), the decode time added to ``timings`` and ``truncated_at_seconds``:
    a file longer than ``recognition.max_query_seconds`` is recognised on
    that many seconds from its start (or from ``start``) and never decoded
    further (so a file of hours costs what a minute does); the key holds
    that limit then, else None. ``speed_search`` (True/False; default the
    configuration's) looks for a copy played at another speed or pitch
    (:meth:`dejavu_cn.Dejavu.match_samples`). Decoding errors raise
    :class:`dejavu_cn.AudioDecodeError`.
    """

    def recognize_file(self, path, *, top=None, start=None, duration=None, speed_search=None):
        cap = self.dejavu.config.recognition.max_query_seconds
        rate = self.dejavu.params.sample_rate
        capped = duration is None or float(duration) > cap
        t0 = time.perf_counter()
        # a second more than the cap tells a longer file from one of exactly that length
        # (ffmpeg cuts at whole input samples: a second at 1 Hz)
        samples = self.dejavu.decode(os.fspath(path), start=start, duration=cap + 1.0 if capped else duration)
        t1 = time.perf_counter()
        truncated = None
        if capped and samples.size > int(round(cap * rate)):
            samples = samples[:int(round(cap * rate))]
            truncated = cap
            log.info("%s: recognised on its first %g s (recognition.max_query_seconds); the rest is ignored",
                     os.fspath(path), cap)
        result = self.dejavu.match_samples(samples, top=top, speed_search=speed_search)
        result["timings"]["decode"] = round(t1 - t0, 6)
        result["timings"]["total"] = round(time.perf_counter() - t0, 6)
        if result["match"] is not None:
            result["match"] = dict(result["match"], timings=result["timings"])
        return {"path": os.fspath(path), **result, "truncated_at_seconds": truncated}

    recognize = recognize_file
