"""``/published-apis/v1``: the Publish Service API (TS 29.222 clause 8.2, CAPIF-4).

Every operation takes the client certificate of the APF named in the path: none (or a revoked
one) 401, another APF's or another role's 403 (TS 33.122: mutual TLS on CAPIF-4).
"""

from __future__ import annotations

from aiohttp import web

from mep.capif.http import add_routes, answer, read_merge_patch
from mep.capif.identity import CapifRole, require_identity
from mep.capif.publish import PublishedApi, ServiceApis
from mep.capif.service_api_models import ServiceAPIDescription
from mep.core import keys
from mep.core.http import json_response, read_model

ROOT = "/published-apis/v1"
COLLECTION = "/{apfId}/service-apis"
ONE = f"{COLLECTION}/{{serviceApiId}}"


def _service(request: web.Request) -> ServiceApis:
    return request.app[keys.CAPIF_SERVICE_APIS]


async def _apf(request: web.Request) -> str:
    apf_id = request.match_info["apfId"]
    await require_identity(request, CapifRole.APF, apf_id)
    return apf_id


def _answer(request: web.Request, api: PublishedApi) -> web.Response:
    path = f"{ROOT}/{api.apf_id}/service-apis/{api.api_id}"
    return answer(request, api.description, created=api.created, path=path)


async def publish(request: web.Request) -> web.Response:
    apf_id = await _apf(request)
    description = await read_model(request, ServiceAPIDescription)
    return _answer(request, await _service(request).publish(apf_id, description))


async def list_published(request: web.Request) -> web.Response:
    apf_id = await _apf(request)
    published = await _service(request).published_by(apf_id)
    return json_response([api.description for api in published])


async def get_published(request: web.Request) -> web.Response:
    apf_id = await _apf(request)
    api = await _service(request).get(apf_id, request.match_info["serviceApiId"])
    return _answer(request, api)


async def put_published(request: web.Request) -> web.Response:
    apf_id = await _apf(request)
    description = await read_model(request, ServiceAPIDescription)
    api_id = request.match_info["serviceApiId"]
    return _answer(request, await _service(request).replace(apf_id, api_id, description))


async def patch_published(request: web.Request) -> web.Response:
    apf_id = await _apf(request)
    patch = await read_merge_patch(request)
    api_id = request.match_info["serviceApiId"]
    return _answer(request, await _service(request).patch(apf_id, api_id, patch))


async def delete_published(request: web.Request) -> web.Response:
    apf_id = await _apf(request)
    await _service(request).unpublish(apf_id, request.match_info["serviceApiId"])
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    collection, one = f"{ROOT}{COLLECTION}", f"{ROOT}{ONE}"
    add_routes(
        app,
        [
            web.post(collection, publish),
            web.get(collection, list_published),
            web.get(one, get_published),
            web.put(one, put_published),
            web.patch(one, patch_published),
            web.delete(one, delete_published),
        ],
    )
