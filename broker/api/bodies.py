"""Request parsing, lenient the way real platforms need: ``""`` is unset, ``{}`` is absent,
unknown fields are ignored; anything else malformed is a 400 naming the field."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from broker import errors
from broker.api.middleware import audit_of
from broker.requests import BindRequest, Caller, ProvisionRequest, UpdateRequest


async def json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        raise errors.bad_request("the request needs a JSON object body")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.bad_request("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise errors.bad_request("the request body must be a JSON object")
    return body


def _string(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None or value == "":
        if required:
            raise errors.bad_request(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise errors.bad_request(f"{name} must be a string")
    return value


def _object(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    if value is None or value == "":
        return {}
    if not isinstance(value, dict):
        raise errors.bad_request(f"{name} must be a JSON object")
    return value


def _maintenance_version(body: dict[str, Any]) -> str | None:
    info = _object(body, "maintenance_info")
    version = info.get("version")
    if version is None or version == "":
        return None  # `maintenance_info: {}` from generated clients means "not given"
    if not isinstance(version, str):
        raise errors.bad_request("maintenance_info.version must be a string")
    return version


def query_flag(request: web.Request, name: str) -> bool:
    value = request.query.get(name, "")
    if value in ("", "false"):
        return False
    if value == "true":
        return True
    raise errors.bad_request(f"query parameter {name} must be true or false")


def required_query(request: web.Request, name: str) -> str:
    value = request.query.get(name, "")
    if not value:
        raise errors.bad_request(f"query parameter {name} is required")
    return value


def caller(request: web.Request) -> Caller:
    return Caller(query_flag(request, "accepts_incomplete"), audit_of(request))


def provision_request(body: dict[str, Any]) -> ProvisionRequest:
    service_id = _string(body, "service_id", required=True)
    plan_id = _string(body, "plan_id", required=True)
    organization_guid = _string(body, "organization_guid", required=True)
    space_guid = _string(body, "space_guid", required=True)
    assert service_id
    assert plan_id
    assert organization_guid
    assert space_guid
    return ProvisionRequest(
        service_id=service_id,
        plan_id=plan_id,
        organization_guid=organization_guid,
        space_guid=space_guid,
        parameters=_object(body, "parameters"),
        context=_object(body, "context"),
        maintenance_version=_maintenance_version(body),
    )


def update_request(body: dict[str, Any]) -> UpdateRequest:
    service_id = _string(body, "service_id", required=True)
    assert service_id
    parameters = _object(body, "parameters") if "parameters" in body else None
    context = _object(body, "context") if body.get("context") else None
    return UpdateRequest(
        service_id=service_id,
        plan_id=_string(body, "plan_id"),
        parameters=parameters,
        context=context,
        maintenance_version=_maintenance_version(body),
    )


def bind_request(body: dict[str, Any]) -> BindRequest:
    predecessor = _string(body, "predecessor_binding_id")
    # A rotation may name only its predecessor; a plain bind needs both ids.
    service_id = _string(body, "service_id", required=predecessor is None)
    plan_id = _string(body, "plan_id", required=predecessor is None)
    return BindRequest(
        service_id=service_id,
        plan_id=plan_id,
        parameters=_object(body, "parameters"),
        context=_object(body, "context"),
        app_guid=_string(body, "app_guid"),
        bind_resource=_object(body, "bind_resource"),
        predecessor_binding_id=predecessor,
    )
