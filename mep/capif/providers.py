"""API provider domain registration (TS 29.222 clause 8.9, TS 33.122 clause 6.2).

The AMF registers its domain with the operator's single-use ``regSec``: every function in
``apiProvFuncs`` (AEF, APF, AMF) gets an id of its role (``AEF…``, ``APF…``, ``AMF…``) and a
certificate over the key it sent, answered in the order of the request (clients match them by
index). Updates keep the functions they name by ``apiProvFuncId`` (renewing a certificate when
the key changed), add those without an id, and remove the others; removal revokes the removed
functions' certificates and identities, and unpublishes their APIs, in the same commit. A
domain always keeps an AMF: it is the function that manages the registration.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mep.capif.certificates import IssuedCertificate, certify, keep_or_renew
from mep.capif.enrolments import Enrolments
from mep.capif.identity import CapifIdentity, CapifRole, CertificateRevocations, serial_hex
from mep.capif.merge_patch import patch_changes, patched
from mep.capif.models import (
    APIProviderEnrolmentDetails,
    APIProviderEnrolmentDetailsPatch,
    APIProviderFunctionDetails,
    RegistrationInformation,
)
from mep.core.ca import CertificateAuthority
from mep.core.commits import Committer
from mep.core.optimistic import optimistically
from mep.core.outbox import Outbox
from mep.core.problem import BadRequest, Forbidden, InvalidParam, NotFound
from mep.core.store import ABSENT, Delete, Operation, Put

COLLECTION = "capif_providers"
STREAM = "capif.providers"
#: Index of registrations by the ids of their functions: which domain an AEF/APF/AMF is in.
BY_FUNCTION = "function"
ROLES = {"AEF": CapifRole.AEF, "APF": CapifRole.APF, "AMF": CapifRole.AMF}
#: The writes that go with removing functions from their domain (their published APIs).
RemovalOps = Callable[[Sequence[str]], Awaitable[Sequence[Operation]]]


@dataclass(frozen=True, slots=True)
class Function:
    """What the platform keeps of one function's certificate."""

    role: CapifRole
    certificate: IssuedCertificate

    def to_json(self) -> dict[str, str]:
        return {
            "role": self.role.value,
            "serial": serial_hex(self.certificate.serial),
            "keyDigest": self.certificate.key_digest,
            "certificate": self.certificate.pem,
        }

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Function:
        serial = int(data["serial"], 16)
        return cls(
            CapifRole(data["role"]),
            IssuedCertificate(data["certificate"], serial, data["keyDigest"]),
        )


@dataclass(frozen=True, slots=True)
class StoredRegistration:
    details: APIProviderEnrolmentDetails
    functions: dict[str, Function]
    version: int
    created: bool = False

    @property
    def registration_id(self) -> str:
        assert self.details.api_prov_dom_id is not None
        return self.details.api_prov_dom_id


@dataclass
class _Reconciled:
    funcs: list[APIProviderFunctionDetails] = field(default_factory=list)
    functions: dict[str, Function] = field(default_factory=dict)
    revocations: list[Operation] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def new_function_id(role: CapifRole) -> str:
    """``AEF``/``APF``/``AMF`` and 30 hex digits, as OpenCAPIF forms them."""
    return f"{role.value.upper()}{secrets.token_hex(15)}"


def _document(stored: StoredRegistration) -> dict[str, Any]:
    # regSec is never kept: it was a single-use credential and is spent.
    details = stored.details.model_copy(update={"reg_sec": None})
    return {
        "details": details.model_dump(mode="json", by_alias=True, exclude_none=True),
        "functions": {fid: f.to_json() for fid, f in stored.functions.items()},
    }


def from_document(data: dict[str, Any], version: int) -> StoredRegistration:
    """A registration as the store keeps it."""
    return StoredRegistration(
        APIProviderEnrolmentDetails.model_validate(data["details"]),
        {fid: Function.from_json(f) for fid, f in data["functions"].items()},
        version,
    )


def _role(func: APIProviderFunctionDetails, index: int) -> CapifRole:
    role = ROLES.get(func.api_prov_func_role)
    if role is None:
        raise BadRequest(
            f"unknown apiProvFuncRole {func.api_prov_func_role!r}",
            invalid_params=[
                InvalidParam(f"/apiProvFuncs/{index}/apiProvFuncRole", "must be AEF, APF or AMF")
            ],
        )
    return role


class Providers:
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

    async def get(self, registration_id: str) -> StoredRegistration:
        doc = await self._store.get(COLLECTION, registration_id)
        if doc is None:
            raise NotFound(f"no API provider domain registration {registration_id!r}")
        return from_document(doc.data, doc.version)

    async def managed_by(self, registration_id: str, amf: CapifIdentity) -> StoredRegistration:
        """The registration, when ``amf`` is one of its AMFs; 404 or 403 otherwise."""
        stored = await self.get(registration_id)
        mine = stored.functions.get(amf.id)
        if mine is None or mine.role is not CapifRole.AMF:
            raise Forbidden(
                f"AMF {amf.id} does not belong to the registration {registration_id}",
                cause="IDENTITY_MISMATCH",
            )
        return stored

    async def register(
        self, details: APIProviderEnrolmentDetails, credentials: Iterable[str | None]
    ) -> StoredRegistration:
        """TS 29.222 clause 8.9.2.2.1 (POST /registrations): 401 unless ``regSec`` (or the
        bearer credential) is a live provider enrolment, consumed by this commit."""
        if not details.api_prov_funcs:
            raise BadRequest(
                "apiProvFuncs must list the domain's functions",
                invalid_params=[InvalidParam("/apiProvFuncs", "at least one AMF is required")],
            )
        redemption = await self._enrolments.redeem([details.reg_sec, *credentials], "provider")
        registration_id = secrets.token_hex(15)
        # A POST names no existing function: every one is new, whatever id the client sent.
        funcs = [f.model_copy(update={"api_prov_func_id": None}) for f in details.api_prov_funcs]
        reconciled = self._reconcile({}, funcs)
        body = details.model_copy(
            update={
                "api_prov_dom_id": registration_id,
                "api_prov_funcs": reconciled.funcs,
                "reg_sec": redemption.credential,
                "fail_reason": None,
            }
        )
        stored = StoredRegistration(body, reconciled.functions, 1, created=True)
        event = self._event("API_PROVIDER_REGISTERED", registration_id)
        await self._enrolments.commit_redeemed(redemption, [_put(stored, ABSENT), event])
        return stored

    async def replace(
        self, registration_id: str, amf: CapifIdentity, details: APIProviderEnrolmentDetails
    ) -> StoredRegistration:
        """TS 29.222 clause 8.9.2.3.3 (PUT)."""
        if details.api_prov_dom_id is not None and details.api_prov_dom_id != registration_id:
            raise BadRequest(
                "apiProvDomId does not match the resource",
                invalid_params=[InvalidParam("/apiProvDomId", f"must be {registration_id}")],
            )

        async def attempt() -> StoredRegistration:
            current = await self.managed_by(registration_id, amf)
            return await self._update(current, details)

        return await optimistically(attempt, what="the registration")

    async def patch(
        self, registration_id: str, amf: CapifIdentity, patch: dict[str, Any]
    ) -> StoredRegistration:
        """TS 29.222 clause 8.9.2.3.4 (PATCH, JSON Merge Patch)."""
        changes = patch_changes(APIProviderEnrolmentDetailsPatch, patch)

        async def attempt() -> StoredRegistration:
            current = await self.managed_by(registration_id, amf)
            details = patched(
                current.details,
                changes,
                APIProviderEnrolmentDetails,
                what="registration after the patch",
            )
            return await self._update(current, details)

        return await optimistically(attempt, what="the registration")

    async def deregister(self, registration_id: str, amf: CapifIdentity) -> None:
        """TS 29.222 clause 8.9.2.3.2 (DELETE): every function's certificate and identity is
        revoked, and its published APIs are unpublished, in the commit that removes the
        registration."""

        async def attempt() -> None:
            current = await self.managed_by(registration_id, amf)
            ops: list[Operation] = [
                Delete(COLLECTION, registration_id, current.version),
                *_revoke_functions(current.functions, "deregistered"),
                self._event("API_PROVIDER_DEREGISTERED", registration_id),
                *await self._removed(list(current.functions)),
            ]
            await self._committer.commit(ops)

        await optimistically(attempt, what="the registration")

    async def _update(
        self, current: StoredRegistration, details: APIProviderEnrolmentDetails
    ) -> StoredRegistration:
        reconciled = self._reconcile(current.functions, details.api_prov_funcs or [])
        body = details.model_copy(
            update={
                "api_prov_dom_id": current.registration_id,
                "api_prov_funcs": reconciled.funcs,
                "reg_sec": details.reg_sec or "",
                "fail_reason": None,
            }
        )
        stored = StoredRegistration(body, reconciled.functions, current.version)
        event = self._event("API_PROVIDER_UPDATED", current.registration_id)
        removed = await self._removed(reconciled.removed)
        versions = await self._committer.commit(
            [_put(stored, current.version), *reconciled.revocations, event, *removed]
        )
        return dataclasses.replace(stored, version=versions[0])

    def _reconcile(
        self, current: dict[str, Function], funcs: list[APIProviderFunctionDetails]
    ) -> _Reconciled:
        """The functions after an update (kept, renewed, new), in the request's order, and
        the revocations of the replaced certificates and removed functions."""
        out = _Reconciled()
        for index, func in enumerate(funcs):
            role = _role(func, index)
            pointer = f"/apiProvFuncs/{index}"
            key_pointer = f"{pointer}/regInfo/apiProvPubKey"
            key = func.reg_info.api_prov_pub_key
            func_id = func.api_prov_func_id
            if not func_id:
                func_id = new_function_id(role)
                certificate = certify(self._ca, key, CapifIdentity(role, func_id), key_pointer)
            else:
                known = current.get(func_id)
                if known is None:
                    raise _bad(f"{pointer}/apiProvFuncId", f"no function {func_id} in this domain")
                if func_id in out.functions:
                    raise _bad(f"{pointer}/apiProvFuncId", f"{func_id} is listed twice")
                if known.role is not role:
                    reason = f"{func_id} is an {known.role.upper()}"
                    raise _bad(f"{pointer}/apiProvFuncRole", reason)
                identity = CapifIdentity(role, func_id)
                certificate, revocations = keep_or_renew(
                    self._ca, known.certificate, key, identity, key_pointer
                )
                out.revocations += revocations
            out.functions[func_id] = Function(role, certificate)
            out.funcs.append(_with_certificate(func, func_id, certificate.pem))
        if not any(f.role is CapifRole.AMF for f in out.functions.values()):
            raise _bad("/apiProvFuncs", "the domain must keep at least one AMF")
        removed = {fid: f for fid, f in current.items() if fid not in out.functions}
        out.removed = list(removed)
        out.revocations += _revoke_functions(removed, "removed from the registration")
        return out

    async def _removed(self, function_ids: Sequence[str]) -> Sequence[Operation]:
        if self._removal_ops is None or not function_ids:
            return ()
        return await self._removal_ops(function_ids)

    def _event(self, kind: str, registration_id: str) -> Put:
        return self._outbox.entry(STREAM, {"type": kind, "apiProvDomId": registration_id})


def _put(stored: StoredRegistration, expected: int) -> Put:
    return Put(
        COLLECTION,
        stored.registration_id,
        _document(stored),
        expected,
        indexes={BY_FUNCTION: list(stored.functions)},
    )


def _revoke_functions(functions: Mapping[str, Function], reason: str) -> list[Put]:
    """The writes revoking these functions' certificates and identities."""
    return CertificateRevocations.revoke(
        serials=[f.certificate.serial for f in functions.values()],
        identities=[CapifIdentity(f.role, fid) for fid, f in functions.items()],
        reason=reason,
    )


def _with_certificate(
    func: APIProviderFunctionDetails, func_id: str, certificate: str
) -> APIProviderFunctionDetails:
    info = RegistrationInformation(
        api_prov_pub_key=func.reg_info.api_prov_pub_key, api_prov_cert=certificate
    )
    return func.model_copy(update={"api_prov_func_id": func_id, "reg_info": info})


def _bad(pointer: str, reason: str) -> BadRequest:
    return BadRequest(f"invalid {pointer}", invalid_params=[InvalidParam(pointer, reason)])
