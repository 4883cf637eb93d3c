"""The first hour of a new user (issue 26), through the real command: a
subprocess running ``python -m dejavu_cn``, and a pseudo-terminal where a
terminal changes what is shown (the progress bar)."""
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from audiogen import make_song, write_wav

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
ENV.pop("DEJAVU_CN_CONFIG", None)


def cli(*argv, cwd=None, env=None, timeout=120):
    """Run ``dejavu-cn argv...``: (exit code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "dejavu_cn", *map(str, argv)], capture_output=True, text=True,
                          cwd=cwd, env=env or ENV, timeout=timeout)
    return proc.returncode, proc.stdout, proc.stderr


def cli_in_terminal(*argv, interrupt_on=None, timeout=120):
    """Run ``dejavu-cn argv...`` with stdin, stdout and stderr on a
    pseudo-terminal; send SIGINT once the output shows ``interrupt_on``.
    Returns (exit code, everything the terminal received, as text)."""
    import fcntl
    import pty
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))     # 40 rows, 160 columns
    proc = subprocess.Popen([sys.executable, "-m", "dejavu_cn", *map(str, argv)], stdin=slave, stdout=slave,
                            stderr=slave, env={**ENV, "COLUMNS": "160", "TERM": "xterm"}, close_fds=True)
    os.close(slave)
    data, sent, deadline = b"", False, time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:          # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                data += chunk
            if interrupt_on and not sent and interrupt_on.encode() in data:
                proc.send_signal(signal.SIGINT)
                sent = True
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return code, data.decode("utf-8", "replace")


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"database": {"path": str(tmp_path / "db.sqlite3")}}))
    return str(path)


@pytest.fixture
def music(tmp_path, songs_dir):
    """Five songs, a file that is not audio (large: a third of the bytes) and an empty one."""
    folder = tmp_path / "music"
    shutil.copytree(songs_dir, folder)
    (folder / "broken.mp3").write_text("not audio at all\n" * 250_000)
    (folder / "empty.ogg").write_bytes(b"")
    return folder


# -- command line --------------------------------------------------------------------------------
def test_version_and_help_import_nothing_heavy():
    from dejavu_cn import __version__
    code, out, _ = cli("--version")
    assert code == 0 and out.strip() == f"dejavu-cn {__version__}"
    probe = ("import sys, io, contextlib\n"
             "from dejavu_cn.cli import main\n"
             "for argv in (['--help'], ['--version'], ['register', '--help']):\n"
             "    with contextlib.redirect_stdout(io.StringIO()):\n"
             "        main(argv)\n"
             "print(sorted(m for m in ('numpy', 'scipy', 'matplotlib', 'pymysql', 'flask', 'pyaudio', 'tqdm')"
             " if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=ENV, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def _parser():
    from dejavu_cn.cli import build_parser, core_commands, plugin_commands
    return build_parser(core_commands() + plugin_commands())


def test_every_option_shows_its_default_and_output_files_are_named_one_way():
    from dejavu_cn.cli import command_parsers
    parsers = command_parsers(_parser())
    assert {"register", "recognize file", "recognize mic", "listen", "serve", "failures", "config"} <= set(parsers)
    for name, parser in parsers.items():
        text = parser.format_help()
        visible = {s for a in parser._actions if a.help != "==SUPPRESS==" for s in a.option_strings}
        assert not visible & {"--out", "--plot"}, name          # a written file is -o/--output
        assert "--json" in visible or name == "serve", name     # every command with results speaks JSON
        for action in parser._actions:
            if action.option_strings and action.nargs != 0 and action.default not in (None, False, "==SUPPRESS=="):
                assert "default" in (parser._get_formatter()._expand_help(action) if action.help else ""), (
                    f"{name} {action.option_strings}: no default in its help")
        assert "usage: dejavu-cn" in text


def test_old_output_spellings_still_work():
    parser = _parser()
    for argv in (["segment", "r.wav", "--out", "d"], ["segment", "r.wav", "-o", "d"],
                 ["compare", "r.wav", "--original", "o.wav", "--plot", "d"], ["evaluate", "f", "--plot", "d"]):
        assert parser.parse_args(argv).output == "d"


def test_config_file_precedence_is_what_help_says(tmp_path):
    """--config, else $DEJAVU_CN_CONFIG, else ./config.json, else the defaults."""
    def path_in(name):
        cfg = tmp_path / name
        cfg.write_text(json.dumps({"database": {"path": f"{name}.sqlite3"}}))
        return cfg

    path_in("config.json")
    env_file, flag_file = path_in("env.json"), path_in("flag.json")
    code, out, err = cli("config", "--json", cwd=tmp_path)
    assert code == 0, err
    assert json.loads(out)["database"]["path"] == "config.json.sqlite3"
    code, out, _ = cli("config", "--json", cwd=tmp_path, env={**ENV, "DEJAVU_CN_CONFIG": str(env_file)})
    assert json.loads(out)["database"]["path"] == "env.json.sqlite3"
    code, out, _ = cli("--config", flag_file, "config", cwd=tmp_path, env={**ENV, "DEJAVU_CN_CONFIG": str(env_file)})
    assert json.loads(out)["database"]["path"] == "flag.json.sqlite3"
    _, help_text, _ = cli("--help")
    flat = " ".join(help_text.split())
    assert "$DEJAVU_CN_CONFIG if set, else ./config.json if present" in flat


def test_top_n_is_shown_in_the_human_output(tmp_path, config, songs_dir):
    assert cli("--config", config, "register", songs_dir, "--jobs", "1")[0] == 0
    clip = write_wav(tmp_path / "clip.wav", make_song(12, 20.0)[5 * 44100:9 * 44100])
    code, out, err = cli("--config", config, "recognize", "file", clip, "--top", "3")
    assert code == 0, err
    lines = out.splitlines()
    _, js, _ = cli("--config", config, "recognize", "file", clip, "--top", "3", "--json")
    candidates = json.loads(js)["candidates"]
    assert len(candidates) >= 2
    assert lines[0].startswith(f"{clip}: song12 (song ")
    assert [line.split(". ", 1)[0].strip() for line in lines[1:]] == [str(i + 1) for i in range(len(candidates))]
    assert all(c["song_name"] in line for c, line in zip(candidates, lines[1:]))
    code, out, _ = cli("--config", config, "recognize", "file", clip)
    assert len(out.splitlines()) == 1                             # without --top: the answer alone


def test_empty_library_says_what_to_do(tmp_path, config):
    clip = write_wav(tmp_path / "clip.wav", make_song(3, 3.0))
    code, out, err = cli("--config", config, "recognize", "file", clip)
    assert code == 1 and out == ""
    assert err == "dejavu-cn: the library is empty \u2014 register music first: dejavu-cn register FOLDER\n"


def test_config_typos_fail_every_command(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"databse": {"path": "x.sqlite3"}}))
    code, out, err = cli("--config", cfg, "list")
    assert code == 1 and out == ""
    assert "unknown key 'databse' \u2014 did you mean 'database'?" in err
    cfg.write_text(json.dumps({"web": {"max_upload": 5}}))        # a section the web package owns
    code, _, err = cli("--config", cfg, "stats")
    assert code == 1 and "unknown key 'web.max_upload' \u2014 did you mean 'web.max_upload_mb'?" in err
    cfg.write_text(json.dumps({"web": {"keep_registered": "false"}}))
    code, _, err = cli("--config", cfg, "list")
    assert code == 1 and "'web.keep_registered' must be true or false" in err


# -- registering ----------------------------------------------------------------------------------
def test_a_folder_without_audio_is_an_error(tmp_path, config):
    empty = tmp_path / "photos"
    empty.mkdir()
    (empty / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    code, out, err = cli("--config", config, "register", empty)
    assert code == 1 and out == ""
    assert err.startswith(f"dejavu-cn: no audio files found in {empty} (looked for .mp3, .ogg, ")


def test_progress_bar_ends_at_100_with_counts_and_failures_once(config, music):
    code, screen = cli_in_terminal("--config", config, "register", music, "--jobs", "2")
    assert code == 1, screen
    assert "Traceback" not in screen
    for name in ("broken.mp3", "empty.ogg"):
        assert sum(str(music / name) in line for line in screen.splitlines()) == 1, screen   # once, not again
        assert f"dejavu-cn: failed: {music / name}: " in screen
    last_bar = [part for part in screen.replace("\n", "\r").split("\r") if "registering" in part][-1]
    assert "100%" in last_bar and "registered=5" in last_bar and "failed=2" in last_bar, last_bar
    assert "registered 5, already registered 0, duplicates 0, failed 2" in screen


def test_failures_are_remembered_and_skipped_until_retried(config, music):
    code, _, err = cli("--config", config, "register", music, "--jobs", "1")
    assert code == 1 and err.count("failed: ") == 2
    # a rerun (cron) is quiet about known-bad files and succeeds
    code, out, err = cli("--config", config, "register", music, "--jobs", "1")
    assert code == 0 and err == ""
    assert len(out.splitlines()) == 1 and "skipped 2 that failed before" in out
    code, out, _ = cli("--config", config, "failures", "--json")
    failures = json.loads(out)["failures"]
    assert code == 0 and [os.path.basename(f["path"]) for f in failures] == ["broken.mp3", "empty.ogg"]
    assert all(f["reason"] and f["size"] >= 0 for f in failures)
    code, out, _ = cli("--config", config, "failures")
    assert code == 0 and "broken.mp3" in out and "--retry-failed" in out
    code, _, err = cli("--config", config, "register", music, "--jobs", "1", "--retry-failed")
    assert code == 1 and err.count("failed: ") == 2
    # a file that changes is tried again; one that registers is forgotten
    write_wav(music / "broken.mp3", make_song(21, 3.0))
    code, out, err = cli("--config", config, "register", music, "--jobs", "1", "--json")
    assert code == 0, err
    assert json.loads(out)["counts"]["registered"] == 1 and json.loads(out)["counts"]["failed_before"] == 1
    _, out, _ = cli("--config", config, "failures", "--json")
    assert [os.path.basename(f["path"]) for f in json.loads(out)["failures"]] == ["empty.ogg"]


def test_ctrl_c_while_registering_exits_130_with_one_line(tmp_path, config):
    folder = tmp_path / "many"
    folder.mkdir()
    for seed in range(30, 42):
        write_wav(folder / f"s{seed}.wav", make_song(seed, 20.0))
    code, screen = cli_in_terminal("--config", config, "register", folder, "--jobs", "1",
                                   interrupt_on="registering 12 files")
    assert code == 130, screen
    assert "Traceback" not in screen
    assert screen.rstrip().splitlines()[-1].endswith("dejavu-cn: interrupted; rerun to resume")
    assert screen.count("interrupted") == 1


# -- serve ----------------------------------------------------------------------------------------
def test_serve_on_a_busy_port_says_so(config):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        code, out, err = cli("--config", config, "serve", "--port", port, timeout=60)
    finally:
        busy.close()
    assert code == 1 and "serving on" not in out
    assert f"port {port} is in use (" in err and "choose another with --port" in err
    assert err.count("\n") == 1


def test_ctrl_c_stops_serve_with_130(config):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "dejavu_cn", "--config", config, "serve", "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        first = proc.stdout.readline()
        assert first.startswith(f"serving on http://127.0.0.1:{port}/")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and err == "dejavu-cn: interrupted\n"
