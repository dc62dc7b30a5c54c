"""Revocation by subject: every token of a subject issued before the revocation is refused.

A revocation is a document in the store, so it takes effect on every replica at its next call,
and it is written in the same commit as the change that causes it (an app instance deleted, an
invoker offboarded): there is no window where the change is visible but the tokens still work.
"""

from __future__ import annotations

import time
from typing import Any

from mep.core.store import Put, Store
from mep.core.tokens import CallerKind

COLLECTION = "revocations"


def _key(kind: CallerKind | str, subject: str) -> str:
    return f"{kind}:{subject}"


class RevocationList:
    def __init__(self, store: Store) -> None:
        self._store = store

    @staticmethod
    def revoke(kind: CallerKind, subject: str, *, at: float | None = None) -> Put:
        """The write that revokes ``subject``'s tokens; include it in the causing commit."""
        when = time.time() if at is None else at
        return Put(COLLECTION, _key(kind, subject), {"revokedAt": when})

    async def is_revoked(self, claims: dict[str, Any]) -> bool:
        doc = await self._store.get(COLLECTION, _key(claims["kind"], claims["sub"]))
        if doc is None:
            return False
        return float(claims["iat"]) <= float(doc.data["revokedAt"])
