"""Charging records: the journal's invocations per payer, API and hour, priced by the tariffs.

An hour is *open* while invocations may still be recorded in it, and its records are computed
from the journal when asked (with the tariffs of the moment). Once the hour is over (and a
grace period for calls still in flight and replicas' clocks has passed) a closer freezes it: the
hour's records, priced with the tariffs of that moment, are written once (a document created
"if absent", so one replica wins) with one ``charging.records`` event per record in the same
commit. Records of a closed hour never change again.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from mep.capif import streams
from mep.capif.journal import COLLECTION as JOURNAL
from mep.capif.journal import Invocation, InvocationJournal, PayerKind, hour_of, succeeded
from mep.charging.tariffs import Tariff, Tariffs
from mep.core.commits import Committer
from mep.core.outbox import Outbox
from mep.core.store import ABSENT, Put, StoreError, VersionConflict

log = structlog.get_logger("mep.charging")

HOURS = "charging_hours"
STATE = "charging_state"
CLOSER = "closer"
#: How long after an hour ends it is closed: calls still in flight, clocks a little apart.
GRACE_SECONDS = 120.0
HOUR = dt.timedelta(hours=1)


def hour_start(hour: str) -> dt.datetime:
    return dt.datetime.strptime(hour, "%Y-%m-%dT%H").replace(tzinfo=dt.UTC)


def hours_between(start: dt.datetime, end: dt.datetime) -> list[str]:
    """The hour buckets that overlap ``[start, end)``."""
    moment = start.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    found = []
    while moment < end:
        found.append(moment.strftime("%Y-%m-%dT%H"))
        moment += HOUR
    return found


def _rfc3339(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class _Totals:
    api_name: str
    calls: int = 0
    successes: int = 0
    failures: int = 0
    request_bytes: int = 0
    response_bytes: int = 0
    latency_sum_ms: int = 0

    def add(self, invocation: Invocation) -> None:
        self.calls += 1
        if succeeded(str(invocation.log.get("result", ""))):
            self.successes += 1
        else:
            self.failures += 1
        self.request_bytes += invocation.request_bytes
        self.response_bytes += invocation.response_bytes
        latency = invocation.log.get("invocationLatency")
        self.latency_sum_ms += latency if isinstance(latency, int) else 0


def aggregate(
    hour: str, invocations: Iterable[Invocation], tariffs: Mapping[str, Tariff], *, final: bool
) -> list[dict[str, Any]]:
    """The charging records of one hour: one per payer and API, in a stable order.

    Charge = per-call tariff x successful calls + per-megabyte tariff x bytes of every call
    (request and response bodies); calls nobody could be identified for are never charged.
    """
    totals: dict[tuple[str, str, str], _Totals] = {}
    for invocation in invocations:
        key = (invocation.payer_kind.value, invocation.api_invoker_id, invocation.api_id)
        if key not in totals:
            totals[key] = _Totals(str(invocation.log.get("apiName", "")))
        totals[key].add(invocation)
    start = hour_start(hour)
    records = []
    for (kind, payer, api_id), total in sorted(totals.items()):
        record: dict[str, Any] = {
            "payer": {"kind": kind, "id": payer},
            "apiId": api_id,
            "apiName": total.api_name,
            "periodStart": _rfc3339(start),
            "periodEnd": _rfc3339(start + HOUR),
            "calls": total.calls,
            "successes": total.successes,
            "failures": total.failures,
            "requestBytes": total.request_bytes,
            "responseBytes": total.response_bytes,
            "latencySumMs": total.latency_sum_ms,
            "final": final,
        }
        tariff = tariffs.get(api_id)
        if tariff is not None and kind != PayerKind.ANONYMOUS.value:
            octets = total.request_bytes + total.response_bytes
            amount = tariff.charge(total.successes, octets)
            record["charge"] = {"amount": str(amount), "currency": tariff.currency}
        records.append(record)
    return records


@dataclass(frozen=True, slots=True)
class RecordQuery:
    start: dt.datetime
    end: dt.datetime
    payer: str | None = None
    api: str | None = None  # an apiId or an apiName

    def keeps(self, record: Mapping[str, Any]) -> bool:
        if self.payer is not None and record["payer"]["id"] != self.payer:
            return False
        return self.api is None or self.api in (record["apiId"], record["apiName"])


class Charging:
    def __init__(
        self,
        committer: Committer,
        outbox: Outbox,
        journal: InvocationJournal,
        tariffs: Tariffs,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._committer = committer
        self._store = committer.store
        self._outbox = outbox
        self._journal = journal
        self.tariffs = tariffs
        self._clock = clock

    async def records(self, query: RecordQuery) -> list[dict[str, Any]]:
        hours = hours_between(query.start, query.end)
        closed = {d.id: d.data for d in await self._store.get_many(HOURS, hours)}
        tariffs = await self.tariffs.all() if len(closed) < len(hours) else {}
        found: list[dict[str, Any]] = []
        for hour in hours:
            if hour in closed:
                records = closed[hour]["records"]
            else:
                records = aggregate(hour, await self._journal.in_hour(hour), tariffs, final=False)
            found += [r for r in records if query.keeps(r)]
        return found

    def _closable(self, hour: str) -> bool:
        return (hour_start(hour) + HOUR).timestamp() + GRACE_SECONDS <= self._clock()

    async def close_hours(self) -> int:
        """Close every hour that is over; how many this replica closed."""
        state = await self._store.get(STATE, CLOSER)
        if state is not None:
            next_hour = hour_start(state.data["closed"]) + HOUR
        else:
            oldest = await self._store.scan(JOURNAL, limit=1)
            if not oldest:
                return 0
            next_hour = hour_start(hour_of(float(oldest[0].data["recordedAt"])))
        closed = 0
        tariffs: dict[str, Tariff] | None = None
        while self._closable(hour := next_hour.strftime("%Y-%m-%dT%H")):
            tariffs = tariffs if tariffs is not None else await self.tariffs.all()
            closed += await self._close(hour, tariffs)
            next_hour += HOUR
        return closed

    async def _close(self, hour: str, tariffs: Mapping[str, Tariff]) -> int:
        records = aggregate(hour, await self._journal.in_hour(hour), tariffs, final=True)
        ops: list[Put] = [
            Put(HOURS, hour, {"records": records}, expected_version=ABSENT),
            Put(STATE, CLOSER, {"closed": hour}),
        ]
        ops += [self._outbox.entry(streams.CHARGING, record) for record in records]
        try:
            await self._committer.commit(ops)
        except VersionConflict:
            # Another replica closed it; make sure the marker moves past it all the same.
            await self._committer.commit([Put(STATE, CLOSER, {"closed": hour})])
            return 0
        log.info("charging hour closed", hour=hour, records=len(records))
        return 1

    async def run(self, interval: float = 60.0) -> None:
        """Close hours as they end, until cancelled."""
        while True:
            try:
                await self.close_hours()
            except StoreError as error:
                log.warning("charging hours not closed; retrying", error=str(error))
            except Exception:
                log.exception("charging closer crashed; retrying")
            await asyncio.sleep(interval)


def csv_lines(records: Sequence[Mapping[str, Any]]) -> str:
    """The records as CSV (RFC 4180), one line per record, with a header."""
    columns = [
        "payerKind",
        "payerId",
        "apiId",
        "apiName",
        "periodStart",
        "periodEnd",
        "calls",
        "successes",
        "failures",
        "requestBytes",
        "responseBytes",
        "latencySumMs",
        "chargeAmount",
        "chargeCurrency",
        "final",
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for record in records:
        charge = record.get("charge") or {}
        writer.writerow(
            [
                record["payer"]["kind"],
                record["payer"]["id"],
                record["apiId"],
                record["apiName"],
                record["periodStart"],
                record["periodEnd"],
                record["calls"],
                record["successes"],
                record["failures"],
                record["requestBytes"],
                record["responseBytes"],
                record["latencySumMs"],
                charge.get("amount", ""),
                charge.get("currency", ""),
                str(record["final"]).lower(),
            ]
        )
    return out.getvalue()
