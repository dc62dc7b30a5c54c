"""JSON Merge Patch (RFC 7396), the body of every CAPIF PATCH (``application/merge-patch+json``)."""

from __future__ import annotations

from typing import Any


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
