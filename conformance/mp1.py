"""The scripted Mp1 scenario: two application instances exercise both MEC 011 APIs.

The operator creates a producer and a consumer instance (``/mep_mgmt/v1``), each gets its
token, then every operation of the application support and service management APIs is called,
error cases included, with the notifications they cause delivered to a local callback server.
Deleting the producer at the end plays the termination handshake. Whatever the outcome, the
instances are deleted again.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from conformance.callbacks import CallbackServer, of_type
from conformance.mp1_app_support import CONFIRM_TERMINATION, TERMINATION_CALLBACK, app_support
from conformance.mp1_context import MGMT_INSTANCE, TOKEN_ENDPOINT, Mp1, dns_rule, traffic_rule
from conformance.mp1_service_mgmt import service_mgmt
from conformance.reference import ReferenceDocument
from conformance.runner import Api, Row, Runner

REPOSITORY = Path(__file__).resolve().parents[1]
SPECS = REPOSITORY / "specs"
DEFAULT_REFERENCE = REPOSITORY.parent / "shared" / "reference" / "etsi-mec"
REFERENCE_FILES = {
    "mec011-app-support": "MEC011_AppSupportAPI.yaml",
    "mec011-service-mgmt": "MEC011_ServiceMgmtAPI.yaml",
}


@dataclass(frozen=True)
class Options:
    base_url: str
    operator_token: str
    reference: Path = DEFAULT_REFERENCE
    wait: float = 5.0


def apis(reference: Path) -> tuple[Api, Api, Api]:
    """The operator API, application support and service management, with their documents."""

    def own(name: str) -> ReferenceDocument:
        return ReferenceDocument.load(SPECS / f"{name}.yaml")

    mgmt = Api("mep-mgmt", "", own("mep-mgmt"))
    support = Api(
        "mec011-app-support",
        "/mec_app_support/v1",
        own("mec011-app-support"),
        ReferenceDocument.load(reference / REFERENCE_FILES["mec011-app-support"]),
    )
    services = Api(
        "mec011-service-mgmt",
        "/mec_service_mgmt/v1",
        own("mec011-service-mgmt"),
        ReferenceDocument.load(reference / REFERENCE_FILES["mec011-service-mgmt"]),
    )
    return mgmt, support, services


class SetupFailed(Exception):
    """The scenario cannot go on (no instance or no token); the table says why."""


async def create_instance(m: Mp1, instance_id: str, role: str) -> str:
    """PUT an instance (its rules declared by the operator); answers its access token."""
    first, second = m.service_names
    spec = {
        "appName": f"conformance-{role}",
        "appProvider": "conformance",
        "trafficRules": [traffic_rule()],
        # One domain name per instance: a name is one instance's (409 otherwise).
        "dnsRules": [dns_rule(m.tag if role == "producer" else f"{m.tag}-{role}")],
        "appServiceProduced": [first, second] if role == "producer" else [],
        "appServiceRequired": [first] if role == "consumer" else [],
        "gracefulTerminationTimeout": max(1, int(m.wait * 2)),
    }
    created = await m.run.call(
        m.mgmt,
        "PUT",
        MGMT_INSTANCE,
        case=f"create {role}",
        expect=201,
        token=m.operator,
        ids={"appInstanceId": instance_id},
        body=spec,
    )
    secret = created.member("clientSecret")
    if not isinstance(secret, str):
        raise SetupFailed(f"no clientSecret for the {role}")
    auth = aiohttp.BasicAuth(str(created.member("clientId", instance_id)), secret)
    granted = await m.run.call(
        m.mgmt,
        "POST",
        TOKEN_ENDPOINT,
        case=f"{role} token",
        expect=200,
        raw=(b"grant_type=client_credentials", "application/x-www-form-urlencoded"),
        headers={"Authorization": auth.encode()},
    )
    token = granted.member("access_token")
    if not isinstance(token, str):
        raise SetupFailed(f"no access token for the {role}")
    return token


async def termination(m: Mp1) -> None:
    """The operator deletes the producer, which holds an AppTermination subscription: the
    platform notifies it and waits for confirm_termination (or maxGracefulTimeout)."""
    since = len(m.callbacks.received)
    deleting = asyncio.create_task(
        m.run.call(
            m.mgmt,
            "DELETE",
            MGMT_INSTANCE,
            case="terminate producer",
            expect=(202, 204),
            token=m.operator,
            ids={"appInstanceId": m.producer},
        )
    )
    got = await m.callbacks.wait_for(
        of_type(TERMINATION_CALLBACK, "AppTerminationNotification"), within=m.wait, since=since
    )
    m.run.notification(
        m.support,
        "AppTerminationNotification",
        got.body if got else None,
        case="on DELETE of the instance",
        reference_schema="AppTerminationNotification",
    )
    if got is not None and isinstance(got.body, dict):
        action = got.body.get("operationAction", "TERMINATING")
        await m.run.call(
            m.support,
            "POST",
            CONFIRM_TERMINATION,
            case="within the timeout",
            expect=204,
            token=m.producer_token,
            ids={"appInstanceId": m.producer},
            body={"operationAction": action},
        )
    deleted = await deleting
    if deleted.status in (202, 204):
        m.producer = ""


async def cleanup(http: aiohttp.ClientSession, options: Options, *instance_ids: str) -> None:
    """Delete what the scenario created, whatever state it got to (not part of the table)."""
    for instance_id in filter(None, instance_ids):
        url = f"{options.base_url.rstrip('/')}/mep_mgmt/v1/app_instances/{instance_id}"
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            async with http.delete(
                url, headers={"Authorization": f"Bearer {options.operator_token}"}
            ):
                pass


async def run_mp1(options: Options) -> list[Row]:
    """Play the scenario; one row per check."""
    mgmt, support, services = apis(options.reference)
    callbacks = CallbackServer()
    await callbacks.start()
    timeout = aiohttp.ClientTimeout(total=max(30.0, options.wait * 4))
    async with aiohttp.ClientSession(timeout=timeout) as http:
        m = Mp1(
            run=Runner(http, options.base_url),
            callbacks=callbacks,
            mgmt=mgmt,
            support=support,
            services=services,
            operator=options.operator_token,
            tag=secrets.token_hex(4),
            wait=options.wait,
        )
        # Named before they exist, so that the cleanup finds whatever got created.
        m.producer, m.consumer = f"conformance-{m.tag}-producer", f"conformance-{m.tag}-consumer"
        try:
            m.producer_token = await create_instance(m, m.producer, "producer")
            m.consumer_token = await create_instance(m, m.consumer, "consumer")
            await app_support(m)
            await service_mgmt(m)
            await termination(m)
        except SetupFailed as error:
            m.run.fail("setup", "instances and tokens", str(error))
        finally:
            await cleanup(http, options, m.producer, m.consumer)
            await callbacks.stop()
    return m.run.rows
