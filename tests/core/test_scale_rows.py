"""Issue 30 in miniature: the rows a query reads must not grow with the
library. A tiny SQLite library of generated songs is grown x10 and x50 with
synthetic rows by the benchmark's own synthesiser (bench/synthrows.py: every
hash's count grows with the library, nothing aligns), and the same queries
are run at each size. Counts rows, not time, so it holds on any machine."""
import os
import sys

import numpy as np
import pytest

from audiogen import make_song, write_wav
from dejavu_cn import Dejavu
from dejavu_cn.storage.base import index_rows_sql

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import synthrows  # noqa: E402
from scale import RowCounter  # noqa: E402

SEEDS = (31, 32, 33)
SONG_SECONDS = 12.0
GROWTH = (1, 10, 50)
QUERY_SECONDS = 3.0
# Recognition settings of the miniature: the row budgets scaled down with the library (three 12 s songs, where
# a 3 s query reads about 260 rows), so that x10 and x50 exercise them.
MINI_RECOGNITION = {"row_budget": 400}


@pytest.fixture(scope="module")
def libraries(tmp_path_factory):
    """{growth: SQLite config}: the registered songs, and the same grown x10 and x50."""
    folder = tmp_path_factory.mktemp("scale_rows")
    paths = [str(write_wav(folder / f"song{s}.wav", make_song(s, SONG_SECONDS))) for s in SEEDS]
    base = str(folder / "x1.sqlite3")
    configs = {1: {"database": {"path": base}, "recognition": dict(MINI_RECOGNITION)}}
    with Dejavu(configs[1]) as engine:
        report = engine.register(paths, jobs=1)
        assert not report.failed
        seconds = engine.stats()["seconds"]
        frame = engine.params.frame_seconds()
    for g in GROWTH[1:]:
        path = str(folder / f"x{g}.sqlite3")
        with Dejavu({"database": {"path": path}}) as engine:       # the store makes the schema
            engine.list_songs(limit=1)
        synthrows.grow_sqlite(base, path, target_seconds=g * seconds, frame_seconds=frame, seed=g, chunks=16)
        configs[g] = {"database": {"path": path}, "recognition": dict(MINI_RECOGNITION)}
    return paths, configs


def _queries(engine, paths):
    """Seeded 3 s excerpts of each registered song: (song file, samples)."""
    rng = np.random.default_rng(30)
    out = []
    for path in paths:
        audio = engine.decode(path)
        n = int(QUERY_SECONDS * engine.params.sample_rate)
        for _ in range(2):
            a = int(rng.integers(0, audio.size - n))
            out.append((path, audio[a:a + n]))
    return out


@pytest.fixture(scope="module")
def rows_per_query(libraries):
    """{growth: (median rows read per query, share of queries named right)}."""
    paths, configs = libraries
    out = {}
    for g, config in configs.items():
        with Dejavu(config) as engine:
            counter = RowCounter(engine)
            rows, right = [], 0
            for path, samples in _queries(engine, paths):
                before = counter.rows
                result = engine.match_samples(samples)
                reported = result.get("rows_read")
                rows.append(reported if reported is not None else counter.rows - before)
                match = result["match"]
                right += bool(match and os.path.abspath(match["source_path"]) == os.path.abspath(path))
            out[g] = (float(np.median(rows)), right / len(rows))
    return out


def test_growth_is_real(libraries):
    """The grown libraries hold about x10 and x50 the audio and rows."""
    _, configs = libraries
    stats = {}
    for g, config in configs.items():
        with Dejavu(config) as engine:
            stats[g] = engine.stats()
    for g in GROWTH[1:]:
        assert stats[g]["seconds"] == pytest.approx(g * stats[1]["seconds"], rel=0.3)
        assert stats[g]["fingerprints"] == pytest.approx(g * stats[1]["fingerprints"], rel=0.3)


def test_queries_still_found(rows_per_query, record_property):
    for g, (rows, right) in rows_per_query.items():
        record_property(f"rows_per_query_x{g}", rows)
        record_property(f"found_x{g}", right)
    print("rows read per query (median) by growth:", {g: r for g, (r, _) in rows_per_query.items()})
    assert all(right == 1.0 for _, right in rows_per_query.values()), rows_per_query


def test_rows_per_query_stay_bounded(rows_per_query):
    base = rows_per_query[1][0]
    assert rows_per_query[50][0] <= 2 * base, {g: r for g, (r, _) in rows_per_query.items()}


def test_new_keys_follow_heaps_law(libraries, tmp_path):
    """The synthesiser's new-key share gives the grown library the distinct
    hashes the power law through two libraries predicts, in key order."""
    import sqlite3
    _, configs = libraries
    base = configs[1]["database"]["path"]

    def rows_and_distinct(path):
        with sqlite3.connect(path) as conn:
            return conn.execute(f"SELECT COUNT(*), COUNT(DISTINCT hash) FROM ({index_rows_sql('hash')})").fetchone()

    small = rows_and_distinct(base)
    large = (small[0] * 10, int(small[1] * 10 ** 0.9))          # a made-up 10x library: distinct ~ rows^0.9
    target = small[0] * 20
    share, beta = synthrows.heaps_new_key_share(small, large, target)
    assert beta == pytest.approx(0.9, abs=0.01)
    assert share == pytest.approx(large[1] * (2 ** beta - 1) / (target - large[0]), rel=1e-6)
    path = str(tmp_path / "fresh.sqlite3")
    with Dejavu({"database": {"path": path}}) as engine:
        engine.list_songs(limit=1)
        frame = engine.params.frame_seconds()
    with Dejavu(configs[1]) as engine:
        seconds = engine.stats()["seconds"]
    synthrows.grow_sqlite(base, path, target_seconds=10 * seconds, frame_seconds=frame, seed=5, chunks=16,
                          new_key_share=0.5)
    rows, distinct = rows_and_distinct(path)
    synthetic = rows - small[0]
    assert distinct == pytest.approx(small[1] + 0.5 * synthetic, rel=0.05)
    with sqlite3.connect(path) as conn:
        keys = [bytes(h) for (h,) in conn.execute("SELECT hash FROM fingerprints")]
    assert keys == sorted(keys)                                  # appended in key order


def _summary_matches_rows(config, hashes):
    """The store's hash counts and presence are those of ``hashes`` (every stored row's)."""
    from dejavu_cn.storage import counts as hash_counts
    truth = np.bincount(hash_counts.buckets(hashes), minlength=1 << hash_counts.COUNT_BITS)
    with Dejavu(config) as engine:
        store = engine.storage
        assert np.array_equal(store.hash_counts(), truth)
        assert store.hash_presence().contains(hash_counts.short_keys(hashes)).all()
        assert store.hash_presence().keys == np.unique(hash_counts.short_keys(hashes)).size


def test_grown_library_has_the_counts_and_presence_of_its_rows(libraries):
    """The synthesiser writes the hash counts and presence of the rows it
    writes (storage/counts.py), as a recount by the store would find them."""
    import sqlite3
    from dejavu_cn.hashing import bytes_to_hashes
    _, configs = libraries
    path = configs[GROWTH[-1]]["database"]["path"]
    with sqlite3.connect(path) as conn:
        hashes = bytes_to_hashes([bytes(h) for (h,) in conn.execute("SELECT hash FROM fingerprints")])
    _summary_matches_rows(configs[GROWTH[-1]], hashes)


@pytest.mark.mysql
def test_grown_mariadb_library_has_the_counts_and_presence_of_its_rows(libraries, mysql_config):
    """The synthesiser on MariaDB, called as bench/scale.py calls it (with the
    library's database settings, which hold more than PyMySQL takes)."""
    import pymysql
    from dejavu_cn.hashing import bytes_to_hashes
    paths, _ = libraries
    source = {**mysql_config, "recognition": dict(MINI_RECOGNITION)}
    with Dejavu(source) as engine:
        assert not engine.register(paths, jobs=1).failed
        seconds = engine.stats()["seconds"]
        frame = engine.params.frame_seconds()
    settings = mysql_config["database"]
    grown = {"database_type": "mysql", "database": {**settings, "database": settings["database"] + "_grown",
                                                    "timeout_seconds": 60}}
    server = {k: settings[k] for k in ("host", "port", "user", "password")}
    conn = pymysql.connect(**server)
    try:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{grown['database']['database']}`")
        with Dejavu(grown) as engine:                              # the store makes the schema
            engine.list_songs(limit=1)
        synthrows.grow_mysql(grown["database"], settings["database"], target_seconds=10 * seconds,
                             frame_seconds=frame, seed=7, chunks=16)
        with conn.cursor() as cur:
            cur.execute(f"SELECT hash FROM `{grown['database']['database']}`.fingerprints")
            hashes = bytes_to_hashes([bytes(h) for (h,) in cur.fetchall()])
        assert len(hashes) > 5 * len(paths) * SONG_SECONDS
        _summary_matches_rows(grown, hashes)
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{grown['database']['database']}`")
        conn.close()
