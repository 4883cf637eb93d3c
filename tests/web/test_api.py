"""The JSON API and the pages through Flask's test client, with real
decoding (ffmpeg) and a real SQLite library, including hostile input."""
import io
import json
import os
import struct
import subprocess
import sys
import time
import urllib.request

import pytest

from dejavu_cn.cli import main as cli_main
from dejavu_cn.errors import ConfigError
from webhelpers import CLIP_SONG, CLIP_START, TOKEN, tree

AUTH = {"X-Dejavu-Token": TOKEN}


def upload(path, name=None, field="file"):
    return {field: (open(path, "rb"), name or os.path.basename(path))}


def song_count(client):
    response = client.get("/api/songs")
    assert response.status_code == 200
    return response.get_json()["total"]


def assert_json_error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert isinstance(body.get("error"), str) and body["error"]
    return body["error"]


# -- recognise ----------------------------------------------------------------------------
def test_recognize_wav_same_json_as_cli(app, client, clips, tmp_path):
    response = client.post("/api/recognize", data=upload(clips["wav"]), content_type="multipart/form-data")
    assert response.status_code == 200
    body = response.get_json()
    assert body["match"]["song_name"] == f"song{CLIP_SONG}"
    assert body["match"]["offset_seconds"] == pytest.approx(CLIP_START, abs=0.05)
    assert body["path"] == "clip.wav"

    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({"database_type": "sqlite",
                                       "database": {"path": app.config["DEJAVU_CONFIG"].sqlite_path()}}))
    out, err = io.StringIO(), io.StringIO()
    assert cli_main(["--config", str(config_file), "recognize", "file", "--json", str(clips["wav"])],
                    stdout=out, stderr=err) == 0
    cli = json.loads(out.getvalue().splitlines()[0])
    assert set(body) == set(cli)
    assert set(body["match"]) == set(cli["match"]) - {"source_path"}    # anonymous: the server's paths stay private
    for key in ("song_id", "song_name", "offset_seconds", "confidence", "hashes_matched_in_input"):
        assert body["match"][key] == cli["match"][key]
    assert [c["song_id"] for c in body["candidates"]] == [c["song_id"] for c in cli["candidates"]]


def test_recognize_browser_webm_opus(client, clips):
    response = client.post("/api/recognize", data=upload(clips["webm"], "recording.webm"))
    assert response.status_code == 200
    match = response.get_json()["match"]
    assert match["song_name"] == f"song{CLIP_SONG}"
    assert match["offset_seconds"] == pytest.approx(CLIP_START, abs=0.1)


def test_histogram_picture(client, clips, tmp_path):
    response = client.post("/api/recognize/plot", data=upload(clips["webm"]))
    assert response.status_code == 200 and response.mimetype == "image/png"
    png = response.get_data()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (800, 480)
    fake = tmp_path / "x.wav"
    fake.write_text("RIFF but not really")
    assert_json_error(client.post("/api/recognize/plot", data=upload(fake)), 400)
    assert_json_error(client.post("/api/recognize/plot?top=9", data=upload(clips["wav"])), 400)


def test_recognize_unknown_is_no_match(client, clips):
    response = client.post("/api/recognize", data=upload(clips["unknown"]))
    assert response.status_code == 200
    body = response.get_json()
    assert body["match"] is None
    assert isinstance(body["candidates"], list)


def test_recognize_needs_file_field(client, clips):
    assert "file" in assert_json_error(client.post("/api/recognize", data={}), 400)
    assert_json_error(client.post("/api/recognize", data=upload(clips["wav"], field="audio")), 400)


def test_recognize_bad_top(client, clips):
    assert_json_error(client.post("/api/recognize?top=0", data=upload(clips["wav"])), 400)
    assert_json_error(client.post("/api/recognize?top=x", data=upload(clips["wav"])), 400)


def test_text_renamed_mp3_is_refused(app, client, tmp_path):
    fake = tmp_path / "song.mp3"
    fake.write_text("this is not audio at all\n" * 200)
    message = assert_json_error(client.post("/api/recognize", data=upload(fake)), 400)
    assert "song.mp3" in message
    upload_dir = app.config["WEB"].upload_dir
    assert upload_dir not in message                # the server's paths stay private
    assert tree(upload_dir) == set()                # and the upload is gone


def test_empty_upload_is_refused(client):
    data = {"file": (io.BytesIO(b""), "empty.wav")}
    assert_json_error(client.post("/api/recognize", data=data), 400)


def test_oversize_upload_is_413(make_app, client):
    big = os.urandom(5 * 1024 * 1024)      # the app's limit is 4 MB
    message = assert_json_error(client.post("/api/recognize", data={"file": (io.BytesIO(big), "big.wav")}), 413)
    assert "4 MB" in message
    before = song_count(client)
    assert_json_error(client.post("/api/songs", data={"files": (io.BytesIO(big), "big.wav")}, headers=AUTH), 413)
    assert song_count(client) == before


def test_traversal_filename_stays_in_upload_dir(app, client, clips, tmp_path):
    before = tree(tmp_path)
    response = client.post("/api/recognize", data=upload(clips["wav"], "../../../../tmp/evil.wav"))
    assert response.status_code == 200
    assert response.get_json()["path"] == "evil.wav"
    response = client.post("/api/songs", headers=AUTH,
                           data={"files": (open(clips["unknown"], "rb"), "..\\..\\../../evil-song.wav")})
    assert response.status_code == 201, response.get_data(as_text=True)
    outcome = response.get_json()["files"][0]
    assert outcome["song_name"] == "evil-song"
    new = tree(tmp_path) - before
    assert len(new) == 1
    stored = new.pop()
    assert stored.startswith(os.path.join("uploads", "songs") + os.sep)
    assert "evil" not in stored and len(os.path.basename(stored)) == 32 + len(".wav")
    assert not os.path.exists("/tmp/evil.wav") and not (tmp_path.parent / "evil-song.wav").exists()
    song = client.get(f"/api/songs/{outcome['song_id']}", headers=AUTH).get_json()
    assert os.path.realpath(song["source_path"]) == os.path.realpath(tmp_path / stored)


# -- library ----------------------------------------------------------------------------------
def test_list_search_and_page(client):
    body = client.get("/api/songs").get_json()
    assert body["total"] == 5 and len(body["songs"]) == 5
    assert {s["song_name"] for s in body["songs"]} == {f"song{i}" for i in range(11, 16)}
    page = client.get("/api/songs?limit=2&offset=2").get_json()
    assert [s["song_id"] for s in page["songs"]] == [s["song_id"] for s in body["songs"][2:4]]
    found = client.get("/api/songs?search=song13").get_json()
    assert found["total"] == 1 and found["songs"][0]["song_name"] == "song13"
    assert client.get("/api/songs?search=%25").get_json()["total"] == 0     # LIKE wildcards are literal
    assert_json_error(client.get("/api/songs?limit=-1"), 400)
    assert_json_error(client.get("/api/songs?offset=abc"), 400)
    assert_json_error(client.get("/api/songs/999999"), 404)


def test_register_several_files_with_token(client, clips, songs_dir, tmp_path):
    text = tmp_path / "notes.ogg"
    text.write_text("not audio")
    data = {"files": [(open(clips["unknown"], "rb"), "New Song.wav"),
                      (open(songs_dir / "song11.wav", "rb"), "again.wav"),
                      (open(text, "rb"), "notes.ogg")]}
    response = client.post("/api/songs", data=data, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 201
    files = response.get_json()["files"]
    assert [f["status"] for f in files] == ["registered", "duplicate", "failed"]
    assert files[0]["song_name"] == "New Song" and files[0]["hashes"] > 0
    assert str(tmp_path) not in files[2]["message"]
    assert song_count(client) == 6
    assert client.get("/api/songs?search=New Song").get_json()["songs"][0]["song_id"] == files[0]["song_id"]


def test_register_only_text_is_400(client, tmp_path):
    text = tmp_path / "fake.mp3"
    text.write_text("hello")
    assert_json_error(client.post("/api/songs", data=upload(text, field="files"), headers=AUTH), 400)
    assert song_count(client) == 5
    assert_json_error(client.post("/api/songs", data={}, headers=AUTH), 400)


def test_register_duplicate_only_is_200(client, songs_dir):
    response = client.post("/api/songs", data=upload(songs_dir / "song14.wav", field="files"), headers=AUTH)
    assert response.status_code == 200
    assert response.get_json()["files"][0]["status"] == "duplicate"


def test_changes_refused_without_configured_token(readonly_client, clips):
    body = readonly_client.get("/api/songs").get_json()
    message = assert_json_error(readonly_client.post("/api/songs", data=upload(clips["unknown"], field="files"),
                                                     headers=AUTH), 403)
    assert "read-only" in message
    song_id = body["songs"][0]["song_id"]
    assert_json_error(readonly_client.delete(f"/api/songs/{song_id}", headers=AUTH), 403)
    assert readonly_client.get("/api/songs").get_json() == body
    page = readonly_client.get("/library").get_data(as_text=True)
    assert 'id="readonly"' in page and 'id="upload-form"' not in page and "Delete" not in page


@pytest.mark.parametrize("headers", [{}, {"X-Dejavu-Token": "wrong"}, {"Authorization": "Bearer wrong"},
                                     {"Authorization": TOKEN}])
def test_changes_refused_without_right_token(client, clips, headers):
    body = client.get("/api/songs").get_json()
    assert_json_error(client.post("/api/songs", data=upload(clips["unknown"], field="files"), headers=headers), 403)
    assert_json_error(client.delete(f"/api/songs/{body['songs'][0]['song_id']}", headers=headers), 403)
    assert client.get("/api/songs").get_json() == body


def test_token_from_environment(make_app, monkeypatch, clips):
    monkeypatch.setenv("DEJAVU_CN_WEB_TOKEN", "from-env")
    client = make_app().test_client()
    response = client.post("/api/songs", data=upload(clips["unknown"], field="files"),
                           headers={"X-Dejavu-Token": "from-env"})
    assert response.status_code == 201


def test_delete_with_token(app, client, clips):
    added = client.post("/api/songs", data=upload(clips["unknown"], "gone.wav", field="files"), headers=AUTH)
    song = added.get_json()["files"][0]
    source = client.get(f"/api/songs/{song['song_id']}", headers=AUTH).get_json()["source_path"]
    assert os.path.isfile(source)
    response = client.delete(f"/api/songs/{song['song_id']}", headers=AUTH)
    assert response.status_code == 200
    assert response.get_json() == {"deleted": song["song_id"], "song_name": "gone"}
    assert song_count(client) == 5
    assert not os.path.exists(source)
    assert_json_error(client.delete(f"/api/songs/{song['song_id']}", headers=AUTH), 404)
    recognized = client.post("/api/recognize", data=upload(clips["unknown"])).get_json()
    assert recognized["match"] is None


def test_script_song_name_is_escaped(client, clips):
    name = "<script>alert(1)<-script> & 'quotes'"      # '/' cannot be in a file name
    response = client.post("/api/songs", data=upload(clips["unknown"], name + ".wav", field="files"), headers=AUTH)
    assert response.status_code == 201
    assert response.get_json()["files"][0]["song_name"] == name     # stored as given, escaped on output
    html = client.get("/library?search=script").get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;-script&gt; &amp; &#39;quotes&#39;" in html
    assert html.count("<script") == 2                                 # only our two script tags
    assert client.get("/api/songs?search=script").get_json()["songs"][0]["song_name"] == name


def test_scripts_never_use_innerhtml(client):
    for name in ("common.js", "recognize.js", "library.js", "compare.js"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200
        source = response.get_data(as_text=True)
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, (name, sink)


def test_registered_upload_not_kept(make_app, clips):
    app = make_app(token=TOKEN, keep_registered=False)
    client = app.test_client()
    response = client.post("/api/songs", data=upload(clips["unknown"], field="files"), headers=AUTH)
    assert response.status_code == 201
    assert tree(app.config["WEB"].upload_dir) == set()


# -- compare -------------------------------------------------------------------------------
def test_compare_unavailable_is_503(client, clips, monkeypatch):
    from web import pictures
    monkeypatch.setattr(pictures, "speech_module", lambda: None)
    data = {"recording": (open(clips["wav"], "rb"), "r.wav"), "original": (open(clips["wav"], "rb"), "o.wav")}
    assert "not available" in assert_json_error(client.post("/api/compare", data=data), 503)
    assert 'id="unavailable"' in client.get("/compare").get_data(as_text=True)


def test_compare_speech(client, speech_pair):
    from web import pictures
    if pictures.speech_module() is None:
        pytest.skip("recognizers.speech is not installed")
    data = {"recording": (open(speech_pair["recording"], "rb"), "talk.wav"),
            "original": (open(speech_pair["original"], "rb"), "../original.wav")}
    response = client.post("/api/compare?plot=1", data=data)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert [s["verdict"] for s in body["sentences"]] == ["same", "same", "not_found"]
    assert body["sentences"][1]["original_start"] == pytest.approx(7.4, abs=0.5)   # sentence 2 of the original
    assert [u["index"] for u in body["uncovered"]] == [1, 3]
    assert (body["recording"], body["original"]) == ("talk.wav", "original.wav")
    assert body["plot"].startswith("data:image/png;base64,")


def test_compare_bad_input(client, clips, tmp_path):
    from web import pictures
    if pictures.speech_module() is None:
        pytest.skip("recognizers.speech is not installed")
    assert_json_error(client.post("/api/compare", data={"recording": (open(clips["wav"], "rb"), "r.wav")}), 400)
    text = tmp_path / "talk.mp3"
    text.write_text("not audio " * 100)
    data = {"recording": (open(text, "rb"), "talk.mp3"), "original": (open(clips["wav"], "rb"), "o.wav")}
    message = assert_json_error(client.post("/api/compare", data=data), 400)
    assert "talk.mp3" in message


# -- health and pages ----------------------------------------------------------------------------
def test_health(client):
    body = client.get("/api/health").get_json()
    assert body["status"] == "ok" and body["database"] is True
    assert body["songs"] == 5 and body["fingerprints"] > 1000


def test_health_database_unreachable(tmp_path):
    from web import create_app
    app = create_app({"database_type": "sqlite", "database": {"path": str(tmp_path / "missing" / "db.sqlite3")},
                      "web": {"upload_dir": str(tmp_path / "up")}})
    response = app.test_client().get("/api/health")
    assert response.status_code == 503
    assert response.get_json()["database"] is False


def test_pages_render(client):
    for url, marker in (("/", 'id="record"'), ("/library", 'id="upload-form"'), ("/compare", 'id="compare-form"')):
        response = client.get(url)
        assert response.status_code == 200 and marker in response.get_data(as_text=True)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/static/style.css").status_code == 200
    missing = client.get("/nope")
    assert missing.status_code == 404 and "Error 404" in missing.get_data(as_text=True)
    assert_json_error(client.get("/api/nope"), 404)


def test_library_pages(make_app):
    client = make_app(page_size=2).test_client()
    first = client.get("/library").get_data(as_text=True)
    assert "Page 1 of 3" in first and "btn-danger" not in first   # read-only: no delete buttons
    assert first.count('class="name"') == 2
    last = client.get("/library?page=3").get_data(as_text=True)
    assert "song15" in last and "song11" not in last
    assert "song13" in client.get("/library?search=song13").get_data(as_text=True)
    assert "No song matches" in client.get("/library?search=zzz").get_data(as_text=True)


def test_stale_temporary_uploads_are_swept(make_app, tmp_path):
    folder = tmp_path / "uploads" / "tmp"
    folder.mkdir(parents=True)
    old, fresh = folder / ("0" * 32), folder / ("f" * 32 + ".wav")
    old.write_bytes(b"left by a killed server")
    fresh.write_bytes(b"being uploaded right now")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    make_app()
    assert not old.exists() and fresh.exists()


def test_bad_web_settings(tmp_path):
    from web import create_app
    with pytest.raises(ConfigError):
        create_app({"web": {"tokn": "x"}})
    with pytest.raises(ConfigError):
        create_app({"web": {"max_upload_mb": 0}})


# -- the serve command ----------------------------------------------------------------------
@pytest.mark.slow
def test_serve_command_runs_waitress(library_db, tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"database_type": "sqlite", "database": {"path": str(library_db)},
                                  "web": {"upload_dir": str(tmp_path / "up")}}))
    proc = subprocess.Popen([sys.executable, "-m", "dejavu_cn", "--config", str(config), "serve",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                    body = json.load(r)
                    server = r.headers.get("Server", "")
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert body["songs"] == 5
        assert "waitress" in server.lower() or "dejavu-cn" in server.lower()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_one_engine_serves_every_request(app, client):
    from web.db import EXTENSION
    engine = app.extensions[EXTENSION]
    for _ in range(3):
        assert client.get("/api/health").status_code == 200
        assert client.get("/api/songs").status_code == 200
    assert app.extensions[EXTENSION] is engine and len(engine._stores) == 1     # one connection for this thread


def test_deleting_an_original_whose_copies_cannot_take_its_place_is_409(app, client, monkeypatch):
    from dejavu_cn.storage import HasCopiesError
    from web.db import EXTENSION
    engine = app.extensions[EXTENSION]
    song_id = client.get("/api/songs").get_json()["songs"][0]["song_id"]

    def refuse(ids, with_copies=False):
        if not with_copies:
            raise HasCopiesError({ids[0]: [99]}, "its first copy's file is gone")
        return list(ids)
    monkeypatch.setattr(engine, "delete_songs", refuse)
    message = assert_json_error(client.delete(f"/api/songs/{song_id}", headers=AUTH), 409)
    assert "with_copies=1" in message
    assert client.delete(f"/api/songs/{song_id}?with_copies=1", headers=AUTH).status_code == 200


def test_recognize_a_sped_up_copy_when_asked(client, clips):
    copy = clips["nightcore"]                        # song12 from 4 s, played 1.25x fast
    plain = client.post("/api/recognize", data=upload(copy)).get_json()
    assert plain["match"] is None
    body = client.post("/api/recognize?changes=1", data=upload(copy)).get_json()
    match = body["match"]
    assert match is not None and match["song_name"] == f"song{CLIP_SONG}"
    assert match["speed_factor"] == pytest.approx(1.25, abs=0.01) and match["offset_seconds"] == pytest.approx(4.0, abs=0.1)
