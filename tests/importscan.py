"""Which modules a source file imports (for the layering tests)."""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _names(nodes):
    names = set()
    for n in nodes:
        if isinstance(n, ast.Import):
            names |= {a.name.split(".")[0] for a in n.names}
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module:
            names.add(n.module.split(".")[0])
    return names


def all_imports(path):
    """Top-level names imported anywhere in the file."""
    return _names(ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)))


def module_level_imports(path):
    """Top-level names imported when the module loads (not inside functions)."""
    tree = ast.parse(open(path, encoding="utf-8").read(), path)
    nodes = []
    for node in tree.body:
        nodes.extend(ast.walk(node) if isinstance(node, (ast.If, ast.Try)) else [node])
    return _names(nodes)


def python_files(package):
    for dirpath, _, files in os.walk(os.path.join(ROOT, package)):
        for f in files:
            if f.endswith(".py"):
                yield os.path.join(dirpath, f)
