"""``/bwm/v1``: Bandwidth Management API (ETSI GS MEC 015 V2.1.1 clause 7.3)."""

from __future__ import annotations

from aiohttp import web

from mep.auth.guard import principal, service_api_caller
from mep.bwm.models import BwInfo, BwInfoDeltas
from mep.bwm.service import COLLECTION, BandwidthAllocations, StoredAllocation
from mep.core import keys
from mep.core.follow import CommitFollower
from mep.core.http import etag, if_match_version, json_response, read_model
from mep.core.store import Delete, Operation

BASE = "/bwm/v1/bw_allocations"


def _service(request: web.Request) -> BandwidthAllocations:
    return request.app[keys.BANDWIDTH]


def _values(request: web.Request, name: str) -> list[str]:
    # Arrays in the query, repeated (a=1&a=2) or comma-separated (a=1,2).
    return [v for raw in request.query.getall(name, []) for v in raw.split(",") if v]


async def _answer(request: web.Request, stored: StoredAllocation) -> web.Response:
    await request.app[keys.BANDWIDTH_PORT].flush()  # the data plane knows before the client
    headers = {"ETag": etag(stored.version)}
    if stored.created:
        headers["Location"] = f"{request.app[keys.SETTINGS].base_url}{BASE}/{stored.id}"
    return json_response(stored.info, status=201 if stored.created else 200, headers=headers)


@service_api_caller
async def list_allocations(request: web.Request) -> web.Response:
    found = await _service(request).query(
        principal(request),
        app_instance_ids=_values(request, "app_instance_id"),
        app_names=_values(request, "app_name"),
        session_ids=_values(request, "session_id"),
    )
    return json_response([s.info for s in found])


@service_api_caller
async def create_allocation(request: web.Request) -> web.Response:
    info = await read_model(request, BwInfo)
    return await _answer(request, await _service(request).create(principal(request), info))


@service_api_caller
async def get_allocation(request: web.Request) -> web.Response:
    allocation_id = request.match_info["allocationId"]
    return await _answer(request, await _service(request).get(principal(request), allocation_id))


@service_api_caller
async def put_allocation(request: web.Request) -> web.Response:
    info = await read_model(request, BwInfo)
    stored = await _service(request).replace(
        principal(request), request.match_info["allocationId"], info, if_match_version(request)
    )
    return await _answer(request, stored)


@service_api_caller
async def patch_allocation(request: web.Request) -> web.Response:
    deltas = await read_model(request, BwInfoDeltas)
    stored = await _service(request).patch(
        principal(request), request.match_info["allocationId"], deltas, if_match_version(request)
    )
    return await _answer(request, stored)


@service_api_caller
async def delete_allocation(request: web.Request) -> web.Response:
    await _service(request).delete(principal(request), request.match_info["allocationId"])
    await request.app[keys.BANDWIDTH_PORT].flush()
    return web.Response(status=204)


def _start(app: web.Application) -> None:
    service = BandwidthAllocations(app[keys.COMMITTER], app[keys.APP_INSTANCES])
    app[keys.BANDWIDTH] = service
    app[keys.INSTANCE_REMOVALS].append(service.removal_ops)
    dataplane = app[keys.DATAPLANE]

    async def follow(op: Operation) -> None:
        if isinstance(op, Delete):
            await dataplane.remove_bandwidth(op.id)
        else:
            await dataplane.apply_bandwidth(op.id, BwInfo.model_validate(op.data["info"]))

    port = CommitFollower("bandwidth", follow)
    port.watch(app[keys.COMMITTER], COLLECTION)
    app[keys.BANDWIDTH_PORT] = port


def setup(app: web.Application) -> None:
    """Routes, and the startup wiring appended to ``app[keys.SERVICE_SETUPS]``."""
    app.router.add_get(BASE, list_allocations)
    app.router.add_post(BASE, create_allocation)
    one = f"{BASE}/{{allocationId}}"
    app.router.add_get(one, get_allocation)
    app.router.add_put(one, put_allocation)
    app.router.add_patch(one, patch_allocation)
    app.router.add_delete(one, delete_allocation)
    app[keys.SERVICE_SETUPS].append(_start)
