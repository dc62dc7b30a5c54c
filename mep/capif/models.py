"""CAPIF bodies (TS 29.222 clauses 8.1.4 and 8.9.4), named as in the OpenAPI files, and the
operator's enrolment bodies (pre-provisioning, TS 33.122 clause 6.1: out of the 3GPP scope).

Enumerations are extensible in 3GPP (``anyOf: [enum, string]``), so ``apiProvFuncRole`` is a
string here and the provider service refuses a role it does not know, naming the field.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, ConfigDict, Field

from mep.core.models import ApiModel, StrictApiModel

#: TS 29.571 SupportedFeatures: a hex bitmask; "0" and "" are valid.
SupportedFeatures = Annotated[str, Field(pattern=r"^[A-Fa-f0-9]*$", max_length=256)]
Text = Annotated[str, Field(max_length=4096)]
#: A PEM CSR or public key, or a certificate we issued.
Pem = Annotated[str, Field(min_length=1, max_length=16_384)]

#: At most seven days between pre-provisioning and onboarding.
MAX_ENROLMENT_TTL = 7 * 24 * 3600


def _http_uri(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http:// or https:// URI")
    return value


HttpUri = Annotated[str, Field(max_length=2048), AfterValidator(_http_uri)]


class WebsockNotifConfig(ApiModel):
    """TS 29.122 WebsockNotifConfig."""

    websocket_uri: Annotated[str, Field(max_length=2048)] | None = None
    request_websocket_uri: bool | None = None


class ServiceAPIDescription(ApiModel):
    """TS 29.222 clause 8.2.4.2.2 in an invoker's ``apiList``, kept as given: discovery reads
    ``apiId`` and ``apiName`` (the full model is ``mep.capif.service_api_models``)."""

    model_config = ConfigDict(extra="allow")

    api_name: Annotated[str, Field(min_length=1, max_length=256)]
    api_id: Annotated[str, Field(max_length=256)] | None = None


class APIList(ApiModel):
    service_api_descriptions: (
        Annotated[list[ServiceAPIDescription], Field(min_length=1, max_length=1000)] | None
    ) = Field(default=None, alias="serviceAPIDescriptions")


class OnboardingInformation(ApiModel):
    """TS 29.222 clause 8.4.4.2.2. ``apiInvokerPublicKey``: a PEM CSR (what real clients send)
    or a PEM SubjectPublicKeyInfo."""

    api_invoker_public_key: Pem
    api_invoker_certificate: Pem | None = None
    onboarding_secret: Text | None = None


class APIInvokerEnrolmentDetails(ApiModel):
    """TS 29.222 clause 8.4.4.2.3."""

    api_invoker_id: Annotated[str, Field(max_length=256)] | None = None
    onboarding_information: OnboardingInformation
    notification_destination: HttpUri
    request_test_notification: bool | None = None
    websock_notif_config: WebsockNotifConfig | None = None
    api_list: APIList | None = None
    api_invoker_information: Text | None = None
    supported_features: SupportedFeatures | None = None


class APIInvokerEnrolmentDetailsPatch(ApiModel):
    """TS 29.222 clause 8.4.4.2.5 (sent as ``application/merge-patch+json``)."""

    onboarding_information: OnboardingInformation | None = None
    notification_destination: HttpUri | None = None
    api_list: APIList | None = None
    api_invoker_information: Text | None = None


class RegistrationInformation(ApiModel):
    """TS 29.222 clause 8.9.4.2.4. ``apiProvPubKey``: a PEM CSR or public key."""

    api_prov_pub_key: Pem
    api_prov_cert: Pem | None = None


class APIProviderFunctionDetails(ApiModel):
    """TS 29.222 clause 8.9.4.2.3. ``apiProvFuncRole``: AEF, APF or AMF."""

    api_prov_func_id: Annotated[str, Field(max_length=256)] | None = None
    reg_info: RegistrationInformation
    api_prov_func_role: Annotated[str, Field(min_length=1, max_length=64)]
    api_prov_func_info: Text | None = None


class APIProviderEnrolmentDetails(ApiModel):
    """TS 29.222 clause 8.9.4.2.2. ``regSec`` is required on POST (the service says so)."""

    api_prov_dom_id: Annotated[str, Field(max_length=256)] | None = None
    reg_sec: Text | None = None
    api_prov_funcs: (
        Annotated[list[APIProviderFunctionDetails], Field(min_length=1, max_length=100)] | None
    ) = None
    api_prov_dom_info: Text | None = None
    supp_feat: SupportedFeatures | None = None
    fail_reason: Text | None = None


class APIProviderEnrolmentDetailsPatch(ApiModel):
    """TS 29.222 clause 8.9.4.2.5 (sent as ``application/merge-patch+json``)."""

    api_prov_funcs: (
        Annotated[list[APIProviderFunctionDetails], Field(min_length=1, max_length=100)] | None
    ) = None
    api_prov_dom_info: Text | None = None


# --- the operator's pre-provisioning (``/mep_mgmt/v1/capif/enrolments``) ---


class EnrolmentRequest(StrictApiModel):
    """Who may onboard (an API invoker) or register (an API provider domain), and for how long
    the single-use credential stays valid."""

    role: Literal["invoker", "provider"]
    ttl: Annotated[int, Field(ge=1, le=MAX_ENROLMENT_TTL)] = 3600


class Enrolment(ApiModel):
    """TS 33.122 clause 6.1 onboarding enrolment information: the CCF's address and root CA,
    and the credential (``onboardingToken`` for an invoker, ``regSec`` for a provider)."""

    role: Literal["invoker", "provider"]
    ca_root: str
    ccf_url: str
    onboarding_token: str | None = None
    reg_sec: str | None = None
    expires_at: dt.datetime


class EnrolmentRecord(ApiModel):
    """An enrolment as stored, under the SHA-256 of its credential (never the credential)."""

    role: Literal["invoker", "provider"]
    expires_at: float
    created_at: float
