"""``/api-invoker-management/v1``: API invoker onboarding (TS 29.222 clause 8.4, CAPIF-1/1e).

POST takes the onboarding credential as ``Authorization: Bearer`` over server-authenticated TLS
(TS 33.122 clause 6.1); PUT, PATCH and DELETE take the invoker's own client certificate.
"""

from __future__ import annotations

from aiohttp import web

from mep.capif.http import add_routes, answer, bearer_credential, read_merge_patch
from mep.capif.identity import CapifRole, require_identity
from mep.capif.invokers import Invokers, StoredInvoker
from mep.capif.models import APIInvokerEnrolmentDetails
from mep.core import keys
from mep.core.http import read_model

ROOT = "/api-invoker-management/v1"
BASE = f"{ROOT}/onboardedInvokers"


def _service(request: web.Request) -> Invokers:
    return request.app[keys.CAPIF_INVOKERS]


def _answer(request: web.Request, stored: StoredInvoker) -> web.Response:
    path = f"{BASE}/{stored.invoker_id}"
    return answer(request, stored.details, created=stored.created, path=path)


async def onboard(request: web.Request) -> web.Response:
    details = await read_model(request, APIInvokerEnrolmentDetails)
    return _answer(request, await _service(request).onboard(details, [bearer_credential(request)]))


async def put_invoker(request: web.Request) -> web.Response:
    invoker_id = request.match_info["onboardingId"]
    await require_identity(request, CapifRole.INVOKER, invoker_id)
    details = await read_model(request, APIInvokerEnrolmentDetails)
    return _answer(request, await _service(request).replace(invoker_id, details))


async def patch_invoker(request: web.Request) -> web.Response:
    invoker_id = request.match_info["onboardingId"]
    await require_identity(request, CapifRole.INVOKER, invoker_id)
    patch = await read_merge_patch(request)
    return _answer(request, await _service(request).patch(invoker_id, patch))


async def delete_invoker(request: web.Request) -> web.Response:
    invoker_id = request.match_info["onboardingId"]
    await require_identity(request, CapifRole.INVOKER, invoker_id)
    await _service(request).offboard(invoker_id)
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    one = f"{BASE}/{{onboardingId}}"
    add_routes(
        app,
        [
            web.post(BASE, onboard),
            web.put(one, put_invoker),
            web.patch(one, patch_invoker),
            web.delete(one, delete_invoker),
        ],
    )
