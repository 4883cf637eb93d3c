"""Contract test of the remembered registration failures, on SQLite and the
real MariaDB (see test_storage.py for the rest of the contract)."""
import pytest

from dejavu_cn.config import Config
from dejavu_cn.storage import open_storage


@pytest.fixture
def store(any_config):
    s = open_storage(Config.from_dict(any_config))
    yield s
    s.close()


def test_failures_are_remembered_replaced_and_forgotten(store):
    assert store.register_failures() == []
    long_path = "/music/" + "\u00e9" * 600 + ".mp3"             # longer than any key column
    store.remember_failures([("/music/b.mp3", 10, 111, "not audio"), (long_path, 0, 222, "empty")])
    store.remember_failures([("/music/b.mp3", 12, 333, "still not audio")])       # the same file again
    got = store.register_failures()
    assert [(f["path"], f["size"], f["mtime_ns"], f["reason"]) for f in got] == [
        ("/music/b.mp3", 12, 333, "still not audio"), (long_path, 0, 222, "empty")]
    assert all(f["date_failed"] for f in got)
    store.forget_failures(["/music/b.mp3", "/music/never-failed.mp3"])
    assert [f["path"] for f in store.register_failures()] == [long_path]
    store.remember_failures([])
    store.forget_failures([])
