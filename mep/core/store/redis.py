"""The Store port on Redis, for several platform processes sharing one server.

Keys, under a configurable prefix (default ``mep:``):

* ``{prefix}d:{collection}:{id}``: hash with ``v`` (version), ``d`` (the document, JSON) and
  ``x`` (JSON list of the document's ``[index, value]`` entries, so a rewrite can drop them);
* ``{prefix}c:{collection}``: sorted set of the collection's ids, all at score 0, so that
  ``ZRANGE ... BYLEX`` pages through them in id order;
* ``{prefix}i:{collection}:{index}:{value}``: set of the ids found under that index value.

Collection and index names must not contain ``:``, which would make two keys collide.

Every commit is one Lua script, which Redis runs without interleaving any other command: it checks
every precondition first and writes nothing on a mismatch, so commits are all-or-nothing and
concurrent writers cannot lose each other's updates. (Redis does not undo a script that fails
half-way; with preconditions checked first, that can only happen if something else wrote keys of
another type under the prefix, or the server ran out of memory.) The script builds key names
itself, so it needs a single Redis server, not a cluster.

What a returned ``commit`` (and so a 2xx answer of the API) means depends on the server's
persistence settings, which this adapter cannot change. With the Redis default (no AOF, periodic
RDB snapshots) a server crash loses the writes since the last snapshot. With ``appendonly yes``
and ``appendfsync everysec`` up to about one second of writes can be lost. A careful operator sets
``appendonly yes`` and ``appendfsync always``: Redis then fsyncs the AOF before it replies, which
gives the same guarantee as the SQLite adapter. Replicas do not help, since replication is
asynchronous.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

import orjson
import redis
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from mep.core.store.port import Document, Operation, Put, StoreError, VersionConflict

# ARGV[1]: key prefix. ARGV[2]: JSON list of ops {k = "p"|"d", c, i, e (absent when
# unconditional), d (document, already JSON), x (index entries, already JSON), ix (same, decoded)}.
# Returns {"ok", version...} or {"conflict", op index (0-based), actual version}.
_COMMIT_LUA = """
local prefix = ARGV[1]
local ops = cjson.decode(ARGV[2])
local function doc_key(op) return prefix .. 'd:' .. op.c .. ':' .. op.i end
local function index_key(op, entry)
  return prefix .. 'i:' .. op.c .. ':' .. entry[1] .. ':' .. entry[2]
end

-- Versions as they will be after each op, so several ops on one id see each other.
local after = {}
for n, op in ipairs(ops) do
  local key = doc_key(op)
  local current = after[key]
  if current == nil then current = tonumber(redis.call('HGET', key, 'v')) or 0 end
  if op.e ~= nil and op.e ~= current then return {'conflict', n - 1, current} end
  if op.k == 'p' then after[key] = current + 1 else after[key] = 0 end
end

local result = {'ok'}
for n, op in ipairs(ops) do
  local key = doc_key(op)
  local old = redis.call('HGET', key, 'x')
  if old then
    for _, entry in ipairs(cjson.decode(old)) do redis.call('SREM', index_key(op, entry), op.i) end
  end
  if op.k == 'p' then
    result[n + 1] = redis.call('HINCRBY', key, 'v', 1)
    redis.call('HSET', key, 'd', op.d, 'x', op.x)
    redis.call('ZADD', prefix .. 'c:' .. op.c, 0, op.i)
    for _, entry in ipairs(op.ix) do redis.call('SADD', index_key(op, entry), op.i) end
  else
    redis.call('DEL', key)
    redis.call('ZREM', prefix .. 'c:' .. op.c, op.i)
    result[n + 1] = 0
  end
end
return result
"""


def _index_entries(indexes: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """The distinct ``[name, value]`` pairs of a :class:`Put`'s indexes, in declared order."""
    for name, values in indexes.items():
        _check_name("index", name)
        if isinstance(values, str):
            # A bare string is a Sequence[str] too, and would index each character.
            raise TypeError(f"index {name!r}: expected a sequence of values, got a string")
    pairs = dict.fromkeys((name, value) for name, vs in indexes.items() for value in vs)
    return [list(pair) for pair in pairs]


def _check_name(kind: str, name: str) -> None:
    if ":" in name:
        raise ValueError(f"{kind} name {name!r} must not contain ':' (it separates key parts)")


def _identity() -> dict[str, Any]:
    """How the client names itself to the server (``CLIENT SETINFO``)."""
    try:
        from redis.driver_info import DriverInfo
    except ImportError:  # before redis 7.1 the version is read once, at import
        return {}
    # Given explicitly: otherwise redis-py looks its version up in the installed package
    # metadata, a file-system walk on the event loop, for every new connection.
    return {"driver_info": DriverInfo(lib_version=redis.__version__)}


T = TypeVar("T")


async def _result(reply: Awaitable[T] | T) -> T:
    # redis-py 7 declares its commands as "Awaitable[T] | T" for the sync and async clients alike.
    return await reply if inspect.isawaitable(reply) else reply


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except (RedisError, OSError) as exc:
        raise StoreError(f"redis: {exc}") from exc


def _encode(op: Operation) -> dict[str, Any]:
    _check_name("collection", op.collection)
    item: dict[str, Any] = {"c": op.collection, "i": op.id}
    if op.expected_version is not None:
        item["e"] = op.expected_version
    if isinstance(op, Put):
        entries = _index_entries(op.indexes)
        item |= {
            "k": "p",
            "d": orjson.dumps(op.data).decode(),
            "x": orjson.dumps(entries).decode(),
            "ix": entries,
        }
    else:
        item["k"] = "d"
    return item


class RedisStore:
    """:class:`~mep.core.store.port.Store` on a Redis server; see the module docstring."""

    def __init__(self, client: Redis, prefix: str) -> None:
        """Use :meth:`open`."""
        self._client = client
        self._prefix = prefix
        self._commit_script = client.register_script(_COMMIT_LUA)
        self._closed = False
        self._commits_in_flight = 0
        self._no_commit_in_flight = asyncio.Event()
        self._no_commit_in_flight.set()

    @classmethod
    async def open(cls, url: str, *, prefix: str = "mep:") -> RedisStore:
        """Connect to the server at ``url`` (``redis://``, ``rediss://`` or ``unix://``)."""
        client = Redis.from_url(
            url,
            # Only a refused or reset connection is retried: after a timeout the commit script
            # may have run, and running it again could apply it twice or report a false conflict.
            retry=Retry(
                ExponentialWithJitterBackoff(base=0.05, cap=1.0),
                3,
                supported_errors=(RedisConnectionError,),
            ),
            **_identity(),
        )
        try:
            with _errors():
                await _result(client.ping())
        except StoreError:
            await client.aclose()
            raise
        return cls(client, prefix)

    @property
    def prefix(self) -> str:
        """The prefix of every key this store writes."""
        return self._prefix

    @property
    def client(self) -> Redis:
        """The underlying client (bytes responses), for components sharing its connection pool."""
        return self._client

    async def get(self, collection: str, id: str) -> Document | None:
        """The document, or ``None`` when absent."""
        self._check_open()
        with _errors():
            version, data = await _result(
                self._client.hmget(self._doc_key(collection, id), ["v", "d"])
            )
        if version is None or data is None:
            return None
        return Document(collection, id, int(version), orjson.loads(data))

    async def get_many(self, collection: str, ids: Sequence[str]) -> list[Document]:
        """The documents that exist among ``ids``, in the order of ``ids``."""
        self._check_open()
        return [doc for doc, _ in await self._load(collection, list(ids))]

    async def find(self, collection: str, index: str, value: str) -> list[Document]:
        """Documents whose last write listed ``value`` under ``index``, ordered by id."""
        self._check_open()
        key = f"{self._prefix}i:{collection}:{index}:{value}"
        with _errors():
            members = await _result(self._client.smembers(key))
        ids = sorted(_text(member) for member in members)
        # The set is read before the documents: keep only those still listing the value.
        return [
            doc for doc, entries in await self._load(collection, ids) if [index, value] in entries
        ]

    async def count_found(self, collection: str, index: str, value: str) -> int:
        """How many documents :meth:`find` would return, without reading them."""
        self._check_open()
        with _errors():
            key = f"{self._prefix}i:{collection}:{index}:{value}"
            return int(await _result(self._client.scard(key)))

    async def scan(
        self, collection: str, *, after: str | None = None, limit: int = 1000
    ) -> list[Document]:
        """Up to ``limit`` documents ordered by id, starting after id ``after``."""
        self._check_open()
        key = f"{self._prefix}c:{collection}"
        lower = "-" if after is None else "(" + after
        docs: list[Document] = []
        while len(docs) < limit:
            wanted = limit - len(docs)
            with _errors():
                members = await self._client.zrange(
                    key, lower, "+", bylex=True, offset=0, num=wanted
                )
            ids = [_text(member) for member in members]
            # Ids deleted between the two reads leave a gap, which the next round fills.
            docs.extend(doc for doc, _ in await self._load(collection, ids))
            if len(ids) < wanted:
                break
            lower = "(" + ids[-1]
        return docs

    async def count(self, collection: str) -> int:
        """How many documents the collection holds."""
        self._check_open()
        with _errors():
            return int(await self._client.zcard(f"{self._prefix}c:{collection}"))

    async def commit(self, ops: Sequence[Operation]) -> list[int]:
        """Apply ``ops`` atomically; as durable as the server's AOF settings make it."""
        self._check_open()
        if not ops:
            return []
        payload = orjson.dumps([_encode(op) for op in ops])
        self._commits_in_flight += 1
        self._no_commit_in_flight.clear()
        try:
            with _errors():
                result = await self._commit_script(keys=[], args=[self._prefix, payload])
        finally:
            self._commits_in_flight -= 1
            if not self._commits_in_flight:
                self._no_commit_in_flight.set()
        if _text(result[0]) == "conflict":
            op = ops[int(result[1])]
            raise VersionConflict(op.collection, op.id, op.expected_version, int(result[2]))
        return [int(version) for version in result[1:]]

    async def ping(self) -> None:
        """Raise :class:`StoreError` unless the server answers."""
        self._check_open()
        with _errors():
            await _result(self._client.ping())

    async def close(self) -> None:
        """Wait for the commits in flight, then close the client and its connection pool."""
        if self._closed:
            return
        self._closed = True
        # Closing the pool under a running script would drop its reply, and the client would
        # then retry it on a new connection: applied twice, or reported as a false conflict.
        await self._no_commit_in_flight.wait()
        with _errors():
            await self._client.aclose()

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("the store is closed")

    def _doc_key(self, collection: str, id: str) -> str:
        return f"{self._prefix}d:{collection}:{id}"

    async def _load(
        self, collection: str, ids: list[str]
    ) -> list[tuple[Document, list[list[str]]]]:
        """The documents among ``ids`` that still exist, with their index entries."""
        if not ids:
            return []
        with _errors():
            async with self._client.pipeline(transaction=False) as pipe:
                for id in ids:
                    pipe.hmget(self._doc_key(collection, id), ["v", "d", "x"])
                rows = await pipe.execute()
        loaded = []
        for id, (version, data, entries) in zip(ids, rows, strict=True):
            if version is not None and data is not None:
                doc = Document(collection, id, int(version), orjson.loads(data))
                loaded.append((doc, orjson.loads(entries) if entries else []))
        return loaded
