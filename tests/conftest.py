"""Shared fixtures: generated songs, SQLite and MariaDB configurations.

MariaDB tests use the real server on 127.0.0.1:3306 (root, empty password),
each in a database of its own that is dropped afterwards. With CI=true an
unreachable server fails those tests; elsewhere they are skipped.
"""
import os
import sys
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)                      # the real packages win over tests/<area> folders
sys.path.insert(1, os.path.dirname(os.path.abspath(__file__)))
from audiogen import make_song, write_wav  # noqa: E402

MYSQL = {"host": os.environ.get("DEJAVU_CN_MYSQL_HOST", "127.0.0.1"),
         "port": int(os.environ.get("DEJAVU_CN_MYSQL_PORT", "3306")),
         "user": os.environ.get("DEJAVU_CN_MYSQL_USER", "root"),
         "password": os.environ.get("DEJAVU_CN_MYSQL_PASSWORD", "")}
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

SONG_SECONDS = 20.0
SONG_SEEDS = (11, 12, 13, 14, 15)


@pytest.fixture(scope="session")
def songs_dir(tmp_path_factory):
    """A folder of five generated 20 s songs (WAV, 44.1 kHz), named song11.wav..."""
    folder = tmp_path_factory.mktemp("songs")
    for seed in SONG_SEEDS:
        write_wav(folder / f"song{seed}.wav", make_song(seed, SONG_SECONDS))
    return folder


@pytest.fixture
def sqlite_config(tmp_path):
    return {"database_type": "sqlite", "database": {"path": str(tmp_path / "test.sqlite3")}}


def _mysql_connect(**extra):
    import pymysql
    return pymysql.connect(connect_timeout=5, **MYSQL, **extra)


@pytest.fixture
def mysql_config():
    """A fresh MariaDB database for one test, dropped afterwards."""
    try:
        conn = _mysql_connect()
    except Exception as exc:
        message = f"MariaDB at {MYSQL['host']}:{MYSQL['port']} unreachable: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    name = f"dejavu_cn_test_{uuid.uuid4().hex[:12]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    conn.close()
    yield {"database_type": "mysql", "database": {**MYSQL, "database": name}}
    conn = _mysql_connect()
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def any_config(request):
    """Run a test once on SQLite and once on MariaDB."""
    return request.getfixturevalue(f"{request.param}_config")
