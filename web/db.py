"""One engine per application: created with the application, used by every
request. Each thread serving requests gets its own database connection from
it (:attr:`dejavu_cn.Dejavu.storage`); the schema is created and the
parameters checked once, on first use (so the page comes up, and
``/api/health`` answers 503, while the database is away)."""
from flask import current_app

from dejavu_cn.engine import Dejavu

EXTENSION = "dejavu_cn"


def get_engine():
    """The application's :class:`~dejavu_cn.engine.Dejavu`."""
    return current_app.extensions[EXTENSION]


def init_app(app):
    app.extensions[EXTENSION] = Dejavu(app.config["DEJAVU_CONFIG"])
