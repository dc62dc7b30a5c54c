"""``mep run`` over real TLS: a provider and an invoker are enrolled by the operator, the
provider publishes, the invoker onboards, discovers, negotiates security, gets a token and
calls the Location API through the gateway; auditing and charging show exactly that call;
offboarding stops the token at once. And a SIGKILL in a burst of gateway calls loses no record
of a call that was answered 2xx."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fixtures.capif import Holder, aef_profile, client_context, new_csr, service_api
from fixtures.platform import RunningPlatform

pytestmark = pytest.mark.e2e

ZONES = "/location/v2/queries/zones"


@dataclass
class Walk:
    """The platform's TLS address, its CA, and the operator's token."""

    running: RunningPlatform
    ca_pem: str

    @property
    def operator(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.running.operator_token}"}

    async def call(
        self, method: str, path: str, *, holder: Holder | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        context = await asyncio.to_thread(client_context, self.ca_pem, holder)
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http,
            http.request(
                method, f"{self.running.tls_url}{path}", ssl=context, **kwargs
            ) as response,
        ):
            text = await response.text()
            return response.status, (await response.json(content_type=None) if text else None)

    async def enrol(self, role: str) -> dict[str, Any]:
        status, body = await self.call(
            "POST", "/mep_mgmt/v1/capif/enrolments", json={"role": role}, headers=self.operator
        )
        assert status == 201, body
        return dict(body)


async def _started(tmp_path: Path) -> Walk:
    running = RunningPlatform(tmp_path / "var")
    await running.start()
    ca_pem = await asyncio.to_thread((running.data_dir / "ca" / "ca.pem").read_text)
    return Walk(running, ca_pem)


async def _provider_publishes(walk: Walk) -> str:
    reg_sec = (await walk.enrol("provider"))["regSec"]
    csrs = {role: new_csr() for role in ("AEF", "APF", "AMF")}
    registration = {
        "regSec": reg_sec,
        "apiProvFuncs": [
            {"apiProvFuncRole": role, "regInfo": {"apiProvPubKey": csr}}
            for role, (_, csr) in csrs.items()
        ],
    }
    status, body = await walk.call(
        "POST", "/api-provider-management/v1/registrations", json=registration
    )
    assert status == 201, body
    funcs = {f["apiProvFuncRole"]: f for f in body["apiProvFuncs"]}
    apf = Holder(csrs["APF"][0], funcs["APF"]["regInfo"]["apiProvCert"])
    apf_id, aef_id = funcs["APF"]["apiProvFuncId"], funcs["AEF"]["apiProvFuncId"]
    status, body = await walk.call(
        "POST",
        f"/published-apis/v1/{apf_id}/service-apis",
        holder=apf,
        json=service_api("weather", aef_profile(aef_id)),
    )
    assert status == 201, body
    return str(body["apiId"])


async def _invoker_gets_a_token(walk: Walk) -> tuple[str, Holder, str]:
    """Onboard with a CSR, discover Location, negotiate OAUTH, get a token."""
    enrolment = await walk.enrol("invoker")
    key, csr = new_csr()
    status, body = await walk.call(
        "POST",
        "/api-invoker-management/v1/onboardedInvokers",
        json={
            "notificationDestination": "http://127.0.0.1:9/callbacks",
            "onboardingInformation": {"apiInvokerPublicKey": csr},
            "supportedFeatures": "0",
        },
        headers={"Authorization": f"Bearer {enrolment['onboardingToken']}"},
    )
    assert status == 201, body
    invoker_id = body["apiInvokerId"]
    holder = Holder(key, body["onboardingInformation"]["apiInvokerCertificate"])

    status, body = await walk.call(
        "GET",
        "/service-apis/v1/allServiceAPIs",
        holder=holder,
        params={"api-invoker-id": invoker_id, "api-name": "location"},
    )
    assert status == 200, body
    (location,) = body["serviceAPIDescriptions"]
    (profile,) = location["aefProfiles"]
    assert {"OAUTH", "PKI"} <= set(profile["securityMethods"])

    context = {
        "notificationDestination": "http://127.0.0.1:9/security",
        "supportedFeatures": "0",
        "securityInfo": [
            {
                "aefId": profile["aefId"],
                "apiId": location["apiId"],
                "prefSecurityMethods": ["OAUTH"],
            }
        ],
    }
    status, body = await walk.call(
        "PUT", f"/capif-security/v1/trustedInvokers/{invoker_id}", holder=holder, json=context
    )
    assert status == 201, body
    assert body["securityInfo"][0]["selSecurityMethod"] == "OAUTH"

    form = {
        "grant_type": "client_credentials",
        "client_id": invoker_id,
        "client_secret": "string",
        "scope": f"3gpp#{profile['aefId']}:location",
    }
    status, body = await walk.call(
        "POST", f"/capif-security/v1/securities/{invoker_id}/token", holder=holder, data=form
    )
    assert status == 200, body
    return invoker_id, holder, str(body["access_token"])


async def test_the_whole_capif_walk_ends_in_one_audited_and_charged_call(tmp_path: Path) -> None:
    walk = await _started(tmp_path)
    try:
        await _provider_publishes(walk)
        invoker_id, holder, access = await _invoker_gets_a_token(walk)
        bearer = {"Authorization": f"Bearer {access}"}

        status, body = await walk.call("GET", ZONES, headers=bearer)
        assert status == 200, body

        status, audit = await walk.call(
            "GET",
            "/logs/v1/apiInvocationLogs",
            headers=walk.operator,
            params={"api-invoker-id": invoker_id},
        )
        assert status == 200, audit
        (log,) = audit["logs"]
        assert (log["apiName"], log["resourceName"], log["operation"], log["result"]) == (
            "location",
            "queries/zones",
            "GET",
            "200",
        )
        status, charged = await walk.call(
            "GET", "/charging/v1/records", headers=walk.operator, params={"payer": invoker_id}
        )
        assert status == 200, charged
        (record,) = charged["records"]
        assert (record["apiName"], record["calls"], record["successes"]) == ("location", 1, 1)

        status, _ = await walk.call(
            "DELETE", f"/api-invoker-management/v1/onboardedInvokers/{invoker_id}", holder=holder
        )
        assert status == 204
        status, body = await walk.call("GET", ZONES, headers=bearer)
        assert status == 401, body
    finally:
        await walk.running.stop()


async def _burst(url: str, bearer: dict[str, str], context: ssl.SSLContext) -> set[int]:
    """Calls with distinct nonces until the connection breaks; the nonces answered 2xx."""
    answered: set[int] = set()
    nonce = iter(range(10**9))

    async def worker(http: aiohttp.ClientSession) -> None:
        while True:
            n = next(nonce)
            try:
                async with http.get(
                    f"{url}{ZONES}", params={"nonce": str(n)}, headers=bearer, ssl=context
                ) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        answered.add(n)
            except (TimeoutError, aiohttp.ClientError):
                return

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        await asyncio.gather(*(worker(http) for _ in range(8)))
    return answered


async def test_a_sigkill_in_a_burst_loses_no_record_of_an_answered_call(tmp_path: Path) -> None:
    walk = await _started(tmp_path)
    try:
        invoker_id, _, access = await _invoker_gets_a_token(walk)
        context = await asyncio.to_thread(client_context, walk.ca_pem, None)
        burst = asyncio.create_task(
            _burst(walk.running.tls_url, {"Authorization": f"Bearer {access}"}, context)
        )
        await asyncio.sleep(1.5)
        await walk.running.kill()
        answered = await burst
        assert len(answered) > 10, "the burst should have had calls answered before the kill"

        await walk.running.start()
        status, audit = await walk.call(
            "GET",
            "/logs/v1/apiInvocationLogs",
            headers=walk.operator,
            params={"api-invoker-id": invoker_id},
        )
        assert status == 200, audit
        recorded = {
            int(log["uri"].rsplit("nonce=", 1)[1])
            for log in audit["logs"]
            if log["result"].startswith("2") and "nonce=" in log["uri"]
        }
        assert answered <= recorded, f"answered but not recorded: {sorted(answered - recorded)}"
    finally:
        await walk.running.stop()
