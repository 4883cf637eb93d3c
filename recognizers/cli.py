"""``dejavu-cn recognize file PATH... [--json] [--top N] [--timeline]``

With ``--timeline`` each file is scanned whole, as a stream, and the songs
found in it are listed with where they play (:mod:`recognizers.timeline`).
"""
from dejavu_cn.cli import add_json_flag
from dejavu_cn.formatting import format_duration
from dejavu_cn.errors import AudioDecodeError

from .file import FileRecognizer


def describe_candidate(c):
    """A song, where the clip sits in it and how sure: one line."""
    how = " (from the band-energy sketch)" if c.get("decided_by") == "sketch" else ""
    rate = c.get("speed_factor") or c.get("tempo_factor")
    if rate:
        how += f", played {rate:.3g}x {'fast' if rate > 1 else 'slow'}"
    elif "pitch_semitones" in c:
        semitones = c["pitch_semitones"]
        how += f", pitched {abs(semitones):.2g} semitone{'s' if abs(semitones) >= 1.05 else ''} {'up' if semitones > 0 else 'down'}"
    return (f"{c['song_name']} (song {c['song_id']}) at {format_duration(c['offset_seconds'])}, "
            f"confidence {c['confidence']:.2f}{how}")


def describe_match(result):
    """One human line for a recognition result."""
    m = result.get("match")
    if m is None:
        best = result["candidates"][0]["confidence"] if result.get("candidates") else 0.0
        return f"no match (best confidence {best:.2f})"
    return describe_candidate(m)


def _timeline_section():
    from .timeline import TimelineParams
    return TimelineParams


CONFIG_SECTIONS = {"timeline": _timeline_section}      # see dejavu_cn.plugins


def _clock(seconds):
    """m:ss.s (or h:mm:ss.s) of a recording time."""
    return format_duration(seconds, 1)


def timeline_lines(result):
    """The human table of a timeline (a list of lines)."""
    rows = [(f"{_clock(e['start_seconds'])}-{_clock(e['end_seconds'])}", f"{e['song_name']} (song {e['song_id']})",
             format_duration(e["offset_seconds"]), f"{e['confidence']:.2f}") for e in result["timeline"]]
    header = ("time", "song", "offset", "confidence")
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header] + rows]
    if not rows:
        lines.append(f"no registered song found in {format_duration(result['duration_seconds'])}")
    unknown = sum(g["end_seconds"] - g["start_seconds"] for g in result["gaps"])
    lines.append(f"{len(rows)} songs; {format_duration(unknown)} of unknown audio in {len(result['gaps'])} gaps")
    return lines


class RecognizeFileCommand:
    name = "recognize file"
    help = "recognise audio files"

    def configure(self, p):
        p.add_argument("paths", nargs="+", metavar="PATH")
        p.add_argument("--top", type=int, default=None, metavar="N",
                       help="also list the N best candidates (default: recognition.top in the JSON, none in text)")
        p.add_argument("--changes", action="store_true",
                       help="also find copies played at another speed (0.85-1.3x) or pitch (+-1.3 semitones): "
                            "recognition.speed_search; a clip that matches nothing takes about 0.1 s longer")
        p.add_argument("--timeline", action="store_true",
                       help="scan each whole file (a mix, a radio hour) and list which songs play where "
                            "(settings: the timeline section)")
        add_json_flag(p)

    def run(self, args, ctx):
        if args.top is not None and args.top < 1:
            ctx.error("--top must be >= 1")
            return 2
        if args.timeline:
            return self.run_timeline(args, ctx)
        recognizer = FileRecognizer(ctx.engine_with_songs())
        failures = unsearched = 0
        for path in args.paths:
            try:
                result = recognizer.recognize_file(path, top=args.top, speed_search=True if args.changes else None)
            except AudioDecodeError as exc:
                failures += 1
                ctx.error(str(exc))
                if ctx.json:
                    ctx.emit_json({"path": path, "match": None, "candidates": [], "error": str(exc)})
                continue
            if ctx.json:
                ctx.emit_json(result)
            else:
                ctx.out(f"{path}: {describe_match(result)}")
                if args.top is not None:
                    for rank, c in enumerate(result["candidates"], 1):
                        ctx.out(f"  {rank}. {describe_candidate(c)}")
            rec = ctx.config.recognition
            unsearched += result["match"] is None and not (args.changes or rec.speed_search) and \
                result["query_seconds"] >= rec.speed_min_seconds
        if unsearched and not ctx.json:
            ctx.error("hint: a copy played at another speed or pitch (a sped-up repost) is found with --changes")
        return 1 if failures else 0

    def run_timeline(self, args, ctx):
        from .timeline import timeline_of_file
        engine = ctx.engine_with_songs()
        failures = 0
        for path in args.paths:
            try:
                result = timeline_of_file(engine, path)
            except AudioDecodeError as exc:
                failures += 1
                ctx.error(str(exc))
                if ctx.json:
                    ctx.emit_json({"path": path, "timeline": [], "gaps": [], "error": str(exc)})
                continue
            if ctx.json:
                ctx.emit_json(result)
            else:
                if len(args.paths) > 1:
                    ctx.out(f"{path}:")
                for line in timeline_lines(result):
                    ctx.out(line)
        return 1 if failures else 0


COMMANDS = [RecognizeFileCommand()]
