"""Reading and writing instance and binding records in the platform's store."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import orjson

from broker.records import (
    BINDINGS,
    INSTANCES,
    BindingRecord,
    InstanceRecord,
    Lifecycle,
    binding_key,
)
from broker.sealing import Sealer
from mep.core.store import Operation, Put, Store

R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Target:
    """An instance (``binding_id`` None) or one of its bindings."""

    instance_id: str
    binding_id: str | None = None

    @property
    def collection(self) -> str:
        return INSTANCES if self.binding_id is None else BINDINGS

    @property
    def doc_id(self) -> str:
        if self.binding_id is None:
            return self.instance_id
        return binding_key(self.instance_id, self.binding_id)


@dataclass(frozen=True, slots=True)
class Versioned(Generic[R]):
    record: R
    version: int


class Repository:
    """Records in and out of the store; a binding's password and credentials are sealed."""

    def __init__(self, store: Store, sealer: Sealer) -> None:
        self.store = store
        self._sealer = sealer

    def put(self, record: InstanceRecord | BindingRecord, expected_version: int | None) -> Put:
        if isinstance(record, InstanceRecord):
            return record.put(expected_version)
        put = record.put(expected_version)
        data = dict(put.data)
        data["password"] = self._sealer.seal(record.password.encode(), put.id)
        if record.credentials is not None:
            data["credentials"] = self._sealer.seal(orjson.dumps(record.credentials), put.id)
        return Put(put.collection, put.id, data, put.expected_version, put.indexes)

    def _binding(self, doc_id: str, data: dict[str, object]) -> BindingRecord:
        opened = dict(data)
        opened["password"] = self._sealer.open(str(data["password"]), doc_id).decode()
        if isinstance(data.get("credentials"), str):
            opened["credentials"] = orjson.loads(
                self._sealer.open(str(data["credentials"]), doc_id)
            )
        return BindingRecord.model_validate(opened)

    async def instance(self, instance_id: str) -> Versioned[InstanceRecord] | None:
        doc = await self.store.get(INSTANCES, instance_id)
        if doc is None:
            return None
        return Versioned(InstanceRecord.model_validate(doc.data), doc.version)

    async def binding(self, instance_id: str, binding_id: str) -> Versioned[BindingRecord] | None:
        doc = await self.store.get(BINDINGS, binding_key(instance_id, binding_id))
        if doc is None:
            return None
        return Versioned(self._binding(doc.id, doc.data), doc.version)

    async def load(
        self, target: Target
    ) -> Versioned[InstanceRecord] | Versioned[BindingRecord] | None:
        """The target's record: the instance, or the binding it names."""
        if target.binding_id is None:
            return await self.instance(target.instance_id)
        return await self.binding(target.instance_id, target.binding_id)

    async def bindings_of(self, instance_id: str) -> list[Versioned[BindingRecord]]:
        docs = await self.store.find(BINDINGS, "instance", instance_id)
        return [Versioned(self._binding(d.id, d.data), d.version) for d in docs]

    async def live_bindings(self, service_ids: Collection[str]) -> list[BindingRecord]:
        """The ready bindings of these services (only those are unsealed)."""
        out: list[BindingRecord] = []
        after: str | None = None
        while page := await self.store.scan(BINDINGS, after=after, limit=500):
            for doc in page:
                live = doc.data["state"] == Lifecycle.READY.value
                if live and doc.data["service_id"] in service_ids:
                    out.append(self._binding(doc.id, doc.data))
            after = page[-1].id
        return out

    async def in_flight(self) -> list[Target]:
        targets = [Target(d.id) for d in await self.store.find(INSTANCES, "inflight", "1")]
        for doc in await self.store.find(BINDINGS, "inflight", "1"):
            targets.append(Target(doc.data["instance_id"], doc.data["id"]))
        return targets

    async def tombstones(self) -> list[tuple[str, str, int, float | None]]:
        """(collection, doc id, version, deleted) of every tombstone."""
        out = []
        for collection in (INSTANCES, BINDINGS):
            for doc in await self.store.find(collection, "tombstone", "1"):
                out.append((collection, doc.id, doc.version, doc.data.get("deleted")))
        return out

    async def commit(self, ops: Sequence[Operation]) -> None:
        await self.store.commit(ops)
