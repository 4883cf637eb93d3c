"""Stores: :class:`SQLiteStorage` (embedded default) and :class:`MySQLStorage`."""
from ..config import IMPLIED_FINGERPRINT
from .base import HasCopiesError, Lookup, SongRecord, Storage
from .mysql import MySQLStorage
from .sqlite import SQLiteStorage


def open_storage(config, *, setup=True):
    """The store a :class:`~dejavu_cn.config.Config` names, with its schema
    created and its fingerprint parameters checked (``setup=False``: done
    already, by another connection of this process)."""
    import dataclasses
    if config.database_type == "sqlite":
        store = SQLiteStorage(config.sqlite_path(), timeout_seconds=config.db_timeout_seconds())
    else:
        store = MySQLStorage(**config.mysql_settings())
    if not setup:
        return store
    try:
        store.setup(dataclasses.asdict(config.fingerprint), implied=IMPLIED_FINGERPRINT)
    except BaseException:
        store.close()
        raise
    return store


__all__ = ["Lookup", "MySQLStorage", "SQLiteStorage", "SongRecord", "Storage", "open_storage"]
