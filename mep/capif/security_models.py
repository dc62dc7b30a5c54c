"""Bodies of the CAPIF Security API (TS 29.222 clause 8.5.4), the AEF Security API and the
Routing Info API, named as in ``TS29222_CAPIF_Security_API.yaml``,
``TS29222_AEF_Security_API.yaml`` and ``TS29222_CAPIF_Routing_Info_API.yaml``.

``SecurityMethod``, ``Cause`` and ``AuthorizationFlow`` are extensible 3GPP enumerations: strings
here. The security service refuses a preferred method it cannot negotiate, naming the entry.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from mep.capif.models import HttpUri, SupportedFeatures, Text, WebsockNotifConfig
from mep.capif.service_api_models import (
    AefProfile,
    EnumText,
    InterfaceDescription,
    Ipv4AddressRange,
    Ipv6AddressRange,
    Name,
)
from mep.core.models import ApiModel


class SecurityInformation(ApiModel):
    """TS 29.222 clause 8.5.4.2.3: one API (or the APIs of one AEF or interface) and the
    security methods for it. ``selSecurityMethod``, ``authenticationInfo`` and
    ``authorizationInfo`` are the CCF's to fill: what an invoker sends there is not kept."""

    interface_details: InterfaceDescription | None = None
    aef_id: Name | None = None
    api_id: Name | None = None
    pref_security_methods: Annotated[list[EnumText], Field(min_length=1, max_length=8)]
    sel_security_method: EnumText | None = None
    authentication_info: Text | None = None
    authorization_info: Text | None = None
    authorization_flow: Annotated[list[EnumText], Field(min_length=1, max_length=8)] | None = None

    @model_validator(mode="after")
    def _one_way_to_the_aef(self) -> SecurityInformation:
        if (self.interface_details is None) == (self.aef_id is None):
            raise ValueError("exactly one of interfaceDetails and aefId is required")
        return self


class ServiceSecurity(ApiModel):
    """TS 29.222 clause 8.5.4.2.2."""

    security_info: Annotated[list[SecurityInformation], Field(min_length=1, max_length=1000)]
    notification_destination: HttpUri
    request_test_notification: bool | None = None
    websock_notif_config: WebsockNotifConfig | None = None
    supported_features: SupportedFeatures | None = None


class SecurityNotification(ApiModel):
    """TS 29.222 clause 8.5.4.2.4: the revocation of an invoker's authorization for APIs.
    ``cause``: ``OVERLIMIT_USAGE``, ``UNEXPECTED_REASON`` or a later value."""

    api_invoker_id: Name
    aef_id: Name | None = None
    api_ids: Annotated[list[Name], Field(min_length=1, max_length=1000)]
    cause: EnumText


class CheckAuthenticationReq(ApiModel):
    """The AEF's ``POST /check-authentication`` body."""

    api_invoker_id: Name
    supported_features: SupportedFeatures


class CheckAuthenticationRsp(ApiModel):
    supported_features: SupportedFeatures


class RevokeAuthorizationReq(ApiModel):
    """The AEF's ``POST /revoke-authorization`` body."""

    revoke_info: SecurityNotification
    supported_features: SupportedFeatures


class RevokeAuthorizationRsp(ApiModel):
    supported_features: SupportedFeatures


class RoutingRule(ApiModel):
    """An AEF profile of a published API, and the UE addresses it serves."""

    aef_profile: AefProfile
    ipv4_addr_ranges: list[Ipv4AddressRange] | None = None
    ipv6_addr_ranges: list[Ipv6AddressRange] | None = None


class RoutingInfo(ApiModel):
    """The answer of ``GET /capif-routing-info/v1/service-apis/{serviceApiId}``."""

    routing_rules: Annotated[list[RoutingRule], Field(min_length=1)]
