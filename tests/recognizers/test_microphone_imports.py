"""PyAudio stays inside recognizers/microphone.py, and only loads when a
device is used: everything else works on a machine without it."""
import os
import subprocess
import sys

from importscan import ROOT, all_imports, python_files


def test_only_the_microphone_module_imports_pyaudio():
    importers = [os.path.relpath(path, ROOT)
                 for package in ("dejavu_cn", "recognizers", "segmenter", "web")
                 for path in python_files(package) if "pyaudio" in all_imports(path)]
    assert importers == [os.path.join("recognizers", "microphone.py")]


def test_importing_the_microphone_code_does_not_load_pyaudio():
    code = ("import sys; import recognizers.microphone, recognizers.mic_cli, recognizers.streaming; "
            "from dejavu_cn.cli import main; "
            "sys.exit(3 if 'pyaudio' in sys.modules else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_without_pyaudio_the_error_says_how_to_install_it(tmp_path):
    # a 'pyaudio' that fails to import, first on the path
    (tmp_path / "pyaudio.py").write_text("raise ImportError('No module named pyaudio')\n")
    code = ("import io, sys; from dejavu_cn.cli import main; err = io.StringIO(); "
            "rc = main(['devices'], stdout=io.StringIO(), stderr=err); "
            "print(rc); print(err.getvalue(), end='')")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), ROOT])}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    rc, message = proc.stdout.split("\n", 1)
    assert rc == "1"
    assert "needs PyAudio" in message and "dejavu-cn[mic]" in message
    assert message.count("\n") == 1
