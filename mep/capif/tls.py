"""The TLS listener's server certificate and context (TS 33.122 clauses 6.1 and 6.2).

The CCF authenticates itself with a certificate our CA issues (``<data dir>/tls/server.pem``,
key in ``server.key.pem``), valid for every name the platform is reached by; it is issued again
when missing, when the names changed, when it was issued by another CA, or within 30 days of its
expiry. Clients may present a certificate (``CERT_OPTIONAL``): one that does not chain to our CA
fails the handshake, and each route decides whether it needs one (``mep.capif.identity``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import os
import secrets
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from mep.core.ca import CertificateAuthority

SERVER_DAYS = 365
RENEW_BEFORE = dt.timedelta(days=30)
CERT_FILE = "server.pem"
KEY_FILE = "server.key.pem"


def _names_of(certificate: x509.Certificate) -> set[str]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    names = set(san.get_values_for_type(x509.DNSName))
    return names | {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


def _canonical(names: list[str]) -> set[str]:
    out = set()
    for name in names:
        try:
            out.add(str(ipaddress.ip_address(name)))
        except ValueError:
            out.add(name)
    return out


def _still_good(directory: Path, ca: CertificateAuthority, names: list[str]) -> bool:
    try:
        certificate = x509.load_pem_x509_certificate((directory / CERT_FILE).read_bytes())
        key = serialization.load_pem_private_key((directory / KEY_FILE).read_bytes(), None)
    except (FileNotFoundError, ValueError):
        return False
    try:
        certificate.verify_directly_issued_by(ca.certificate)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if certificate.public_key() != key.public_key():
        return False
    if certificate.not_valid_after_utc - dt.datetime.now(dt.UTC) < RENEW_BEFORE:
        return False
    return _names_of(certificate) == _canonical(names)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_server_certificate(
    directory: Path, ca: CertificateAuthority, names: list[str]
) -> tuple[Path, Path]:
    """The certificate and key files, issued anew when needed. Blocking: run off the loop."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not _still_good(directory, ca, names):
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = ca.certify_key(
            key.public_key(), common_name=names[0], sans=names, usage="server", days=SERVER_DAYS
        )
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write(directory / KEY_FILE, key_pem)
        _write(directory / CERT_FILE, certificate.public_bytes(serialization.Encoding.PEM))
    return directory / CERT_FILE, directory / KEY_FILE


def server_context(ca: CertificateAuthority, cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """TLS 1.2+, our certificate, client certificates optional and verified against our CA.
    Blocking (reads the files)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cadata=ca.certificate_pem)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    context.verify_mode = ssl.CERT_OPTIONAL
    return context


async def load_server_context(
    data_dir: Path, ca: CertificateAuthority, names: list[str]
) -> ssl.SSLContext:
    """The listener's context, issuing its certificate first when needed."""

    def load() -> ssl.SSLContext:
        cert_file, key_file = ensure_server_certificate(data_dir / "tls", ca, names)
        return server_context(ca, cert_file, key_file)

    return await asyncio.to_thread(load)
