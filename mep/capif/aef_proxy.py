"""The gateway's reverse proxy to the apps' exposed services: ``/aef/{serInstanceId}/...``.

The gateway admits the call first (``mep.capif.gateway``: the same authentication, scope,
security context, access control policy and journal as the platform's APIs), with the API named
per request from the service's published API (:class:`AppServiceApis`). The handler then
forwards the method, the path below the service's root, the query, the body and the headers to
the service's endpoint, and answers what the service answered.

Forwarded headers: hop-by-hop ones are dropped, and so is ``Authorization`` (the gateway
consumed the caller's credential; the service must not be able to replay it). The service learns
who calls from ``X-Capif-Api-Invoker-Id``, which only the gateway sets, and where the call came
from in ``X-Forwarded-For`` and ``Forwarded`` (a caller's own are kept only from a trusted
proxy, ``MEP_TRUSTED_PROXIES``). Redirects are passed back, never followed, and cookies are
never kept between calls: the session is shared by every caller.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
import structlog
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from mep.capif.app_services import RESOURCE, ROOT, service_api_id, service_root
from mep.capif.gateway import ExposedApi
from mep.capif.peer import ENVOY_HEADER, NGINX_HEADER, is_trusted, peer_address
from mep.capif.publish import ServiceApis
from mep.core import keys
from mep.core.problem import BadRequest, NotFound, Problem, ServiceUnavailable
from mep.mp1.service_mgmt.capif_exposure import SCHEMES, endpoint_url, exposed
from mep.mp1.service_mgmt.models import ServiceState
from mep.mp1.service_mgmt.records import StoredService
from mep.mp1.service_mgmt.service import ServiceRegistry

log = structlog.get_logger("mep.capif.aef_proxy")

INVOKER_HEADER = "X-Capif-Api-Invoker-Id"
#: RFC 9110 clause 7.6.1, and the proxy headers of old clients.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: Never forwarded to the service: recomputed (``Host``, ``Content-Length``), consumed by the
#: gateway (``Authorization``, ``Expect``), or set by the gateway alone.
NOT_FORWARDED = frozenset(
    {
        "host",
        "content-length",
        "expect",
        "authorization",
        INVOKER_HEADER.lower(),
        ENVOY_HEADER.lower(),
        NGINX_HEADER.lower(),
    }
)
#: What a caller says about earlier hops: believed from a trusted proxy only.
FORWARDING = frozenset({"forwarded", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto"})
#: Whatever the caller sends, the service's answer is read whole (the gateway records its size
#: before the caller gets it): a bigger one is refused rather than held in memory.
MAX_RESPONSE = 16 * 1024 * 1024
#: A service that does not accept the connection within 2 s is down; one that takes more than
#: 30 s to answer in full has timed out. The socket connect is bounded, not the wait for a
#: pooled connection, which is ours and bounded by the total.
TIMEOUT = aiohttp.ClientTimeout(total=30, sock_connect=2)


class AppServiceApis:
    """The gateway's source for ``/aef/{serInstanceId}``: the published API of the service,
    while the service exists and asks for exposure."""

    template = ROOT

    def __init__(
        self, registry: ServiceRegistry, service_apis: ServiceApis, apf_id: Callable[[], str]
    ) -> None:
        self._registry = registry
        self._apis = service_apis
        self._apf_id = apf_id

    async def exposed(self, request: web.Request) -> ExposedApi | None:
        ser_instance_id = request.match_info["serInstanceId"]
        try:
            stored = await self._registry.get(ser_instance_id)
        except NotFound:
            return None
        if not exposed(stored.info):
            return None
        apf_id = self._apf_id()
        try:
            published = await self._apis.get(apf_id, service_api_id(apf_id, ser_instance_id))
        except NotFound:
            return None
        profiles = published.description.aef_profiles or []
        if not profiles:
            return None
        request[keys.AEF_SERVICE] = stored
        return ExposedApi(
            api_id=published.api_id,
            api_name=published.description.api_name,
            api_version=profiles[0].versions[0].api_version,
            root=service_root(ser_instance_id),
            resource=RESOURCE,
        )


def raw_tail(request: web.Request) -> str:
    """The path below ``/aef/{serInstanceId}``, as the caller encoded it; 400 for a ``.`` or
    ``..`` segment, which the service could resolve to a path outside its endpoint."""
    parts = request.rel_url.raw_path.split("/", 3)  # "", "aef", the id, the rest
    tail = f"/{parts[3]}" if len(parts) > 3 else ""
    for segment in tail.split("/"):
        decoded = unquote(segment).replace("\\", "/").split("/")
        if any(part in (".", "..") for part in decoded):
            raise BadRequest("the path has a '.' or '..' segment, which is not forwarded")
    return tail


def upstream_url(base: str, tail: str, query: str) -> URL:
    """``tail`` below the endpoint's path, with the endpoint's query and then the caller's."""
    parts = urlsplit(base)
    path = parts.path.rstrip("/") + tail
    joined = "&".join(q for q in (parts.query, query) if q)
    return URL(urlunsplit((parts.scheme, parts.netloc, path or "/", joined, "")), encoded=True)


def _listed_in_connection(headers: CIMultiDictProxy[str]) -> set[str]:
    return {
        name.strip().lower()
        for value in headers.getall("Connection", [])
        for name in value.split(",")
        if name.strip()
    }


def _forwarded_node(address: str | None) -> str:
    if address is None:
        return "unknown"
    return f'"[{address}]"' if ":" in address else address


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def request_headers(request: web.Request, caller_id: str) -> CIMultiDict[str]:
    """What the service gets: the caller's end-to-end headers and the gateway's own."""
    settings = request.app[keys.SETTINGS]
    peer = peer_address(request)
    trusted = is_trusted(peer, settings.trusted_proxy_networks)
    dropped = HOP_BY_HOP | NOT_FORWARDED | _listed_in_connection(request.headers)
    if not trusted:
        dropped |= FORWARDING
    headers = CIMultiDict(
        (name, value) for name, value in request.headers.items() if name.lower() not in dropped
    )
    element = f"for={_forwarded_node(peer)};host={_quoted(request.host)};proto={request.scheme}"
    for name, value in (("X-Forwarded-For", peer or "unknown"), ("Forwarded", element)):
        earlier = ", ".join(headers.popall(name, []))
        headers[name] = f"{earlier}, {value}" if earlier else value
    headers[INVOKER_HEADER] = caller_id
    headers["X-Request-ID"] = request[keys.REQUEST_ID]
    return headers


def response_headers(upstream: aiohttp.ClientResponse) -> CIMultiDict[str]:
    dropped = HOP_BY_HOP | {"content-length"} | _listed_in_connection(upstream.headers)
    return CIMultiDict(
        (name, value) for name, value in upstream.headers.items() if name.lower() not in dropped
    )


async def _body(upstream: aiohttp.ClientResponse, service_id: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in upstream.content.iter_any():
        size += len(chunk)
        if size > MAX_RESPONSE:
            raise Problem(
                f"service {service_id} answered more than {MAX_RESPONSE} bytes", status=502
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _service(request: web.Request) -> StoredService:
    if keys.AEF_SERVICE not in request:
        # Only the gateway's source names the service: without it, nothing is forwarded.
        raise NotFound(f"no service API is exposed at {request.path}")
    stored = request[keys.AEF_SERVICE]
    if stored.info.state is not ServiceState.ACTIVE:
        raise ServiceUnavailable(f"service {stored.id} is {stored.info.state.value}")
    return stored


async def forward(request: web.Request) -> web.Response:
    """Any method on ``/aef/{serInstanceId}[/...]``: the service's answer."""
    stored = _service(request)
    base = endpoint_url(stored.info.transport_info)
    if base is None or urlsplit(base).scheme.lower() not in SCHEMES:
        raise NotFound(f"service {stored.id} has no HTTP endpoint")
    url = upstream_url(base, raw_tail(request), request.rel_url.raw_query_string)
    headers = request_headers(request, request[keys.PRINCIPAL].subject)
    body = await request.read()
    session = request.app[keys.AEF_PROXY_SESSION]
    try:
        async with session.request(
            request.method,
            url,
            headers=headers,
            data=body or None,
            allow_redirects=False,
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent"),
        ) as upstream:
            payload = await _body(upstream, stored.id)
            return web.Response(
                status=upstream.status,
                reason=upstream.reason,
                body=payload,
                headers=response_headers(upstream),
            )
    except TimeoutError:
        log.info("service timed out", service=stored.id)
        raise Problem(f"service {stored.id} did not answer in time", status=504) from None
    except aiohttp.ClientError as error:
        log.info("service unreachable", service=stored.id, error=str(error))
        raise Problem(f"service {stored.id} could not be reached", status=502) from None


@contextlib.asynccontextmanager
async def _session(app: web.Application) -> AsyncIterator[None]:
    # Redirects and cookies concern the caller, not the gateway; bodies pass as sent.
    async with aiohttp.ClientSession(
        timeout=TIMEOUT, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        app[keys.AEF_PROXY_SESSION] = session
        yield


def _start(app: web.Application) -> None:
    app[keys.GATEWAY].add_source(
        AppServiceApis(
            app[keys.SERVICE_REGISTRY],
            app[keys.CAPIF_SERVICE_APIS],
            # Made by ``publish_platform``, before the first request.
            apf_id=lambda: app[keys.CAPIF_PLATFORM].apf_id,
        )
    )


def setup(app: web.Application) -> None:
    """Routes, the shared client session, and the gateway's source (after the gateway's
    wiring in ``app[keys.SERVICE_SETUPS]``). Only with the gateway: these routes must never
    be served unguarded."""
    app.router.add_route("*", ROOT, forward)
    app.router.add_route("*", f"{ROOT}/{{tail:.*}}", forward)
    app.cleanup_ctx.append(_session)
    app[keys.SERVICE_SETUPS].append(_start)
