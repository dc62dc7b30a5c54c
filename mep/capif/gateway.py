"""The API gateway: the platform's AEF in front of its service APIs (RNIS, Location, BWM) and
of the apps' services exposed through it (``/aef/{serInstanceId}``, ``mep.capif.aef_proxy``).

Every call to a published platform API passes here (TS 33.122 clause 6.5; TS 29.222 clause
5.6): the caller is authenticated by an access token (a CAPIF invoker's OAUTH token or a MEC
app's Mp1 token) or, for invokers that negotiated PKI, by the client certificate we issued;
an invoker's token must name this AEF and API in its scope and its security context must still
cover the API (a revocation takes effect at the next call); the access control policy admits
the call or refuses it (429 over a quota, with ``OVERLIMIT_USAGE`` revocation when the policy
asks for it). Then the handler runs, and the invocation, allowed or refused, is recorded in the
journal before the response leaves: the caller never sees a 2xx whose record could be lost.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog
from aiohttp import web

from mep.auth.authenticator import Authenticator
from mep.auth.principal import Principal
from mep.capif.access_control import AccessPolicies
from mep.capif.identity import caller_identity
from mep.capif.journal import Invocation, InvocationJournal, PayerKind
from mep.capif.peer import ForwardedCertificateError, peer_certificate
from mep.capif.scope import allows
from mep.core import keys
from mep.core.problem import (
    Forbidden,
    NotFound,
    Problem,
    ServiceUnavailable,
    Unauthorized,
    problem_response,
)
from mep.core.store import StoreError
from mep.core.tokens import CallerKind

log = structlog.get_logger("mep.capif.gateway")

OPERATIONS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
OVERLIMIT_USAGE = "OVERLIMIT_USAGE"
#: The apiInvokerId of a refused call whose caller could not be authenticated.
ANONYMOUS = "anonymous"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Authorisations(Protocol):
    """The security contexts of invokers (``/capif-security/v1``), as the gateway reads them."""

    async def selected_method(self, api_invoker_id: str, aef_id: str, api_id: str) -> str | None:
        """The negotiated security method for that API at that AEF; ``None``: not authorised."""
        ...

    async def revoke(
        self, api_invoker_id: str, *, aef_id: str, api_ids: list[str], cause: str
    ) -> bool:
        """Withdraw the invoker's authorization for ``api_ids`` (and notify it)."""
        ...


@dataclass(frozen=True, slots=True)
class ExposedApi:
    """A platform API as published: ``root`` is ``/{apiName}/{apiVersion}`` (an app's
    service: ``/aef/{serInstanceId}``, with ``resource`` the one resource it publishes)."""

    api_id: str
    api_name: str
    api_version: str
    root: str
    resource: str | None = None

    def resource_name(self, template: str) -> str:
        if self.resource is not None:
            return self.resource
        return template.removeprefix(self.root).strip("/") or "/"


class ApiSource(Protocol):
    """APIs under one route template (``/aef/{serInstanceId}``) that are known only per
    request: the gateway guards them like the platform's, once the source names the API."""

    @property
    def template(self) -> str: ...

    async def exposed(self, request: web.Request) -> ExposedApi | None:
        """The API the request addresses; ``None``: none is exposed there (404)."""
        ...


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    payer: PayerKind
    #: Authenticated by its client certificate (PKI), not by a token.
    certified: bool = False


def _payer(principal: Principal) -> PayerKind:
    if principal.kind is CallerKind.APP:
        return PayerKind.APP
    if principal.kind is CallerKind.OPERATOR:
        return PayerKind.OPERATOR
    return PayerKind.INVOKER


def _interface(address: Any) -> dict[str, Any] | None:
    """A socket address as a TS 29.222 ``InterfaceDescription``."""
    if not isinstance(address, tuple) or len(address) < 2:
        return None
    host, port = str(address[0]), address[1]
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return {"fqdn": host, "port": port}
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return {"ipv4Addr": str(ip.ipv4_mapped), "port": port}
    return {"ipv4Addr" if ip.version == 4 else "ipv6Addr": str(ip), "port": port}


def _rfc3339(epoch: float) -> str:
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _body_bytes(response: web.StreamResponse) -> int:
    if isinstance(response, web.Response) and isinstance(response.body, bytes):
        return len(response.body)
    return response.content_length or 0


class Gateway:
    def __init__(
        self,
        *,
        roots: Iterable[str],
        authenticator: Authenticator,
        authorisations: Authorisations,
        policies: AccessPolicies,
        journal: InvocationJournal,
    ) -> None:
        """``roots``: the APIs the gateway guards (``/location/v2``); they are refused (503)
        until :meth:`expose` has named their published ids and the AEF."""
        self.aef_id = ""
        self._roots = sorted(roots, key=len, reverse=True)
        self._apis: dict[str, ExposedApi] = {}
        self._sources: dict[str, ApiSource] = {}
        self._authenticator = authenticator
        self._authorisations = authorisations
        self._policies = policies
        self._journal = journal

    def expose(self, aef_id: str, apis: Iterable[ExposedApi]) -> None:
        """The platform's AEF and its published APIs (known once they are published)."""
        self.aef_id = aef_id
        self._apis = {api.root: api for api in apis}

    def add_source(self, source: ApiSource) -> None:
        """Guard the routes under ``source.template`` too."""
        self._sources[source.template] = source
        self._roots = sorted([*self._roots, source.template], key=len, reverse=True)

    def api_of(self, request: web.Request) -> tuple[str, str] | None:
        """The guarded root the request's route belongs to, with the route's template."""
        resource = request.match_info.route.resource
        if resource is None:
            return None
        template = resource.canonical
        for root in self._roots:
            if template == root or template.startswith(f"{root}/"):
                return root, template
        return None

    def exposed(self, root: str) -> ExposedApi:
        api = self._apis.get(root)
        if api is None:
            raise ServiceUnavailable(f"{root} is not published yet; retry shortly")
        return api

    async def resolve(self, request: web.Request, root: str) -> ExposedApi:
        """The API the request addresses under ``root``; else a Problem."""
        source = self._sources.get(root)
        if source is None:
            return self.exposed(root)
        try:
            api = await source.exposed(request)
        except StoreError as error:
            log.error("exposed API not read", error=str(error), path=request.path)
            raise ServiceUnavailable("the API could not be looked up; retry later") from None
        if api is None:
            raise NotFound(f"no service API is exposed at {request.path}")
        return api

    async def authenticate(self, request: web.Request) -> Caller:
        """Who is calling: a token's holder, or an invoker's client certificate; else 401."""
        authorization = request.headers.get("Authorization")
        if authorization:
            principal = await self._authenticator.authenticate(authorization)
            return Caller(principal, _payer(principal))
        return Caller(await self._certificate_caller(request), PayerKind.INVOKER, certified=True)

    async def authorise(self, caller: Caller, api: ExposedApi) -> None:
        """May ``caller`` invoke ``api`` now: scope, security context, policy; else 401, 403
        or 429 (the refusal is then recorded against the caller)."""
        principal = caller.principal
        if principal.kind is not CallerKind.INVOKER:
            return
        if not caller.certified:
            self._check_scope(principal, api)
        await self._check_context(principal.subject, api, pki=caller.certified)
        await self._check_policy(principal.subject, api)

    def _check_scope(self, principal: Principal, api: ExposedApi) -> None:
        scope = principal.claims.get("scope")
        if not isinstance(scope, str) or not allows(scope, self.aef_id, api.api_name):
            raise Forbidden(
                f"the token's scope does not grant {api.api_name} at AEF {self.aef_id}",
                cause="INSUFFICIENT_SCOPE",
            )

    async def _certificate_caller(self, request: web.Request) -> Principal:
        try:
            certificate = peer_certificate(request)
        except ForwardedCertificateError as error:
            raise Unauthorized(str(error), cause="INVALID_CLIENT_CERTIFICATE") from None
        if certificate is None:
            raise Unauthorized(
                "an Authorization: Bearer token, or a client certificate issued by this "
                "platform, is required"
            )
        identity = await caller_identity(request)
        if identity.role.value != CallerKind.INVOKER.value:
            raise Forbidden(f"a {identity.role.value} certificate cannot invoke service APIs")
        return Principal(CallerKind.INVOKER, identity.id, {"sub": identity.id})

    async def _check_context(self, invoker_id: str, api: ExposedApi, *, pki: bool) -> None:
        method = await self._authorisations.selected_method(invoker_id, self.aef_id, api.api_id)
        if method is None:
            raise Forbidden(
                f"API invoker {invoker_id} holds no security context for {api.api_name} "
                f"at AEF {self.aef_id}",
                cause="API_INVOKER_NOT_AUTHORIZED",
            )
        if pki and method != "PKI":
            raise Unauthorized(
                f"the security method negotiated for {api.api_name} is {method}: "
                "present an access token"
            )

    async def _check_policy(self, invoker_id: str, api: ExposedApi) -> None:
        refusal = await self._policies.check(api.api_id, invoker_id)
        if refusal is None:
            return
        if refusal.revoke:
            await self._authorisations.revoke(
                invoker_id, aef_id=self.aef_id, api_ids=[api.api_id], cause=OVERLIMIT_USAGE
            )
            log.info("authorization revoked", apiInvokerId=invoker_id, apiId=api.api_id)
        headers = {"Retry-After": "1"} if refusal.status == 429 else None
        cause = OVERLIMIT_USAGE if refusal.status == 429 else "OUTSIDE_ALLOWED_TIME"
        raise Problem(refusal.detail, status=refusal.status, cause=cause, headers=headers)

    def invocation(
        self,
        request: web.Request,
        api: ExposedApi,
        template: str,
        caller: Caller | None,
        response: web.StreamResponse,
        started: float,
        latency: float,
    ) -> Invocation:
        transport = request.transport
        peer = transport.get_extra_info("peername") if transport else None
        local = transport.get_extra_info("sockname") if transport else None
        record: dict[str, Any] = {
            "apiId": api.api_id,
            "apiName": api.api_name,
            "apiVersion": api.api_version,
            "resourceName": api.resource_name(template),
            "uri": str(request.url),
            "protocol": "HTTP_2" if request.version.major == 2 else "HTTP_1_1",
            "result": str(response.status),
            "invocationTime": _rfc3339(started),
            "invocationLatency": max(0, round(latency * 1000)),
        }
        if request.method in OPERATIONS:
            record["operation"] = request.method
        for name, address in (("srcInterface", peer), ("destInterface", local)):
            described = _interface(address)
            if described is not None:
                record[name] = described
        admitted = caller is not None and response.status not in (401, 403, 429)
        return Invocation(
            aef_id=self.aef_id,
            api_invoker_id=caller.principal.subject if caller else ANONYMOUS,
            log=record,
            payer_kind=caller.payer if caller else PayerKind.ANONYMOUS,
            request_bytes=request.content_length or 0,
            response_bytes=_body_bytes(response),
            admitted=admitted,
            recorded_at=started,
        )

    async def record(self, invocation: Invocation) -> None:
        await self._journal.append([invocation])


@web.middleware
async def gateway_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    gateway = request.app.get(keys.GATEWAY)
    matched = gateway.api_of(request) if gateway is not None else None
    if gateway is None or matched is None:
        return await handler(request)
    root, template = matched
    started, clock = time.time(), time.perf_counter()
    caller: Caller | None = None
    try:
        api = await gateway.resolve(request, root)
    except Problem as problem:
        # Not recorded: a record names the API invoked, and there is none (an id nobody
        # exposes at /aef/..., or an API not published yet).
        return problem_response(problem, request.rel_url.raw_path)
    try:
        caller = await gateway.authenticate(request)
        await gateway.authorise(caller, api)
        request[keys.PRINCIPAL] = caller.principal
        response = await handler(request)
    except Problem as problem:
        response = problem_response(problem, request.rel_url.raw_path)
    invocation = gateway.invocation(
        request, api, template, caller, response, started, time.perf_counter() - clock
    )
    try:
        await gateway.record(invocation)
    except StoreError as error:
        log.error("invocation not recorded", error=str(error), path=request.path)
        unrecorded = ServiceUnavailable("the invocation could not be recorded; retry later")
        return problem_response(unrecorded, request.rel_url.raw_path)
    return response
