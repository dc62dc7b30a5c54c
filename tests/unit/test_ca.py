"""The platform CA: creation, reuse, and certifying CSRs and public keys."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mep.core.ca import CertificateAuthority, CertificateRequestError


def csr_pem(common_name: str = "requested-name") -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture
def ca(tmp_path: Path) -> CertificateAuthority:
    return CertificateAuthority.load_or_create(tmp_path / "ca")


def test_ca_is_made_once_and_reused(tmp_path: Path, ca: CertificateAuthority) -> None:
    again = CertificateAuthority.load_or_create(tmp_path / "ca")
    assert again.certificate == ca.certificate
    assert (tmp_path / "ca" / "ca.key.pem").stat().st_mode & 0o777 == 0o600
    constraints = ca.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.value.ca


async def test_two_processes_starting_together_agree_on_one_ca(tmp_path: Path) -> None:
    made = await asyncio.gather(
        *(asyncio.to_thread(CertificateAuthority.load_or_create, tmp_path) for _ in range(8))
    )
    assert len({m.certificate.fingerprint(hashes.SHA256()) for m in made}) == 1


def test_csr_is_certified_under_our_subject_and_chains_to_the_ca(
    ca: CertificateAuthority,
) -> None:
    key, pem = csr_pem("attacker-chosen")
    cert = ca.certify_csr(pem, common_name="invoker-1", sans=["invoker-1.mep"], usage="client")
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "invoker-1"
    assert cert.issuer == ca.certificate.subject
    assert cert.public_key() == key.public_key()
    cert.verify_directly_issued_by(ca.certificate)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["invoker-1.mep"]


def test_server_certificate_carries_ip_sans(ca: CertificateAuthority) -> None:
    _, pem = csr_pem()
    cert = ca.certify_csr(pem, common_name="mep", sans=["localhost", "127.0.0.1"], usage="server")
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_bare_public_key_is_certified(ca: CertificateAuthority) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    cert = ca.certify_public_key(pem.decode(), common_name="x", sans=[], usage="client")
    assert cert.public_key() == key.public_key()


@pytest.mark.parametrize(
    ("text", "reason"),
    [("not pem at all", "not a PEM certificate signing request"), ("", "not a PEM")],
)
def test_garbage_is_refused(ca: CertificateAuthority, text: str, reason: str) -> None:
    with pytest.raises(CertificateRequestError, match=reason):
        ca.certify_csr(text, common_name="x", sans=[], usage="client")


def test_csr_whose_signature_does_not_match_is_refused(ca: CertificateAuthority) -> None:
    _, pem = csr_pem()
    der = bytearray(x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0xFF  # inside the signature
    tampered = x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(CertificateRequestError, match="signature"):
        ca.certify_csr(tampered.decode(), common_name="x", sans=[], usage="client")
