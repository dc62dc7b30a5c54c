"""The scope of a CAPIF access token (TS 33.122 Annex C.3.2, TS 29.222 clause 8.5.4).

``3gpp#<aefId>:<apiName>[,<apiName>...][;<aefId>:<apiName>...]``: for each AEF, the API names
the token may invoke there. The ``3gpp#`` prefix is what clients send (OpenCAPIF, the CAPIF
SDK); a scope without it is read the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

PREFIX = "3gpp#"


class ScopeError(ValueError):
    """A scope string that does not follow the grammar; the message says where."""


def parse_scope(text: str) -> dict[str, list[str]]:
    """``{aefId: [apiName, ...]}`` in the order given; :class:`ScopeError` when malformed."""
    body = text.strip().removeprefix(PREFIX)
    if not body:
        raise ScopeError("the scope names no AEF and API")
    granted: dict[str, list[str]] = {}
    for part in body.split(";"):
        aef_id, sep, names = part.partition(":")
        aef_id = aef_id.strip()
        if not sep or not aef_id:
            raise ScopeError(f"scope entry {part!r} is not <aefId>:<apiName>[,<apiName>]")
        api_names = [name.strip() for name in names.split(",")]
        if not all(api_names):
            raise ScopeError(f"scope entry {part!r} has an empty API name")
        listed = granted.setdefault(aef_id, [])
        listed.extend(name for name in api_names if name not in listed)
    return granted


def format_scope(granted: Mapping[str, list[str]]) -> str:
    return PREFIX + ";".join(f"{aef}:{','.join(names)}" for aef, names in granted.items())


def allows(scope: str, aef_id: str, api_name: str) -> bool:
    """Whether ``scope`` grants ``api_name`` at ``aef_id`` (a malformed scope grants nothing)."""
    try:
        return api_name in parse_scope(scope).get(aef_id, [])
    except ScopeError:
        return False
