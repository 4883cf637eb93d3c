"""Concurrent writers, files replaced in place, a database that stops
answering: on SQLite and MariaDB."""
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from audiogen import write_wav, make_song
from dejavu_cn import Dejavu
from dejavu_cn.errors import StorageError
from dejavu_cn.register import DUPLICATE, REGISTERED
from dejavu_cn.storage import MySQLStorage, SQLiteStorage
from recognizers.file import FileRecognizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def one_row_per_song(engine):
    """(songs, paths) after checking that every song has all its
    fingerprints and no fingerprint belongs to a missing song."""
    songs, _ = engine.list_songs()
    stats = engine.stats()
    assert sum(s["total_hashes"] for s in songs) == stats["fingerprints"]
    paths = [s["source_path"] for s in songs]
    assert len(paths) == len(set(paths))
    return songs, paths


# -- two registrations at once ------------------------------------------------------------------
@pytest.mark.slow
def test_two_overlapping_registrations_at_once_both_succeed(tmp_path, songs_dir, any_config):
    common, only_a, only_b = (tmp_path / n for n in ("common", "a", "b"))
    for folder, seeds in ((common, (11, 12, 13)), (only_a, (14,)), (only_b, (15,))):
        folder.mkdir()
        for seed in seeds:
            shutil.copy(songs_dir / f"song{seed}.wav", folder / f"song{seed}.wav")
    env = dict(os.environ, PYTHONPATH=ROOT)
    for trial in range(3):
        if any_config["database_type"] == "sqlite":
            config = dict(any_config, database={"path": str(tmp_path / f"trial{trial}.sqlite3")})
        else:
            config = any_config
            if trial:
                with Dejavu(config) as engine:
                    engine.delete_songs([s["song_id"] for s in engine.list_songs()[0]])
        config_file = tmp_path / f"config{trial}.json"
        config_file.write_text(json.dumps(config))
        runs = [subprocess.Popen([sys.executable, "-m", "dejavu_cn", "--config", str(config_file), "register",
                                  "--json", "--jobs", "1", str(common), str(extra)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                for extra in (only_a, only_b)]
        outs = [run.communicate(timeout=300) for run in runs]
        for run, (out, err) in zip(runs, outs):
            assert run.returncode == 0, err
        reports = [json.loads(out) for out, _ in outs]
        statuses = [f["status"] for r in reports for f in r["files"]]
        assert statuses.count(REGISTERED) == 5 and statuses.count(DUPLICATE) == 3
        with Dejavu(config) as engine:
            songs, paths = one_row_per_song(engine)
        assert len(songs) == 5


# -- a file replaced in place ---------------------------------------------------------------------
def test_a_file_replaced_in_place_replaces_its_song(tmp_path, songs_dir, any_config):
    folder = tmp_path / "music"
    folder.mkdir()
    path = folder / "track.wav"
    shutil.copy(songs_dir / "song11.wav", path)
    shutil.copy(songs_dir / "song13.wav", folder / "other.wav")
    with Dejavu(any_config) as engine:
        engine.register([folder], jobs=1)
        old_id = next(s["song_id"] for s in engine.list_songs()[0] if s["source_path"] == str(path))
        clip_old = write_wav(tmp_path / "old.wav", make_song(11, 20.0)[44100 * 5:44100 * 10])
        clip_new = write_wav(tmp_path / "new.wav", make_song(12, 20.0)[44100 * 5:44100 * 10])
        assert FileRecognizer(engine).recognize_file(clip_old)["match"]["song_id"] == old_id

        shutil.copy(songs_dir / "song12.wav", path)              # new content, same path
        os.utime(path, (time.time() + 5, time.time() + 5))
        report = engine.register([folder], jobs=1)
        assert [o.status for o in report.outcomes if o.path == str(path)] == [REGISTERED]
        songs, paths = one_row_per_song(engine)
        assert paths.count(str(path)) == 1 and len(songs) == 2
        new_id = next(s["song_id"] for s in songs if s["source_path"] == str(path))
        assert new_id != old_id and engine.storage.sketches([old_id]) == {}
        assert FileRecognizer(engine).recognize_file(clip_old)["match"] is None
        assert FileRecognizer(engine).recognize_file(clip_new)["match"]["song_id"] == new_id

        shutil.copy(folder / "other.wav", path)                  # now the bytes of another registered file
        os.utime(path, (time.time() + 10, time.time() + 10))
        report = engine.register([folder], jobs=1)
        assert [o.status for o in report.outcomes if o.path == str(path)] == [DUPLICATE]
        songs, paths = one_row_per_song(engine)
        assert str(path) not in paths and len(songs) == 1
        assert FileRecognizer(engine).recognize_file(clip_new)["match"] is None


# -- a database that stops answering ----------------------------------------------------------------
class FreezingProxy:
    """A TCP proxy to the MariaDB server that stops passing bytes on when
    ``freeze`` is set (a server that hangs, its connections still open)."""

    def __init__(self, host, port):
        self.target = (host, port)
        self.frozen = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    return
                while self.frozen.is_set():
                    time.sleep(0.05)
                sink.sendall(data)
        except OSError:
            return

    def close(self):
        for s in self.sockets:
            s.close()


@pytest.mark.mysql
def test_a_mysql_server_that_stops_answering_gives_one_line_within_the_timeout(mysql_config):
    db = mysql_config["database"]
    proxy = FreezingProxy(db["host"], db["port"])
    try:
        store = MySQLStorage(**{**db, "host": "127.0.0.1", "port": proxy.port}, timeout_seconds=2)
        store.setup({"x": 1})
        assert store.stats()["songs"] == 0
        proxy.frozen.set()
        t0 = time.monotonic()
        with pytest.raises(StorageError) as caught:
            store.stats()
        elapsed = time.monotonic() - t0
        assert 1.5 < elapsed < 6
        message = str(caught.value)
        assert "did not answer within 2 s" in message and "database.timeout_seconds" in message
        assert "\n" not in message
        store.close()
    finally:
        proxy.close()


def test_a_locked_sqlite_database_gives_one_line_within_the_timeout(tmp_path):
    path = str(tmp_path / "db.sqlite3")
    store = SQLiteStorage(path, timeout_seconds=1)
    store.setup({"x": 1})
    blocker = sqlite3.connect(path)
    blocker.execute("BEGIN IMMEDIATE")                  # another process holds the write lock
    try:
        t0 = time.monotonic()
        with pytest.raises(StorageError, match="stayed locked by another process for 1 s"):
            store.delete_songs([1])
        assert time.monotonic() - t0 < 4
    finally:
        blocker.rollback()
        blocker.close()
        store.close()


def test_the_timeout_is_configured_and_checked():
    from dejavu_cn.config import Config
    from dejavu_cn.errors import ConfigError
    config = Config.from_dict({"database_type": "mysql", "database": {"host": "h", "user": "u", "database": "d",
                                                                      "timeout_seconds": 7}})
    assert config.mysql_settings()["timeout_seconds"] == 7.0
    assert Config.from_dict({}).db_timeout_seconds() == 30.0
    with pytest.raises(ConfigError, match="timeout_seconds"):
        Config.from_dict({"database": {"path": "x", "timeout_seconds": 0}})
