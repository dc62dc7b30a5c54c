"""Validating decoded JSON against our pydantic models, with errors as ProblemDetails.

Kept apart from :mod:`mep.core.http` so that domain services (which know nothing of aiohttp)
validate merged or stored bodies with the same messages and ``invalidParams`` pointers.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.alias_generators import to_camel

from mep.core.problem import BadRequest, InvalidParam

M = TypeVar("M", bound=BaseModel)


def _wire_name(part: int | str) -> str:
    # Pydantic reports a defaulted field under its Python name; the client knows the spec name.
    text = str(part)
    if isinstance(part, str) and "_" in text.strip("_"):
        text = to_camel(text)
    return text.replace("~", "~0").replace("/", "~1")


def json_pointer(loc: tuple[int | str, ...]) -> str:
    """RFC 6901 pointer for a pydantic error location."""
    return "/" + "/".join(_wire_name(p) for p in loc) if loc else "/"


def invalid_params(
    error: ValidationError, *, prefix: tuple[int | str, ...] = ()
) -> list[InvalidParam]:
    params = []
    for item in error.errors(include_url=False):
        pointer = json_pointer(prefix + tuple(item["loc"]))
        params.append(InvalidParam(pointer, item["msg"].removeprefix("Value error, ")))
    return params


def validate(model: type[M], data: Any, *, what: str = "request body") -> M:
    """``model`` from decoded JSON, or a 400 naming every bad field."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        params = invalid_params(error)
        names = ", ".join(p.param for p in params[:5])
        raise BadRequest(f"invalid {what}: {names}", invalid_params=params) from None
