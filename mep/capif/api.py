"""CAPIF core function wiring, and the operator's pre-provisioning endpoint.

``POST /mep_mgmt/v1/capif/enrolments`` (operator token) hands out what TS 33.122 clause 6.1
calls onboarding enrolment information: the CCF's TLS address, its root CA certificate, and a
single-use credential (an invoker's ``onboardingToken``, a provider domain's ``regSec``).
"""

from __future__ import annotations

from aiohttp import web

from mep.auth.guard import require
from mep.capif import invoker_api, provider_api
from mep.capif.enrolments import Enrolments
from mep.capif.identity import CertificateRevocations
from mep.capif.invokers import Invokers
from mep.capif.models import EnrolmentRequest
from mep.capif.providers import Providers
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
    app[keys.CAPIF_INVOKERS] = Invokers(committer, outbox, ca, enrolments)
    app[keys.CAPIF_PROVIDERS] = Providers(committer, outbox, ca, enrolments)


def setup(app: web.Application) -> None:
    """Routes, and the startup wiring appended to ``app[keys.SERVICE_SETUPS]``."""
    app.router.add_post(ENROLMENTS, create_enrolment)
    invoker_api.setup(app)
    provider_api.setup(app)
    app[keys.SERVICE_SETUPS].append(_start)
