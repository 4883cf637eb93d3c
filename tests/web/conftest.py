"""Fixtures for the web tests: a registered library (built once), apps on a
copy of it, and query clips cut from the generated songs."""
import os
import shutil
import sys

import pytest

# tests/ is on sys.path (tests/conftest.py), and tests/web would pass for a
# namespace package "web"; the repository root makes the real one win.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from audiogen import convert, make_song, write_wav  # noqa: E402
from dejavu_cn.engine import Dejavu  # noqa: E402

from webhelpers import CLIP_SECONDS, CLIP_SONG, CLIP_START, RATE, TOKEN  # noqa: E402


@pytest.fixture(scope="session")
def library_db(songs_dir, tmp_path_factory):
    """An SQLite database with the five generated songs registered."""
    path = tmp_path_factory.mktemp("library") / "library.sqlite3"
    with Dejavu({"database_type": "sqlite", "database": {"path": str(path)}}) as engine:
        report = engine.register([songs_dir], jobs=1)
    assert len(report.by_status("registered")) == 5
    return path


def web_config(db_path, upload_dir, **web):
    return {"database_type": "sqlite", "database": {"path": str(db_path)},
            "web": {"upload_dir": str(upload_dir), **web}}


@pytest.fixture
def make_app(library_db, tmp_path, monkeypatch):
    """``make_app(**web_settings)``: an app on a private copy of the library."""
    from web import create_app
    monkeypatch.delenv("DEJAVU_CN_WEB_TOKEN", raising=False)

    def factory(**web):
        db = tmp_path / "db" / "library.sqlite3"
        if not db.exists():
            db.parent.mkdir()
            shutil.copy(library_db, db)
        app = create_app(web_config(db, tmp_path / "uploads", **web))
        app.config["TESTING"] = True
        return app
    return factory


@pytest.fixture
def app(make_app):
    return make_app(token=TOKEN, max_upload_mb=4)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def readonly_client(make_app):
    return make_app().test_client()


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    """A 5 s clip of song12 from 6 s as WAV and as WebM/Opus (what browsers
    record), and 5 s of a song that is not in the library."""
    folder = tmp_path_factory.mktemp("clips")
    song = make_song(CLIP_SONG, 20.0)
    a = int(CLIP_START * RATE)
    wav = write_wav(folder / "clip.wav", song[a:a + int(CLIP_SECONDS * RATE)])
    webm = convert(wav, folder / "clip.webm", "-c:a", "libopus", "-b:a", "96k")
    unknown = write_wav(folder / "unknown.wav", make_song(99, CLIP_SECONDS))
    from dejavu_cn.degrade import played_at
    nightcore = write_wav(folder / "nightcore.wav", played_at(song[int(4 * RATE):int(16.5 * RATE)], 1.25))   # 10 s
    return {"wav": wav, "webm": webm, "unknown": unknown, "nightcore": nightcore}



@pytest.fixture(scope="session")
def speech_pair(tmp_path_factory):
    """An 'original' of four sentences (2.5 s sound bursts between 0.8 s
    silences) and a 'recording' that keeps sentences 0 and 2 and adds an
    unrelated one: expected verdicts same, same, not_found."""
    import numpy as np
    folder = tmp_path_factory.mktemp("speech")
    rate = 16000
    parts = [make_song(30 + i, 2.5, rate=rate) for i in range(4)]
    silence = np.zeros(int(0.8 * rate), np.float32)

    def join(pieces):
        return np.concatenate([silence] + [x for p in pieces for x in (p, silence)])
    original = write_wav(folder / "original.wav", join(parts), rate=rate)
    recording = write_wav(folder / "recording.wav", join([parts[0], parts[2], make_song(77, 2.5, rate=rate)]),
                          rate=rate)
    return {"recording": recording, "original": original}
