"""Charging: the gateway's records per payer, API and hour, priced by the operator's tariffs;
JSON and CSV; closed hours frozen once and sent on ``charging.records``."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fixtures.capif import OPERATOR, CapifPlatform, capif_platform
from fixtures.gateway import authorised_invoker, csv_records, platform_api

from mep.capif import streams
from mep.charging.service import HOURS, Charging
from mep.charging.tariffs import Tariffs
from mep.core import keys
from mep.core.outbox import COLLECTION as OUTBOX

ZONES = "/location/v2/queries/zones"
RECORDS = "/charging/v1/records"
TARIFFS = "/mep_mgmt/v1/tariffs"


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[CapifPlatform]:
    async with capif_platform(tmp_path) as running:
        yield running


async def test_records_count_and_price_each_payers_calls(platform: CapifPlatform) -> None:
    location = platform_api(platform, "location")
    tariff = {"perCall": "0.01", "perMegabyte": "2", "currency": "EUR"}
    status, body, _ = await platform.call(
        "PUT", f"{TARIFFS}/{location.api_id}", json=tariff, headers=OPERATOR
    )
    assert status == 201, body
    assert body["apiName"] == "location"
    invoker, access = await authorised_invoker(platform, location)
    auth = {"Authorization": f"Bearer {access}"}
    for _ in range(3):
        assert (await platform.call("GET", ZONES, headers=auth))[0] == 200
    assert (await platform.call("GET", f"{ZONES}/nowhere", headers=auth))[0] == 404

    status, body, _ = await platform.call(
        "GET", RECORDS, headers=OPERATOR, params={"payer": invoker.id}
    )
    assert status == 200, body
    (record,) = body["records"]
    assert record["payer"] == {"kind": "invoker", "id": invoker.id}
    assert (record["apiId"], record["apiName"]) == (location.api_id, "location")
    assert (record["calls"], record["successes"], record["failures"]) == (4, 3, 1)
    assert record["final"] is False
    octets = record["requestBytes"] + record["responseBytes"]
    assert octets > 0
    expected = 3 * 0.01 + 2 * octets / 1_000_000
    assert float(record["charge"]["amount"]) == pytest.approx(expected, abs=1e-6)
    assert record["charge"]["currency"] == "EUR"

    status, text, response = await csv_records(platform, {"api": "location"})
    assert status == 200
    assert response.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["payerId"], r["calls"], r["chargeAmount"]) for r in rows] == [
        (invoker.id, "4", record["charge"]["amount"])
    ]


async def test_filters_and_bad_queries(platform: CapifPlatform) -> None:
    status, body, _ = await platform.call("GET", RECORDS, headers=OPERATOR, params={"api": "rni"})
    assert status == 200
    assert body == {"records": []}
    for params, name in (
        ({"from": "yesterday"}, "query from"),
        ({"to": "2026-11-25T10:00:00"}, "query to"),
        ({"from": "2026-11-25T10:00:00Z", "to": "2026-11-25T09:00:00Z"}, "query to"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-11-25T00:00:00Z"}, "query to"),
        ({"payer": ""}, "query payer"),
    ):
        status, body, _ = await platform.call("GET", RECORDS, headers=OPERATOR, params=params)
        assert status == 400, (params, body)
        assert name in [p["param"] for p in body["invalidParams"]]
    status, body, _ = await platform.call("GET", RECORDS)
    assert status == 401, body


async def test_tariffs_are_validated(platform: CapifPlatform) -> None:
    location = platform_api(platform, "location")
    path = f"{TARIFFS}/{location.api_id}"
    for bad, field in (
        ({"perCall": "-1", "currency": "EUR"}, "/perCall"),
        ({"perCall": "abc", "currency": "EUR"}, "/perCall"),
        ({"perMegabyte": "0.0000001", "currency": "EUR"}, "/perMegabyte"),
        ({"perCall": "1e2", "currency": "EUR"}, "/perCall"),
        ({"perCall": "1" * 25, "currency": "EUR"}, "/perCall"),
        ({"perCall": "1", "currency": "euro"}, "/currency"),
        ({"perCall": "1"}, "/currency"),
    ):
        status, body, _ = await platform.call("PUT", path, json=bad, headers=OPERATOR)
        assert status == 400, body
        assert field in [p["param"] for p in body["invalidParams"]]
    status, body, _ = await platform.call(
        "PUT", f"{TARIFFS}/unknown", json={"currency": "EUR"}, headers=OPERATOR
    )
    assert status == 404, body
    assert (await platform.call("PUT", path, json={"currency": "EUR"}, headers=OPERATOR))[0] == 201
    assert (await platform.call("PUT", path, json={"currency": "USD"}, headers=OPERATOR))[0] == 200
    status, body, _ = await platform.call("GET", TARIFFS, headers=OPERATOR)
    assert [t["currency"] for t in body] == ["USD"]
    assert (await platform.call("DELETE", path, headers=OPERATOR))[0] == 204
    assert (await platform.call("GET", path, headers=OPERATOR))[0] == 404


async def test_a_closed_hour_is_frozen_once_and_published(platform: CapifPlatform) -> None:
    location = platform_api(platform, "location")
    invoker, access = await authorised_invoker(platform, location)
    assert (await platform.call("GET", ZONES, headers={"Authorization": f"Bearer {access}"}))[
        0
    ] == 200
    app = platform.runner.app
    later = time.time() + 2 * 3600

    def closer() -> Charging:
        return Charging(
            app[keys.COMMITTER],
            app[keys.OUTBOX],
            app[keys.CAPIF_JOURNAL],
            Tariffs(platform.store),
            clock=lambda: later,
        )

    first, second = closer(), closer()
    assert await first.close_hours() >= 1
    assert await second.close_hours() == 0  # nothing left to close
    (hour,) = [d for d in await platform.store.scan(HOURS) if d.data["records"]]
    (frozen,) = hour.data["records"]
    assert frozen["payer"]["id"] == invoker.id
    assert frozen["final"] is True
    await app[keys.OUTBOX].flush()
    consumer = await app[keys.EVENTS].consumer(streams.CHARGING, "test", "t1")
    events = await consumer.read(timeout=0.5)
    await consumer.close()
    # At least once: the relay may append an entry twice; consumers dedupe by eventId.
    published = {e.payload["eventId"]: e.payload for e in events}
    assert [p["payer"]["id"] for p in published.values()] == [invoker.id]
    assert await platform.store.count(OUTBOX) == 0
