"""Recognise audio files."""
import os
import time

from .base import BaseRecognizer


class FileRecognizer(BaseRecognizer):
    """Recognise a file (anything ffmpeg reads).

    ``recognize(path)`` returns the engine's result dict with ``path`` (as
    given) and the decode time added to ``timings``. Decoding errors raise
    :class:`dejavu_cn.AudioDecodeError`.
    """

    def recognize_file(self, path, *, top=None, start=None, duration=None):
        t0 = time.perf_counter()
        samples = self.dejavu.decode(os.fspath(path), start=start, duration=duration)
        t1 = time.perf_counter()
        result = self.dejavu.match_samples(samples, top=top)
        result["timings"]["decode"] = round(t1 - t0, 6)
        result["timings"]["total"] = round(time.perf_counter() - t0, 6)
        if result["match"] is not None:
            result["match"] = dict(result["match"], timings=result["timings"])
        return {"path": os.fspath(path), **result}

    recognize = recognize_file
