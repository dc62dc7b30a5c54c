"""The query of ``GET /services`` and ``GET /applications/{appInstanceId}/services``
(GS MEC 011 8.2.2.3.1 and 8.2.5.3.1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mep.core.problem import BadRequest, InvalidParam
from mep.mp1.service_mgmt.models import LocalityType
from mep.mp1.service_mgmt.records import (
    CONSUMED_LOCAL_ONLY_DEFAULT,
    IS_LOCAL_DEFAULT,
    SCOPE_DEFAULT,
)

#: The three alternatives: "Either ser_instance_id or ser_name or ser_category_id or none of
#: them shall be present."
EXCLUSIVE = ("ser_instance_id", "ser_name", "ser_category_id")
#: A longer query is answered 414 (the URI Too Long response of the specification).
MAX_QUERY_LENGTH = 4096


_FILTERS = (*EXCLUSIVE, "consumed_local_only", "is_local", "scope_of_locality")


@dataclass(frozen=True)
class ServiceQuery:
    ser_instance_ids: tuple[str, ...] = ()
    ser_names: tuple[str, ...] = ()
    ser_category_id: str | None = None
    consumed_local_only: bool | None = None
    is_local: bool | None = None
    scope_of_locality: LocalityType | None = None

    @classmethod
    def parse(cls, query: Mapping[str, Sequence[str]]) -> ServiceQuery:
        """From the query parameters, each with every value given (``a=1&a=2``); a value may
        also list several with commas (``a=1,2``). Unknown parameters are ignored."""
        # A filter given with no value must not silently become "no filter": the caller would
        # take the whole registry for a filtered answer.
        problems = [
            InvalidParam(f"query {name}", "must not be empty")
            for name in _FILTERS
            if any(not raw.strip(",") for raw in query.get(name, ()))
        ]
        given = [name for name in EXCLUSIVE if _values(query, name)]
        if len(given) > 1:
            reason = "at most one of ser_instance_id, ser_name and ser_category_id may be given"
            problems += [InvalidParam(f"query {name}", reason) for name in given]
        category = _values(query, "ser_category_id")
        if len(category) > 1:
            problems.append(InvalidParam("query ser_category_id", "a single category id"))
        consumed = _boolean(query, "consumed_local_only", problems)
        is_local = _boolean(query, "is_local", problems)
        scope = None
        scopes = _values(query, "scope_of_locality")
        if len(scopes) > 1:
            problems.append(InvalidParam("query scope_of_locality", "a single locality"))
        elif scopes:
            try:
                scope = LocalityType(scopes[0])
            except ValueError:
                names = ", ".join(LocalityType)
                problems.append(InvalidParam("query scope_of_locality", f"one of: {names}"))
        if problems:
            raise BadRequest("invalid query", invalid_params=problems)
        return cls(
            ser_instance_ids=tuple(dict.fromkeys(_values(query, "ser_instance_id"))),
            ser_names=tuple(dict.fromkeys(_values(query, "ser_name"))),
            ser_category_id=category[0] if category else None,
            consumed_local_only=consumed,
            is_local=is_local,
            scope_of_locality=scope,
        )

    def admits(self, info: Mapping[str, Any]) -> bool:
        """The attribute filters, on a stored ServiceInfo (wire names) found by id, name,
        category or owner. It reads the stored JSON: a query must not pay for re-validating
        every service it looks at."""
        consumed = info.get("consumedLocalOnly", CONSUMED_LOCAL_ONLY_DEFAULT)
        if self.consumed_local_only is not None and consumed != self.consumed_local_only:
            return False
        if self.is_local is not None and info.get("isLocal", IS_LOCAL_DEFAULT) != self.is_local:
            return False
        scope = info.get("scopeOfLocality", SCOPE_DEFAULT.value)
        return self.scope_of_locality is None or scope == self.scope_of_locality.value


def _values(query: Mapping[str, Sequence[str]], name: str) -> list[str]:
    return [v for raw in query.get(name, ()) for v in raw.split(",") if v]


def _boolean(
    query: Mapping[str, Sequence[str]], name: str, problems: list[InvalidParam]
) -> bool | None:
    values = {v.lower() for v in _values(query, name)}
    if not values:
        return None
    if values == {"true"}:
        return True
    if values == {"false"}:
        return False
    problems.append(InvalidParam(f"query {name}", "true or false"))
    return None
