"""The scripted Location scenario (GS MEC 013 V2.2.1): every operation of ``/location/v2``.

The operator creates an application instance, which gets its token and calls every query (with
its filters and error cases) and, for the six subscription types, create, list, read, replace
(with a current and a stale ``If-Match``), a bad body, delete. Each answer is checked against
the official MEC 013 file and our own document; the queries adapt to the network the platform
serves. When that network is simulated (``/mep_mgmt/v1/network``), the scenario pauses its
clock, walks a UE from one zone to another and puts an access point out of service, and checks
the notifications a local callback server receives (zonal presence, circle, distance, periodic
with ``count``, zone status). Without a simulator those rows are skipped. The instance, and
with it its subscriptions, is deleted at the end, and the clock resumed.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from conformance.callbacks import CallbackServer, Notification
from conformance.mp1 import Options
from conformance.mp1_app_support import STALE, last_segment
from conformance.mp1_context import MGMT_INSTANCE, TOKEN_ENDPOINT, UNKNOWN
from conformance.reference import ReferenceDocument
from conformance.runner import Api, Caller, Row, Runner

REPOSITORY = Path(__file__).resolve().parents[1]
REFERENCE_FILE = "MEC013_LocationAPI.yaml"
NETWORK = "/mep_mgmt/v1/network"
ZONES, ZONE = "/queries/zones", "/queries/zones/{zoneId}"
POINTS, POINT = f"{ZONE}/accessPoints", f"{ZONE}/accessPoints/{{accessPointId}}"
USERS, DISTANCE = "/queries/users", "/queries/distance"
#: path under /subscriptions, root key, notification root key and schema.
KINDS = {
    "area/circle": ("circleNotificationSubscription", "SubscriptionNotification"),
    "distance": ("distanceNotificationSubscription", "SubscriptionNotification"),
    "periodic": ("periodicNotificationSubscription", "SubscriptionNotification"),
    "userTracking": ("userTrackingSubscription", "ZonalPresenceNotification"),
    "zonalTraffic": ("zonalTrafficSubscription", "ZonalPresenceNotification"),
    "zoneStatus": ("zoneStatusSubscription", "ZoneStatusNotification"),
}
NO_UE = "acr:203.0.113.254"  # TEST-NET-3 (RFC 5737): never a UE
POINT_ID = "accessPointId"
#: 20,000 km: "all within" holds for any two located users of a network.
EVERYWHERE = 20_000_000


@dataclass
class Loc:
    run: Runner
    http: aiohttp.ClientSession
    options: Options
    api: Api
    callbacks: CallbackServer
    app: Caller | None = None
    zones: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    users: list[dict[str, Any]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.callbacks.url(f"location/{path}")


def apis(reference: Path) -> tuple[Api, Api]:
    mgmt = Api("mep-mgmt", "", ReferenceDocument.load(REPOSITORY / "specs" / "mep-mgmt.yaml"))
    location = Api(
        "mec013-location",
        "/location/v2",
        ReferenceDocument.load(REPOSITORY / "specs" / "mec013-location.yaml"),
        ReferenceDocument.load(reference / REFERENCE_FILE),
    )
    return mgmt, location


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
        body={"appName": "conformance-location", "appProvider": "conformance"},
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


async def queries(loc: Loc, app: Caller) -> None:
    """Every query; learns the zones, access points and users for what follows."""
    listed = await app("GET", ZONES, "all zones", 200)
    for zone in (listed.member("zoneList") or {}).get("zone", []):
        answer = await app("GET", POINTS, "of a zone", 200, ids={"zoneId": zone["zoneId"]})
        found = (answer.member("accessPointList") or {}).get("accessPoint", [])
        loc.zones[zone["zoneId"]] = found
    await app("GET", ZONE, "unknown -> 404", 404, ids={"zoneId": UNKNOWN})
    await app("GET", POINTS, "unknown zone -> 404", 404, ids={"zoneId": UNKNOWN})
    everyone = await app("GET", USERS, "all users", 200)
    loc.users = (everyone.member("userList") or {}).get("user", [])
    await app("GET", USERS, "unknown zone -> 404", 404, params=[("zoneId", UNKNOWN)])
    await app("GET", USERS, "empty zoneId -> 400", 400, params=[("zoneId", "")])
    await app("GET", USERS, "unknown user -> 404", 404, params=[("address", NO_UE)])
    if loc.zones:
        zone_id: str
        points: list[dict[str, Any]]
        zone_id, points = next(iter(loc.zones.items()))
        await app("GET", ZONE, "one zone", 200, ids={"zoneId": zone_id})
        await app("GET", USERS, "by zone", 200, params=[("zoneId", zone_id)])
        if points:
            ids: dict[str, str] = {"zoneId": zone_id, POINT_ID: points[0][POINT_ID]}
            await app("GET", POINT, "one access point", 200, ids=ids)
            by_point = [(POINT_ID, ids[POINT_ID])]
            await app("GET", USERS, "by access point", 200, params=by_point)
            realm = [("interestRealm", points[0].get("interestRealm", "none"))]
            await app("GET", POINTS, "by interestRealm", 200, ids=ids, params=realm)
        unknown = {"zoneId": zone_id, POINT_ID: UNKNOWN}
        await app("GET", POINT, "unknown access point -> 404", 404, ids=unknown)
    else:
        loc.run.skip(f"GET {ZONE}", "one zone", "the network has no zone")
    if loc.users:
        first = loc.users[0]
        await app("GET", USERS, "by address", 200, params=[("address", first["address"])])
        point = [("latitude", "43.6"), ("longitude", "7.05")]
        here = [("address", first["address"]), *point]
        await app("GET", DISTANCE, "user to a point", 200, params=here)
        if len(loc.users) > 1:
            two = [("address", first["address"]), ("address", loc.users[1]["address"])]
            await app("GET", DISTANCE, "two users", 200, params=two)
        await app("GET", DISTANCE, "no point -> 400", 400, params=here[:1])
    else:
        loc.run.skip(f"GET {DISTANCE}", "user to a point", "the network has no located user")
    nobody = [("address", NO_UE), ("latitude", "0"), ("longitude", "0")]
    await app("GET", DISTANCE, "unknown user -> 404", 404, params=nobody)
    await app("GET", DISTANCE, "no address -> 400", 400)


def body(kind: str, callback: str, loc: Loc, **fields: Any) -> dict[str, Any]:
    """A valid request of ``kind`` on the network's first zone and users (or made-up ones)."""
    users = [u["address"] for u in loc.users] or [NO_UE, "acr:203.0.113.253"]
    zone = next(iter(loc.zones), "zone-conformance")
    where = {"latitude": 43.6163, "longitude": 7.0538}
    common = {"callbackReference": {"notifyURL": callback, "callbackData": "conformance"}}
    tracking = {"checkImmediate": False, "frequency": 0, "trackingAccuracy": 10}
    specific: dict[str, dict[str, Any]] = {
        "area/circle": {
            "address": users[:1],
            "radius": 100,
            "enteringLeavingCriteria": "Entering",
            **where,
            **tracking,
        },
        "distance": {
            "monitoredAddress": users[:2],
            "distance": 100,
            "criteria": "AllWithinDistance",
            **tracking,
        },
        "periodic": {"address": users[:1], "frequency": 3600, "requestedAccuracy": 10},
        "userTracking": {"address": users[0]},
        "zonalTraffic": {"zoneId": zone, "userEventCriteria": ["Entering", "Leaving"]},
        "zoneStatus": {"zoneId": zone, "numberOfUsersZoneThreshold": 100},
    }
    return {KINDS[kind][0]: {**common, **specific[kind], **fields}}


async def resources(loc: Loc, app: Caller) -> None:
    """Create, list, read, replace, delete each type, and its error cases."""
    for kind, (root, _) in KINDS.items():
        many, one = f"/subscriptions/{kind}", f"/subscriptions/{kind}/{{subscriptionId}}"
        payload = body(kind, loc.url(f"crud/{kind}"), loc)
        created = await app("POST", many, "create", 201, body=payload)
        ids = {"subscriptionId": last_segment(created.headers.get("Location"))}
        listed = await app("GET", many, "list", 200)
        inside = (listed.member("notificationSubscriptionList") or {}).get(root, [])
        if created.status == 201 and not any(
            s.get("resourceURL") == created.headers.get("Location") for s in inside
        ):
            loc.run.fail(f"GET {many}", "list", "the new subscription is not listed")
        got = await app("GET", one, "read", 200, ids=ids)
        etag = {"If-Match": got.headers["ETag"]} if "ETag" in got.headers else None
        await app("PUT", one, "replace, If-Match current", 200, ids=ids, body=payload, headers=etag)
        await app("PUT", one, "If-Match stale -> 412", 412, ids=ids, body=payload, headers=STALE)
        bad = {root: {**payload[root], "callbackReference": {"notifyURL": "not a URL"}}}
        await app("POST", many, "bad notifyURL -> 400", 400, body=bad)
        await app("POST", many, "no root key -> 400", 400, body=payload[root])
        await app("DELETE", one, "delete", 204, ids=ids)
        await app("GET", one, "deleted -> 404", 404, ids=ids)


async def network(loc: Loc, method: str, path: str, body: Any = None) -> Any:
    """A call to the simulator's operator API (not a Location check); None when refused."""
    url = f"{loc.run.base_url}{NETWORK}{path}"
    headers = {"Authorization": f"Bearer {loc.options.operator_token}"}
    with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
        async with loc.http.request(method, url, json=body, headers=headers) as answer:
            if answer.status == 200:
                return await answer.json()
    return None


def on(path: str, root: str, match: dict[str, Any]) -> Callable[[Notification], bool]:
    """A notification posted to ``path`` whose ``root`` member has the ``match`` values."""

    def wanted(n: Notification) -> bool:
        inner = n.body.get(root) if isinstance(n.body, dict) else None
        return (
            n.path == f"/location/{path}"
            and isinstance(inner, dict)
            and all(inner.get(k) == v for k, v in match.items())
        )

    return wanted


async def expect(loc: Loc, path: str, schema: str, case: str, since: int, **match: Any) -> None:
    """Wait for the notification, then check it against both documents' ``schema``."""
    root = schema[0].lower() + schema[1:]
    got = await loc.callbacks.wait_for(on(path, root, match), within=loc.options.wait, since=since)
    inner = got.body[root] if got is not None else None
    loc.run.notification(loc.api, schema, inner, case=case, reference_schema=schema)


async def move(loc: Loc, user: str, access_point_id: str) -> None:
    await network(loc, "POST", f"/ues/{user}/move", {POINT_ID: access_point_id})


async def notifications(loc: Loc, app: Caller) -> None:
    """Walk a UE across zones in a paused simulator and check what each subscription hears."""
    zones = [z for z, points in loc.zones.items() if points]
    paused = await network(loc, "POST", "/clock", {"action": "pause"})
    if paused is None or len(zones) < 2 or len(loc.users) < 2:
        why = "no simulated network with two zones and two users here"
        loc.run.skip("callbacks", "notifications", why)
        return
    user, other = loc.users[0]["address"], loc.users[1]["address"]
    zone_a, zone_b = zones[:2]
    start, target = loc.zones[zone_a][0], loc.zones[zone_b][0]
    await move(loc, user, start[POINT_ID])
    spot = target["locationInfo"]
    circle = {"latitude": spot["latitude"][0], "longitude": spot["longitude"][0], "radius": 50}
    pair = {"monitoredAddress": [user, other], "checkImmediate": True, "distance": EVERYWHERE}
    since = len(loc.callbacks.received)
    made = [
        ("userTracking", "walk/track", {"address": user}),
        ("zonalTraffic", "walk/zone", {"zoneId": zone_b}),
        ("area/circle", "walk/circle", {"address": [user], **circle}),
        ("periodic", "walk/periodic", {"address": [user], "frequency": 1, "count": 2}),
        ("distance", "walk/distance", pair),
        ("zoneStatus", "walk/status", {"zoneId": zone_b, "operationStatus": ["Unserviceable"]}),
    ]
    for kind, path, fields in made:
        payload = body(kind, loc.url(path), loc, **fields)
        await app("POST", f"/subscriptions/{kind}", "for the walk", 201, body=payload)
    await move(loc, user, target[POINT_ID])
    status = f"/access_points/{target[POINT_ID]}/status"
    await network(loc, "PUT", status, {"operationStatus": "Unserviceable"})
    await network(loc, "PUT", status, {"operationStatus": "Serviceable"})
    presence, located, zone = "ZonalPresenceNotification", "SubscriptionNotification", "zoneStatus"
    await expect(loc, "walk/track", presence, "userTracking: Leaving zone A", since,
                 userEventType="Leaving", zoneId=zone_a)  # fmt: skip
    await expect(loc, "walk/track", presence, "userTracking: Entering zone B", since,
                 userEventType="Entering", zoneId=zone_b)  # fmt: skip
    await expect(loc, "walk/zone", presence, "zonalTraffic: Entering zone B", since,
                 userEventType="Entering")  # fmt: skip
    await expect(loc, "walk/circle", located, "circle: Entering", since,
                 enteringLeavingCriteria="Entering")  # fmt: skip
    await expect(loc, "walk/distance", located, "distance: checkImmediate", since,
                 distanceCriteria="AllWithinDistance")  # fmt: skip
    await expect(loc, "walk/periodic", located, "periodic: count 2, the final one", since,
                 isFinalNotification=True)  # fmt: skip
    await expect(loc, "walk/status", "ZoneStatusNotification", f"{zone}: Unserviceable", since,
                 operationStatus="Unserviceable")  # fmt: skip


async def cleanup(loc: Loc, instance_id: str) -> None:
    """Delete the instance (its subscriptions go with it) and resume the clock, whatever state
    the scenario got to (not part of the table)."""
    url = f"{loc.run.base_url}{MGMT_INSTANCE.format(appInstanceId=instance_id)}"
    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
        headers = {"Authorization": f"Bearer {loc.options.operator_token}"}
        async with loc.http.delete(url, headers=headers):
            pass
    await network(loc, "POST", "/clock", {"action": "resume"})


async def run_location(options: Options) -> list[Row]:
    """Play the scenario; one row per check."""
    mgmt, api = apis(options.reference)
    callbacks = CallbackServer()
    await callbacks.start()
    timeout = aiohttp.ClientTimeout(total=max(30.0, options.wait * 4))
    instance_id = f"conformance-{secrets.token_hex(4)}-location"
    async with aiohttp.ClientSession(timeout=timeout) as http:
        loc = Loc(Runner(http, options.base_url), http, options, api, callbacks)
        try:
            token = await create_instance(loc.run, mgmt, options, instance_id)
            if not token:
                loc.run.fail("setup", "instance and token", "no access token")
                return loc.run.rows
            app = loc.run.caller(api, token)
            await queries(loc, app)
            await resources(loc, app)
            await notifications(loc, app)
        finally:
            await cleanup(loc, instance_id)
            await callbacks.stop()
    return loc.run.rows
