"""Rendering the broker's answers (status codes per the OSB status tables)."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from broker.records import BindingRecord, OpKind, OpState
from broker.requests import Answer, LastOperation, Outcome

_STATUS = {Outcome.CREATED: 201, Outcome.EXISTS: 200, Outcome.DONE: 200, Outcome.ACCEPTED: 202}


def json(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
    )


def answer(result: Answer, *, with_credentials: bool = False) -> web.Response:
    status = _STATUS[result.outcome]
    body: dict[str, Any] = {}
    if result.outcome is Outcome.ACCEPTED:
        if result.operation:
            body["operation"] = result.operation  # never credentials in a 202
    elif with_credentials and result.binding is not None:
        body = binding_body(result.binding, with_parameters=False)
    return json(body, status)


def binding_body(binding: BindingRecord, *, with_parameters: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"credentials": binding.credentials or {}}
    if binding.endpoints:
        body["endpoints"] = binding.endpoints
    if with_parameters:
        body["parameters"] = binding.parameters
    return body


def last_operation(result: LastOperation) -> web.Response:
    body: dict[str, Any] = {"state": result.state.value}
    if result.description:
        body["description"] = result.description
    if result.state is OpState.FAILED and result.kind is OpKind.UPDATE:
        body["instance_usable"] = True  # a failed update changed nothing
        body["update_repeatable"] = True
    elif result.state is OpState.FAILED and result.kind is OpKind.DEPROVISION:
        body["instance_usable"] = True
    headers = {"Retry-After": str(result.retry_after)} if result.retry_after else None
    return json(body, 200, headers)
