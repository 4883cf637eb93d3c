"""The ``dejavu-cn`` command.

Exit codes: 0 success, 1 error (message on stderr), 2 usage, 130
interrupted (Ctrl-C). Results go to stdout, as text or, with ``--json``, as
JSON; a file a command writes is named with ``-o/--output``. :func:`main`
is the one place that turns errors into messages and exit codes.

Subcommands come from two places: the core's own (``register``, ``list``,
``delete``, ``stats``, ``config``, ``failures``...) and plugins that other
packages declare under the entry-point group ``dejavu_cn.plugins`` (each a
module with a ``COMMANDS`` list, see :mod:`dejavu_cn.plugins`), so the core
never imports the packages built on it. A command is an object with
``name`` (``"recognize file"`` nests under ``recognize``), ``help``,
``configure(parser)`` and ``run(args, ctx) -> int``, and optionally
``interrupted_message``. A command's parser is configured only when that
command is used, and command modules import numpy, scipy, Flask... inside
``run``: ``--help`` and ``--version`` stay fast.
"""
import argparse
import json
import logging
import sys

from .. import __version__
from ..config import CONFIG_ENV, default_config_path, load_config
from ..errors import ConfigError, DejavuError, EmptyLibraryError

log = logging.getLogger(__name__)
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


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
            self._config = load_config(self.args.config or default_config_path(),
                                       settings=getattr(self.args, "settings", None) or ())
            log.debug("configuration: %s", json.dumps(self._config.redacted()))
        return self._config

    def engine(self):
        if self._engine is None:
            from ..engine import Dejavu
            self._engine = Dejavu(self.config)
        return self._engine

    def engine_with_songs(self):
        """The engine, for a command that recognises: an empty library is
        an error that says what to do (rather than "no match")."""
        engine = self.engine()
        if engine.list_songs(limit=0)[1] == 0:
            raise EmptyLibraryError()
        return engine

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
        _say(self.stderr, text)

    def progress_enabled(self):
        return hasattr(self.stderr, "isatty") and self.stderr.isatty()


def add_json_flag(parser):
    parser.add_argument("--json", action="store_true", help="print results as JSON")


def add_output_option(parser, *, metavar, help, aliases=(), required=False):
    """The option naming a file or folder a command writes: ``-o/--output``
    in every command. ``aliases`` are older spellings, still accepted but
    not shown."""
    parser.add_argument("-o", "--output", metavar=metavar, help=help, required=required)
    for alias in aliases:
        parser.add_argument(alias, dest="output", metavar=metavar, help=argparse.SUPPRESS)


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
    from ..plugins import plugin_modules
    return [command for module in plugin_modules() for command in getattr(module, "COMMANDS", [])]


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help that shows each option's default, unless its text already says
    it or there is none (flags, options that default to nothing)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if (action.option_strings and action.nargs != 0 and "default" not in text
                and action.default not in (None, False, argparse.SUPPRESS)):
            text += " (default: %(default)s)"
        return text


class _CommandParser(argparse.ArgumentParser):
    """A subcommand's parser, configured (``command.configure``) only when
    it is used: the modules a command needs for its options are imported
    for that command alone."""

    def __init__(self, *args, command=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._command = command

    def configure(self):
        if self._command is not None:
            command, self._command = self._command, None
            command.configure(self)
            self.set_defaults(_command=command)
        return self

    def parse_known_args(self, args=None, namespace=None):
        self.configure()
        return super().parse_known_args(args, namespace)

    def format_help(self):
        self.configure()
        return super().format_help()


def build_parser(commands):
    parser = argparse.ArgumentParser(
        prog="dejavu-cn", description="Audio fingerprinting: register music, recognise clips.",
        formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--config", metavar="FILE",
                        help=f"configuration file (default: ${CONFIG_ENV} if set, else ./config.json if "
                             "present, else built-in defaults: SQLite file dejavu_cn.sqlite3)")
    parser.add_argument("--set", action="append", dest="settings", metavar="SECTION.KEY=VALUE",
                        help="a setting that wins over the file and the environment's DEJAVU_CN_SECTION__KEY "
                             "(repeatable; e.g. --set recognition.threshold=0.5)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    parser.add_argument("--version", action="version", version=f"dejavu-cn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_CommandParser)
    sub.required = True
    groups = {}
    for command in sorted(commands, key=lambda c: c.name):
        words = command.name.split()
        target = sub
        if len(words) == 2:
            if words[0] not in groups:
                group = sub.add_parser(words[0], help=f"{words[0]} (see subcommands)",
                                       formatter_class=DefaultsHelpFormatter)
                groups[words[0]] = group.add_subparsers(dest="subcommand", metavar="SOURCE")
                groups[words[0]].required = True
            target = groups[words[0]]
        target.add_parser(words[-1], help=command.help, description=command.help, formatter_class=DefaultsHelpFormatter,
                          command=command)
    return parser


def command_parsers(parser):
    """Every subcommand's parser, configured: {"recognize file": parser, ...}."""
    found = {}

    def walk(p, prefix):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    words = f"{prefix} {name}".strip()
                    if isinstance(child, _CommandParser):
                        child.configure()
                    if any(isinstance(a, argparse._SubParsersAction) for a in child._actions):
                        walk(child, words)
                    else:
                        found[words] = child
    walk(parser, "")
    return found


def main(argv=None, *, stdout=None, stderr=None):
    """Run the CLI; returns the exit code (the console script exits with it)."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    args = ctx = None
    try:
        parser = build_parser(core_commands() + plugin_commands())
        try:
            saved = sys.stdout, sys.stderr
            sys.stdout, sys.stderr = stdout, stderr
            try:
                args = parser.parse_args(argv)
            finally:
                sys.stdout, sys.stderr = saved
        except SystemExit as exc:            # usage error (2), --help or --version (0)
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        level = logging.WARNING if args.verbose == 0 else logging.INFO if args.verbose == 1 else logging.DEBUG
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=stderr)
        ctx = CliContext(args, stdout=stdout, stderr=stderr)
        _ = ctx.config           # read and checked at start-up, whether the command needs it or not
        return int(args._command.run(args, ctx) or EXIT_OK)
    except KeyboardInterrupt:
        message = getattr(getattr(args, "_command", None), "interrupted_message", "interrupted")
        _say(stderr, message, newline_first=True)
        return EXIT_INTERRUPTED
    except ConfigError as exc:
        _say(stderr, f"configuration error: {exc}")
        return EXIT_ERROR
    except EmptyLibraryError as exc:
        _say(stderr, str(exc))
        return EXIT_ERROR
    except DejavuError as exc:
        _say(stderr, f"error: {exc}")
        _traceback_if_verbose(args, stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as exc:  # the last line of defence: one line, traceback with -v
        _say(stderr, f"internal error: {exc!r} (run with -v for details)")
        _traceback_if_verbose(args, stderr)
        return EXIT_ERROR
    finally:
        if ctx is not None:
            try:
                ctx.close()
            except KeyboardInterrupt:
                pass


def _traceback_if_verbose(args, stream):
    if args is not None and args.verbose:
        import traceback
        traceback.print_exc(file=stream)


def _say(stream, text, *, newline_first=False):
    """One line on stderr; after Ctrl-C on a terminal, on a line of its own
    (the terminal shows ^C where the cursor was)."""
    if newline_first and getattr(stream, "isatty", lambda: False)():
        stream.write("\r\x1b[K")
    print(f"dejavu-cn: {text}", file=stream, flush=True)


def console_main():
    try:
        code = main()
    except KeyboardInterrupt:           # a second Ctrl-C while the first was handled
        code = EXIT_INTERRUPTED
    sys.exit(code)
