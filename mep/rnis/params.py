"""Query parameters of the RNIS queries (GS MEC 012 7.3 to 7.5.3.1).

Lists may be given as repeated parameters (``cell_id=a&cell_id=b``, the OpenAPI ``form``
style with ``explode``) or comma separated (``cell_id=a,b``, as the text of the specification
says), or both. A parameter the query does not define is a 400 naming it, so that a misspelt
filter is never silently ignored.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from mep.core.problem import BadRequest, InvalidParam

#: Values of one list parameter: each is an index look-up, so bound them.
MAX_VALUES = 1000


class QueryParams:
    def __init__(self, raw: Mapping[str, Sequence[str]], allowed: Collection[str]) -> None:
        unknown = sorted(set(raw) - set(allowed))
        if unknown:
            params = [InvalidParam(f"query {name}", "not a parameter here") for name in unknown]
            raise BadRequest(
                f"unknown query parameter(s): {', '.join(unknown)}", invalid_params=params
            )
        self._raw = raw

    def given(self, *names: str) -> bool:
        return any(name in self._raw for name in names)

    def strings(self, name: str) -> list[str]:
        values = [v.strip() for raw in self._raw.get(name, ()) for v in raw.split(",")]
        values = [v for v in values if v]
        if name in self._raw and not values:
            raise BadRequest(
                f"query parameter {name} is empty",
                invalid_params=[InvalidParam(f"query {name}", "no value")],
            )
        if len(values) > MAX_VALUES:
            raise BadRequest(
                f"query parameter {name} has more than {MAX_VALUES} values",
                invalid_params=[InvalidParam(f"query {name}", f"at most {MAX_VALUES} values")],
            )
        return values

    def string(self, name: str) -> str | None:
        values = self._raw.get(name, ())
        if len(values) > 1:
            raise BadRequest(
                f"query parameter {name} takes one value",
                invalid_params=[InvalidParam(f"query {name}", "given more than once")],
            )
        return values[0] if values else None

    def integers(self, name: str) -> list[int]:
        return [_integer(name, v) for v in self.strings(name)]

    def integer(self, name: str) -> int | None:
        value = self.string(name)
        return None if value is None else _integer(name, value)


def _integer(name: str, value: str) -> int:
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        raise BadRequest(
            f"query parameter {name} must be a non-negative integer, got {value!r}",
            invalid_params=[InvalidParam(f"query {name}", "not a non-negative integer")],
        )
    return int(text)
