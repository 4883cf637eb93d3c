"""PNG pictures for the page: the offset-difference histogram of a match
(:mod:`dejavu_cn.plots`, as PNG bytes) and the speech comparison timeline
(:mod:`recognizers.speech`, as a ``data:`` URL inside the JSON answer).
Both need matplotlib (the ``[plots]`` extra): without it there is no
picture (the histogram endpoint answers 503, a comparison comes without
its timeline).

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
    """True when pictures can be drawn: :mod:`dejavu_cn.plots` and
    matplotlib both import."""
    plots = _module("dejavu_cn.plots")
    return plots is not None and plots.plots_available()


PLOTS_MISSING = ("match pictures are not available on this server: plots need matplotlib "
                 "(pip install 'dejavu-cn[plots]')")


def _png(draw):
    buffer = io.BytesIO()
    with _LOCK:
        draw(buffer)
    return buffer.getvalue()


def _data_url(draw):
    return "data:image/png;base64," + base64.b64encode(_png(draw)).decode("ascii")


def match_histogram(engine, samples, *, top=2, title=None):
    """PNG bytes: the offset histogram and time scatter of the best ``top``
    candidates (800 x 480 px)."""
    plots = _module("dejavu_cn.plots")
    data = plots.match_data(engine, samples, top=top)
    return _png(lambda out: plots.plot_match(data, out, width=10, height=6, dpi=80, title=title))


def speech_module():
    """:mod:`recognizers.speech`, or None when it is not installed."""
    module = _module("recognizers.speech")
    if module is None or not hasattr(module, "compare_files"):
        return None
    return module


def speech_timeline(speech, result):
    """The comparison's timeline as a ``data:`` URL, or None when it cannot
    be drawn (no ``plot_timeline``, or no matplotlib)."""
    if not hasattr(speech, "plot_timeline") or not plots_available():
        return None
    return _data_url(lambda out: speech.plot_timeline(result, out))
