"""Bandwidth allocations of application instances (ETSI GS MEC 015 clause 7.2).

An allocation belongs to the instance named by its ``appInsId``: an app manages only its own,
the operator any. Each allocation is a document, found by instance, by app name and (for
session-specific allocations) by id for the ``session_id`` query; the data plane follows the
documents (:mod:`mep.bwm.api` wires a :class:`~mep.core.follow.CommitFollower`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from mep.auth.principal import Principal
from mep.bwm.models import BwInfo, BwInfoDeltas, RequestType
from mep.core.commits import Committer
from mep.core.notify.subscriptions import TimeStamp
from mep.core.optimistic import optimistically
from mep.core.problem import BadRequest, Forbidden, InvalidParam, NotFound, PreconditionFailed
from mep.core.store import ABSENT, Delete, Document, Operation, Put
from mep.core.validation import validate
from mep.mgmt.service import AppInstanceService

COLLECTION = "bwm_allocations"


@dataclass(frozen=True)
class StoredAllocation:
    info: BwInfo
    version: int
    created: bool = False

    @property
    def id(self) -> str:
        assert self.info.allocation_id is not None
        return self.info.allocation_id

    @classmethod
    def from_document(cls, doc: Document) -> StoredAllocation:
        return cls(BwInfo.model_validate(doc.data["info"]), doc.version)


def _indexes(info: BwInfo, app_name: str) -> dict[str, list[str]]:
    assert info.allocation_id is not None
    indexes = {"app": [info.app_ins_id], "app_name": [app_name]}
    if info.request_type is RequestType.SESSION_SPECIFIC_BW_ALLOCATION:
        indexes["session"] = [info.allocation_id]
    return indexes


def _owned(caller: Principal, app_instance_id: str) -> None:
    if not caller.is_operator and caller.subject != app_instance_id:
        raise Forbidden(f"{caller.kind.value} {caller.subject!r} may not manage allocations of "
                        f"{app_instance_id!r}")  # fmt: skip


class BandwidthAllocations:
    def __init__(self, committer: Committer, instances: AppInstanceService) -> None:
        self._committer = committer
        self._store = committer.store
        self._instances = instances

    async def create(self, caller: Principal, info: BwInfo) -> StoredAllocation:
        """GS MEC 015 7.3.3.4 (POST): a new allocation for ``appInsId``."""
        _owned(caller, info.app_ins_id)
        app_name = await self._app_name(info.app_ins_id)
        stamped = info.model_copy(
            update={"allocation_id": str(uuid.uuid4()), "time_stamp": TimeStamp.at(time.time())}
        )
        put = self._write(stamped, app_name, ABSENT)
        (version,) = await self._committer.commit([put])
        return StoredAllocation(stamped, version, created=True)

    async def get(self, caller: Principal, allocation_id: str) -> StoredAllocation:
        doc = await self._store.get(COLLECTION, allocation_id)
        if doc is None:
            raise NotFound(f"no bandwidth allocation {allocation_id!r}")
        stored = StoredAllocation.from_document(doc)
        _owned(caller, stored.info.app_ins_id)
        return stored

    async def query(
        self,
        caller: Principal,
        app_instance_ids: Sequence[str] = (),
        app_names: Sequence[str] = (),
        session_ids: Sequence[str] = (),
    ) -> list[StoredAllocation]:
        """GS MEC 015 7.3.3.1: the filters narrow each other; an app sees only its own."""
        if not caller.is_operator:
            mine = caller.subject
            if app_instance_ids and mine not in app_instance_ids:
                return []
            app_instance_ids = [mine]
        if session_ids:
            docs = await self._store.get_many(COLLECTION, list(dict.fromkeys(session_ids)))
            docs = [d for d in docs if "session" in (d.data.get("_indexes") or {})]
        elif app_instance_ids:
            docs = [d for a in dict.fromkeys(app_instance_ids) for d in await self._find("app", a)]
        elif app_names:
            docs = [d for n in dict.fromkeys(app_names) for d in await self._find("app_name", n)]
        else:
            docs = await self._all()
        found = []
        for doc in docs:
            if app_instance_ids and doc.data["info"]["appInsId"] not in app_instance_ids:
                continue
            if app_names and doc.data["appName"] not in app_names:
                continue
            found.append(StoredAllocation.from_document(doc))
        return found

    async def replace(
        self, caller: Principal, allocation_id: str, info: BwInfo, if_match: int | None
    ) -> StoredAllocation:
        """GS MEC 015 7.3.3.2 (PUT)."""

        async def attempt() -> StoredAllocation:
            current = await self.get(caller, allocation_id)
            return await self._update(current, info, if_match)

        return await optimistically(attempt, what="the allocation", pinned=if_match is not None)

    async def patch(
        self, caller: Principal, allocation_id: str, deltas: BwInfoDeltas, if_match: int | None
    ) -> StoredAllocation:
        """GS MEC 015 7.3.3.3 (PATCH with BwInfoDeltas)."""

        async def attempt() -> StoredAllocation:
            current = await self.get(caller, allocation_id)
            changes = deltas.model_dump(exclude_none=True, by_alias=False)
            merged = current.info.model_dump(by_alias=False) | changes
            info = validate(BwInfo, merged, what="allocation after the patch")
            return await self._update(current, info, if_match)

        return await optimistically(attempt, what="the allocation", pinned=if_match is not None)

    async def delete(self, caller: Principal, allocation_id: str) -> None:
        """GS MEC 015 7.3.3.5."""

        async def attempt() -> None:
            current = await self.get(caller, allocation_id)
            await self._committer.commit([Delete(COLLECTION, allocation_id, current.version)])

        await optimistically(attempt, what="the allocation")

    async def removal_ops(self, app_instance_id: str) -> list[Operation]:
        """The writes that remove every allocation of a terminating instance."""
        return [Delete(COLLECTION, d.id) for d in await self._find("app", app_instance_id)]

    async def _update(
        self, current: StoredAllocation, info: BwInfo, if_match: int | None
    ) -> StoredAllocation:
        if if_match is not None and if_match != current.version:
            raise PreconditionFailed(f"ETag does not match version {current.version}")
        if info.app_ins_id != current.info.app_ins_id:
            raise BadRequest(
                "appInsId cannot change",
                invalid_params=[InvalidParam("/appInsId", f"must be {current.info.app_ins_id}")],
            )
        updated = info.model_copy(
            update={"allocation_id": current.id, "time_stamp": TimeStamp.at(time.time())}
        )
        app_name = await self._app_name(updated.app_ins_id)
        (version,) = await self._committer.commit([self._write(updated, app_name, current.version)])
        return StoredAllocation(updated, version)

    def _write(self, info: BwInfo, app_name: str, expected: int) -> Put:
        assert info.allocation_id is not None
        indexes = _indexes(info, app_name)
        data = {"info": info.model_dump(mode="json", exclude_none=True), "appName": app_name,
                "_indexes": indexes}  # fmt: skip
        return Put(COLLECTION, info.allocation_id, data, expected, indexes=indexes)

    async def _app_name(self, app_instance_id: str) -> str:
        try:
            return (await self._instances.get(app_instance_id)).record.spec.app_name
        except NotFound:
            raise BadRequest(
                f"no application instance {app_instance_id!r}",
                invalid_params=[InvalidParam("/appInsId", "not an application instance here")],
            ) from None

    async def _find(self, index: str, value: str) -> list[Document]:
        return await self._store.find(COLLECTION, index, value)

    async def _all(self) -> list[Document]:
        docs: list[Document] = []
        after: str | None = None
        while page := await self._store.scan(COLLECTION, after=after):
            docs += page
            after = page[-1].id
        return docs
