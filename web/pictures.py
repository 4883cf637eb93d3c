"""PNG pictures for the page, as ``data:`` URLs: the offset-difference
histogram of a match (:mod:`dejavu_cn.plots`) and the speech comparison
timeline (:mod:`recognizers.speech`). Both are optional: when the module
is missing the answer simply has no picture.

Matplotlib's state is not thread-safe, and waitress serves from threads, so
drawing is serialised.
"""
import base64
import importlib
import io
import logging
import threading

log = logging.getLogger(__name__)
_LOCK = threading.Lock()


def _module(name):
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if exc.name and name.startswith(exc.name):  # the module itself is missing
            return None
        raise


def plots_available():
    return _module("dejavu_cn.plots") is not None


def _data_url(draw):
    buffer = io.BytesIO()
    with _LOCK:
        draw(buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def match_histogram(engine, samples, *, top=2):
    """The histogram picture of the best candidates, or None if
    :mod:`dejavu_cn.plots` is not available."""
    plots = _module("dejavu_cn.plots")
    if plots is None:
        return None
    data = plots.match_data(engine, samples, top=top)
    return _data_url(lambda out: plots.plot_match(data, out))


def speech_module():
    """:mod:`recognizers.speech`, or None when it is not installed."""
    module = _module("recognizers.speech")
    if module is None or not hasattr(module, "compare_files"):
        return None
    return module


def speech_timeline(speech, result):
    if not hasattr(speech, "plot_timeline"):
        return None
    return _data_url(lambda out: speech.plot_timeline(result, out))
