"""Files built to exhaust memory, recognised through the command line in a
process of their own whose peak resident memory is measured (the kernel's
count of the child and what it waited for, not timing)."""
import json
import os
import subprocess
import sys

import pytest

from audiogen import make_song, write_wav
from dejavu_cn import Dejavu
from test_hostile_input import forged_wav

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIMIT_MB = 1024
# runs the command given as arguments, then prints its peak RSS in kB (ru_maxrss of the children)
MEASURE = ("import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
           "sys.stderr.write(done.stderr); print(done.returncode); print(done.stdout.strip()); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def recognise_measured(tmp_path, path):
    """(exit code, result dict, peak RSS in MB) of ``dejavu-cn recognize file --json path``."""
    config = tmp_path / "config.json"
    settings = {"database": {"path": str(tmp_path / "db.sqlite3")}}
    config.write_text(json.dumps(settings))
    with Dejavu(settings) as engine:                 # not an empty library: the query really runs
        report = engine.register([str(write_wav(tmp_path / "song.wav", make_song(5, 8.0)))], jobs=1)
        assert not report.failed
    done = subprocess.run([sys.executable, "-c", MEASURE, sys.executable, "-m", "dejavu_cn", "--config", str(config),
                           "recognize", "file", "--json", str(path)],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, PYTHONPATH=ROOT))
    code, out, peak_kb = done.stdout.strip().split("\n")
    print(f"{os.path.basename(path)}: peak RSS {int(peak_kb) / 1024:.0f} MB")
    return int(code), json.loads(out) if out else None, int(peak_kb) / 1024


@pytest.mark.slow
def test_a_1_hz_wav_is_recognised_in_bounded_memory(tmp_path):
    code, result, peak_mb = recognise_measured(tmp_path, forged_wav(tmp_path / "one_hz.wav", 1))
    assert code == 0 and result["match"] is None
    assert result["truncated_at_seconds"] == 60.0
    assert peak_mb < LIMIT_MB


@pytest.mark.slow
def test_a_file_of_4_8_hours_is_recognised_in_bounded_memory(tmp_path):
    long = tmp_path / "long.flac"                 # 17,280 s of a tone at 8 kHz: 67 MB, made in seconds
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "sine=f=440:r=8000:d=17280", "-c:a", "flac", str(long)], check=True)
    code, result, peak_mb = recognise_measured(tmp_path, long)
    assert code == 0 and result["truncated_at_seconds"] == 60.0
    assert peak_mb < LIMIT_MB
