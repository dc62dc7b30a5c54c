"""Base classes for API models: spec (camelCase) names on the wire, snake_case in Python."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """A body defined by a specification: unknown members are ignored, as MEC and OSB require."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
        frozen=True,
    )


class StrictApiModel(ApiModel):
    """A body of our own API: an unknown member is an error, so a typo is never silently lost."""

    model_config = ConfigDict(extra="forbid")
