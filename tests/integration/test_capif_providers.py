"""CAPIF API provider domain registration over real TLS (TS 29.222 clause 8.9): one certificate
per function in request order, management by the domain's AMF only, revocation on removal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fixtures.capif import (
    PROVIDER_API,
    REGISTRATIONS,
    CapifPlatform,
    Holder,
    capif_on,
    new_csr,
    official_check,
)
from fixtures.openapi import OpenApiDocument

SPEC = OpenApiDocument("capif-api-provider-management.yaml")
ONE = "/registrations/{registrationId}"
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture(params=["sqlite", "redis"])
async def capif(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CapifPlatform]:
    async with capif_on(request.param, tmp_path) as platform:
        yield platform


def _funcs(
    roles: tuple[str, ...],
) -> tuple[list[ec.EllipticCurvePrivateKey], list[dict[str, object]]]:
    """Each function's key, and the ``apiProvFuncs`` carrying their CSRs."""
    keys_and_csrs = [new_csr() for _ in roles]
    funcs: list[dict[str, object]] = [
        {"apiProvFuncRole": role, "regInfo": {"apiProvPubKey": csr}, "apiProvFuncInfo": f"#{i}"}
        for i, (role, (_, csr)) in enumerate(zip(roles, keys_and_csrs, strict=True))
    ]
    return [key for key, _ in keys_and_csrs], funcs


async def test_register_three_functions_and_manage_with_the_amf(capif: CapifPlatform) -> None:
    reg_sec = (await capif.enrol("provider"))["regSec"]
    roles = ("AEF", "APF", "AMF")
    keys, funcs = _funcs(roles)
    status, body, response = await capif.call(
        "POST", REGISTRATIONS, json={"regSec": reg_sec, "apiProvFuncs": funcs, "suppFeat": "0"}
    )
    assert status == 201, body
    SPEC.check("/registrations", "post", 201, body)
    await official_check(PROVIDER_API, "/registrations", "POST", 201, body)
    registration_id = body["apiProvDomId"]
    assert response.headers["Location"] == f"{capif.tls_url}{REGISTRATIONS}/{registration_id}"
    assert body["regSec"] == reg_sec
    assert [f["apiProvFuncRole"] for f in body["apiProvFuncs"]] == list(roles)
    assert [f["apiProvFuncInfo"] for f in body["apiProvFuncs"]] == ["#0", "#1", "#2"]
    holders: dict[str, Holder] = {}
    for role, func, key in zip(roles, body["apiProvFuncs"], keys, strict=True):
        func_id = func["apiProvFuncId"]
        assert func_id.startswith(role)
        assert len(func_id) == 33
        cert = x509.load_pem_x509_certificate(func["regInfo"]["apiProvCert"].encode())
        cert.verify_directly_issued_by(capif.deps.ca.certificate)
        assert cert.public_key() == key.public_key()  # in request order
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == func_id
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
            f"urn:mep:capif:{role.lower()}:{func_id}"
        ]
        holders[role] = Holder(key, func["regInfo"]["apiProvCert"])

    one = f"{REGISTRATIONS}/{registration_id}"
    patch = {"apiProvDomInfo": "edge domain"}
    status, patched, _ = await capif.call(
        "PATCH", one, holder=holders["AMF"], json=patch, headers=MERGE_PATCH
    )
    assert status == 200, patched
    SPEC.check(ONE, "patch", 200, patched)
    await official_check(PROVIDER_API, one, "PATCH", 200, patched)
    assert patched["apiProvDomInfo"] == "edge domain"
    assert patched["apiProvFuncs"] == body["apiProvFuncs"]  # same keys: same certificates
    for role in ("AEF", "APF"):
        status, problem, _ = await capif.call(
            "PATCH", one, holder=holders[role], json=patch, headers=MERGE_PATCH
        )
        assert status == 403, problem
        await official_check(PROVIDER_API, one, "PATCH", 403, problem)
    status, problem, _ = await capif.call("PATCH", one, json=patch, headers=MERGE_PATCH)
    assert status == 401, problem
    await official_check(PROVIDER_API, one, "PATCH", 401, problem)
    _, invoker, _ = await capif.onboard()
    status, problem, _ = await capif.call("DELETE", one, holder=invoker)
    assert status == 403, problem
    _, others = await capif.register(("AMF",))
    status, problem, _ = await capif.call("DELETE", one, holder=others["AMF"])
    assert status == 403, problem

    # PUT drops the APF and renews the AEF's key: both old certificates stop at once.
    new_key, new_csr_pem = new_csr()
    funcs_now = [dict(f) for f in patched["apiProvFuncs"]]
    aef, _, amf = funcs_now
    aef["regInfo"] = {"apiProvPubKey": new_csr_pem}
    status, replaced, _ = await capif.call(
        "PUT", one, holder=holders["AMF"], json={**patched, "apiProvFuncs": [aef, amf]}
    )
    assert status == 200, replaced
    SPEC.check(ONE, "put", 200, replaced)
    await official_check(PROVIDER_API, one, "PUT", 200, replaced)
    assert [f["apiProvFuncId"] for f in replaced["apiProvFuncs"]] == [
        aef["apiProvFuncId"],
        amf["apiProvFuncId"],
    ]
    renewed = Holder(new_key, replaced["apiProvFuncs"][0]["regInfo"]["apiProvCert"])
    for gone in (holders["APF"], holders["AEF"]):
        status, problem, _ = await capif.call("DELETE", one, holder=gone)
        assert status == 401, problem
        assert problem["cause"] == "CERTIFICATE_REVOKED"
    status, problem, _ = await capif.call("DELETE", one, holder=renewed)
    assert status == 403, problem  # a live AEF: the wrong role

    status, _, _ = await capif.call("DELETE", one, holder=holders["AMF"])
    assert status == 204
    for gone in (holders["AMF"], renewed):
        status, problem, _ = await capif.call("PATCH", one, holder=gone, json=patch)
        assert status == 401, problem


async def test_regsec_is_single_use_and_may_come_as_a_bearer(capif: CapifPlatform) -> None:
    reg_sec = (await capif.enrol("provider"))["regSec"]
    _, funcs = _funcs(("AMF", "AEF"))
    status, body, _ = await capif.call(
        "POST",
        REGISTRATIONS,
        json={"apiProvFuncs": funcs},
        headers={"Authorization": f"Bearer {reg_sec}"},
    )
    assert status == 201, body
    status, body, _ = await capif.call(
        "POST", REGISTRATIONS, json={"regSec": reg_sec, "apiProvFuncs": funcs}
    )
    assert status == 401, body
    SPEC.check("/registrations", "post", 401, body)
    invoker_token = (await capif.enrol("invoker"))["onboardingToken"]
    status, body, _ = await capif.call(
        "POST", REGISTRATIONS, json={"regSec": invoker_token, "apiProvFuncs": funcs}
    )
    assert status == 401, body

    fresh = (await capif.enrol("provider"))["regSec"]
    results = await asyncio.gather(
        *(
            capif.call("POST", REGISTRATIONS, json={"regSec": fresh, "apiProvFuncs": funcs})
            for _ in range(3)
        )
    )
    assert sorted(status for status, _, _ in results) == [201, 401, 401]


async def test_bad_registrations_name_the_field(capif: CapifPlatform) -> None:
    reg_sec = (await capif.enrol("provider"))["regSec"]
    _, funcs = _funcs(("AEF", "AMF"))
    cases = [
        ({"apiProvFuncs": [funcs[0], {**funcs[1], "regInfo": {"apiProvPubKey": "nope"}}]},
         "/apiProvFuncs/1/regInfo/apiProvPubKey"),
        ({"apiProvFuncs": [{**funcs[0], "apiProvFuncRole": "XYZ"}, funcs[1]]},
         "/apiProvFuncs/0/apiProvFuncRole"),
        ({"apiProvFuncs": [funcs[0]]}, "/apiProvFuncs"),
        ({"apiProvFuncs": [{"apiProvFuncRole": "AMF"}]}, "/apiProvFuncs/0/regInfo"),
        ({"apiProvFuncs": funcs, "suppFeat": "zz"}, "/suppFeat"),
    ]  # fmt: skip
    for details, pointer in cases:
        status, body, _ = await capif.call(
            "POST", REGISTRATIONS, json={"regSec": reg_sec, **details}
        )
        assert status == 400, body
        assert pointer in {p["param"] for p in body["invalidParams"]}, body
        SPEC.check("/registrations", "post", 400, body)
        await official_check(PROVIDER_API, "/registrations", "POST", 400, body)
    status, body, _ = await capif.call(
        "POST", REGISTRATIONS, json={"regSec": reg_sec, "apiProvFuncs": funcs}
    )
    assert status == 201, body  # the 400s left the regSec unspent


async def test_updates_keep_an_amf_and_known_ids(capif: CapifPlatform) -> None:
    body, holders = await capif.register(("AMF", "AEF"))
    one = f"{REGISTRATIONS}/{body['apiProvDomId']}"
    amf, aef = body["apiProvFuncs"]
    status, problem, _ = await capif.call(
        "PATCH", one, holder=holders["AMF"], json={"apiProvFuncs": [aef]}, headers=MERGE_PATCH
    )
    assert status == 400, problem
    assert problem["invalidParams"][0]["param"] == "/apiProvFuncs"
    unknown = {**aef, "apiProvFuncId": "AEFunknown"}
    status, problem, _ = await capif.call(
        "PATCH", one, holder=holders["AMF"], json={"apiProvFuncs": [amf, unknown]}
    )
    assert status == 400, problem
    assert problem["invalidParams"][0]["param"] == "/apiProvFuncs/1/apiProvFuncId"
    # A new function (no id) is added with its own certificate; the AEF is kept as it was.
    _, csr = new_csr()
    added = {"apiProvFuncRole": "APF", "regInfo": {"apiProvPubKey": csr}}
    status, patched, _ = await capif.call(
        "PATCH", one, holder=holders["AMF"], json={"apiProvFuncs": [amf, aef, added]}
    )
    assert status == 200, patched
    assert patched["apiProvFuncs"][:2] == [amf, aef]
    assert patched["apiProvFuncs"][2]["apiProvFuncId"].startswith("APF")
    assert patched["regSec"] == ""
