"""Live recognition through PyAudio, for real: generated songs are played
in real time into a private PulseAudio null sink whose monitor is the
default input device (see conftest.py)."""
import io
import json
import os
import signal
import time

import numpy as np
import pytest
from audiogen import make_song, write_wav

from dejavu_cn import Dejavu
from dejavu_cn.cli import main
from recognizers.microphone import MicrophoneError, MicrophoneRecognizer, MicrophoneStream, list_devices

pytestmark = pytest.mark.microphone
RATE = 44100


@pytest.fixture(scope="module")
def library(songs_dir, tmp_path_factory):
    """The five generated songs registered; (config path, engine, ids by name)."""
    folder = tmp_path_factory.mktemp("micdb")
    config = folder / "config.json"
    config.write_text(json.dumps({"database": {"path": str(folder / "mic.sqlite3")}}))
    engine = Dejavu(str(config))
    engine.register([songs_dir], jobs=1)
    ids = {s["song_name"]: s["song_id"] for s in engine.list_songs()[0]}
    yield str(config), engine, ids
    engine.close()


def excerpt(tmp_path, name, parts, *, rate=RATE, channels=2):
    """A stereo WAV made of (seed, start s, seconds) song excerpts and
    (None, 0, seconds) silences."""
    pieces = []
    for seed, start, seconds in parts:
        if seed is None:
            pieces.append(np.zeros(int(seconds * rate), np.float32))
        else:
            pieces.append(make_song(seed, 20.0, rate)[int(start * rate):int((start + seconds) * rate)])
    return write_wav(tmp_path / name, np.concatenate(pieces), rate, channels=channels)


def run_cli(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_devices_lists_the_virtual_microphone(pulse):
    devices = list_devices()
    names = [d["name"] for d in devices]
    assert "pulse" in names or "default" in names
    assert sum(d["default"] for d in devices) == 1
    code, out, _ = run_cli("devices", "--json")
    assert code == 0 and json.loads(out) == devices
    code, out, _ = run_cli("devices")
    assert code == 0 and "(default)" in out and str(devices[0]["default_rate"]) in out


def test_recognize_api_stops_early_with_the_offset_at_the_answer(pulse, library, tmp_path):
    _, engine, ids = library
    wav = excerpt(tmp_path, "s13.wav", [(13, 6.0, 10.0)])
    rec = MicrophoneRecognizer(engine)
    with rec.open_stream() as stream:
        lead_in = stream.seconds_read
        player = pulse.play(wav)
        t0 = time.monotonic()
        result = rec.recognize(max_seconds=8.0, stream=stream)
        elapsed = time.monotonic() - t0
    player.kill()
    m = result["match"]
    assert m is not None and m["song_id"] == ids["song13"]
    assert result["seconds_listened"] < 4.0 and elapsed < 4.5             # early stop, far before 8 s
    # offset = song position at the answer: 6 s + audio heard since playback began (it starts a little
    # after the stream opened; PulseAudio adds some latency)
    heard = result["seconds_listened"] - lead_in
    assert heard - 0.6 <= m["offset_seconds"] - 6.0 <= heard + 0.05
    assert result["device"]["rate"] == RATE and result["device"]["channels"] == 2
    json.dumps(result)


def test_any_capture_rate_and_channel_count(pulse, library, tmp_path):
    _, engine, ids = library
    wav = excerpt(tmp_path, "s15.wav", [(15, 2.0, 9.0)], rate=22050, channels=1)
    with MicrophoneStream("pulse", target_rate=engine.params.sample_rate, rate=48000, channels=1) as stream:
        player = pulse.play(wav)
        result = MicrophoneRecognizer(engine).recognize(max_seconds=8.0, stream=stream)
    player.kill()
    assert stream.device["name"] == "pulse"                                  # chosen by name
    assert stream.rate == 48000 and stream.channels == 1
    assert result["match"] is not None and result["match"]["song_id"] == ids["song15"]
    assert result["seconds_listened"] < 4.0


def test_recognize_mic_cli_json_mirrors_recognize_file(pulse, library, tmp_path):
    config, _, ids = library
    wav = excerpt(tmp_path, "s11.wav", [(11, 3.0, 10.0)])
    player = pulse.play(wav)
    t0 = time.monotonic()
    code, out, err = run_cli("--config", config, "recognize", "mic", "--json", "--seconds", "8")
    elapsed = time.monotonic() - t0
    player.kill()
    assert code == 0, err
    result = json.loads(out)
    assert result["match"]["song_id"] == ids["song11"]
    assert 0 < result["seconds_listened"] < 4.0
    # playback began before the command opened the device: the song is further on than what it heard
    offset = result["match"]["offset_seconds"]
    assert 3.0 + result["seconds_listened"] - 0.6 <= offset <= 3.0 + elapsed + 0.1
    code, out, _ = run_cli("--config", config, "recognize", "file", "--json", str(wav))
    file_result = json.loads(out)
    assert set(file_result["match"]) == set(result["match"])                  # same result fields
    assert set(file_result) - {"path", "truncated_at_seconds", "rows_read", "hashes_read"} <= set(result)   # a file's only
    # human output
    player = pulse.play(wav)
    code, out, _ = run_cli("--config", config, "recognize", "mic", "--seconds", "8")
    player.kill()
    assert code == 0 and out.startswith("song11 (song ") and "confidence" in out


def test_unregistered_audio_is_no_match(pulse, library, tmp_path):
    config, _, _ = library
    wav = excerpt(tmp_path, "unknown.wav", [(77, 0.0, 7.0)])
    player = pulse.play(wav)
    t0 = time.monotonic()
    code, out, err = run_cli("--config", config, "recognize", "mic", "--json", "--seconds", "5")
    elapsed = time.monotonic() - t0
    player.kill()
    assert code == 0, err
    result = json.loads(out)
    assert result["match"] is None
    assert result["seconds_listened"] == pytest.approx(5.0, abs=0.1)
    assert 4.5 <= elapsed <= 8.0                                              # recorded in real time


def test_listen_announces_each_song_once(pulse, library, tmp_path):
    config, _, ids = library
    wav = excerpt(tmp_path, "radio.wav", [(12, 0.0, 10.0), (None, 0, 6.0), (14, 4.0, 8.0)])
    player = pulse.play(wav)
    code, out, err = run_cli("--config", config, "listen", "--json", "--seconds", "25")
    player.kill()
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    kinds = [(e["event"], e["match"]["song_id"] if e["event"] == "song" else e["song_id"]) for e in events]
    a, b = ids["song12"], ids["song14"]
    assert kinds == [("song", a), ("end", a), ("song", b), ("end", b)]
    assert events[0]["time"] < 3.0
    assert 16.0 <= events[2]["time"] <= 19.5                                  # song 14 starts at 16 s
    assert all(abs(e["wall_time"] - time.time()) < 120 for e in events)


def test_missing_device_is_a_one_line_error(pulse, library):
    config, _, _ = library
    for device in ("no-such-microphone", "999"):
        code, out, err = run_cli("--config", config, "recognize", "mic", "--device", device)
        assert code == 1 and out == ""
        assert err.count("\n") == 1 and "no input device" in err and "dejavu-cn devices" in err
        assert "Traceback" not in err
    with pytest.raises(MicrophoneError, match="no input device named"):
        MicrophoneStream("no-such-microphone", target_rate=11025)


def test_no_sound_server_is_a_clear_error(pulse, library, monkeypatch):
    config, _, _ = library
    monkeypatch.setenv("PULSE_SERVER", "unix:/nonexistent/pulse/native")
    code, out, err = run_cli("--config", config, "recognize", "mic")
    assert code == 1 and err.count("\n") == 1
    assert "no input device found" in err and "sound server" in err


def test_device_that_disappears_mid_stream(library, extra_pulse, monkeypatch):
    """A second daemon is killed while we record from it."""
    daemon = extra_pulse()
    monkeypatch.setenv("PULSE_SERVER", daemon.server)
    _, engine, _ = library
    stream = MicrophoneStream(None, target_rate=engine.params.sample_rate, quiet=True)
    try:
        assert stream.read().dtype == np.float32
        os.kill(daemon.pid, signal.SIGKILL)
        with pytest.raises(MicrophoneError, match="stopped delivering audio"):
            for _ in range(100):                   # 5 s of reads at most
                stream.read()
    finally:
        stream.close()


def test_ctrl_c_stops_listen_with_130_and_one_line(pulse, library, tmp_path):
    import threading
    config, _, ids = library
    wav = excerpt(tmp_path, "long.wav", [(12, 0.0, 8.0)])
    player = pulse.play(wav)
    timer = threading.Timer(4.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    try:
        code, out, err = run_cli("--config", config, "listen", "--seconds", "15")
    finally:
        timer.cancel()
        player.kill()
    assert code == 130 and err == "dejavu-cn: interrupted\n"
    assert time.monotonic() - t0 < 6.0
    lines = out.splitlines()
    assert lines[0].startswith("listening")
    assert any("song12 (song " in line for line in lines)
    code, out, _ = run_cli("devices")           # the device was released: it opens again
    assert code == 0


def _terminal_run(argv, *, interrupt_after=None, timeout=30):
    """``dejavu-cn argv`` in a subprocess on a pseudo-terminal (the private
    PulseAudio daemon as its sound server); SIGINT after ``interrupt_after``
    seconds. Returns (exit code, what the terminal received)."""
    import fcntl
    import pty
    import select
    import struct
    import subprocess
    import sys
    import termios
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root, "TERM": "xterm"}
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "dejavu_cn", *argv], stdin=slave, stdout=slave, stderr=slave,
                            env=env, close_fds=True)
    os.close(slave)
    data, t0, sent = b"", time.monotonic(), False
    try:
        while time.monotonic() - t0 < timeout:
            if interrupt_after is not None and not sent and time.monotonic() - t0 >= interrupt_after:
                proc.send_signal(signal.SIGINT)
                sent = True
            if select.select([master], [], [], 0.1)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                data += chunk
        code = proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, data.decode("utf-8", "replace")


def test_live_line_on_a_terminal_only(pulse, library, tmp_path):
    """A terminal sees the level, the seconds heard and the best guess while
    listening, then the answer on a clean line; a pipe gets the answer only
    (test_recognize_mic_cli_json_mirrors_recognize_file)."""
    config, _, _ = library
    wav = excerpt(tmp_path, "s13.wav", [(13, 2.0, 12.0)])
    player = pulse.play(wav)
    try:
        code, screen = _terminal_run(["--config", config, "recognize", "mic", "--seconds", "8"])
    finally:
        player.kill()
    assert code == 0, screen
    assert "dBFS" in screen and " s heard" in screen and "best guess: " in screen
    assert "[#" in screen                                     # a level above the floor: audio was heard
    answer = screen.split("\r\x1b[K")[-1]                   # the live line is cleared before the answer
    assert answer.startswith("song13 (song ") and "after" in answer and "dBFS" not in answer


def test_ctrl_c_in_recognize_mic_exits_130(pulse, library):
    config, _, _ = library
    code, screen = _terminal_run(["--config", config, "recognize", "mic", "--seconds", "20"], interrupt_after=4.0)
    assert code == 130, screen
    assert "Traceback" not in screen
    # the last visible text, on a line of its own (a clear-line code the live line's thread writes after it
    # leaves nothing visible)
    visible = [part.strip() for part in screen.split("\r\x1b[K") if part.strip()]
    assert visible and visible[-1] == "dejavu-cn: interrupted", repr(screen[-300:])
