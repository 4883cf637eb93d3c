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


# -- MariaDB clusters (scripts/cluster.sh), started once per test session ------------------------------
# on ports of their own, so that a cluster a user runs with the defaults is left alone
CLUSTER_PORTS = {"DEJAVU_CN_SPIDER_PORT": "3410", "DEJAVU_CN_GALERA_PORT": "3420",
                 "DEJAVU_CN_GALERA_GCOMM_PORT": "4667"}


class Cluster:
    """A cluster started by scripts/cluster.sh in a folder of its own."""

    def __init__(self, kind):
        import tempfile
        from pathlib import Path
        self.kind = kind
        self.folder = Path(tempfile.mkdtemp(prefix=f"dejavu-cn-test-{kind}-"))
        self.folder.chmod(0o755)             # the instances run as the mysql user (pytest's folders are root's)
        self.env = {**os.environ, **CLUSTER_PORTS, "DEJAVU_CN_CLUSTER_DIR": str(self.folder)}

    def script(self, *args, check=True):
        import subprocess
        done = subprocess.run(["bash", os.path.join(ROOT, "scripts", "cluster.sh"), *args], env=self.env,
                              capture_output=True, text=True, timeout=300)
        if check and done.returncode != 0:
            raise RuntimeError(f"cluster.sh {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done

    def config(self, path):
        import json
        with open(path, encoding="utf-8") as f:
            return json.load(f)

    def database(self):
        """(name, config) of a new database on the cluster."""
        name = f"t_{uuid.uuid4().hex[:10]}"
        return name, self.config(self.script("database", name).stdout.strip().splitlines()[-1])


def _cluster(kind):
    if os.geteuid() != 0:
        message = "the cluster tests start mariadbd as the mysql user: run them as root"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    cluster = Cluster(kind)
    try:
        cluster.script("up", kind)
    except Exception as exc:               # a missing package, a port taken: fail in CI, else skip
        cluster.script("down", check=False)
        pytest.fail(str(exc)) if IN_CI else pytest.skip(str(exc))
    return cluster


@pytest.fixture(scope="session")
def spider_cluster():
    """A Spider head and 4 data nodes (the fingerprint index spread by hash)."""
    cluster = _cluster("spider")
    yield cluster
    cluster.script("down", check=False)


@pytest.fixture(scope="session")
def galera_cluster():
    """3 Galera nodes (synchronous replicas)."""
    cluster = _cluster("galera")
    yield cluster
    cluster.script("down", check=False)


def _cluster_config(cluster):
    name, config = cluster.database()
    yield config
    cluster.script("drop", name, check=False)


@pytest.fixture
def spider_config(spider_cluster):
    """A fresh database on the Spider cluster, its index on the data nodes."""
    yield from _cluster_config(spider_cluster)


@pytest.fixture
def galera_config(galera_cluster):
    """A fresh database on the Galera cluster (its config lists every node)."""
    yield from _cluster_config(galera_cluster)
