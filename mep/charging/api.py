"""Operator endpoints of charging: tariffs (``/mep_mgmt/v1/tariffs``) and the records
(``GET /charging/v1/records``, JSON or ``text/csv`` by ``Accept``)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

from aiohttp import web

from mep.auth.guard import require
from mep.capif.http import bad_query, date_time_query
from mep.charging.service import Charging, RecordQuery, csv_lines
from mep.charging.tariffs import Tariff, TariffRequest, Tariffs
from mep.core import keys
from mep.core.http import json_response, read_model
from mep.core.problem import NotFound
from mep.core.tokens import CallerKind

TARIFFS = "/mep_mgmt/v1/tariffs"
TARIFF = "/mep_mgmt/v1/tariffs/{apiId}"
RECORDS = "/charging/v1/records"
#: The widest range one query may cover: a month and a day of hours.
MAX_RANGE = dt.timedelta(days=32)
DEFAULT_RANGE = dt.timedelta(days=1)

operator = require(CallerKind.OPERATOR)


def _charging(request: web.Request) -> Charging:
    return request.app[keys.CHARGING]


def _text(request: web.Request, name: str) -> str | None:
    raw = request.query.get(name)
    if raw is not None and not raw.strip():
        raise bad_query(name, "must not be empty")
    return raw.strip() if raw is not None else None


def parse_query(request: web.Request, now: dt.datetime) -> RecordQuery:
    start, end = date_time_query(request, "from"), date_time_query(request, "to")
    end = end or (start + DEFAULT_RANGE if start else now)
    start = start or end - DEFAULT_RANGE
    if end <= start:
        raise bad_query("to", "must be after from")
    if end - start > MAX_RANGE:
        raise bad_query("to", f"a query covers at most {MAX_RANGE.days} days")
    return RecordQuery(start, end, payer=_text(request, "payer"), api=_text(request, "api"))


def _wants_csv(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    return "text/csv" in accept and "application/json" not in accept


@operator
async def records(request: web.Request) -> web.Response:
    query = parse_query(request, dt.datetime.now(dt.UTC))
    found = await _charging(request).records(query)
    if _wants_csv(request):
        return web.Response(text=csv_lines(found), content_type="text/csv", charset="utf-8")
    return json_response({"records": found})


def _tariffs(request: web.Request) -> Tariffs:
    return _charging(request).tariffs


@operator
async def list_tariffs(request: web.Request) -> web.Response:
    return json_response([t.to_json() for t in (await _tariffs(request).all()).values()])


@operator
async def get_tariff(request: web.Request) -> web.Response:
    api_id = request.match_info["apiId"]
    tariff = await _tariffs(request).get(api_id)
    if tariff is None:
        raise NotFound(f"no tariff for service API {api_id!r}")
    return json_response(tariff.to_json())


@operator
async def put_tariff(request: web.Request) -> web.Response:
    api_id = request.match_info["apiId"]
    body = await read_model(request, TariffRequest)
    published = await request.app[keys.CAPIF_SERVICE_APIS].named([api_id], ())
    if not published:
        raise NotFound(f"no published service API {api_id!r}")
    tariff: Tariff
    tariff, created = await _tariffs(request).put(api_id, published[0].description.api_name, body)
    return json_response(tariff.to_json(), status=201 if created else 200)


@operator
async def delete_tariff(request: web.Request) -> web.Response:
    api_id = request.match_info["apiId"]
    if not await _tariffs(request).delete(api_id):
        raise NotFound(f"no tariff for service API {api_id!r}")
    return web.Response(status=204)


def _start(app: web.Application) -> None:
    journal = app[keys.CAPIF_JOURNAL]
    app[keys.CHARGING] = Charging(
        app[keys.COMMITTER], app[keys.OUTBOX], journal, Tariffs(app[keys.STORE])
    )


async def _closer(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[keys.CHARGING].run(), name="charging-closer")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def setup(app: web.Application) -> None:
    app.router.add_get(TARIFFS, list_tariffs)
    app.router.add_get(TARIFF, get_tariff)
    app.router.add_put(TARIFF, put_tariff)
    app.router.add_delete(TARIFF, delete_tariff)
    app.router.add_get(RECORDS, records)
    app[keys.SERVICE_SETUPS].append(_start)
    app.cleanup_ctx.append(_closer)
