"""Access control policies: read by AEFs over CAPIF-3 (``/access-control-policy/v1``, TS 29.222
clause 8.11), set by the operator (``/mep_mgmt/v1/capif/access-control-policies``)."""

from __future__ import annotations

from aiohttp import web

from mep.auth.guard import require
from mep.capif.access_control import AccessPolicies, AccessPolicy, AccessPolicyRequest
from mep.capif.http import add_routes, bad_query, check_features
from mep.capif.identity import CapifRole, require_identity
from mep.core import keys
from mep.core.http import json_response, read_model
from mep.core.problem import NotFound
from mep.core.tokens import CallerKind

POLICY_LIST = "/access-control-policy/v1/accessControlPolicyList/{serviceApiId}"
OPERATOR_POLICY = "/mep_mgmt/v1/capif/access-control-policies/{serviceApiId}/{apiInvokerId}"


def _policies(request: web.Request) -> AccessPolicies:
    return request.app[keys.CAPIF_ACCESS_CONTROL]


async def _published_aefs(request: web.Request, api_id: str) -> set[str]:
    """The AEFs of the published API ``api_id``; 404 when no such API is published."""
    found = await request.app[keys.CAPIF_SERVICE_APIS].named([api_id], ())
    if not found:
        raise NotFound(f"no published service API {api_id!r}")
    return {p.aef_id for p in found[0].description.aef_profiles or []}


async def policy_list(request: web.Request) -> web.Response:
    api_id = request.match_info["serviceApiId"]
    aef_id = request.query.get("aef-id", "").strip()
    if not aef_id:
        raise bad_query("aef-id", "is required")
    await require_identity(request, CapifRole.AEF, aef_id)
    if aef_id not in await _published_aefs(request, api_id):
        raise NotFound(f"AEF {aef_id} does not expose service API {api_id}")
    check_features(request, "supported-features")
    only = request.query.get("api-invoker-id", "").strip() or None
    return json_response(await _policies(request).policy_list(api_id, only=only))


def _operator_view(policy: AccessPolicy) -> dict[str, object]:
    return {
        "serviceApiId": policy.api_id,
        **policy.invoker_policy(),
        "revokeOnOverlimit": policy.rules.revoke_on_overlimit,
    }


async def _target(request: web.Request) -> tuple[str, str]:
    api_id, invoker_id = request.match_info["serviceApiId"], request.match_info["apiInvokerId"]
    await _published_aefs(request, api_id)
    await request.app[keys.CAPIF_INVOKERS].get(invoker_id)
    return api_id, invoker_id


@require(CallerKind.OPERATOR)
async def put_policy(request: web.Request) -> web.Response:
    api_id, invoker_id = await _target(request)
    rules = await read_model(request, AccessPolicyRequest)
    policy, created = await _policies(request).put(api_id, invoker_id, rules)
    return json_response(_operator_view(policy), status=201 if created else 200)


@require(CallerKind.OPERATOR)
async def get_policy(request: web.Request) -> web.Response:
    api_id, invoker_id = request.match_info["serviceApiId"], request.match_info["apiInvokerId"]
    policy = await _policies(request).get(api_id, invoker_id)
    if policy is None:
        raise NotFound(f"no access control policy for {invoker_id} on {api_id}")
    return json_response(_operator_view(policy))


@require(CallerKind.OPERATOR)
async def delete_policy(request: web.Request) -> web.Response:
    api_id, invoker_id = request.match_info["serviceApiId"], request.match_info["apiInvokerId"]
    if not await _policies(request).delete(api_id, invoker_id):
        raise NotFound(f"no access control policy for {invoker_id} on {api_id}")
    return web.Response(status=204)


def setup(app: web.Application) -> None:
    add_routes(app, [web.get(POLICY_LIST, policy_list)])
    app.router.add_put(OPERATOR_POLICY, put_policy)
    app.router.add_get(OPERATOR_POLICY, get_policy)
    app.router.add_delete(OPERATOR_POLICY, delete_policy)
