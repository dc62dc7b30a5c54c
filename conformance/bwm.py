"""The scripted BWM scenario (GS MEC 015 V2.1.1): every operation of ``/bwm/v1``.

The operator creates two application instances (``/mep_mgmt/v1``): the one under test, which
gets its token, and another one, for which the operator makes an allocation. The app creates
an application-specific and a session-specific allocation, lists them by each filter
(``app_instance_id``, ``app_name``, ``session_id``), reads one, replaces it (with a current and
a stale ``If-Match``), patches it with BwInfoDeltas, sends bad bodies, reaches for the other
instance's allocation (403) and for an unknown one (404), deletes its own, and calls without a
token. Each answer is checked against the official MEC 015 file and our own document. Both
instances, and with them their allocations, are deleted at the end.
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path
from typing import Any

import aiohttp

from conformance.mp1 import Options
from conformance.mp1_app_support import STALE, last_segment
from conformance.mp1_context import MGMT_INSTANCE, TOKEN_ENDPOINT, UNKNOWN
from conformance.reference import ReferenceDocument
from conformance.runner import Api, Caller, Reply, Row, Runner

REPOSITORY = Path(__file__).resolve().parents[1]
REFERENCE_FILE = "MEC015_BwManagementAPI.yaml"
MANY, ONE = "/bw_allocations", "/bw_allocations/{allocationId}"
#: One session, on TEST-NET addresses (RFC 5737): no real traffic is shaped.
SESSION = {"sourceIp": "192.0.2.7", "dstAddress": "198.51.100.5", "dstPort": ["443"],
           "protocol": "TCP"}  # fmt: skip


def apis(reference: Path) -> tuple[Api, Api]:
    mgmt = Api("mep-mgmt", "", ReferenceDocument.load(REPOSITORY / "specs" / "mep-mgmt.yaml"))
    bwm = Api(
        "mec015-bwm",
        "/bwm/v1",
        ReferenceDocument.load(REPOSITORY / "specs" / "mec015-bwm.yaml"),
        ReferenceDocument.load(reference / REFERENCE_FILE),
    )
    return mgmt, bwm


def allocation(instance_id: str, **fields: Any) -> dict[str, Any]:
    """An application-specific BwInfo: 10 Mbit/s downlink."""
    return {
        "appInsId": instance_id,
        "requestType": 0,
        "fixedAllocation": "10000000",
        "allocationDirection": "00",
        **fields,
    }


async def create_instance(
    run: Runner, mgmt: Api, options: Options, instance_id: str, app_name: str, *, token: bool
) -> str:
    """The operator creates the instance; answers its access token when asked for one ("" when
    that failed), else the instance id ("" when the instance was not created)."""
    created = await run.call(
        mgmt,
        "PUT",
        MGMT_INSTANCE,
        case=f"create {app_name}",
        expect=201,
        token=options.operator_token,
        ids={"appInstanceId": instance_id},
        body={"appName": app_name, "appProvider": "conformance"},
    )
    if not token:
        return instance_id if created.status == 201 else ""
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
    access = granted.member("access_token")
    return access if isinstance(access, str) else ""


def created_id(run: Runner, case: str, reply: Reply) -> str:
    """The id in the ``Location`` of a 201, which the body's ``allocationId`` must repeat."""
    if reply.status != 201:
        return ""
    found = last_segment(reply.headers.get("Location"))
    if reply.member("allocationId") != found:
        run.fail(f"POST {MANY}", case, f"allocationId is not the id in Location ({found})")
    return found


def listed(run: Runner, case: str, reply: Reply, wanted: set[str]) -> None:
    """A 200 list must hold exactly the ``wanted`` allocations."""
    if reply.status != 200:
        return
    items = reply.body if isinstance(reply.body, list) else []
    got = {item.get("allocationId") for item in items if isinstance(item, dict)}
    if got != wanted or len(items) != len(wanted):
        run.fail(f"GET {MANY}", case, f"listed {sorted(map(str, got))}, want {sorted(wanted)}")


def holds(run: Runner, operation: str, case: str, reply: Reply, **values: Any) -> None:
    """A 200 allocation must carry the ``values`` the request set (or kept)."""
    if reply.status != 200:
        return
    wrong = {k: reply.member(k) for k, v in values.items() if reply.member(k) != v}
    if wrong:
        run.fail(operation, case, f"got {wrong}, want {values}")


async def allocations(app: Caller, operator: Caller, mine: str, name: str, other: str) -> None:
    """Every operation, on the app's own allocations and on the other instance's one."""
    run = app.runner
    made = await app("POST", MANY, "application-specific", 201, body=allocation(mine))
    whole = created_id(run, "application-specific", made)
    session_body = allocation(mine, requestType=1, sessionFilter=[SESSION])
    made = await app("POST", MANY, "session-specific", 201, body=session_body)
    session = created_id(run, "session-specific", made)
    made = await operator("POST", MANY, "operator, for another instance", 201,
                          body=allocation(other))  # fmt: skip
    theirs = created_id(run, "operator, for another instance", made)
    own = {i for i in (whole, session) if i}

    listed(run, "all of the app", await app("GET", MANY, "all of the app", 200), own)
    by_instance = await app("GET", MANY, "by app_instance_id", 200,
                            params=[("app_instance_id", mine)])  # fmt: skip
    listed(run, "by app_instance_id", by_instance, own)
    by_name = await app("GET", MANY, "by app_name", 200, params=[("app_name", name)])
    listed(run, "by app_name", by_name, own)
    by_session = await app("GET", MANY, "by session_id", 200, params=[("session_id", session)])
    listed(run, "by session_id", by_session, {session} - {""})
    not_session = await app("GET", MANY, "session_id of an app-specific one -> none", 200,
                            params=[("session_id", whole)])  # fmt: skip
    listed(run, "session_id of an app-specific one -> none", not_session, set())
    foreign = await app("GET", MANY, "another instance's -> none", 200,
                        params=[("app_instance_id", other)])  # fmt: skip
    listed(run, "another instance's -> none", foreign, set())

    ids = {"allocationId": whole}
    got = await app("GET", ONE, "application-specific", 200, ids=ids)
    holds(run, f"GET {ONE}", "application-specific", got, **allocation(mine))
    await app("GET", ONE, "session-specific", 200, ids={"allocationId": session})
    tag = {"If-Match": got.headers.get("ETag", '"1"')}
    current = got.body if isinstance(got.body, dict) else allocation(mine)
    changed = {**current, "fixedAllocation": "20000000", "allocationDirection": "10"}
    put = await app("PUT", ONE, "If-Match current", 200, ids=ids, body=changed, headers=tag)
    holds(run, f"PUT {ONE}", "If-Match current", put, fixedAllocation="20000000",
          allocationDirection="10")  # fmt: skip
    await app("PUT", ONE, "If-Match stale -> 412", 412, ids=ids, body=changed, headers=tag)
    deltas = {"appInsId": mine, "requestType": 0, "fixedAllocation": "5000000"}
    patched = await app("PATCH", ONE, "BwInfoDeltas", 200, ids=ids, body=deltas)
    holds(run, f"PATCH {ONE}", "BwInfoDeltas", patched, fixedAllocation="5000000",
          allocationDirection="10")  # fmt: skip
    await app("PATCH", ONE, "If-Match stale -> 412", 412, ids=ids, body=deltas, headers=STALE)
    await bad_bodies(app, mine, ids)

    theirs_ids = {"allocationId": theirs}
    await app("POST", MANY, "for another instance -> 403", 403, body=allocation(other))
    await app("GET", ONE, "another instance's -> 403", 403, ids=theirs_ids)
    await app("PUT", ONE, "another instance's -> 403", 403, ids=theirs_ids,
              body=allocation(other))  # fmt: skip
    await app("PATCH", ONE, "another instance's -> 403", 403, ids=theirs_ids,
              body={"appInsId": other, "requestType": 0, "fixedAllocation": "1000"})  # fmt: skip
    await app("DELETE", ONE, "another instance's -> 403", 403, ids=theirs_ids)
    unknown = {"allocationId": UNKNOWN}
    await app("GET", ONE, "unknown -> 404", 404, ids=unknown)
    await app("PUT", ONE, "unknown -> 404", 404, ids=unknown, body=allocation(mine))
    await app("PATCH", ONE, "unknown -> 404", 404, ids=unknown, body=deltas)
    await app("DELETE", ONE, "unknown -> 404", 404, ids=unknown)

    for kind, allocation_id in (("application-specific", whole), ("session-specific", session)):
        await app("DELETE", ONE, kind, 204, ids={"allocationId": allocation_id})
        await app("GET", ONE, f"{kind}, deleted -> 404", 404, ids={"allocationId": allocation_id})
    await app("DELETE", ONE, "deleted -> 404", 404, ids=ids)
    after = await app("GET", MANY, "all deleted -> none", 200, params=[("app_instance_id", mine)])
    listed(run, "all deleted -> none", after, set())


async def bad_bodies(app: Caller, mine: str, ids: dict[str, str]) -> None:
    """Bodies that break a rule of BwInfo or BwInfoDeltas: 400, and nothing changes."""
    bad = {
        "requestType 2 -> 400": allocation(mine, requestType=2),
        "allocationDirection 11 -> 400": allocation(mine, allocationDirection="11"),
        "fixedAllocation not bps -> 400": allocation(mine, fixedAllocation="10 Mbps"),
        "requestType 1, no sessionFilter -> 400": allocation(mine, requestType=1),
    }
    for case, body in bad.items():
        await app("POST", MANY, case, 400, body=body)
    await app("PUT", ONE, "allocationDirection 11 -> 400", 400, ids=ids,
              body=allocation(mine, allocationDirection="11"))  # fmt: skip
    await app("PATCH", ONE, "requestType 1, no sessionFilter -> 400", 400, ids=ids,
              body={"appInsId": mine, "requestType": 1})  # fmt: skip
    unchanged = await app("GET", ONE, "unchanged by the bad bodies", 200, ids=ids)
    holds(app.runner, f"GET {ONE}", "unchanged by the bad bodies", unchanged, requestType=0,
          fixedAllocation="5000000", allocationDirection="10")  # fmt: skip


async def run_bwm(options: Options) -> list[Row]:
    """Play the scenario; one row per check."""
    mgmt, bwm = apis(options.reference)
    tag = secrets.token_hex(4)
    mine, other = f"conformance-{tag}-bwm", f"conformance-{tag}-bwm-other"
    name = f"conformance-bwm-{tag}"
    timeout = aiohttp.ClientTimeout(total=max(30.0, options.wait * 4))
    async with aiohttp.ClientSession(timeout=timeout) as http:
        run = Runner(http, options.base_url)
        try:
            token = await create_instance(run, mgmt, options, mine, name, token=True)
            made = await create_instance(run, mgmt, options, other, f"{name}-other", token=False)
            if not token or not made:
                run.fail("setup", "instances and token", "no access token or no other instance")
                return run.rows
            await run.caller(bwm, None)("GET", MANY, "no token -> 401", 401)
            await run.caller(bwm, None)("POST", MANY, "no token -> 401", 401, body=allocation(mine))
            app = run.caller(bwm, token)
            await allocations(app, run.caller(bwm, options.operator_token), mine, name, other)
        finally:
            for instance_id in (mine, other):
                url = f"{run.base_url}{MGMT_INSTANCE.format(appInstanceId=instance_id)}"
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    headers = {"Authorization": f"Bearer {options.operator_token}"}
                    async with http.delete(url, headers=headers):
                        pass
    return run.rows
