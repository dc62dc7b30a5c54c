"""Auditing (TS 29.222 clause 8.16): the journal's records, filtered as the AMF asks.

An AMF sees the invocations of its own domain's AEFs; the operator, who runs the platform's
AEF (its gateway) and has no AMF over CAPIF-5, sees every record.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from mep.capif.journal import Invocation, InvocationJournal


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """The query parameters of ``GET /logs/v1/apiInvocationLogs``; ``None``: no filter."""

    aef_id: str | None = None
    api_invoker_id: str | None = None
    time_range_start: dt.datetime | None = None
    time_range_end: dt.datetime | None = None
    api_id: str | None = None
    api_name: str | None = None
    api_version: str | None = None
    protocol: str | None = None
    operation: str | None = None
    result: str | None = None
    resource_name: str | None = None
    src_interface: dict[str, Any] | None = None
    dest_interface: dict[str, Any] | None = None


_LOG_FIELDS = {
    "api_id": "apiId",
    "api_name": "apiName",
    "api_version": "apiVersion",
    "protocol": "protocol",
    "operation": "operation",
    "result": "result",
    "resource_name": "resourceName",
}


def _parse_time(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _interface_matches(wanted: dict[str, Any], given: Any) -> bool:
    """Every member the filter names has the same value in the record's interface."""
    if not isinstance(given, dict):
        return False
    return all(given.get(name) == value for name, value in wanted.items())


def matches(query: AuditQuery, invocation: Invocation) -> bool:
    if query.aef_id is not None and invocation.aef_id != query.aef_id:
        return False
    if query.api_invoker_id is not None and invocation.api_invoker_id != query.api_invoker_id:
        return False
    log = invocation.log
    for attribute, member in _LOG_FIELDS.items():
        wanted = getattr(query, attribute)
        if wanted is not None and log.get(member) != wanted:
            return False
    if query.time_range_start is not None or query.time_range_end is not None:
        when = _parse_time(log.get("invocationTime"))
        if when is None:
            return False
        if query.time_range_start is not None and when < query.time_range_start:
            return False
        if query.time_range_end is not None and when > query.time_range_end:
            return False
    for wanted_interface, member in (
        (query.src_interface, "srcInterface"),
        (query.dest_interface, "destInterface"),
    ):
        if wanted_interface is not None and not _interface_matches(
            wanted_interface, log.get(member)
        ):
            return False
    return True


def grouped(invocations: Iterable[Invocation]) -> list[dict[str, Any]]:
    """``InvocationLog``s: the records' Logs, one InvocationLog per AEF and invoker, in
    recording order."""
    groups: dict[tuple[str, str], list[Any]] = {}
    for invocation in invocations:
        key = (invocation.aef_id, invocation.api_invoker_id)
        groups.setdefault(key, []).append(dict(invocation.log))
    return [
        {"aefId": aef, "apiInvokerId": invoker, "logs": logs}
        for (aef, invoker), logs in groups.items()
    ]


class Auditing:
    def __init__(self, journal: InvocationJournal) -> None:
        self._journal = journal

    async def search(
        self, query: AuditQuery, *, aef_ids: Collection[str] | None
    ) -> list[dict[str, Any]]:
        """The matching records as InvocationLogs; ``aef_ids``: the AEFs the caller may audit
        (``None``: all)."""
        if query.api_invoker_id is not None:
            candidates = await self._journal.by_invoker(query.api_invoker_id)
        elif query.aef_id is not None:
            candidates = await self._journal.by_aef(query.aef_id)
        else:
            candidates = await self._journal.everything()
        found = [
            i for i in candidates if (aef_ids is None or i.aef_id in aef_ids) and matches(query, i)
        ]
        return grouped(found)
