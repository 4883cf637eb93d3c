"""Constants and helpers shared by the web tests."""
import os

TOKEN = "s3cret-token"
CLIP_SONG, CLIP_START, CLIP_SECONDS = 12, 6.0, 5.0   # song12.wav from 6 s, for 5 s
RATE = 44100                                          # Hz, generated songs


def tree(folder):
    """Every file under ``folder`` (relative paths), but SQLite's companion
    files of an open database (``-wal``, ``-shm``: the app keeps its
    connections open)."""
    out = set()
    for root, _, files in os.walk(folder):
        out |= {os.path.relpath(os.path.join(root, f), folder) for f in files if not f.endswith(("-wal", "-shm"))}
    return out
