"""``dejavu-cn segment RECORDING [--out DIR] [--json]``: sentences of a recording."""
import os

from dejavu_cn.cli import add_json_flag, add_output_option
from dejavu_cn.formatting import format_duration
from dejavu_cn.errors import RecognitionError


def _segment_section():
    from .silence import SegmentParams
    return SegmentParams


CONFIG_SECTIONS = {"segment": _segment_section}      # see dejavu_cn.plugins


def add_segment_options(p):
    """Segmentation options shared by ``segment`` and ``compare``."""
    from .silence import SegmentParams
    d = SegmentParams()
    g = p.add_argument_group("segmentation")
    g.add_argument("--min-silence-ms", type=float, default=None, metavar="MS",
                   help=f"shortest pause that ends a sentence (default {d.min_silence_ms:g} ms)")
    g.add_argument("--silence-thresh-db", type=float, default=None, metavar="DB",
                   help=f"silence threshold, dB below the recording's loudness (default {d.silence_thresh_db:g})")
    g.add_argument("--absolute", action="store_true",
                   help="read --silence-thresh-db as absolute dBFS (pydub style) instead of relative")
    g.add_argument("--padding-ms", type=float, default=None, metavar="MS",
                   help=f"context kept around each sentence (default {d.padding_ms:g} ms)")
    g.add_argument("--min-sentence-ms", type=float, default=None, metavar="MS",
                   help=f"shorter sounds are dropped (default {d.min_sentence_ms:g} ms)")
    g.add_argument("--max-sentence-ms", type=float, default=None, metavar="MS",
                   help=f"longer sentences are split at their quietest point (default {d.max_sentence_ms:g} ms)")


def segment_params_from_args(args, base=None):
    """A :class:`SegmentParams` dict from the options (``base``: defaults, e.g.
    the configuration's ``segment`` section)."""
    from .silence import SegmentParams
    values = base.to_dict() if base is not None else {}
    for option, key in (("min_silence_ms", "min_silence_ms"), ("silence_thresh_db", "silence_thresh_db"),
                        ("padding_ms", "padding_ms"), ("min_sentence_ms", "min_sentence_ms"),
                        ("max_sentence_ms", "max_sentence_ms")):
        value = getattr(args, option, None)
        if value is not None:
            values[key] = value
    if getattr(args, "absolute", False):
        values["relative"] = False
    return SegmentParams.from_dict(values)


class SegmentCommand:
    name = "segment"
    help = "split a recording into sentences at its silences"

    def configure(self, p):
        p.add_argument("recording", metavar="RECORDING")
        add_output_option(p, metavar="DIR", help="write each sentence as DIR/sentence-NNN.wav", aliases=["--out"])
        add_segment_options(p)
        add_json_flag(p)

    def run(self, args, ctx):
        from dejavu_cn.audio import decode_file

        from .export import export_sentences
        from .silence import SEGMENT_RATE, find_sentences
        params = segment_params_from_args(args, ctx.config.section("segment"))
        samples = decode_file(args.recording, target_rate=SEGMENT_RATE)   # analysed and written at this rate
        found = find_sentences(samples, SEGMENT_RATE, params)             # the sentences `compare` judges
        if len(found) == 0:
            raise RecognitionError(f"no sentence found in {args.recording} (silent, or below the silence threshold)")
        sentences = found.to_list()
        files = []
        if args.output:
            files = export_sentences(samples, SEGMENT_RATE, found.samples(SEGMENT_RATE)[1], args.output)
            for sentence, path in zip(sentences, files):
                sentence["file"] = os.path.abspath(path)
        if ctx.json:
            ctx.emit_json({"recording": args.recording, "duration": round(samples.size / SEGMENT_RATE, 3),
                           "sentences": sentences, "parameters": params.to_dict()})
            return 0
        ctx.out(f"{args.recording}: {len(sentences)} sentences")
        for s in sentences:
            line = (f"{s['index']:4d}  {format_duration(s['start'])} - {format_duration(s['end'])}  "
                    f"({s['duration']:.2f} s)")
            if "file" in s:
                line += f"  {s['file']}"
            ctx.out(line)
        return 0


COMMANDS = [SegmentCommand()]
