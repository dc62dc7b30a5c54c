"""Contract of the Store port, run against every adapter (see the ``store`` fixture)."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from mep.core.store import (
    ABSENT,
    Delete,
    Operation,
    Put,
    Store,
    StoreError,
    VersionConflict,
)

C = "things"


async def put(store: Store, id: str, data: dict[str, Any], **kwargs: Any) -> int:
    (version,) = await store.commit([Put(C, id, data, **kwargs)])
    return version


async def ids_found(store: Store, index: str, value: str) -> list[str]:
    return [doc.id for doc in await store.find(C, index, value)]


async def test_versions_grow_by_one_per_write(store: Store) -> None:
    assert [await put(store, "a", {"n": n}) for n in range(3)] == [1, 2, 3]
    doc = await store.get(C, "a")
    assert doc is not None
    assert (doc.collection, doc.id, doc.version, doc.data) == (C, "a", 3, {"n": 2})


async def test_get_absent_is_none(store: Store) -> None:
    await put(store, "a", {})
    assert await store.get(C, "b") is None
    assert await store.get("other", "a") is None


async def test_absent_precondition_on_existing_document_conflicts(store: Store) -> None:
    await put(store, "a", {"n": 1})
    with pytest.raises(VersionConflict) as raised:
        await put(store, "a", {"n": 2}, expected_version=ABSENT)
    conflict = raised.value
    assert (conflict.collection, conflict.id, conflict.expected, conflict.actual) == (C, "a", 0, 1)
    doc = await store.get(C, "a")
    assert doc is not None
    assert (doc.version, doc.data) == (1, {"n": 1})


async def test_stale_version_conflicts_and_current_version_succeeds(store: Store) -> None:
    await put(store, "a", {"n": 1})
    await put(store, "a", {"n": 2})
    with pytest.raises(VersionConflict) as raised:
        await put(store, "a", {"n": 3}, expected_version=1)
    assert (raised.value.expected, raised.value.actual) == (1, 2)
    assert await put(store, "a", {"n": 3}, expected_version=2) == 3


async def test_expected_version_on_missing_document_reports_absent(store: Store) -> None:
    with pytest.raises(VersionConflict) as raised:
        await put(store, "a", {}, expected_version=4)
    assert (raised.value.expected, raised.value.actual) == (4, ABSENT)
    assert await store.get(C, "a") is None


async def test_unconditional_delete(store: Store) -> None:
    await put(store, "a", {}, indexes={"k": ["v"]})
    assert await store.commit([Delete(C, "a")]) == [0]
    assert await store.get(C, "a") is None
    assert await store.count(C) == 0
    assert await ids_found(store, "k", "v") == []
    assert await store.commit([Delete(C, "a")]) == [0]


async def test_delete_with_expected_version(store: Store) -> None:
    await put(store, "a", {})
    await put(store, "a", {})
    with pytest.raises(VersionConflict) as raised:
        await store.commit([Delete(C, "a", expected_version=1)])
    assert raised.value.actual == 2
    assert await store.get(C, "a") is not None
    assert await store.commit([Delete(C, "a", expected_version=2)]) == [0]
    assert await store.get(C, "a") is None
    with pytest.raises(VersionConflict) as raised:
        await store.commit([Delete(C, "a", expected_version=2)])
    assert raised.value.actual == ABSENT


async def test_delete_expecting_absent_only_checks_absence(store: Store) -> None:
    assert await store.commit([Delete(C, "a", expected_version=ABSENT)]) == [0]
    await put(store, "a", {})
    with pytest.raises(VersionConflict) as raised:
        await store.commit([Delete(C, "a", expected_version=ABSENT)])
    assert raised.value.actual == 1
    assert await store.get(C, "a") is not None


async def test_recreated_document_starts_again_at_version_1(store: Store) -> None:
    await put(store, "a", {"old": True}, indexes={"k": ["old"]})
    await store.commit([Delete(C, "a")])
    assert await put(store, "a", {"new": True}, expected_version=ABSENT) == 1
    assert await ids_found(store, "k", "old") == []


async def test_commit_returns_one_version_per_op(store: Store) -> None:
    await put(store, "b", {})
    ops: list[Operation] = [Put(C, "a", {}), Put(C, "b", {}, expected_version=1), Delete(C, "c")]
    assert await store.commit(ops) == [1, 2, 0]
    assert await store.commit([]) == []


async def test_failing_op_leaves_earlier_ops_of_the_commit_unwritten(store: Store) -> None:
    await put(store, "b", {"n": 1}, indexes={"k": ["b1"]})
    ops: list[Operation] = [
        Put(C, "a", {"n": 1}, indexes={"k": ["a1"]}),
        Put(C, "b", {"n": 2}, expected_version=1, indexes={"k": ["b2"]}),
        Delete(C, "z", expected_version=1),
    ]
    with pytest.raises(VersionConflict) as raised:
        await store.commit(ops)
    assert (raised.value.id, raised.value.actual) == ("z", ABSENT)
    assert await store.get(C, "a") is None
    b = await store.get(C, "b")
    assert b is not None
    assert (b.version, b.data) == (1, {"n": 1})
    assert await ids_found(store, "k", "a1") == []
    assert await ids_found(store, "k", "b1") == ["b"]
    assert await ids_found(store, "k", "b2") == []
    assert await store.count(C) == 1


async def test_conflict_names_the_first_mismatch(store: Store) -> None:
    with pytest.raises(VersionConflict) as raised:
        await store.commit(
            [Put(C, "x", {}, expected_version=3), Put(C, "y", {}, expected_version=3)]
        )
    assert raised.value.id == "x"


async def test_ops_on_one_document_apply_in_order(store: Store) -> None:
    ops = [
        Put(C, "a", {"n": 1}, expected_version=ABSENT),
        Put(C, "a", {"n": 2}, expected_version=1),
        Put(C, "a", {"n": 3}, expected_version=2, indexes={"k": ["3"]}),
    ]
    assert await store.commit(ops) == [1, 2, 3]
    assert await store.commit([Delete(C, "a", expected_version=3), Put(C, "a", {"n": 4})]) == [0, 1]
    doc = await store.get(C, "a")
    assert doc is not None
    assert (doc.version, doc.data) == (1, {"n": 4})
    assert await ids_found(store, "k", "3") == []
    with pytest.raises(VersionConflict) as raised:
        await store.commit([Put(C, "b", {}, expected_version=ABSENT)] * 2)
    assert raised.value.actual == 1
    assert await store.get(C, "b") is None


async def test_uniqueness_guard_document(store: Store) -> None:
    def register(app_id: str, name: str) -> list[Put]:
        return [
            Put("apps", app_id, {"name": name}, expected_version=ABSENT),
            Put("app-names", name, {"app": app_id}, expected_version=ABSENT),
        ]

    assert await store.commit(register("app-1", "camera")) == [1, 1]
    with pytest.raises(VersionConflict) as raised:
        await store.commit(register("app-2", "camera"))
    assert (raised.value.collection, raised.value.id) == ("app-names", "camera")
    assert await store.get("apps", "app-2") is None
    guard = await store.get("app-names", "camera")
    assert guard is not None
    assert guard.data == {"app": "app-1"}


async def test_find_follows_updates_and_deletes(store: Store) -> None:
    await put(store, "a", {}, indexes={"state": ["READY"]})
    await put(store, "b", {}, indexes={"state": ["READY"]})
    assert await ids_found(store, "state", "READY") == ["a", "b"]
    await put(store, "a", {}, indexes={"state": ["ACTIVE"]})
    assert await ids_found(store, "state", "READY") == ["b"]
    assert await ids_found(store, "state", "ACTIVE") == ["a"]
    await put(store, "b", {})
    assert await ids_found(store, "state", "READY") == []
    await store.commit([Delete(C, "a")])
    assert await ids_found(store, "state", "ACTIVE") == []


async def test_count_found_counts_what_find_returns(store: Store) -> None:
    await put(store, "a", {}, indexes={"tag": ["x", "x"]})
    await put(store, "b", {}, indexes={"tag": ["x", "y"]})
    await store.commit([Put("elsewhere", "a", {}, indexes={"tag": ["x"]})])
    assert await store.count_found(C, "tag", "x") == 2
    assert await store.count_found(C, "tag", "y") == 1
    await put(store, "a", {}, indexes={"tag": ["y"]})
    await store.commit([Delete(C, "b")])
    assert await store.count_found(C, "tag", "x") == 0
    assert await store.count_found(C, "tag", "y") == 1
    assert await store.count_found(C, "nothing", "x") == 0


async def test_find_several_values_and_indexes(store: Store) -> None:
    await put(store, "c", {"n": 3}, indexes={"tag": ["x", "y", "x"], "owner": ["o1"]})
    await put(store, "a", {"n": 1}, indexes={"tag": ["y"]})
    await put(store, "b", {"n": 2}, indexes={"owner": ["x"]})
    await store.commit([Put("elsewhere", "a", {}, indexes={"tag": ["y"]})])
    assert await ids_found(store, "tag", "x") == ["c"]
    assert [(d.id, d.data) for d in await store.find(C, "tag", "y")] == [
        ("a", {"n": 1}),
        ("c", {"n": 3}),
    ]
    assert await ids_found(store, "owner", "o1") == ["c"]
    assert await ids_found(store, "owner", "x") == ["b"]
    assert await ids_found(store, "tag", "z") == []


async def test_index_values_must_be_a_sequence_not_a_string(store: Store) -> None:
    with pytest.raises(TypeError):
        await put(store, "a", {}, indexes={"tag": "abc"})
    assert await store.get(C, "a") is None


async def test_unencodable_data_fails_only_its_commit(store: Store) -> None:
    with pytest.raises(TypeError):
        await put(store, "a", {"when": object()})
    assert await put(store, "a", {"ok": True}) == 1


async def test_get_many_keeps_order_and_skips_missing(store: Store) -> None:
    for id in ("a", "b", "c"):
        await put(store, id, {"id": id})
    docs = await store.get_many(C, ["c", "missing", "a", "b"])
    assert [(d.id, d.data["id"]) for d in docs] == [("c", "c"), ("a", "a"), ("b", "b")]
    assert await store.get_many(C, []) == []
    many = [f"id{n:04d}" for n in range(1200)]
    await store.commit([Put(C, id, {}) for id in many[::2]])
    assert [d.id for d in await store.get_many(C, many)] == many[::2]


async def test_scan_orders_by_id_and_pages_after(store: Store) -> None:
    ids = ["b", "a", "10", "9", "B", "é", "z", "a:b", "ab"]
    random.shuffle(ids)
    for id in ids:
        await put(store, id, {"id": id})
    await store.commit([Put("elsewhere", "0", {})])
    expected = sorted(ids)
    assert [d.id for d in await store.scan(C)] == expected
    pages: list[str] = []
    after: str | None = None
    while page := await store.scan(C, after=after, limit=4):
        assert len(page) <= 4
        pages += [d.id for d in page]
        after = page[-1].id
    assert pages == expected
    assert [d.id for d in await store.scan(C, after="a", limit=2)] == ["a:b", "ab"]
    assert await store.scan(C, after=expected[-1]) == []
    assert await store.scan(C, limit=0) == []


async def test_count_per_collection(store: Store) -> None:
    assert await store.count(C) == 0
    await store.commit([Put(C, str(n), {}) for n in range(5)] + [Put("elsewhere", "x", {})])
    await store.commit([Delete(C, "0"), Put(C, "1", {})])
    assert await store.count(C) == 4
    assert await store.count("elsewhere") == 1


async def test_unicode_and_nested_json_round_trip(store: Store) -> None:
    data = {
        "name": "café ☕ 東京 🚀",
        "nested": {"list": [1, 2.5, -3e-7, True, False, None, {"deep": [[], {}]}], "empty": {}},
        "quote": 'a "quoted" \\ back\nslash\t',
        "big": 2**53,
    }
    id = "ünïcode/id 東京"
    await put(store, id, data, indexes={"city": ["東京"]})
    doc = await store.get(C, id)
    assert doc is not None
    assert doc.data == data
    assert await ids_found(store, "city", "東京") == [id]
    assert [d.id for d in await store.scan(C)] == [id]


async def test_ping_answers_until_closed(store: Store) -> None:
    await store.ping()
    await store.close()
    with pytest.raises(StoreError):
        await store.ping()


async def increment(store: Store, id: str) -> None:
    """Add one to the document's counter by compare-and-set, retrying on conflict."""
    while True:
        doc = await store.get(C, id)
        assert doc is not None
        try:
            await put(store, id, {"n": doc.data["n"] + 1}, expected_version=doc.version)
            return
        except VersionConflict:
            continue


@pytest.mark.parametrize("documents", [1, 5])
async def test_concurrent_compare_and_set_loses_no_update(store: Store, documents: int) -> None:
    ids = [f"counter-{n}" for n in range(documents)]
    await store.commit([Put(C, id, {"n": 0}) for id in ids])

    async def worker(number: int) -> None:
        for step in range(25):
            await increment(store, ids[(number + step) % documents])

    await asyncio.gather(*(worker(number) for number in range(20)))
    docs = await store.get_many(C, ids)
    assert sum(doc.data["n"] for doc in docs) == 500
    assert all(doc.version == doc.data["n"] + 1 for doc in docs)


async def test_concurrent_unconditional_writes_each_get_a_version(store: Store) -> None:
    versions = await asyncio.gather(*(put(store, "a", {"n": n}) for n in range(50)))
    assert sorted(versions) == list(range(1, 51))
    doc = await store.get(C, "a")
    assert doc is not None
    assert doc.version == 50


async def test_concurrent_commits_fail_independently(store: Store) -> None:
    await store.commit([Put(C, f"d{n}", {"n": n}) for n in range(20)])

    async def update(n: int) -> list[int]:
        # Odd ids get a stale version: only those commits may fail, and with them their
        # first op, which on its own would have succeeded.
        return await store.commit(
            [
                Put(C, f"side{n}", {"n": n}, indexes={"side": ["yes"]}),
                Put(C, f"d{n}", {"n": -n}, expected_version=1 + n % 2),
            ]
        )

    results = await asyncio.gather(*(update(n) for n in range(20)), return_exceptions=True)
    for n, result in enumerate(results):
        doc = await store.get(C, f"d{n}")
        assert doc is not None
        if n % 2:
            assert isinstance(result, VersionConflict)
            assert (doc.version, doc.data) == (1, {"n": n})
            assert await store.get(C, f"side{n}") is None
        else:
            assert result == [1, 2]
            assert (doc.version, doc.data) == (2, {"n": -n})
    assert await ids_found(store, "side", "yes") == sorted(f"side{n}" for n in range(0, 20, 2))


async def test_close_finishes_commits_in_flight(store: Store) -> None:
    tasks = [asyncio.create_task(put(store, f"d{n}", {"n": n})) for n in range(100)]
    await asyncio.sleep(0)
    await store.close()
    assert await asyncio.gather(*tasks) == [1] * 100
    with pytest.raises(StoreError):
        await put(store, "late", {})
    with pytest.raises(StoreError):
        await store.get(C, "d1")
    await store.close()


async def test_cancelling_a_caller_mid_call_cancels_it(store: Store) -> None:
    """A driver that swallows cancellation would hang every shutdown that cancels a worker."""
    await put(store, "x", {})
    for attempt in range(30):

        async def busy(attempt: int = attempt) -> None:
            while True:
                await store.get(C, "x")
                await store.commit([Put(C, "x", {"n": attempt})])

        task = asyncio.create_task(busy())
        await asyncio.sleep(attempt * 0.0001)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=2)
        assert done, f"cancellation was lost (attempt {attempt})"
        assert task.cancelled() or isinstance(task.exception(), StoreError)
