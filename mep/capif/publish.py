"""Publishing service APIs (TS 29.222 clause 8.2, CAPIF-4): the APF's ServiceAPIDescriptions.

One store document per service API, found by its APF, its ``apiName`` and the AEFs of its
profiles (the indexes discovery and unpublishing read; a domain's APIs are its APFs'). An API
may only name AEFs of its APF's own provider domain, each once; every version lists its
resources, since invokers take the URIs from them. When a domain is deregistered, or an APF
removed from it, its APIs are unpublished in the same commit.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mep.capif.domains import ProviderDomain, ProviderDomains
from mep.capif.identity import CapifRole
from mep.capif.merge_patch import patch_changes, patched
from mep.capif.service_api_models import ServiceAPIDescription, ServiceAPIDescriptionPatch
from mep.core.commits import Committer
from mep.core.optimistic import optimistically
from mep.core.outbox import Outbox
from mep.core.problem import BadRequest, Forbidden, InvalidParam, NotFound
from mep.core.store import ABSENT, Delete, Document, Operation, Put, Store

COLLECTION = "capif_service_apis"
STREAM = "capif.service_apis"
BY_APF = "apf"
BY_NAME = "apiName"
BY_AEF = "aef"


@dataclass(frozen=True, slots=True)
class PublishedApi:
    """A service API as published: its description (``apiId`` set), APF and domain."""

    description: ServiceAPIDescription
    apf_id: str
    domain_id: str
    version: int
    created: bool = False

    @property
    def api_id(self) -> str:
        assert self.description.api_id is not None
        return self.description.api_id

    def description_json(self) -> dict[str, Any]:
        return self.description.model_dump(mode="json", by_alias=True, exclude_none=True)


def new_api_id() -> str:
    return secrets.token_hex(15)


def from_document(doc: Document) -> PublishedApi:
    data = doc.data
    description = ServiceAPIDescription.model_validate(data["description"])
    return PublishedApi(description, data["apfId"], data["apiProvDomId"], doc.version)


def _put(api: PublishedApi, expected: int) -> Put:
    profiles = api.description.aef_profiles or []
    data = {
        "apfId": api.apf_id,
        "apiProvDomId": api.domain_id,
        "description": api.description_json(),
        "updatedAt": time.time(),
    }
    indexes = {
        BY_APF: [api.apf_id],
        BY_NAME: [api.description.api_name],
        BY_AEF: sorted({p.aef_id for p in profiles}),
    }
    return Put(COLLECTION, api.api_id, data, expected, indexes=indexes)


def _bad(pointer: str, reason: str) -> BadRequest:
    params = [InvalidParam(pointer, reason)]
    return BadRequest(f"invalid {pointer}: {reason}", invalid_params=params)


def check_description(description: ServiceAPIDescription, domain: ProviderDomain) -> None:
    """400 naming every field that breaks the platform's rules for a published API."""
    params: list[InvalidParam] = []
    if not description.aef_profiles:
        params.append(InvalidParam("/aefProfiles", "at least one AEF profile is required"))
    seen: set[str] = set()
    for i, profile in enumerate(description.aef_profiles or []):
        if not domain.has(profile.aef_id, CapifRole.AEF):
            reason = f"{profile.aef_id} is not an AEF of provider domain {domain.id}"
            params.append(InvalidParam(f"/aefProfiles/{i}/aefId", reason))
        elif profile.aef_id in seen:
            reason = f"{profile.aef_id} is listed twice"
            params.append(InvalidParam(f"/aefProfiles/{i}/aefId", reason))
        seen.add(profile.aef_id)
        for j, version in enumerate(profile.versions):
            if not version.resources:
                pointer = f"/aefProfiles/{i}/versions/{j}/resources"
                params.append(InvalidParam(pointer, "at least one resource is required"))
    if description.api_status is not None:
        for k, aef_id in enumerate(description.api_status.aef_ids):
            if aef_id not in seen:
                reason = f"{aef_id} has no profile in aefProfiles"
                params.append(InvalidParam(f"/apiStatus/aefIds/{k}", reason))
    if params:
        names = ", ".join(p.param for p in params[:5])
        raise BadRequest(f"invalid service API description: {names}", invalid_params=params)


class ServiceApis:
    def __init__(self, committer: Committer, outbox: Outbox, domains: ProviderDomains) -> None:
        self._store: Store = committer.store
        self._committer = committer
        self._outbox = outbox
        self._domains = domains

    async def _domain(self, apf_id: str) -> ProviderDomain:
        domain = await self._domains.of_function(apf_id)
        if domain is None or not domain.has(apf_id, CapifRole.APF):
            raise Forbidden(f"APF {apf_id} belongs to no provider domain", cause="UNKNOWN_APF")
        return domain

    async def get(self, apf_id: str, api_id: str) -> PublishedApi:
        """The API ``api_id`` of ``apf_id``; 404 for an API of another APF too."""
        doc = await self._store.get(COLLECTION, api_id)
        if doc is None or doc.data.get("apfId") != apf_id:
            raise NotFound(f"APF {apf_id} has published no service API {api_id!r}")
        return from_document(doc)

    async def published_by(self, apf_id: str) -> list[PublishedApi]:
        return [from_document(d) for d in await self._store.find(COLLECTION, BY_APF, apf_id)]

    async def publish(self, apf_id: str, description: ServiceAPIDescription) -> PublishedApi:
        """TS 29.222 clause 8.2.2.2.3.1 (POST): the CCF assigns ``apiId``."""
        domain = await self._domain(apf_id)
        check_description(description, domain)
        body = description.model_copy(update={"api_id": new_api_id()})
        return await self._write(PublishedApi(body, apf_id, domain.id, ABSENT, created=True))

    async def replace(
        self, apf_id: str, api_id: str, description: ServiceAPIDescription
    ) -> PublishedApi:
        """TS 29.222 clause 8.2.2.3 (PUT)."""
        if description.api_id is not None and description.api_id != api_id:
            raise _bad("/apiId", f"must be {api_id}")

        async def attempt() -> PublishedApi:
            current = await self.get(apf_id, api_id)
            return await self._update(current, description)

        return await optimistically(attempt, what="the service API")

    async def patch(self, apf_id: str, api_id: str, patch: dict[str, Any]) -> PublishedApi:
        """TS 29.222 clause 8.2.2.3 (PATCH, JSON Merge Patch of
        ServiceAPIDescriptionPatch); members it does not list (``apiName``) are ignored."""
        changes = patch_changes(ServiceAPIDescriptionPatch, patch)

        async def attempt() -> PublishedApi:
            current = await self.get(apf_id, api_id)
            description = patched(
                current.description,
                changes,
                ServiceAPIDescription,
                what="service API description after the patch",
            )
            return await self._update(current, description)

        return await optimistically(attempt, what="the service API")

    async def unpublish(self, apf_id: str, api_id: str) -> None:
        """TS 29.222 clause 8.2.2.3 (DELETE)."""

        async def attempt() -> None:
            current = await self.get(apf_id, api_id)
            await self._committer.commit(
                [
                    Delete(COLLECTION, api_id, current.version),
                    self._event("SERVICE_API_UNAVAILABLE", current),
                ]
            )

        await optimistically(attempt, what="the service API")

    async def ensure(self, apf_id: str, api_id: str, description: ServiceAPIDescription) -> bool:
        """Publish ``description`` as ``api_id`` unless it is published so already; for the
        platform's own APIs at start (idempotent, and safe for replicas starting together).
        Whether anything was written."""
        domain = await self._domain(apf_id)
        check_description(description, domain)
        body = description.model_copy(update={"api_id": api_id})

        async def attempt() -> bool:
            doc = await self._store.get(COLLECTION, api_id)
            if doc is None:
                await self._write(PublishedApi(body, apf_id, domain.id, ABSENT, created=True))
                return True
            current = from_document(doc)
            if current.apf_id == apf_id and current.description == body:
                return False
            await self._write(PublishedApi(body, apf_id, domain.id, current.version))
            return True

        return await optimistically(attempt, what="the service API")

    async def removal_ops(self, function_ids: Sequence[str]) -> list[Operation]:
        """Unpublishing every API of the APFs among ``function_ids`` (commit it with their
        removal from their domain)."""
        ops: list[Operation] = []
        for function_id in function_ids:
            for api in await self.published_by(function_id):
                ops += [
                    Delete(COLLECTION, api.api_id, api.version),
                    self._event("SERVICE_API_UNAVAILABLE", api),
                ]
        return ops

    async def candidates(self, *, api_name: str | None, aef_id: str | None) -> list[PublishedApi]:
        """The APIs discovery looks at: by ``apiName`` or AEF when given, else all of them."""
        if api_name is not None:
            docs: Iterable[Document] = await self._store.find(COLLECTION, BY_NAME, api_name)
        elif aef_id is not None:
            docs = await self._store.find(COLLECTION, BY_AEF, aef_id)
        else:
            docs = await self._scan()
        return [from_document(d) for d in docs]

    async def named(self, ids: Iterable[str], names: Iterable[str]) -> list[PublishedApi]:
        """The APIs with one of ``ids`` or of the ``apiName``s ``names``, each once."""
        docs = {d.id: d for d in await self._store.get_many(COLLECTION, list(ids))}
        for name in names:
            docs.update((d.id, d) for d in await self._store.find(COLLECTION, BY_NAME, name))
        return [from_document(d) for d in docs.values()]

    async def _scan(self) -> list[Document]:
        docs: list[Document] = []
        after: str | None = None
        while True:
            page = await self._store.scan(COLLECTION, after=after, limit=500)
            docs += page
            if len(page) < 500:
                return docs
            after = page[-1].id

    async def _update(
        self, current: PublishedApi, description: ServiceAPIDescription
    ) -> PublishedApi:
        domain = await self._domain(current.apf_id)
        check_description(description, domain)
        body = description.model_copy(update={"api_id": current.api_id})
        return await self._write(PublishedApi(body, current.apf_id, domain.id, current.version))

    async def _write(self, api: PublishedApi) -> PublishedApi:
        """``api`` written over the version it carries (``ABSENT``: a new API), with its
        event; as stored."""
        kind = "SERVICE_API_AVAILABLE" if api.version == ABSENT else "SERVICE_API_UPDATE"
        versions = await self._committer.commit([_put(api, api.version), self._event(kind, api)])
        return dataclasses.replace(api, version=versions[0])

    def _event(self, kind: str, api: PublishedApi) -> Put:
        profiles = api.description.aef_profiles or []
        payload = {
            "type": kind,
            "apiId": api.api_id,
            "apfId": api.apf_id,
            "apiName": api.description.api_name,
            "aefIds": sorted({p.aef_id for p in profiles}),
        }
        return self._outbox.entry(STREAM, payload)
