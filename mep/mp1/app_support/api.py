"""``/mec_app_support/v1``: the MEC application support API of ETSI GS MEC 011 (Mp1).

Handlers parse, call the services of this package and render. Under
``/applications/{appInstanceId}`` and ``/registrations/{appInstanceId}`` an app acts only for
itself (``mep.mp1.access.app_scoped``); the operator's token may act for any instance.
"""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from mep.auth.guard import principal
from mep.core import keys
from mep.core.http import (
    etag,
    if_match_version,
    json_response,
    read_json_body,
    read_model,
)
from mep.core.problem import Forbidden
from mep.core.tokens import CallerKind
from mep.core.validation import validate
from mep.dataplane.factory import create_dataplane
from mep.dataplane.stored import store_loader
from mep.dns.recording import RecordingDnsRules
from mep.mgmt.service import StoredInstance
from mep.mp1.access import app_scoped, mp1_caller
from mep.mp1.app_support.links import BASE, Links
from mep.mp1.app_support.models import (
    AppInfo,
    AppReadyConfirmation,
    AppTerminationConfirmation,
    AppTerminationSubscriptionRequest,
    DnsRule,
    SelfRegistered,
    TrafficRule,
)
from mep.mp1.app_support.registrations import Registration, Registrations
from mep.mp1.app_support.rule_ports import RulePorts
from mep.mp1.app_support.service import AppSupport
from mep.mp1.app_support.subscriptions import TerminationSubscriptions
from mep.mp1.app_support.termination import TIMER_KIND, Terminations
from mep.mp1.app_support.timing import HostClock, current_time, timing_caps

M = TypeVar("M", bound=BaseModel)
APP = f"{BASE}/applications/{{appInstanceId}}"


def _instance(request: web.Request) -> StoredInstance:
    return request[keys.APP_INSTANCE]


def _instance_id(request: web.Request) -> str:
    return _instance(request).record.app_instance_id


async def _optional_body(request: web.Request, model: type[M]) -> M | None:
    """The body as ``model``; None when there is none (MEC 011 makes the confirmations'
    bodies optional)."""
    if not request.body_exists or not (await request.read()).strip():
        return None
    return validate(model, await read_json_body(request))


# --- Traffic and DNS rules


@app_scoped
async def list_traffic_rules(request: web.Request) -> web.Response:
    found = await request.app[keys.APP_SUPPORT].traffic_rules(_instance(request))
    return json_response([s.rule for s in found])


@app_scoped
async def get_traffic_rule(request: web.Request) -> web.Response:
    rule_id = request.match_info["trafficRuleId"]
    found = await request.app[keys.APP_SUPPORT].traffic_rule(_instance(request), rule_id)
    return json_response(found.rule, headers={"ETag": etag(found.version)})


@app_scoped
async def put_traffic_rule(request: web.Request) -> web.Response:
    body = await read_model(request, TrafficRule)
    rule_id = request.match_info["trafficRuleId"]
    service = request.app[keys.APP_SUPPORT]
    found = await service.put_traffic_rule(
        _instance(request), rule_id, body, if_match_version(request)
    )
    return json_response(found.rule, headers={"ETag": etag(found.version)})


@app_scoped
async def list_dns_rules(request: web.Request) -> web.Response:
    found = await request.app[keys.APP_SUPPORT].dns_rules(_instance(request))
    return json_response([s.rule for s in found])


@app_scoped
async def get_dns_rule(request: web.Request) -> web.Response:
    rule_id = request.match_info["dnsRuleId"]
    found = await request.app[keys.APP_SUPPORT].dns_rule(_instance(request), rule_id)
    return json_response(found.rule, headers={"ETag": etag(found.version)})


@app_scoped
async def put_dns_rule(request: web.Request) -> web.Response:
    body = await read_model(request, DnsRule)
    rule_id = request.match_info["dnsRuleId"]
    service = request.app[keys.APP_SUPPORT]
    found = await service.put_dns_rule(_instance(request), rule_id, body, if_match_version(request))
    return json_response(found.rule, headers={"ETag": etag(found.version)})


# --- Readiness and termination


@app_scoped
async def confirm_ready(request: web.Request) -> web.Response:
    await _optional_body(request, AppReadyConfirmation)
    await request.app[keys.APP_SUPPORT].confirm_ready(_instance_id(request))
    return web.Response(status=204)


@app_scoped
async def confirm_termination(request: web.Request) -> web.Response:
    body = await _optional_body(request, AppTerminationConfirmation)
    action = None if body is None else body.operation_action
    await request.app[keys.TERMINATIONS].confirm(_instance_id(request), action)
    return web.Response(status=204)


@app_scoped
async def list_subscriptions(request: web.Request) -> web.Response:
    subscriptions = request.app[keys.TERMINATION_SUBSCRIPTIONS]
    instance_id = _instance_id(request)
    found = await subscriptions.of_instance(instance_id)
    return json_response(subscriptions.link_list(instance_id, found))


@app_scoped
async def create_subscription(request: web.Request) -> web.Response:
    body = await read_model(request, AppTerminationSubscriptionRequest)
    subscriptions = request.app[keys.TERMINATION_SUBSCRIPTIONS]
    created = subscriptions.render(await subscriptions.create(_instance_id(request), body))
    return json_response(created, status=201, headers={"Location": created.links.self_.href})


@app_scoped
async def get_subscription(request: web.Request) -> web.Response:
    subscriptions = request.app[keys.TERMINATION_SUBSCRIPTIONS]
    found = await subscriptions.get(_instance_id(request), request.match_info["subscriptionId"])
    return json_response(subscriptions.render(found))


@app_scoped
async def delete_subscription(request: web.Request) -> web.Response:
    subscriptions = request.app[keys.TERMINATION_SUBSCRIPTIONS]
    await subscriptions.delete(_instance_id(request), request.match_info["subscriptionId"])
    return web.Response(status=204)


# --- Timing


@mp1_caller
async def get_timing_caps(request: web.Request) -> web.Response:
    return json_response(timing_caps())


@mp1_caller
async def get_current_time(request: web.Request) -> web.Response:
    return json_response(await current_time(request.app[keys.TIME_SOURCE]))


# --- [V3] Registrations


def _registration_headers(found: Registration) -> dict[str, str]:
    return {"ETag": etag(found.version)}


async def register(request: web.Request) -> web.Response:
    """Authenticated like any Mp1 call, except an app registering itself (no token at all)."""
    registrations = request.app[keys.REGISTRATIONS]
    header = request.headers.get("Authorization")
    caller = None
    if header is None:
        registrations.admit_anonymous()
    else:
        caller = await request.app[keys.AUTHENTICATOR].authenticate(header)
        if caller.kind not in (CallerKind.APP, CallerKind.OPERATOR):
            raise Forbidden("this resource is for callers of kind: app, operator")
    info = await read_model(request, AppInfo)
    found = await registrations.register(caller, info)
    instance_id = found.info.app_instance_id or ""
    headers = _registration_headers(found)
    headers["Location"] = Links(request.app[keys.SETTINGS].base_url).registration(instance_id)
    if found.client_secret is None:
        return json_response(found.info, status=201, headers=headers)
    headers["Cache-Control"] = "no-store"
    body = SelfRegistered(
        **found.info.model_dump(), client_id=instance_id, client_secret=found.client_secret
    )
    return json_response(body, status=201, headers=headers)


@mp1_caller
async def list_registrations(request: web.Request) -> web.Response:
    return json_response(await request.app[keys.REGISTRATIONS].list(principal(request)))


@app_scoped
async def get_registration(request: web.Request) -> web.Response:
    found = Registrations.get(_instance(request))
    return json_response(found.info, headers=_registration_headers(found))


@app_scoped
async def put_registration(request: web.Request) -> web.Response:
    info = await read_model(request, AppInfo)
    registrations = request.app[keys.REGISTRATIONS]
    found = await registrations.replace(_instance_id(request), info, if_match_version(request))
    return json_response(found.info, headers=_registration_headers(found))


@app_scoped
async def delete_registration(request: web.Request) -> web.Response:
    await request.app[keys.REGISTRATIONS].deregister(_instance_id(request))
    return web.Response(status=204)


# --- Wiring


def _start(app: web.Application) -> None:
    committer = app[keys.COMMITTER]
    instances = app[keys.APP_INSTANCES]
    notifier = app[keys.NOTIFIER]
    links = Links(app[keys.SETTINGS].base_url)
    ports = RulePorts(app[keys.DATAPLANE], app[keys.DNS_RULES])
    ports.watch(committer)
    app[keys.RULE_PORTS] = ports
    app[keys.APP_SUPPORT] = AppSupport(committer, instances, ports, app[keys.DATAPLANE])
    subscriptions = TerminationSubscriptions(committer, instances, notifier, links)
    app[keys.TERMINATION_SUBSCRIPTIONS] = subscriptions
    removals = app[keys.INSTANCE_REMOVALS]  # filled by the other APIs' startup wiring
    terminations = Terminations(
        committer, instances, subscriptions, notifier, ports, removals, links
    )
    app[keys.TERMINATIONS] = terminations
    app[keys.TIMERS].on(TIMER_KIND, terminations.on_timer)
    allow_self = app[keys.SETTINGS].allow_self_registration
    app[keys.REGISTRATIONS] = Registrations(instances, terminations, allow_self=allow_self)


async def _reconcile_dataplane(app: web.Application) -> None:
    """The data plane enforces what is stored, before the first request (runs after the
    platform's startup: the store is open)."""
    await app[keys.DATAPLANE].reconcile(store_loader(app[keys.STORE]))


async def _close_ports(app: web.Application) -> None:
    ports = app.get(keys.RULE_PORTS)
    if ports is not None:
        await ports.close()


def setup(app: web.Application) -> None:
    """Routes, the default ports, and the startup wiring appended to ``app[keys.SERVICE_SETUPS]``.

    The DataPlane, DnsRules and TimeSource set here may be replaced before the app starts.
    """
    app[keys.DATAPLANE] = create_dataplane(app[keys.SETTINGS])
    app[keys.DNS_RULES] = RecordingDnsRules()
    app[keys.TIME_SOURCE] = HostClock()
    router = app.router
    router.add_get(f"{APP}/traffic_rules", list_traffic_rules)
    router.add_get(f"{APP}/traffic_rules/{{trafficRuleId}}", get_traffic_rule)
    router.add_put(f"{APP}/traffic_rules/{{trafficRuleId}}", put_traffic_rule)
    router.add_get(f"{APP}/dns_rules", list_dns_rules)
    router.add_get(f"{APP}/dns_rules/{{dnsRuleId}}", get_dns_rule)
    router.add_put(f"{APP}/dns_rules/{{dnsRuleId}}", put_dns_rule)
    router.add_get(f"{APP}/subscriptions", list_subscriptions)
    router.add_post(f"{APP}/subscriptions", create_subscription)
    router.add_get(f"{APP}/subscriptions/{{subscriptionId}}", get_subscription)
    router.add_delete(f"{APP}/subscriptions/{{subscriptionId}}", delete_subscription)
    router.add_post(f"{APP}/confirm_ready", confirm_ready)
    router.add_post(f"{APP}/confirm_termination", confirm_termination)
    router.add_get(f"{BASE}/timing/timing_caps", get_timing_caps)
    router.add_get(f"{BASE}/timing/current_time", get_current_time)
    router.add_get(f"{BASE}/registrations", list_registrations)
    router.add_post(f"{BASE}/registrations", register)
    router.add_get(f"{BASE}/registrations/{{appInstanceId}}", get_registration)
    router.add_put(f"{BASE}/registrations/{{appInstanceId}}", put_registration)
    router.add_delete(f"{BASE}/registrations/{{appInstanceId}}", delete_registration)
    app[keys.SERVICE_SETUPS].append(_start)
    app.on_startup.append(_reconcile_dataplane)
    app.on_cleanup.append(_close_ports)
