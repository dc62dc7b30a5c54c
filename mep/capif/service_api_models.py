"""Bodies of the Publish and Discover Service APIs (TS 29.222 clauses 8.2.4 and 8.1.4), named as
in the OpenAPI files (``TS29222_CAPIF_Publish_Service_API.yaml``,
``TS29222_CAPIF_Discover_Service_API.yaml``).

Enumerations are extensible in 3GPP (``anyOf: [enum, string]``): ``protocol``, ``dataFormat``,
``securityMethods``, ``commType`` and ``operations`` are strings here. Addresses in interface
descriptions are kept as given (CAPIF clients publish placeholders such as ``"string"``); only
the UE address ranges, which discovery compares, must be real addresses. Members of a newer
release the platform does not know are dropped, as for every body of the platform.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from mep.capif.models import SupportedFeatures, Text
from mep.core.models import ApiModel

Name = Annotated[str, Field(min_length=1, max_length=256)]
#: An extensible 3GPP enumeration value (``Protocol``, ``DataFormat``, ``SecurityMethod``, ...).
EnumText = Annotated[str, Field(min_length=1, max_length=64)]
Uinteger = Annotated[int, Field(ge=0)]
#: ServiceKpis compute figures: ``"1.5 GFLOPS"``; memory and storage: ``"512 MB"``.
Flops = Annotated[
    str, Field(pattern=r"^\d+(\.\d+)? (kFLOPS|MFLOPS|GFLOPS|TFLOPS|PFLOPS|EFLOPS|ZFLOPS)$")
]
Bytes = Annotated[str, Field(pattern=r"^\d+(\.\d+)? (KB|MB|GB|TB|PB|EB|ZB|YB)$")]
JsonObject = dict[str, Any]


def _ipv4(value: str) -> str:
    ipaddress.IPv4Address(value)
    return value


def _ipv6(value: str) -> str:
    ipaddress.IPv6Address(value)
    return value


#: TS 29.571 Ipv4Addr / Ipv6Addr where the platform reads the address (UE ranges and queries).
Ipv4Addr = Annotated[str, Field(max_length=15), AfterValidator(_ipv4)]
Ipv6Addr = Annotated[str, Field(max_length=45), AfterValidator(_ipv6)]


def _exactly_one(model: ApiModel, names: tuple[str, ...], wire: str) -> None:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) != 1:
        raise ValueError(f"exactly one of {wire} is required")


class CustomOperation(ApiModel):
    """A custom operation without resource association."""

    comm_type: EnumText
    cust_op_name: Name
    operations: Annotated[list[EnumText], Field(min_length=1, max_length=16)] | None = None
    description: Text | None = None


CustomOperations = Annotated[list[CustomOperation], Field(min_length=1, max_length=100)]


class Resource(ApiModel):
    """An API resource. ``uri`` is relative to the API root (``/queries/users``)."""

    resource_name: Name
    comm_type: EnumText
    uri: Annotated[str, Field(min_length=1, max_length=2048)]
    cust_op_name: Name | None = None
    cust_operations: CustomOperations | None = None
    operations: Annotated[list[EnumText], Field(min_length=1, max_length=16)] | None = None
    description: Text | None = None


class Version(ApiModel):
    """An API version. The platform wants ``resources``: invokers read the URIs
    from them (the service says so, naming the field)."""

    api_version: Name
    expiry: dt.datetime | None = None
    resources: Annotated[list[Resource], Field(min_length=1, max_length=1000)] | None = None
    cust_operations: CustomOperations | None = None


class InterfaceDescription(ApiModel):
    """Where an AEF answers: one of ``ipv4Addr``, ``ipv6Addr``, ``fqdn``."""

    ipv4_addr: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    ipv6_addr: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    fqdn: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    port: Annotated[int, Field(ge=0, le=65535)] | None = None
    api_prefix: Annotated[str, Field(max_length=2048)] | None = None
    security_methods: Annotated[list[EnumText], Field(min_length=1, max_length=8)] | None = None

    @model_validator(mode="after")
    def _one_address(self) -> InterfaceDescription:
        _exactly_one(self, ("ipv4_addr", "ipv6_addr", "fqdn"), "ipv4Addr, ipv6Addr and fqdn")
        return self


class AefLocation(ApiModel):
    """Where an AEF is. ``civicAddr`` and ``geoArea`` (TS 29.572 CivicAddress and
    GeographicArea) are kept as the JSON objects given."""

    civic_addr: JsonObject | None = None
    geo_area: JsonObject | None = None
    dc_id: Name | None = None


class ServiceKpis(ApiModel):
    """What an AEF offers an invoker: rates, response time, compute, memory, bandwidth."""

    max_req_rate: Uinteger | None = None
    max_restime: Uinteger | None = None
    availability: Uinteger | None = None
    aval_comp: Flops | None = None
    aval_gra_comp: Flops | None = None
    aval_mem: Bytes | None = None
    aval_stor: Bytes | None = None
    con_band: Uinteger | None = None


class Ipv4AddressRange(ApiModel):
    """TS 29.571 Ipv4AddressRange (both ends included)."""

    start: Ipv4Addr
    end: Ipv4Addr


class Ipv6AddressRange(ApiModel):
    start: Ipv6Addr
    end: Ipv6Addr


class IpAddrRange(ApiModel):
    """The UEs an AEF serves."""

    ue_ipv4_addr_ranges: Annotated[list[Ipv4AddressRange], Field(min_length=1)] | None = None
    ue_ipv6_addr_ranges: Annotated[list[Ipv6AddressRange], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _some_range(self) -> IpAddrRange:
        if self.ue_ipv4_addr_ranges is None and self.ue_ipv6_addr_ranges is None:
            raise ValueError("ueIpv4AddrRanges or ueIpv6AddrRanges is required")
        return self


class AefProfile(ApiModel):
    """One AEF exposing the API: one of ``domainName`` and ``interfaceDescriptions``."""

    aef_id: Name
    versions: Annotated[list[Version], Field(min_length=1, max_length=100)]
    protocol: EnumText | None = None
    data_format: EnumText | None = None
    security_methods: Annotated[list[EnumText], Field(min_length=1, max_length=8)] | None = None
    domain_name: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    interface_descriptions: (
        Annotated[list[InterfaceDescription], Field(min_length=1, max_length=100)] | None
    ) = None
    aef_location: AefLocation | None = None
    service_kpis: ServiceKpis | None = None
    ue_ip_range: IpAddrRange | None = None

    @model_validator(mode="after")
    def _one_way_in(self) -> AefProfile:
        names = ("domain_name", "interface_descriptions")
        _exactly_one(self, names, "domainName and interfaceDescriptions")
        return self


class ApiStatus(ApiModel):
    """The AEFs where the API is active."""

    aef_ids: Annotated[list[Name], Field(max_length=100)]


class ShareableInformation(ApiModel):
    is_shareable: bool
    capif_prov_doms: Annotated[list[Name], Field(min_length=1, max_length=100)] | None = None


class PublishedApiPath(ApiModel):
    ccf_ids: Annotated[list[Name], Field(min_length=1, max_length=100)] | None = None


class ServiceAPIDescription(ApiModel):
    """TS 29.222 clause 8.2.4.2.2. ``apiId`` is the CCF's: ignored in a POST, checked against
    the resource in a PUT."""

    api_name: Name
    api_id: Name | None = None
    api_status: ApiStatus | None = None
    aef_profiles: Annotated[list[AefProfile], Field(min_length=1, max_length=100)] | None = None
    description: Text | None = None
    supported_features: SupportedFeatures | None = None
    shareable_info: ShareableInformation | None = None
    service_api_category: Name | None = Field(default=None, alias="serviceAPICategory")
    api_supp_feats: SupportedFeatures | None = None
    pub_api_path: PublishedApiPath | None = None
    ccf_id: Name | None = None


class ServiceAPIDescriptionPatch(ApiModel):
    """The members a PATCH may change (sent as ``application/merge-patch+json``)."""

    api_status: ApiStatus | None = None
    aef_profiles: Annotated[list[AefProfile], Field(min_length=1, max_length=100)] | None = None
    description: Text | None = None
    shareable_info: ShareableInformation | None = None
    service_api_category: Name | None = Field(default=None, alias="serviceAPICategory")
    api_supp_feats: SupportedFeatures | None = None
    pub_api_path: PublishedApiPath | None = None
    ccf_id: Name | None = None


class DiscoveredAPIs(ApiModel):
    """The discovery answer. ``serviceAPIDescriptions`` has at least one item when
    present: when nothing matches, it is left out."""

    service_api_descriptions: list[ServiceAPIDescription] | None = Field(
        default=None, alias="serviceAPIDescriptions"
    )


class IpAddrInfo(ApiModel):
    """The ``ue-ip-addr`` query parameter."""

    ipv4_addr: Ipv4Addr | None = None
    ipv6_addr: Ipv6Addr | None = None

    @model_validator(mode="after")
    def _one_address(self) -> IpAddrInfo:
        _exactly_one(self, ("ipv4_addr", "ipv6_addr"), "ipv4Addr and ipv6Addr")
        return self
