"""``dejavu-cn recognize mic``, ``dejavu-cn listen`` and ``dejavu-cn devices``.

``recognize mic [--seconds MAX] [--device D] [--json]`` listens until the
answer is safe (or gives up after MAX seconds); with ``--json`` it prints one
object shaped like a line of ``recognize file --json`` plus
``seconds_listened``. ``listen`` monitors continuously and prints an event
each time a song starts or ends; Ctrl-C stops it. ``devices`` lists the
input devices.
"""
import datetime

from dejavu_cn.cli import add_json_flag
from dejavu_cn.cli.library import format_duration


def _device_arg(p):
    p.add_argument("--device", metavar="D", default=None,
                   help="input device: index or name (see 'dejavu-cn devices'); default: the system's default input")


def _positive(text):
    import argparse
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def _clock(seconds):
    return datetime.datetime.fromtimestamp(seconds).strftime("%H:%M:%S")


class RecognizeMicCommand:
    name = "recognize mic"
    help = "recognise what the microphone hears (stops as soon as it is sure)"

    def configure(self, p):
        from .streaming import MAX_SECONDS
        p.add_argument("--seconds", type=_positive, default=MAX_SECONDS, metavar="MAX",
                       help="give up after this many seconds")
        _device_arg(p)
        add_json_flag(p)

    def run(self, args, ctx):
        from .microphone import MicrophoneRecognizer
        recognizer = MicrophoneRecognizer(ctx.engine(), device=args.device, quiet=True)
        try:
            result = recognizer.recognize(max_seconds=args.seconds)
        except KeyboardInterrupt:
            ctx.error("interrupted")
            return 1
        if ctx.json:
            ctx.emit_json(result)
            return 0
        m = result["match"]
        if m is None:
            ctx.out(f"no match after {result['seconds_listened']:.1f} s")
        else:
            ctx.out(f"{m['song_name']} (song {m['song_id']}) at {format_duration(m['offset_seconds'])}, "
                    f"confidence {m['confidence']:.2f}, after {result['seconds_listened']:.1f} s of audio")
        return 0


class ListenCommand:
    name = "listen"
    help = "monitor continuously: report each song when it starts and ends (Ctrl-C stops)"

    def configure(self, p):
        _device_arg(p)
        p.add_argument("--seconds", type=_positive, default=None, metavar="MAX",
                       help="stop after this many seconds (default: until Ctrl-C)")
        add_json_flag(p)

    def run(self, args, ctx):
        from .microphone import MicrophoneRecognizer
        recognizer = MicrophoneRecognizer(ctx.engine(), device=args.device, quiet=True)
        if not ctx.json:
            ctx.out("listening (Ctrl-C to stop)")
        try:
            for event in recognizer.listen(max_seconds=args.seconds):
                if ctx.json:
                    ctx.emit_json(event)
                elif event["event"] == "song":
                    m = event["match"]
                    ctx.out(f"[{_clock(event['wall_time'])}] {m['song_name']} (song {m['song_id']}) "
                            f"at {format_duration(m['offset_seconds'])}, confidence {m['confidence']:.2f}")
                else:
                    ctx.out(f"[{_clock(event['wall_time'])}] ended: {event['song_name']} "
                            f"(song {event['song_id']}), last heard at {format_duration(event['offset_seconds'])}")
        except KeyboardInterrupt:
            if not ctx.json:
                ctx.out("stopped")
        return 0


class DevicesCommand:
    name = "devices"
    help = "list audio input devices"

    def configure(self, p):
        add_json_flag(p)

    def run(self, args, ctx):
        from .microphone import list_devices
        devices = list_devices()
        if ctx.json:
            ctx.emit_json(devices)
            return 0
        if not devices:
            ctx.out("no input devices")
            return 0
        ctx.out(f"{'index':>5}  {'rate':>6}  {'ch':>3}  name")
        for d in devices:
            mark = "  (default)" if d["default"] else ""
            ctx.out(f"{d['index']:>5}  {d['default_rate']:>6}  {d['channels']:>3}  {d['name']} [{d['host_api']}]{mark}")
        return 0


COMMANDS = [RecognizeMicCommand(), ListenCommand(), DevicesCommand()]
