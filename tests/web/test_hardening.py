"""The upload path under attack and under load: private upload folders, a
sweep that never follows links, hidden server paths, absurd ids, long
uploads, and recognitions while a registration writes."""
import io
import json
import os
import stat
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from audiogen import convert, make_song, write_wav
from webhelpers import CLIP_SONG, TOKEN

AUTH = {"X-Dejavu-Token": TOKEN}
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OLD = time.time() - 7200


def upload(path, name=None, field="file"):
    return {field: (open(path, "rb"), name or os.path.basename(path))}


# -- upload folders -------------------------------------------------------------------------------------
def test_each_process_handles_uploads_in_a_private_folder(make_app, tmp_path):
    first, second = make_app(), make_app()
    folders = [app.config["UPLOAD_TMP"] for app in (first, second)]
    assert folders[0] != folders[1]
    for folder in folders:
        assert os.path.dirname(folder) == str(tmp_path / "uploads" / "tmp")
        assert stat.S_IMODE(os.lstat(folder).st_mode) == 0o700


def test_the_sweep_never_follows_links(make_app, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    precious = outside / "precious.txt"
    precious.write_text("not the server's to delete")
    os.utime(precious, (OLD, OLD))
    shared = tmp_path / "uploads" / "tmp"
    shared.mkdir(parents=True)
    link = shared / ("a" * 32)
    link.symlink_to(precious)                        # a link planted among the uploads
    os.utime(link, (OLD, OLD), follow_symlinks=False)
    stale = shared / ("0" * 32 + ".wav")             # what a killed server left: swept
    stale.write_bytes(b"old")
    os.utime(stale, (OLD, OLD))
    make_app()
    assert precious.read_text() == "not the server's to delete" and link.is_symlink()
    assert not stale.exists()


def test_an_upload_folder_that_is_a_link_is_neither_swept_nor_written(make_app, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    precious = outside / ("0" * 32)
    precious.write_text("keep me")
    os.utime(precious, (OLD, OLD))
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / "tmp").symlink_to(outside)
    from dejavu_cn.errors import ConfigError
    with pytest.raises(ConfigError, match="link"):
        make_app()
    assert precious.read_text() == "keep me" and os.listdir(outside) == [precious.name]


# -- what anonymous requests see --------------------------------------------------------------------------
def test_source_paths_only_with_the_token(client, make_app, clips):
    anonymous = client.get("/api/songs").get_json()["songs"]
    assert anonymous and all("source_path" not in s for s in anonymous)
    song_id = anonymous[0]["song_id"]
    assert "source_path" not in client.get(f"/api/songs/{song_id}").get_json()
    result = client.post("/api/recognize", data=upload(clips["wav"])).get_json()
    assert result["match"]["song_name"] == f"song{CLIP_SONG}"
    assert "source_path" not in json.dumps(result)
    assert client.get(f"/api/songs/{song_id}", headers=AUTH).get_json()["source_path"].endswith(".wav")
    assert all("source_path" in s for s in client.get("/api/songs", headers=AUTH).get_json()["songs"])
    assert "source_path" not in client.get("/api/songs", headers={"X-Dejavu-Token": "wrong"}).get_json()["songs"][0]
    shown = make_app(show_source_path=True).test_client()
    assert "source_path" in shown.get(f"/api/songs/{song_id}").get_json()


@pytest.mark.parametrize("song_id", ["9223372036854775808", "99999999999999999999999999"])
def test_a_huge_song_id_is_404(client, song_id):
    assert client.get(f"/api/songs/{song_id}").status_code == 404
    assert client.delete(f"/api/songs/{song_id}", headers=AUTH).status_code == 404


# -- long uploads ---------------------------------------------------------------------------------------
def test_uploads_longer_than_the_limit_are_refused(make_app, tmp_path):
    client = make_app(token=TOKEN, max_upload_seconds=10).test_client()
    wav = write_wav(tmp_path / "long.wav", make_song(40, 15.0))
    ogg = convert(wav, tmp_path / "long.ogg", "-c:a", "libvorbis")      # measured by decoding, not the header
    for path in (wav, ogg):
        response = client.post("/api/recognize", data=upload(path))
        assert response.status_code == 413, response.get_data(as_text=True)
        assert "web.max_upload_seconds" in response.get_json()["error"]
    response = client.post("/api/songs", data=upload(ogg, field="files"), headers=AUTH)
    assert response.status_code == 400
    assert "web.max_upload_seconds" in response.get_json()["files"][0]["message"]
    assert client.get("/api/songs").get_json()["total"] == 5
    short = write_wav(tmp_path / "short.wav", make_song(CLIP_SONG, 20.0)[44100 * 2:44100 * 7])
    assert client.post("/api/recognize", data=upload(short)).status_code == 200


# -- under load ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_recognitions_while_a_registration_writes(make_app, clips, tmp_path):
    import waitress.server
    app = make_app(token=TOKEN)
    db = app.config["DEJAVU_CONFIG"].sqlite_path()
    new = tmp_path / "new"
    new.mkdir()
    for seed in range(200, 206):
        write_wav(new / f"new{seed}.wav", make_song(seed, 30.0))
    server = waitress.server.create_server(app, host="127.0.0.1", port=0, threads=8)
    threading.Thread(target=server.run, daemon=True).start()
    url = f"http://127.0.0.1:{server.effective_port}/api/recognize"
    body = clips["wav"].read_bytes()
    boundary = "dejavu-cn-test"
    payload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"clip.wav\"\r\n"
               f"Content-Type: audio/wav\r\n\r\n").encode() + body + f"\r\n--{boundary}--\r\n".encode()
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"database_type": "sqlite", "database": {"path": db}}))
    registering = subprocess.Popen([sys.executable, "-m", "dejavu_cn", "--config", str(config), "register", "--json",
                                    "--jobs", "1", str(new)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    answers, errors = [], []

    def recognise():
        for _ in range(4):
            request = urllib.request.Request(url, data=payload, method="POST", headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}"})
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    answers.append(json.loads(response.read()))
            except Exception as exc:               # an HTTP error or a refused connection: counted
                errors.append(repr(exc))
    try:
        threads = [threading.Thread(target=recognise) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=300)
        out, err = registering.communicate(timeout=300)
    finally:
        server.close()
    assert errors == []
    assert len(answers) == 32 and {a["match"]["song_name"] for a in answers} == {f"song{CLIP_SONG}"}
    assert registering.returncode == 0, err
    assert json.loads(out)["counts"]["registered"] == 6
    total = app.test_client().get("/api/songs").get_json()["total"]
    assert total == 11
