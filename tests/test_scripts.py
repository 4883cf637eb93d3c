"""The scripts the README and CI run, on their failure paths: the test
command must fail when a test fails or none ran, and the MariaDB helper must
start a stopped server the way a fresh install needs and say why the MySQL
tests would fail."""
import os
import socket
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(args, **env):
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=900,
                          env={**os.environ, **env})


@pytest.mark.slow
@pytest.mark.parametrize("body, says", [
    ("def test_red():\n    assert 1 + 1 == 3\n", "1 failed"),        # pytest's own exit code 1
    ("def helper():\n    pass\n", "no tests"),                       # pytest's 5, turned into 1
], ids=["a-test-fails", "no-test-ran"])
def test_test_command_fails(tmp_path, body, says):
    (tmp_path / "test_case.py").write_text(body)
    done = _run(["bash", "scripts/test.sh", str(tmp_path), "-p", "no:cacheprovider"])
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert says in done.stdout + done.stderr


@pytest.mark.mysql
def test_mariadb_helper_explains_a_refused_login(mysql_config):
    done = _run(["bash", "scripts/mariadb.sh"], DEJAVU_CN_MYSQL_USER="dejavu_cn_nobody",
                DEJAVU_CN_MYSQL_PASSWORD="wrong")
    assert done.returncode == 0
    assert "refuses dejavu_cn_nobody" in done.stderr
    assert "DEJAVU_CN_MYSQL_PASSWORD" in done.stderr


@pytest.mark.mysql
def test_mariadb_helper_is_quiet_when_the_server_lets_the_tests_in(mysql_config):
    done = _run(["bash", "scripts/mariadb.sh"])
    assert done.returncode == 0
    assert done.stderr == ""


def test_mariadb_helper_starts_a_stopped_server_as_the_mysql_user(tmp_path):
    # Debian's own my.cnf names no user, and mariadbd started as root refuses
    # to run: the helper must ask for the mysql user (checked for real on a
    # fresh Debian 12 chroot; here start-stop-daemon only records its call)
    assert os.access("/usr/sbin/mariadbd", os.X_OK), "scripts/mariadb.sh installs MariaDB before the tests"
    (tmp_path / "start-stop-daemon").write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/called\n')
    (tmp_path / "start-stop-daemon").chmod(0o755)
    with socket.socket() as s:                 # a port nothing listens on: the server is "down"
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = _run(["bash", "scripts/mariadb.sh"], PATH=f"{tmp_path}:{os.environ['PATH']}",
                DEJAVU_CN_MYSQL_PORT=str(port), DEJAVU_CN_MYSQL_WAIT="1")
    assert done.returncode == 0
    called = (tmp_path / "called").read_text().split()
    assert called[called.index("--exec") + 1] == "/usr/sbin/mariadbd"
    assert called[-1] == "--user=mysql" and called[-2] == "--"
    assert f"does not answer on 127.0.0.1:{port}" in done.stderr
