"""Traffic rules and bandwidth classifiers, compiled into one nftables transaction (JSON).

Pure: rules in, the ``nftables`` command list out; ``nft -j -f -`` applies it atomically.

The platform owns the tables ``ip <table>`` and ``ip6 <table>`` (one per family rather than one
``inet`` table: the kernel's ``dup`` statement exists for the ip and ip6 families only). Every
apply deletes and re-creates both in the same transaction, so packets see the old rule set or the
new one, never a gap, and whatever else is in them (strays) goes.

Each family's table has up to three chains:

* ``steer`` (filter, prerouting, priority mangle): the ACTIVE traffic rules, highest priority
  first (MEC 011: 0 is the highest); a packet takes the action of the first rule that matches.
  DROP drops; PASSTHROUGH and FORWARD_* accept (nothing further of the platform's applies);
  DUPLICATE_* send a copy to ``dstInterface.dstIpAddress`` (``dup to``) and accept;
* ``steer_nat`` (nat, prerouting, priority dstnat): FORWARD_* rewrite the destination to
  ``dstInterface.dstIpAddress`` (DNAT: the app receives the flow; its replies are rewritten back
  by conntrack). It holds the same matches in the same order, DROP rules left out: a packet that
  reaches it was not dropped, so its first match here is its first match in ``steer``;
* ``shape`` (filter, postrouting): bandwidth classifiers (ETSI GS MEC 015), which put a packet
  leaving a shaped interface into its allocation's HTB class (``meta priority``; see ``tc.py``).

The matches of a TrafficFilter are ``nft.py``'s, the bandwidth classifiers ``shaping.py``'s.
FLOW and PACKET rules are compiled alike: every packet is matched, and a FORWARD
rule's DNAT, like any NAT, binds whole connections (those already established keep their path).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from mep.dataplane.nft import (
    ACCEPT,
    FAMILIES,
    PROTOCOLS,
    SHAPE,
    STEER,
    STEER_NAT,
    Chains,
    Expr,
    filter_matches,
    rule_comment,
)
from mep.dataplane.port import AppTrafficRule, DataPlaneCapabilities
from mep.dataplane.shaping import Shaping, app_addresses, compile_shaping
from mep.dataplane.status import NotApplied, NotAppliedKind
from mep.dataplane.support import TO_INTERFACE, unsupported
from mep.mp1.app_support.models import FilterType, InterfaceType, RuleState, TrafficRuleAction

_CHAINS = {
    STEER: ("filter", "prerouting", -150),
    STEER_NAT: ("nat", "prerouting", -100),
    # Before srcnat (100): replies of a steered flow still carry the app's address here.
    SHAPE: ("filter", "postrouting", 0),
}

NFTABLES_CAPABILITIES = DataPlaneCapabilities(
    actions=frozenset(TrafficRuleAction),
    filter_types=frozenset(FilterType),
    # No token, tunnel (GTP-U) or QCI matching: the packets here are plain IP.
    filter_fields=frozenset(
        {"srcAddress", "dstAddress", "srcPort", "dstPort", "protocol", "dSCP", "tC"}
    ),
    # Forwarding into a tunnel or to a MAC address would need encapsulation it does not do.
    interface_types=frozenset({InterfaceType.IP}),
    protocols=frozenset(PROTOCOLS),
    bandwidth=True,
)


@dataclass(frozen=True)
class Compiled:
    commands: list[Expr]
    #: ACTIVE traffic rules in the tables.
    enforced: int
    #: Allocations with a classifier.
    shaped: int
    not_applied: list[NotApplied] = field(default_factory=list)

    def document(self) -> dict[str, list[Expr]]:
        """What ``nft -j -f -`` reads."""
        return {"nftables": self.commands}


# --- traffic rules


def _verdicts(
    action: TrafficRuleAction, target: str | None
) -> tuple[list[Expr], list[Expr] | None]:
    """The statements ending a matching rule in ``steer`` and in ``steer_nat`` (None: not
    there)."""
    if action is TrafficRuleAction.DROP:
        return [{"drop": None}], None
    if action in (TrafficRuleAction.FORWARD_DECAPSULATED, TrafficRuleAction.FORWARD_ENCAPSULATED):
        return [ACCEPT], [{"dnat": {"addr": target}}]
    if action in (
        TrafficRuleAction.DUPLICATE_DECAPSULATED,
        TrafficRuleAction.DUPLICATE_ENCAPSULATED,
    ):
        return [{"dup": {"addr": target}}, ACCEPT], [ACCEPT]
    return [ACCEPT], [ACCEPT]


def _reason(rule: AppTrafficRule, caps: DataPlaneCapabilities) -> str | None:
    problems = unsupported(caps, rule.rule)
    return "; ".join(f"{p.param}: {p.reason}" for p in problems) or None


def _compile_rules(
    rules: Sequence[AppTrafficRule], caps: DataPlaneCapabilities, chains: Chains
) -> tuple[int, list[NotApplied]]:
    active = sorted(
        (r for r in rules if r.rule.state is RuleState.ACTIVE),
        key=lambda r: (r.rule.priority, r.app_instance_id, r.rule.traffic_rule_id),
    )
    enforced, notes = 0, []
    # Per version: the nat rules so far, and how many of them up to the last DNAT.
    nat: dict[int, list[tuple[str, list[Expr]]]] = {4: [], 6: []}
    needed = {4: 0, 6: 0}
    for entry in active:
        rule = entry.rule
        reason = _reason(entry, caps)
        if reason is not None:
            notes.append(
                NotApplied(
                    kind=NotAppliedKind.TRAFFIC_RULE,
                    app_instance_id=entry.app_instance_id,
                    id=rule.traffic_rule_id,
                    reason=reason,
                )
            )
            continue
        enforced += 1
        target = None
        versions: tuple[int, ...] = (4, 6)
        if rule.action in TO_INTERFACE and rule.dst_interface is not None:
            target = rule.dst_interface.dst_ip_address
            assert target is not None  # interfaceType IP, checked above
            versions = (ipaddress.ip_address(target).version,)
        steer_end, nat_end = _verdicts(rule.action, target)
        comment = rule_comment(entry.app_instance_id, rule.traffic_rule_id)
        for traffic_filter in rule.traffic_filter:
            for version, exprs in filter_matches(traffic_filter, chains.sets, versions):
                chains.add(version, STEER, comment, exprs + steer_end)
                if nat_end is not None:
                    nat[version].append((comment, exprs + nat_end))
                    if "dnat" in nat_end[0]:
                        needed[version] = len(nat[version])
    for version, found in nat.items():
        # After the last DNAT, nothing in the nat chain would change a packet.
        for comment, exprs in found[: needed[version]]:
            chains.add(version, STEER_NAT, comment, exprs)
    return enforced, notes


# --- the transaction


def _table_commands(version: int, table: str, chains: Chains) -> list[Expr]:
    family = FAMILIES[version]
    ident = {"family": family, "name": table}
    # add-then-delete: "delete" alone fails on a table that is not there yet.
    commands: list[Expr] = [
        {"add": {"table": ident}},
        {"delete": {"table": ident}},
        {"add": {"table": ident}},
        *chains.sets.commands(version, table),
    ]
    for chain, (kind, hook, priority) in _CHAINS.items():
        rules = chains.of(version, chain)
        if not rules and chain != STEER:
            continue
        commands.append(
            {
                "add": {
                    "chain": {
                        "family": family,
                        "table": table,
                        "name": chain,
                        "type": kind,
                        "hook": hook,
                        "prio": priority,
                        "policy": "accept",
                    }
                }
            }
        )
        for comment, exprs in rules:
            rule = {
                "family": family,
                "table": table,
                "chain": chain,
                "expr": exprs,
                "comment": comment,
            }
            commands.append({"add": {"rule": rule}})
    return commands


def compile_ruleset(
    rules: Sequence[AppTrafficRule],
    *,
    table: str,
    shaping: Sequence[Shaping] = (),
    interfaces: Sequence[str] = (),
    caps: DataPlaneCapabilities = NFTABLES_CAPABILITIES,
) -> Compiled:
    """The transaction that makes the platform's tables enforce ``rules`` (their ACTIVE ones)
    and classify the packets of ``shaping`` on ``interfaces``."""
    chains = Chains()
    enforced, rule_notes = _compile_rules(rules, caps, chains)
    shaped, shaping_notes = compile_shaping(shaping, interfaces, app_addresses(rules), chains)
    commands = [c for version in FAMILIES for c in _table_commands(version, table, chains)]
    return Compiled(commands, enforced, shaped, rule_notes + shaping_notes)


def removal(table: str) -> dict[str, list[Expr]]:
    """The transaction deleting the platform's tables, whether they exist or not."""
    commands: list[Expr] = []
    for family in FAMILIES.values():
        ident = {"family": family, "name": table}
        commands += [{"add": {"table": ident}}, {"delete": {"table": ident}}]
    return {"nftables": commands}
