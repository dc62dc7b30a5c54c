"""``/api-provider-management/v1``: API provider domain registration (TS 29.222 clause 8.9,
CAPIF-5).

POST takes the operator's ``regSec`` in the body (or, as OpenCAPIF clients also send it, as
``Authorization: Bearer``); PUT, PATCH and DELETE take the client certificate of one of the
domain's AMFs.
"""

from __future__ import annotations

from aiohttp import web

from mep.capif.http import add_routes, answer, bearer_credential, read_merge_patch
from mep.capif.identity import CapifRole, require_identity
from mep.capif.models import APIProviderEnrolmentDetails
from mep.capif.providers import Providers, StoredRegistration
from mep.core import keys
from mep.core.http import read_model

ROOT = "/api-provider-management/v1"
BASE = f"{ROOT}/registrations"


def _service(request: web.Request) -> Providers:
    return request.app[keys.CAPIF_PROVIDERS]


def _answer(request: web.Request, stored: StoredRegistration) -> web.Response:
    path = f"{BASE}/{stored.registration_id}"
    return answer(request, stored.details, created=stored.created, path=path)


async def register(request: web.Request) -> web.Response:
    details = await read_model(request, APIProviderEnrolmentDetails)
    stored = await _service(request).register(details, [bearer_credential(request)])
    return _answer(request, stored)


async def put_registration(request: web.Request) -> web.Response:
    amf = await require_identity(request, CapifRole.AMF)
    details = await read_model(request, APIProviderEnrolmentDetails)
    registration_id = request.match_info["registrationId"]
    return _answer(request, await _service(request).replace(registration_id, amf, details))


async def patch_registration(request: web.Request) -> web.Response:
    amf = await require_identity(request, CapifRole.AMF)
    patch = await read_merge_patch(request)
    registration_id = request.match_info["registrationId"]
    return _answer(request, await _service(request).patch(registration_id, amf, patch))


async def delete_registration(request: web.Request) -> web.Response:
    amf = await require_identity(request, CapifRole.AMF)
    await _service(request).deregister(request.match_info["registrationId"], amf)
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    one = f"{BASE}/{{registrationId}}"
    add_routes(
        app,
        [
            web.post(BASE, register),
            web.put(one, put_registration),
            web.patch(one, patch_registration),
            web.delete(one, delete_registration),
        ],
    )
