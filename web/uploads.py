"""Untrusted uploads: stored under generated names only.

The client's file name never becomes a path. It is used for two things:
the song name (:func:`song_name_from_filename`, shown escaped everywhere)
and, if it is one of the known audio extensions, the stored file's
extension (a hint for the decoder; ffmpeg probes the content anyway).
"""
import atexit
import logging
import os
import re
import secrets
import shutil
import stat
import tempfile
import time
import unicodedata

from dejavu_cn.errors import ConfigError

log = logging.getLogger(__name__)

MAX_NAME_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")


def client_basename(filename):
    """The last component of a client-side file name (``/`` or ``\\``
    separated), control characters removed, spaces collapsed."""
    name = str(filename or "")
    name = re.split(r"[\\/]", name)[-1]
    name = unicodedata.normalize("NFC", _CONTROL.sub("", name))
    return _SPACES.sub(" ", name).strip()[:MAX_NAME_CHARS * 2]


def song_name_from_filename(filename):
    """A song name from an uploaded file's name: the base name without its
    extension, or ``"untitled"``. Not HTML-safe: escape on output."""
    base = client_basename(filename)
    stem, _ = os.path.splitext(base)
    stem = stem.strip(" .")
    return stem[:MAX_NAME_CHARS] or "untitled"


def safe_extension(filename, allowed):
    """``".mp3"`` if the file name ends in an allowed extension, else ``""``."""
    ext = os.path.splitext(client_basename(filename))[1].lower().lstrip(".")
    return "." + ext if ext and ext.isalnum() and ext in allowed else ""


def ensure_dir(path):
    """Create ``path`` (mode 0700) if missing; refuse a link or a non-folder
    there (uploads are never written through a link someone planted)."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    if os.path.islink(path) or not os.path.isdir(path):
        raise ConfigError(f"{path} is a link or not a folder: uploads are only written into a real folder")
    return path


def private_dir(parent=None):
    """A new folder for this process's uploads, that only this user can enter
    (``tempfile.mkdtemp``: mode 0700, a name nobody can guess or take
    first), under ``parent`` (default: the system's temporary folder).
    Removed when the process exits."""
    if parent is not None:
        ensure_dir(parent)
    path = tempfile.mkdtemp(prefix="dejavu-cn-upload-", dir=parent)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def save_upload(storage, folder, *, allowed_extensions):
    """Save a Werkzeug ``FileStorage`` as ``<folder>/<random hex><ext>``.

    Returns the path. The caller removes it (see :func:`remove_quietly`).
    """
    ensure_dir(folder)
    ext = safe_extension(storage.filename, allowed_extensions)
    while True:
        path = os.path.join(folder, secrets.token_hex(16) + ext)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:   # 128 random bits: never, but do not overwrite
            continue
    with os.fdopen(fd, "wb") as out:
        storage.save(out)
    return path


def remove_quietly(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot remove upload %s: %s", path, exc)


def is_inside(path, folder):
    """True if ``path`` is inside ``folder`` (after resolving links)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder and path != folder


def sweep_stale(folder, *, max_age_seconds=3600.0, keep=()):
    """Remove what a killed server left in a folder of temporary uploads:
    files and folders (other processes' private folders) not changed for
    ``max_age_seconds`` (s), except the names in ``keep``. Links are
    never followed nor removed: neither ``folder`` (if it is a link, nothing
    is swept) nor any entry in it that is a link. Returns how many went."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return 0
    except OSError as exc:          # a link (ELOOP) or not a folder
        log.warning("not sweeping %s: %s", folder, exc.strerror or exc)
        return 0
    limit = time.time() - max_age_seconds
    removed = 0
    try:
        with os.scandir(fd) as entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                    if entry.name in keep or info.st_mtime >= limit:
                        continue
                    if stat.S_ISREG(info.st_mode):
                        os.unlink(entry.name, dir_fd=fd)
                    elif stat.S_ISDIR(info.st_mode):
                        shutil.rmtree(entry.name, dir_fd=fd)     # never follows the links inside
                    else:
                        continue
                    removed += 1
                except OSError as exc:
                    log.warning("cannot remove stale upload %s: %s", os.path.join(folder, entry.name), exc)
    finally:
        os.close(fd)
    if removed:
        log.info("removed %d stale upload(s) from %s", removed, folder)
    return removed
