"""Retrying read-modify-commit attempts on version conflicts."""

from __future__ import annotations

import pytest

from mep.core.optimistic import ATTEMPTS, optimistically
from mep.core.problem import PreconditionFailed
from mep.core.store import VersionConflict


def conflicting(times: int) -> tuple[list[int], object]:
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(len(calls))
        if len(calls) <= times:
            raise VersionConflict("c", "x", 1, 2)
        return "committed"

    return calls, attempt


async def test_retries_until_the_attempt_commits() -> None:
    calls, attempt = conflicting(3)
    assert await optimistically(attempt, what="x") == "committed"  # type: ignore[arg-type]
    assert len(calls) == 4


async def test_gives_up_with_412_after_every_attempt_lost() -> None:
    calls, attempt = conflicting(ATTEMPTS)
    with pytest.raises(PreconditionFailed, match="keeps changing"):
        await optimistically(attempt, what="the thing")  # type: ignore[arg-type]
    assert len(calls) == ATTEMPTS


async def test_a_pinned_version_is_never_retried() -> None:
    calls, attempt = conflicting(1)
    with pytest.raises(PreconditionFailed, match="changed meanwhile"):
        await optimistically(attempt, what="the thing", pinned=True)  # type: ignore[arg-type]
    assert len(calls) == 1
