"""Pre-provisioning: the operator's single-use credentials for onboarding and registration.

TS 33.122 clause 6.1 (and Annex B.1) leaves to the operator how an API invoker obtains its
"onboarding enrolment information" (the CCF's address, its root CA certificate and an onboarding
credential); TS 29.222 clause 8.9 likewise leaves how the CCF validates a provider's ``regSec``.
Here the operator asks for one credential per invoker or provider domain. The credential is 256
random bits, kept only as its SHA-256 (the document id), and it expires. It is consumed in the
same commit as the onboarding or registration it authorises: the commit deletes the enrolment
at the version read, so of two concurrent uses exactly one commits and the other is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from mep.capif.models import Enrolment, EnrolmentRecord, EnrolmentRequest
from mep.core.commits import Committer
from mep.core.problem import Problem
from mep.core.store import ABSENT, Delete, Operation, Put, VersionConflict

COLLECTION = "capif_enrolments"

Role = Literal["invoker", "provider"]


def digest(credential: str) -> str:
    # 256 random bits: a plain hash resists guessing as well as a slow KDF would.
    return hashlib.sha256(credential.encode()).hexdigest()


class CredentialRefused(Problem):
    """401: the onboarding credential or regSec is unknown, used, expired or for another role."""

    status = 401

    def __init__(self, detail: str) -> None:
        challenge = 'Bearer realm="capif", error="invalid_token"'
        super().__init__(
            detail, cause="INVALID_CREDENTIAL", headers={"WWW-Authenticate": challenge}
        )


@dataclass(frozen=True, slots=True)
class Redemption:
    """A valid credential, and the write that consumes it (commit it with what it authorises,
    through :meth:`Enrolments.commit_redeemed`)."""

    consume: Delete
    credential: str
    role: Role


class Enrolments:
    def __init__(self, committer: Committer) -> None:
        self._store = committer.store
        self._committer = committer

    async def create(self, request: EnrolmentRequest, *, ca_root: str, ccf_url: str) -> Enrolment:
        now = time.time()
        record = EnrolmentRecord(role=request.role, expires_at=now + request.ttl, created_at=now)
        while True:
            credential = secrets.token_urlsafe(32)
            put = Put(COLLECTION, digest(credential), record.model_dump(mode="json"), ABSENT)
            try:
                await self._committer.commit([put])
            except VersionConflict:  # a 256-bit collision: astronomically rare, never fatal
                continue
            break
        invoker = request.role == "invoker"
        return Enrolment(
            role=request.role,
            ca_root=ca_root,
            ccf_url=ccf_url,
            onboarding_token=credential if invoker else None,
            reg_sec=None if invoker else credential,
            expires_at=dt.datetime.fromtimestamp(record.expires_at, dt.UTC),
        )

    async def redeem(self, candidates: Iterable[str | None], role: Role) -> Redemption:
        """The first of ``candidates`` that is a live credential for ``role``; else 401."""
        seen = [c.strip() for c in candidates if c and c.strip()]
        if not seen:
            raise CredentialRefused(f"a {_credential_name(role)} is required")
        for credential in dict.fromkeys(seen):
            doc = await self._store.get(COLLECTION, digest(credential))
            if doc is None:
                continue
            record = EnrolmentRecord.model_validate(doc.data)
            if record.role != role or record.expires_at <= time.time():
                continue
            consume = Delete(COLLECTION, doc.id, expected_version=doc.version)
            return Redemption(consume, credential, role)
        raise CredentialRefused(
            f"the {_credential_name(role)} is unknown, expired, or already used"
        )

    async def commit_redeemed(self, redemption: Redemption, ops: Sequence[Operation]) -> None:
        """Commit ``ops`` with the consumption of the credential that authorises them; 401
        when another request used the credential meanwhile."""
        try:
            await self._committer.commit([*ops, redemption.consume])
        except VersionConflict as conflict:
            if conflict.collection == COLLECTION:
                name = _credential_name(redemption.role)
                raise CredentialRefused(f"the {name} was used meanwhile") from None
            raise


def _credential_name(role: Role) -> str:
    return "onboarding credential" if role == "invoker" else "regSec"
