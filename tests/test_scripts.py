"""The scripts the README and CI run, on their failure paths: the test
command must fail when a test fails or none ran, and the MariaDB helper must
say why the MySQL tests would fail."""
import os
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
