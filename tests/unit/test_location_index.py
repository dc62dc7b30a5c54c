"""The in-memory index of Location subscriptions (following commits, loading from a store) and
the parsing of query parameters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from mep.core.problem import BadRequest
from mep.core.store import Delete, Document
from mep.location.index import SubscriptionIndex
from mep.location.kinds import KINDS, Kind
from mep.location.queries import DistanceQuery, UsersQuery
from mep.location.records import SUBSCRIPTIONS, Run, Stored

CALLBACK = {"notifyURL": "http://cb/x"}


def stored(subscription_id: str, kind: Kind, version: int = 1, **fields: Any) -> Stored:
    sub = KINDS[kind].model.model_validate({"callbackReference": CALLBACK, **fields})
    return Stored(subscription_id, kind, "app", version, sub, Run())


def tracking(subscription_id: str, address: str, version: int = 1) -> Stored:
    return stored(subscription_id, Kind.USER_TRACKING, version, address=address)


class FakeStore:
    """``scan`` and ``get_many`` over a dict; a hook runs in the middle of the first scan."""

    def __init__(self, docs: Sequence[Stored]) -> None:
        self.docs = {s.id: Document(SUBSCRIPTIONS, s.id, s.version, s.data()) for s in docs}
        self.during_scan: list[Any] = []

    async def scan(
        self, collection: str, *, after: str | None = None, limit: int = 1000
    ) -> list[Document]:
        for hook in self.during_scan:
            hook()
        self.during_scan = []
        ids = sorted(i for i in self.docs if after is None or i > after)[:limit]
        return [self.docs[i] for i in ids]

    async def get_many(self, collection: str, ids: Sequence[str]) -> list[Document]:
        return [self.docs[i] for i in ids if i in self.docs]


def test_the_index_follows_commits() -> None:
    index = SubscriptionIndex(FakeStore([]))
    first = tracking("s-1", "acr:1")
    index.on_commit(first.put(expected=0))
    zone = stored("s-2", Kind.ZONAL_TRAFFIC, zoneId="z")
    index.on_commit(zone.put(expected=0))
    periodic = stored("s-3", Kind.PERIODIC, address=["acr:1"], frequency=1, requestedAccuracy=1)
    index.on_commit(periodic.put(expected=0))
    assert [s.id for s in index.by_address("acr:1")] == ["s-1"]  # periodic: timer-driven
    assert [s.id for s in index.by_zone("z")] == ["s-2"]
    found = index.get("s-1")
    assert found is not None
    assert found.version == 1

    # A running-state write keeps the parsed subscription; a new body re-indexes.
    index.on_commit(first.put(Run(sent={"": 1}), expected=1))
    kept = index.get("s-1")
    assert kept is not None
    assert kept.version == 2
    assert kept.subscription is found.subscription
    assert kept.run.sent == {"": 1}
    moved = tracking("s-1", "acr:2", version=2)
    index.on_commit(moved.put())
    assert list(index.by_address("acr:1")) == []
    assert [s.id for s in index.by_address("acr:2")] == ["s-1"]

    index.on_commit(Delete(SUBSCRIPTIONS, "s-2"))
    assert list(index.by_zone("z")) == []
    assert index.get("s-2") is None
    assert len(index) == 2


async def test_the_index_loads_and_keeps_what_was_committed_meanwhile() -> None:
    store = FakeStore([tracking("s-1", "acr:1", 4), tracking("s-2", "acr:2", 1)])
    index = SubscriptionIndex(store)
    newer = tracking("s-1", "acr:9", version=4)
    store.during_scan.append(lambda: index.on_commit(newer.put()))
    await index.ready()
    loaded = index.get("s-1")
    assert loaded is not None
    assert loaded.version == 5
    assert [s.id for s in index.by_address("acr:9")] == ["s-1"]
    assert [s.id for s in index.by_address("acr:2")] == ["s-2"]
    del store.docs["s-2"]
    await index.reload(["s-2"])
    assert index.get("s-2") is None


def test_users_query() -> None:
    query = UsersQuery.parse({"zoneId": ["a", "b", "a"], "address": ["acr:1"]})
    assert query == UsersQuery(("a", "b"), (), ("acr:1",))
    assert query.text() == "zoneId=a&zoneId=b&address=acr:1"
    with pytest.raises(BadRequest):
        UsersQuery.parse({"accessPointId": [""]})


@pytest.mark.parametrize(
    ("query", "params"),
    [
        ({}, {"query address"}),
        ({"address": ["a"]}, {"query latitude", "query longitude"}),
        ({"address": ["a"], "latitude": ["1", "2"], "longitude": ["0"]}, {"query latitude"}),
        ({"address": ["a"], "latitude": ["nan"], "longitude": ["0"]}, {"query latitude"}),
        ({"address": ["a", "b"], "longitude": ["0"]}, {"query address"}),
    ],
)
def test_distance_query_errors(query: dict[str, list[str]], params: set[str]) -> None:
    with pytest.raises(BadRequest) as raised:
        DistanceQuery.parse(query)
    assert {p.param for p in raised.value.invalid_params} == params


def test_distance_query() -> None:
    assert DistanceQuery.parse({"address": ["a", "b"]}) == DistanceQuery(("a", "b"))
    point = DistanceQuery.parse({"address": ["a"], "latitude": ["1.5"], "longitude": ["-2"]})
    assert (point.latitude, point.longitude) == (1.5, -2.0)
