"""``dejavu-cn recognize mic``, ``dejavu-cn listen`` and ``dejavu-cn devices``.

``recognize mic [--seconds MAX] [--device D] [--json]`` listens until the
answer is safe (or gives up after MAX seconds); with ``--json`` it prints one
object shaped like a line of ``recognize file --json`` plus
``seconds_listened``. ``listen`` monitors continuously and prints an event
each time a song starts or ends; Ctrl-C stops it (exit code 130). On a
terminal both show a live line while listening (:class:`LiveLine`).
``devices`` lists the input devices.
"""
from dejavu_cn.cli import add_json_flag
from dejavu_cn.formatting import format_duration

from .cli import describe_candidate


def _microphone_section():
    from .streaming import MicrophoneParams
    return MicrophoneParams


CONFIG_SECTIONS = {"microphone": _microphone_section}      # see dejavu_cn.plugins


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
    import datetime
    return datetime.datetime.fromtimestamp(seconds).strftime("%H:%M:%S")


class LiveLine:
    """On a terminal, one line rewritten in place while listening: the
    input level, the seconds heard and the best guess so far. Nothing at
    all when stdout is not a terminal (a pipe, a file, a test)."""

    WIDTH = 20                 # characters of the level meter: -60 to 0 dBFS, 3 dB each
    FLOOR_DB = -60.0           # dBFS shown as an empty meter
    INTERVAL = 0.1             # s between redraws at most

    def __init__(self, stream, rate):
        self.stream = stream
        self.enabled = hasattr(stream, "isatty") and stream.isatty()
        self.rate = rate
        self.seconds = 0.0
        self.level_db = self.FLOOR_DB
        self.guess = None
        self.drawn = 0.0           # monotonic time of the last redraw (0: nothing on screen)

    def audio(self, samples):
        """A piece of audio was read (mono float32 at ``rate``)."""
        import numpy as np
        self.seconds += samples.size / self.rate
        if samples.size:
            rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
            self.level_db = max(self.FLOOR_DB, 20.0 * np.log10(max(rms, 1e-12)))
        self.draw()

    def look(self, result):
        """An intermediate result: its best candidate becomes the guess."""
        best = result["candidates"][0] if result.get("candidates") else None
        self.guess = f"{best['song_name']} ({best['confidence']:.2f})" if best else None
        self.draw()

    def draw(self, *, force=False):
        import time
        if not self.enabled or (not force and time.monotonic() - self.drawn < self.INTERVAL):
            return
        filled = int(round((self.level_db - self.FLOOR_DB) / -self.FLOOR_DB * self.WIDTH))
        meter = "#" * filled + "." * (self.WIDTH - filled)
        self.stream.write(f"\r\x1b[K[{meter}] {self.level_db:4.0f} dBFS  {self.seconds:5.1f} s heard  "
                          f"best guess: {self.guess or '-'}")
        self.stream.flush()
        self.drawn = time.monotonic()

    def clear(self):
        """Remove the line (before printing a result, and at the end)."""
        if self.enabled and self.drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.drawn = 0.0


class RecognizeMicCommand:
    name = "recognize mic"
    help = "recognise what the microphone hears (stops as soon as it is sure)"

    def configure(self, p):
        p.add_argument("--seconds", type=_positive, default=None, metavar="MAX",
                       help="give up after this many seconds (default: the configuration's microphone.max_seconds, 10)")
        _device_arg(p)
        add_json_flag(p)

    def run(self, args, ctx):
        from .microphone import MicrophoneRecognizer
        engine = ctx.engine_with_songs()
        recognizer = MicrophoneRecognizer(engine, device=args.device, quiet=True)
        live = LiveLine(ctx.stdout, engine.params.sample_rate)
        try:
            result = recognizer.recognize(max_seconds=args.seconds, on_audio=live.audio, on_look=live.look)
        finally:
            live.clear()
        if ctx.json:
            ctx.emit_json(result)
            return 0
        m = result["match"]
        if m is None:
            ctx.out(f"no match after {result['seconds_listened']:.1f} s")
        else:
            ctx.out(f"{describe_candidate(m)}, after {result['seconds_listened']:.1f} s of audio")
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
        engine = ctx.engine_with_songs()
        recognizer = MicrophoneRecognizer(engine, device=args.device, quiet=True)
        live = LiveLine(ctx.stdout, engine.params.sample_rate)
        if not ctx.json:
            ctx.out("listening (Ctrl-C to stop)")
        try:
            for event in recognizer.listen(max_seconds=args.seconds, on_audio=live.audio):
                live.clear()
                if ctx.json:
                    ctx.emit_json(event)
                elif event["event"] == "song":
                    m = event["match"]
                    ctx.out(f"[{_clock(event['wall_time'])}] {describe_candidate(m)}")
                else:
                    ctx.out(f"[{_clock(event['wall_time'])}] ended: {event['song_name']} "
                            f"(song {event['song_id']}), last heard at {format_duration(event['offset_seconds'])}")
                live.guess = (f"{event['match']['song_name']} ({event['match']['confidence']:.2f})"
                              if event["event"] == "song" else None)
                live.draw(force=True)
        finally:
            live.clear()
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
