"""CAPIF core function wiring, the platform's published APIs, and the operator's
pre-provisioning endpoint.

``POST /mep_mgmt/v1/capif/enrolments`` (operator token) hands out what TS 33.122 clause 6.1
calls onboarding enrolment information: the CCF's TLS address, its root CA certificate, and a
single-use credential (an invoker's ``onboardingToken``, a provider domain's ``regSec``).
"""

from __future__ import annotations

import functools

from aiohttp import web

from mep.auth.guard import require
from mep.capif import (
    aef_security_api,
    app_services,
    discover_api,
    events_api,
    exposure,
    invoker_api,
    provider_api,
    publish_api,
    routing_api,
    security,
    security_api,
    token_endpoint,
)
from mep.capif.discover import Discovery
from mep.capif.domains import ProviderDomains, ensure_platform_provider
from mep.capif.enrolments import Enrolments
from mep.capif.identity import CertificateRevocations
from mep.capif.invokers import Invokers
from mep.capif.models import EnrolmentRequest
from mep.capif.platform import Route, publish_platform_apis
from mep.capif.providers import Providers
from mep.capif.publish import ServiceApis
from mep.core import keys
from mep.core.http import json_response, read_model
from mep.core.tokens import CallerKind

ENROLMENTS = "/mep_mgmt/v1/capif/enrolments"


@require(CallerKind.OPERATOR)
async def create_enrolment(request: web.Request) -> web.Response:
    body = await read_model(request, EnrolmentRequest)
    enrolment = await request.app[keys.CAPIF_ENROLMENTS].create(
        body,
        ca_root=request.app[keys.CA].certificate_pem,
        ccf_url=request.app[keys.SETTINGS].ccf_url,
    )
    return json_response(enrolment, status=201, headers={"Cache-Control": "no-store"})


def _start(app: web.Application) -> None:
    committer, outbox, ca = app[keys.COMMITTER], app[keys.OUTBOX], app[keys.CA]
    enrolments = Enrolments(committer)
    app[keys.CAPIF_ENROLMENTS] = enrolments
    app[keys.CAPIF_REVOCATIONS] = CertificateRevocations(committer.store)
    invokers = Invokers(
        committer,
        outbox,
        ca,
        enrolments,
        removal_ops=functools.partial(security.removal_ops, committer.store),
    )
    domains = ProviderDomains(committer.store)
    service_apis = ServiceApis(committer, outbox, domains)
    app[keys.CAPIF_INVOKERS] = invokers
    app[keys.CAPIF_PROVIDERS] = Providers(
        committer, outbox, ca, enrolments, removal_ops=service_apis.removal_ops
    )
    app[keys.CAPIF_SERVICE_APIS] = service_apis
    app[keys.CAPIF_DISCOVERY] = Discovery(service_apis, invokers, domains)
    app[keys.CAPIF_SECURITY] = security.SecurityContexts(
        committer,
        outbox,
        app[keys.NOTIFIER],
        service_apis,
        invokers,
        ccf_url=app[keys.SETTINGS].ccf_url,
    )


async def publish_platform(app: web.Application) -> None:
    """The platform's provider domain, and its APIs published as the router serves them
    (at start; again at any time: only what changed is written)."""
    provider = await ensure_platform_provider(app[keys.COMMITTER])
    if keys.CAPIF_PLATFORM not in app:
        app[keys.CAPIF_PLATFORM] = provider
    routes = [
        Route(route.resource.canonical, route.method)
        for route in app.router.routes()
        if route.resource is not None
    ]
    settings = app[keys.SETTINGS]
    await publish_platform_apis(
        app[keys.CAPIF_SERVICE_APIS],
        provider,
        routes,
        base_url=settings.base_url,
        ccf_url=settings.ccf_url,
    )
    await exposure.open_gateway(app)


def setup(app: web.Application, *, gateway: bool = True) -> None:
    """Routes, and the startup wiring appended to ``app[keys.SERVICE_SETUPS]``."""
    app.router.add_post(ENROLMENTS, create_enrolment)
    invoker_api.setup(app)
    provider_api.setup(app)
    publish_api.setup(app)
    discover_api.setup(app)
    security_api.setup(app)
    token_endpoint.setup(app)
    aef_security_api.setup(app)
    routing_api.setup(app)
    app[keys.SERVICE_SETUPS].append(_start)
    # After _start: its wiring reads the invokers.
    events_api.setup(app)
    exposure.setup(app, gateway=gateway)
    # After the shared parts and every API's routes exist (they start in the cleanup context).
    app.on_startup.append(publish_platform)
    # After publish_platform: the platform's APF publishes the apps' exposed services.
    app_services.setup(app)
