"""The invocation journal: one record per service API invocation, the facts auditing and
charging read.

Every call through the API gateway, and every Log an external AEF pushes
(``/api-invocation-logs/v1``), becomes a record committed to the store together with its
outbox entry on ``capif.invocations`` (so the event log, and with ``MEP_EVENTS=kafka`` the topic
of that name, carries the same record). The gateway waits for that commit before it sends the
response: a 2xx the caller saw always has its record, whatever happens to the process next. The
commit rides the store's group commit, so concurrent calls share one fsync.

Records are indexed by AEF, by invoker, by API and invoker (what a total quota counts) and by the
hour they were recorded in (what charging aggregates); the hour is the recording time's, not
the invocation's, so an hour once past stays closed even when an AEF reports late.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mep.capif import streams
from mep.core.commits import Committer
from mep.core.outbox import Outbox
from mep.core.store import Document, Operation, Put

COLLECTION = "capif_invocations"
BY_AEF = "aef"
BY_INVOKER = "invoker"
BY_USAGE = "usage"
BY_HOUR = "hour"
_PAGE = 1000


class PayerKind(StrEnum):
    """Who an invocation is charged to."""

    INVOKER = "invoker"
    APP = "app"
    OPERATOR = "operator"
    #: A refused call whose caller could not be authenticated: nobody pays, it is audited.
    ANONYMOUS = "anonymous"


def hour_of(epoch: float) -> str:
    """The hour bucket of an instant: ``2026-11-25T10`` (UTC)."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H")


def usage_key(api_id: str, api_invoker_id: str) -> str:
    return f"{api_id}|{api_invoker_id}"


def succeeded(result: str) -> bool:
    """An HTTP result that counts as a success (2xx and 3xx)."""
    return result[:1] in ("2", "3") and len(result) == 3 and result.isdigit()


@dataclass(frozen=True, slots=True)
class Invocation:
    """One invocation: the TS 29.222 ``Log`` (as JSON), who made it at which AEF, and what
    charging needs beyond the Log (the payer and the bytes moved)."""

    aef_id: str
    api_invoker_id: str
    log: Mapping[str, Any]
    payer_kind: PayerKind = PayerKind.INVOKER
    request_bytes: int = 0
    response_bytes: int = 0
    log_id: str | None = None
    #: Whether the gateway let the call through (refused calls are recorded too, and are
    #: not counted against a total quota).
    admitted: bool = True
    recorded_at: float = field(default_factory=time.time)

    @property
    def api_id(self) -> str:
        return str(self.log["apiId"])

    def to_json(self) -> dict[str, Any]:
        return {
            "aefId": self.aef_id,
            "apiInvokerId": self.api_invoker_id,
            "log": dict(self.log),
            "payerKind": self.payer_kind.value,
            "requestBytes": self.request_bytes,
            "responseBytes": self.response_bytes,
            "logId": self.log_id,
            "admitted": self.admitted,
            "recordedAt": self.recorded_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Invocation:
        return cls(
            aef_id=data["aefId"],
            api_invoker_id=data["apiInvokerId"],
            log=data["log"],
            payer_kind=PayerKind(data["payerKind"]),
            request_bytes=int(data["requestBytes"]),
            response_bytes=int(data["responseBytes"]),
            log_id=data.get("logId"),
            admitted=bool(data.get("admitted", True)),
            recorded_at=float(data["recordedAt"]),
        )

    def invocation_log(self) -> dict[str, Any]:
        """The record as a TS 29.222 ``InvocationLog`` of one ``Log``."""
        return {"aefId": self.aef_id, "apiInvokerId": self.api_invoker_id, "logs": [self.log]}


class InvocationJournal:
    def __init__(self, committer: Committer, outbox: Outbox) -> None:
        self._committer = committer
        self._store = committer.store
        self._outbox = outbox
        # Random per process: ids never collide across replicas, so records are written
        # without an existence check (which would cost the commit a savepoint).
        self._replica = secrets.token_hex(6)
        self._seq = itertools.count(1)

    def _id(self, at: float) -> str:
        # Ids sort by recording time; replica and counter keep concurrent writers apart.
        return f"{int(at * 1e9):020d}-{self._replica}-{next(self._seq):09d}"

    def ops(self, invocations: Iterable[Invocation]) -> list[Operation]:
        """The writes recording ``invocations`` (with their events); commit them together."""
        ops: list[Operation] = []
        for invocation in invocations:
            event = {
                "type": "SERVICE_API_INVOCATION",
                "invocationLog": invocation.invocation_log(),
                "payerKind": invocation.payer_kind.value,
                "requestBytes": invocation.request_bytes,
                "responseBytes": invocation.response_bytes,
            }
            ops.append(self._outbox.entry(streams.INVOCATIONS, event))
            record_id = self._id(invocation.recorded_at)
            ops.append(
                Put(COLLECTION, record_id, invocation.to_json(), indexes=_indexes(invocation))
            )
        return ops

    async def append(self, invocations: Sequence[Invocation]) -> None:
        """Record ``invocations`` durably; when this returns they survive any crash."""
        if invocations:
            await self._committer.commit(self.ops(invocations))

    async def usage(self, api_id: str, api_invoker_id: str) -> int:
        """How many invocations of ``api_id`` by ``api_invoker_id`` are recorded."""
        return await self._store.count_found(
            COLLECTION, BY_USAGE, usage_key(api_id, api_invoker_id)
        )

    async def in_hour(self, hour: str) -> list[Invocation]:
        return _invocations(await self._store.find(COLLECTION, BY_HOUR, hour))

    async def by_invoker(self, api_invoker_id: str) -> list[Invocation]:
        return _invocations(await self._store.find(COLLECTION, BY_INVOKER, api_invoker_id))

    async def by_aef(self, aef_id: str) -> list[Invocation]:
        return _invocations(await self._store.find(COLLECTION, BY_AEF, aef_id))

    async def everything(self) -> list[Invocation]:
        found: list[Invocation] = []
        after: str | None = None
        while page := await self._store.scan(COLLECTION, after=after, limit=_PAGE):
            found += _invocations(page)
            after = page[-1].id
        return found


def _indexes(invocation: Invocation) -> dict[str, list[str]]:
    indexes = {
        BY_AEF: [invocation.aef_id],
        BY_INVOKER: [invocation.api_invoker_id],
        BY_HOUR: [hour_of(invocation.recorded_at)],
    }
    if invocation.admitted:
        indexes[BY_USAGE] = [usage_key(invocation.api_id, invocation.api_invoker_id)]
    return indexes


def _invocations(docs: Iterable[Document]) -> list[Invocation]:
    return [Invocation.from_json(doc.data) for doc in docs]
