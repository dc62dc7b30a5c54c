"""Checks of a request's ``parameters`` against the JSON Schema the catalog publishes for it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jsonschema import Draft4Validator, validators
from jsonschema.protocols import Validator

from broker.errors import OsbError, bad_request

#: Validators by the id of the plan's schema: schemas live as long as the catalog, so a request
#: pays neither for serialising the schema nor for building its validator.
_VALIDATORS: dict[int, tuple[Mapping[str, Any], Validator]] = {}


def _validator(schema: Mapping[str, Any]) -> Validator:
    cached = _VALIDATORS.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    # Without a `$schema`, draft-04: what OSB's own examples and most broker catalogs use.
    validator: Validator = validators.validator_for(schema, default=Draft4Validator)(schema)
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


def check(parameters: Mapping[str, Any], schema: Mapping[str, Any], step: str) -> None:
    """Raise a 400 naming the first failing parameter (``parameters.<name>``)."""
    if not schema:
        return
    validator = _validator(schema)
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
