"""Every typed key of application state, in one place (aiohttp ``web.AppKey``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from mep.auth.api import ClientVerifier
    from mep.auth.authenticator import Authenticator
    from mep.auth.principal import Principal
    from mep.bwm.service import BandwidthAllocations
    from mep.core.ca import CertificateAuthority
    from mep.core.commits import Committer
    from mep.core.deps import Deps
    from mep.core.drain import InFlight
    from mep.core.events import EventLog
    from mep.core.follow import CommitFollower
    from mep.core.metrics import Metrics
    from mep.core.notify.deliveries import Notifier
    from mep.core.notify.websocket import WebSocketHub
    from mep.core.notify.worker import DeliveryWorker
    from mep.core.outbox import Outbox
    from mep.core.settings import MepSettings
    from mep.core.store import Operation, Store
    from mep.core.timers import Timers
    from mep.core.tokens import TokenService
    from mep.mgmt.service import AppInstanceService, StoredInstance
    from mep.network.port import NetworkSource

REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")
#: The app instance named in an Mp1 path, once the caller is admitted (``mep.mp1.access``).
APP_INSTANCE: web.RequestKey[StoredInstance] = web.RequestKey("app_instance")

SETTINGS: web.AppKey[MepSettings] = web.AppKey("settings")
#: What each API removes of an application instance when it terminates: every function returns
#: the writes (for instance id) that the termination commits with the instance's removal.
INSTANCE_REMOVALS: web.AppKey[list[Callable[[str], Awaitable[Sequence[Operation]]]]] = web.AppKey(
    "instance_removals"
)
#: Per-API wiring run at startup, once the shared parts exist (services, timer handlers, hooks).
SERVICE_SETUPS: web.AppKey[list[Callable[[web.Application], None]]] = web.AppKey("service_setups")
DEPS: web.AppKey[Deps] = web.AppKey("deps")
STORE: web.AppKey[Store] = web.AppKey("store")
COMMITTER: web.AppKey[Committer] = web.AppKey("committer")
EVENTS: web.AppKey[EventLog] = web.AppKey("events")
OUTBOX: web.AppKey[Outbox] = web.AppKey("outbox")
NOTIFIER: web.AppKey[Notifier] = web.AppKey("notifier")
DELIVERIES: web.AppKey[DeliveryWorker] = web.AppKey("deliveries")
WEBSOCKETS: web.AppKey[WebSocketHub] = web.AppKey("websockets")
TIMERS: web.AppKey[Timers] = web.AppKey("timers")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
IN_FLIGHT: web.AppKey[InFlight] = web.AppKey("in_flight")
CA: web.AppKey[CertificateAuthority] = web.AppKey("ca")
TOKENS: web.AppKey[TokenService] = web.AppKey("tokens")
AUTHENTICATOR: web.AppKey[Authenticator] = web.AppKey("authenticator")
APP_INSTANCES: web.AppKey[AppInstanceService] = web.AppKey("app_instances")
CLIENTS: web.AppKey[ClientVerifier] = web.AppKey("clients")

# --- Mp1 service management (mep/mp1/service_mgmt) ---
if TYPE_CHECKING:
    from mep.mp1.service_mgmt.service import ServiceRegistry

#: The service registry, with its subscriptions and liveness; ``removal_ops`` for app termination.
SERVICE_REGISTRY: web.AppKey[ServiceRegistry] = web.AppKey("service_registry")

# --- Mp1 application support (mep/mp1/app_support, mep/dataplane, mep/dns) ---
if TYPE_CHECKING:
    from mep.dataplane.port import DataPlane
    from mep.dns.port import DnsRules
    from mep.mp1.app_support.registrations import Registrations
    from mep.mp1.app_support.rule_ports import RulePorts
    from mep.mp1.app_support.service import AppSupport
    from mep.mp1.app_support.subscriptions import TerminationSubscriptions
    from mep.mp1.app_support.termination import Terminations
    from mep.mp1.app_support.timing import TimeSource

#: Where traffic and DNS rules take effect: recording adapters unless replaced before startup.
DATAPLANE: web.AppKey[DataPlane] = web.AppKey("dataplane")
DNS_RULES: web.AppKey[DnsRules] = web.AppKey("dns_rules")
#: Whether the host clock is locked to UTC (``/timing/current_time``).
TIME_SOURCE: web.AppKey[TimeSource] = web.AppKey("time_source")
RULE_PORTS: web.AppKey[RulePorts] = web.AppKey("rule_ports")
APP_SUPPORT: web.AppKey[AppSupport] = web.AppKey("app_support")
TERMINATION_SUBSCRIPTIONS: web.AppKey[TerminationSubscriptions] = web.AppKey(
    "termination_subscriptions"
)
TERMINATIONS: web.AppKey[Terminations] = web.AppKey("terminations")
REGISTRATIONS: web.AppKey[Registrations] = web.AppKey("registrations")

# --- Network source, RNIS, Location, BWM (mep/network, mep/rnis, mep/location, mep/bwm) ---
#: The radio network RNIS and Location read; set by ``create_app(network=...)`` or, at startup,
#: by ``mep.network.api`` from ``MEP_SCENARIO``.
NETWORK: web.AppKey[NetworkSource] = web.AppKey("network")
if TYPE_CHECKING:
    from mep.rnis.service import Rnis
#: The Radio Network Information Service (mep/rnis): queries, subscriptions, network listener.
RNIS: web.AppKey[Rnis] = web.AppKey("rnis")
if TYPE_CHECKING:
    from mep.location.service import Location
#: The Location API (mep/location): queries, subscriptions, and their network listener.
LOCATION: web.AppKey[Location] = web.AppKey("location")

# --- Bandwidth Management (mep/bwm) ---
BANDWIDTH: web.AppKey[BandwidthAllocations] = web.AppKey("bandwidth")
#: Follows committed allocations into the data plane; handlers flush it before answering.
BANDWIDTH_PORT: web.AppKey[CommitFollower] = web.AppKey("bandwidth_port")

# --- CAPIF core function (mep/capif) ---
if TYPE_CHECKING:
    from mep.capif.discover import Discovery
    from mep.capif.domains import PlatformProvider
    from mep.capif.enrolments import Enrolments
    from mep.capif.identity import CapifIdentity, CertificateRevocations
    from mep.capif.invokers import Invokers
    from mep.capif.providers import Providers
    from mep.capif.publish import ServiceApis

#: The CAPIF identity of the request's client certificate, once checked (``mep.capif.identity``).
CAPIF_IDENTITY: web.RequestKey[CapifIdentity] = web.RequestKey("capif_identity")
CAPIF_ENROLMENTS: web.AppKey[Enrolments] = web.AppKey("capif_enrolments")
CAPIF_REVOCATIONS: web.AppKey[CertificateRevocations] = web.AppKey("capif_revocations")
CAPIF_INVOKERS: web.AppKey[Invokers] = web.AppKey("capif_invokers")
CAPIF_PROVIDERS: web.AppKey[Providers] = web.AppKey("capif_providers")
CAPIF_SERVICE_APIS: web.AppKey[ServiceApis] = web.AppKey("capif_service_apis")
CAPIF_DISCOVERY: web.AppKey[Discovery] = web.AppKey("capif_discovery")
#: The platform's own provider domain (its gateway AEF and publishing APF), made at start.
CAPIF_PLATFORM: web.AppKey[PlatformProvider] = web.AppKey("capif_platform")

# --- CAPIF gateway, invocation journal, access control, charging ---
if TYPE_CHECKING:
    from mep.capif.access_control import AccessPolicies
    from mep.capif.gateway import Gateway
    from mep.capif.journal import InvocationJournal
    from mep.charging.service import Charging
#: Every invocation of a service API, as TS 29.222 Log records (``mep.capif.journal``).
CAPIF_JOURNAL: web.AppKey[InvocationJournal] = web.AppKey("capif_journal")
CAPIF_ACCESS_CONTROL: web.AppKey[AccessPolicies] = web.AppKey("capif_access_control")
#: The API gateway in front of the platform's service APIs; absent: no gateway (benchmarks).
GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway")
GATEWAY_ENABLED: web.AppKey[bool] = web.AppKey("gateway_enabled", bool)
CHARGING: web.AppKey[Charging] = web.AppKey("charging")

# --- Apps' services exposed through the gateway (mep/capif/app_services.py, aef_proxy.py) ---
if TYPE_CHECKING:
    import aiohttp

    from mep.capif.app_services import AppServices
    from mep.mp1.service_mgmt.records import StoredService
#: Publishes the services apps registered with ``capifExposure``; ``settle()`` awaits it.
CAPIF_APP_SERVICES: web.AppKey[AppServices] = web.AppKey("capif_app_services")
#: The client session the gateway forwards to the apps' services with.
AEF_PROXY_SESSION: web.AppKey[aiohttp.ClientSession] = web.AppKey("aef_proxy_session")
#: The service a ``/aef/{serInstanceId}`` request addresses, once the gateway found it exposed.
AEF_SERVICE: web.RequestKey[StoredService] = web.RequestKey("aef_service")

# --- CAPIF security (mep/capif/security.py) ---
if TYPE_CHECKING:
    from mep.capif.security import SecurityContexts
#: Invokers' security contexts (``/capif-security/v1``): the gateway reads and revokes them.
CAPIF_SECURITY: web.AppKey[SecurityContexts] = web.AppKey("capif_security")

# --- CAPIF events (mep/capif/events*.py, event_reports.py, event_consumer.py) ---
if TYPE_CHECKING:
    from mep.capif.event_consumer import EventReporter
    from mep.capif.events import EventSubscriptions
#: Event subscriptions (``/capif-events/v1``).
CAPIF_EVENTS: web.AppKey[EventSubscriptions] = web.AppKey("capif_events")
#: Turns the CCF's stream events into EventNotifications; the consumer feeds it.
CAPIF_EVENT_REPORTER: web.AppKey[EventReporter] = web.AppKey("capif_event_reporter")

# --- DNS responder (mep/dns) ---
if TYPE_CHECKING:
    from mep.dns.server import DnsServer
#: The DNS responder's sockets, when the app serves DNS (``create_app(dns=True)``); its
#: ``address`` is where it listens.
DNS_SERVER: web.AppKey[DnsServer] = web.AppKey("dns_server")
