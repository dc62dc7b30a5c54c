"""Wiring of what the platform's AEF does: the invocation journal, access control, the
gateway in front of the platform's published APIs (and of the apps' services exposed through
it), and the CAPIF-3/5 APIs reading them."""

from __future__ import annotations

from aiohttp import web

from mep.capif import access_control_api, aef_proxy, invocation_api
from mep.capif.access_control import AccessPolicies
from mep.capif.gateway import ExposedApi, Gateway, gateway_middleware
from mep.capif.journal import InvocationJournal
from mep.capif.platform import platform_api_id
from mep.core import keys
from mep.core.problem import problem_middleware
from mep.mp1.service_mgmt.platform import PLATFORM_APIS


def _start(app: web.Application) -> None:
    journal = InvocationJournal(app[keys.COMMITTER], app[keys.OUTBOX])
    app[keys.CAPIF_JOURNAL] = journal
    app[keys.CAPIF_ACCESS_CONTROL] = AccessPolicies(
        app[keys.COMMITTER],
        app[keys.OUTBOX],
        journal,
        # Looked up per call: the security contexts are wired by their own setup.
        authorised=lambda api_id: app[keys.CAPIF_SECURITY].invokers_for(api_id),
    )
    if app[keys.GATEWAY_ENABLED]:
        app[keys.GATEWAY] = Gateway(
            roots=[api.root for api in PLATFORM_APIS],
            authenticator=app[keys.AUTHENTICATOR],
            authorisations=app[keys.CAPIF_SECURITY],
            policies=app[keys.CAPIF_ACCESS_CONTROL],
            journal=journal,
        )


async def open_gateway(app: web.Application) -> None:
    """Point the gateway at the platform's AEF and published APIs (once they are published)."""
    if keys.GATEWAY not in app:
        return
    provider = app[keys.CAPIF_PLATFORM]
    exposed = [
        ExposedApi(
            platform_api_id(provider.apf_id, api.api_name), api.api_name, api.api_version, api.root
        )
        for api in PLATFORM_APIS
    ]
    app[keys.GATEWAY].expose(provider.aef_id, exposed)


def setup(app: web.Application, *, gateway: bool = True) -> None:
    """Routes and wiring; ``gateway=False`` serves the platform's APIs without the gateway
    (the baseline of ``bench/gateway.py``, never a deployment)."""
    app[keys.GATEWAY_ENABLED] = gateway
    if gateway:
        # Inside the error renderer's callers, outside it: the gateway records the response
        # the caller gets, ProblemDetails included.
        app.middlewares.insert(app.middlewares.index(problem_middleware), gateway_middleware)
    invocation_api.setup(app)
    access_control_api.setup(app)
    app[keys.SERVICE_SETUPS].append(_start)
    if gateway:
        aef_proxy.setup(app)  # after _start: its wiring adds to the gateway
