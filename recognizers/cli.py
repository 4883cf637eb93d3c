"""``dejavu-cn recognize file PATH... [--json] [--top N]``"""
from dejavu_cn.cli import add_json_flag
from dejavu_cn.formatting import format_duration
from dejavu_cn.errors import AudioDecodeError

from .file import FileRecognizer


def describe_candidate(c):
    """A song, where the clip sits in it and how sure: one line."""
    how = " (from the band-energy sketch)" if c.get("decided_by") == "sketch" else ""
    return (f"{c['song_name']} (song {c['song_id']}) at {format_duration(c['offset_seconds'])}, "
            f"confidence {c['confidence']:.2f}{how}")


def describe_match(result):
    """One human line for a recognition result."""
    m = result.get("match")
    if m is None:
        best = result["candidates"][0]["confidence"] if result.get("candidates") else 0.0
        return f"no match (best confidence {best:.2f})"
    return describe_candidate(m)


class RecognizeFileCommand:
    name = "recognize file"
    help = "recognise audio files"

    def configure(self, p):
        p.add_argument("paths", nargs="+", metavar="PATH")
        p.add_argument("--top", type=int, default=None, metavar="N",
                       help="also list the N best candidates (default: recognition.top in the JSON, none in text)")
        add_json_flag(p)

    def run(self, args, ctx):
        if args.top is not None and args.top < 1:
            ctx.error("--top must be >= 1")
            return 2
        recognizer = FileRecognizer(ctx.engine_with_songs())
        failures = 0
        for path in args.paths:
            try:
                result = recognizer.recognize_file(path, top=args.top)
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
        return 1 if failures else 0


COMMANDS = [RecognizeFileCommand()]
