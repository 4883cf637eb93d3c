"""Fixtures for recogniser tests: a real virtual microphone.

``pulse`` starts a private PulseAudio daemon (user mode, in a temporary
directory) with a null sink whose monitor is the default source, points
``PULSE_SERVER`` at it, and stops it by its PID afterwards. PyAudio then
records through the ALSA ``pulse`` plugin what ``paplay`` plays into the
sink, in real time. With CI=true a daemon that cannot start fails the tests
instead of skipping them.
"""
import os
import shutil
import signal
import subprocess
import time

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SINK = "dejavu_test_sink"
PULSE_CONFIG = f"""\
load-module module-native-protocol-unix auth-anonymous=1
load-module module-null-sink sink_name={SINK} rate=44100 channels=2 norewinds=1
set-default-sink {SINK}
set-default-source {SINK}.monitor
"""


def _unavailable(message):
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def _alive(pid):
    """True while ``pid`` runs (a zombie left for a parent that does not reap it counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


class PulseDaemon:
    """A private PulseAudio daemon in ``folder``; ``play`` writes into its sink."""

    def __init__(self, folder):
        self.folder = str(folder)
        self.server = f"unix:{os.path.join(self.folder, 'pulse', 'native')}"
        self.pid = None
        self.players = []

    def env(self):
        return {**os.environ, "XDG_RUNTIME_DIR": self.folder, "HOME": self.folder, "PULSE_SERVER": self.server}

    def start(self, timeout=10.0):
        config = os.path.join(self.folder, "default.pa")
        with open(config, "w") as f:
            f.write(PULSE_CONFIG)
        log = os.path.join(self.folder, "pulse.log")
        proc = subprocess.run(["pulseaudio", "-n", "-F", config, "--daemonize=yes", "--exit-idle-time=-1",
                               "--disallow-exit", f"--log-target=file:{log}"],
                              env=self.env(), capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"pulseaudio failed to start ({proc.returncode}): {proc.stderr.strip()}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ok = subprocess.run(["pactl", "info"], env=self.env(), capture_output=True).returncode == 0
            pid_file = os.path.join(self.folder, "pulse", "pid")
            if ok and os.path.exists(pid_file):
                with open(pid_file) as f:
                    self.pid = int(f.read().strip())
                return self
            time.sleep(0.05)
        raise RuntimeError("pulseaudio did not answer 'pactl info' within "
                           f"{timeout:g} s; log: {open(log).read()[-500:] if os.path.exists(log) else '-'}")

    def play(self, path):
        """Start playing a file into the sink in real time; returns the Popen."""
        proc = subprocess.Popen(["paplay", "--device", SINK, os.fspath(path)], env=self.env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.players.append(proc)
        return proc

    def stop(self):
        for proc in self.players:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.players = []
        if self.pid is None:       # started but never answered: its pid file may still exist
            try:
                with open(os.path.join(self.folder, "pulse", "pid")) as f:
                    self.pid = int(f.read().strip())
            except (OSError, ValueError):
                return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            self.pid = None
            return
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and _alive(self.pid):
            time.sleep(0.05)
        if _alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
        self.pid = None


def start_pulse(folder):
    """Start a daemon in ``folder`` or fail (CI) / skip (elsewhere)."""
    for tool in ("pulseaudio", "pactl", "paplay"):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} is not installed (apt-get install pulseaudio pulseaudio-utils libasound2-plugins)")
    try:
        import pyaudio  # noqa: F401
    except ImportError:
        _unavailable("PyAudio is not installed (pip install pyaudio)")
    daemon = PulseDaemon(folder)
    try:
        daemon.start()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        daemon.stop()
        _unavailable(f"cannot start a private PulseAudio daemon: {exc}")
    return daemon


@pytest.fixture
def extra_pulse():
    """Start more private daemons (``extra_pulse()`` -> PulseDaemon); all
    are stopped after the test."""
    import tempfile
    started = []

    def start():
        folder = tempfile.mkdtemp(prefix="djv_pulse_")
        started.append((start_pulse(folder), folder))
        return started[-1][0]

    yield start
    for daemon, folder in started:
        daemon.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def pulse():
    """A running private PulseAudio daemon; ``PULSE_SERVER`` points at it
    for the module's tests."""
    import tempfile
    folder = tempfile.mkdtemp(prefix="djv_pulse_")   # short path: unix socket names are limited to 108 bytes
    daemon = start_pulse(folder)
    saved = {k: os.environ.get(k) for k in ("PULSE_SERVER",)}
    os.environ["PULSE_SERVER"] = daemon.server
    try:
        yield daemon
    finally:
        daemon.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(folder, ignore_errors=True)
