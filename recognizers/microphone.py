"""Recognise what a microphone hears, through PyAudio (PortAudio).

PyAudio is imported here only, and only when a device is used, so the rest
of dejavu-cn works on a machine without it. Any input device works at its
native rate and channel count: samples are mixed to mono and resampled to
the analysis rate (:func:`dejavu_cn.audio.from_pcm`, then a streaming
polyphase resampler that gives the same samples as resampling the whole
recording at once).

Python API::

    from dejavu_cn import Dejavu
    from recognizers.microphone import MicrophoneRecognizer, list_devices

    rec = MicrophoneRecognizer(Dejavu("config.json"), device=None)   # default input
    result = rec.recognize(max_seconds=10)     # stops as soon as the answer is safe
    for event in rec.listen():                 # continuous monitoring, a generator
        ...

Errors (no device, no permission, a device that disappears) raise
:class:`MicrophoneError`, a :class:`~dejavu_cn.errors.RecognitionError`
whose message says what to check.
"""
import contextlib
import logging
import os
import time
from math import ceil, gcd

import numpy as np

from dejavu_cn.audio import from_pcm, resampling_filter
from dejavu_cn.errors import ParameterError, RecognitionError

from .base import BaseRecognizer
from .streaming import Monitor, recognize_stream

log = logging.getLogger(__name__)

CHUNK_SECONDS = 0.05       # s of audio per read from the device (50 ms: latency of one look step)
SAMPLE_WIDTH = 2           # bytes; 16-bit PCM is requested from PortAudio whatever the device's format
MAX_CHANNELS = 2           # channels opened at most (devices may offer 32 virtual ones); mixed to mono


class MicrophoneError(RecognitionError):
    """The microphone could not be opened or stopped delivering audio."""


def _import_pyaudio():
    try:
        import pyaudio
    except ImportError:
        raise MicrophoneError("the microphone needs PyAudio: pip install 'dejavu-cn[mic]' "
                              "(on Debian first 'apt-get install portaudio19-dev')") from None
    return pyaudio


@contextlib.contextmanager
def _quiet_stderr():
    """Silence the C-level stderr while PortAudio probes ALSA/JACK (it prints
    dozens of harmless lines); Python-level errors are unaffected."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(fd, 2)
    finally:
        os.close(fd)


def _open_portaudio():
    pyaudio = _import_pyaudio()
    with _quiet_stderr():
        try:
            return pyaudio, pyaudio.PyAudio()
        except Exception as exc:  # PortAudio failed to initialise at all
            raise MicrophoneError(f"cannot initialise PortAudio: {exc}; check the sound system "
                                  "(ALSA/PulseAudio) is installed and running") from None


def _device_dict(pa, info, default_index):
    host = pa.get_host_api_info_by_index(info["hostApi"])["name"]
    return {"index": int(info["index"]), "name": str(info["name"]), "host_api": str(host),
            "channels": int(info["maxInputChannels"]), "default_rate": int(round(info["defaultSampleRate"])),
            "default": int(info["index"]) == default_index}


def _default_input(pa):
    try:
        return int(pa.get_default_input_device_info()["index"])
    except (IOError, OSError):
        return None


def _input_devices(pa):
    default = _default_input(pa)
    devices = []
    for i in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(i)
        if info.get("maxInputChannels", 0) > 0:
            devices.append(_device_dict(pa, info, default))
    return devices


def list_devices():
    """The input devices PortAudio sees.

    Returns
    -------
    list of dict
        ``index``, ``name``, ``host_api``, ``channels`` (most input
        channels), ``default_rate`` (Hz) and ``default`` (bool).
    """
    _, pa = _open_portaudio()
    try:
        return _input_devices(pa)
    finally:
        pa.terminate()


def _resolve(pa, device):
    """An input device dict for ``device``: None (the default input), an
    index (int or digits) or a name (exact, else unique case-insensitive
    substring)."""
    devices = _input_devices(pa)
    if not devices:
        raise MicrophoneError("no input device found: check that a microphone is connected and that "
                              "the sound server (PulseAudio/PipeWire/ALSA) is running; 'dejavu-cn devices' lists them")
    if device is None or device == "":
        for d in devices:
            if d["default"]:
                return d
        return devices[0]
    if isinstance(device, int) or (isinstance(device, str) and device.strip().isdigit()):
        index = int(device)
        for d in devices:
            if d["index"] == index:
                return d
        raise MicrophoneError(f"no input device with index {index}; run 'dejavu-cn devices' to list them")
    name = str(device)
    exact = [d for d in devices if d["name"] == name]
    if exact:
        return exact[0]
    partial = [d for d in devices if name.lower() in d["name"].lower()]
    if len(partial) == 1:
        return partial[0]
    if partial:
        names = ", ".join(f"{d['index']}: {d['name']}" for d in partial)
        raise MicrophoneError(f"'{name}' matches several input devices ({names}); give an index")
    raise MicrophoneError(f"no input device named '{name}'; run 'dejavu-cn devices' to list them")


class StreamResampler:
    """Resample a stream piece by piece exactly like resampling it whole.

    Each block is resampled with ``ctx`` input samples of context on both
    sides (more than the polyphase filter reaches), and only the output of
    the block is kept; blocks are multiples of ``down`` input samples so
    the output grid never drifts. The price is a delay of ``ctx`` input
    samples (48 at 44.1 kHz -> 11025 Hz: 1 ms; 640 at 48 kHz: 13 ms).

    Parameters
    ----------
    orig_rate, target_rate : int
        Hz.
    """

    def __init__(self, orig_rate, target_rate):
        orig_rate, target_rate = int(orig_rate), int(target_rate)
        if orig_rate <= 0 or target_rate <= 0:
            raise ParameterError("sample rates must be positive")
        g = gcd(orig_rate, target_rate)
        self.up, self.down = target_rate // g, orig_rate // g
        reach = 10 * max(self.up, self.down) / self.up + 2          # input samples the filter reaches
        self.ctx = self.down * int(ceil(reach / self.down))
        self._buf = np.zeros(self.ctx, np.float32)                  # left context: silence before the stream
        # the polyphase filter, designed once per rate pair (and cached across streams): designing it
        # on every read cost as much as applying it (12,801 taps at 16 kHz -> 11,025 Hz)
        self._taps = resampling_filter(self.up, self.down) if self.up != self.down else None

    def feed(self, samples):
        """Mono float32 input -> the output samples that became final."""
        samples = np.asarray(samples, np.float32).reshape(-1)
        if self.up == self.down:
            return samples
        self._buf = np.concatenate([self._buf, samples])
        n = (self._buf.size - 2 * self.ctx) // self.down * self.down
        if n <= 0:
            return np.zeros(0, np.float32)
        from scipy.signal import resample_poly
        y = resample_poly(self._buf[:2 * self.ctx + n], self.up, self.down, window=self._taps)
        a = self.ctx * self.up // self.down
        out = y[a:a + n * self.up // self.down].astype(np.float32)
        self._buf = self._buf[n:]
        return out


class MicrophoneStream:
    """An open input stream. Use as a context manager.

    Parameters
    ----------
    device : int, str or None
        Index, name, or None for the default input device.
    target_rate : int
        Hz of the samples :meth:`chunks` yields (the analysis rate).
    chunk_seconds : float
        Seconds per read.
    rate, channels : int, optional
        Force a capture rate (Hz) / channel count instead of the device's own.
    quiet : bool
        Silence PortAudio's C-level stderr chatter during reads too (for a
        single-threaded command line; it would also hide other threads'
        stderr while a read waits).
    """

    def __init__(self, device=None, *, target_rate, chunk_seconds=CHUNK_SECONDS, rate=None, channels=None,
                 quiet=False):
        if chunk_seconds <= 0:
            raise ParameterError("chunk_seconds must be > 0")
        self.target_rate = int(target_rate)
        self.quiet = bool(quiet)
        pyaudio, self._pa = _open_portaudio()
        self._stream = None
        try:
            self.device = _resolve(self._pa, device)
            self.rate = int(rate or self.device["default_rate"])
            self.channels = int(channels or max(1, min(MAX_CHANNELS, self.device["channels"])))
            self.frames_per_read = max(1, int(round(self.rate * chunk_seconds)))
            with _quiet_stderr():
                self._stream = self._pa.open(format=pyaudio.paInt16, channels=self.channels, rate=self.rate,
                                             input=True, input_device_index=self.device["index"],
                                             frames_per_buffer=self.frames_per_read)
        except MicrophoneError:
            self.close()
            raise
        except Exception as exc:   # PortAudio's OSError / ValueError: busy, no permission, bad format
            self.close()
            raise MicrophoneError(
                f"cannot open input device {device if device is not None else 'default'}: {exc}; check that it "
                "is connected, not used exclusively by another program, and that this user may record "
                "(group 'audio')") from None
        self._resampler = StreamResampler(self.rate, self.target_rate)
        self.seconds_read = 0.0
        log.info("recording from %s (%d Hz, %d channel(s))", self.device["name"], self.rate, self.channels)

    def read(self):
        """One read: mono float32 at ``target_rate`` (may be empty)."""
        if self._stream is None:
            raise MicrophoneError("the input stream is closed")
        try:
            with _quiet_stderr() if self.quiet else contextlib.nullcontext():
                data = self._stream.read(self.frames_per_read, exception_on_overflow=False)
        except (OSError, IOError) as exc:
            raise MicrophoneError(f"input device {self.device['index']} ({self.device['name']}) stopped delivering "
                                  f"audio: {exc}; check that it is still connected and the sound server "
                                  "is running") from None
        if not data:
            raise MicrophoneError(f"input device {self.device['index']} ({self.device['name']}) returned no audio; "
                                  "check that it is still connected")
        self.seconds_read += len(data) / (SAMPLE_WIDTH * self.channels) / self.rate
        mono = from_pcm(data, rate=self.rate, channels=self.channels, sample_width=SAMPLE_WIDTH,
                        target_rate=self.rate)
        return self._resampler.feed(mono)

    def chunks(self, *, max_seconds=None, stop=None):
        """Yield mono float32 pieces at ``target_rate`` until ``max_seconds``
        of audio were read (None: forever) or ``stop`` (a threading.Event)
        is set."""
        while stop is None or not stop.is_set():
            if max_seconds is not None and self.seconds_read >= max_seconds:
                return
            yield self.read()

    def close(self):
        if self._stream is not None:
            try:
                self._stream.stop_stream()
                self._stream.close()
            except Exception:   # the device may already be gone; closing must not hide the real error
                log.debug("error while closing the input stream", exc_info=True)
            self._stream = None
        if self._pa is not None:
            self._pa.terminate()
            self._pa = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class MicrophoneRecognizer(BaseRecognizer):
    """Recognise from a microphone.

    Parameters
    ----------
    dejavu : dejavu_cn.Dejavu
    device : int, str or None
        Default device for :meth:`recognize` and :meth:`listen`.
    chunk_seconds : float
        Seconds per device read.
    quiet : bool
        See :class:`MicrophoneStream`.
    **matcher_options
        Passed to :class:`recognizers.streaming.StreamingMatcher`
        (``look_seconds``, ``min_confidence``, ``confirmations``...).
    """

    def __init__(self, dejavu, *, device=None, chunk_seconds=CHUNK_SECONDS, quiet=False, **matcher_options):
        super().__init__(dejavu)
        self.device = device
        self.quiet = quiet
        self.chunk_seconds = chunk_seconds
        self.matcher_options = matcher_options

    def open_stream(self, device=None):
        """Open the device (the given one, else the recogniser's)."""
        return MicrophoneStream(self.device if device is None else device,
                                target_rate=self.dejavu.params.sample_rate, chunk_seconds=self.chunk_seconds,
                                quiet=self.quiet)

    def recognize(self, max_seconds=None, *, device=None, stream=None, on_look=None, on_audio=None, stop=None):
        """Listen until the answer is safe, or give up after ``max_seconds``.

        Parameters
        ----------
        max_seconds : float
            Seconds of audio after which the answer is "no match".
        device : int, str or None
            Overrides the recogniser's device.
        stream : MicrophoneStream, optional
            An already open stream (left open).
        on_look : callable(dict), optional
            Called with each intermediate look (progress).
        on_audio : callable(np.ndarray), optional
            Called with each piece of audio read (mono float32 at the
            analysis rate), before it is matched (a level meter).
        stop : threading.Event, optional
            Set it from another thread to stop early (answer so far).

        Returns
        -------
        dict
            Like a line of ``recognize file --json``: ``match`` (offset in
            the song at the moment of the answer) or None, ``candidates``,
            ``timings``..., plus ``seconds_listened`` and ``device``.
        """
        own = stream is None
        stream = self.open_stream(device) if own else stream
        try:
            result = recognize_stream(self.dejavu, _tap(stream.chunks(stop=stop), on_audio),
                                      max_seconds=max_seconds, on_look=on_look, **self.matcher_options)
        finally:
            if own:
                stream.close()
        result["device"] = {"index": stream.device["index"], "name": stream.device["name"], "rate": stream.rate,
                            "channels": stream.channels}
        return result

    def listen(self, *, device=None, stream=None, max_seconds=None, stop=None, on_audio=None, **monitor_options):
        """Monitor continuously; a generator of events (see
        :class:`recognizers.streaming.Monitor`), until ``max_seconds`` of
        audio (None: forever), ``stop`` is set, or the generator is closed.
        A song still playing when it stops gets a final "end" event. Each
        event also has ``wall_time`` (Unix seconds). ``on_audio``: as for
        :meth:`recognize`."""
        own = stream is None
        stream = self.open_stream(device) if own else stream
        monitor = Monitor(self.dejavu, **{**self.matcher_options, **monitor_options})
        origin = time.time()                            # wall clock of stream time 0 (first sample read)
        try:
            for chunk in _tap(stream.chunks(max_seconds=max_seconds, stop=stop), on_audio):
                for event in monitor.feed(chunk):
                    yield dict(event, wall_time=round(origin + event["time"], 3))
            final = monitor.finish()
            if final is not None:
                yield dict(final, wall_time=round(origin + final["time"], 3))
        finally:
            if own:
                stream.close()


def _tap(chunks, on_audio):
    """``chunks``, each also handed to ``on_audio`` (if given) first."""
    if on_audio is None:
        return chunks

    def tapped():
        try:
            for chunk in chunks:
                on_audio(chunk)
                yield chunk
        finally:
            chunks.close()
    return tapped()
