"""Library changes (register, delete) need the token from the configuration.

The client sends it as ``Authorization: Bearer <token>`` or
``X-Dejavu-Token: <token>``. With no token configured, changes are refused:
the library is read-only. Compared in constant time.
"""
import functools
import hmac

from flask import abort, current_app, request


def request_token():
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return request.headers.get("X-Dejavu-Token", "").strip()


def has_token():
    """True if the request carries the configured token (none configured: False)."""
    expected = current_app.config["WEB"].token
    given = request_token()
    return bool(expected and given) and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def require_token(view):
    """Refuse (403) unless the request carries the configured token. Checked
    before the body is read."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        expected = current_app.config["WEB"].token
        if not expected:
            abort(403, "the library is read-only: no web token is configured on the server")
        given = request_token()
        if not given:
            abort(403, "this action needs the library token (Authorization: Bearer or X-Dejavu-Token)")
        if not has_token():
            abort(403, "wrong library token")
        return view(*args, **kwargs)
    return wrapped
