"""Which API provider domain a function belongs to: the registered domains (TS 29.222 clause
8.9), and the platform's own domain, whose AEF is the platform's API gateway and whose APF
publishes the platform's APIs.

The platform's domain has no AMF and its functions no certificates: nobody can manage it or
publish in its name over CAPIF-4/5; the platform acts for it in process. It is made once, on
the first start of the first replica; replicas starting together race on one document written
"if absent", and every loser reads the winner's ids, so all of them use the same AEF and APF.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mep.capif.identity import CapifRole
from mep.capif.providers import BY_FUNCTION, from_document, new_function_id
from mep.capif.providers import COLLECTION as REGISTRATIONS
from mep.core.commits import Committer
from mep.core.store import ABSENT, Put, Store, VersionConflict

PLATFORM_COLLECTION = "capif_platform"
PLATFORM_DOMAIN = "provider"
#: The platform domain's ``apiProvDomInfo``: what ``req-api-prov-name`` matches in discovery.
PLATFORM_PROVIDER_NAME = "mep-platform"


@dataclass(frozen=True, slots=True)
class ProviderDomain:
    """A provider domain: its id (``apiProvDomId``), name (``apiProvDomInfo``) and functions."""

    id: str
    name: str | None
    functions: Mapping[str, CapifRole]

    def has(self, function_id: str, role: CapifRole) -> bool:
        return self.functions.get(function_id) is role


@dataclass(frozen=True, slots=True)
class PlatformProvider:
    """The platform's own provider domain: one AEF (the gateway) and one APF."""

    domain_id: str
    aef_id: str
    apf_id: str

    @property
    def domain(self) -> ProviderDomain:
        functions = {self.aef_id: CapifRole.AEF, self.apf_id: CapifRole.APF}
        return ProviderDomain(self.domain_id, PLATFORM_PROVIDER_NAME, functions)

    def to_json(self) -> dict[str, str]:
        return {"apiProvDomId": self.domain_id, "aefId": self.aef_id, "apfId": self.apf_id}

    @classmethod
    def from_json(cls, data: Mapping[str, str]) -> PlatformProvider:
        return cls(data["apiProvDomId"], data["aefId"], data["apfId"])


async def ensure_platform_provider(committer: Committer) -> PlatformProvider:
    """The platform's provider domain, made on the first start; the same one ever after."""
    while True:
        doc = await committer.store.get(PLATFORM_COLLECTION, PLATFORM_DOMAIN)
        if doc is not None:
            return PlatformProvider.from_json(doc.data)
        made = PlatformProvider(
            secrets.token_hex(15), new_function_id(CapifRole.AEF), new_function_id(CapifRole.APF)
        )
        put = Put(
            PLATFORM_COLLECTION,
            PLATFORM_DOMAIN,
            made.to_json(),
            ABSENT,
            indexes={BY_FUNCTION: [made.aef_id, made.apf_id]},
        )
        try:
            await committer.commit([put])
        except VersionConflict:
            continue  # another replica made it first: use its ids
        return made


class ProviderDomains:
    """Look-ups across the registered domains and the platform's."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def of_function(self, function_id: str) -> ProviderDomain | None:
        """The domain ``function_id`` (an AEF, APF or AMF id) belongs to, if any."""
        for doc in await self._store.find(REGISTRATIONS, BY_FUNCTION, function_id):
            stored = from_document(doc.data, doc.version)
            if function_id in stored.functions:
                functions = {fid: f.role for fid, f in stored.functions.items()}
                return ProviderDomain(
                    stored.registration_id, stored.details.api_prov_dom_info, functions
                )
        for doc in await self._store.find(PLATFORM_COLLECTION, BY_FUNCTION, function_id):
            return PlatformProvider.from_json(doc.data).domain
        return None

    async def names(self, domain_ids: Iterable[str]) -> dict[str, str | None]:
        """``apiProvDomInfo`` of each of the domains that exist among ``domain_ids``."""
        wanted = list(dict.fromkeys(domain_ids))
        names: dict[str, str | None] = {}
        for doc in await self._store.get_many(REGISTRATIONS, wanted):
            names[doc.id] = from_document(doc.data, doc.version).details.api_prov_dom_info
        platform = await self._store.get(PLATFORM_COLLECTION, PLATFORM_DOMAIN)
        if platform is not None:
            provider = PlatformProvider.from_json(platform.data)
            if provider.domain_id in wanted:
                names[provider.domain_id] = PLATFORM_PROVIDER_NAME
        return names
