"""``dejavu-cn plot fingerprint FILE``, ``dejavu-cn plot match CLIP`` and
``dejavu-cn plot timeline RESULT.json``.

Both write an image (matplotlib, non-interactive backend; PNG, JPEG, SVG or
PDF by the extension of ``-o``) and print one line saying what is in it;
``--json`` prints the figure's size and a summary. Without matplotlib (the
``[plots]`` extra) they say which extra to install and exit 1.
"""
import os

from . import add_json_flag, add_output_option


def _positive(text):
    value = float(text)
    if value <= 0:
        raise ValueError(text)
    return value


def _non_negative(text):
    value = float(text)
    if value < 0:
        raise ValueError(text)
    return value


_positive.__name__ = "positive number"
_non_negative.__name__ = "non-negative number"


def _add_figure_options(p, *, width=10.0, height=6.0):
    add_output_option(p, metavar="OUT.png", required=True,
                      help="image to write: .png, .jpg, .svg or .pdf, by the extension")
    p.add_argument("--width", type=_positive, default=width, metavar="IN", help=f"figure width in inches (default {width:g})")
    p.add_argument("--height", type=_positive, default=height, metavar="IN",
                   help=f"figure height in inches (default {height:g})")
    p.add_argument("--dpi", type=int, default=100, metavar="N", help="pixels per inch (default 100)")
    add_json_flag(p)


def _refused(ctx, args, *, usage=None):
    """The exit code that stops a plot command before any work (2: a usage
    error, ``usage`` being a message when the command found one besides
    ``--dpi``; 1: no matplotlib, or no folder to write into), else 0."""
    if usage is None and args.dpi < 10:
        usage = "--dpi must be at least 10"
    if usage:
        ctx.error(usage)
        return 2
    from ..plots import PLOTS_MISSING, plots_available
    if not plots_available():
        ctx.error(PLOTS_MISSING)
        return 1
    return _check_output(ctx, args.output)


def _check_output(ctx, path):
    """1 (error) when ``path``'s folder is missing, 2 (usage) for an
    extension that names no image format, else 0."""
    from ..errors import ParameterError
    from ..plots import image_format
    try:
        image_format(path)
    except ParameterError as exc:
        ctx.error(str(exc))
        return 2
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        ctx.error(f"cannot write {path}: folder {folder} does not exist")
        return 1
    return 0


class PlotFingerprintCommand:
    name = "plot fingerprint"
    help = "draw a file's spectrogram with its peaks and peak pairs (hashes) to an image"

    def configure(self, p):
        p.add_argument("file", metavar="FILE", help="any audio file ffmpeg reads")
        p.add_argument("--start", type=_non_negative, default=0.0, metavar="S",
                       help="seconds into the file (default 0)")
        p.add_argument("--duration", type=_positive, default=10.0, metavar="D",
                       help="seconds drawn (default 10)")
        p.add_argument("--query", action="store_true",
                       help="use the denser analysis applied to clips instead of the one for registered songs")
        _add_figure_options(p)

    def run(self, args, ctx):
        refused = _refused(ctx, args)
        if refused:
            return refused
        from ..audio import decode_file
        from ..matching import query_params
        from ..plots import fingerprint_data, plot_fingerprint
        config = ctx.config
        params = query_params(config.fingerprint, config.recognition) if args.query else config.fingerprint
        samples = decode_file(args.file, target_rate=params.sample_rate, start=args.start or None,
                              duration=args.duration)
        data = fingerprint_data(samples, params, start=args.start)
        size = plot_fingerprint(data, args.output, width=args.width, height=args.height, dpi=args.dpi,
                                title=os.path.basename(args.file))
        summary = {"output": args.output, **size, "start_seconds": data["start_seconds"],
                   "duration_seconds": data["duration_seconds"], "peaks": data["peak_count"],
                   "hashes": data["hash_count"], "peaks_per_second": data["peaks_per_second"],
                   "hashes_per_second": data["hashes_per_second"]}
        if ctx.json:
            ctx.emit_json(summary)
        else:
            ctx.out(f"wrote {args.output} ({size['width_px']}x{size['height_px']} px): "
                    f"{data['duration_seconds']:.1f} s from {data['start_seconds']:g} s, "
                    f"{data['peaks_per_second']:.1f} peaks/s, {data['hashes_per_second']:.0f} hashes/s")
        return 0


class PlotMatchCommand:
    name = "plot match"
    help = ("recognise a clip and draw how it lines up with the best songs (offset histogram, time scatter) "
            "to an image")

    def configure(self, p):
        p.add_argument("clip", metavar="CLIP", help="audio file to recognise against the configured database")
        p.add_argument("--start", type=_non_negative, default=None, metavar="S", help="seconds into the clip")
        p.add_argument("--duration", type=_positive, default=None, metavar="D", help="seconds of the clip used")
        p.add_argument("--top", type=int, default=2, metavar="N", help="candidates drawn (default 2)")
        _add_figure_options(p)

    def run(self, args, ctx):
        bad = args.dpi < 10 or not 1 <= args.top <= 5
        refused = _refused(ctx, args, usage="--dpi must be at least 10 and --top in 1..5" if bad else None)
        if refused:
            return refused
        from ..plots import match_data, match_verdict, plot_match
        engine = ctx.engine_with_songs()
        samples = engine.decode(args.clip, start=args.start, duration=args.duration)
        data = match_data(engine, samples, top=args.top)
        size = plot_match(data, args.output, width=args.width, height=args.height, dpi=args.dpi,
                          title=os.path.basename(args.clip))
        summary = {"output": args.output, **size, "match": data["result"]["match"],
                   "candidates": [{k: c[k] for k in ("song_id", "song_name", "confidence", "offset_seconds",
                                                     "aligned", "matches", "peak")}
                                  for c in data["candidates"]]}
        if ctx.json:
            ctx.emit_json(summary)
        else:
            ctx.out(f"wrote {args.output} ({size['width_px']}x{size['height_px']} px): "
                    f"{match_verdict(data['result'])}")
        return 0


class PlotTimelineCommand:
    name = "plot timeline"
    help = ("draw the timeline of a long recording (the JSON of 'recognize file --timeline --json') "
            "as a bar of coloured segments to an image")

    def configure(self, p):
        p.add_argument("result", metavar="RESULT.json",
                       help="the output of 'dejavu-cn recognize file MIX --timeline --json' ('-': stdin); "
                            "its last line is drawn")
        _add_figure_options(p, width=12.0, height=3.0)

    def run(self, args, ctx):
        import json
        import sys
        refused = _refused(ctx, args)
        if refused:
            return refused
        try:
            if args.result == "-":
                text = sys.stdin.read()
            else:
                with open(args.result, encoding="utf-8") as f:
                    text = f.read()
            lines = [line for line in text.splitlines() if line.strip()]
            result = json.loads(lines[-1]) if lines else None
        except (OSError, ValueError) as exc:
            ctx.error(f"cannot read {args.result}: {exc}")
            return 1
        if not isinstance(result, dict) or "timeline" not in result:
            why = f"an error: {result['error']}" if isinstance(result, dict) and "error" in result else 'no "timeline"'
            ctx.error(f"{args.result} is not the output of 'recognize file --timeline --json' ({why})")
            return 1
        needed = ("start_seconds", "end_seconds", "song_id", "song_name")
        if not isinstance(result["timeline"], list) or not all(
                isinstance(e, dict) and all(k in e for k in needed) for e in result["timeline"]):
            ctx.error(f"{args.result}: every timeline entry needs {', '.join(needed)}")
            return 1
        from ..plots import plot_timeline
        title = os.path.basename(result["path"]) if result.get("path") else None
        info = plot_timeline(result, args.output, width=args.width, height=args.height, dpi=args.dpi, title=title)
        if ctx.json:
            ctx.emit_json({"output": args.output, **info})
        else:
            ctx.out(f"wrote {args.output} ({info['width_px']}x{info['height_px']} px): {info['entries']} songs")
        return 0


COMMANDS = [PlotFingerprintCommand(), PlotMatchCommand(), PlotTimelineCommand()]
