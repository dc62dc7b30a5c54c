"""The nftables data plane: how long applying traffic rules takes, for 1, 100 and 1,000 rules.

Everything happens in a throwaway network namespace (``ip netns add``), deleted at the end; the
host's own packet filter is never touched. Needs root, ``ip`` and ``nft``. Per rule count:

* the nftables rules the traffic rules compile to, and the size of the JSON transaction;
* ``compile``: traffic rules to JSON (Python only, no I/O);
* ``nft alone``: ``nft -j -f -`` of that JSON, already serialised: the baseline, what the
  kernel and nft cost whatever drives them;
* ``full apply``: the driver's reconcile (compile, serialise, run nft), what a start costs;
  its ratio to ``nft alone`` is the driver's own share;
* ``one change``: one rule's state toggled with all the others in place (every change replaces
  the tables: its cost grows with the rules held);
* ``one by one``: adding the rules one at a time, as instances are created one by one.

The rules are a mix of the four kinds of action (DROP, PASSTHROUGH, FORWARD_DECAPSULATED,
DUPLICATE_DECAPSULATED) over 10 rules per app instance, each with its own destination address
and port. Figures only, never assertions; medians of a few runs.

Run: ``.venv/bin/python bench/dataplane.py [--counts 1,100,1000] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform as pyplatform
import secrets
import shutil
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from _harness import print_table

from mep.dataplane.command import Commands, netns_prefix
from mep.dataplane.compile import compile_ruleset, removal
from mep.dataplane.nftables import NftablesDataPlane
from mep.dataplane.port import AppTrafficRule, Snapshot
from mep.mp1.app_support.models import RuleState, TrafficRule

TABLE = "mepbench"
RULES_PER_APP = 10
ACTIONS = ("DROP", "PASSTHROUGH", "FORWARD_DECAPSULATED", "DUPLICATE_DECAPSULATED")


def traffic_rules(count: int) -> list[AppTrafficRule]:
    rules = []
    for n in range(count):
        action = ACTIONS[n % len(ACTIONS)]
        body = {
            "trafficRuleId": f"rule-{n:04d}",
            "filterType": "FLOW",
            "priority": n % 256,
            "trafficFilter": [
                {
                    "srcAddress": ["10.64.0.0/12"],
                    "dstAddress": [f"198.18.{n // 250}.{n % 250 + 1}"],
                    "dstPort": [str(1024 + n)],
                    "protocol": ["TCP", "UDP"],
                }
            ],
            "action": action,
            "state": "ACTIVE",
        }
        if action not in ("DROP", "PASSTHROUGH"):
            target = f"10.200.0.{n % 250 + 1}"
            body["dstInterface"] = {"interfaceType": "IP", "dstIpAddress": target}
        app = f"bench-app-{n // RULES_PER_APP:03d}"
        rules.append(AppTrafficRule(app, TrafficRule.model_validate(body)))
    return rules


async def timed(step: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await step()
    return time.perf_counter() - start


def compile_time(rules: list[AppTrafficRule]) -> float:
    start = time.perf_counter()
    compile_ruleset(rules, table=TABLE)
    return time.perf_counter() - start


async def median(step: Callable[[], Awaitable[object]], repeat: int) -> float:
    return statistics.median([await timed(step) for _ in range(repeat)])


@dataclass(frozen=True)
class Figures:
    rules: int
    nft_rules: int
    json_kb: float
    compile_s: float
    nft_s: float
    apply_s: float
    change_s: float
    one_by_one_s: float
    errors: str


def applied(driver: NftablesDataPlane, count: int) -> bool:
    """Whether the last apply went through with every rule."""
    report = driver.report()
    return bool(report.last_apply and report.last_apply.ok and report.rules.enforced == count)


async def measure(netns: str, count: int, repeat: int, limit: float) -> Figures:
    rules = traffic_rules(count)
    compiled = compile_ruleset(rules, table=TABLE)
    document = orjson.dumps(compiled.document())
    nft_rules = sum(1 for c in compiled.commands if "rule" in c.get("add", {}))
    compile_s = statistics.median([compile_time(rules) for _ in range(repeat)])
    commands = Commands(netns_prefix(netns), limit)
    nft_s = await median(lambda: commands.run("nft", "-j", "-f", "-", stdin=document), repeat)

    driver = NftablesDataPlane(table=TABLE, netns=netns, timeout=limit)

    async def load() -> Snapshot:
        return Snapshot(rules, {})

    apply_s = await median(lambda: driver.reconcile(load), repeat)
    toggled = rules[0]
    off = toggled.rule.model_copy(update={"state": RuleState.INACTIVE})

    async def toggle() -> None:
        await driver.update_traffic_rule(toggled.app_instance_id, off)
        await driver.update_traffic_rule(toggled.app_instance_id, toggled.rule)

    change_s = await median(toggle, repeat) / 2
    errors = [] if applied(driver, count) else ["full apply"]

    await commands.run("nft", "-j", "-f", "-", stdin=orjson.dumps(removal(TABLE)))
    one_by_one = NftablesDataPlane(table=TABLE, netns=netns, timeout=limit)

    async def add_all() -> None:
        for entry in rules:
            await one_by_one.add_traffic_rule(entry.app_instance_id, entry.rule)

    one_by_one_s = await timed(add_all)
    if not applied(one_by_one, count):
        errors.append("one by one")
    return Figures(
        count,
        nft_rules,
        len(document) / 1024,
        compile_s,
        nft_s,
        apply_s,
        change_s,
        one_by_one_s,
        ", ".join(errors),
    )


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:,.1f}"


def report(figures: list[Figures]) -> None:
    header = (
        "rules",
        "nft rules",
        "JSON KB",
        "compile ms",
        "nft alone ms",
        "full apply ms",
        "apply / nft",
        "one change ms",
        "one by one s",
    )
    rows = [
        (
            f"{f.rules:,}",
            f"{f.nft_rules:,}",
            f"{f.json_kb:,.1f}",
            ms(f.compile_s),
            ms(f.nft_s),
            ms(f.apply_s),
            f"{f.apply_s / f.nft_s:.2f}x",
            ms(f.change_s),
            f"{f.one_by_one_s:,.2f}",
        )
        for f in figures
    ]
    print()
    print_table(header, rows, indent="  ")
    for f in figures:
        if f.errors:
            print(f"  {f.rules} rules: failed applies ({f.errors}); see the log above")


def missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, nftables)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"needs {tool} (apt-get install iproute2 nftables)"
    return None


async def main(counts: list[int], repeat: int, limit: float) -> int:
    reason = missing()
    if reason is not None:
        print(f"data plane benchmark skipped: {reason}")
        return 2
    nft = (await Commands().run("nft", "--version")).strip()
    cpus = os.cpu_count()
    print(f"Data plane benchmark: Python {pyplatform.python_version()}, {nft}, {cpus} CPUs")
    print(f"median of {repeat} runs; rules: {', '.join(f'{c:,}' for c in counts)}", flush=True)
    netns = f"mepbench-{secrets.token_hex(3)}"
    host = Commands(timeout=limit)
    await host.run("ip", "netns", "add", netns)
    try:
        figures = []
        for count in counts:
            figures.append(await measure(netns, count, repeat, limit))
            print(f"  {count:,} rules measured", flush=True)
        report(figures)
    finally:
        await host.run("ip", "netns", "del", netns)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="1,100,1000", help="rule counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=60.0, help="per nft command, seconds")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",") if c.strip()]
    sys.exit(asyncio.run(main(counts, args.repeat, args.timeout)))
