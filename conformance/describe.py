"""Validation errors as one line each that a reader can act on without the schema at hand."""

from __future__ import annotations

import json
import reprlib
from collections.abc import Mapping
from typing import Any

from jsonschema.exceptions import ValidationError, best_match

_SHORT = reprlib.Repr()
_SHORT.maxstring = 60
_SHORT.maxother = 60
_SHORT.maxdict = 4
_SHORT.maxlist = 4
_SHORT.maxlevel = 2

_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


def short(value: Any) -> str:
    return _SHORT.repr(value)


def json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def describe(error: ValidationError) -> str:
    """``<JSONPath of the member>: <what is wrong>``."""
    where = error.json_path
    keyword = error.validator
    expected = error.validator_value
    if keyword in ("oneOf", "anyOf") and error.context:
        closest = best_match(error.context)
        count = len(expected) if isinstance(expected, list) else "?"
        return (
            f"{where}: matches none of the {count} {keyword} alternatives; "
            f"closest: {describe(closest)}"
        )
    if keyword == "oneOf":
        return f"{where}: matches more than one of the oneOf alternatives (exactly one allowed)"
    if keyword in ("additionalProperties", "unevaluatedProperties") and expected is False:
        # A closed reference schema: say so, since ETSI and 3GPP schemas are open by default.
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        title = schema.get("title") or schema.get("description") or "(untitled)"
        return (
            f"{where}: the reference schema {short(title)} is closed ({keyword}: false): "
            f"{error.message}"
        )
    if keyword == "type":
        return f"{where}: expected {_types(expected)}, got {json_type(error.instance)} " + short(
            error.instance
        )
    if keyword == "not":
        return f"{where}: must not match {json.dumps(expected, sort_keys=True)[:120]}"
    if len(error.message) <= 200:
        return f"{where}: {error.message}"
    # jsonschema puts the whole instance in its message; a large one would drown the point.
    return f"{where}: {keyword} {short(expected)} not satisfied by {short(error.instance)}"


def _types(expected: Any) -> str:
    if isinstance(expected, list):
        return " or ".join(str(t) for t in expected)
    return str(expected)
