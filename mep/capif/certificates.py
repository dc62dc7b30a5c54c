"""Certifying the key an invoker or provider function sends (TS 33.122 clauses 6.1, 6.2).

``apiInvokerPublicKey`` and ``apiProvPubKey`` are "the public key" in TS 29.222; real clients
(the CAPIF SDK, OpenCAPIF, its Robot tests) send a PEM CSR there. Both are accepted: a CSR's
signature proves the sender holds the key (:func:`~mep.core.ca.csr_public_key`), for a bare
SubjectPublicKeyInfo the onboarding credential is the proof. The subject is always ours:
CN = the identity's id, SAN = its URN.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

from mep.capif.identity import CapifIdentity, CertificateRevocations
from mep.core.ca import (
    CertificateAuthority,
    CertificateRequestError,
    csr_public_key,
    pem_public_key,
)
from mep.core.problem import BadRequest, InvalidParam
from mep.core.store import Put

CERTIFICATE_DAYS = 365
_CSR = "CERTIFICATE REQUEST"
_PUBLIC_KEY = "PUBLIC KEY"


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    pem: str
    serial: int
    #: SHA-256 of the certified SubjectPublicKeyInfo (DER), hex: "is this the same key?"
    key_digest: str


def _as_pem(text: str) -> str:
    """PEM as sent; bare base64 DER (some clients strip the armour) gets its armour back."""
    stripped = text.strip().replace("\\n", "\n")
    if stripped.startswith("-----BEGIN"):
        return stripped
    try:
        der = base64.b64decode("".join(stripped.split()), validate=True)
    except (binascii.Error, ValueError):
        return stripped
    try:
        x509.load_der_x509_csr(der)
        label = _CSR
    except ValueError:
        label = _PUBLIC_KEY
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n"


def _key_digest_of(public_key: PublicKeyTypes) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def _requested_key(text: str, pointer: str) -> PublicKeyTypes:
    """The key a CSR or PEM public key carries; 400 naming ``pointer`` when it is neither (or
    a CSR whose signature does not match its key)."""
    pem = _as_pem(text)
    try:
        if _CSR in pem.split("\n", 1)[0]:
            return csr_public_key(pem)
        return pem_public_key(pem)
    except CertificateRequestError as error:
        raise _bad_key(pointer, error) from None


def _issue(
    ca: CertificateAuthority, key: PublicKeyTypes, identity: CapifIdentity, pointer: str
) -> IssuedCertificate:
    try:
        certificate = ca.certify_key(
            key, common_name=identity.id, sans=[identity.urn], usage="client", days=CERTIFICATE_DAYS
        )
    except CertificateRequestError as error:
        raise _bad_key(pointer, error) from None
    return IssuedCertificate(
        certificate.public_bytes(serialization.Encoding.PEM).decode(),
        certificate.serial_number,
        _key_digest_of(key),
    )


def requested_key_digest(text: str, pointer: str) -> str:
    """The SHA-256 of the key a CSR or PEM public key carries; 400 naming ``pointer`` when it
    is neither (or a CSR whose signature does not match its key)."""
    return _key_digest_of(_requested_key(text, pointer))


def certify(
    ca: CertificateAuthority, text: str, identity: CapifIdentity, pointer: str
) -> IssuedCertificate:
    """A client certificate for ``identity`` over the key in ``text`` (CSR or public key)."""
    return _issue(ca, _requested_key(text, pointer), identity, pointer)


def keep_or_renew(
    ca: CertificateAuthority,
    current: IssuedCertificate,
    text: str,
    identity: CapifIdentity,
    pointer: str,
) -> tuple[IssuedCertificate, list[Put]]:
    """The certificate of ``identity`` for the key in ``text``: ``current`` when it certifies
    that key already; else a new one, with the writes revoking ``current``."""
    key = _requested_key(text, pointer)
    if _key_digest_of(key) == current.key_digest:
        return current, []
    revoke = CertificateRevocations.revoke(serials=[current.serial], reason="renewed")
    return _issue(ca, key, identity, pointer), revoke


def _bad_key(pointer: str, error: Exception) -> BadRequest:
    reason = f"must be a PEM certificate signing request or public key (EC or RSA): {error}"
    return BadRequest(
        f"invalid {pointer.rsplit('/', 1)[-1]}", invalid_params=[InvalidParam(pointer, reason)]
    )
