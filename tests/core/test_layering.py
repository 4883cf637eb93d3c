"""Imports flow one way: web -> recognizers/segmenter -> dejavu_cn. The core
never imports Flask, PyAudio or matplotlib at module level."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FORBIDDEN = {
    "dejavu_cn": {"recognizers", "segmenter", "web", "flask", "pyaudio", "matplotlib", "waitress"},
    "recognizers": {"web"},
    "segmenter": {"web", "recognizers"},
}


def module_level_imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    names = set()
    for node in tree.body:
        nodes = [node]
        if isinstance(node, (ast.If, ast.Try)):
            nodes = list(ast.walk(node))
        for n in nodes:
            if isinstance(n, ast.Import):
                names |= {a.name.split(".")[0] for a in n.names}
            elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
                names.add(n.module.split(".")[0])
    return names


def all_imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    names = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import):
            names |= {a.name.split(".")[0] for a in n.names}
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
            names.add(n.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_flow_one_way(package):
    folder = os.path.join(ROOT, package)
    if not os.path.isdir(folder):
        pytest.skip(f"{package}/ not built yet")
    offenders = []
    for dirpath, _, files in os.walk(folder):
        for f in files:
            if not f.endswith(".py"):
                continue
            path = os.path.join(dirpath, f)
            upward = all_imports(path) & {"recognizers", "segmenter", "web"} & FORBIDDEN[package]
            heavy = module_level_imports(path) & (FORBIDDEN[package] - {"recognizers", "segmenter", "web"})
            if upward or heavy:
                offenders.append(f"{os.path.relpath(path, ROOT)}: {sorted(upward | heavy)}")
    assert not offenders, offenders
