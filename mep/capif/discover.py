"""Discovering service APIs (TS 29.222 clause 8.1, CAPIF-1/1e): what an invoker may see, by the
filters of ``GET /allServiceAPIs``.

An invoker sees the APIs its onboarding ``apiList`` names (by ``apiId``, or by ``apiName`` for an
entry without one), or every published API when its ``apiList`` names none. Filters on the API
(``api-name``, ``api-cat``, ``req-api-prov-name``, ``api-supported-features``) keep or drop it;
filters on an AEF (``aef-id``, ``api-version``, ``comm-type``, ``protocol``, ``data-format``,
``ue-ip-addr``, ``service-kpis``, and ``apiStatus``) keep the profiles that pass, and the API
when one does: "each service API description shall include AEF profiles matching the filter
criteria". ``preferred-aef-loc`` is a preference: when some profiles of an API are at that
location, only those are answered; otherwise all are. Every answered profile carries
``securityMethods`` (clients need them): those it was published with, else those of its
interfaces, else the ones this CCF negotiates.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from mep.capif.domains import ProviderDomains
from mep.capif.invokers import Invokers
from mep.capif.models import ServiceAPIDescription as ApiListEntry
from mep.capif.publish import PublishedApi, ServiceApis
from mep.capif.service_api_models import (
    AefLocation,
    AefProfile,
    DiscoveredAPIs,
    IpAddrInfo,
    IpAddrRange,
    ServiceAPIDescription,
    ServiceKpis,
)

#: What this CCF negotiates for an AEF that published no security method (TS 33.122 clause
#: 6.5.2: method 2, TLS with certificates; method 3, TLS with an OAuth 2.0 token).
NEGOTIATED_SECURITY_METHODS = ("OAUTH", "PKI")


@dataclass(frozen=True, slots=True)
class DiscoverQuery:
    """The query parameters of TS 29.222 clause 8.1.2.2.3.1, parsed."""

    api_invoker_id: str
    api_name: str | None = None
    api_version: str | None = None
    comm_type: str | None = None
    protocol: str | None = None
    aef_id: str | None = None
    data_format: str | None = None
    api_cat: str | None = None
    preferred_aef_loc: AefLocation | None = None
    req_api_prov_name: str | None = None
    supported_features: str | None = None
    api_supported_features: str | None = None
    ue_ip_addr: IpAddrInfo | None = None
    service_kpis: ServiceKpis | None = None


ProfileTest = Callable[[AefProfile], bool]


def _features(hex_mask: str | None) -> int:
    return int(hex_mask, 16) if hex_mask else 0


def _comm_types(profile: AefProfile) -> set[str]:
    types: set[str] = set()
    for version in profile.versions:
        for resource in version.resources or []:
            types.add(resource.comm_type)
            types.update(op.comm_type for op in resource.cust_operations or [])
        types.update(op.comm_type for op in version.cust_operations or [])
    return types


def _serves(ranges: IpAddrRange | None, address: IpAddrInfo) -> bool:
    """Whether an AEF with these UE ranges serves the UE at ``address`` (none: every UE)."""
    if ranges is None:
        return True
    if address.ipv4_addr is not None:
        ip4 = ipaddress.IPv4Address(address.ipv4_addr)
        return any(
            ipaddress.IPv4Address(r.start) <= ip4 <= ipaddress.IPv4Address(r.end)
            for r in ranges.ue_ipv4_addr_ranges or []
        )
    assert address.ipv6_addr is not None
    ip6 = ipaddress.IPv6Address(address.ipv6_addr)
    return any(
        ipaddress.IPv6Address(r.start) <= ip6 <= ipaddress.IPv6Address(r.end)
        for r in ranges.ue_ipv6_addr_ranges or []
    )


_UNITS = {
    unit: 1000.0**power
    for units in (
        ("", "kFLOPS", "MFLOPS", "GFLOPS", "TFLOPS", "PFLOPS", "EFLOPS", "ZFLOPS"),
        ("", "KB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"),
    )
    for power, unit in enumerate(units)
    if unit
}


def _amount(text: str) -> float:
    number, _, unit = text.partition(" ")
    return float(number) * _UNITS[unit]


def _offers(offered: ServiceKpis | None, wanted: ServiceKpis) -> bool:
    """Whether an AEF's KPIs meet every KPI asked for: at least the rates, availability,
    compute, memory, storage and bandwidth asked, at most the response time."""
    if offered is None:
        return False
    at_least = ("max_req_rate", "availability", "con_band")
    amounts = ("aval_comp", "aval_gra_comp", "aval_mem", "aval_stor")
    for name in at_least:
        want, have = getattr(wanted, name), getattr(offered, name)
        if want is not None and (have is None or have < want):
            return False
    for name in amounts:
        want, have = getattr(wanted, name), getattr(offered, name)
        if want is not None and (have is None or _amount(have) < _amount(want)):
            return False
    if wanted.max_restime is not None:
        return offered.max_restime is not None and offered.max_restime <= wanted.max_restime
    return True


def _at(location: AefLocation | None, preferred: AefLocation) -> bool:
    """Whether an AEF is at the preferred location: the same data centre, the civic address
    fields asked for, and the same geographic area, for each one the preference names."""
    if location is None:
        return False
    if preferred.dc_id is not None and location.dc_id != preferred.dc_id:
        return False
    if preferred.civic_addr is not None:
        civic = location.civic_addr or {}
        if any(civic.get(k) != v for k, v in preferred.civic_addr.items()):
            return False
    return preferred.geo_area is None or location.geo_area == preferred.geo_area


def profile_tests(query: DiscoverQuery, api: ServiceAPIDescription) -> list[ProfileTest]:
    """The tests an AEF profile of ``api`` must pass to be answered."""
    tests: list[ProfileTest] = []
    if api.api_status is not None:
        active = set(api.api_status.aef_ids)
        tests.append(lambda p: p.aef_id in active)
    if query.aef_id is not None:
        tests.append(lambda p: p.aef_id == query.aef_id)
    if query.api_version is not None:
        tests.append(lambda p: any(v.api_version == query.api_version for v in p.versions))
    if query.comm_type is not None:
        tests.append(lambda p: query.comm_type in _comm_types(p))
    if query.protocol is not None:
        tests.append(lambda p: p.protocol == query.protocol)
    if query.data_format is not None:
        tests.append(lambda p: p.data_format == query.data_format)
    ue = query.ue_ip_addr
    if ue is not None:
        tests.append(lambda p: _serves(p.ue_ip_range, ue))
    kpis = query.service_kpis
    if kpis is not None:
        tests.append(lambda p: _offers(p.service_kpis, kpis))
    return tests


def api_matches(query: DiscoverQuery, api: ServiceAPIDescription, provider: str | None) -> bool:
    """The filters on the API as a whole (``provider``: its domain's ``apiProvDomInfo``)."""
    if query.api_name is not None and api.api_name != query.api_name:
        return False
    if query.api_cat is not None and api.service_api_category != query.api_cat:
        return False
    if query.req_api_prov_name is not None and provider != query.req_api_prov_name:
        return False
    wanted = _features(query.api_supported_features)
    return wanted & _features(api.api_supp_feats) == wanted


def security_methods(profile: AefProfile) -> list[str]:
    """The security methods an invoker may use with this AEF (see the module docstring)."""
    if profile.security_methods:
        return list(profile.security_methods)
    methods: dict[str, None] = {}
    for interface in profile.interface_descriptions or []:
        methods.update(dict.fromkeys(interface.security_methods or []))
    return list(methods) or list(NEGOTIATED_SECURITY_METHODS)


def answer(query: DiscoverQuery, api: ServiceAPIDescription) -> ServiceAPIDescription | None:
    """``api`` with only the profiles the query keeps; ``None`` when none is kept."""
    tests = profile_tests(query, api)
    profiles = [p for p in api.aef_profiles or [] if all(t(p) for t in tests)]
    preferred = query.preferred_aef_loc
    if preferred is not None:
        profiles = [p for p in profiles if _at(p.aef_location, preferred)] or profiles
    if not profiles:
        return None
    answered = [p.model_copy(update={"security_methods": security_methods(p)}) for p in profiles]
    return api.model_copy(update={"aef_profiles": answered})


@dataclass(frozen=True, slots=True)
class Visible:
    """What an invoker's ``apiList`` lets it see: the APIs it names by ``apiId`` (or by
    ``apiName``, for an entry without one); every API when it names none."""

    ids: frozenset[str]
    names: frozenset[str]

    @classmethod
    def of(cls, api_list: Sequence[ApiListEntry]) -> Visible:
        ids = frozenset(entry.api_id for entry in api_list if entry.api_id)
        return cls(ids, frozenset(entry.api_name for entry in api_list if not entry.api_id))

    @property
    def everything(self) -> bool:
        return not self.ids and not self.names

    def __call__(self, api: PublishedApi) -> bool:
        return self.everything or api.api_id in self.ids or api.description.api_name in self.names


class Discovery:
    def __init__(
        self, service_apis: ServiceApis, invokers: Invokers, domains: ProviderDomains
    ) -> None:
        self._apis = service_apis
        self._invokers = invokers
        self._domains = domains

    async def discover(self, query: DiscoverQuery) -> DiscoveredAPIs:
        """TS 29.222 clause 8.1.2.2.3.1: the APIs the invoker may see that match the query;
        ``serviceAPIDescriptions`` is left out when there are none (it has ``minItems: 1``)."""
        invoker = await self._invokers.get(query.api_invoker_id)
        api_list = invoker.details.api_list
        visible = Visible.of(api_list.service_api_descriptions or [] if api_list else [])
        candidates = [api for api in await self._candidates(query, visible) if visible(api)]
        providers = await self._provider_names(query, candidates)
        found: list[ServiceAPIDescription] = []
        for api in sorted(candidates, key=lambda a: (a.description.api_name, a.api_id)):
            if not api_matches(query, api.description, providers.get(api.domain_id)):
                continue
            answered = answer(query, api.description)
            if answered is not None:
                found.append(answered)
        return DiscoveredAPIs(service_api_descriptions=found or None)

    async def _candidates(self, query: DiscoverQuery, visible: Visible) -> list[PublishedApi]:
        """What the indexes narrow the search to: the API name or AEF asked for, else the
        APIs the invoker may see (every one, for most invokers)."""
        if query.api_name is None and query.aef_id is None and not visible.everything:
            return await self._apis.named(visible.ids, visible.names)
        return await self._apis.candidates(api_name=query.api_name, aef_id=query.aef_id)

    async def _provider_names(
        self, query: DiscoverQuery, apis: Iterable[PublishedApi]
    ) -> dict[str, str | None]:
        if query.req_api_prov_name is None:
            return {}
        return await self._domains.names(api.domain_id for api in apis)
