"""Document storage: the Store port, its adapters, and the choice between them by one setting."""

from __future__ import annotations

from pathlib import Path

from mep.core.store.port import (
    ABSENT,
    Delete,
    Document,
    Operation,
    Put,
    Store,
    StoreError,
    VersionConflict,
)

__all__ = [
    "ABSENT",
    "Delete",
    "Document",
    "Operation",
    "Put",
    "Store",
    "StoreError",
    "VersionConflict",
    "open_store",
]

_SQLITE_FILE = "sqlite:///"
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


async def open_store(spec: str, data_dir: Path) -> Store:
    """Open the store named by ``spec``.

    ``"sqlite"`` is ``data_dir / "mep.db"``; ``"sqlite:///abs/path.db"`` is that file;
    ``redis://``, ``rediss://`` and ``unix://`` URLs are a Redis server.
    """
    # Imported here so that a deployment only loads the driver it uses.
    if spec == "sqlite":
        from mep.core.store.sqlite import SqliteStore

        return await SqliteStore.open(data_dir / "mep.db")
    if spec.startswith(_SQLITE_FILE) and len(spec) > len(_SQLITE_FILE):
        from mep.core.store.sqlite import SqliteStore

        return await SqliteStore.open(Path("/" + spec.removeprefix(_SQLITE_FILE)))
    if spec.startswith(_REDIS_SCHEMES):
        from mep.core.store.redis import RedisStore

        return await RedisStore.open(spec)
    raise ValueError(
        f"unknown store {spec!r}: expected 'sqlite', 'sqlite:///absolute/path.db',"
        " or a 'redis://', 'rediss://' or 'unix://' URL"
    )
