"""CAPIF identities in certificates, forwarded-certificate headers, merge patches, settings,
and the TLS server certificate's renewal rules."""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from mep.capif import tls
from mep.capif.certificates import certify, requested_key_digest
from mep.capif.identity import CapifIdentity, CapifRole, identity_of
from mep.capif.merge_patch import merge_patch
from mep.capif.peer import (
    ForwardedCertificateError,
    check_issued_by,
    envoy_certificate_pem,
    is_trusted,
    load_forwarded,
    nginx_certificate_pem,
)
from mep.core.ca import CertificateAuthority
from mep.core.problem import BadRequest
from mep.core.settings import MepSettings


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CertificateAuthority:
    return CertificateAuthority.load_or_create(tmp_path_factory.mktemp("ca"))


def _csr() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def _issue(ca: CertificateAuthority, role: CapifRole, identity_id: str) -> x509.Certificate:
    issued = certify(ca, _csr(), CapifIdentity(role, identity_id), "/key")
    return x509.load_pem_x509_certificate(issued.pem.encode())


@pytest.mark.parametrize("role", list(CapifRole))
def test_the_identity_is_read_back_from_the_certificate(
    ca: CertificateAuthority, role: CapifRole
) -> None:
    certificate = _issue(ca, role, f"{role.value.upper()}0123")
    identity = identity_of(certificate)
    assert identity == CapifIdentity(role, f"{role.value.upper()}0123", certificate.serial_number)


def test_certificates_without_a_capif_identity_name_none(ca: CertificateAuthority) -> None:
    plain = ca.certify_csr(_csr(), common_name="AEF1", sans=["aef.example"], usage="client")
    assert identity_of(plain) is None
    mismatch = ca.certify_csr(
        _csr(), common_name="AEF1", sans=["urn:mep:capif:aef:AEF2"], usage="client"
    )
    assert identity_of(mismatch) is None
    unknown_role = ca.certify_csr(
        _csr(), common_name="X1", sans=["urn:mep:capif:ccf:X1"], usage="client"
    )
    assert identity_of(unknown_role) is None


def test_keys_are_accepted_as_csr_spki_or_bare_base64(ca: CertificateAuthority) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    spki = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    bare = "".join(spki.decode().splitlines()[1:-1])
    digests = {requested_key_digest(text, "/k") for text in (spki.decode(), bare)}
    assert len(digests) == 1
    issued = certify(ca, bare, CapifIdentity(CapifRole.AEF, "AEF9"), "/k")
    assert issued.key_digest in digests
    with pytest.raises(BadRequest) as caught:
        requested_key_digest("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", "/k")
    assert caught.value.invalid_params[0].param == "/k"


def test_envoy_header_takes_the_nearest_proxys_element() -> None:
    first, last = "-----BEGIN CERTIFICATE-----\nAAA\n", "-----BEGIN CERTIFICATE-----\nBBB\n"
    header = (
        f'By=spiffe://a;Cert="{quote(first, safe="")}";Subject="CN=a,O=x",'
        f'By=spiffe://b;Hash=ff;cert="{quote(last, safe="")}";URI=spiffe://c'
    )
    assert envoy_certificate_pem(header) == last
    assert envoy_certificate_pem('By=spiffe://b;Subject="CN=\\"quoted\\";x"') is None
    assert envoy_certificate_pem(f"Cert={quote(first, safe='')}") == first
    assert nginx_certificate_pem(quote(first, safe="")) == first
    assert nginx_certificate_pem("-----BEGIN CERTIFICATE-----\n\tAAA\n") == first


def test_forwarded_certificates_must_be_ours_and_current(ca: CertificateAuthority) -> None:
    ours = _issue(ca, CapifRole.INVOKER, "INV1")
    pem = ours.public_bytes(serialization.Encoding.PEM).decode()
    check_issued_by(load_forwarded(pem), ca.certificate)
    other = CertificateAuthority(ec.generate_private_key(ec.SECP256R1()), ca.certificate)
    foreign = other.certify_csr(_csr(), common_name="INV1", sans=[], usage="client")
    with pytest.raises(ForwardedCertificateError, match="not issued"):
        check_issued_by(foreign, ca.certificate)
    server = ca.certify_csr(_csr(), common_name="INV1", sans=[], usage="server")
    with pytest.raises(ForwardedCertificateError, match="not a client"):
        check_issued_by(server, ca.certificate)
    with pytest.raises(ForwardedCertificateError, match="malformed"):
        load_forwarded("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----")


@pytest.mark.parametrize(
    ("address", "networks", "trusted"),
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("10.1.2.3", "10.0.0.0/8,192.168.0.1", True),
        ("::ffff:10.1.2.3", "10.0.0.0/8", True),
        ("fd00::5", "fd00::/8", True),
        ("10.1.2.3", "", False),
        ("11.1.2.3", "10.0.0.0/8", False),
        (None, "10.0.0.0/8", False),
        ("not-an-ip", "10.0.0.0/8", False),
    ],
)
def test_trusted_proxy_addresses(address: str | None, networks: str, trusted: bool) -> None:
    settings = MepSettings(trusted_proxies=networks)
    assert is_trusted(address, settings.trusted_proxy_networks) is trusted


def test_merge_patch_follows_rfc_7396() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "list": [1, 2]}
    patch = {"a": "z", "c": {"f": None, "h": 1}, "list": [3], "new": {"x": None}}
    assert merge_patch(target, patch) == {"a": "z", "c": {"d": "e", "h": 1}, "list": [3], "new": {}}
    assert merge_patch(target, [1]) == [1]
    assert target["c"] == {"d": "e", "f": "g"}  # the target is not changed


def test_tls_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MEP_TLS_PORT", "MEP_TLS_HOSTNAMES", "MEP_TRUSTED_PROXIES", "MEP_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    assert MepSettings().tls_port == 8443
    assert MepSettings().ccf_url == "https://127.0.0.1:8443"
    settings = MepSettings(
        host="0.0.0.0", tls_port=9443, tls_hostnames=" mep.example.com,10.0.0.7 "
    )
    assert settings.tls_names == ["mep.example.com", "10.0.0.7", "localhost", "127.0.0.1"]
    assert settings.ccf_url == "https://127.0.0.1:9443"
    behind = MepSettings(public_url="https://capif.example.com")
    assert behind.ccf_url == "https://capif.example.com"
    assert "capif.example.com" in behind.tls_names
    for values, field in (
        ({"tls_hostnames": "bad name"}, "tls_hostnames"),
        ({"trusted_proxies": "10.0.0.0/33"}, "trusted_proxies"),
        ({"tls_port": 70000}, "tls_port"),
    ):
        with pytest.raises(ValidationError) as caught:
            MepSettings(**values)  # type: ignore[arg-type]
        assert caught.value.errors()[0]["loc"] == (field,)


def _served_names(directory: Path) -> set[str]:
    certificate = x509.load_pem_x509_certificate((directory / tls.CERT_FILE).read_bytes())
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {*san.get_values_for_type(x509.DNSName)} | {
        str(ip) for ip in san.get_values_for_type(x509.IPAddress)
    }


def test_the_server_certificate_is_reissued_only_when_needed(
    tmp_path: Path, ca: CertificateAuthority
) -> None:
    names = ["mep.example.com", "localhost", "127.0.0.1"]
    cert_file, key_file = tls.ensure_server_certificate(tmp_path, ca, names)
    first = cert_file.read_bytes()
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert _served_names(tmp_path) == set(names)
    x509.load_pem_x509_certificate(first).verify_directly_issued_by(ca.certificate)
    tls.server_context(ca, cert_file, key_file)

    tls.ensure_server_certificate(tmp_path, ca, list(reversed(names)))
    assert cert_file.read_bytes() == first  # same names, any order: kept

    tls.ensure_server_certificate(tmp_path, ca, [*names, "edge.example.com"])
    assert _served_names(tmp_path) == {*names, "edge.example.com"}

    other_ca = CertificateAuthority.load_or_create(tmp_path / "other-ca")
    tls.ensure_server_certificate(tmp_path, other_ca, names)
    x509.load_pem_x509_certificate(cert_file.read_bytes()).verify_directly_issued_by(
        other_ca.certificate
    )

    # Close to expiry: issued again.
    key = serialization.load_pem_private_key(key_file.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    now = dt.datetime.now(dt.UTC)
    short = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .issuer_name(other_ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(n) for n in names[:2]]
                + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            False,
        )
        .sign(other_ca.key, hashes.SHA256())
    )
    cert_file.write_bytes(short.public_bytes(serialization.Encoding.PEM))
    tls.ensure_server_certificate(tmp_path, other_ca, names)
    renewed = x509.load_pem_x509_certificate(cert_file.read_bytes())
    assert renewed.serial_number != 1
    assert renewed.not_valid_after_utc - now > dt.timedelta(days=300)
