"""What the data plane should enforce, read from the store (the traffic rules of every instance
and every bandwidth allocation), for the reconcile at start."""

from __future__ import annotations

from collections.abc import AsyncIterator

from mep.bwm.models import BwInfo
from mep.bwm.service import COLLECTION as ALLOCATIONS
from mep.core.store import Document, Store
from mep.dataplane.port import AppTrafficRule, Snapshot, SnapshotLoader
from mep.mgmt.rules import TRAFFIC, split_doc_id
from mep.mp1.app_support.models import TrafficRule


async def _documents(store: Store, collection: str) -> AsyncIterator[Document]:
    after: str | None = None
    while page := await store.scan(collection, after=after):
        for doc in page:
            yield doc
        after = page[-1].id


def store_loader(store: Store) -> SnapshotLoader:
    async def load() -> Snapshot:
        rules = [
            AppTrafficRule(split_doc_id(doc.id)[0], TrafficRule.model_validate(doc.data["rule"]))
            async for doc in _documents(store, TRAFFIC.collection)
        ]
        allocations = {
            doc.id: BwInfo.model_validate(doc.data["info"])
            async for doc in _documents(store, ALLOCATIONS)
        }
        return Snapshot(rules, allocations)

    return load
