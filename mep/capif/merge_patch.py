"""JSON Merge Patch (RFC 7396), the body of every CAPIF PATCH (``application/merge-patch+json``).

Each CAPIF resource has a ``...Patch`` model listing the members a PATCH may change: the body is
checked against it, other members are ignored, and the merged resource is checked against the
resource's own model.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel

from mep.core.validation import validate

M = TypeVar("M", bound=BaseModel)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 clause 2: objects merge member by member, ``null`` removes, anything else
    (arrays included) replaces."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


@functools.cache
def _patchable(patch_model: type[BaseModel]) -> frozenset[str]:
    return frozenset(f.alias or name for name, f in patch_model.model_fields.items())


def patch_changes(patch_model: type[BaseModel], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The members of ``patch`` that ``patch_model`` lists, once the body fits it (else 400)."""
    validate(patch_model, patch)
    names = _patchable(patch_model)
    return {name: value for name, value in patch.items() if name in names}


def patched(current: BaseModel, changes: Mapping[str, Any], model: type[M], *, what: str) -> M:
    """``current`` with ``changes`` merged in, as a valid ``model`` (else 400 naming ``what``)."""
    merged = merge_patch(current.model_dump(mode="json", by_alias=True, exclude_none=True), changes)
    return validate(model, merged, what=what)
