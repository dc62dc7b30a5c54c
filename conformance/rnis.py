"""The scripted RNIS scenario (GS MEC 012): every operation of ``/rni/v2`` against a platform.

The operator creates an application instance (``/mep_mgmt/v1``), which gets its token and then
calls every query (with filters and error cases) and every subscription operation for the nine
subscription types: create, list (by type), read, replace (with a current and a stale
``If-Match``), delete, the required filters, a TestNotification and an ExpiryNotification
delivered to a local callback server. Each answer is checked against the official MEC 012 file
and our own document. The queries adapt to the network the platform serves (a simulator's, or
an empty one): what it has decides between 200 and 404 where the specification leaves no other
choice. The instance, and with it its subscriptions, is deleted at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from pathlib import Path
from typing import Any

import aiohttp

from conformance.callbacks import CallbackServer, of_type
from conformance.mp1 import Options
from conformance.mp1_app_support import last_segment
from conformance.mp1_context import MGMT_INSTANCE, TOKEN_ENDPOINT, UNKNOWN, now_plus
from conformance.reference import ReferenceDocument
from conformance.runner import Api, Caller, Row, Runner

REPOSITORY = Path(__file__).resolve().parents[1]
SPECS = REPOSITORY / "specs"
REFERENCE_FILE = "MEC012_RniAPI.yaml"

RAB_INFO = "/queries/rab_info"
PLMN_INFO = "/queries/plmn_info"
S1_BEARER_INFO = "/queries/s1_bearer_info"
LAYER2_MEAS = "/queries/layer2_meas"
SUBSCRIPTIONS = "/subscriptions"
SUBSCRIPTION = "/subscriptions/{subscriptionId}"
CALLBACK = "rnis"
#: An E-UTRAN cell identity no scenario uses (28 bits, all ones).
NO_CELL = "FFFFFFF"
#: TEST-NET-3 (RFC 5737): never a UE's address.
NO_UE = "203.0.113.254"
#: Seconds the nine subscriptions listen to the network before they are read and deleted.
OBSERVE = 3.0


def apis(reference: Path) -> tuple[Api, Api]:
    def own(name: str) -> ReferenceDocument:
        return ReferenceDocument.load(SPECS / f"{name}.yaml")

    mgmt = Api("mep-mgmt", "", own("mep-mgmt"))
    rnis = Api(
        "mec012-rnis",
        "/rni/v2",
        own("mec012-rnis"),
        ReferenceDocument.load(reference / REFERENCE_FILE),
    )
    return mgmt, rnis


def bodies(callback: str, instance_id: str, ue: str, cell: dict[str, Any]) -> dict[str, Any]:
    """One subscription of each type, filtered on one UE or one cell of the network."""
    who = [{"type": 1, "value": ue}]
    common = {"callbackReference": callback}
    return {
        "CellChangeSubscription": {
            **common,
            "filterCriteriaAssocHo": {"appInstanceId": instance_id, "associateId": who},
        },
        "RabEstSubscription": {**common, "filterCriteriaQci": {"qci": 9, "ecgi": [cell]}},
        "RabModSubscription": {**common, "filterCriteriaQci": {"qci": 9, "erabId": 5}},
        "RabRelSubscription": {**common, "filterCriteriaQci": {"qci": 9, "erabId": 5}},
        "MeasRepUeSubscription": {
            **common,
            "filterCriteriaAssocTri": {"associateId": who, "trigger": [1, 12]},
        },
        "NrMeasRepUeSubscription": {**common, "filterCriteriaNrMrs": {"associateId": who}},
        "MeasTaSubscription": {**common, "filterCriteriaAssoc": {"associateId": who}},
        "CaReconfSubscription": {**common, "filterCriteriaAssoc": {"ecgi": [cell]}},
        "S1BearerSubscription": {
            **common,
            "S1BearerSubscriptionCriteria": {"associateId": who},
            "eventType": [1, 2, 3],
        },
    }


async def create_instance(run: Runner, mgmt: Api, options: Options, instance_id: str) -> str:
    """The operator creates the instance; answers its access token ("" when that failed)."""
    created = await run.call(
        mgmt,
        "PUT",
        MGMT_INSTANCE,
        case="create instance",
        expect=201,
        token=options.operator_token,
        ids={"appInstanceId": instance_id},
        body={"appName": "conformance-rnis", "appProvider": "conformance"},
    )
    secret = created.member("clientSecret")
    if not isinstance(secret, str):
        return ""
    auth = aiohttp.BasicAuth(str(created.member("clientId", instance_id)), secret)
    granted = await run.call(
        mgmt,
        "POST",
        TOKEN_ENDPOINT,
        case="token",
        expect=200,
        raw=(b"grant_type=client_credentials", "application/x-www-form-urlencoded"),
        headers={"Authorization": auth.encode()},
    )
    token = granted.member("access_token")
    return token if isinstance(token, str) else ""


async def queries(app: Caller, instance_id: str) -> tuple[str, dict[str, Any]]:
    """Every query; answers a UE (IPv4) and a cell (Ecgi) of the network, or made-up ones."""
    l2 = await app("GET", LAYER2_MEAS, "whole network", 200)
    cells = l2.member("cellInfo") or []
    cell: dict[str, Any] = (
        cells[0]["ecgi"] if cells else {"cellId": NO_CELL, "plmn": {"mcc": "001", "mnc": "01"}}
    )
    rab = await app("GET", RAB_INFO, "whole network", 200, params=[("app_ins_id", instance_id)])
    users = [u for c in rab.member("cellUserInfo") or [] for u in c.get("ueInfo", [])]
    ue = users[0]["associateId"][0]["value"] if users else NO_UE
    have_ue = bool(users)
    if cells:
        await app("GET", LAYER2_MEAS, "by cell", 200, params=[("cell_id", cell["cellId"])])
        await app("GET", RAB_INFO, "by cell", 200, params=[("cell_id", cell["cellId"])])
    await app("GET", LAYER2_MEAS, "unknown cell -> 404", 404, params=[("cell_id", NO_CELL)])
    await app("GET", RAB_INFO, "unknown cell -> 404", 404, params=[("cell_id", NO_CELL)])
    await app("GET", RAB_INFO, "unknown UE -> 404", 404, params=[("ue_ipv4_address", NO_UE)])
    await app("GET", RAB_INFO, "qci not a number -> 400", 400, params=[("qci", "nine")])
    if have_ue:
        await app("GET", RAB_INFO, "by UE", 200, params=[("ue_ipv4_address", ue)])
        await app("GET", LAYER2_MEAS, "by UE", 200, params=[("ue_ipv4_address", ue)])
    plmn = [("app_ins_id", instance_id)]
    await app("GET", PLMN_INFO, "own instance", 200 if cells else 404, params=plmn)
    await app("GET", PLMN_INFO, "no app_ins_id -> 400", 400)
    await app("GET", PLMN_INFO, "unknown instance -> 404", 404, params=[("app_ins_id", UNKNOWN)])
    await app("GET", S1_BEARER_INFO, "whole network", 200 if have_ue else 404)
    if have_ue:
        await app("GET", S1_BEARER_INFO, "by UE", 200, params=[("ue_ipv4_address", ue)])
    await app("GET", S1_BEARER_INFO, "unknown UE -> 404", 404, params=[("ue_ipv4_address", NO_UE)])
    return ue, cell


async def subscriptions(
    app: Caller, callbacks: CallbackServer, wait: float, instance_id: str, ue: str, cell: Any
) -> None:
    """Every subscription operation, each of the nine types."""
    created: dict[str, str] = {}
    for kind, body in bodies(callbacks.url(CALLBACK), instance_id, ue, cell).items():
        reply = await app("POST", SUBSCRIPTIONS, kind, 201, body={"subscriptionType": kind, **body})
        if reply.headers.get("Location"):
            created[kind] = last_segment(reply.headers.get("Location"))
    # The network's own events reach these subscriptions meanwhile (see events_seen).
    await asyncio.sleep(min(wait, OBSERVE))
    await app("GET", SUBSCRIPTIONS, "all", 200)
    await app("GET", SUBSCRIPTIONS, "by type", 200, params=[("subscription_type", "cell_change")])
    await app("GET", SUBSCRIPTIONS, "unknown type -> 400", 400, params=[("subscription_type", "x")])
    no_filter = {"subscriptionType": "RabEstSubscription", "callbackReference": "http://a/b"}
    await app("POST", SUBSCRIPTIONS, "no filterCriteriaQci -> 400", 400, body=no_filter)
    await app("GET", SUBSCRIPTION, "unknown -> 404", 404, ids={"subscriptionId": UNKNOWN})
    for kind, subscription_id in created.items():
        ids = {"subscriptionId": subscription_id}
        got = await app("GET", SUBSCRIPTION, kind, 200, ids=ids)
        if not isinstance(got.body, dict):
            continue
        tag = got.headers.get("ETag", '"1"')
        await app("PUT", SUBSCRIPTION, f"{kind}, If-Match", 200, ids=ids, body=got.body,
                  headers={"If-Match": tag})  # fmt: skip
        await app("PUT", SUBSCRIPTION, f"{kind}, stale If-Match -> 412", 412, ids=ids,
                  body=got.body, headers={"If-Match": tag})  # fmt: skip
        await app("DELETE", SUBSCRIPTION, kind, 204, ids=ids)
    await expiry_and_test(app, callbacks, wait, ue)


async def expiry_and_test(app: Caller, callbacks: CallbackServer, wait: float, ue: str) -> None:
    since = len(callbacks.received)
    body = {
        "subscriptionType": "MeasTaSubscription",
        "callbackReference": callbacks.url(CALLBACK),
        "filterCriteriaAssoc": {"associateId": [{"type": 1, "value": ue}]},
        "requestTestNotification": True,
        "expiryDeadline": now_plus(min(2.0, wait / 2)),
    }
    await app("POST", SUBSCRIPTIONS, "test notification and expiry", 201, body=body)
    test = await callbacks.wait_for(of_type(CALLBACK, "TestNotification"), within=wait, since=since)
    app.runner.notification(
        app.api, "TestNotification", test.body if test else None, case="requestTestNotification"
    )
    expiry = await callbacks.wait_for(
        of_type(CALLBACK, "ExpiryNotification"), within=wait + 2.0, since=since
    )
    app.runner.notification(
        app.api,
        "ExpiryNotification",
        expiry.body if expiry else None,
        case="at expiryDeadline",
        reference_schema="ExpiryNotification",
    )


NOTIFICATIONS = (
    "CellChangeNotification",
    "RabEstNotification",
    "RabModNotification",
    "RabRelNotification",
    "MeasRepUeNotification",
    "NrMeasRepUeNotification",
    "MeasTaNotification",
    "CaReconfNotification",
    "S1BearerNotification",
)


def events_seen(run: Runner, rnis: Api, callbacks: CallbackServer) -> None:
    """The first notification of each type the network's own events caused while the
    subscriptions lived (a simulator's network moves by itself; a static one never does)."""
    seen: set[str] = set()
    for notification in callbacks.received:
        body = notification.body
        kind = body.get("notificationType") if isinstance(body, dict) else None
        if kind in NOTIFICATIONS and kind not in seen:
            seen.add(kind)
            run.notification(rnis, kind, body, case="from the network", reference_schema=kind)


async def run_rnis(options: Options) -> list[Row]:
    """Play the scenario; one row per check."""
    mgmt, rnis = apis(options.reference)
    callbacks = CallbackServer()
    await callbacks.start()
    instance_id = f"conformance-{secrets.token_hex(4)}-rnis"
    timeout = aiohttp.ClientTimeout(total=max(30.0, options.wait * 4))
    async with aiohttp.ClientSession(timeout=timeout) as http:
        run = Runner(http, options.base_url)
        try:
            token = await create_instance(run, mgmt, options, instance_id)
            if not token:
                run.fail("setup", "instance and token", "no access token for the instance")
                return run.rows
            await run.caller(rnis, None)("GET", RAB_INFO, "no token -> 401", 401)
            app = run.caller(rnis, token)
            ue, cell = await queries(app, instance_id)
            await subscriptions(app, callbacks, options.wait, instance_id, ue, cell)
            events_seen(run, rnis, callbacks)
        finally:
            url = f"{options.base_url.rstrip('/')}/mep_mgmt/v1/app_instances/{instance_id}"
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.delete(
                    url, headers={"Authorization": f"Bearer {options.operator_token}"}
                ):
                    pass
            await callbacks.stop()
    return run.rows
