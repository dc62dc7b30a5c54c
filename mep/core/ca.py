"""The platform's certificate authority: an EC P-256 root kept in the data directory.

It signs the client certificates of CAPIF invokers and provider functions (TS 33.122 clause 6)
and the platform's own TLS server certificate.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mep.core.secrets_file import load_or_create

Usage = Literal["client", "server"]


class CertificateRequestError(ValueError):
    """A CSR or public key that the CA refuses to certify."""


def _new_key_pem() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def csr_public_key(csr_pem: str) -> PublicKeyTypes:
    """The key of a PEM CSR, whose signature proves that the requester holds it."""
    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode())
    except ValueError as error:
        raise CertificateRequestError(f"not a PEM certificate signing request: {error}") from None
    if not csr.is_signature_valid:
        raise CertificateRequestError("the CSR's signature does not match its public key")
    return csr.public_key()


def pem_public_key(public_key_pem: str) -> PublicKeyTypes:
    """A bare SPKI PEM public key (the requester proved nothing; the caller must)."""
    try:
        return serialization.load_pem_public_key(public_key_pem.encode())
    except ValueError as error:
        raise CertificateRequestError(f"not a PEM public key: {error}") from None


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    """IP addresses, URIs (anything else with a ``:``, e.g. ``urn:mep:capif:aef:AEF1``), and
    DNS names."""
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            if ":" in name:
                entries.append(x509.UniformResourceIdentifier(name))
            else:
                entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


@dataclass(frozen=True)
class CertificateAuthority:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    @classmethod
    def load_or_create(cls, directory: Path, name: str = "MEP Platform CA") -> CertificateAuthority:
        """Blocking (file I/O and key generation): call it off the event loop."""
        key_pem = load_or_create(directory / "ca.key.pem", _new_key_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{directory / 'ca.key.pem'} is not an EC private key")

        def self_signed() -> bytes:
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
            now = dt.datetime.now(dt.UTC)
            cert = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=3650))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(
                    x509.KeyUsage(
                        digital_signature=False,
                        content_commitment=False,
                        key_encipherment=False,
                        data_encipherment=False,
                        key_agreement=False,
                        key_cert_sign=True,
                        crl_sign=True,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
                .add_extension(
                    x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
                )
                .sign(key, hashes.SHA256())
            )
            return cert.public_bytes(serialization.Encoding.PEM)

        cert_pem = load_or_create(directory / "ca.pem", self_signed)
        return cls(key, x509.load_pem_x509_certificate(cert_pem))

    @functools.cached_property
    def certificate_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode()

    def certify_csr(
        self, csr_pem: str, *, common_name: str, sans: list[str], usage: Usage, days: int = 365
    ) -> x509.Certificate:
        """Certify the key of a PEM CSR; the subject is ours to choose, not the requester's."""
        return self.certify_key(
            csr_public_key(csr_pem), common_name=common_name, sans=sans, usage=usage, days=days
        )

    def certify_public_key(
        self,
        public_key_pem: str,
        *,
        common_name: str,
        sans: list[str],
        usage: Usage,
        days: int = 365,
    ) -> x509.Certificate:
        """Certify a bare SPKI PEM public key (the requester proved nothing; the caller must)."""
        return self.certify_key(
            pem_public_key(public_key_pem),
            common_name=common_name,
            sans=sans,
            usage=usage,
            days=days,
        )

    def certify_key(
        self,
        public_key: PublicKeyTypes,
        *,
        common_name: str,
        sans: list[str],
        usage: Usage,
        days: int = 365,
    ) -> x509.Certificate:
        """Certify ``public_key`` (EC or RSA) for ``common_name`` and ``sans``."""
        if not isinstance(public_key, ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
            raise CertificateRequestError("only EC and RSA public keys are certified")
        now = dt.datetime.now(dt.UTC)
        eku = (
            ExtendedKeyUsageOID.CLIENT_AUTH
            if usage == "client"
            else ExtendedKeyUsageOID.SERVER_AUTH
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(
                min(now + dt.timedelta(days=days), self.certificate.not_valid_after_utc)
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False,
            )
        )
        if sans:
            builder = builder.add_extension(_san(sans), critical=False)
        return builder.sign(self.key, hashes.SHA256())
