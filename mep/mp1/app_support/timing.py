"""The platform's time for MEC apps (ETSI GS MEC 011 clauses 7.1.2.4 TimingCaps and 7.1.2.5
CurrentTime).

``timeSourceStatus`` is TRACEABLE only when the host says its clock is synchronised to UTC by NTP:
on Linux the kernel's NTP state (``adjtimex`` read-only: not TIME_ERROR and no STA_UNSYNC bit),
else ``timedatectl show -p NTPSynchronized`` where present, else NONTRACEABLE. The checks run off
the event loop (a thread, a subprocess) and their answer is kept for a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import shutil
import sys
import time
from collections.abc import Callable
from typing import Protocol

from mep.core.notify.subscriptions import TimeStamp
from mep.mp1.app_support.models import CurrentTime, TimeSourceStatus, TimingCaps

_TIME_ERROR = 5  # adjtimex(2) return value: clock not synchronised
_STA_UNSYNC = 0x0040


class TimeSource(Protocol):
    async def status(self) -> TimeSourceStatus:
        """Whether the platform's clock is locked to UTC."""
        ...


class _Timeval(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long)]


class _Timex(ctypes.Structure):
    """``struct timex`` of <sys/timex.h> (Linux, glibc and musl)."""

    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


def kernel_ntp_status() -> TimeSourceStatus | None:
    """The Linux kernel's NTP state, or None where it cannot be read (blocking: use a thread)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        adjtimex = ctypes.CDLL(None, use_errno=True).adjtimex
    except (OSError, AttributeError):
        return None
    timex = _Timex()  # modes 0: a read, which needs no privilege
    state = adjtimex(ctypes.byref(timex))
    if state < 0:
        return None
    unsynchronised = state == _TIME_ERROR or bool(timex.status & _STA_UNSYNC)
    return TimeSourceStatus.NONTRACEABLE if unsynchronised else TimeSourceStatus.TRACEABLE


async def timedatectl_status() -> TimeSourceStatus | None:
    """systemd's view (``NTPSynchronized``), or None without ``timedatectl``."""
    path = await asyncio.to_thread(shutil.which, "timedatectl")
    if path is None:
        return None
    try:
        process = await asyncio.create_subprocess_exec(
            path,
            "show",
            "-p",
            "NTPSynchronized",
            "--value",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return None
    try:
        async with asyncio.timeout(2.0):
            out, _ = await process.communicate()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        return None
    answer = out.decode(errors="replace").strip()
    if answer == "yes":
        return TimeSourceStatus.TRACEABLE
    return TimeSourceStatus.NONTRACEABLE if answer == "no" else None


class HostClock:
    """The host's clock, TRACEABLE only when NTP-synchronised."""

    def __init__(self, *, keep_for: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self._keep_for = keep_for
        self._clock = clock
        self._known: tuple[float, TimeSourceStatus] | None = None

    async def status(self) -> TimeSourceStatus:
        now = self._clock()
        if self._known is not None and now - self._known[0] < self._keep_for:
            return self._known[1]
        found = await asyncio.to_thread(kernel_ntp_status) or await timedatectl_status()
        status = found or TimeSourceStatus.NONTRACEABLE
        self._known = (now, status)
        return status


def _timestamp(ns: int) -> TimeStamp:
    return TimeStamp(seconds=ns // 1_000_000_000, nano_seconds=ns % 1_000_000_000)


async def current_time(source: TimeSource) -> CurrentTime:
    status = await source.status()
    stamp = _timestamp(time.time_ns())
    return CurrentTime(
        seconds=stamp.seconds, nano_seconds=stamp.nano_seconds, time_source_status=status
    )


def timing_caps() -> TimingCaps:
    return TimingCaps(time_stamp=_timestamp(time.time_ns()))
