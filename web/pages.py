"""The HTML pages: Recognise, Library, Compare speech.

The library list is rendered on the server (search and paging are plain
links, so it works without JavaScript); the scripts in ``static/`` add
recording, uploads with progress and deletion. Templates autoescape, and
the scripts only ever put data into the page with ``textContent``.
"""
import math

from flask import Blueprint, current_app, render_template, request

from . import pictures
from .db import get_engine

bp = Blueprint("pages", __name__)


def _web():
    return current_app.config["WEB"]


@bp.get("/")
def recognize():
    return render_template("recognize.html", active="recognize", record_seconds=_web().record_seconds)


@bp.get("/library")
def library():
    page_size = _web().page_size
    search = request.args.get("search", "").strip()[:200]
    try:
        page = max(1, int(request.args.get("page", "1")))
    except ValueError:
        page = 1
    songs, total = get_engine().list_songs(search=search or None, limit=page_size,
                                           offset=(page - 1) * page_size)
    pages = max(1, math.ceil(total / page_size))
    return render_template("library.html", active="library", songs=songs, total=total, search=search,
                           page=page, pages=pages, page_size=page_size, writable=_web().writable,
                           max_upload_mb=_web().max_upload_bytes / (1024 * 1024))


@bp.get("/compare")
def compare():
    return render_template("compare.html", active="compare",
                           speech_available=pictures.speech_module() is not None)


@bp.app_template_filter("duration")
def duration_filter(seconds):
    """Seconds as m:ss (or h:mm:ss)."""
    seconds = int(round(float(seconds or 0)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
