"""Optimistic concurrency: read, decide, commit at the version read; on a conflict, again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from mep.core.problem import PreconditionFailed
from mep.core.store import VersionConflict

T = TypeVar("T")

#: Attempts before giving up: a conflict means another writer won the race, and eight losses
#: in a row mean the resource is too contended for this request to make progress.
ATTEMPTS = 8


async def optimistically(
    attempt: Callable[[], Awaitable[T]],
    *,
    what: str,
    pinned: bool = False,
    exhausted: Callable[[], Exception] | None = None,
) -> T:
    """Run ``attempt`` (which reads, then commits at the versions it read) until it commits.

    ``pinned``: the client named the version it based its change on (``If-Match``), so a
    conflict is its 412, never a retry. ``exhausted``: the error when every attempt lost (an API
    whose standard names another answer than 412 for that).
    """
    for _ in range(ATTEMPTS):
        try:
            return await attempt()
        except VersionConflict:
            if pinned:
                raise PreconditionFailed(f"{what} changed meanwhile") from None
    if exhausted is not None:
        raise exhausted()
    raise PreconditionFailed(f"{what} keeps changing; retry")
