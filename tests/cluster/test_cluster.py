"""The store on a real MariaDB cluster, started by scripts/cluster.sh: a
Spider head with 4 data nodes (the index spread by hash), and 3 Galera nodes
(synchronous replicas, the client moving on when one goes away). Each kind
runs once per test session (tests/conftest.py: ``spider_cluster``,
``galera_cluster``, shared with the storage contract suite of
tests/core/test_storage.py), each test in a database of its own.

Needs root (the instances run as the mysql user) and Debian's
mariadb-plugin-spider and galera-4 (scripts/setup.sh installs them). With
CI=true a cluster that cannot start fails these tests; elsewhere they skip.
"""
import json
import os
import subprocess
import sys
import time

import pytest

from audiogen import make_song, write_wav
from dejavu_cn import Dejavu
from dejavu_cn.audio import resample
from dejavu_cn.errors import StorageError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SEEDS = range(300, 308)                       # 8 generated songs of 40 s


def stop(folder, name, signal):
    """Stop one instance of a cluster with ``signal`` and wait until it is gone."""
    pid = int((folder / name / "pid").read_text())
    os.kill(pid, signal)
    for _ in range(240):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.25)


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster_songs")
    for seed in SEEDS:
        write_wav(folder / f"track{seed}.wav", make_song(seed, 40.0), 44100)
    return folder


def clip_of(engine, seed, start, seconds=5.0):
    song = make_song(seed, 40.0)
    return resample(song[int(start * 44100):int((start + seconds) * 44100)], 44100, engine.params.sample_rate)


def exactly_once(engine, folder):
    """Every file of ``folder`` is one song, and each song holds the fingerprints it says."""
    listed, total = engine.list_songs()
    names = sorted(s["song_name"] for s in listed)
    assert names == sorted(p.stem for p in folder.iterdir()) and total == len(names)
    assert engine.stats()["fingerprints"] == sum(s["total_hashes"] for s in listed)


def test_spider_spreads_the_index_by_hash_and_recognises(spider_config, songs):
    engine = Dejavu(spider_config)
    report = engine.register([songs], jobs=2)
    assert len(report.by_status("registered")) == len(SEEDS) and not report.failed
    exactly_once(engine, songs)
    stats = engine.stats()
    shards = stats["shards"]
    assert len(shards) == 4 and sum(s["fingerprints"] for s in shards) == stats["fingerprints"]
    assert all(0.15 <= s["fingerprints"] / stats["fingerprints"] <= 0.35 for s in shards), shards
    for seed, start in ((302, 11.0), (306, 27.5)):
        match = engine.match_samples(clip_of(engine, seed, start))["match"]
        assert match["song_name"] == f"track{seed}" and abs(match["offset_seconds"] - start) < 0.1
    engine.close()


def test_a_spider_data_node_down_is_named_and_a_rerun_completes(spider_cluster, spider_config, songs, tmp_path):
    config = spider_config
    Dejavu(config).register([songs], jobs=2)
    stop(spider_cluster.folder, "dn1", 15)
    new = tmp_path / "more"
    new.mkdir()
    write_wav(new / "track399.wav", make_song(399, 40.0), 44100)
    fresh = Dejavu(config)
    with pytest.raises(StorageError, match=r"dn1 \(127\.0\.0\.1:\d+\).*start"):
        fresh.match_samples(clip_of(fresh, 302, 11.0))
    with pytest.raises(StorageError, match=r"dn1 \(127\.0\.0\.1:\d+\)"):
        fresh.register([new], jobs=1)
    fresh.close()
    spider_cluster.script("start", "dn1")
    again = Dejavu(config)
    report = again.register([new], jobs=1)
    assert len(report.by_status("registered")) == 1 and not report.failed
    listed, total = again.list_songs()
    assert total == len(SEEDS) + 1 and len({s["song_name"] for s in listed}) == total
    assert again.stats()["fingerprints"] == sum(s["total_hashes"] for s in listed)
    assert again.match_samples(clip_of(again, 306, 27.5))["match"]["song_name"] == "track306"
    again.close()


def test_galera_finishes_a_registration_when_a_node_is_killed(galera_cluster, galera_config, songs, tmp_path):
    config = galera_config
    path = tmp_path / "galera.json"
    path.write_text(json.dumps(config))
    cli = "import sys; from dejavu_cn.cli import console_main; sys.argv[0] = 'dejavu-cn'; console_main()"
    run = subprocess.Popen([sys.executable, "-c", cli, "--config", str(path), "--set", "register.commit_seconds=0",
                            "register", str(songs), "--jobs", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env={**os.environ, "PYTHONPATH": ROOT})
    watcher = Dejavu({**config, "database": {**config["database"], "hosts": config["database"]["hosts"][1:]}})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None and watcher.stats()["songs"] < 2:
        time.sleep(0.2)
    stop(galera_cluster.folder, "g0", 9)                                 # the node the client uses first
    out, err = run.communicate(timeout=300)
    assert run.returncode == 0, err
    assert "went away" in err
    exactly_once(watcher, songs)
    galera_cluster.script("start", "g0")                                 # rejoins and catches up
    everyone = Dejavu(config)
    for _ in range(120):
        nodes = everyone.stats()["nodes"]
        if [n["state"] for n in nodes] == ["Synced"] * 3:
            break
        time.sleep(0.5)
    assert [n["state"] for n in nodes] == ["Synced"] * 3, nodes
    first = Dejavu({**config, "database": {**config["database"], "hosts": config["database"]["hosts"][:1]}})
    exactly_once(first, songs)                                           # the rejoined node has every song
    match = first.match_samples(clip_of(first, 304, 8.0))["match"]
    assert match["song_name"] == "track304" and abs(match["offset_seconds"] - 8.0) < 0.1
    first.close()
    watcher.close()
    everyone.close()


def test_an_unreachable_host_names_the_host_and_the_key():
    engine = Dejavu({"database_type": "mysql", "database": {"host": "127.0.0.1", "port": 3399, "user": "root",
                                                            "database": "dejavu"}})
    with pytest.raises(StorageError, match=r"127\.0\.0\.1:3399.*'database\.host' and 'database\.port'"):
        engine.stats()
    engine = Dejavu({"database_type": "mysql", "database": {"hosts": ["127.0.0.1:3398", "127.0.0.1:3399"],
                                                            "user": "root", "database": "dejavu"}})
    with pytest.raises(StorageError, match=r"'database\.hosts'"):
        engine.stats()
