"""Lazy package attributes (PEP 562), so that importing a package, or the
command line's ``--help``, does not import numpy, scipy or Flask."""
import importlib
import sys


def lazy_attributes(package, names):
    """A module ``__getattr__`` for ``package``: ``names`` maps each public
    name to the submodule (relative, e.g. ``".engine"``) that defines it."""

    def __getattr__(name):
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(names[name], package), name)
        setattr(sys.modules[package], name, value)     # the next access is a plain lookup
        return value

    return __getattr__
