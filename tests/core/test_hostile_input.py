"""Hostile and odd input: forged sample rates, playlists posing as audio,
FIFOs and devices in a registered folder, names that are not UTF-8, paths
the database cannot hold, hours-long files."""
import json
import os
import shutil
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

from audiogen import convert, make_song, write_wav
from dejavu_cn import Dejavu
from dejavu_cn.audio import decode_file, file_sha1
from dejavu_cn.errors import AudioDecodeError
from dejavu_cn.register import FAILED, REGISTERED, SKIPPED
from recognizers.file import FileRecognizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RATE = 11025


def forged_wav(path, rate, samples=10_000):
    """A 16-bit mono PCM WAV whose header declares ``rate`` Hz."""
    data = (np.random.default_rng(0).standard_normal(samples) * 3000).astype("<i2").tobytes()
    header = (b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE"
              + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
              + b"data" + struct.pack("<I", len(data)))
    path.write_bytes(header + data)
    return path


# -- sample rates -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["forged.wav", "forged.bin"])      # in-process WAV reader, and ffmpeg
@pytest.mark.parametrize("rate", [500_000, 4_000_000])
def test_sample_rates_beyond_384_khz_are_refused(tmp_path, name, rate):
    path = forged_wav(tmp_path / name, rate)
    with pytest.raises(AudioDecodeError, match="sample rate of .* Hz; only 1 Hz to 384 kHz"):
        decode_file(path, target_rate=RATE)


@pytest.mark.parametrize("name", ["one_hz.wav", "one_hz.bin"])
def test_a_1_hz_wav_decodes_only_what_is_asked(tmp_path, name):
    # 10,000 samples at 1 Hz are 2.8 hours: 440 MB at 11025 Hz, 4.3 GB inside the resampler
    path = forged_wav(tmp_path / name, 1)
    t0 = time.perf_counter()
    samples = decode_file(path, target_rate=RATE, duration=10.0)
    assert samples.size == pytest.approx(10 * RATE, abs=RATE // 10)
    assert time.perf_counter() - t0 < 10
    from dejavu_cn.audio import duration_seconds
    assert duration_seconds(path, limit=60.0) == pytest.approx(61.0, abs=0.5)   # "longer than 60 s", bounded


def test_recognize_file_stops_at_max_query_seconds(tmp_path):
    song = make_song(5, 20.0)
    path = convert(write_wav(tmp_path / "s.wav", song), tmp_path / "s.flac")
    engine = Dejavu({"database": {"path": ":memory:"}, "recognition": {"max_query_seconds": 8}})
    result = FileRecognizer(engine).recognize_file(path)
    assert result["query_seconds"] == pytest.approx(8.0, abs=0.05)
    assert result["truncated_at_seconds"] == 8.0
    short = FileRecognizer(engine).recognize_file(path, duration=5.0)
    assert short["query_seconds"] == pytest.approx(5.0, abs=0.05) and short["truncated_at_seconds"] is None


# -- files that make ffmpeg read others ---------------------------------------------------------------
@pytest.fixture
def library_with_ogg(tmp_path):
    music = tmp_path / "music"
    music.mkdir()
    ogg = convert(write_wav(tmp_path / "song.wav", make_song(21, 20.0)), music / "song.ogg", "-c:a", "libvorbis")
    engine = Dejavu({"database": {"path": str(tmp_path / "db.sqlite3")}})
    assert engine.register([music], jobs=1).by_status(REGISTERED)
    yield engine, ogg
    engine.close()


@pytest.mark.parametrize("playlist", [
    "#EXTM3U\n#EXT-X-TARGETDURATION:20\n#EXTINF:20.0,\nfile://{ogg}\n#EXT-X-ENDLIST\n",   # HLS
    "ffconcat version 1.0\nfile '{ogg}'\n",                                                # concat demuxer
])
def test_a_playlist_posing_as_mp3_is_refused_not_recognised(library_with_ogg, tmp_path, playlist):
    engine, ogg = library_with_ogg
    fake = tmp_path / "x.mp3"
    fake.write_text(playlist.format(ogg=ogg))
    with pytest.raises(AudioDecodeError, match="refused") as caught:
        FileRecognizer(engine).recognize_file(fake)
    assert str(fake) in str(caught.value) and "\n" not in str(caught.value)
    report = engine.register([fake], jobs=1)
    assert [o.status for o in report.outcomes] == [FAILED]


# -- special files ----------------------------------------------------------------------------
def test_file_sha1_never_opens_a_fifo_for_long(tmp_path):
    fifo = tmp_path / "pipe.mp3"
    os.mkfifo(fifo)
    t0 = time.perf_counter()
    with pytest.raises(AudioDecodeError, match="not a regular file"):
        file_sha1(fifo)
    assert time.perf_counter() - t0 < 2


def test_register_skips_fifos_and_devices_and_never_blocks(tmp_path, songs_dir):
    folder = tmp_path / "odd"
    folder.mkdir()
    shutil.copy(songs_dir / "song11.wav", folder / "good.wav")
    os.mkfifo(folder / "fifo.mp3")
    os.symlink("/dev/zero", folder / "zero.wav")
    os.symlink(songs_dir / "song12.wav", folder / "link.wav")       # a link to a regular file is fine
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"database": {"path": str(tmp_path / "db.sqlite3")}}))
    env = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run([sys.executable, "-m", "dejavu_cn", "--config", str(config), "register", "--json",
                           "--jobs", "1", str(folder), str(folder / "fifo.mp3")],
                          capture_output=True, text=True, timeout=120, env=env)
    report = json.loads(done.stdout)
    by_name = {os.path.basename(f["path"]): f for f in report["files"]}
    assert by_name["good.wav"]["status"] == by_name["link.wav"]["status"] == REGISTERED
    assert "FIFO" in by_name["fifo.mp3"]["message"] and "not read" in by_name["fifo.mp3"]["message"]
    assert "character device" in by_name["zero.wav"]["message"] and "/dev/zero" in by_name["zero.wav"]["message"]
    assert {f["status"] for f in report["files"] if f["path"].endswith(("fifo.mp3", "zero.wav"))} == {FAILED}
    assert done.returncode == 1 and "fifo.mp3" in done.stderr


# -- names and paths ----------------------------------------------------------------------------
def test_names_that_are_not_utf8_and_overlong_paths_never_block_the_batch(tmp_path, songs_dir, any_config):
    folder = tmp_path / "names"
    folder.mkdir()
    shutil.copy(songs_dir / "song11.wav", folder / "plain.wav")
    shutil.copy(songs_dir / "song12.wav", os.path.join(os.fsencode(folder), b"caf\xe9 \xff.wav"))
    deep = folder.joinpath(*["d" * 250] * 9)                     # a path of 2,300 characters
    deep.mkdir(parents=True)
    shutil.copy(songs_dir / "song13.wav", deep / "deep.wav")
    shutil.copy(songs_dir / "song14.wav", folder / "zz_last.wav")
    with Dejavu(any_config) as engine:
        report = engine.register([folder], jobs=1)               # one batch holds all four
        by_name = {os.path.basename(o.path): o for o in report.outcomes}
        assert by_name["plain.wav"].status == by_name["zz_last.wav"].status == REGISTERED
        odd = by_name["caf\\xe9 \\xff.wav"]                         # stored and shown readably
        assert odd.status == REGISTERED
        songs = {s["song_name"]: s for s in engine.list_songs()[0]}
        assert songs["caf\\xe9 \\xff"]["source_path"] == os.path.join(str(folder), "caf\\xe9 \\xff.wav")
        deep_outcome = by_name["deep.wav"]
        if any_config["database_type"] == "mysql":                # VARCHAR(2048): refused, alone
            assert deep_outcome.status == FAILED and "cannot be stored" in deep_outcome.message
        else:
            assert deep_outcome.status == REGISTERED
        again = engine.register([folder], jobs=1)                 # nothing is read twice
        assert {o.status for o in again.outcomes if o.path != deep_outcome.path} == {SKIPPED}
        json.dumps(report.to_dict(), ensure_ascii=False).encode("utf-8")   # printable as it is
