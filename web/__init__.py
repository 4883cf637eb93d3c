"""The web page and JSON API (Flask), built on dejavu_cn and recognizers.

``create_app(config)`` is the application factory; ``dejavu-cn serve`` runs
it under waitress. Blueprints: :mod:`web.pages` (HTML) and :mod:`web.api`
(JSON under ``/api``). One engine per application, each serving thread
with a database connection of its own (:mod:`web.db`). Flask is imported when an application
is built, so ``dejavu-cn --help`` does not pay for it.
"""
import logging
import os
import tempfile

from dejavu_cn.config import default_config_path, load_config
from dejavu_cn.errors import AudioDecodeError, DejavuError, StorageError

log = logging.getLogger(__name__)

CSP = ("default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; "
       "script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "form-action 'self'")


def create_app(config=None):
    """Build the Flask application.

    Parameters
    ----------
    config : Config, dict, str or None
        The dejavu-cn configuration; its ``"web"`` section holds the web
        settings (see :mod:`web.settings`).
    """
    from flask import Flask

    dejavu_config = load_config(default_config_path() if config is None else config)
    settings = dejavu_config.section("web").resolved(dejavu_config)
    app = Flask(__name__)
    app.config.update(
        DEJAVU_CONFIG=dejavu_config,
        WEB=settings,
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        JSON_SORT_KEYS=False,
    )
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    from . import api, db, pages
    from .uploads import private_dir, sweep_stale
    if settings.upload_dir:
        shared = os.path.join(settings.upload_dir, "tmp")
        tmp = private_dir(shared)
        sweep_stale(shared, keep={os.path.basename(tmp)})
        songs = os.path.join(settings.upload_dir, "songs")
    else:
        tmp = private_dir()
        songs = os.path.join(tempfile.mkdtemp(prefix="dejavu-cn-web-"), "songs")   # kept: not removed at exit
    app.config.update(UPLOAD_TMP=tmp, UPLOAD_SONGS=songs)
    db.init_app(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(api.bp)
    _register_error_handlers(app)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    log.info("web app ready: %s, library %s", dejavu_config.database_type,
             "writable (token set)" if settings.writable else "read-only (no token)")
    return app


def wants_json():
    from flask import request
    return request.path.startswith("/api/")


def error_response(status, message):
    from flask import jsonify, render_template
    if wants_json():
        return jsonify(error=message), status
    return render_template("error.html", status=status, message=message), status


def _register_error_handlers(app):
    from flask import request
    from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

    @app.errorhandler(HTTPException)
    def http_error(exc):
        if exc.code == 413 and exc.description == RequestEntityTooLarge.description:   # werkzeug's own
            limit = app.config["WEB"].max_upload_bytes / (1024 * 1024)
            return error_response(413, f"upload too large: the limit is {limit:g} MB")
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(AudioDecodeError)
    def decode_error(exc):
        return error_response(400, f"not an audio file that can be decoded: {exc.message}")

    @app.errorhandler(StorageError)
    def storage_error(exc):
        log.error("storage error: %s", exc)
        return error_response(503, f"database unavailable: {exc}")

    @app.errorhandler(DejavuError)
    def dejavu_error(exc):
        log.error("error: %s", exc)
        return error_response(500, str(exc))

    @app.errorhandler(Exception)
    def internal_error(exc):
        log.exception("internal error on %s %s", request.method, request.path)
        return error_response(500, "internal error (see the server log)")
