"""Who a CAPIF caller is: the identity bound into the client certificate our CA issued it.

TS 33.122 clause 6 binds each certificate to one identity: an API invoker (apiInvokerId) or one
API provider domain function (apiProvFuncId of an AEF, APF or AMF). The CA writes the id as the
subject CN and the role and id as a SAN URI ``urn:mep:capif:<role>:<id>``, so any API can check
"the id in the path is the certificate's" and "this role may call this" from the certificate
alone. Offboarding, deregistration and renewal revoke certificates by serial (and identities by
id); every mTLS call checks those records, so a revoked certificate stops working at once on
every replica, well before it expires.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from aiohttp import web
from cryptography import x509
from cryptography.x509.oid import NameOID

from mep.capif.peer import ForwardedCertificateError, peer_certificate
from mep.core import keys
from mep.core.problem import Forbidden, Problem
from mep.core.store import Put, Store

URN_PREFIX = "urn:mep:capif:"
REVOKED = "capif_revoked"


class CapifRole(StrEnum):
    INVOKER = "invoker"
    AEF = "aef"
    APF = "apf"
    AMF = "amf"


_ROLES = frozenset(CapifRole)


@dataclass(frozen=True, slots=True)
class CapifIdentity:
    role: CapifRole
    id: str
    serial: int = 0

    @property
    def urn(self) -> str:
        return f"{URN_PREFIX}{self.role.value}:{self.id}"


def identity_of(certificate: x509.Certificate) -> CapifIdentity | None:
    """The CAPIF identity a certificate of ours is bound to; ``None`` for any other."""
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = common_names[0].value if common_names else None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if not uri.startswith(URN_PREFIX):
            continue
        role, sep, identity_id = uri.removeprefix(URN_PREFIX).partition(":")
        if not sep or role not in _ROLES or identity_id != common_name:
            return None
        return CapifIdentity(CapifRole(role), identity_id, certificate.serial_number)
    return None


def serial_hex(serial: int) -> str:
    return f"{serial:x}"


class CertificateRevocations:
    """Revoked certificates (by serial) and identities (by role and id), as store documents."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @staticmethod
    def revoke(
        *, serials: Iterable[int] = (), identities: Iterable[CapifIdentity] = (), reason: str
    ) -> list[Put]:
        """The writes revoking these; include them in the commit of the change causing it."""
        record = {"revokedAt": time.time(), "reason": reason}
        ops = [Put(REVOKED, f"serial:{serial_hex(s)}", record) for s in serials]
        ops += [Put(REVOKED, f"{i.role.value}:{i.id}", record) for i in identities]
        return ops

    async def is_revoked(self, identity: CapifIdentity) -> bool:
        ids = [f"serial:{serial_hex(identity.serial)}", f"{identity.role.value}:{identity.id}"]
        return bool(await self._store.get_many(REVOKED, ids))


def _unauthorized(detail: str, cause: str) -> Problem:
    # No standard HTTP authentication scheme names client certificates; the challenge says so.
    return Problem(
        detail, status=401, cause=cause, headers={"WWW-Authenticate": 'Mutual-TLS realm="capif"'}
    )


async def caller_identity(request: web.Request) -> CapifIdentity:
    """The CAPIF identity of the request's client certificate (TS 33.122 clause 6.2).

    401 without a certificate, with a revoked one, or with a forwarded one that is not ours;
    403 with a certificate of ours that names no CAPIF identity.
    """
    if keys.CAPIF_IDENTITY in request:
        return request[keys.CAPIF_IDENTITY]
    try:
        certificate = peer_certificate(request)
    except ForwardedCertificateError as error:
        raise _unauthorized(str(error), "INVALID_CLIENT_CERTIFICATE") from None
    if certificate is None:
        raise _unauthorized(
            "a client certificate issued by this CAPIF core function is required (mutual TLS)",
            "CLIENT_CERTIFICATE_REQUIRED",
        )
    identity = identity_of(certificate)
    if identity is None:
        raise Forbidden("the client certificate names no CAPIF invoker or provider function")
    if await request.app[keys.CAPIF_REVOCATIONS].is_revoked(identity):
        raise _unauthorized(
            f"the client certificate of {identity.role.value} {identity.id} has been revoked",
            "CERTIFICATE_REVOKED",
        )
    request[keys.CAPIF_IDENTITY] = identity
    return identity


async def require_identity(
    request: web.Request, role: CapifRole | Iterable[CapifRole], id_from_path: str | None = None
) -> CapifIdentity:
    """The caller, when it holds a certificate of ``role`` and (when given) of the id in the
    path; else 401 (no valid certificate) or 403 (another role, or another identity's)."""
    roles = {role} if isinstance(role, CapifRole) else set(role)
    identity = await caller_identity(request)
    if identity.role not in roles:
        names = ", ".join(sorted(r.value for r in roles))
        raise Forbidden(f"this resource is for the CAPIF role {names}, not {identity.role.value}")
    if id_from_path is not None and id_from_path != identity.id:
        raise Forbidden(
            f"the client certificate belongs to {identity.id}, not to {id_from_path}",
            cause="IDENTITY_MISMATCH",
        )
    return identity
