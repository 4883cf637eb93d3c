"""The JSON API under ``/api``. Errors are ``{"error": message}`` with the
status code that fits (400 bad input, 403 no/wrong token, 404, 413 too
large, 503 database or feature unavailable)."""
import contextlib
import logging
import os

from flask import Blueprint, Response, abort, current_app, jsonify, request

from dejavu_cn.audio import duration_seconds
from dejavu_cn.errors import AudioDecodeError, RecognitionError, StorageError
from recognizers.file import FileRecognizer
from recognizers.timeline import timeline_of_file

from . import pictures
from .auth import has_token, require_token
from .db import get_engine
from .uploads import (client_basename, ensure_dir, is_inside, remove_quietly, save_upload,
                      song_name_from_filename)

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api")

MAX_TOP = 50
MAX_LIMIT = 500
MAX_SONG_ID = 2 ** 63 - 1     # ids beyond what a database integer holds name no song


def settings():
    return current_app.config["WEB"]


def tmp_dir():
    """This process's private folder for uploads being handled (see create_app)."""
    return current_app.config["UPLOAD_TMP"]


def songs_dir():
    return current_app.config["UPLOAD_SONGS"]


def too_long(path):
    """A message if the upload at ``path`` holds more audio than
    ``web.max_upload_seconds`` (found without decoding more than that), else None."""
    limit = settings().max_upload_seconds
    seconds = duration_seconds(path, limit=limit)
    if seconds > limit:
        return f"more than {limit:g} s of audio: the limit is {limit:g} s per file (web.max_upload_seconds)"
    return None


def shown_paths():
    """Whether this answer may show songs' source_path (the server's files)."""
    return settings().show_source_path or has_token()


def without_paths(data):
    """``data`` (songs, results) without ``source_path`` keys, unless the
    request may see them (:func:`shown_paths`)."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "source_path"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value
    return data if shown_paths() else strip(data)


def song_or_404(engine, song_id):
    song = engine.get_song(song_id) if song_id <= MAX_SONG_ID else None
    if song is None:
        abort(404, f"no song with id {song_id}")
    return song


def allowed_extensions():
    return set(current_app.config["DEJAVU_CONFIG"].register.extensions)


def int_arg(name, default, *, low, high):
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        abort(400, f"'{name}' must be an integer")
    if not low <= number <= high:
        abort(400, f"'{name}' must be between {low} and {high}")
    return number


def flag_arg(name):
    return request.args.get(name, "").lower() in ("1", "true", "yes", "on")


def one_file(field):
    upload = request.files.get(field)
    if upload is None:
        abort(400, f"send the audio as the multipart form field '{field}'")
    return upload


def decode_failure(exc, shown_name, stored_path):
    """A 400 for an upload that is not audio, without the server's path."""
    message = exc.message.replace(stored_path, shown_name)
    abort(400, f"{shown_name or 'the upload'} is not an audio file that can be decoded: {message}")


@contextlib.contextmanager
def temporary_upload(field, unnamed=None):
    """Save the multipart ``field`` under a generated name and yield
    ``(path, client file name)``. A decode error about this file inside the
    block becomes a 400 (without the server's path); the file is removed
    afterwards in every case. ``unnamed`` (default: ``field``) stands for a
    file sent without a name."""
    upload = one_file(field)
    shown = client_basename(upload.filename) or unnamed or field
    path = save_upload(upload, tmp_dir(), allowed_extensions=allowed_extensions())
    try:
        message = too_long(path)
        if message:
            abort(413, f"{shown}: {message}")
        yield path, shown
    except AudioDecodeError as exc:
        if exc.path != path:
            raise
        decode_failure(exc, shown, path)
    finally:
        remove_quietly(path)


# -- recognising ----------------------------------------------------------------------
@bp.post("/recognize")
def recognize():
    """Recognise the multipart field ``file``. The answer is the JSON of a
    line of ``dejavu-cn recognize file --json`` (``path`` is the client's
    file name). ``?top=N`` asks for N candidates. ``?changes=1`` also
    looks for a copy played at another speed or pitch (``recognize file
    --changes``; the page asks it for the files dropped on it). ``?timeline=1`` also
    scans the whole file and adds what ``recognize file --timeline --json``
    gives: ``timeline`` (which songs play where), ``gaps``,
    ``duration_seconds`` and ``windows``."""
    top = int_arg("top", None, low=1, high=MAX_TOP)
    with temporary_upload("file", "upload") as (path, shown):
        engine = get_engine()
        result = FileRecognizer(engine).recognize_file(path, top=top, speed_search=flag_arg("changes") or None)
        if flag_arg("timeline"):
            scan = timeline_of_file(engine, path)
            result.update({key: scan[key] for key in ("timeline", "gaps", "duration_seconds", "windows")})
    result["path"] = shown
    return jsonify(without_paths(result))


@bp.post("/recognize/plot")
def recognize_plot():
    """The offset-difference histogram (PNG) of the multipart field ``file``
    against its best ``?top=`` (default 2) candidates. The page asks for it
    after showing the answer of ``/api/recognize``. 503 if plotting is not
    installed."""
    if not pictures.plots_available():
        abort(503, pictures.PLOTS_MISSING)
    top = int_arg("top", 2, low=1, high=5)
    with temporary_upload("file", "upload") as (path, shown):
        engine = get_engine()
        samples = engine.decode(path)
    png = pictures.match_histogram(engine, samples, top=top, title=shown)
    return Response(png, mimetype="image/png", headers={"Cache-Control": "no-store"})


# -- library ------------------------------------------------------------------------------
@bp.get("/songs")
def list_songs():
    """``?search=&limit=&offset=`` -> ``{"total", "limit", "offset", "songs"}``."""
    limit = int_arg("limit", settings().page_size, low=1, high=MAX_LIMIT)
    offset = int_arg("offset", 0, low=0, high=10 ** 12)
    search = request.args.get("search", "").strip()[:200] or None
    songs, total = get_engine().list_songs(search=search, limit=limit, offset=offset)
    return jsonify(total=total, limit=limit, offset=offset, songs=without_paths(songs))


@bp.get("/songs/<int:song_id>")
def get_song(song_id):
    return jsonify(without_paths(song_or_404(get_engine(), song_id)))


@bp.post("/songs")
@require_token
def register_songs():
    """Register the uploaded files (multipart fields ``files``, repeated, or
    ``file``). Each song is named after its file name. 201 if any song was
    registered, 200 if all were already there, 400 if none was audio."""
    uploads = [f for f in request.files.getlist("files") + request.files.getlist("file")]
    if not uploads:
        abort(400, "send the audio files as the multipart form field 'files'")
    engine = get_engine()
    folder = songs_dir() if settings().keep_registered else tmp_dir()
    ensure_dir(folder)
    results = []
    for upload in uploads:
        shown = client_basename(upload.filename) or "upload"
        name = song_name_from_filename(upload.filename)
        path = save_upload(upload, folder, allowed_extensions=allowed_extensions())
        try:
            message = too_long(path)
            outcome = engine.fingerprint_file(path, song_name=name) if message is None else None
        except AudioDecodeError as exc:
            if exc.path != path:
                remove_quietly(path)
                raise
            outcome, message = None, f"not an audio file that can be decoded: {exc.message}"
        except BaseException:
            remove_quietly(path)
            raise
        if outcome is None:                          # refused before registering
            remove_quietly(path)
            results.append({"filename": shown, "song_name": name, "status": "failed", "song_id": None,
                            "message": message.replace(path, shown), "duration_seconds": 0.0, "hashes": 0})
            continue
        if outcome.status != "registered" or not settings().keep_registered:
            remove_quietly(path)
        message = outcome.message.replace(path, shown)
        if outcome.status == "failed":
            message = f"not an audio file that can be decoded: {message}"
        results.append({"filename": shown, "song_name": name, "status": outcome.status,
                        "song_id": outcome.song_id, "message": message,
                        "duration_seconds": round(outcome.duration_seconds, 3), "hashes": outcome.hashes})
        log.info("upload %r: %s %s", shown, outcome.status, outcome.song_id or "")
    statuses = {r["status"] for r in results}
    if statuses == {"failed"}:
        return jsonify(error="; ".join(f"{r['filename']}: {r['message']}" for r in results), files=results), 400
    return jsonify(files=results), 201 if "registered" in statuses else 200


@bp.delete("/songs/<int:song_id>")
@require_token
def delete_song(song_id):
    from dejavu_cn.storage import HasCopiesError
    engine = get_engine()
    song = song_or_404(engine, song_id)
    try:        # an original with copies: its first copy takes its place, or ?with_copies=1 deletes them too
        deleted = engine.delete_songs([song_id], with_copies=flag_arg("with_copies"))
    except HasCopiesError as exc:
        abort(409, f"{exc} (add ?with_copies=1 to delete its copies too)")
    if not deleted:
        abort(404, f"no song with id {song_id}")
    source = song.get("source_path") or ""
    if source and is_inside(source, songs_dir()):
        remove_quietly(source)
    return jsonify(deleted=song_id, song_name=song["song_name"])


# -- speech -------------------------------------------------------------------------------
@bp.post("/compare")
def compare():
    """Compare a speech ``recording`` with its ``original`` (multipart
    fields). ``?plot=1`` adds ``plot``, the timeline as a data URL.
    503 if the speech module is not installed."""
    speech = pictures.speech_module()
    if speech is None:
        abort(503, "speech comparison is not available on this server (recognizers.speech is not installed)")
    with temporary_upload("recording") as (recording, recording_name), \
            temporary_upload("original") as (original, original_name):
        try:
            result = speech.compare_files(recording, original, config=current_app.config["DEJAVU_CONFIG"])
        except RecognitionError as exc:   # silent input, no sentence, original too short
            abort(400, f"cannot compare these files: {exc}")
    result = dict(result, recording=recording_name, original=original_name)
    if flag_arg("plot"):
        result["plot"] = pictures.speech_timeline(speech, result)
    return jsonify(result)


# -- health -------------------------------------------------------------------------------
@bp.get("/health")
def health():
    """``{"status": "ok", "database": true, "songs", "fingerprints"}``, or 503."""
    try:
        stats = get_engine().stats()
    except StorageError as exc:
        log.error("health check: %s", exc)
        return jsonify(status="error", database=False, error=str(exc)), 503
    return jsonify(status="ok", database=True, database_type=current_app.config["DEJAVU_CONFIG"].database_type,
                   songs=stats["songs"], fingerprints=stats["fingerprints"])
