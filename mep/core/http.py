"""Request parsing and response rendering shared by every JSON API of the platform."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel

from mep.core.problem import BadRequest, InvalidParam, UnsupportedMediaType
from mep.core.validation import validate

M = TypeVar("M", bound=BaseModel)

JSON = "application/json"


async def read_json_body(request: web.Request) -> Any:
    """The decoded JSON body; 415 for another media type, 400 when absent or malformed."""
    mime = request.content_type
    if mime != JSON and not (mime.startswith("application/") and mime.endswith("+json")):
        raise UnsupportedMediaType(
            f"content type must be {JSON}, got {mime or 'none'}",
            invalid_params=[InvalidParam("header Content-Type", f"expected {JSON}")],
        )
    raw = await request.read()
    if not raw.strip():
        raise BadRequest("request body is required")
    return decode_json(raw)


def decode_json(raw: bytes) -> Any:
    """Decoded JSON, or 400. orjson refuses numbers beyond a double, which are still valid
    JSON: those bodies go through the standard parser, so validation can name the field."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            return json.loads(raw)
        except (UnicodeDecodeError, ValueError) as error:
            raise BadRequest(f"request body is not valid JSON: {error}") from None


async def read_model(request: web.Request, model: type[M]) -> M:
    return validate(model, await read_json_body(request))


def dump(model: BaseModel) -> dict[str, Any]:
    """A model as the API shows it: spec field names, absent fields left out."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def json_response(
    body: Any,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    payload = dump(body) if isinstance(body, BaseModel) else body
    if isinstance(payload, list):
        payload = [dump(b) if isinstance(b, BaseModel) else b for b in payload]
    return web.Response(
        status=status,
        body=orjson.dumps(payload),
        content_type=JSON,
        charset="utf-8",
        headers=headers,
    )


def etag(version: int) -> str:
    return f'"{version}"'


def if_match_version(request: web.Request) -> int | None:
    """The version an ``If-Match`` header asks for; ``None`` when absent or ``*``.

    A tag we never issued cannot match any version, so it maps to -1 and fails the write.
    """
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    for tag in header.split(","):
        tag = tag.strip().removeprefix("W/").strip('"')
        if tag.isdigit():
            return int(tag)
    return -1
