"""Decoding: any file ffmpeg reads, or an in-memory signal, to mono float32 at
the analysis rate.

ffmpeg is asked for 32-bit float mono at the target rate, so the decoded
sample width of the source (16-bit MP3, 32-bit Ogg Vorbis, 24-bit FLAC...)
never matters. Small PCM WAV files take an in-process path (no subprocess),
which keeps short queries fast.
"""
import functools
import hashlib
import logging
import os
import re
import shutil
import stat
import subprocess
import tempfile
from math import gcd

import numpy as np

from .errors import AudioDecodeError, ParameterError

log = logging.getLogger(__name__)

FAST_WAV_MAX_BYTES = 64 * 1024 * 1024   # larger WAV files stream through ffmpeg (memory)
FAST_WAV_MIN_RATE = 8000                # Hz; WAVs below go through ffmpeg (in-process upsampling by a large
                                        # ratio takes memory: a 1 Hz header asked scipy for 4.3 GB)
MIN_SAMPLE_RATE = 1                     # Hz; a file declaring a rate outside [1 Hz, 384 kHz] is refused...
MAX_SAMPLE_RATE = 384_000               # ...(384 kHz: the highest rate audio interfaces record)
# ffmpeg opens the one input as a local file (no URLs, no other protocol) and
# only with these demuxers: playlists (hls, dash), concat lists, image
# sequences and devices, which make ffmpeg read other files or URLs, are not
# among them. Demuxer names as ``ffmpeg -demuxers`` lists them.
FFMPEG_PROTOCOLS = "file"
FFMPEG_DEMUXERS = ",".join((
    "aac", "ac3", "aiff", "amr", "amrnb", "amrwb", "ape", "asf", "au", "avi", "caf", "dsf", "dts", "dtshd",
    "eac3", "flac", "flv", "gsm", "ircam", "loas", "matroska", "mlp", "mmf", "mov", "mp3", "mpc", "mpc8",
    "mpeg", "mpegts", "nistsphere", "ogg", "oma", "qcp", "rm", "shn", "sox", "tak", "truehd", "tta", "voc",
    "w64", "wav", "wv", "xwma"))
STREAM_CHUNK_SECONDS = 30.0             # seconds of audio per chunk when streaming a file
DECIMATE_CHUNK = 1 << 16                # output samples per matrix product when resampling (memory)


def ffmpeg_binary():
    """Path of the ffmpeg executable (the one pydub would use)."""
    try:
        from pydub.utils import get_encoder_name
        name = get_encoder_name()
    except ImportError:  # pydub is a dependency, but decoding does not need it
        name = "ffmpeg"
    path = shutil.which(name) or shutil.which("ffmpeg")
    if not path:
        raise AudioDecodeError("-", "ffmpeg was not found on PATH; install it (apt-get install ffmpeg)")
    return path


def resample(samples, orig_rate, target_rate):
    """Resample a 1-D float signal with a polyphase filter.

    Parameters
    ----------
    samples : np.ndarray, shape (n,)
    orig_rate, target_rate : int
        Hz.

    Returns
    -------
    np.ndarray, shape (round(n * target_rate / orig_rate),), float32
    """
    orig_rate, target_rate = int(orig_rate), int(target_rate)
    if orig_rate <= 0 or target_rate <= 0:
        raise ParameterError("sample rates must be positive")
    samples = np.asarray(samples, dtype=np.float32)
    if orig_rate == target_rate or samples.size == 0:
        return samples
    g = gcd(orig_rate, target_rate)
    up, down = target_rate // g, orig_rate // g
    if up == 1:
        return _decimate(samples, down)
    from scipy.signal import resample_poly
    return resample_poly(samples, up, down, window=resampling_filter(up, down)).astype(np.float32, copy=False)


@functools.lru_cache(maxsize=16)
def resampling_filter(up, down):
    """The anti-aliasing filter ``scipy.signal.resample_poly`` designs for
    (up, down), float32 and read-only, designed once per (up, down) and
    kept (16 kHz -> 11,025 Hz takes 12,801 taps, which cost about as much
    to design as to apply to a clip). Pass it as ``window=`` to
    ``resample_poly`` for the same output without the design."""
    from scipy.signal import firwin
    rate = max(up, down)
    taps = firwin(20 * rate + 1, 1.0 / rate, window=("kaiser", 5.0)).astype(np.float32)
    taps.flags.writeable = False
    return taps


@functools.lru_cache(maxsize=None)
def _blas_controller():
    """threadpoolctl's handle on the BLAS numpy uses. Resampling keeps BLAS on
    one thread: a threaded product saves a fraction of a millisecond, and
    OpenBLAS's threads then spin on the other core for a while, taking it
    from the database lookups that run there (a query's lookups took a
    third longer)."""
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController()


def _decimate(samples, down):
    """``resample_poly(samples, 1, down)``: the same filter and alignment,
    computed as one matrix product of the filter's ``down``-sample blocks
    with the signal's ``down``-sample frames, then a sum along diagonals.
    Three times faster than scipy's general up-filter-down loop, and
    44.1 kHz to 11,025 Hz is the commonest query path."""
    taps = resampling_filter(1, down)[::-1]
    half = (taps.size - 1) // 2
    n_out = -(-samples.size // down)
    blocks = -(-taps.size // down)
    kernel = np.zeros(blocks * down, np.float32)
    kernel[:taps.size] = taps
    kernel = kernel.reshape(blocks, down)
    padded = np.zeros((n_out + blocks) * down, np.float32)
    padded[half:half + samples.size] = samples
    frames = padded.reshape(-1, down)
    out = np.empty(n_out, np.float32)
    with _blas_controller().limit(limits=1, user_api="blas"):
        for start in range(0, n_out, DECIMATE_CHUNK):
            n = min(DECIMATE_CHUNK, n_out - start)
            # dots[k, i] = block k of the filter . frame start + i;  out[m] = sum over k of dots[k, m - start + k]
            dots = kernel @ frames[start:start + n + blocks].T
            part = dots[0, :n].copy()
            for k in range(1, blocks):
                part += dots[k, k:k + n]
            out[start:start + n] = part
    return out


def pcm_to_float(data, *, sample_width=None):
    """Integer or float PCM (any width) to float32 in [-1, 1].

    ``data`` is an array (int8/uint8/int16/int32/float) or raw bytes with
    ``sample_width`` in bytes (1, 2, 3 or 4; 1 is unsigned as in WAV).
    """
    if isinstance(data, (bytes, bytearray, memoryview)):
        if sample_width not in (1, 2, 3, 4):
            raise ParameterError(f"sample_width must be 1, 2, 3 or 4 bytes, not {sample_width!r}")
        raw = np.frombuffer(data, dtype=np.uint8)
        if sample_width == 3:
            raw = raw[: raw.size - raw.size % 3].reshape(-1, 3)
            as32 = (raw[:, 0].astype(np.int32) << 8 | raw[:, 1].astype(np.int32) << 16
                    | raw[:, 2].astype(np.int32) << 24)
            return (as32 / 2.0 ** 31).astype(np.float32)
        dtype = {1: np.uint8, 2: np.int16, 4: np.int32}[sample_width]
        data = raw[: raw.size - raw.size % sample_width].view(dtype)
    data = np.asarray(data)
    if data.dtype.kind == "f":
        return data.astype(np.float32, copy=False)
    if data.dtype == np.uint8:
        return ((data.astype(np.float32) - 128.0) / 128.0)
    if data.dtype.kind in "iu":
        return (data.astype(np.float32) / float(2 ** (8 * data.dtype.itemsize - 1)))
    raise ParameterError(f"unsupported sample type {data.dtype}")


def to_mono(samples, channels):
    """Interleaved (n * channels,) or (n, channels) samples to mono by averaging."""
    samples = np.asarray(samples, dtype=np.float32)
    if channels == 1:
        return samples.reshape(-1)
    if samples.ndim == 1:
        samples = samples[: samples.size - samples.size % channels].reshape(-1, channels)
    return samples.mean(axis=1, dtype=np.float32)


def from_pcm(data, *, rate, channels, sample_width=None, target_rate):
    """Raw or array PCM from any source (microphone, pydub) to mono float32 at
    ``target_rate``."""
    return resample(to_mono(pcm_to_float(data, sample_width=sample_width), channels), rate, target_rate)


def from_audiosegment(segment, *, target_rate):
    """A pydub ``AudioSegment`` (any sample width) to mono float32 at
    ``target_rate`` (public API: pydub users hand their segments over as is)."""
    return from_pcm(segment.raw_data, rate=segment.frame_rate, channels=segment.channels,
                    sample_width=segment.sample_width, target_rate=target_rate)


def check_sample_rate(path, rate):
    """Refuse a source rate outside [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE] Hz
    (a forged header would otherwise ask for absurd resampling)."""
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioDecodeError(path, f"the file declares a sample rate of {rate} Hz; only "
                                     f"{MIN_SAMPLE_RATE} Hz to {MAX_SAMPLE_RATE // 1000} kHz are accepted")


def _open_wav(path):
    """(rate, samples memory-mapped) of a small PCM/float WAV, or None if it
    is not one (then ffmpeg decides, and reports its message)."""
    try:
        if os.path.getsize(path) > FAST_WAV_MAX_BYTES:
            return None
        from scipy.io import wavfile
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unknown chunks (LIST, ...) are harmless
            rate, data = wavfile.read(path, mmap=True)
    except Exception:  # anything unusual: let ffmpeg decide, and report its message
        return None
    check_sample_rate(path, rate)
    return rate, data


def _read_wav_fast(path, target_rate, start=None, duration=None):
    """Decode a small PCM/float WAV in-process (from ``start`` for
    ``duration`` seconds, if given); ``None`` if it is not one."""
    wav = _open_wav(path) if path.lower().endswith((".wav", ".wave")) else None
    if wav is None:
        return None
    rate, data = wav
    if data.size == 0 or rate < FAST_WAV_MIN_RATE:
        return None
    first = int(round((start or 0.0) * rate))
    last = data.shape[0] if duration is None else first + int(round(duration * rate))
    data = np.array(data[first:last])           # only the part asked for leaves the mapped file
    if data.size == 0:
        return None
    channels = 1 if data.ndim == 1 else data.shape[1]
    return resample(to_mono(pcm_to_float(data), channels), rate, target_rate)


@functools.lru_cache(maxsize=None)
def _ffmpeg_resampler(binary):
    """``["-resampler", "soxr"]`` if this ffmpeg has libsoxr, else ``[]``.

    SoX's resampler is both better (steeper anti-aliasing) and cheaper than
    ffmpeg's default here: a quarter less CPU to decode and resample Ogg
    Vorbis to 11025 Hz, which is half of registering."""
    try:
        conf = subprocess.run([binary, "-hide_banner", "-buildconf"], capture_output=True, text=True,
                              timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return ("-resampler", "soxr") if "--enable-libsoxr" in conf else ()


def ffmpeg_decode_command(path, target_rate, start=None, duration=None):
    """The ffmpeg command that writes a file's first audio stream to stdout
    as mono float32 at ``target_rate`` (optionally from ``start`` for
    ``duration`` seconds)."""
    binary = ffmpeg_binary()
    # info level: the input's stream line gives its sample rate (see _input_rate)
    cmd = [binary, "-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+info"]
    if start:
        cmd += ["-ss", f"{float(start):.6f}"]
    if duration:
        cmd += ["-t", f"{float(duration):.6f}"]
    cmd += ["-protocol_whitelist", FFMPEG_PROTOCOLS, "-format_whitelist", FFMPEG_DEMUXERS,
            "-i", "file:" + os.path.abspath(path), "-map", "0:a:0", "-vn", "-sn", "-dn",
            "-ac", "1", "-ar", str(int(target_rate)), *_ffmpeg_resampler(binary), "-f", "f32le", "-"]
    return cmd


_ERROR_LEVELS = ("[error] ", "[fatal] ", "[panic] ")
_INPUT_RATE = re.compile(r"\[info\]\s+Stream #0:\d+.*?: Audio: .*?, (\d+) Hz")


def _ffmpeg_errors(stderr):
    """The error lines of ffmpeg's ``level+info`` log, without their level tags."""
    out = []
    for line in stderr.splitlines():
        for tag in _ERROR_LEVELS:
            if tag in line:
                out.append(line.replace(tag, "").strip())
    return out


def _input_rate(stderr):
    """The sample rate of the input's first audio stream, from ffmpeg's log
    (the input is described before any output), or None."""
    head = stderr.split("Output #0", 1)[0]
    found = _INPUT_RATE.search(head)
    return int(found.group(1)) if found else None


def iter_decode(path, *, target_rate, chunk_seconds=STREAM_CHUNK_SECONDS, start=None, duration=None):
    """Decode a file through ffmpeg, yielding mono float32 chunks at ``target_rate``.

    Memory stays at one chunk however long the file is.

    Raises
    ------
    AudioDecodeError
        The file is missing, unreadable, not audio, or holds no samples;
        the message carries ffmpeg's own words.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise AudioDecodeError(path, "is a folder, not an audio file")
    if not os.path.exists(path):
        raise AudioDecodeError(path, "no such file")
    if not os.path.isfile(path):
        raise AudioDecodeError(path, "not a regular file (a FIFO or a device): not read")
    chunk_bytes = max(4, int(chunk_seconds * target_rate) * 4)
    total = 0
    with tempfile.TemporaryFile() as errfile:
        try:
            proc = subprocess.Popen(ffmpeg_decode_command(path, target_rate, start, duration),
                                    stdout=subprocess.PIPE, stderr=errfile, stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise AudioDecodeError(path, f"cannot run ffmpeg: {exc}") from None
        try:
            pending, checked = b"", False
            while True:
                block = proc.stdout.read(chunk_bytes)
                if not block:
                    break
                if not checked:           # ffmpeg described its input before writing any output
                    checked = True
                    errfile.seek(0)
                    rate = _input_rate(errfile.read().decode("utf-8", "replace"))
                    if rate is not None:
                        check_sample_rate(path, rate)
                block = pending + block
                usable = len(block) - len(block) % 4
                pending = block[usable:]
                if usable:
                    total += usable // 4
                    yield np.frombuffer(block[:usable], dtype="<f4").copy()
        finally:
            proc.stdout.close()
            if proc.poll() is None:
                proc.kill()
            code = proc.wait()
        errfile.seek(0)
        stderr = errfile.read().decode("utf-8", "replace")
    if code != 0:
        lines = _ffmpeg_errors(stderr)
        if any("not on whitelist" in line for line in lines):
            raise AudioDecodeError(path, "not an audio file: a playlist, list of files or other container that "
                                         "makes ffmpeg read other files or URLs is refused ("
                                         + " / ".join(lines[-2:]) + ")")
        raise AudioDecodeError(path, " / ".join(lines[-3:]) or f"ffmpeg exited with code {code}")
    if total == 0:
        raise AudioDecodeError(path, "no audio samples (empty file or zero-length stream)")


def decode_file(path, *, target_rate, start=None, duration=None):
    """Decode a whole file to mono float32 at ``target_rate``.

    Returns
    -------
    np.ndarray, shape (n,), float32 in [-1, 1]
    """
    path = os.fspath(path)
    fast = _read_wav_fast(path, target_rate, start, duration)
    if fast is not None:
        return fast
    chunks = list(iter_decode(path, target_rate=target_rate, start=start, duration=duration))
    return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]


PROBE_RATE = 2000      # Hz; measuring a file's duration decodes it at this rate (a fraction of the work)


def duration_seconds(path, *, limit):
    """Seconds of audio in a file, found by decoding it (a header can lie),
    but never more than ``limit`` + 1 s of it: a result above ``limit``
    means "longer than ``limit``". A small WAV is measured from its size.

    Raises
    ------
    AudioDecodeError
    """
    path = os.fspath(path)
    wav = _open_wav(path) if path.lower().endswith((".wav", ".wave")) else None
    if wav is not None and wav[0] >= FAST_WAV_MIN_RATE:
        return wav[1].shape[0] / wav[0]
    samples = sum(chunk.size for chunk in iter_decode(path, target_rate=PROBE_RATE, duration=limit + 1.0,
                                                      chunk_seconds=600.0))
    return samples / PROBE_RATE


def write_wav(path, samples, rate):
    """Write mono float samples in [-1, 1] as a 16-bit PCM WAV file (clipped)."""
    import wave
    pcm = (np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(os.fspath(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(rate))
        w.writeframes(pcm.tobytes())
    return path


def file_sha1(path, *, block_size=1 << 20):
    """SHA-1 of a file's bytes (identifies the same file under another name).

    Raises
    ------
    AudioDecodeError
        ``path`` is not a regular file (a FIFO, a device: never read, as
        reading would block or never end)."""
    digest = hashlib.sha1()
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)     # opening a FIFO must not wait for a writer
    with open(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise AudioDecodeError(path, "not a regular file (a FIFO or a device): not read")
        while True:
            block = handle.read(block_size)
            if not block:
                break
            digest.update(block)
    return digest.digest()
