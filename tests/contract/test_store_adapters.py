"""Adapter-specific behaviour of the Store: SQLite durability, Redis layout, open_store."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from mep.core.store import Delete, Put, Store, StoreError, open_store
from mep.core.store.redis import RedisStore
from mep.core.store.sqlite import SqliteStore

C = "things"


async def put(store: Store, id: str, data: dict[str, object]) -> int:
    (version,) = await store.commit([Put(C, id, data)])
    return version


# SQLite only


async def test_sqlite_commits_finished_by_close_are_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "store.db"
    store = await SqliteStore.open(path)
    tasks = [asyncio.create_task(put(store, f"d{n}", {"n": n})) for n in range(100)]
    await asyncio.sleep(0)
    await store.close()
    assert await asyncio.gather(*tasks) == [1] * 100
    reopened = await SqliteStore.open(path)
    try:
        assert await reopened.count(C) == 100
    finally:
        await reopened.close()


async def test_sqlite_acknowledged_commits_survive_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "crash.db"
    helper = Path(__file__).with_name("crash_writer.py")
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(helper),
        str(path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    assert child.stderr is not None
    acked: list[str] = []
    try:
        while len(acked) < 400:
            line = await asyncio.wait_for(child.stdout.readline(), timeout=30)
            if not line:
                stderr = await child.stderr.read()
                pytest.fail(f"the writer exited early: {stderr.decode()}")
            acked.append(line.decode().strip())
    finally:
        child.kill()
        await child.wait()
    # Ids printed after the first 400 were acknowledged too.
    acked += (await child.stdout.read()).decode().split()
    assert child.returncode == -9
    store = await SqliteStore.open(path)
    try:
        found = await store.get_many("crash", acked)
        assert [doc.id for doc in found] == acked
        assert all(doc.version == 1 and doc.data["pad"] == "x" * 200 for doc in found)
        by_writer = {doc.id for doc in await store.find("crash", "writer", "0")}
        assert {id for id in acked if id.startswith("w0-")} <= by_writer
    finally:
        await store.close()


# Redis only


async def test_redis_rejects_colons_in_collection_and_index_names(redis_store: RedisStore) -> None:
    with pytest.raises(ValueError, match="must not contain"):
        await redis_store.commit([Put("a:b", "c", {})])
    with pytest.raises(ValueError, match="must not contain"):
        await redis_store.commit([Put("a", "b", {}, indexes={"x:y": ["z"]})])
    assert await redis_store.commit([Put("a", "b:c", {}, indexes={"x": ["y:z"]})]) == [1]
    assert [d.id for d in await redis_store.find("a", "x", "y:z")] == ["b:c"]


async def test_redis_key_layout_leaves_nothing_behind(redis_store: RedisStore) -> None:
    async def keys() -> list[str]:
        found = redis_store.client.scan_iter(match=f"{redis_store.prefix}*")
        return sorted([key.decode().removeprefix(redis_store.prefix) async for key in found])

    await redis_store.commit(
        [Put(C, "a", {}, indexes={"k": ["1", "2"]}), Put(C, "b", {}, indexes={"k": ["1"]})]
    )
    await redis_store.commit([Put(C, "a", {}, indexes={"k": ["3"]})])
    assert await keys() == [f"c:{C}", f"d:{C}:a", f"d:{C}:b", f"i:{C}:k:1", f"i:{C}:k:3"]
    await redis_store.commit([Delete(C, "a"), Delete(C, "b")])
    assert await keys() == []


async def test_redis_unreachable_is_a_store_error() -> None:
    with pytest.raises(StoreError):
        await RedisStore.open("redis://127.0.0.1:1/0")


# open_store


@pytest.mark.parametrize("spec", ["sqlite", "sqlite:///{tmp}/elsewhere.db"])
async def test_open_store_sqlite(spec: str, tmp_path: Path) -> None:
    store = await open_store(spec.format(tmp=tmp_path), tmp_path / "data")
    try:
        assert isinstance(store, SqliteStore)
        assert await store.commit([Put(C, "a", {})]) == [1]
    finally:
        await store.close()
    expected = tmp_path / "data" / "mep.db" if spec == "sqlite" else tmp_path / "elsewhere.db"
    assert await asyncio.to_thread(expected.is_file)


async def test_open_store_redis(tmp_path: Path, redis_url: str) -> None:
    store = await open_store(redis_url, tmp_path)
    try:
        assert isinstance(store, RedisStore)
        await store.ping()
    finally:
        await store.close()


@pytest.mark.parametrize("spec", ["", "mysql://host/db", "sqlite:", "sqlite:///", "memory"])
async def test_open_store_rejects_unknown_specs(spec: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="redis://"):
        await open_store(spec, tmp_path)
