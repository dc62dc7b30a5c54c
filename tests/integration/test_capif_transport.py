"""Client certificates forwarded by a TLS-terminating proxy: believed only from an address in
``MEP_TRUSTED_PROXIES``, and only when our CA issued them and they are valid now."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fixtures.capif import INVOKERS, CapifPlatform, capif_on

from mep.capif.identity import CapifIdentity, CapifRole

PATCH = {"apiInvokerInformation": "via proxy"}


def envoy(pem: str) -> dict[str, str]:
    value = f'By=spiffe://mep.test/edge;Hash=00ff;Cert="{quote(pem, safe="")}";Subject="CN=x"'
    return {"X-Forwarded-Client-Cert": value}


def nginx(pem: str) -> dict[str, str]:
    return {"X-SSL-Client-Cert": quote(pem, safe="")}


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def self_signed_as(invoker_id: str) -> str:
    """A certificate naming the invoker exactly as ours do, signed by nobody we know."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, invoker_id)])
    now = dt.datetime.now(dt.UTC)
    urn = CapifIdentity(CapifRole.INVOKER, invoker_id).urn
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(urn)]), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .sign(key, hashes.SHA256())
    )
    return _pem(certificate)


def expired_from_our_ca(capif: CapifPlatform, invoker_id: str) -> str:
    ca = capif.deps.ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    urn = CapifIdentity(CapifRole.INVOKER, invoker_id).urn
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, invoker_id)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=2))
        .not_valid_after(now - dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(urn)]), False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
        .sign(ca.key, hashes.SHA256())
    )
    return _pem(certificate)


async def test_a_trusted_proxy_forwards_the_client_certificate(tmp_path: Path) -> None:
    async with capif_on("sqlite", tmp_path, trusted_proxies="10.9.0.0/16, 127.0.0.1") as capif:
        invoker_id, holder, _ = await capif.onboard()
        one = f"{INVOKERS}/{invoker_id}"
        for headers in (envoy(holder.certificate_pem), nginx(holder.certificate_pem)):
            status, body, _ = await capif.call(
                "PATCH", one, plain=True, json=PATCH, headers=headers
            )
            assert status == 200, body

        status, body, _ = await capif.call("PATCH", one, plain=True, json=PATCH)
        assert status == 401, body
        assert body["cause"] == "CLIENT_CERTIFICATE_REQUIRED"
        for forged in (self_signed_as(invoker_id), expired_from_our_ca(capif, invoker_id)):
            for headers in (envoy(forged), nginx(forged)):
                status, body, _ = await capif.call(
                    "PATCH", one, plain=True, json=PATCH, headers=headers
                )
                assert status == 401, body
                assert body["cause"] == "INVALID_CLIENT_CERTIFICATE"
        status, body, _ = await capif.call(
            "PATCH", one, plain=True, json=PATCH, headers={"X-SSL-Client-Cert": "garbage"}
        )
        assert status == 401, body

        # Another invoker's certificate, forwarded: still that invoker, so 403 on this path.
        _, other, _ = await capif.onboard()
        status, body, _ = await capif.call(
            "PATCH", one, plain=True, json=PATCH, headers=envoy(other.certificate_pem)
        )
        assert status == 403, body

        # Offboarded: the forwarded certificate is revoked like a direct one.
        status, _, _ = await capif.call(
            "DELETE", one, plain=True, headers=nginx(holder.certificate_pem)
        )
        assert status == 204
        status, body, _ = await capif.call(
            "PATCH", one, plain=True, json=PATCH, headers=nginx(holder.certificate_pem)
        )
        assert status == 401, body
        assert body["cause"] == "CERTIFICATE_REVOKED"


async def test_the_header_is_ignored_from_anyone_else(tmp_path: Path) -> None:
    async with capif_on("sqlite", tmp_path, trusted_proxies="10.0.0.0/8") as capif:
        invoker_id, holder, _ = await capif.onboard()
        one = f"{INVOKERS}/{invoker_id}"
        for headers in (envoy(holder.certificate_pem), nginx(holder.certificate_pem)):
            for plain in (True, False):
                status, body, _ = await capif.call(
                    "PATCH", one, plain=plain, json=PATCH, headers=headers
                )
                assert status == 401, body
                assert body["cause"] == "CLIENT_CERTIFICATE_REQUIRED"
        # A direct TLS client is unaffected by a header it adds.
        status, body, _ = await capif.call(
            "PATCH", one, holder=holder, json=PATCH, headers=envoy(self_signed_as(invoker_id))
        )
        assert status == 200, body
