"""API invoker onboarding, update and offboarding (TS 29.222 clause 8.4, TS 33.122 clause 6.1).

Onboarding redeems the operator's single-use onboarding credential, assigns the apiInvokerId and
certifies the invoker's key for it, all in one commit with the credential's consumption.
An update that carries a new key renews the certificate and revokes the old one; offboarding
revokes the certificate, the identity and every access token of the invoker, in the commit that
removes it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mep.auth.revocation import RevocationList
from mep.capif.certificates import certify, requested_key_digest
from mep.capif.enrolments import COLLECTION as ENROLMENTS
from mep.capif.enrolments import CredentialRefused, Enrolments
from mep.capif.identity import CapifIdentity, CapifRole, CertificateRevocations, serial_hex
from mep.capif.merge_patch import merge_patch
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
from mep.core.store import ABSENT, Delete, Operation, Put, VersionConflict
from mep.core.tokens import CallerKind
from mep.core.validation import validate

COLLECTION = "capif_invokers"
STREAM = "capif.invokers"
KEY_POINTER = "/onboardingInformation/apiInvokerPublicKey"
#: What a PATCH may change (APIInvokerEnrolmentDetailsPatch); other members are ignored.
PATCHABLE = frozenset(
    field.alias or name for name, field in APIInvokerEnrolmentDetailsPatch.model_fields.items()
)


@dataclass(frozen=True, slots=True)
class StoredInvoker:
    details: APIInvokerEnrolmentDetails
    version: int
    certificate_serial: int
    key_digest: str
    created: bool = False

    @property
    def invoker_id(self) -> str:
        assert self.details.api_invoker_id is not None
        return self.details.api_invoker_id


def new_invoker_id() -> str:
    """``INV`` and 30 hex digits, the form OpenCAPIF gives (clients only round-trip it)."""
    return f"INV{secrets.token_hex(15)}"


def _document(stored: StoredInvoker) -> dict[str, Any]:
    return {
        "details": stored.details.model_dump(mode="json", by_alias=True, exclude_none=True),
        "certificateSerial": serial_hex(stored.certificate_serial),
        "keyDigest": stored.key_digest,
        "updatedAt": time.time(),
    }


def _from_document(data: dict[str, Any], version: int) -> StoredInvoker:
    return StoredInvoker(
        APIInvokerEnrolmentDetails.model_validate(data["details"]),
        version,
        int(data["certificateSerial"], 16),
        data["keyDigest"],
    )


class Invokers:
    def __init__(
        self,
        committer: Committer,
        outbox: Outbox,
        ca: CertificateAuthority,
        enrolments: Enrolments,
    ) -> None:
        self._store = committer.store
        self._committer = committer
        self._outbox = outbox
        self._ca = ca
        self._enrolments = enrolments

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
        information = details.onboarding_information
        issued = certify(self._ca, information.api_invoker_public_key, identity, KEY_POINTER)
        body = details.model_copy(
            update={
                "api_invoker_id": invoker_id,
                "onboarding_information": OnboardingInformation(
                    api_invoker_public_key=information.api_invoker_public_key,
                    api_invoker_certificate=issued.pem,
                ),
            }
        )
        stored = StoredInvoker(body, 1, issued.serial, issued.key_digest, created=True)
        put = Put(COLLECTION, invoker_id, _document(stored), ABSENT)
        event = self._event("API_INVOKER_ONBOARDED", invoker_id)
        try:
            await self._committer.commit([put, redemption.consume, event])
        except VersionConflict as conflict:
            if conflict.collection == ENROLMENTS:
                raise CredentialRefused("the onboarding credential was used meanwhile") from None
            raise
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
        validate(APIInvokerEnrolmentDetailsPatch, patch)
        changes = {k: v for k, v in patch.items() if k in PATCHABLE}

        async def attempt() -> StoredInvoker:
            current = await self.get(invoker_id)
            current_json = current.details.model_dump(mode="json", by_alias=True, exclude_none=True)
            merged = merge_patch(current_json, changes)
            details = validate(
                APIInvokerEnrolmentDetails, merged, what="enrolment details after the patch"
            )
            return await self._update(current, details)

        return await optimistically(attempt, what="the API invoker")

    async def offboard(self, invoker_id: str) -> None:
        """TS 29.222 clause 8.4.2.3.2 (DELETE): the certificate, the identity and every access
        token of the invoker are revoked in the commit that removes it."""

        async def attempt() -> None:
            current = await self.get(invoker_id)
            identity = CapifIdentity(CapifRole.INVOKER, invoker_id)
            ops: list[Operation] = [
                Delete(COLLECTION, invoker_id, current.version),
                *CertificateRevocations.revoke(
                    serials=[current.certificate_serial], identities=[identity], reason="offboarded"
                ),
                RevocationList.revoke(CallerKind.INVOKER, invoker_id),
                self._event("API_INVOKER_OFFBOARDED", invoker_id),
            ]
            await self._committer.commit(ops)

        await optimistically(attempt, what="the API invoker")

    async def _update(
        self, current: StoredInvoker, details: APIInvokerEnrolmentDetails
    ) -> StoredInvoker:
        invoker_id = current.invoker_id
        information = details.onboarding_information
        key = information.api_invoker_public_key
        ops: list[Operation] = []
        if requested_key_digest(key, KEY_POINTER) == current.key_digest:
            certificate = current.details.onboarding_information.api_invoker_certificate
            serial, key_digest = current.certificate_serial, current.key_digest
        else:
            identity = CapifIdentity(CapifRole.INVOKER, invoker_id)
            issued = certify(self._ca, key, identity, KEY_POINTER)
            certificate, serial, key_digest = issued.pem, issued.serial, issued.key_digest
            ops += CertificateRevocations.revoke(
                serials=[current.certificate_serial], reason="renewed"
            )
        body = details.model_copy(
            update={
                "api_invoker_id": invoker_id,
                "onboarding_information": OnboardingInformation(
                    api_invoker_public_key=key, api_invoker_certificate=certificate
                ),
            }
        )
        stored = StoredInvoker(body, current.version + 1, serial, key_digest)
        ops = [
            Put(COLLECTION, invoker_id, _document(stored), current.version),
            *ops,
            self._event("API_INVOKER_UPDATED", invoker_id),
        ]
        versions = await self._committer.commit(ops)
        return StoredInvoker(body, versions[0], serial, key_digest)

    def _event(self, kind: str, invoker_id: str) -> Put:
        return self._outbox.entry(STREAM, {"type": kind, "apiInvokerId": invoker_id})
