"""Throughput of the Store adapters next to the raw drivers they sit on.

For each adapter: writes/s and reads/s with 1 and with 50 concurrent clients, over a set of
documents shaped like an Mp1 service registration (about 300 bytes of JSON, 2 index values).
Each figure is followed by its ratio to a baseline measured in the same run on the same data:

* raw SQLite: one ``kv(id PRIMARY KEY, data)`` table, the same WAL + ``synchronous=FULL``
  pragmas, one connection, ``INSERT OR REPLACE`` + ``COMMIT`` per write (serialised, so each
  write is its own transaction, as each store commit is), one ``SELECT`` per read;
* raw Redis: ``SET`` / ``GET`` of the same JSON bytes.

Run: ``.venv/bin/python bench/store.py [--docs 10000] [--redis-url redis://127.0.0.1:6379/0]``.
Each figure runs for at most ``--seconds`` (writes stop early once every document is written).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import aiosqlite
from redis.asyncio import Redis

from mep.core.store import Put, Store
from mep.core.store.redis import RedisStore
from mep.core.store.sqlite import SqliteStore

COLLECTION = "services"
CLIENTS = (1, 50)


def make_document(n: int) -> dict[str, Any]:
    """An Mp1 ServiceInfo-like document (ETSI GS MEC 011 8.1.2.2), about 300 bytes of JSON."""
    return {
        "serInstanceId": str(uuid.UUID(int=n)),
        "serName": f"rnis-{n}",
        "serCategory": {"id": "rni", "name": "RNI", "version": "2"},
        "version": "2.2.1",
        "state": "ACTIVE" if n % 5 else "INACTIVE",
        "transportInfo": {
            "type": "REST_HTTP",
            "endpoint": {"uris": [f"http://10.0.{n % 250}.{n % 200}:8080/rni/v2/"]},
        },
        "serializer": "JSON",
        "scopeOfLocality": "MEC_HOST",
        "appInstanceId": f"app-{n % 97:03d}",
    }


class Target(Protocol):
    """One thing to measure: an adapter or a raw baseline."""

    async def write(self, n: int) -> None: ...
    async def read(self, n: int) -> None: ...
    async def fill(self, count: int) -> None: ...
    async def close(self) -> None: ...


@dataclass
class StoreTarget:
    store: Store
    docs: list[dict[str, Any]]

    async def write(self, n: int) -> None:
        doc = self.docs[n]
        indexes = {"state": [doc["state"]], "app": [doc["appInstanceId"]]}
        await self.store.commit([Put(COLLECTION, f"s{n}", doc, indexes=indexes)])

    async def read(self, n: int) -> None:
        if await self.store.get(COLLECTION, f"s{n}") is None:
            raise RuntimeError(f"s{n} missing")

    async def fill(self, count: int) -> None:
        for start in range(0, count, 500):
            ops = [
                Put(
                    COLLECTION,
                    f"s{n}",
                    self.docs[n],
                    indexes={
                        "state": [self.docs[n]["state"]],
                        "app": [self.docs[n]["appInstanceId"]],
                    },
                )
                for n in range(start, min(count, start + 500))
            ]
            await self.store.commit(ops)

    async def close(self) -> None:
        await self.store.close()


@dataclass
class RawSqlite:
    conn: aiosqlite.Connection
    payloads: list[bytes]
    lock: asyncio.Lock

    @classmethod
    async def open(cls, path: Path, payloads: list[bytes]) -> RawSqlite:
        conn = await aiosqlite.connect(path)
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=FULL")
        await conn.execute("CREATE TABLE kv (id TEXT PRIMARY KEY, data BLOB NOT NULL)")
        await conn.commit()
        return cls(conn, payloads, asyncio.Lock())

    async def write(self, n: int) -> None:
        async with self.lock:
            await self.conn.execute(
                "INSERT OR REPLACE INTO kv (id, data) VALUES (?, ?)", (f"s{n}", self.payloads[n])
            )
            await self.conn.commit()

    async def read(self, n: int) -> None:
        rows = await self.conn.execute_fetchall("SELECT data FROM kv WHERE id = ?", (f"s{n}",))
        if not rows:
            raise RuntimeError(f"s{n} missing")

    async def fill(self, count: int) -> None:
        async with self.lock:
            await self.conn.executemany(
                "INSERT OR REPLACE INTO kv (id, data) VALUES (?, ?)",
                [(f"s{n}", self.payloads[n]) for n in range(count)],
            )
            await self.conn.commit()

    async def close(self) -> None:
        await self.conn.close()


@dataclass
class RawRedis:
    client: Redis
    prefix: str
    payloads: list[bytes]

    async def write(self, n: int) -> None:
        await self.client.set(f"{self.prefix}s{n}", self.payloads[n])

    async def read(self, n: int) -> None:
        if await self.client.get(f"{self.prefix}s{n}") is None:
            raise RuntimeError(f"s{n} missing")

    async def fill(self, count: int) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for n in range(count):
                pipe.set(f"{self.prefix}s{n}", self.payloads[n])
            await pipe.execute()

    async def close(self) -> None:
        await self.client.aclose()


async def rate(
    op: Callable[[int], Awaitable[None]], order: list[int], clients: int, seconds: float
) -> float:
    """Operations per second of ``clients`` tasks running ``op`` over ``order``, time-bounded."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    positions = itertools.count()
    done = 0

    async def client() -> None:
        nonlocal done
        while loop.time() < deadline and (position := next(positions)) < len(order):
            await op(order[position])
            done += 1

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return done / (time.perf_counter() - start)


async def measure(target: Target, docs: int, seconds: float) -> dict[str, float]:
    """``{"w1", "w50", "r1", "r50"}``: writes/s and reads/s at 1 and 50 clients."""
    figures: dict[str, float] = {}
    for clients in CLIENTS:
        figures[f"w{clients}"] = await rate(target.write, list(range(docs)), clients, seconds)
    await target.fill(docs)
    reads = random.Random(7).choices(range(docs), k=docs * 20)
    for clients in CLIENTS:
        figures[f"r{clients}"] = await rate(target.read, reads, clients, seconds)
    return figures


async def delete_prefix(client: Redis, prefix: str) -> None:
    keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
    for start in range(0, len(keys), 1000):
        await client.unlink(*keys[start : start + 1000])


def print_table(
    docs: int, size: float, seconds: float, results: dict[str, dict[str, float]]
) -> None:
    header = ("adapter", "clients", "writes/s", "vs raw", "reads/s", "vs raw")
    rows = [header]
    for adapter in ("sqlite", "redis"):
        store, raw = results[adapter], results[f"raw {adapter}"]
        for clients in CLIENTS:
            w, r = store[f"w{clients}"], store[f"r{clients}"]
            raw_w, raw_r = raw[f"w{clients}"], raw[f"r{clients}"]
            rows.append(
                (
                    adapter,
                    str(clients),
                    f"{w:,.0f}",
                    f"{w / raw_w:.2f}x",
                    f"{r:,.0f}",
                    f"{r / raw_r:.2f}x",
                )
            )
            rows.append(
                (f"  raw {adapter}", str(clients), f"{raw_w:,.0f}", "", f"{raw_r:,.0f}", "")
            )
    print(f"\n{docs} documents, {size:.0f} B of JSON and 2 index values each")
    print(f"each figure: at most {seconds:g} s (writes stop once all documents are written)\n")
    for row in rows:
        print((f"{row[0]:<14}" + "".join(f"{cell:>10}" for cell in row[1:])).rstrip())


async def main(docs: int, redis_url: str, seconds: float) -> None:
    documents = [make_document(n) for n in range(docs)]
    payloads = [json.dumps(doc, separators=(",", ":")).encode() for doc in documents]
    size = sum(map(len, payloads)) / len(payloads)
    tmp = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="mep-bench-"))
    prefix = f"bench:{secrets.token_hex(6)}:"
    cleaner = Redis.from_url(redis_url)
    results: dict[str, dict[str, float]] = {}
    try:
        targets: list[tuple[str, Callable[[], Awaitable[Target]]]] = [
            ("raw sqlite", lambda: RawSqlite.open(tmp / "raw.db", payloads)),
            ("sqlite", lambda: _store(SqliteStore.open(tmp / "store.db"), documents)),
            ("raw redis", lambda: _raw_redis(redis_url, f"{prefix}raw:", payloads)),
            (
                "redis",
                lambda: _store(RedisStore.open(redis_url, prefix=f"{prefix}store:"), documents),
            ),
        ]
        for name, opener in targets:
            target = await opener()
            try:
                results[name] = await measure(target, docs, seconds)
            finally:
                await target.close()
            print(f"measured {name}", flush=True)
    finally:
        await delete_prefix(cleaner, prefix)
        await cleaner.aclose()
        await asyncio.to_thread(shutil.rmtree, tmp, ignore_errors=True)
    print_table(docs, size, seconds, results)


async def _store(opening: Awaitable[Store], documents: list[dict[str, Any]]) -> Target:
    return StoreTarget(await opening, documents)


async def _raw_redis(url: str, prefix: str, payloads: list[bytes]) -> Target:
    return RawRedis(Redis.from_url(url), prefix, payloads)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--seconds", type=float, default=4.0, help="upper bound per figure")
    args = parser.parse_args()
    asyncio.run(main(args.docs, args.redis_url, args.seconds))
