"""Stores: :class:`SQLiteStorage` (embedded default) and :class:`MySQLStorage`."""
from ..config import FOLLOWED_FINGERPRINT, IMPLIED_FINGERPRINT
from .base import HasCopiesError, Lookup, SongRecord, Storage
from .mysql import MySQLStorage
from .sqlite import SQLiteStorage


def open_storage(config, *, setup=True):
    """The store a :class:`~dejavu_cn.config.Config` names, with its schema
    created and its fingerprint parameters checked (``setup=False``: done
    already, by another connection of this process). Its
    ``followed_parameters`` are the database's values of the parameters it
    decides (:data:`~dejavu_cn.config.FOLLOWED_FINGERPRINT`) where the
    configuration differs."""
    import dataclasses
    if config.database_type == "sqlite":
        db = config.database
        store = SQLiteStorage(config.sqlite_path(), timeout_seconds=db.timeout_seconds,
                              recent_rows=db.recent_rows, pending_share=db.pending_share)
    else:
        store = MySQLStorage(**config.mysql_settings())
    if not setup:
        return store
    try:
        store.setup(dataclasses.asdict(config.fingerprint), implied=IMPLIED_FINGERPRINT,
                    followed=FOLLOWED_FINGERPRINT)
    except BaseException:
        store.close()
        raise
    return store


__all__ = ["Lookup", "MySQLStorage", "SQLiteStorage", "SongRecord", "Storage", "open_storage"]
