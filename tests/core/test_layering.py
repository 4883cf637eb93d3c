"""Imports flow one way: web -> recognizers/segmenter -> dejavu_cn. The core
never imports Flask, PyAudio or matplotlib at module level."""
import os

import pytest

from importscan import ROOT, all_imports, module_level_imports, python_files

FORBIDDEN = {
    "dejavu_cn": {"recognizers", "segmenter", "web", "flask", "pyaudio", "matplotlib", "waitress"},
    "recognizers": {"web"},
    "segmenter": {"web", "recognizers"},
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_flow_one_way(package):
    folder = os.path.join(ROOT, package)
    if not os.path.isdir(folder):
        pytest.skip(f"{package}/ not built yet")
    offenders = []
    for path in python_files(package):
        upward = all_imports(path) & {"recognizers", "segmenter", "web"} & FORBIDDEN[package]
        heavy = module_level_imports(path) & (FORBIDDEN[package] - {"recognizers", "segmenter", "web"})
        if upward or heavy:
            offenders.append(f"{os.path.relpath(path, ROOT)}: {sorted(upward | heavy)}")
    assert not offenders, offenders
