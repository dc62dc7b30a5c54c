"""Bandwidth allocations (ETSI GS MEC 015) as HTB classes on the shaped interfaces.

Each shaped interface gets an HTB root qdisc (handle ``1:``), and each allocation a class
``1:<minor>`` on every one of them, with rate and ceiling ``fixedAllocation``. Packets reach a
class through the ``shape`` chain of the platform's nftables tables (``shaping.py``), which sets a
packet's priority to the class id: HTB puts such a packet into that class. Other packets go
unshaped (HTB's direct queue: there is no default class).

Shaping acts where packets leave an interface, so the interfaces named decide what is shaped:
the one towards the UEs shapes downlink, the one towards the apps uplink.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Collection, Mapping, Sequence

import structlog

from mep.bwm.models import BwInfo
from mep.dataplane.command import CommandError, Runner

log = structlog.get_logger("mep.dataplane")

_HANDLE = "1:"
_MINORS = 0xFFFE
_CLASS = re.compile(r"^class htb 1:([0-9a-f]+)\s", re.M)


def classid(minor: int) -> str:
    return f"{_HANDLE}{minor:x}"


def rate(allocation: BwInfo) -> str:
    return f"{int(allocation.fixed_allocation)}bit"


class ClassIds:
    """The HTB class minor of each allocation. Derived from the allocation id (collisions move to
    the next free number), so an allocation mostly keeps its class across restarts."""

    def __init__(self) -> None:
        self._minors: dict[str, int] = {}

    def of(self, allocation_id: str) -> str:
        minor = self._minors.get(allocation_id)
        if minor is None:
            taken = set(self._minors.values())
            minor = zlib.crc32(allocation_id.encode()) % _MINORS + 1
            while minor in taken:
                minor = minor % _MINORS + 1
            self._minors[allocation_id] = minor
        return classid(minor)

    def release(self, allocation_id: str) -> str | None:
        minor = self._minors.pop(allocation_id, None)
        return None if minor is None else classid(minor)

    def retain(self, allocation_ids: Collection[str]) -> None:
        for gone in set(self._minors) - set(allocation_ids):
            del self._minors[gone]

    def wanted(self) -> set[str]:
        return {classid(m) for m in self._minors.values()}


def class_lines(interfaces: Sequence[str], classes: Mapping[str, BwInfo]) -> list[str]:
    """``tc -batch`` lines creating or changing the classes (class id -> allocation)."""
    return [
        f"class replace dev {interface} parent {_HANDLE} classid {cid} htb"
        f" rate {rate(allocation)} ceil {rate(allocation)}"
        for interface in interfaces
        for cid, allocation in sorted(classes.items())
    ]


def parse_classes(output: str) -> set[str]:
    """The HTB class ids under ``1:`` in ``tc class show`` output."""
    return {classid(int(minor, 16)) for minor in _CLASS.findall(output)}


class TcShaper:
    def __init__(self, commands: Runner, interfaces: Sequence[str], ids: ClassIds) -> None:
        self._commands = commands
        self.interfaces = tuple(interfaces)
        self._ids = ids
        self._prepared = False

    async def put(self, allocations: Mapping[str, BwInfo]) -> None:
        """Create or change the classes of ``allocations`` (id -> allocation)."""
        if not self._prepared:
            await self._prepare()
        classes = {self._ids.of(a): allocation for a, allocation in allocations.items()}
        if classes:
            await self._batch(class_lines(self.interfaces, classes))

    async def delete(self, allocation_id: str) -> None:
        cid = self._ids.release(allocation_id)
        if cid is not None:
            await self._delete({cid})

    async def prune(self) -> None:
        """Delete the classes no allocation has (left by an earlier run)."""
        wanted = self._ids.wanted()
        for interface in self.interfaces:
            output = await self._commands.run("tc", "class", "show", "dev", interface)
            await self._delete(parse_classes(output) - wanted, (interface,))

    def forget(self) -> None:
        """Check the root qdiscs again before the next change (someone may have replaced them)."""
        self._prepared = False

    async def _prepare(self) -> None:
        for interface in self.interfaces:
            output = await self._commands.run("tc", "qdisc", "show", "dev", interface, "root")
            # Replacing an HTB root by itself is refused, and replacing it by a new one would
            # drop its classes: only a root that is not ours is replaced.
            if f"qdisc htb {_HANDLE} " not in output:
                await self._commands.run(
                    "tc", "qdisc", "replace", "dev", interface, "root", "handle", _HANDLE, "htb"
                )
        self._prepared = True

    async def _delete(self, classids: Collection[str], interfaces: Sequence[str] = ()) -> None:
        lines = [
            f"class del dev {interface} classid {cid}"
            for interface in interfaces or self.interfaces
            for cid in sorted(classids)
        ]
        if not lines:
            return
        try:
            await self._batch(lines, force=True)
        except CommandError as error:  # a class already gone is what a delete wants
            log.debug("tc class delete", error=str(error))

    async def _batch(self, lines: Sequence[str], *, force: bool = False) -> None:
        options = ("-force", "-batch", "-") if force else ("-batch", "-")
        await self._commands.run("tc", *options, stdin="\n".join([*lines, ""]).encode())
