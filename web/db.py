"""One engine (one database connection) per request, closed on teardown."""
from flask import current_app, g

from dejavu_cn.engine import Dejavu


def get_engine():
    """The request's :class:`~dejavu_cn.engine.Dejavu`, opened on first use."""
    if "engine" not in g:
        g.engine = Dejavu(current_app.config["DEJAVU_CONFIG"])
    return g.engine


def close_engine(exc=None):
    engine = g.pop("engine", None)
    if engine is not None:
        engine.close()


def init_app(app):
    app.teardown_appcontext(close_engine)
