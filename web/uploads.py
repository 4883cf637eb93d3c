"""Untrusted uploads: stored under generated names only.

The client's file name never becomes a path. It is used for two things:
the song name (:func:`song_name_from_filename`, shown escaped everywhere)
and, if it is one of the known audio extensions, the stored file's
extension (a hint for the decoder; ffmpeg probes the content anyway).
"""
import logging
import os
import re
import secrets
import time
import unicodedata

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
    os.makedirs(path, mode=0o700, exist_ok=True)
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


def sweep_stale(folder, *, max_age_seconds=3600.0):
    """Remove files older than ``max_age_seconds`` (s) from a temporary upload
    folder: what a killed server left behind. Returns how many went."""
    if not os.path.isdir(folder):
        return 0
    limit = time.time() - max_age_seconds
    removed = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < limit:
                    os.remove(entry.path)
                    removed += 1
            except OSError as exc:
                log.warning("cannot remove stale upload %s: %s", entry.path, exc)
    if removed:
        log.info("removed %d stale upload(s) from %s", removed, folder)
    return removed
