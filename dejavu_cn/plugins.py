"""Packages built on the core plug into it through the entry-point group
``dejavu_cn.plugins``: each entry names a module that may hold
``COMMANDS`` (subcommands of ``dejavu-cn``, see :mod:`dejavu_cn.cli`) and
``CONFIG_SECTIONS`` (the configuration sections it owns, see
:func:`dejavu_cn.config.plugin_sections`). The core never imports them by
name, so imports still flow one way.

The entry points are read from the ``entry_points.txt`` files of the
installed distributions directly: ``importlib.metadata`` would cost
``dejavu-cn --help`` 40 to 70 ms of imports (the email package) alone.
"""
import functools
import importlib
import logging
import os
import sys

log = logging.getLogger(__name__)
PLUGIN_GROUP = "dejavu_cn.plugins"


def entry_points(group=PLUGIN_GROUP):
    """[(name, "module")] of an entry-point group, over the distributions on
    ``sys.path`` (the first distribution of a name wins, as in importlib)."""
    found, seen = [], set()
    for folder in sys.path:
        try:
            names = sorted(os.listdir(folder or "."))
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            dist = name.rsplit("-", 1)[0] if name.endswith(".dist-info") else name[:-len(".egg-info")]
            dist = dist.split("-")[0].lower().replace("_", "-")
            if dist in seen:
                continue
            seen.add(dist)
            try:
                with open(os.path.join(folder or ".", name, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            found.extend(_section(text, group))
    return found


def _section(text, group):
    """(name, value) pairs of one ``[group]`` of an entry_points.txt."""
    pairs, inside = [], False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("["):
            inside = line == f"[{group}]"
        elif inside and "=" in line and not line.startswith(("#", ";")):
            name, value = (part.strip() for part in line.split("=", 1))
            pairs.append((name, value.split(":", 1)[0].strip()))
    return pairs


@functools.lru_cache(maxsize=None)
def plugin_modules():
    """The plugin modules that load (an optional part whose dependencies
    are missing is left out), loaded once."""
    modules = []
    for name, module in entry_points():
        try:
            modules.append(importlib.import_module(module))
        except ImportError as exc:
            log.debug("plugin %s not loaded: %s", name, exc)
    return tuple(modules)
