"""The ten OSB endpoints; each parses, calls :class:`broker.service.Broker`, renders."""

from __future__ import annotations

from aiohttp import web

from broker.api import bodies, keys, responses


async def catalog(request: web.Request) -> web.StreamResponse:
    """GET /v2/catalog"""
    cat = request.app[keys.BROKER].catalog
    if request.headers.get("If-None-Match") == cat.etag:
        return web.Response(status=304, headers={"ETag": cat.etag})
    return web.Response(body=cat.body, content_type="application/json", headers={"ETag": cat.etag})


async def provision(request: web.Request) -> web.StreamResponse:
    """PUT /v2/service_instances/{instance_id}"""
    caller = bodies.caller(request)
    req = bodies.provision_request(await bodies.json_object(request))
    result = await request.app[keys.BROKER].instances.provision(
        request.match_info["instance_id"], req, caller
    )
    return responses.answer(result)


async def update(request: web.Request) -> web.StreamResponse:
    """PATCH /v2/service_instances/{instance_id}"""
    caller = bodies.caller(request)
    req = bodies.update_request(await bodies.json_object(request))
    result = await request.app[keys.BROKER].instances.update(
        request.match_info["instance_id"], req, caller
    )
    return responses.answer(result)


async def deprovision(request: web.Request) -> web.StreamResponse:
    """DELETE /v2/service_instances/{instance_id}?service_id=&plan_id="""
    caller = bodies.caller(request)
    service_id = bodies.required_query(request, "service_id")
    plan_id = bodies.required_query(request, "plan_id")
    result = await request.app[keys.BROKER].instances.deprovision(
        request.match_info["instance_id"], service_id, plan_id, caller
    )
    return responses.answer(result)


async def fetch_instance(request: web.Request) -> web.StreamResponse:
    """GET /v2/service_instances/{instance_id}"""
    record = await request.app[keys.BROKER].instances.fetch(request.match_info["instance_id"])
    body = {
        "service_id": record.service_id,
        "plan_id": record.plan_id,
        "parameters": record.parameters,
        "metadata": {"labels": {}, "attributes": {}},
    }
    if record.maintenance_version:
        body["maintenance_info"] = {"version": record.maintenance_version}
    return responses.json(body)


async def instance_last_operation(request: web.Request) -> web.StreamResponse:
    """GET /v2/service_instances/{instance_id}/last_operation"""
    result = await request.app[keys.BROKER].instances.last_operation(
        request.match_info["instance_id"], request.query.get("operation") or None
    )
    return responses.last_operation(result)


async def bind(request: web.Request) -> web.StreamResponse:
    """PUT /v2/service_instances/{instance_id}/service_bindings/{binding_id}"""
    caller = bodies.caller(request)
    req = bodies.bind_request(await bodies.json_object(request))
    result = await request.app[keys.BROKER].bindings.bind(
        request.match_info["instance_id"], request.match_info["binding_id"], req, caller
    )
    return responses.answer(result, with_credentials=True)


async def unbind(request: web.Request) -> web.StreamResponse:
    """DELETE /v2/service_instances/{instance_id}/service_bindings/{binding_id}"""
    caller = bodies.caller(request)
    service_id = bodies.required_query(request, "service_id")
    plan_id = bodies.required_query(request, "plan_id")
    result = await request.app[keys.BROKER].bindings.unbind(
        request.match_info["instance_id"],
        request.match_info["binding_id"],
        service_id,
        plan_id,
        caller,
    )
    return responses.answer(result)


async def fetch_binding(request: web.Request) -> web.StreamResponse:
    """GET /v2/service_instances/{instance_id}/service_bindings/{binding_id}"""
    record = await request.app[keys.BROKER].bindings.fetch(
        request.match_info["instance_id"], request.match_info["binding_id"]
    )
    return responses.json(responses.binding_body(record))


async def binding_last_operation(request: web.Request) -> web.StreamResponse:
    """GET /v2/service_instances/{instance_id}/service_bindings/{binding_id}/last_operation"""
    result = await request.app[keys.BROKER].bindings.last_operation(
        request.match_info["instance_id"],
        request.match_info["binding_id"],
        request.query.get("operation") or None,
    )
    return responses.last_operation(result)
