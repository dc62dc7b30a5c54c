"""The nftables DataPlane: traffic rules enforced by the kernel's packet filter, bandwidth by tc.

The driver holds what it was told (every rule of every instance, every allocation) and, at each
change, compiles all of it (``compile.py``) and hands the result to ``nft -j -f -``: one
transaction that replaces the platform's tables, so a rule that did not change is enforced
without a break, and a failed apply leaves the previous tables in force. Changes are applied one
at a time, in the order committed (a lock; the callers follow the store in commit order).

A rule the kernel refuses is left out and the others applied without it; it stays out until it
changes, and the report names it. Nothing here raises for a data plane that fails: the store is
the truth, the failure is logged and reported, and the next start reconciles.

The tables stay when the platform stops: the rules are enforced while it is down, and the next
start replaces them with what is stored.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Sequence

import orjson
import structlog

from mep.bwm.models import BwInfo
from mep.dataplane.command import CommandError, Commands, Runner, netns_prefix
from mep.dataplane.compile import NFTABLES_CAPABILITIES, Compiled, compile_ruleset
from mep.dataplane.nft import FAMILIES
from mep.dataplane.port import AppTrafficRule, DataPlaneCapabilities, SnapshotLoader
from mep.dataplane.shaping import Shaping
from mep.dataplane.status import (
    AllocationCounts,
    ApplyLog,
    DataPlaneReport,
    NotApplied,
    NotAppliedKind,
    RuleCounts,
    Target,
)
from mep.dataplane.support import describe
from mep.dataplane.tc import ClassIds, TcShaper
from mep.mp1.app_support.models import RuleState, TrafficRule

log = structlog.get_logger("mep.dataplane")

RuleKey = tuple[str, str]


class NftablesDataPlane:
    def __init__(
        self,
        *,
        table: str = "mep",
        netns: str | None = None,
        interfaces: Sequence[str] = (),
        timeout: float = 5.0,
        runner: Runner | None = None,
    ) -> None:
        """``runner`` runs nft and tc (by default as subprocesses, in ``netns`` if given)."""
        self._table = table
        self._netns = netns
        self._commands = runner or Commands(netns_prefix(netns), timeout)
        self._ids = ClassIds()
        self._shaper = TcShaper(self._commands, interfaces, self._ids) if interfaces else None
        self._rules: dict[RuleKey, TrafficRule] = {}
        #: Rules the kernel refused, with its reason: left out until they change.
        self._refused: dict[RuleKey, str] = {}
        self._allocations: dict[str, BwInfo] = {}
        self._lock = asyncio.Lock()
        self._log = ApplyLog()
        #: What the tables hold: the last transaction the kernel took.
        self._applied: Compiled | None = None

    # --- the port

    async def add_traffic_rule(self, app_instance_id: str, rule: TrafficRule) -> None:
        await self._put_rule("add", app_instance_id, rule)

    async def update_traffic_rule(self, app_instance_id: str, rule: TrafficRule) -> None:
        await self._put_rule("update", app_instance_id, rule)

    async def remove_traffic_rule(self, app_instance_id: str, traffic_rule_id: str) -> None:
        async with self._lock:
            key = (app_instance_id, traffic_rule_id)
            self._rules.pop(key, None)
            self._refused.pop(key, None)
            await self._apply("remove")

    async def apply_bandwidth(self, allocation_id: str, allocation: BwInfo) -> None:
        async with self._lock:
            self._allocations[allocation_id] = allocation
            problem = None
            if self._shaper is not None:
                # The class first: the classifier then never points at a class not there yet.
                problem = await self._shape(self._shaper.put({allocation_id: allocation}))
            await self._apply("bandwidth", problem=problem)

    async def remove_bandwidth(self, allocation_id: str) -> None:
        async with self._lock:
            self._allocations.pop(allocation_id, None)
            await self._apply("bandwidth")
            if self._shaper is not None:
                await self._shaper.delete(allocation_id)
            else:
                self._ids.release(allocation_id)

    async def reconcile(self, load: SnapshotLoader) -> None:
        async with self._lock:
            since = self._log.started()
            try:
                snapshot = await load()
            except Exception as error:  # the store is down: report it, keep what is enforced
                log.exception("data plane reconcile: reading the store failed")
                self._log.record("reconcile", since, rule_count=self._enforced(), error=str(error))
                return
            self._rules = {
                (r.app_instance_id, r.rule.traffic_rule_id): r.rule for r in snapshot.rules
            }
            self._refused.clear()
            self._allocations = dict(snapshot.allocations)
            self._ids.retain(self._allocations)
            problem = None
            if self._shaper is not None:
                self._shaper.forget()
                problem = await self._shape(self._shaper.put(self._allocations))
            await self._apply("reconcile", problem=problem)
            if self._shaper is not None:
                problem = await self._shape(self._shaper.prune())
                if problem is not None:
                    self._log.record("reconcile", since, rule_count=self._enforced(), error=problem)

    def capabilities(self) -> DataPlaneCapabilities:
        return dataclasses.replace(NFTABLES_CAPABILITIES, bandwidth=self._shaper is not None)

    def report(self) -> DataPlaneReport:
        applied = self._applied
        refused = [
            NotApplied(
                kind=NotAppliedKind.TRAFFIC_RULE,
                app_instance_id=app,
                id=rule_id,
                reason=f"refused by nft: {reason}",
            )
            for (app, rule_id), reason in sorted(self._refused.items())
        ]
        return DataPlaneReport(
            driver="nftables",
            capabilities=describe(self.capabilities()),
            target=Target(
                netns=self._netns,
                tables=[f"{family} {self._table}" for family in FAMILIES.values()],
                interfaces=list(self._shaper.interfaces) if self._shaper else [],
            ),
            rules=RuleCounts(
                known=len(self._rules),
                active=sum(r.state is RuleState.ACTIVE for r in self._rules.values()),
                enforced=self._enforced(),
            ),
            allocations=AllocationCounts(
                known=len(self._allocations), shaped=0 if applied is None else applied.shaped
            ),
            last_apply=self._log.last,
            not_applied=(applied.not_applied if applied else []) + refused,
        )

    # --- applying

    async def _put_rule(self, operation: str, app_instance_id: str, rule: TrafficRule) -> None:
        async with self._lock:
            key = (app_instance_id, rule.traffic_rule_id)
            self._rules[key] = rule
            self._refused.pop(key, None)
            await self._apply(operation, changed=key)

    def _enforced(self) -> int:
        return 0 if self._applied is None else self._applied.enforced

    def _compile(self) -> Compiled:
        rules = [
            AppTrafficRule(app, rule)
            for (app, rule_id), rule in self._rules.items()
            if (app, rule_id) not in self._refused
        ]
        shaping = [Shaping(a, info, self._ids.of(a)) for a, info in self._allocations.items()]
        interfaces = self._shaper.interfaces if self._shaper else ()
        return compile_ruleset(rules, table=self._table, shaping=shaping, interfaces=interfaces)

    async def _nft(self, compiled: Compiled) -> None:
        await self._commands.run("nft", "-j", "-f", "-", stdin=orjson.dumps(compiled.document()))
        self._applied = compiled

    async def _apply(
        self, operation: str, *, changed: RuleKey | None = None, problem: str | None = None
    ) -> None:
        """Replace the tables by what is held now; ``changed``: the rule this change is about,
        left out if the kernel refuses the whole."""
        since = self._log.started()
        try:
            compiled = self._compile()
        except Exception as error:  # a bug must not stop the platform: reported, not raised
            log.exception("data plane compile failed", operation=operation)
            self._log.record(operation, since, rule_count=self._enforced(), error=repr(error))
            return
        try:
            await self._nft(compiled)
        except CommandError as error:
            if changed is None or not await self._without(changed, str(error)):
                log.warning("data plane apply failed", operation=operation, error=str(error))
                self._log.record(operation, since, rule_count=self._enforced(), error=str(error))
                return
            app, rule_id = changed
            problem = f"rule {rule_id!r} of {app!r} left out, refused by nft: {error}"
            log.warning("traffic rule refused", app=app, rule=rule_id, error=str(error))
        self._log.record(operation, since, rule_count=self._enforced(), error=problem)

    async def _without(self, key: RuleKey, reason: str) -> bool:
        """Apply again without rule ``key``; False (and ``key`` kept) if that fails too, i.e. it
        was not the rule's fault."""
        self._refused[key] = reason
        try:
            await self._nft(self._compile())
        except CommandError:
            del self._refused[key]
            return False
        return True

    async def _shape(self, step: Awaitable[None]) -> str | None:
        """Run a tc step; its error as text, or None."""
        try:
            await step
        except CommandError as error:
            log.warning("bandwidth shaping failed", error=str(error))
            return f"tc: {error}"
        return None
