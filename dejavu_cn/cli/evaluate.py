"""``dejavu-cn evaluate FOLDER``: measure recognition on your own music.

Registers the folder minus a held-out share into a temporary SQLite database
(never the configured one; ``--database PATH`` names a file to use instead),
recognises seeded random excerpts under each degradation and prints the
report of :func:`dejavu_cn.evaluate.evaluate` (``--json`` for JSON,
``-o/--output`` for a chart of accuracy against clip length). The configuration's
fingerprint and recognition parameters are the ones measured.
"""
import os

from ..config import Config
from . import add_json_flag, add_output_option
from .register import no_audio_message

DEFAULT_LENGTHS = "1,2,3,5,10"


def _float_list(text):
    values = [float(v) for v in text.split(",") if v.strip()]
    if not values or any(v <= 0 for v in values):
        raise ValueError(text)
    return values


_float_list.__name__ = "comma-separated list of positive numbers"


class EvaluateCommand:
    name = "evaluate"
    help = "measure recognition accuracy on a folder of your own music (temporary database)"

    def configure(self, p):
        from ..degrade import CHANGE_CONDITIONS, DEFAULT_CONDITIONS
        p.add_argument("folder", metavar="FOLDER", help="folder of audio files (walked recursively)")
        p.add_argument("--clips", type=int, default=20, metavar="N",
                       help="clips of registered music per condition and length (default 20)")
        p.add_argument("--unknown-clips", type=int, default=10, metavar="N",
                       help="clips of held-out music per condition and length (default 10)")
        p.add_argument("--lengths", type=_float_list, default=_float_list(DEFAULT_LENGTHS), metavar="S,S,...",
                       help=f"clip lengths in seconds (default {DEFAULT_LENGTHS})")
        p.add_argument("--conditions", default=",".join(DEFAULT_CONDITIONS), metavar="NAME,...",
                       help=f"degradations, from {', '.join(DEFAULT_CONDITIONS)} (the default) and the copies "
                            f"played at another speed, tempo or pitch: {', '.join(CHANGE_CONDITIONS)} "
                            "(\"changes\" names them all)")
        p.add_argument("--changes", action="store_true",
                       help="recognise with the speed search on (recognition.speed_search; as recognize file "
                            "--changes): what the speed and pitch conditions measure")
        p.add_argument("--unknown", metavar="FOLDER", action="append", default=[],
                       help="audio you know is not in FOLDER (walked recursively; repeatable): never registered, "
                            "its clips are unknown clips; the report gives the false-positive rate and a suggested "
                            "threshold")
        p.add_argument("--holdout", type=float, default=0.1, metavar="SHARE",
                       help="share of the files held out as unknown music, 0 to 0.5 (default 0.1: every 10th)")
        p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the clip plan and noise (default 0)")
        p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                       help="registration worker processes (default: register.jobs, 0 = all cores)")
        p.add_argument("--no-shared", action="store_true",
                       help="skip the search for tracks that share audio (faster; such clips then count as wrong)")
        add_output_option(p, metavar="OUT.png", help="also draw accuracy against clip length to this image "
                          "(.png, .jpg, .svg or .pdf)",
                          aliases=["--plot"])
        p.add_argument("--database", metavar="PATH",
                       help="SQLite file to register into instead of a temporary one (kept afterwards)")
        p.add_argument("--work-dir", metavar="DIR",
                       help="keep the generated clips in DIR/clips (default: a temporary folder, removed)")
        add_json_flag(p)

    def run(self, args, ctx):
        from ..degrade import CHANGE_CONDITIONS, CONDITIONS
        from ..register import collect_files
        conditions = []
        for name in (c.strip() for c in args.conditions.split(",")):
            conditions += list(CHANGE_CONDITIONS) if name == "changes" else [name] if name else []
        unknown = [c for c in conditions if c not in CONDITIONS]
        problems = []
        if not conditions or unknown:
            problems.append(f"unknown condition(s) {', '.join(unknown) or '(none given)'}; "
                            f"choose from {', '.join(CONDITIONS)}")
        if args.clips < 0 or args.unknown_clips < 0 or args.clips + args.unknown_clips == 0:
            problems.append("--clips and --unknown-clips must be >= 0, and not both 0")
        if not 0.0 <= args.holdout <= 0.5:
            problems.append("--holdout must be between 0 and 0.5")
        if args.jobs is not None and args.jobs < 0:
            problems.append("--jobs must be >= 0")
        if problems:
            for problem in problems:
                ctx.error(problem)
            return 2
        searched = args.changes or ctx.config.recognition.speed_search
        searchable = {c for c in CHANGE_CONDITIONS if not c.startswith("tempo")}      # tempo: the index finds it
        if not searched and searchable.intersection(conditions):
            ctx.error("hint: copies played at another speed or pitch are measured without the speed search; "
                      "add --changes to measure it")
        if not os.path.isdir(args.folder):
            ctx.error(f"{args.folder} is not a folder")
            return 1
        for target in filter(None, (args.output, args.database)):
            folder = os.path.dirname(os.path.abspath(target))
            if not os.path.isdir(folder):
                ctx.error(f"cannot write {target}: folder {folder} does not exist")
                return 1
        if args.output:
            from ..errors import ParameterError
            from ..plots import PLOTS_MISSING, image_format, plots_available
            if not plots_available():
                ctx.error(f"-o/--output: {PLOTS_MISSING}")
                return 1
            try:
                image_format(args.output)         # refused now, not after the whole evaluation
            except ParameterError as exc:
                ctx.error(str(exc))
                return 2
        missing = [f for f in args.unknown if not os.path.isdir(f)]
        if missing:
            ctx.error(f"--unknown: {missing[0]} is not a folder")
            return 1
        tracks, _ = collect_files([args.folder], ctx.config.register.extensions)
        if not tracks:
            ctx.error(no_audio_message([args.folder], ctx.config.register.extensions))
            return 1
        outside = []
        if args.unknown:
            outside, _ = collect_files(args.unknown, ctx.config.register.extensions)
            if not outside:
                ctx.error(no_audio_message(args.unknown, ctx.config.register.extensions))
                return 1
        import tempfile
        with tempfile.TemporaryDirectory(prefix="dejavu-cn-evaluate-") as tmp:
            report = self._evaluate(args, ctx, tracks, outside, conditions, tmp)
        if args.output:
            from ..plots import plot_accuracy
            plot_accuracy(report, args.output, title=os.path.basename(os.path.abspath(args.folder)))
        if ctx.json:
            ctx.emit_json(report)
        else:
            from ..evaluate import format_report
            ctx.out(format_report(report))
            if args.output:
                ctx.out(f"\nwrote {args.output}")
        return 0

    def _evaluate(self, args, ctx, tracks, outside, conditions, tmp):
        from ..engine import Dejavu
        from ..evaluate import evaluate
        settings = ctx.config.to_dict()
        settings["database_type"] = "sqlite"
        if args.changes:
            settings.setdefault("recognition", {})["speed_search"] = True
        settings["database"] = {"path": os.path.abspath(args.database) if args.database
                                else os.path.join(tmp, "evaluate.sqlite3")}
        config = Config.from_dict(settings)
        work_dir = args.work_dir or tmp
        bars = _Bars(ctx) if ctx.progress_enabled() else None
        try:
            with Dejavu(config) as engine:
                return evaluate(engine, tracks, work_dir=work_dir, lengths=args.lengths, conditions=conditions,
                                clips=args.clips, unknown_clips=args.unknown_clips, holdout=args.holdout,
                                seed=args.seed, jobs=args.jobs, detect_shared=not args.no_shared,
                                on_progress=bars.update if bars else None, unknown_tracks=outside)
        finally:
            if bars:
                bars.close()


class _Bars:
    """One tqdm bar per evaluation stage, on stderr."""

    LABELS = {"reading": ("reading tracks", "track"), "registering": ("registering", "file"),
              "shared": ("finding shared audio", "track"), "making": ("making clips", "clip"),
              "clips": ("recognising clips", "clip")}

    def __init__(self, ctx):
        self.ctx = ctx
        self.stage = None
        self.bar = None

    def update(self, stage, done, total):
        if stage != self.stage:
            self.close()
            from tqdm import tqdm
            desc, unit = self.LABELS.get(stage, (stage, "it"))
            self.bar = tqdm(total=total, desc=desc, unit=unit, file=self.ctx.stderr, dynamic_ncols=True,
                            smoothing=0.05)
            self.stage = stage
        if self.bar.total != total:
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            self.stage = None


COMMANDS = [EvaluateCommand()]
