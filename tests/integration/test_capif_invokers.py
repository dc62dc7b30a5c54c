"""CAPIF pre-provisioning and API invoker onboarding over real TLS (TS 29.222 clause 8.4,
TS 33.122 clause 6.1): the operator enrols, the invoker onboards with a CSR and then calls with
the certificate it got, and offboarding stops that certificate at once."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fixtures.capif import (
    ENROLMENTS,
    INVOKER_API,
    INVOKERS,
    OPERATOR,
    CapifPlatform,
    Holder,
    capif_on,
    new_csr,
    official_check,
)
from fixtures.openapi import OpenApiDocument

SPEC = OpenApiDocument("capif-api-invoker-management.yaml")
MGMT = OpenApiDocument("mep-mgmt.yaml")
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture(params=["sqlite", "redis"])
async def capif(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CapifPlatform]:
    async with capif_on(request.param, tmp_path) as platform:
        yield platform


def _details(csr: str) -> dict[str, object]:
    return {
        "notificationDestination": "http://127.0.0.1:9/callbacks",
        "onboardingInformation": {"apiInvokerPublicKey": csr},
    }


async def test_enrol_onboard_update_offboard(capif: CapifPlatform) -> None:
    enrolment = await capif.enrol("invoker")
    MGMT.check(ENROLMENTS, "post", 201, enrolment)
    assert enrolment["caRoot"] == capif.ca_pem
    assert enrolment["ccfUrl"] == capif.tls_url.rstrip("/")
    assert "regSec" not in enrolment
    expires = dt.datetime.fromisoformat(enrolment["expiresAt"])
    assert 3500 < (expires - dt.datetime.now(dt.UTC)).total_seconds() <= 3600

    key, csr = new_csr("attacker-chosen")
    status, body, response = await capif.call(
        "POST",
        INVOKERS,
        json={**_details(csr), "supportedFeatures": "0", "apiInvokerInformation": "demo app"},
        headers={"Authorization": f"Bearer {enrolment['onboardingToken']}"},
    )
    assert status == 201, body
    SPEC.check("/onboardedInvokers", "post", 201, body)
    await official_check(INVOKER_API, "/onboardedInvokers", "POST", 201, body)
    invoker_id = body["apiInvokerId"]
    assert invoker_id.startswith("INV")
    assert len(invoker_id) == 33
    assert response.headers["Location"] == f"{capif.tls_url}{INVOKERS}/{invoker_id}"
    assert body["apiInvokerInformation"] == "demo app"
    assert body["supportedFeatures"] == "0"
    assert body["onboardingInformation"]["apiInvokerPublicKey"] == csr
    holder = Holder(key, body["onboardingInformation"]["apiInvokerCertificate"])
    cert = holder.certificate
    cert.verify_directly_issued_by(capif.deps.ca.certificate)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == invoker_id
    assert cert.public_key() == key.public_key()
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]

    one = f"{INVOKERS}/{invoker_id}"
    replaced = {**_details(csr), "apiInvokerId": invoker_id, "apiInvokerInformation": "v2"}
    replaced["supportedFeatures"] = "0"
    status, body, _ = await capif.call("PUT", one, holder=holder, json=replaced)
    assert status == 200, body
    SPEC.check("/onboardedInvokers/{onboardingId}", "put", 200, body)
    await official_check(INVOKER_API, one, "PUT", 200, body)
    assert body["apiInvokerInformation"] == "v2"
    # Same key: same certificate.
    assert body["onboardingInformation"]["apiInvokerCertificate"] == holder.certificate_pem

    patch = {"apiInvokerInformation": "v3", "notificationDestination": "https://app.example/cb"}
    status, body, _ = await capif.call("PATCH", one, holder=holder, json=patch, headers=MERGE_PATCH)
    assert status == 200, body
    SPEC.check("/onboardedInvokers/{onboardingId}", "patch", 200, body)
    await official_check(INVOKER_API, one, "PATCH", 200, body)
    assert body["apiInvokerInformation"] == "v3"
    assert body["notificationDestination"] == "https://app.example/cb"
    assert body["supportedFeatures"] == "0"

    # The same route without a certificate, and with another invoker's.
    status, body, _ = await capif.call("PATCH", one, json=patch, headers=MERGE_PATCH)
    assert status == 401, body
    assert body["cause"] == "CLIENT_CERTIFICATE_REQUIRED"
    other_id, other, _ = await capif.onboard()
    status, body, _ = await capif.call("PATCH", one, holder=other, json=patch, headers=MERGE_PATCH)
    assert status == 403, body
    await official_check(INVOKER_API, one, "PATCH", 403, body)
    status, body, _ = await capif.call("DELETE", one, holder=other)
    assert status == 403, body

    status, _, _ = await capif.call("DELETE", one, holder=holder)
    assert status == 204
    status, body, _ = await capif.call("PATCH", one, holder=holder, json=patch, headers=MERGE_PATCH)
    assert status == 401, body
    assert body["cause"] == "CERTIFICATE_REVOKED"
    status, body, _ = await capif.call("DELETE", one, holder=holder)
    assert status == 401, body
    await official_check(INVOKER_API, one, "DELETE", 401, body)
    # Every token of the invoker is revoked with it, and the other invoker is untouched.
    assert await capif.store.get("revocations", f"invoker:{invoker_id}") is not None
    status, body, _ = await capif.call(
        "PATCH", f"{INVOKERS}/{other_id}", holder=other, json=patch, headers=MERGE_PATCH
    )
    assert status == 200, body


async def test_onboarding_credentials_are_single_use_and_expire(capif: CapifPlatform) -> None:
    token = (await capif.enrol("invoker"))["onboardingToken"]
    await capif.onboard(token)
    _, csr = new_csr()
    status, body, response = await capif.call(
        "POST", INVOKERS, json=_details(csr), headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 401, body
    assert body["cause"] == "INVALID_CREDENTIAL"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    SPEC.check("/onboardedInvokers", "post", 401, body)
    await official_check(INVOKER_API, "/onboardedInvokers", "POST", 401, body)

    short = (await capif.enrol("invoker", ttl=1))["onboardingToken"]
    await asyncio.sleep(1.1)
    status, body, _ = await capif.call(
        "POST", INVOKERS, json=_details(csr), headers={"Authorization": f"Bearer {short}"}
    )
    assert status == 401, body

    # A provider's regSec does not onboard an invoker; no credential at all is 401 too.
    reg_sec = (await capif.enrol("provider"))["regSec"]
    for headers in ({"Authorization": f"Bearer {reg_sec}"}, {}):
        status, body, _ = await capif.call("POST", INVOKERS, json=_details(csr), headers=headers)
        assert status == 401, body


async def test_two_onboardings_racing_on_one_token_one_wins(capif: CapifPlatform) -> None:
    token = (await capif.enrol("invoker"))["onboardingToken"]
    bodies = [_details(new_csr()[1]) for _ in range(4)]
    results = await asyncio.gather(
        *(
            capif.call("POST", INVOKERS, json=b, headers={"Authorization": f"Bearer {token}"})
            for b in bodies
        )
    )
    assert sorted(status for status, _, _ in results) == [201, 401, 401, 401]


async def test_bad_bodies_name_the_field_and_keep_the_token(capif: CapifPlatform) -> None:
    token = (await capif.enrol("invoker"))["onboardingToken"]
    bearer = {"Authorization": f"Bearer {token}"}
    csr = new_csr()[1]
    cases = [
        (_details("not a PEM at all"), "/onboardingInformation/apiInvokerPublicKey"),
        ({"onboardingInformation": {"apiInvokerPublicKey": csr}}, "/notificationDestination"),
        ({**_details(csr), "supportedFeatures": "xyz"}, "/supportedFeatures"),
        ({"notificationDestination": "http://a.example/cb"}, "/onboardingInformation"),
        ({**_details(csr), "notificationDestination": "ftp://a"}, "/notificationDestination"),
    ]
    for details, pointer in cases:
        status, body, _ = await capif.call("POST", INVOKERS, json=details, headers=bearer)
        assert status == 400, body
        assert pointer in {p["param"] for p in body["invalidParams"]}, body
        SPEC.check("/onboardedInvokers", "post", 400, body)
        await official_check(INVOKER_API, "/onboardedInvokers", "POST", 400, body)
    # A bare SPKI public key is certified as well, and the token still works after the 400s.
    key, _ = new_csr()
    spki = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    status, body, _ = await capif.call(
        "POST", INVOKERS, json=_details(spki.decode()), headers=bearer
    )
    assert status == 201, body
    cert = x509.load_pem_x509_certificate(
        body["onboardingInformation"]["apiInvokerCertificate"].encode()
    )
    assert cert.public_key() == key.public_key()


async def test_a_new_key_renews_the_certificate_and_revokes_the_old(
    capif: CapifPlatform,
) -> None:
    invoker_id, holder, details = await capif.onboard()
    one = f"{INVOKERS}/{invoker_id}"
    new_key, new_csr_pem = new_csr()
    details["onboardingInformation"] = {"apiInvokerPublicKey": new_csr_pem}
    status, body, _ = await capif.call("PUT", one, holder=holder, json=details)
    assert status == 200, body
    renewed = Holder(new_key, body["onboardingInformation"]["apiInvokerCertificate"])
    assert renewed.certificate.serial_number != holder.certificate.serial_number
    assert renewed.certificate.public_key() == new_key.public_key()
    status, body, _ = await capif.call("PUT", one, holder=holder, json=details)
    assert status == 401, body
    assert body["cause"] == "CERTIFICATE_REVOKED"
    status, body, _ = await capif.call("PUT", one, holder=renewed, json=details)
    assert status == 200, body
    # A PUT naming another id in its body is refused.
    status, body, _ = await capif.call(
        "PUT", one, holder=renewed, json={**details, "apiInvokerId": "INVother"}
    )
    assert status == 400, body
    assert body["invalidParams"][0]["param"] == "/apiInvokerId"


async def test_a_provider_function_certificate_is_refused_on_invoker_routes(
    capif: CapifPlatform,
) -> None:
    invoker_id, _, details = await capif.onboard()
    _, functions = await capif.register(("AMF",))
    status, body, _ = await capif.call(
        "PUT", f"{INVOKERS}/{invoker_id}", holder=functions["AMF"], json=details
    )
    assert status == 403, body


async def test_a_certificate_from_another_ca_fails_the_handshake(
    capif: CapifPlatform, tmp_path: Path
) -> None:
    from mep.core.ca import CertificateAuthority

    other_ca = await asyncio.to_thread(CertificateAuthority.load_or_create, tmp_path / "other")
    key, csr = new_csr()
    invoker_id, _, details = await capif.onboard()
    forged = other_ca.certify_csr(csr, common_name=invoker_id, sans=[], usage="client")
    holder = Holder(key, forged.public_bytes(serialization.Encoding.PEM).decode())
    with pytest.raises((aiohttp.ClientError, ssl.SSLError)):
        await capif.call("PUT", f"{INVOKERS}/{invoker_id}", holder=holder, json=details)


async def test_double_slash_paths_and_the_operator_guard(capif: CapifPlatform) -> None:
    token = (await capif.enrol("invoker"))["onboardingToken"]
    status, body, _ = await capif.call(
        "POST",
        f"/{INVOKERS}",
        json=_details(new_csr()[1]),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert status == 201, body
    status, body, _ = await capif.call("POST", ENROLMENTS, json={"role": "invoker"})
    assert status == 401, body
    for bad in ({"role": "admin"}, {"role": "invoker", "ttl": 7 * 86400 + 1}, {"ttl": 5}):
        status, body, _ = await capif.call("POST", ENROLMENTS, json=bad, headers=OPERATOR)
        assert status == 400, body
