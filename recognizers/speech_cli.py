"""``dejavu-cn compare RECORDING --original ORIGINAL [--json] [--plot FILE.png]``"""
from dejavu_cn.cli import add_json_flag, add_output_option
from dejavu_cn.formatting import format_duration
from dejavu_cn.errors import ParameterError
from segmenter.cli import add_segment_options, segment_params_from_args



def _speech_section():
    from .speech.params import SpeechParams          # numpy-free: read at every command's start
    return SpeechParams


CONFIG_SECTIONS = {"speech": _speech_section}      # see dejavu_cn.plugins
VERDICT_WORDS = {"same": "same recording", "similar": "similar", "not_found": "not found"}


def describe_sentence(s):
    """One human line for a sentence of a comparison."""
    head = f"{s['index']:4d}  {format_duration(s['start'])} - {format_duration(s['end'])}  "
    method = s.get("method_label") or s["method"]
    if s["verdict"] == "not_found":
        nearest = s.get("nearest")
        if not nearest:
            return head + f"not found (best similarity {s['similarity']:.2f})"
        where = f"original {format_duration(nearest['original_start'])} - {format_duration(nearest['original_end'])}"
        if nearest.get("original_index") is not None:
            where += f" (sentence {nearest['original_index']})"
        return head + (f"not found; nearest: {where}, similarity {nearest['similarity']:.2f}, "
                       f"distance {nearest['distance']:.2f}")
    return (head + f"{VERDICT_WORDS[s['verdict']]:<14} original {format_duration(s['original_start'])} - "
            f"{format_duration(s['original_end'])}  similarity {s['similarity']:.2f} ({method})")


class CompareCommand:
    name = "compare"
    help = "compare a recording with an original, sentence by sentence"

    def configure(self, p):
        p.add_argument("recording", metavar="RECORDING")
        p.add_argument("--original", required=True, metavar="ORIGINAL", help="the original recording")
        add_output_option(p, metavar="FILE.png", help="draw both timelines with matched sentences joined (PNG)",
                          aliases=["--plot"])
        add_segment_options(p)
        add_json_flag(p)

    def run(self, args, ctx):
        from .speech import compare_files, plot_timeline
        if args.output and not args.output.lower().endswith(".png"):
            raise ParameterError(f"-o/--output writes PNG: give a file name ending in .png, not {args.output}")
        config = ctx.config
        params = segment_params_from_args(args, config.section("segment"))
        result = compare_files(args.recording, args.original, config=config, segment_params=params)
        if args.output:
            try:
                plot_timeline(result, args.output)
            except OSError as exc:
                raise ParameterError(f"cannot write {args.output}: {exc.strerror or exc}") from None
            result["plot"] = args.output
        if ctx.json:
            ctx.emit_json(result)
            return 0
        c = result["counts"]
        ctx.out(f"{args.recording} against {args.original}: {len(result['sentences'])} sentences, "
                f"{c['same']} same, {c['similar']} similar, {c['not_found']} not found")
        for s in result["sentences"]:
            ctx.out(describe_sentence(s))
        if result["uncovered"]:
            ctx.out(f"original sentences not covered ({len(result['uncovered'])}):")
            for u in result["uncovered"]:
                ctx.out(f"{u['index']:4d}  {format_duration(u['start'])} - {format_duration(u['end'])}")
        else:
            ctx.out("every sentence of the original is covered")
        if args.output:
            ctx.out(f"plot written to {args.output}")
        return 0


COMMANDS = [CompareCommand()]
