"""The nftables driver's own logic, with nft and tc replaced by a fake runner: what it applies
and in which order, a rule the kernel refuses left out, and failures reported, never raised."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mep.bwm.models import BwInfo
from mep.dataplane.command import CommandError
from mep.dataplane.nftables import NftablesDataPlane
from mep.dataplane.port import AppTrafficRule, Snapshot
from mep.mp1.app_support.models import TrafficRule

POISON = 6666  # a port the fake kernel refuses


def _rules(transaction: str) -> list[dict[str, Any]]:
    commands = json.loads(transaction)["nftables"]
    return [c["add"]["rule"] for c in commands if "rule" in c.get("add", {})]


def _dport(rule: dict[str, Any]) -> Any:
    for expr in rule["expr"]:
        if expr.get("match", {}).get("left") == {"payload": {"protocol": "th", "field": "dport"}}:
            return expr["match"]["right"]
    return None


@dataclass
class FakeRunner:
    """Records every command; nft fails on a rule matching port POISON, or on everything."""

    calls: list[tuple[tuple[str, ...], str]] = field(default_factory=list)
    broken: bool = False
    tc_classes: str = ""

    async def run(self, *args: str, stdin: bytes | None = None) -> str:
        text = "" if stdin is None else stdin.decode()
        self.calls.append((args, text))
        if args[0] == "nft":
            if self.broken:
                raise CommandError("nft failed: Operation not permitted")
            if any(_dport(r) == POISON for r in _rules(text)):
                raise CommandError("nft failed: Error: Could not process rule")
        if args[:2] == ("tc", "class") and args[2] == "show":
            return self.tc_classes
        return ""

    def tables(self) -> list[dict[str, Any]]:
        """The rules of the last transaction nft was given."""
        return _rules([text for args, text in self.calls if args[0] == "nft"][-1])

    def comments(self) -> list[str]:
        """The IPv4 traffic rules the last transaction holds."""
        return [r["comment"] for r in self.tables() if (r["family"], r["chain"]) == ("ip", "steer")]

    def commands(self, tool: str) -> list[str]:
        return [" ".join(args) + (" <<" + text.strip() if text else "") for args, text in self.calls
                if args[0] == tool]  # fmt: skip


def rule(rule_id: str, port: int, **fields: Any) -> TrafficRule:
    return TrafficRule.model_validate(
        {
            "trafficRuleId": rule_id,
            "filterType": "FLOW",
            "priority": 1,
            "trafficFilter": [{"dstPort": [str(port)], "protocol": ["UDP"]}],
            "action": "DROP",
            "state": "ACTIVE",
            **fields,
        }
    )


async def test_every_change_replaces_the_tables_with_all_rules() -> None:
    runner = FakeRunner()
    driver = NftablesDataPlane(runner=runner)
    await driver.add_traffic_rule("a", rule("r1", 1000))
    await driver.add_traffic_rule("b", rule("r2", 2000, priority=0))
    assert runner.comments() == ["b/r2", "a/r1"]
    await driver.update_traffic_rule("a", rule("r1", 1000, state="INACTIVE"))
    assert runner.comments() == ["b/r2"]
    await driver.remove_traffic_rule("b", "r2")
    assert runner.comments() == []
    report = driver.report()
    assert report.rules.model_dump() == {"known": 1, "active": 0, "enforced": 0}
    assert report.last_apply is not None
    assert (report.last_apply.operation, report.last_apply.ok) == ("remove", True)
    assert all(args == ("nft", "-j", "-f", "-") for args, _ in runner.calls)


async def test_a_rule_the_kernel_refuses_is_left_out_until_it_changes() -> None:
    runner = FakeRunner()
    driver = NftablesDataPlane(runner=runner)
    await driver.add_traffic_rule("a", rule("good", 1000))
    await driver.add_traffic_rule("a", rule("bad", POISON))
    # The others stay enforced: applied again without it.
    assert runner.comments() == ["a/good"]
    report = driver.report()
    assert report.last_apply is not None
    assert report.last_apply.ok is False
    assert report.last_apply.error is not None
    assert "'bad'" in report.last_apply.error
    assert [(n.id, n.reason.startswith("refused by nft")) for n in report.not_applied] == [
        ("bad", True)
    ]
    assert report.rules.enforced == 1
    # Another change leaves it out without trying it again...
    await driver.add_traffic_rule("a", rule("other", 3000))
    assert runner.comments() == ["a/good", "a/other"]
    # ...until it changes.
    await driver.update_traffic_rule("a", rule("bad", 4000))
    assert runner.comments() == ["a/bad", "a/good", "a/other"]
    assert driver.report().not_applied == []


async def test_a_data_plane_that_fails_is_reported_and_catches_up() -> None:
    runner = FakeRunner(broken=True)
    driver = NftablesDataPlane(runner=runner)

    async def load() -> Snapshot:
        return Snapshot([AppTrafficRule("a", rule("r1", 1000))])

    await driver.reconcile(load)
    await driver.add_traffic_rule("a", rule("r2", 2000))
    report = driver.report()
    assert report.last_apply is not None
    assert (report.last_apply.operation, report.last_apply.ok) == ("add", False)
    assert report.last_apply.error == "nft failed: Operation not permitted"
    # Not the rule's fault: nothing is left out for it.
    assert report.not_applied == []
    assert report.rules.model_dump() == {"known": 2, "active": 2, "enforced": 0}
    runner.broken = False
    await driver.remove_traffic_rule("a", "nothing")
    assert runner.comments() == ["a/r1", "a/r2"]
    assert driver.report().rules.enforced == 2


async def test_a_store_that_cannot_be_read_at_start_is_reported() -> None:
    driver = NftablesDataPlane(runner=FakeRunner())

    async def load() -> Snapshot:
        raise OSError("database is locked")

    await driver.reconcile(load)
    report = driver.report()
    assert report.last_apply is not None
    assert (report.last_apply.operation, report.last_apply.ok) == ("reconcile", False)
    assert report.last_apply.error == "database is locked"


ALLOCATION = BwInfo.model_validate(
    {"appInsId": "a", "requestType": 0, "fixedAllocation": "2000000", "allocationDirection": "00"}
)
STEER = rule(
    "steer",
    443,
    action="FORWARD_DECAPSULATED",
    dstInterface={"interfaceType": "IP", "dstIpAddress": "10.10.0.5"},
)


async def test_bandwidth_classes_come_before_their_classifier_and_go_after_it() -> None:
    runner = FakeRunner()
    driver = NftablesDataPlane(runner=runner, interfaces=["ue", "app"])
    await driver.add_traffic_rule("a", STEER)
    runner.calls.clear()
    await driver.apply_bandwidth("alloc-1", ALLOCATION)
    assert [args[0] for args, _ in runner.calls] == ["tc", "tc", "tc", "tc", "tc", "nft"]
    tc = runner.commands("tc")
    assert tc[0] == "tc qdisc show dev ue root"
    assert tc[1] == "tc qdisc replace dev ue root handle 1: htb"
    assert tc[2:4] == ["tc qdisc show dev app root", "tc qdisc replace dev app root handle 1: htb"]
    (classes,) = tc[4:]
    classid = classes.split("classid ")[1].split()[0]
    assert classes.splitlines() == [
        "tc -batch - <<class replace dev ue parent 1: classid "
        f"{classid} htb rate 2000000bit ceil 2000000bit",
        f"class replace dev app parent 1: classid {classid} htb rate 2000000bit ceil 2000000bit",
    ]
    shape = [r for r in runner.tables() if (r["family"], r["chain"]) == ("ip", "shape")]
    assert [r["expr"][-2]["mangle"]["value"] for r in shape] == [classid]
    assert driver.report().allocations.model_dump() == {"known": 1, "shaped": 1}

    runner.calls.clear()
    await driver.apply_bandwidth("alloc-1", ALLOCATION)  # the qdiscs are known by now
    assert [args[:2] for args, _ in runner.calls] == [("tc", "-batch"), ("nft", "-j")]

    runner.calls.clear()
    await driver.remove_bandwidth("alloc-1")
    assert [args[0] for args, _ in runner.calls] == ["nft", "tc"]
    assert [r for r in runner.tables() if r["chain"] == "shape"] == []
    assert runner.commands("tc") == [
        f"tc -force -batch - <<class del dev ue classid {classid}\n"
        f"class del dev app classid {classid}"
    ]


async def test_reconcile_prunes_the_classes_of_allocations_gone() -> None:
    runner = FakeRunner(tc_classes="class htb 1:7 root prio 0 rate 1Mbit ceil 1Mbit burst 1600b\n")
    driver = NftablesDataPlane(runner=runner, interfaces=["ue"])

    async def load() -> Snapshot:
        return Snapshot([AppTrafficRule("a", STEER)], {"alloc-1": ALLOCATION})

    await driver.reconcile(load)
    tc = runner.commands("tc")
    assert tc[-2] == "tc class show dev ue"
    assert tc[-1] == "tc -force -batch - <<class del dev ue classid 1:7"
    report = driver.report()
    assert report.last_apply is not None
    assert report.last_apply.ok is True
    assert report.allocations.shaped == 1
