"""The Store port on one SQLite file, for a single platform process.

Durability: WAL journal with ``synchronous=FULL``, so the WAL is fsynced before ``commit``
returns and an acknowledged write survives a crash or power loss of the host.

Concurrency: one writer connection and one reader connection, each on its own aiosqlite thread.
Reads go to the reader, which in autocommit mode sees the last committed state only, never a
batch the writer is still applying. Writes are *group committed*: every ``commit`` call waits in
a queue, and a single writer task applies whatever has queued up in one transaction (with a
``SAVEPOINT`` around each caller's ops where a failed precondition could otherwise leave part of
them written), so that many concurrent callers share one fsync while a failed precondition still
only fails its own caller.

Meant for one platform process. Another process opening the same file still gets correct
results, since SQLite's lock serialises write transactions (waiting up to 10 s for it), but the
processes then contend for that lock; several replicas should share the Redis adapter instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import orjson

from mep.core.store.port import (
    ABSENT,
    Delete,
    Document,
    Operation,
    Put,
    StoreError,
    VersionConflict,
)

_log = logging.getLogger(__name__)

_ADD_NEW_ENTRIES = (
    "INSERT OR IGNORE INTO idx (collection, name, value, id)"
    " SELECT NEW.collection, json_extract(value, '$[0]'), json_extract(value, '$[1]'), NEW.id"
    " FROM json_each(NEW.entries)"
)
_DROP_OLD_ENTRIES = "DELETE FROM idx WHERE collection = OLD.collection AND id = OLD.id"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS docs (collection TEXT NOT NULL, id TEXT NOT NULL,"
    " version INTEGER NOT NULL, data TEXT NOT NULL, entries TEXT NOT NULL DEFAULT '[]',"
    " PRIMARY KEY (collection, id)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS idx (collection TEXT NOT NULL, name TEXT NOT NULL,"
    " value TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (collection, name, value, id))"
    " WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS idx_by_doc ON idx (collection, id)",
    # A document carries its index entries as a JSON list of [name, value] pairs, and these
    # triggers keep the idx table in step: a write is then one statement, one round trip to the
    # connection's thread, however many index values it has.
    "CREATE TRIGGER IF NOT EXISTS docs_inserted AFTER INSERT ON docs BEGIN"
    f" {_ADD_NEW_ENTRIES}; END",
    "CREATE TRIGGER IF NOT EXISTS docs_updated AFTER UPDATE ON docs BEGIN"
    f" {_DROP_OLD_ENTRIES}; {_ADD_NEW_ENTRIES}; END",
    "CREATE TRIGGER IF NOT EXISTS docs_deleted AFTER DELETE ON docs BEGIN"
    f" {_DROP_OLD_ENTRIES}; END",
)

_UPSERT = (
    "INSERT INTO docs (collection, id, version, data, entries) VALUES (?, ?, 1, ?, ?)"
    " ON CONFLICT (collection, id) DO UPDATE SET version = version + 1,"
    " data = excluded.data, entries = excluded.entries RETURNING version"
)
_INSERT_NEW = (
    "INSERT INTO docs (collection, id, version, data, entries) VALUES (?, ?, 1, ?, ?)"
    " ON CONFLICT (collection, id) DO NOTHING RETURNING version"
)
_UPDATE_AT = (
    "UPDATE docs SET version = version + 1, data = ?, entries = ?"
    " WHERE collection = ? AND id = ? AND version = ? RETURNING version"
)
_DELETE_ANY = "DELETE FROM docs WHERE collection = ? AND id = ? RETURNING version"
_DELETE_AT = "DELETE FROM docs WHERE collection = ? AND id = ? AND version = ? RETURNING version"
_VERSION = "SELECT version FROM docs WHERE collection = ? AND id = ?"

_GET = "SELECT id, version, data FROM docs WHERE collection = ? AND id = ?"
_FIND = (
    "SELECT d.id, d.version, d.data FROM idx AS i"
    " JOIN docs AS d ON d.collection = i.collection AND d.id = i.id"
    " WHERE i.collection = ? AND i.name = ? AND i.value = ? ORDER BY i.id"
)
_SCAN = "SELECT id, version, data FROM docs WHERE collection = ? AND id > ? ORDER BY id LIMIT ?"
_SCAN_FIRST = "SELECT id, version, data FROM docs WHERE collection = ? ORDER BY id LIMIT ?"
_COUNT = "SELECT COUNT(*) FROM docs WHERE collection = ?"
_COUNT_FOUND = "SELECT COUNT(*) FROM idx WHERE collection = ? AND name = ? AND value = ?"

#: Commits applied in one transaction; bounds how long one fsync keeps callers waiting.
_MAX_BATCH = 256
#: Ids per ``IN (...)`` query, well under SQLite's bound-parameter limit.
_IDS_PER_QUERY = 500


def _index_entries(indexes: Mapping[str, Sequence[str]]) -> tuple[tuple[str, str], ...]:
    """The distinct ``(name, value)`` pairs of a :class:`Put`'s indexes, in declared order."""
    for name, values in indexes.items():
        if isinstance(values, str):
            # A bare string is a Sequence[str] too, and would index each character.
            raise TypeError(f"index {name!r}: expected a sequence of values, got a string")
    return tuple(dict.fromkeys((name, value) for name, vs in indexes.items() for value in vs))


@dataclass(frozen=True, slots=True)
class _Op:
    op: Operation
    data: str
    entries: str


@dataclass(frozen=True, slots=True)
class _Pending:
    ops: list[_Op]
    future: asyncio.Future[list[int]]


def _prepare(op: Operation) -> _Op:
    # Encoding here, in the caller's task, makes bad data fail its own commit, not a batch.
    if isinstance(op, Put):
        data = orjson.dumps(op.data).decode()
        entries = orjson.dumps(_index_entries(op.indexes)).decode()
        return _Op(op, data, entries)
    return _Op(op, "", "[]")


def _document(collection: str, row: sqlite3.Row) -> Document:
    return Document(collection, row[0], row[1], orjson.loads(row[2]))


async def _connect(path: Path) -> aiosqlite.Connection:
    # isolation_level=None: the sqlite3 module issues no implicit BEGIN/COMMIT; we do.
    return await aiosqlite.connect(path, isolation_level=None, timeout=10.0)


class SqliteStore:
    """:class:`~mep.core.store.port.Store` on a SQLite file; see the module docstring."""

    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        """Use :meth:`open`."""
        self._writer = writer
        self._reader = reader
        self._queue: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._closed = False
        self._task = asyncio.get_running_loop().create_task(
            self._write_loop(), name="sqlite-store-writer"
        )

    @classmethod
    async def open(cls, path: Path) -> SqliteStore:
        """Open (creating if needed) the database at ``path`` and start the writer task."""
        try:
            await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
            writer = await _connect(path)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open {path}: {exc}") from exc
        reader: aiosqlite.Connection | None = None
        try:
            mode = list(await writer.execute_fetchall("PRAGMA journal_mode=WAL"))
            if not mode or str(mode[0][0]).lower() != "wal":
                raise StoreError(f"{path}: the file system does not support WAL mode")
            await writer.execute_fetchall("PRAGMA synchronous=FULL")
            for statement in _SCHEMA:
                await writer.execute_fetchall(statement)
            reader = await _connect(path)
            await reader.execute_fetchall("PRAGMA query_only=ON")
        except BaseException as exc:
            for conn in (writer, reader):
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
            if isinstance(exc, sqlite3.Error):
                raise StoreError(f"cannot open {path}: {exc}") from exc
            raise
        return cls(writer, reader)

    async def get(self, collection: str, id: str) -> Document | None:
        """The document, or ``None`` when absent."""
        rows = await self._read(_GET, (collection, id))
        return _document(collection, rows[0]) if rows else None

    async def get_many(self, collection: str, ids: Sequence[str]) -> list[Document]:
        """The documents that exist among ``ids``, in the order of ``ids``."""
        found: dict[str, Document] = {}
        distinct = list(dict.fromkeys(ids))
        for start in range(0, len(distinct), _IDS_PER_QUERY):
            chunk = distinct[start : start + _IDS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT id, version, data FROM docs WHERE collection = ? AND id IN ({marks})"  # noqa: S608 (only placeholders are interpolated)
            for row in await self._read(sql, (collection, *chunk)):
                found[row[0]] = _document(collection, row)
        return [found[id] for id in ids if id in found]

    async def find(self, collection: str, index: str, value: str) -> list[Document]:
        """Documents whose last write listed ``value`` under ``index``, ordered by id."""
        rows = await self._read(_FIND, (collection, index, value))
        return [_document(collection, row) for row in rows]

    async def count_found(self, collection: str, index: str, value: str) -> int:
        """How many documents :meth:`find` would return, without reading them."""
        rows = await self._read(_COUNT_FOUND, (collection, index, value))
        return int(rows[0][0])

    async def scan(
        self, collection: str, *, after: str | None = None, limit: int = 1000
    ) -> list[Document]:
        """Up to ``limit`` documents ordered by id, starting after id ``after``."""
        if limit <= 0:
            return []
        if after is None:
            rows = await self._read(_SCAN_FIRST, (collection, limit))
        else:
            rows = await self._read(_SCAN, (collection, after, limit))
        return [_document(collection, row) for row in rows]

    async def count(self, collection: str) -> int:
        """How many documents the collection holds."""
        rows = await self._read(_COUNT, (collection,))
        return int(rows[0][0])

    async def commit(self, ops: Sequence[Operation]) -> list[int]:
        """Apply ``ops`` atomically and durably; the new version of each op (0 for a delete)."""
        if self._closed:
            raise StoreError("the store is closed")
        if not ops:
            return []
        prepared = [_prepare(op) for op in ops]
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(prepared, future))
        return await future

    async def ping(self) -> None:
        """Raise :class:`StoreError` unless the database answers."""
        await self._read("SELECT 1", ())

    async def close(self) -> None:
        """Let queued commits finish, stop the writer task and close both connections."""
        if self._closed:
            return
        self._closed = True
        self._queue.put_nowait(None)
        try:
            await self._task
        finally:
            for conn in (self._writer, self._reader):
                try:
                    await conn.close()
                except sqlite3.Error as exc:
                    raise StoreError(f"closing the database failed: {exc}") from exc

    async def _read(self, sql: str, params: Iterable[Any]) -> list[sqlite3.Row]:
        if self._closed:
            raise StoreError("the store is closed")
        try:
            return list(await self._reader.execute_fetchall(sql, params))
        except (sqlite3.Error, ValueError) as exc:  # aiosqlite raises ValueError once closed
            raise StoreError(f"sqlite read failed: {exc}") from exc

    async def _write(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return list(await self._writer.execute_fetchall(sql, params))

    async def _write_loop(self) -> None:
        while True:
            item = await self._queue.get()
            batch: list[_Pending] = []
            while item is not None:
                # A caller cancelled before its turn is dropped unwritten.
                if not item.future.done():
                    batch.append(item)
                if len(batch) >= _MAX_BATCH or self._queue.empty():
                    break
                item = self._queue.get_nowait()
            if batch:
                await self._write_batch(batch)
            if item is None:
                return

    async def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            outcomes = await self._apply_batch(batch)
        except BaseException as exc:
            with contextlib.suppress(Exception):
                await self._write("ROLLBACK")
            for pending in batch:
                if not pending.future.done():
                    error = StoreError(f"sqlite write failed: {exc!r}")
                    error.__cause__ = exc
                    pending.future.set_exception(error)
            if not isinstance(exc, Exception):
                raise
            _log.error("sqlite store: a batch of %d commits failed: %r", len(batch), exc)
            return
        self._settle(batch, outcomes)

    async def _apply_batch(self, batch: list[_Pending]) -> list[list[int] | VersionConflict]:
        await self._write("BEGIN IMMEDIATE")
        alone = len(batch) == 1
        outcomes: list[list[int] | VersionConflict] = []
        for pending in batch:
            # A savepoint costs two round trips to the connection's thread; it is only needed
            # when a precondition after the first op could fail once earlier ops have written
            # (a failed precondition writes nothing itself), and when other commits share the
            # transaction: a commit alone in its batch rolls the whole transaction back instead.
            guarded = not alone and any(p.op.expected_version is not None for p in pending.ops[1:])
            if guarded:
                await self._write("SAVEPOINT one_commit")
            try:
                versions = [await self._apply(op) for op in pending.ops]
            except VersionConflict as conflict:
                if alone:
                    await self._write("ROLLBACK")
                    return [conflict]
                if guarded:
                    await self._write("ROLLBACK TO one_commit")
                    await self._write("RELEASE one_commit")
                outcomes.append(conflict)
                continue
            if guarded:
                await self._write("RELEASE one_commit")
            outcomes.append(versions)
        await self._write("COMMIT")
        return outcomes

    @staticmethod
    def _settle(batch: list[_Pending], outcomes: list[list[int] | VersionConflict]) -> None:
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.future.done():
                continue
            if isinstance(outcome, VersionConflict):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)

    async def _apply(self, prepared: _Op) -> int:
        op = prepared.op
        key = (op.collection, op.id)
        if isinstance(op, Delete):
            return await self._delete(op)
        values = (prepared.data, prepared.entries)
        if op.expected_version is None:
            rows = await self._write(_UPSERT, (*key, *values))
        elif op.expected_version == ABSENT:
            rows = await self._write(_INSERT_NEW, (*key, *values))
        else:
            rows = await self._write(_UPDATE_AT, (*values, *key, op.expected_version))
        if not rows:
            raise VersionConflict(*key, op.expected_version, await self._current_version(op))
        return int(rows[0][0])

    async def _delete(self, op: Delete) -> int:
        key = (op.collection, op.id)
        if op.expected_version == ABSENT:
            actual = await self._current_version(op)
            if actual != ABSENT:
                raise VersionConflict(*key, op.expected_version, actual)
            return 0
        if op.expected_version is None:
            await self._write(_DELETE_ANY, key)
        elif not await self._write(_DELETE_AT, (*key, op.expected_version)):
            raise VersionConflict(*key, op.expected_version, await self._current_version(op))
        return 0

    async def _current_version(self, op: Operation) -> int:
        rows = await self._write(_VERSION, (op.collection, op.id))
        return int(rows[0][0]) if rows else ABSENT
