"""Application instance lifecycle on the platform manager's side (what ETSI calls Mm5).

Creating an instance issues its OAuth 2.0 client credentials (client id = appInstanceId) and
seeds its rule documents (``mep.mgmt.rules``); removing it revokes every token it holds in the
same commit. The operator's DELETE goes through the graceful termination of
``mep.mp1.app_support.termination``, which builds on :meth:`AppInstanceService.removal_ops`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mep.auth.revocation import RevocationList
from mep.core.commits import Committer
from mep.core.optimistic import optimistically
from mep.core.outbox import Outbox
from mep.core.problem import BadRequest, Conflict, InvalidParam, NotFound, PreconditionFailed
from mep.core.store import ABSENT, Delete, Operation, Put, VersionConflict
from mep.core.tokens import CallerKind
from mep.mgmt import dns_names, rules
from mep.mgmt.models import AppInstanceRecord, AppInstanceSpec
from mep.mp1.app_support.models import AppInfo

COLLECTION = "app_instances"
STREAM = "mep.app_instances"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,127}$")


@dataclass(frozen=True)
class StoredInstance:
    record: AppInstanceRecord
    version: int
    client_secret: str | None = None
    created: bool = False


def _digest(secret: str) -> str:
    # Client secrets are 256-bit random values, so a plain hash resists guessing as well as a
    # slow KDF would, without making every token request pay for one.
    return hashlib.sha256(secret.encode()).hexdigest()


def _duplicates(field: str, key: str, ids: Sequence[str]) -> list[InvalidParam]:
    seen: dict[str, int] = {}
    problems = []
    for index, rule_id in enumerate(ids):
        if rule_id in seen:
            reason = f"duplicate {key} {rule_id!r} (also item {seen[rule_id]})"
            problems.append(InvalidParam(f"/{field}/{index}/{key}", reason))
        seen.setdefault(rule_id, index)
    return problems


def check_spec(spec: AppInstanceSpec) -> None:
    """Rules a schema cannot state: rule ids are unique within the instance."""
    problems = _duplicates(
        "trafficRules", "trafficRuleId", [r.traffic_rule_id for r in spec.traffic_rules]
    ) + _duplicates("dnsRules", "dnsRuleId", [r.dns_rule_id for r in spec.dns_rules])
    if problems:
        raise BadRequest("rule ids must be unique within an instance", invalid_params=problems)


def check_instance_id(instance_id: str) -> None:
    if not _ID.match(instance_id):
        raise BadRequest(
            "appInstanceId must be 1-128 characters: letters, digits, '.', '_', '~', '-'",
            invalid_params=[InvalidParam("{appInstanceId}", "invalid characters or length")],
        )


class AppInstanceService:
    def __init__(self, committer: Committer, outbox: Outbox) -> None:
        self._store = committer.store
        self._committer = committer
        self._outbox = outbox

    async def get(self, instance_id: str) -> StoredInstance:
        found = await self.find(instance_id)
        if found is None:
            raise NotFound(f"no application instance {instance_id!r}")
        return found

    async def find(self, instance_id: str) -> StoredInstance | None:
        doc = await self._store.get(COLLECTION, instance_id)
        if doc is None:
            return None
        return StoredInstance(AppInstanceRecord.model_validate(doc.data), doc.version)

    async def list(self) -> list[StoredInstance]:
        found: list[StoredInstance] = []
        after: str | None = None
        while page := await self._store.scan(COLLECTION, after=after):
            found += [
                StoredInstance(AppInstanceRecord.model_validate(d.data), d.version) for d in page
            ]
            after = page[-1].id
        return found

    async def create(
        self, spec: AppInstanceSpec, *, registration: AppInfo | None = None
    ) -> StoredInstance:
        check_spec(spec)
        # A conflict is a concurrent creation claiming one of the same DNS names (or, with
        # astronomically small odds, the same id): decide again, with a fresh id.
        return await optimistically(
            lambda: self._insert(str(uuid.uuid4()), spec, registration),
            what="the claim on a DNS name",
        )

    async def put(
        self, instance_id: str, spec: AppInstanceSpec, if_match: int | None = None
    ) -> StoredInstance:
        """Create the instance under the operator's id, or replace its description."""
        check_instance_id(instance_id)
        check_spec(spec)

        async def attempt() -> StoredInstance:
            doc = await self._store.get(COLLECTION, instance_id)
            if doc is None:
                if if_match is not None:
                    raise PreconditionFailed(f"no application instance {instance_id!r}")
                return await self._insert(instance_id, spec)
            if if_match is not None and if_match != doc.version:
                raise PreconditionFailed(f"ETag does not match version {doc.version}")
            before = AppInstanceRecord.model_validate(doc.data)
            record = before.model_copy(update={"spec": spec})
            ops = await rules.reconcile_ops(self._store, instance_id, before.spec, spec)
            ops += await dns_names.claim_ops(self._store, instance_id, before.spec, spec)
            event = self._outbox.entry(STREAM, _event("AppInstanceUpdated", instance_id))
            put = Put(COLLECTION, instance_id, record.model_dump(mode="json"), doc.version)
            versions = await self._committer.commit([put, *ops, event, *dns_names.touched(ops)])
            return StoredInstance(record, versions[0])

        return await optimistically(attempt, what="the instance", pinned=if_match is not None)

    async def update(
        self,
        instance_id: str,
        change: Callable[[AppInstanceRecord], AppInstanceRecord],
        *,
        if_match: int | None = None,
        event: str | None = None,
    ) -> StoredInstance:
        """Apply ``change`` to the current record (it may raise a Problem to refuse), retrying
        on concurrent writes unless ``if_match`` pins the version; ``event`` is recorded with
        the write. A change that changes nothing writes nothing."""

        async def attempt() -> StoredInstance:
            current = await self.get(instance_id)
            if if_match is not None and if_match != current.version:
                raise PreconditionFailed(f"ETag does not match version {current.version}")
            record = change(current.record)
            if record == current.record:
                return current
            ops: list[Operation] = [self.write(current, record)]
            if event is not None:
                ops.append(self._outbox.entry(STREAM, _event(event, instance_id)))
            versions = await self._committer.commit(ops)
            return StoredInstance(record, versions[0])

        return await optimistically(attempt, what="the instance", pinned=if_match is not None)

    def write(self, current: StoredInstance, record: AppInstanceRecord) -> Put:
        """The write replacing ``current`` by ``record``, conditional on its version."""
        data = record.model_dump(mode="json")
        return Put(COLLECTION, record.app_instance_id, data, current.version)

    def event(self, kind: str, instance_id: str) -> Put:
        return self._outbox.entry(STREAM, _event(kind, instance_id))

    async def removal_ops(self, current: StoredInstance) -> Sequence[Operation]:
        """The writes removing the instance at its current version, its rules, and every
        token it holds; the caller adds what other parts of the platform keep for it."""
        instance_id = current.record.app_instance_id
        ops = await rules.removal_ops(self._store, instance_id)
        ops += await dns_names.claim_ops(self._store, instance_id, current.record.spec, None)
        return [
            Delete(COLLECTION, instance_id, current.version),
            *ops,
            RevocationList.revoke(CallerKind.APP, instance_id),
            self.event("AppInstanceDeleted", instance_id),
            *dns_names.touched(ops),
        ]

    async def create_registered(
        self, instance_id: str | None, spec: AppInstanceSpec, registration: AppInfo
    ) -> StoredInstance:
        """An instance for an app that registered itself (isInsByMec false)."""
        if instance_id is None:
            return await self.create(spec, registration=registration)
        check_instance_id(instance_id)
        try:
            return await self._insert(instance_id, spec, registration)
        except VersionConflict:
            raise Conflict(f"application instance {instance_id!r} exists already") from None

    async def verify_client(self, client_id: str, client_secret: str) -> str | None:
        """The subject for valid client credentials (RFC 6749 clause 2.3.1), else ``None``."""
        doc = await self._store.get(COLLECTION, client_id)
        if doc is None:
            return None
        expected = AppInstanceRecord.model_validate(doc.data).client_secret_sha256
        if not hmac.compare_digest(_digest(client_secret), expected):
            return None
        return client_id

    async def _insert(
        self, instance_id: str, spec: AppInstanceSpec, registration: AppInfo | None = None
    ) -> StoredInstance:
        secret = secrets.token_urlsafe(32)
        if registration is not None:
            registration = registration.model_copy(
                update={"app_instance_id": instance_id, "is_ins_by_mec": False}
            )
        record = AppInstanceRecord(
            app_instance_id=instance_id,
            spec=spec,
            client_secret_sha256=_digest(secret),
            created_at=dt.datetime.now(dt.UTC),
            is_ins_by_mec=registration is None,
            registration=registration,
        )
        put = Put(COLLECTION, instance_id, record.model_dump(mode="json"), ABSENT)
        event = self._outbox.entry(STREAM, _event("AppInstanceCreated", instance_id))
        seeds = rules.seed_ops(instance_id, spec)
        seeds += await dns_names.claim_ops(self._store, instance_id, None, spec)
        versions = await self._committer.commit([put, *seeds, event, *dns_names.touched(seeds)])
        return StoredInstance(record, versions[0], client_secret=secret, created=True)


def _event(kind: str, instance_id: str) -> dict[str, str]:
    return {"type": kind, "appInstanceId": instance_id}
