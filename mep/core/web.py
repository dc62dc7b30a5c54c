"""The application skeleton every HTTP service of the platform shares."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from mep.core import health, keys
from mep.core.drain import InFlight, in_flight_middleware
from mep.core.metrics import Metrics, metrics_handler, metrics_middleware
from mep.core.problem import problem_middleware
from mep.core.request_id import echo_request_id, request_id_middleware

MAX_BODY = 1024 * 1024


def base_app(namespace: str, *, errors: Middleware = problem_middleware) -> web.Application:
    """Request ids, graceful drain, metrics named ``<namespace>_*``, the error renderer, and
    ``/healthz``, ``/readyz``, ``/metrics``. The caller sets ``keys.STORE`` before startup."""
    app = web.Application(
        middlewares=[request_id_middleware, in_flight_middleware, metrics_middleware, errors],
        client_max_size=MAX_BODY,
    )
    app[keys.METRICS] = Metrics(namespace)
    app[keys.IN_FLIGHT] = InFlight()
    app.on_response_prepare.append(echo_request_id)
    health.setup(app)
    app.router.add_get("/metrics", metrics_handler)
    return app
