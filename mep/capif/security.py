"""Security contexts of API invokers (TS 29.222 clause 8.5, TS 33.122 clause 6.5): which APIs at
which AEFs an invoker is authorised for, and with which security method.

One store document per invoker (id = apiInvokerId): the ServiceSecurity as answered, plus the
grants it was negotiated into (``_grants``: entry index, AEF, API, selected method; see
:mod:`mep.capif.security_negotiation`), found by every AEF and API it covers. The invoker gets
the PSKs of its entries in its answer over CAPIF-1e, an AEF asks for them with
``authenticationInfo=true`` over CAPIF-3.

Revoking (the AEF's DELETE or ``/delete``, the gateway on overlimit usage) drops the grants,
splitting an entry that covered several APIs into one entry per API kept, and commits with it
the SecurityNotification to the invoker and the ``API_INVOKER_AUTHORIZATION_REVOKED`` event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from mep.capif import streams
from mep.capif.invokers import Invokers
from mep.capif.publish import ServiceApis
from mep.capif.scope import ScopeError, format_scope, parse_scope
from mep.capif.security_models import SecurityInformation, ServiceSecurity
from mep.capif.security_negotiation import Grant, Negotiation
from mep.core.commits import Committer
from mep.core.notify.deliveries import Notifier, Target
from mep.core.optimistic import optimistically
from mep.core.outbox import Outbox
from mep.core.problem import NotFound
from mep.core.store import ABSENT, Delete, Document, Operation, Put, Store

COLLECTION = "capif_security"
BY_AEF = "aef"
BY_API = "api"
GRANTS = "_grants"
UNEXPECTED_REASON = "UNEXPECTED_REASON"
REVOKED = "API_INVOKER_AUTHORIZATION_REVOKED"
PATH = "/capif-security/v1/trustedInvokers"


class ScopeRefused(ValueError):
    """A token scope the security context does not grant; the message says why."""


@dataclass(frozen=True, slots=True)
class SecurityContext:
    invoker_id: str
    #: As answered to the invoker: ``selSecurityMethod`` set, PSKs in ``authenticationInfo``.
    security: ServiceSecurity
    grants: tuple[Grant, ...]
    version: int

    def at(self, aef_id: str) -> list[Grant]:
        return [g for g in self.grants if g.aef_id == aef_id]

    def without(self, revoked: Iterable[Grant]) -> SecurityContext | None:
        """The context once ``revoked`` are withdrawn; ``None`` when nothing is left. An entry
        that keeps some of its APIs becomes one entry per API kept."""
        gone = set(revoked)
        entries: list[SecurityInformation] = []
        grants: list[Grant] = []
        for index, entry in enumerate(self.security.security_info):
            own = [g for g in self.grants if g.entry == index]
            kept = [g for g in own if g not in gone]
            if kept == own:
                grants += [replace(g, entry=len(entries)) for g in kept]
                entries.append(entry)
                continue
            for grant in kept:
                grants.append(replace(grant, entry=len(entries)))
                entries.append(entry.model_copy(update={"api_id": grant.api_id}))
        if not entries:
            return None
        security = self.security.model_copy(update={"security_info": entries})
        return SecurityContext(self.invoker_id, security, tuple(grants), self.version)


def _document(context: SecurityContext) -> dict[str, Any]:
    data = context.security.model_dump(mode="json", by_alias=True, exclude_none=True)
    data[GRANTS] = [g.to_json() for g in context.grants]
    return data


def _from_document(doc: Document) -> SecurityContext:
    grants = tuple(Grant.from_json(g) for g in doc.data.get(GRANTS, []))
    return SecurityContext(doc.id, ServiceSecurity.model_validate(doc.data), grants, doc.version)


def _put(context: SecurityContext, expected: int) -> Put:
    indexes = {
        BY_AEF: sorted({g.aef_id for g in context.grants}),
        BY_API: sorted({g.api_id for g in context.grants}),
    }
    return Put(COLLECTION, context.invoker_id, _document(context), expected, indexes=indexes)


async def removal_ops(store: Store, invoker_id: str) -> list[Operation]:
    """The write removing the invoker's security context (commit it with its offboarding)."""
    doc = await store.get(COLLECTION, invoker_id)
    return [] if doc is None else [Delete(COLLECTION, invoker_id, doc.version)]


class SecurityContexts:
    def __init__(
        self,
        committer: Committer,
        outbox: Outbox,
        notifier: Notifier,
        service_apis: ServiceApis,
        invokers: Invokers,
        *,
        ccf_url: str,
    ) -> None:
        self._store = committer.store
        self._committer = committer
        self._outbox = outbox
        self._notifier = notifier
        self._apis = service_apis
        self._negotiation = Negotiation(service_apis, invokers)
        self._ccf_url = ccf_url

    async def find(self, invoker_id: str) -> SecurityContext | None:
        doc = await self._store.get(COLLECTION, invoker_id)
        return None if doc is None else _from_document(doc)

    async def establish(
        self, invoker_id: str, body: ServiceSecurity, *, must_exist: bool = False
    ) -> SecurityContext:
        """TS 29.222 clause 8.5 PUT ``/trustedInvokers/{id}`` (``must_exist``: POST
        ``/update``, 404 without a context): the context negotiated from ``body``, replacing
        any before it."""
        if must_exist and await self.find(invoker_id) is None:
            raise NotFound(f"API invoker {invoker_id} has no security context to update")
        security, grants = await self._negotiation.negotiate(invoker_id, body)

        async def attempt() -> SecurityContext:
            doc = await self._store.get(COLLECTION, invoker_id)
            if doc is None and must_exist:
                raise NotFound(f"API invoker {invoker_id} has no security context to update")
            expected = ABSENT if doc is None else doc.version
            context = SecurityContext(invoker_id, security, tuple(grants), expected)
            ops: list[Operation] = [_put(context, expected)]
            if security.request_test_notification:
                link = f"{self._ccf_url}{PATH}/{invoker_id}"
                ops.append(self._notifier.queue(self._target(context), {"subscription": link}))
            versions = await self._committer.commit(ops)
            return replace(context, version=versions[0])

        return await optimistically(attempt, what="the security context")

    async def for_aef(
        self, invoker_id: str, aef_id: str, *, authentication: bool, authorization: bool
    ) -> ServiceSecurity:
        """TS 29.222 clause 8.5 GET ``/trustedInvokers/{id}`` (by an AEF): the entries for
        that AEF, with the PSKs and a description of what is granted when asked; 404 when
        there are none."""
        context = await self.find(invoker_id)
        grants = [] if context is None else context.at(aef_id)
        if context is None or not grants:
            raise NotFound(f"API invoker {invoker_id} holds no security context at AEF {aef_id}")
        names = await self._api_names(g.api_id for g in grants)
        entries = []
        for index in sorted({g.entry for g in grants}):
            entry = context.security.security_info[index]
            granted = [names.get(g.api_id, g.api_id) for g in grants if g.entry == index]
            update: dict[str, Any] = {"authentication_info": None, "authorization_info": None}
            if authentication and entry.sel_security_method == "PSK":
                update["authentication_info"] = entry.authentication_info
            if authorization:
                update["authorization_info"] = format_scope({aef_id: granted})
            entries.append(entry.model_copy(update=update))
        return context.security.model_copy(update={"security_info": entries})

    async def revoke(
        self, api_invoker_id: str, *, aef_id: str, api_ids: list[str], cause: str
    ) -> bool:
        """TS 29.222 clause 8.5 POST ``/trustedInvokers/{id}/delete``: withdraw ``api_ids``
        at ``aef_id``; False when the context covered none of them there."""
        return bool(await self._revoke(api_invoker_id, aef_id, set(api_ids), cause))

    async def revoke_all(self, api_invoker_id: str, aef_id: str) -> list[str]:
        """TS 29.222 clause 8.5 DELETE ``/trustedInvokers/{id}`` (by an AEF): every API at
        ``aef_id``; the ids withdrawn (none: the context covered nothing there)."""
        return await self._revoke(api_invoker_id, aef_id, None, UNEXPECTED_REASON)

    async def selected_method(self, api_invoker_id: str, aef_id: str, api_id: str) -> str | None:
        """The method negotiated for ``api_id`` at ``aef_id``; ``None``: not authorised."""
        # The gateway asks on every call: read the grants alone, not the whole context.
        doc = await self._store.get(COLLECTION, api_invoker_id)
        for raw in doc.data.get(GRANTS, []) if doc is not None else []:
            grant = Grant.from_json(raw)
            if grant.aef_id == aef_id and grant.api_id == api_id:
                return grant.method
        return None

    async def invokers_for(self, api_id: str) -> list[str]:
        """The invokers whose security context covers ``api_id`` (at any AEF)."""
        return [doc.id for doc in await self._store.find(COLLECTION, BY_API, api_id)]

    async def covers_aef(self, api_invoker_id: str, aef_id: str) -> bool:
        context = await self.find(api_invoker_id)
        return context is not None and bool(context.at(aef_id))

    async def granted_scope(self, api_invoker_id: str, requested: str | None) -> str:
        """The token scope (``3gpp#aef:api,...``) for ``requested``, every API of the context
        when ``None``; :class:`ScopeRefused` unless the context covers all of it."""
        context = await self.find(api_invoker_id)
        if context is None:
            raise ScopeRefused(
                f"API invoker {api_invoker_id} has no security context: "
                f"PUT {PATH}/{api_invoker_id} first"
            )
        names = await self._api_names(g.api_id for g in context.grants)
        available: dict[str, list[str]] = {}
        for grant in context.grants:
            name = names.get(grant.api_id)
            listed = available.setdefault(grant.aef_id, [])
            if name is not None and name not in listed:
                listed.append(name)
        available = {aef: listed for aef, listed in available.items() if listed}
        if requested is None:
            if not available:
                raise ScopeRefused("the security context covers no published API")
            return format_scope(available)
        try:
            wanted = parse_scope(requested)
        except ScopeError as error:
            raise ScopeRefused(str(error)) from None
        for aef_id, api_names in wanted.items():
            for name in api_names:
                if name not in available.get(aef_id, []):
                    raise ScopeRefused(f"the security context does not cover {aef_id}:{name}")
        return format_scope(wanted)

    async def _revoke(
        self, invoker_id: str, aef_id: str, api_ids: set[str] | None, cause: str
    ) -> list[str]:
        async def attempt() -> list[str]:
            context = await self.find(invoker_id)
            if context is None:
                return []
            hit = [g for g in context.at(aef_id) if api_ids is None or g.api_id in api_ids]
            if not hit:
                return []
            revoked = list(dict.fromkeys(g.api_id for g in hit))
            left = context.without(hit)
            notification = {
                "apiInvokerId": invoker_id,
                "aefId": aef_id,
                "apiIds": revoked,
                "cause": cause,
            }
            write = (
                Delete(COLLECTION, invoker_id, context.version)
                if left is None
                else _put(left, context.version)
            )
            await self._committer.commit(
                [
                    write,
                    self._notifier.queue(self._target(context), notification),
                    self._outbox.entry(streams.SECURITY, {"type": REVOKED, **notification}),
                ]
            )
            return revoked

        return await optimistically(attempt, what="the security context")

    def _target(self, context: SecurityContext) -> Target:
        url = context.security.notification_destination
        return Target(f"{COLLECTION}/{context.invoker_id}", url)

    async def _api_names(self, api_ids: Iterable[str]) -> dict[str, str]:
        """``apiName`` of each API still published among ``api_ids``."""
        published = await self._apis.named(list(dict.fromkeys(api_ids)), [])
        return {api.api_id: api.description.api_name for api in published}
