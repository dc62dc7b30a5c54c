"""API invoker onboarding, update and offboarding (TS 29.222 clause 8.4, TS 33.122 clause 6.1).

Onboarding redeems the operator's single-use onboarding credential, assigns the apiInvokerId and
certifies the invoker's key for it, all in one commit with the credential's consumption.
An update that carries a new key renews the certificate and revokes the old one; offboarding
revokes the certificate, the identity and every access token of the invoker, in the commit that
removes it.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mep.auth.revocation import RevocationList
from mep.capif.certificates import IssuedCertificate, certify, keep_or_renew
from mep.capif.enrolments import Enrolments
from mep.capif.identity import CapifIdentity, CapifRole, CertificateRevocations, serial_hex
from mep.capif.merge_patch import patch_changes, patched
from mep.capif.models import (
    APIInvokerEnrolmentDetails,
    APIInvokerEnrolmentDetailsPatch,
    OnboardingInformation,
)
from mep.core.ca import CertificateAuthority
from mep.core.commits import Committer
from mep.core.optimistic import optimistically
from mep.core.outbox import Outbox
from mep.core.problem import BadRequest, InvalidParam, NotFound
from mep.core.store import ABSENT, Delete, Operation, Put
from mep.core.tokens import CallerKind

COLLECTION = "capif_invokers"
STREAM = "capif.invokers"
KEY_POINTER = "/onboardingInformation/apiInvokerPublicKey"
#: The writes that go with offboarding an invoker (what other APIs keep of it).
RemovalOps = Callable[[str], Awaitable[Sequence[Operation]]]


@dataclass(frozen=True, slots=True)
class StoredInvoker:
    #: As answered: ``apiInvokerId`` and ``apiInvokerCertificate`` set.
    details: APIInvokerEnrolmentDetails
    version: int
    certificate: IssuedCertificate
    created: bool = False

    @property
    def invoker_id(self) -> str:
        assert self.details.api_invoker_id is not None
        return self.details.api_invoker_id

    @property
    def identity(self) -> CapifIdentity:
        return CapifIdentity(CapifRole.INVOKER, self.invoker_id)


def new_invoker_id() -> str:
    """``INV`` and 30 hex digits, the form OpenCAPIF gives (clients only round-trip it)."""
    return f"INV{secrets.token_hex(15)}"


def _document(stored: StoredInvoker) -> dict[str, Any]:
    return {
        "details": stored.details.model_dump(mode="json", by_alias=True, exclude_none=True),
        "certificateSerial": serial_hex(stored.certificate.serial),
        "keyDigest": stored.certificate.key_digest,
        "updatedAt": time.time(),
    }


def _from_document(data: dict[str, Any], version: int) -> StoredInvoker:
    details = APIInvokerEnrolmentDetails.model_validate(data["details"])
    pem = details.onboarding_information.api_invoker_certificate or ""
    certificate = IssuedCertificate(pem, int(data["certificateSerial"], 16), data["keyDigest"])
    return StoredInvoker(details, version, certificate)


def _answered(
    details: APIInvokerEnrolmentDetails, invoker_id: str, certificate: IssuedCertificate
) -> APIInvokerEnrolmentDetails:
    """``details`` as answered: the invoker's id, its key and the certificate over it."""
    information = OnboardingInformation(
        api_invoker_public_key=details.onboarding_information.api_invoker_public_key,
        api_invoker_certificate=certificate.pem,
    )
    return details.model_copy(
        update={"api_invoker_id": invoker_id, "onboarding_information": information}
    )


class Invokers:
    def __init__(
        self,
        committer: Committer,
        outbox: Outbox,
        ca: CertificateAuthority,
        enrolments: Enrolments,
        removal_ops: RemovalOps | None = None,
    ) -> None:
        self._store = committer.store
        self._committer = committer
        self._outbox = outbox
        self._ca = ca
        self._enrolments = enrolments
        self._removal_ops = removal_ops

    async def get(self, invoker_id: str) -> StoredInvoker:
        doc = await self._store.get(COLLECTION, invoker_id)
        if doc is None:
            raise NotFound(f"no onboarded API invoker {invoker_id!r}")
        return _from_document(doc.data, doc.version)

    async def onboard(
        self, details: APIInvokerEnrolmentDetails, credentials: Iterable[str | None]
    ) -> StoredInvoker:
        """TS 29.222 clause 8.4.2.2.1 (POST /onboardedInvokers): 401 unless one of
        ``credentials`` is a live invoker enrolment, consumed by this commit."""
        redemption = await self._enrolments.redeem(
            [*credentials, details.onboarding_information.onboarding_secret], "invoker"
        )
        invoker_id = new_invoker_id()
        identity = CapifIdentity(CapifRole.INVOKER, invoker_id)
        key = details.onboarding_information.api_invoker_public_key
        issued = certify(self._ca, key, identity, KEY_POINTER)
        body = _answered(details, invoker_id, issued)
        stored = StoredInvoker(body, 1, issued, created=True)
        put = Put(COLLECTION, invoker_id, _document(stored), ABSENT)
        event = self._event("API_INVOKER_ONBOARDED", invoker_id)
        await self._enrolments.commit_redeemed(redemption, [put, event])
        return stored

    async def replace(self, invoker_id: str, details: APIInvokerEnrolmentDetails) -> StoredInvoker:
        """TS 29.222 clause 8.4.2.3.3 (PUT): a new key renews the certificate."""
        if details.api_invoker_id is not None and details.api_invoker_id != invoker_id:
            raise BadRequest(
                "apiInvokerId does not match the resource",
                invalid_params=[InvalidParam("/apiInvokerId", f"must be {invoker_id}")],
            )

        async def attempt() -> StoredInvoker:
            return await self._update(await self.get(invoker_id), details)

        return await optimistically(attempt, what="the API invoker")

    async def patch(self, invoker_id: str, patch: dict[str, Any]) -> StoredInvoker:
        """TS 29.222 clause 8.4.2.3.4 (PATCH, JSON Merge Patch)."""
        changes = patch_changes(APIInvokerEnrolmentDetailsPatch, patch)

        async def attempt() -> StoredInvoker:
            current = await self.get(invoker_id)
            details = patched(
                current.details,
                changes,
                APIInvokerEnrolmentDetails,
                what="enrolment details after the patch",
            )
            return await self._update(current, details)

        return await optimistically(attempt, what="the API invoker")

    async def offboard(self, invoker_id: str) -> None:
        """TS 29.222 clause 8.4.2.3.2 (DELETE): the certificate, the identity and every access
        token of the invoker are revoked, and ``removal_ops`` (its security context) removed, in
        the commit that removes it."""

        async def attempt() -> None:
            current = await self.get(invoker_id)
            ops: list[Operation] = [
                Delete(COLLECTION, invoker_id, current.version),
                *CertificateRevocations.revoke(
                    serials=[current.certificate.serial],
                    identities=[current.identity],
                    reason="offboarded",
                ),
                RevocationList.revoke(CallerKind.INVOKER, invoker_id),
                self._event("API_INVOKER_OFFBOARDED", invoker_id),
            ]
            if self._removal_ops is not None:
                ops += await self._removal_ops(invoker_id)
            await self._committer.commit(ops)

        await optimistically(attempt, what="the API invoker")

    async def _update(
        self, current: StoredInvoker, details: APIInvokerEnrolmentDetails
    ) -> StoredInvoker:
        certificate, revocations = keep_or_renew(
            self._ca,
            current.certificate,
            details.onboarding_information.api_invoker_public_key,
            current.identity,
            KEY_POINTER,
        )
        stored = StoredInvoker(
            _answered(details, current.invoker_id, certificate), current.version, certificate
        )
        versions = await self._committer.commit(
            [
                Put(COLLECTION, current.invoker_id, _document(stored), current.version),
                *revocations,
                self._event("API_INVOKER_UPDATED", current.invoker_id),
            ]
        )
        return dataclasses.replace(stored, version=versions[0])

    def _event(self, kind: str, invoker_id: str) -> Put:
        return self._outbox.entry(STREAM, {"type": kind, "apiInvokerId": invoker_id})
