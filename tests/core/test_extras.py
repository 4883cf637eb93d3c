"""The optional parts are extras (``[mic]``, ``[web]``, ``[plots]``): the
core imports without PyAudio, Flask and matplotlib, and a command that needs
a missing one says which extra to install and exits 1.

Each check runs in a fresh interpreter where importing the blocked packages
fails (a ``sys.meta_path`` finder raising ImportError), as on a machine
without them."""
import json
import os
import subprocess
import sys

import pytest

from audiogen import make_song, write_wav

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OPTIONAL = ("pyaudio", "flask", "werkzeug", "waitress", "matplotlib")
PLOTS_MISSING = "plots need matplotlib: pip install 'dejavu-cn[plots]'"


def blocking(names, code):
    """Python source: ``code`` run after importing any of ``names`` (or a
    submodule) has been made to fail."""
    return (f"import sys\n"
            f"class _Blocked:\n"
            f"    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] in {tuple(names)!r}:\n"
            f"            raise ImportError(f'No module named {{name!r}} (blocked)', name=name)\n"
            f"        return None\n"
            f"sys.meta_path.insert(0, _Blocked())\n" + code)


def run_python(code, cwd):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_blocking_works(tmp_path):
    proc = run_python(blocking(["matplotlib"], "import matplotlib"), tmp_path)
    assert proc.returncode == 1 and "blocked" in proc.stderr


def test_every_core_module_imports_without_the_optional_parts(tmp_path):
    code = blocking(OPTIONAL, (
        "import importlib, json, pkgutil\n"
        "import dejavu_cn\n"
        "names = sorted(m.name for m in pkgutil.walk_packages(dejavu_cn.__path__, 'dejavu_cn.')\n"
        "               if m.name != 'dejavu_cn.__main__')         # __main__ runs the command line\n"
        "failed = {}\n"
        "for name in names:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        failed[name] = repr(exc)\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {OPTIONAL!r} and sys.modules[m])\n"
        "print(json.dumps({'names': names, 'failed': failed, 'loaded': loaded}))\n"))
    proc = run_python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["failed"] == {} and out["loaded"] == []
    assert {"dejavu_cn.plots", "dejavu_cn.cli.plot", "dejavu_cn.evaluate", "dejavu_cn.engine",
            "dejavu_cn.formatting"} <= set(out["names"])


@pytest.fixture
def setup_files(tmp_path):
    """A config on an empty SQLite file, a 2 s WAV and a folder holding it."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"database": {"path": str(tmp_path / "db.sqlite3")}}))
    folder = tmp_path / "music"
    folder.mkdir()
    wav = write_wav(folder / "clip.wav", make_song(7, 2.0))
    return config, str(wav), folder


@pytest.mark.parametrize("command", [
    ["plot", "fingerprint", "{wav}", "-o", "{out}/fp.png"],
    ["plot", "match", "{wav}", "-o", "{out}/match.png"],
    ["evaluate", "{folder}", "-o", "{out}/accuracy.png", "--clips", "1", "--unknown-clips", "0"],
])
def test_plot_commands_without_matplotlib_name_the_extra(setup_files, tmp_path, command):
    config, wav, folder = setup_files
    argv = ["--config", str(config)] + [a.format(wav=wav, out=tmp_path, folder=folder) for a in command]
    code = blocking(["matplotlib"], f"from dejavu_cn.cli import main\nsys.exit(main({argv!r}))\n")
    proc = run_python(code, tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dejavu-cn: ") and lines[0].endswith(PLOTS_MISSING), lines
    assert "Traceback" not in proc.stderr and not list(tmp_path.glob("*.png"))


def test_plots_available_tells_the_truth(monkeypatch):
    from dejavu_cn import plots
    assert plots.plots_available()                            # installed here (scripts/setup.sh: .[all,test])
    monkeypatch.setitem(sys.modules, "matplotlib", None)      # "import matplotlib" now fails
    assert not plots.plots_available()


def test_setup_declares_the_extras(monkeypatch):
    """setup.py: numpy >= 2 (np.bitwise_count), the optional parts as extras,
    and scripts/setup.sh (the README's set-up) installs all of them."""
    import runpy

    import setuptools
    declared = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: declared.update(kwargs))
    monkeypatch.chdir(ROOT)
    runpy.run_path("setup.py")

    def names(requirements):
        return {r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in requirements}
    assert "numpy>=2" in declared["install_requires"]
    assert not names(declared["install_requires"]) & {"pyaudio", "flask", "waitress", "matplotlib"}
    extras = {k: names(v) for k, v in declared["extras_require"].items()}
    assert extras["mic"] == {"pyaudio"} and extras["web"] == {"flask", "waitress"}
    assert extras["plots"] == {"matplotlib"}
    assert extras["all"] == extras["mic"] | extras["web"] | extras["plots"] and "pytest" in extras["test"]
    setup_sh = open(os.path.join(ROOT, "scripts", "setup.sh"), encoding="utf-8").read()
    assert '-e ".[all,test]"' in setup_sh
