"""``dejavu-cn register PATH... [--jobs N] [--ext EXT]... [--retry-failed] [--link-copies] [--json]``

With ``--link-copies`` (or ``register.link_copies``), a file that is a copy
of a registered song is stored as a link to it, without fingerprints, and a
file that covers a registered song becomes its original; each such file is
said on stderr (see :func:`dejavu_cn.register.judge_copy`).

On a terminal, a progress bar over the bytes to read runs on stderr; each
failure is printed once, above it, as it happens, and the bar ends at 100 %
with the counts. Files that failed in an earlier run and are unchanged are
skipped (one line says how many; ``dejavu-cn failures`` lists them) and do
not make the exit code 1; ``--retry-failed`` tries them again.
"""
import argparse
import contextlib
import os

from . import add_json_flag


class RegisterCommand:
    name = "register"
    help = "fingerprint files and folders into the database (resumable)"
    interrupted_message = "interrupted; rerun to resume"

    def configure(self, p):
        p.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (walked recursively)")
        p.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                       help="worker processes (default: register.jobs, 0 = all cores)")
        p.add_argument("--ext", action="append", metavar="EXT",
                       help="file extension to take from folders (repeatable; default: register.extensions)")
        p.add_argument("--retry-failed", action="store_true",
                       help="try again the files that failed before, even if unchanged")
        p.add_argument("--link-copies", action=argparse.BooleanOptionalAction, default=None,
                       help="store copies of registered songs (other encodings, excerpts, noisy reposts) as links "
                            "to them instead of fingerprinting them again (default: register.link_copies)")
        add_json_flag(p)

    def run(self, args, ctx):
        from ..register import DUPLICATE, FAILED, FAILED_BEFORE, LINKED, REGISTERED, SKIPPED
        if args.jobs is not None and args.jobs < 0:
            ctx.error("--jobs must be >= 0")
            return 2
        engine = ctx.engine()
        extensions = args.ext or ctx.config.register.extensions
        progress = _Progress(ctx, enabled=ctx.progress_enabled())
        with progress.logging():
            try:
                report = engine.register(args.paths, extensions=extensions, jobs=args.jobs,
                                         retry_failed=args.retry_failed, on_start=progress.start,
                                         on_file=progress.update, link_copies=args.link_copies)
            except BaseException:
                progress.close()
                raise
            data = report.to_dict()
            c = data["counts"]
            progress.finish(c, complete=not report.interrupted)
        if report.interrupted:
            raise KeyboardInterrupt       # main() says so and exits 130
        if not report.outcomes:
            ctx.error(no_audio_message(args.paths, extensions))
            return 1
        if ctx.json:
            ctx.emit_json(data)
        else:
            speed = f", {data['speed_x_realtime']}x realtime" if data["speed_x_realtime"] else ""
            before = (f"; skipped {c[FAILED_BEFORE]} that failed before and are unchanged "
                      "('dejavu-cn failures' lists them, --retry-failed tries them again)" if c[FAILED_BEFORE] else "")
            linked = f"linked {c[LINKED]} as copies, " if c[LINKED] else ""
            ctx.out(f"registered {c[REGISTERED]}, {linked}already registered {c[SKIPPED]}, duplicates {c[DUPLICATE]}, "
                    f"failed {c[FAILED]} ({data['audio_seconds'] / 3600:.2f} h of audio in "
                    f"{data['elapsed_seconds']:.1f} s{speed}){before}")
        return 1 if report.failed else 0


def no_audio_message(paths, extensions):
    """What to say when the folders given hold no file to register."""
    looked = ", ".join("." + e.lstrip(".") for e in extensions)
    return f"no audio files found in {', '.join(map(str, paths))} (looked for {looked})"


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class _Progress:
    """Failures as they happen (once each) and, on a terminal, a tqdm bar
    over the bytes to read, with the counts; messages go above the bar."""

    def __init__(self, ctx, *, enabled):
        self.ctx = ctx
        self.enabled = enabled
        self.bar = None
        self.counts = {"registered": 0, "linked": 0, "known": 0, "failed": 0}

    def logging(self):
        """While the bar runs, log records go above it too."""
        if not self.enabled:
            return contextlib.nullcontext()
        from tqdm.contrib.logging import logging_redirect_tqdm
        return logging_redirect_tqdm()

    def start(self, files, total_bytes):
        if not self.enabled or files == 0:
            return
        from tqdm import tqdm
        self.bar = tqdm(total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, file=self.ctx.stderr,
                        desc=f"registering {files} file{'s' if files != 1 else ''}", dynamic_ncols=True, smoothing=0.05)

    def update(self, outcome):
        from ..register import DUPLICATE, FAILED, LINKED, REGISTERED
        if outcome.status == FAILED:
            self.write(f"failed: {outcome.path}: {outcome.message}")
        elif outcome.status in (LINKED, REGISTERED) and outcome.message:
            self.write(f"{outcome.path}: {outcome.message}")
        key = {REGISTERED: "registered", LINKED: "linked", DUPLICATE: "known", FAILED: "failed"}.get(outcome.status)
        if key is None:
            return
        self.counts[key] += 1
        if self.bar is not None:
            # a failed file was read too (its size is not in its outcome)
            self.bar.update(outcome.size or (_size(outcome.path) if outcome.status == FAILED else 0))
            self.bar.set_postfix(self.counts, refresh=False)

    def write(self, line):
        if self.bar is not None:
            self.bar.write(f"dejavu-cn: {line}", file=self.ctx.stderr)
        else:
            self.ctx.error(line)

    def close(self):
        """Stop the bar where it is (an error or Ctrl-C)."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def finish(self, counts, *, complete):
        """The bar's last state: 100 % and the run's counts (already known:
        registered before, duplicates, failed before)."""
        if self.bar is None:
            return
        from ..register import DUPLICATE, FAILED, FAILED_BEFORE, LINKED, REGISTERED, SKIPPED
        if complete:
            self.bar.n = self.bar.total
        self.bar.set_postfix(registered=counts[REGISTERED], linked=counts[LINKED],
                             known=counts[SKIPPED] + counts[DUPLICATE] + counts[FAILED_BEFORE],
                             failed=counts[FAILED], refresh=False)
        self.bar.close()
        self.bar = None


COMMANDS = [RegisterCommand()]
