"""Negotiating a security context (TS 29.222 clause 8.5, TS 33.122 clause 6.5.2): what each
``securityInfo`` entry of an invoker's ServiceSecurity covers, and the method selected for it.

An entry names a published API the invoker may discover (``apiId``), or every such API at one
AEF (``aefId``) or one interface (``interfaceDetails``: address, and port and ``apiPrefix`` when
given) when it has no ``apiId``; it resolves to exactly one AEF. The selected method is the
first of the invoker's preferences that the AEF offers for every API of the entry: an
interface's ``securityMethods`` override its profile's, and a profile without any offers what
discovery tells invokers (OAUTH, PKI). For PSK (method 1) the CCF makes a random pre-shared
key per entry, answered in ``authenticationInfo``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mep.capif.discover import NEGOTIATED_SECURITY_METHODS, Visible
from mep.capif.invokers import Invokers
from mep.capif.publish import PublishedApi, ServiceApis
from mep.capif.security_models import SecurityInformation, ServiceSecurity
from mep.capif.service_api_models import AefProfile, InterfaceDescription
from mep.core.problem import BadRequest, InvalidParam

#: The methods of TS 33.122 clause 6.5.2 this CCF can negotiate.
METHODS = ("PSK", "PKI", "OAUTH")


@dataclass(frozen=True, slots=True)
class Grant:
    """One API at one AEF that entry ``entry`` of a context covers, and its method."""

    entry: int
    aef_id: str
    api_id: str
    method: str

    def to_json(self) -> dict[str, Any]:
        return {
            "entry": self.entry,
            "aefId": self.aef_id,
            "apiId": self.api_id,
            "method": self.method,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Grant:
        return cls(int(data["entry"]), data["aefId"], data["apiId"], data["method"])


def offered_methods(profile: AefProfile, interface: InterfaceDescription | None) -> set[str]:
    """The methods an AEF offers for an API: at ``interface``, or at any of its interfaces."""
    default = profile.security_methods or list(NEGOTIATED_SECURITY_METHODS)
    if interface is not None:
        return set(interface.security_methods or default)
    offered = {
        m for i in profile.interface_descriptions or [] for m in i.security_methods or default
    }
    return offered or set(default)


def _same_interface(given: InterfaceDescription, published: InterfaceDescription) -> bool:
    def host(i: InterfaceDescription) -> tuple[str | None, ...]:
        return (i.ipv4_addr, i.ipv6_addr, i.fqdn.lower().rstrip(".") if i.fqdn else None)

    return (
        host(given) == host(published)
        and given.port in (None, published.port)
        and given.api_prefix in (None, published.api_prefix)
    )


@dataclass(frozen=True, slots=True)
class _Exposure:
    """One API at one AEF (at one interface, when the entry named it) and what it offers."""

    api: PublishedApi
    aef_id: str
    offered: set[str]


class _EntryError(Exception):
    def __init__(self, member: str, reason: str) -> None:
        super().__init__(reason)
        self.member = member
        self.reason = reason


def _active(api: PublishedApi) -> list[AefProfile]:
    """The profiles of the AEFs where the API is active (those discovery answers)."""
    profiles = api.description.aef_profiles or []
    status = api.description.api_status
    return [p for p in profiles if status is None or p.aef_id in status.aef_ids]


def _exposures(info: SecurityInformation, apis: Iterable[PublishedApi]) -> list[_Exposure]:
    found: list[_Exposure] = []
    for api in apis:
        for profile in _active(api):
            if info.aef_id is not None:
                if profile.aef_id == info.aef_id:
                    found.append(_Exposure(api, profile.aef_id, offered_methods(profile, None)))
                continue
            assert info.interface_details is not None
            for interface in profile.interface_descriptions or []:
                if _same_interface(info.interface_details, interface):
                    offered = offered_methods(profile, interface)
                    found.append(_Exposure(api, profile.aef_id, offered))
                    break
    return found


def _select(info: SecurityInformation, exposures: Sequence[_Exposure]) -> str:
    for method in info.pref_security_methods:
        if all(method in e.offered for e in exposures):
            return method
    offers = sorted({m for e in exposures for m in e.offered})
    raise _EntryError(
        "prefSecurityMethods",
        f"none of {', '.join(info.pref_security_methods)} is offered by AEF "
        f"{exposures[0].aef_id} for the API(s) of this entry (it offers {', '.join(offers)})",
    )


class Negotiation:
    def __init__(self, service_apis: ServiceApis, invokers: Invokers) -> None:
        self._apis = service_apis
        self._invokers = invokers

    async def negotiate(
        self, invoker_id: str, body: ServiceSecurity
    ) -> tuple[ServiceSecurity, list[Grant]]:
        """``body`` as answered (``selSecurityMethod`` set, PSKs made, what the invoker sent
        in the CCF's members dropped), and its grants; 400 naming every entry that fails."""
        invoker = await self._invokers.get(invoker_id)
        api_list = invoker.details.api_list
        visible = Visible.of(api_list.service_api_descriptions or [] if api_list else [])
        params: list[InvalidParam] = []
        entries: list[SecurityInformation] = []
        grants: list[Grant] = []
        for index, info in enumerate(body.security_info):
            pointer = f"/securityInfo/{index}"
            unknown = [
                InvalidParam(f"{pointer}/prefSecurityMethods/{k}", f"must be one of {METHODS}")
                for k, method in enumerate(info.pref_security_methods)
                if method not in METHODS
            ]
            if unknown:
                params += unknown
                continue
            try:
                exposures = await self._resolve(info, visible)
                method = _select(info, exposures)
            except _EntryError as error:
                params.append(InvalidParam(f"{pointer}/{error.member}", error.reason))
                continue
            grants += [Grant(index, e.aef_id, e.api.api_id, method) for e in exposures]
            psk = secrets.token_hex(32) if method == "PSK" else None
            update = {
                "sel_security_method": method,
                "authentication_info": psk,
                "authorization_info": None,
            }
            entries.append(info.model_copy(update=update))
        if params:
            names = ", ".join(p.param for p in params[:5])
            raise BadRequest(f"invalid security information: {names}", invalid_params=params)
        return body.model_copy(update={"security_info": entries}), grants

    async def _resolve(self, info: SecurityInformation, visible: Visible) -> list[_Exposure]:
        """The APIs (and their AEF) an entry covers; :class:`_EntryError` naming the member."""
        where = "aefId" if info.aef_id is not None else "interfaceDetails"
        if info.api_id is not None:
            apis = [a for a in await self._apis.named([info.api_id], []) if visible(a)]
            if not apis:
                reason = f"no published API {info.api_id} that this invoker may discover"
                raise _EntryError("apiId", reason)
        else:
            apis = [a for a in await self._candidates(info, visible) if visible(a)]
        exposures = _exposures(info, apis)
        if not exposures:
            if info.api_id is not None:
                whom = f"AEF {info.aef_id}" if info.aef_id else "an AEF at this interface"
                raise _EntryError(where, f"API {info.api_id} is not exposed by {whom}")
            raise _EntryError(where, "no API this invoker may discover is exposed there")
        if len({e.aef_id for e in exposures}) > 1:
            raise _EntryError(where, "more than one AEF publishes this interface: name the aefId")
        return exposures

    async def _candidates(self, info: SecurityInformation, visible: Visible) -> list[PublishedApi]:
        if info.aef_id is not None:
            return await self._apis.candidates(api_name=None, aef_id=info.aef_id)
        if visible.everything:
            return await self._apis.candidates(api_name=None, aef_id=None)
        return await self._apis.named(visible.ids, visible.names)
