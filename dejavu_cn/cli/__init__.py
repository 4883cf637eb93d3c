"""The ``dejavu-cn`` command.

Exit codes: 0 success, 1 error (message on stderr), 2 usage. Results go to
stdout, as text or, with ``--json``, as JSON.

Subcommands come from two places: the core's own (``register``, ``list``,
``delete``, ``stats``, ``config``) and plugins that other packages declare
under the entry-point group ``dejavu_cn.plugins`` (each a module with a
``COMMANDS`` list), so the core never imports the packages built on it.
A command is an object with ``name`` (``"recognize file"`` nests under
``recognize``), ``help``, ``configure(parser)`` and ``run(args, ctx) -> int``.
"""
import argparse
import contextlib
import json
import logging
import os
import sys
import traceback
from importlib.metadata import entry_points

from ..config import load_config
from ..errors import ConfigError, DejavuError

log = logging.getLogger(__name__)
PLUGIN_GROUP = "dejavu_cn.plugins"
CONFIG_ENV = "DEJAVU_CN_CONFIG"


class CliContext:
    """What a command gets: the configuration, a lazily opened engine, and
    output helpers."""

    def __init__(self, args, stdout=None, stderr=None):
        self.args = args
        self.stdout = stdout or sys.stdout
        self.stderr = stderr or sys.stderr
        self._config = None
        self._engine = None

    @property
    def config(self):
        if self._config is None:
            path = self.args.config or os.environ.get(CONFIG_ENV)
            if path is None and os.path.isfile("config.json"):
                path = "config.json"
            self._config = load_config(path)
            log.debug("configuration: %s", json.dumps(self._config.redacted()))
        return self._config

    def engine(self):
        if self._engine is None:
            from ..engine import Dejavu
            self._engine = Dejavu(self.config)
        return self._engine

    def close(self):
        if self._engine is not None:
            self._engine.close()

    @property
    def json(self):
        return getattr(self.args, "json", False)

    def out(self, text=""):
        print(text, file=self.stdout, flush=True)

    def emit_json(self, obj):
        print(json.dumps(obj, ensure_ascii=False), file=self.stdout, flush=True)

    def error(self, text):
        print(f"dejavu-cn: {text}", file=self.stderr, flush=True)

    def progress_enabled(self):
        return hasattr(self.stderr, "isatty") and self.stderr.isatty()


def add_json_flag(parser):
    parser.add_argument("--json", action="store_true", help="print results as JSON")


CORE_COMMAND_MODULES = ("register", "library", "plot", "evaluate")


def core_commands():
    """Commands of the core: each module of this package in
    CORE_COMMAND_MODULES that exists has a ``COMMANDS`` list."""
    import importlib
    commands = []
    for name in CORE_COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            continue
        commands.extend(module.COMMANDS)
    return commands


def plugin_commands():
    commands = []
    for ep in entry_points(group=PLUGIN_GROUP):
        try:
            module = ep.load()
        except ImportError as exc:   # an optional part whose dependencies are missing
            log.debug("plugin %s not loaded: %s", ep.name, exc)
            continue
        commands.extend(getattr(module, "COMMANDS", []))
    return commands


def build_parser(commands):
    parser = argparse.ArgumentParser(
        prog="dejavu-cn", description="Audio fingerprinting: register music, recognise clips.")
    parser.add_argument("--config", metavar="FILE",
                        help=f"configuration file (default: ./config.json if present, ${CONFIG_ENV}, "
                             "else built-in SQLite defaults)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    groups = {}
    for command in sorted(commands, key=lambda c: c.name):
        words = command.name.split()
        target = sub
        if len(words) == 2:
            if words[0] not in groups:
                group = sub.add_parser(words[0], help=f"{words[0]} (see subcommands)")
                groups[words[0]] = group.add_subparsers(dest="subcommand", metavar="SOURCE")
                groups[words[0]].required = True
            target = groups[words[0]]
        p = target.add_parser(words[-1], help=command.help, description=command.help)
        command.configure(p)
        p.set_defaults(_command=command)
    return parser


def main(argv=None, *, stdout=None, stderr=None):
    """Run the CLI; returns the exit code (the console script exits with it)."""
    commands = core_commands() + plugin_commands()
    parser = build_parser(commands)
    try:
        with contextlib.redirect_stderr(stderr or sys.stderr), contextlib.redirect_stdout(stdout or sys.stdout):
            args = parser.parse_args(argv)
    except SystemExit as exc:            # usage error (2) or --help (0)
        return exc.code if isinstance(exc.code, int) else 2
    level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=stderr or sys.stderr)
    ctx = CliContext(args, stdout=stdout, stderr=stderr)
    try:
        return int(args._command.run(args, ctx) or 0)
    except ConfigError as exc:
        ctx.error(f"configuration error: {exc}")
        return 1
    except DejavuError as exc:
        ctx.error(f"error: {exc}")
        if args.verbose:
            traceback.print_exc(file=ctx.stderr)
        return 1
    except KeyboardInterrupt:
        ctx.error("interrupted")
        return 1
    except BrokenPipeError:
        return 1
    except Exception as exc:  # the last line of defence: one line, traceback with -v
        ctx.error(f"internal error: {exc!r} (run with -v for details)")
        if args.verbose:
            traceback.print_exc(file=ctx.stderr)
        return 1
    finally:
        ctx.close()


def console_main():
    sys.exit(main())
