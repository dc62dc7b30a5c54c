"""Checks of a request's ``parameters`` against the JSON Schema the catalog publishes for it."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import orjson
from jsonschema import Draft4Validator, Draft202012Validator, validators
from jsonschema.protocols import Validator

from broker.errors import OsbError, bad_request


@lru_cache(maxsize=256)
def _validator(schema_json: bytes) -> Validator:
    schema = orjson.loads(schema_json)
    cls = validators.validator_for(schema, default=Draft202012Validator)
    if cls is Draft4Validator or "$schema" not in schema:
        cls = Draft4Validator
    validator: Validator = cls(schema)
    return validator


def check(parameters: Mapping[str, Any], schema: Mapping[str, Any], step: str) -> None:
    """Raise a 400 naming the first failing parameter (``parameters.<name>``)."""
    if not schema:
        return
    validator = _validator(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    errors = sorted(validator.iter_errors(dict(parameters)), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    error = errors[0]
    path = ".".join(str(part) for part in error.absolute_path)
    if error.validator == "additionalProperties" and not path:
        extra = sorted(set(parameters) - set(schema.get("properties", {})))
        name = f"parameters.{extra[0]}" if extra else "parameters"
        raise _invalid(f"{name} is not a parameter of this plan's {step}")
    name = f"parameters.{path}" if path else "parameters"
    raise _invalid(f"{name}: {error.message}")


def _invalid(description: str) -> OsbError:
    err = bad_request(description)
    err.error = "InvalidParameters"
    return err
