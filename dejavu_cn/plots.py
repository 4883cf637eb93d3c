"""Pictures of what the fingerprinter sees and how a clip was matched.

Two kinds of function, kept apart so a web page can draw its own charts:

* ``*_data`` functions compute plain, JSON-serialisable dicts (lists of
  numbers, no numpy, no bytes). They never need matplotlib.
* ``plot_*`` functions draw one of those dicts to an image with
  matplotlib's non-interactive Agg backend (no display needed): PNG, or the
  format a file name's extension asks for (:data:`IMAGE_FORMATS`).
  matplotlib (the ``[plots]`` extra) is imported inside them only, so the
  core never needs it installed; :func:`plots_available` tells whether it is.

:func:`fingerprint_data` / :func:`plot_fingerprint`
    The spectrogram (loudness over time and frequency), the peaks picked
    from it, and a sample of the peak pairs that become hashes.
:func:`match_data` / :func:`plot_match`
    For the best candidate song and the runner-up: the histogram of
    ``song time - clip time`` over every hash the clip shares with the song
    (a true match piles up in one bin, the aligned peak, standing out from
    a flat background), and the scatter of clip time against song time (a
    true match draws a diagonal line).

Times are in seconds, frequencies in Hz, loudness in dB relative to a
full-scale sine.
"""
import logging
import os

import numpy as np

from .errors import ParameterError
from .fingerprint import band_bins, find_peaks, landmark_peaks, spectrogram
from .matching import MERGE_FRAMES, alignment_details

log = logging.getLogger(__name__)

MAX_HISTOGRAM_BINS = 1500    # offset-histogram bins at most: a 5-minute song gets 0.2 s bins
MAX_POINTS = 4000            # scatter points kept per candidate (evenly spaced sample of the matches)
MAX_PAIRS = 400              # peak pairs drawn in a fingerprint plot
KHZ = 1000.0                 # Hz per kHz: frequency axes are drawn in kHz
PLOTS_MISSING = "plots need matplotlib: pip install 'dejavu-cn[plots]'"
IMAGE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".svg": "svg", ".pdf": "pdf"}   # by extension


def plots_available():
    """True when matplotlib imports (the ``[plots]`` extra is installed):
    the ``plot_*`` functions can draw. Imports it (once; later calls cost a
    lookup in ``sys.modules``)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def image_format(out):
    """The format a ``plot_*`` function writes to ``out``: by a path's
    extension (:data:`IMAGE_FORMATS`; none: PNG), PNG for a file object.
    Raises :class:`~dejavu_cn.errors.ParameterError` for another extension
    (a ``.gif`` is refused rather than written as a PNG under that name)."""
    if not isinstance(out, (str, os.PathLike)):
        return "png"
    ext = os.path.splitext(os.fspath(out))[1].lower()
    if not ext:
        return "png"
    if ext not in IMAGE_FORMATS:
        raise ParameterError(f"cannot write {os.fspath(out)}: pictures are written as "
                             f"{', '.join(IMAGE_FORMATS)} (by the file name's extension)")
    return IMAGE_FORMATS[ext]


# -- data -------------------------------------------------------------------

def _histogram(diff_seconds, frame_seconds, max_bins):
    """Histogram of offset differences with bins of at least one frame,
    centred on multiples of the bin width (differences of whole frames fall
    mid-bin, never on an edge).

    Returns (bin centres s, counts, bin width s)."""
    if diff_seconds.size == 0:
        return np.zeros(0), np.zeros(0, np.int64), frame_seconds
    lo, hi = float(diff_seconds.min()), float(diff_seconds.max())
    width = max(frame_seconds, (hi - lo) / max_bins)
    first = np.floor(lo / width + 0.5)
    n_bins = int(np.floor(hi / width + 0.5) - first) + 1
    idx = (np.floor(diff_seconds / width + 0.5) - first).astype(np.int64)
    counts = np.bincount(np.clip(idx, 0, n_bins - 1), minlength=n_bins)
    centres = (first + np.arange(n_bins)) * width
    return centres, counts, width


def _even_sample(n, k):
    """Indices of at most ``k`` of ``n`` items, evenly spaced (deterministic)."""
    if n <= k:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))


def match_data(engine, samples, *, top=2, max_bins=MAX_HISTOGRAM_BINS, max_points=MAX_POINTS):
    """How a clip matches its best candidate songs, as plain data.

    Parameters
    ----------
    engine : Dejavu
        The engine whose database is searched.
    samples : np.ndarray, shape (n,)
        The clip: mono float32 in [-1, 1] at ``engine.params.sample_rate`` Hz
        (``engine.decode(path)`` gives this).
    top : int, keyword-only
        Candidates described (the best one and ``top - 1`` runners-up).
    max_bins : int, keyword-only
        At most this many histogram bins; bins are one analysis frame wide
        (23.2 ms by default) unless the offsets span more than
        ``max_bins`` frames.
    max_points : int, keyword-only
        At most this many (clip time, song time) points per candidate, an
        evenly spaced sample of all of them.

    Returns
    -------
    dict
        JSON-serialisable:

        ``result``
            The engine's recognition result (:meth:`Dejavu.match_samples`,
            as ``dejavu-cn recognize file`` gives it).
        ``clip_seconds``, ``frame_seconds``
            Clip duration and analysis hop, seconds.
        ``candidates``
            List (best first, at most ``top``) of dicts: ``song_id``,
            ``song_name``, ``confidence`` (0-1), ``offset_seconds`` (where in
            the song the clip starts, per the engine), ``aligned`` (votes in
            the aligned window), ``matches`` (hash matches with the song,
            total), ``histogram`` (``bin_centres_seconds``, ``counts``,
            ``bin_width_seconds``: counts of hash matches per
            ``song time - clip time`` bin), ``peak`` (``count`` of the
            tallest bin, ``offset_seconds`` = median difference inside it,
            ``background`` = median count of the non-empty bins), ``points`` (``query_seconds``,
            ``song_seconds``, ``aligned`` booleans: the match lies within
            one frame of the engine's offset) and ``points_total``.
    """
    if top < 1:
        from .errors import ParameterError
        raise ParameterError("top must be >= 1")
    rec = engine.config.recognition
    frame = engine.params.frame_seconds()
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    # the answer `dejavu-cn recognize file` gives (early decision, two-stage reading, sketch check),
    # so the caption's confidence is the CLI's; the whole clip's rows then show how it lines up
    result = engine.match_samples(samples, top=max(top, rec.top))
    query = engine.analyze(samples)
    lookup = engine.lookup(query.hashes)
    candidates = []
    for cand in result["candidates"][:top]:
        details = alignment_details(query, lookup, cand["song_id"], max_rows=rec.max_hash_rows)
        candidates.append(_candidate_data(cand, details, frame, max_bins=max_bins, max_points=max_points))
    return {"result": result, "clip_seconds": round(samples.size / engine.params.sample_rate, 4),
            "frame_seconds": frame, "candidates": candidates}


def _candidate_data(cand, details, frame, *, max_bins, max_points):
    """One entry of :func:`match_data`'s ``candidates``, from the engine's
    candidate dict and :func:`~dejavu_cn.matching.alignment_details` of its
    song (``frame``: seconds per analysis frame)."""
    q_s = np.asarray(details["query_frames"], np.float64) * frame
    s_s = np.asarray(details["song_frames"], np.float64) * frame
    diff = s_s - q_s
    centres, counts, width = _histogram(diff, frame, max_bins)
    aligned = np.abs(diff - cand["offset_seconds"]) <= (MERGE_FRAMES + 0.5) * frame
    keep = _even_sample(diff.size, max_points)
    return {
        "song_id": cand["song_id"],
        "song_name": cand["song_name"],
        "confidence": cand["confidence"],
        "offset_seconds": cand["offset_seconds"],
        "aligned": cand["aligned_frames"],
        "matches": int(diff.size),
        "histogram": {"bin_centres_seconds": np.round(centres, 4).tolist(),
                      "counts": counts.astype(int).tolist(),
                      "bin_width_seconds": float(width)},
        "peak": _tallest_bin(diff, centres, counts, width),
        "points": {"query_seconds": np.round(q_s[keep], 4).tolist(),
                   "song_seconds": np.round(s_s[keep], 4).tolist(),
                   "aligned": aligned[keep].tolist()},
        "points_total": int(diff.size),
    }


def _tallest_bin(diff, centres, counts, width):
    """The histogram's peak: ``count`` of the tallest bin, ``offset_seconds``
    (median difference inside it, s) and ``background`` (median count of
    the non-empty bins)."""
    if not counts.size:
        return {"offset_seconds": None, "count": 0, "background": 0.0}
    k = int(np.argmax(counts))
    nonzero = counts[counts > 0]
    in_bin = np.abs(diff - centres[k]) <= width / 2
    return {"offset_seconds": round(float(np.median(diff[in_bin])), 4), "count": int(counts[k]),
            "background": float(np.median(nonzero))}


def fingerprint_data(samples, params, *, start=0.0, max_pairs=MAX_PAIRS, spectrogram_decimals=1,
                     include_spectrogram=True):
    """What the fingerprinter sees in a signal, as plain data.

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
        Mono float32 in [-1, 1] at ``params.sample_rate`` Hz.
    params : FingerprintParams
        Analysis parameters (``engine.params`` for registered songs,
        ``engine.query_params()`` for clips).
    start : float, keyword-only
        Seconds: where ``samples`` begin in their file; added to every time.
    max_pairs : int, keyword-only
        Peak pairs returned (an evenly spaced sample of all of them).
    spectrogram_decimals : int, keyword-only
        dB values are rounded to this many decimals (JSON size).
    include_spectrogram : bool, keyword-only
        False leaves ``spectrogram_db`` out (None): about 100-160 kB of JSON per
        second of audio less, for a page that only draws peaks and pairs.

    Returns
    -------
    dict
        JSON-serialisable:

        ``start_seconds``, ``duration_seconds``, ``frame_seconds``
            Seconds.
        ``times_seconds`` (frames), ``frequencies_hz`` (bins)
            Axes of ``spectrogram_db``; frame ``i`` is the window starting at
            ``start + i * hop / rate``.
        ``spectrogram_db``
            List of frames, each a list of bin levels in dB re full scale.
        ``band_hz``
            [low, high]: the frequency band searched for peaks.
        ``peaks``
            ``times_seconds``, ``frequencies_hz``, ``frames``, ``bins``,
            ``strengths_db``.
        ``pairs``
            A sample of the peak pairs that become hashes: ``t1_seconds``,
            ``f1_hz``, ``t2_seconds``, ``f2_hz``.
        ``peak_count``, ``hash_count``, ``peaks_per_second``,
        ``hashes_per_second``
            Over the whole signal.
    """
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    rate = params.sample_rate
    frame = params.frame_seconds()
    bin_hz = rate / params.window_size
    duration = samples.size / rate
    spec = spectrogram(samples, window_size=params.window_size, hop_size=params.hop_size)
    spec = np.maximum(spec, -140.0)                       # digital silence as -140 dB, not -200
    peaks = find_peaks(samples, params)
    marks = landmark_peaks(peaks, params)
    f1, f2, dt, t1 = _edges(marks)
    low, high = band_bins(params)
    n_frames = spec.shape[0]
    return {
        "start_seconds": float(start),
        "duration_seconds": round(duration, 6),
        "frame_seconds": frame,
        "sample_rate": rate,
        "times_seconds": np.round(start + np.arange(n_frames) * frame, 6).tolist(),
        "frequencies_hz": np.round(np.arange(spec.shape[1]) * bin_hz, 4).tolist(),
        "spectrogram_db": (np.round(spec.astype(np.float64), spectrogram_decimals).tolist()
                           if include_spectrogram else None),
        "band_hz": [round(low * bin_hz, 4), round((high - 1) * bin_hz, 4)],
        "peaks": _peaks_data(peaks, start, frame, bin_hz),
        "pairs": _pairs_data(f1, f2, dt, t1, start, frame, bin_hz, max_pairs),
        "peak_count": len(peaks),
        "hash_count": len(marks),
        "peaks_per_second": round(len(peaks) / duration, 3) if duration else 0.0,
        "hashes_per_second": round(len(marks) / duration, 3) if duration else 0.0,
    }


def _peaks_data(peaks, start, frame, bin_hz):
    """Peaks as lists: times (s, from ``start``), frequencies (Hz), frame and
    bin indices, strengths (dB)."""
    return {"times_seconds": np.round(start + peaks.frames * frame, 6).tolist(),
            "frequencies_hz": np.round(peaks.bins * bin_hz, 4).tolist(),
            "frames": peaks.frames.astype(int).tolist(),
            "bins": peaks.bins.astype(int).tolist(),
            "strengths_db": np.round(peaks.strengths.astype(np.float64), 2).tolist()}


def _edges(marks):
    """The distinct peak pairs (f1, f2, dt, t1) that landmarks join: a pair
    is one, a triplet two (its anchor to each of its targets)."""
    f1, f2, dt, t1 = marks.f1, marks.f2, marks.dt, marks.t1
    triplet = marks.dt3 > 0
    if triplet.any():
        f1, f2 = np.r_[f1, f1[triplet]], np.r_[f2, marks.f3[triplet]]
        dt, t1 = np.r_[dt, marks.dt3[triplet]], np.r_[t1, t1[triplet]]
        _, keep = np.unique(np.stack([t1, f1, dt, f2], axis=1), axis=0, return_index=True)
        f1, f2, dt, t1 = (a[keep] for a in (f1, f2, dt, t1))
    return f1, f2, dt, t1


def _pairs_data(f1, f2, dt, t1, start, frame, bin_hz, max_pairs):
    """An evenly spaced sample of at most ``max_pairs`` peak pairs (bins
    ``f1``, ``f2``; frames ``t1``, ``t1 + dt``) as times (s) and frequencies (Hz)."""
    keep = _even_sample(f1.size, max_pairs)
    return {"t1_seconds": np.round(start + t1[keep] * frame, 6).tolist(),
            "f1_hz": np.round(f1[keep] * bin_hz, 4).tolist(),
            "t2_seconds": np.round(start + (t1[keep] + dt[keep]) * frame, 6).tolist(),
            "f2_hz": np.round(f2[keep] * bin_hz, 4).tolist()}


# -- drawing ------------------------------------------------------------------

def _figure(width, height, dpi):
    import sys

    import matplotlib
    if "matplotlib.pyplot" not in sys.modules:
        # non-interactive: works without a display. Not forced when the caller
        # already uses pyplot (a notebook keeps its own backend); the Figure
        # below renders with Agg either way.
        matplotlib.use("Agg")
    from matplotlib.figure import Figure
    # a Figure without pyplot: no global state, safe in a web server's threads
    return Figure(figsize=(width, height), dpi=dpi)


def _save(fig, out, dpi):
    fig.savefig(out, format=image_format(out), dpi=dpi)
    w, h = fig.get_size_inches()
    return {"width_px": int(round(w * dpi)), "height_px": int(round(h * dpi)), "dpi": dpi}


def plot_fingerprint(data, out, *, width=10, height=6, dpi=100, title=None):
    """Draw :func:`fingerprint_data` to an image (PNG unless ``out``'s
    extension asks for another of :data:`IMAGE_FORMATS`).

    Parameters
    ----------
    data : dict
        From :func:`fingerprint_data`.
    out : str, path or binary file object
        Where the image goes (a file object gets a PNG).
    width, height : float, keyword-only
        Inches; the image is ``width * dpi`` by ``height * dpi`` pixels.
    dpi : int, keyword-only
        Pixels per inch.
    title : str, optional
        First title line (e.g. the file name).

    Returns
    -------
    dict
        ``width_px``, ``height_px``, ``dpi``.
    """
    fig = _figure(width, height, dpi)
    ax = fig.add_axes([0.08, 0.2, 0.8, 0.63])
    cax = fig.add_axes([0.9, 0.2, 0.02, 0.63])
    _draw_spectrogram(fig, ax, cax, data)
    fmax = _shade_ignored_band(ax, data)
    _draw_peaks_and_pairs(ax, data)
    t0 = data["start_seconds"]
    ax.set_xlim(t0, t0 + max(data["duration_seconds"], data["frame_seconds"]))
    ax.set_ylim(0, fmax)
    ax.set_xlabel("time in the file (seconds)")
    ax.set_ylabel("frequency / pitch (kHz)")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.01), ncol=3, fontsize=8, frameon=False)
    head = f"{title}: " if title else ""
    fig.suptitle(f"{head}{data['peaks_per_second']:.1f} peaks/s, {data['hashes_per_second']:.0f} hashes/s",
                 fontsize=12, y=0.97)
    fig.text(0.08, 0.03, FINGERPRINT_CAPTION, fontsize=8.5, va="bottom", ha="left")
    return _save(fig, out, dpi)


FINGERPRINT_CAPTION = (
    "Spectrogram: how loud each frequency is over time (bright = loud). Green circles are the peaks the\n"
    "fingerprinter keeps; each blue line joins two peaks, and their two frequencies and time gap form one "
    "hash.\nA clip is recognised when enough of its hashes occur in a song with the same time shift.")


def _draw_spectrogram(fig, ax, cax, data):
    """The spectrogram as an image (80 dB of range below its loudest
    cell) with its colour bar in ``cax``; without one, ``cax`` is hidden."""
    frame = data["frame_seconds"]
    times, freqs = data["times_seconds"], data["frequencies_hz"]
    spec = np.asarray(data["spectrogram_db"] or [], dtype=np.float32)
    if not spec.size:
        cax.set_axis_off()
        return
    bin_hz = freqs[1] - freqs[0] if len(freqs) > 1 else 1.0
    top = float(spec.max())
    im = ax.imshow(spec.T, origin="lower", aspect="auto", cmap="magma", vmin=top - 80.0, vmax=top,
                   extent=[times[0] - frame / 2, times[-1] + frame / 2,
                           (freqs[0] - bin_hz / 2) / KHZ, (freqs[-1] + bin_hz / 2) / KHZ],
                   interpolation="nearest")
    bar = fig.colorbar(im, cax=cax)
    bar.set_label("loudness (dB below full scale)")


def _shade_ignored_band(ax, data):
    """Grey out the frequencies searched for no peaks; returns the top of
    the frequency axis (kHz)."""
    freqs = data["frequencies_hz"]
    low, high = data["band_hz"]
    fmax = freqs[-1] / KHZ if freqs else high / KHZ
    ax.axhspan(0, low / KHZ, color="0.6", alpha=0.35, lw=0)
    ax.axhspan(high / KHZ, fmax, color="0.6", alpha=0.35, lw=0, label="ignored band (no peaks)")
    return fmax


def _draw_peaks_and_pairs(ax, data):
    """The sampled peak pairs as lines, then every peak as a circle."""
    pairs = data["pairs"]
    if pairs["t1_seconds"]:
        xs = np.stack([pairs["t1_seconds"], pairs["t2_seconds"]])
        ys = np.stack([pairs["f1_hz"], pairs["f2_hz"]]) / KHZ
        lines = ax.plot(xs, ys, color="#7fdbff", lw=0.6, alpha=0.55)
        lines[0].set_label(f"peak pairs = hashes (sample of {len(pairs['t1_seconds'])})")
    peaks = data["peaks"]
    ax.scatter(peaks["times_seconds"], np.asarray(peaks["frequencies_hz"]) / KHZ, s=14, marker="o",
               facecolors="none", edgecolors="#00ff66", linewidths=1.0, label=f"peaks ({data['peak_count']})")


def plot_match(data, out, *, width=10, height=6, dpi=100, title=None):
    """Draw :func:`match_data` to an image (as :func:`plot_fingerprint`):
    per candidate (rows), the offset
    histogram (left) and the clip-time vs song-time scatter (right).

    Parameters
    ----------
    data : dict
        From :func:`match_data`.
    out : str, path or binary file object
        Where the image goes (a file object gets a PNG).
    width, height : float, keyword-only
        Inches; the image is ``width * dpi`` by ``height * dpi`` pixels.
    dpi : int, keyword-only
        Pixels per inch.
    title : str, optional
        First title line (e.g. the clip's file name).

    Returns
    -------
    dict
        ``width_px``, ``height_px``, ``dpi``, ``candidates`` (rows drawn).
    """
    fig = _figure(width, height, dpi)
    cands = data["candidates"]
    verdict = match_verdict(data["result"])
    fig.suptitle((f"{title}: " if title else "") + ("recognised: " if data["result"]["match"] else "") + verdict,
                 fontsize=11)
    if not cands:
        _say_no_candidates(fig)
    else:
        grid = fig.add_gridspec(len(cands), 2, width_ratios=[1.5, 1], left=0.08, right=0.97, top=0.88,
                                bottom=0.19, hspace=0.65, wspace=0.25)
        for r, c in enumerate(cands):
            rank = "best candidate" if r == 0 else f"runner-up #{r}"
            _draw_offset_histogram(fig.add_subplot(grid[r, 0]), c, rank)
            _draw_time_scatter(fig.add_subplot(grid[r, 1]), c, data["clip_seconds"], legend=r == 0)
        fig.text(0.08, 0.02, MATCH_CAPTION, fontsize=8, va="bottom", ha="left")
    info = _save(fig, out, dpi)
    info["candidates"] = len(cands)
    return info


def match_verdict(result):
    """The verdict on a recognition result in words, with the confidence
    ``dejavu-cn recognize file`` prints: "NAME at 8.00 s (confidence 0.97)"
    or "no match (best confidence 0.12)"."""
    match = result["match"]
    if match is None:
        best = result["candidates"][0]["confidence"] if result.get("candidates") else 0.0
        return f"no match (best confidence {best:.2f})"
    return f"{match['song_name']} at {match['offset_seconds']:.2f} s (confidence {match['confidence']:.2f})"


MATCH_CAPTION = (
    "Left: for every hash the clip shares with the song, where the clip would have to start in the song.\n"
    "A true match piles many hashes onto one start time (the red bar) above a flat background of chance "
    "matches.\nRight: the same hashes by time, zoomed on that start time; a true match lines up on the dashed diagonal.")


def _say_no_candidates(fig):
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    ax.text(0.5, 0.5, "No registered song shares a hash with this clip.", ha="center", va="center",
            fontsize=12, transform=ax.transAxes)


def _draw_offset_histogram(ax, c, rank):
    """One candidate's ``song time - clip time`` histogram, its tallest bin in red."""
    hist = c["histogram"]
    centres = np.asarray(hist["bin_centres_seconds"])
    counts = np.asarray(hist["counts"])
    if centres.size:
        # vertical lines, not bars: a one-frame bin is narrower than a pixel on a long song
        ax.vlines(centres, 0, counts, color="0.4", lw=1.0,
                  label=f"hash matches per {1000 * hist['bin_width_seconds']:.0f} ms of start time")
        k, n = c["peak"]["offset_seconds"], c["peak"]["count"]
        ax.vlines([k], 0, [n], color="#d62728", lw=2.5,
                  label=f"tallest: {n} at {k:.2f} s (background ~{c['peak']['background']:g})")
        ax.set_xlim(centres[0] - hist["bin_width_seconds"], centres[-1] + hist["bin_width_seconds"])
        ax.legend(fontsize=7.5, loc="upper right")
    ax.set_ylim(0, max(1, int(counts.max()) if counts.size else 1) * 1.15)
    ax.set_title(f"{rank}: {c['song_name']} (confidence {c['confidence']:.2f})", fontsize=9, loc="left")
    ax.set_xlabel("song time minus clip time (seconds) = where the clip would start in the song", fontsize=8)
    ax.set_ylabel("matching hashes", fontsize=8)
    ax.tick_params(labelsize=7.5)


def _song_window(c, clip_seconds):
    """(lo, hi, centre): the stretch of the song shown (s), zoomed on the
    tallest bin so a match shows as a diagonal, not a flat line."""
    clip = max(clip_seconds, 1e-3)
    centre = c["peak"]["offset_seconds"] if c["peak"]["offset_seconds"] is not None else 0.0
    pad = max(1.0, 0.5 * clip)
    lo, hi = centre - pad, centre + clip + pad
    if centre >= 0:
        lo = max(lo, 0.0)                   # no song time before the song's start
    return lo, hi, centre


def _zoom_label(lo, hi):
    """Words for the stretch of song shown, lo..hi seconds: "song zoomed
    from -5 s to 7 s" (a dash between the two would read "-5-7 s")."""
    return f"song zoomed from {round(lo)} s to {round(hi)} s"          # round(): whole seconds, no "-0"


def _draw_time_scatter(ax, c, clip_seconds, *, legend):
    """One candidate's matches as clip time against song time: aligned
    ones in red along the dashed diagonal of the engine's offset."""
    pts = c["points"]
    q = np.asarray(pts["query_seconds"])
    s = np.asarray(pts["song_seconds"])
    on = np.asarray(pts["aligned"], dtype=bool)
    clip = max(clip_seconds, 1e-3)
    lo, hi, centre = _song_window(c, clip_seconds)
    shown = (s >= lo) & (s <= hi)
    ax.scatter(q[~on & shown], s[~on & shown], s=5, color="0.55", lw=0, label="chance matches")
    ax.scatter(q[on & shown], s[on & shown], s=7, color="#d62728", lw=0, label="aligned (same time shift)")
    ax.plot([0, clip], [centre, centre + clip], color="#d62728", lw=0.8, alpha=0.35, ls="--")
    ax.set_xlim(0, clip)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("time in the clip (seconds)", fontsize=8)
    ax.set_ylabel("time in the song (s)", fontsize=8)
    ax.tick_params(labelsize=7.5)
    ax.set_title(f"{c['points_total']} matching hashes; {_zoom_label(lo, hi)}", fontsize=8.5, loc="left")
    if legend:
        ax.legend(fontsize=7, loc="best", markerscale=2)


def accuracy_data(report):
    """Accuracy against clip length, per condition, from an evaluation report.

    Parameters
    ----------
    report : dict
        From :func:`dejavu_cn.evaluate.evaluate`.

    Returns
    -------
    dict
        ``conditions``: list of dicts with ``condition``, ``lengths_seconds``,
        ``top1``, ``top5`` and ``offset_repeat_aware`` (fractions 0-1, None
        where there were no clips); ``false_positive_rate`` (0-1 or None).
    """
    by_condition = {}
    for cell in report["cells"]:
        entry = by_condition.setdefault(cell["condition"], {"condition": cell["condition"], "lengths_seconds": [],
                                                            "top1": [], "top5": [], "offset_repeat_aware": []})
        entry["lengths_seconds"].append(cell["length"])
        entry["top1"].append(cell["top1"])
        entry["top5"].append(cell["top5"])
        entry["offset_repeat_aware"].append(cell.get("offset_accuracy_repeat_aware"))
    return {"conditions": list(by_condition.values()), "false_positive_rate": report.get("false_positive_rate")}


def plot_accuracy(report, out, *, width=8, height=5, dpi=100, title=None):
    """Draw top-1 accuracy against clip length, one line per condition
    (top-5 as a faint dotted line of the same colour).

    Parameters
    ----------
    report : dict
        From :func:`dejavu_cn.evaluate.evaluate`.
    out : str, path or binary file object
        Where the image goes (a file object gets a PNG).
    width, height : float, keyword-only
        Inches.
    dpi : int, keyword-only
        Pixels per inch.

    Returns
    -------
    dict
        ``width_px``, ``height_px``, ``dpi``, and ``data`` (:func:`accuracy_data`).
    """
    data = accuracy_data(report)
    fig = _figure(width, height, dpi)
    ax = fig.add_axes([0.1, 0.22, 0.62, 0.66])
    _draw_accuracy_lines(ax, data["conditions"])
    _set_length_axis(ax, sorted({x for c in data["conditions"] for x in c["lengths_seconds"]}))
    ax.set_ylim(-3, 103)
    ax.set_xlabel("clip length (seconds)")
    ax.set_ylabel("clips recognised correctly (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8.5, title="condition", title_fontsize=9)
    fp = data["false_positive_rate"]
    fig.suptitle((f"{title}: " if title else "") + "recognition accuracy by clip length", fontsize=12)
    fig.text(0.1, 0.03, ACCURACY_CAPTION
             + (f"\nClips of songs not in the database wrongly matched: {100 * fp:.1f} %." if fp is not None else ""),
             fontsize=8, va="bottom", ha="left")
    info = _save(fig, out, dpi)
    info["data"] = data
    return info


ACCURACY_CAPTION = (
    "Each line is one way of degrading the clips (clean copy, MP3, added noise at 10 or 0 dB, played to a\n"
    "microphone, 2 % faster). Solid: the match is the right song; dotted: the right song is among the top 5.")
_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def _draw_accuracy_lines(ax, conditions):
    """Per condition, top-1 (%) as a solid line with markers and top-5 as a
    dotted one of the same colour; then the legend's two line styles."""
    n_cond = len(conditions)
    for k, c in enumerate(conditions):
        colour = _COLOURS[k % len(_COLOURS)]
        size = 4 + 2.0 * (n_cond - k)          # earlier lines get bigger markers: equal values stay visible
        x = np.asarray(c["lengths_seconds"], dtype=float)
        top1 = np.asarray([np.nan if v is None else 100 * v for v in c["top1"]])
        top5 = np.asarray([np.nan if v is None else 100 * v for v in c["top5"]])
        ax.plot(x, top1, "-", marker=_MARKERS[k % len(_MARKERS)], color=colour, lw=2, ms=size,
                label=f"{c['condition']}")
        ax.plot(x, top5, ":", color=colour, lw=1.2, alpha=0.7)
    ax.plot([], [], "k-", lw=2, label="top-1 (solid)")
    ax.plot([], [], "k:", lw=1.2, label="top-5 (dotted)")


def _set_length_axis(ax, lengths):
    """A log axis of clip lengths (s), ticked at the lengths measured."""
    ax.set_xscale("log")
    if lengths:
        ax.set_xticks(lengths)
        ax.set_xticklabels([f"{v:g}" for v in lengths])
        ax.set_xticks([], minor=True)
        ax.set_xlim(min(lengths) / 1.15, max(lengths) * 1.15)


__all__ = ["match_data", "plot_match", "fingerprint_data", "plot_fingerprint", "accuracy_data", "plot_accuracy",
           "match_verdict", "plots_available", "image_format", "IMAGE_FORMATS", "PLOTS_MISSING"]


# -- timeline of a long recording -------------------------------------------------

def _song_colour(song_id):
    """One colour per song, from the song id (the same song, the same colour)."""
    return _COLOURS[int(song_id) % len(_COLOURS)]


def plot_timeline(result, out, *, width=12, height=3, dpi=100, title=None):
    """Draw a recording's timeline: a bar of coloured segments, one per
    entry, named, over the recording's time axis; the gaps (audio not in
    the library) left grey.

    Parameters
    ----------
    result : dict
        The JSON of ``dejavu-cn recognize file --timeline --json`` (keys
        ``timeline``, ``gaps``, ``duration_seconds``).
    out : str, path or binary file object
    width, height : float, keyword-only
        Inches.
    dpi : int, keyword-only

    Returns
    -------
    dict
        ``width_px``, ``height_px``, ``dpi``, ``entries``.
    """
    entries = result.get("timeline") or []
    total = float(result.get("duration_seconds") or max([e["end_seconds"] for e in entries] + [1.0]))
    fig = _figure(width, height, dpi)
    ax = fig.add_axes([0.04, 0.38, 0.92, 0.4])
    ax.broken_barh([(0.0, total)], (0, 1), facecolors="#e4e7eb")
    for e in entries:
        start, span = e["start_seconds"], e["end_seconds"] - e["start_seconds"]
        ax.broken_barh([(start, span)], (0, 1), facecolors=_song_colour(e["song_id"]), edgecolor="white")
        label = e["song_name"]
        if span < total * 0.004 * len(label):         # too narrow for its name: the name goes above
            ax.text(start + span / 2, 1.08, label, ha="center", va="bottom", fontsize=7, rotation=30)
        else:
            ax.text(start + span / 2, 0.5, label, ha="center", va="center", fontsize=8, color="white",
                    clip_on=True)
    ax.set_xlim(0, total)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_xlabel("time in the recording (seconds)")
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    fig.suptitle((f"{title}: " if title else "") + f"{len(entries)} songs in {total:.0f} s", fontsize=11)
    fig.text(0.04, 0.03, "Each coloured segment is a registered song, placed where it plays; grey: audio not in "
                         "the library.", fontsize=8, va="bottom", ha="left")
    info = _save(fig, out, dpi)
    info["entries"] = len(entries)
    return info
