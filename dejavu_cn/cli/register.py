"""``dejavu-cn register PATH... [--jobs N] [--ext EXT]...``"""
from ..register import DUPLICATE, FAILED, REGISTERED, SKIPPED
from . import add_json_flag


class RegisterCommand:
    name = "register"
    help = "fingerprint files and folders into the database (resumable)"

    def configure(self, p):
        p.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (walked recursively)")
        p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                       help="worker processes (default: register.jobs, 0 = all cores)")
        p.add_argument("--ext", action="append", metavar="EXT",
                       help="file extension to take from folders (repeatable; default: register.extensions)")
        add_json_flag(p)

    def run(self, args, ctx):
        if args.jobs is not None and args.jobs < 0:
            ctx.error("--jobs must be >= 0")
            return 2
        engine = ctx.engine()
        bar = _Progress(ctx) if ctx.progress_enabled() else None
        report = engine.register(args.paths, extensions=args.ext, jobs=args.jobs,
                                 on_start=bar.start if bar else None, on_file=bar.update if bar else None)
        if bar:
            bar.close()
        data = report.to_dict()
        if ctx.json:
            ctx.emit_json(data)
        else:
            c = data["counts"]
            speed = f", {data['speed_x_realtime']}x realtime" if data["speed_x_realtime"] else ""
            ctx.out(f"registered {c[REGISTERED]}, already registered {c[SKIPPED]}, duplicates {c[DUPLICATE]}, "
                    f"failed {c[FAILED]} ({data['audio_seconds'] / 3600:.2f} h of audio in "
                    f"{data['elapsed_seconds']:.1f} s{speed})")
        for outcome in report.failed:
            ctx.error(f"failed: {outcome.path}: {outcome.message}")
        if report.interrupted:
            ctx.error("interrupted: completed songs are saved; run the same command again to resume")
            return 1
        return 1 if report.failed else 0


class _Progress:
    """A tqdm bar over the bytes to read, with counts."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.bar = None
        self.counts = {REGISTERED: 0, DUPLICATE: 0, FAILED: 0}

    def start(self, files, total_bytes):
        from tqdm import tqdm
        self.bar = tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, file=self.ctx.stderr,
                        desc=f"registering {files} files", dynamic_ncols=True, smoothing=0.05)

    def update(self, outcome):
        if self.bar is None or outcome.status == SKIPPED:
            return
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        self.bar.update(outcome.size)
        self.bar.set_postfix(ok=self.counts[REGISTERED], dup=self.counts[DUPLICATE], failed=self.counts[FAILED],
                             refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()


COMMANDS = [RegisterCommand()]
