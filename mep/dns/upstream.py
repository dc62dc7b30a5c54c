"""Forwarding to an upstream resolver the names no ACTIVE DNS rule answers (``MEP_DNS_UPSTREAM``).

Answers are cached for their TTL (a negative answer for its SOA minimum, RFC 2308 clause 5) and
served from the cache with the TTLs aged. Identical questions asked while one is on its way
share it, and at most ``max_in_flight`` distinct questions are on their way at once: beyond
that the caller answers SERVFAIL at once rather than queueing, so a flood of unknown names
costs a bounded amount of sockets and memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import structlog

log = structlog.get_logger("mep.dns")

#: The EDNS payload asked of the upstream (the DNS flag day 2020 figure: no fragmentation).
PAYLOAD = 1232
#: The longest an answer is kept, whatever its TTL says.
MAX_CACHE_TTL = 3600

#: Seconds the upstream gets to answer: less than a stub resolver waits for us (2 s for
#: dnspython, 5 s for glibc), so that the client gets our SERVFAIL rather than a timeout.
UPSTREAM_TIMEOUT = 1.5

Key = tuple[dns.name.Name, dns.rdatatype.RdataType, dns.rdataclass.RdataClass]


@dataclass(frozen=True, slots=True)
class Resolved:
    """The upstream's answer: its rcode, answer and authority sections."""

    rcode: dns.rcode.Rcode
    answer: tuple[dns.rrset.RRset, ...]
    authority: tuple[dns.rrset.RRset, ...]

    def aged(self, seconds: int) -> Resolved:
        """The same answer ``seconds`` later: every TTL that much smaller (never negative)."""
        if seconds <= 0:
            return self
        return Resolved(self.rcode, _aged(self.answer, seconds), _aged(self.authority, seconds))


@dataclass(frozen=True, slots=True)
class _Cached:
    stored: float
    expires: float
    resolved: Resolved


class Upstream:
    def __init__(
        self,
        host: str,
        port: int = 53,
        *,
        timeout: float = UPSTREAM_TIMEOUT,
        max_in_flight: int = 64,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.port = port
        self._timeout = timeout
        self._max_in_flight = max_in_flight
        self._cache_size = cache_size
        self._clock = clock
        self._cache: dict[Key, _Cached] = {}
        self._asking: dict[Key, asyncio.Task[Resolved | None]] = {}

    async def resolve(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        rdclass: dns.rdataclass.RdataClass,
    ) -> Resolved | None:
        """The upstream's answer, from the cache when fresh; None when it failed, timed out,
        or too many questions are on their way already."""
        key = (name, rdtype, rdclass)
        cached = self._cache.get(key)
        now = self._clock()
        if cached is not None:
            if cached.expires > now:
                return cached.resolved.aged(int(now - cached.stored))
            del self._cache[key]
        task = self._asking.get(key)
        if task is None:
            if len(self._asking) >= self._max_in_flight:
                return None
            task = asyncio.create_task(self._ask(key), name="dns-upstream")
            self._asking[key] = task
            task.add_done_callback(lambda _: self._asking.pop(key, None))
        # Shielded: one asker giving up (its client went away) does not cancel the others'.
        return await asyncio.shield(task)

    async def close(self) -> None:
        tasks = list(self._asking.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _ask(self, key: Key) -> Resolved | None:
        name, rdtype, rdclass = key
        query = dns.message.make_query(name, rdtype, rdclass, use_edns=0, payload=PAYLOAD)
        try:
            response = await dns.asyncquery.udp(
                query, self.host, timeout=self._timeout, port=self.port, ignore_unexpected=True
            )
            if response.flags & dns.flags.TC:
                response = await dns.asyncquery.tcp(
                    query, self.host, timeout=self._timeout, port=self.port
                )
        except (dns.exception.DNSException, OSError, EOFError) as error:
            # Debug only: a failing upstream under load would flood the log; clients see SERVFAIL.
            log.debug("dns: upstream failed", upstream=self.host, name=str(name), error=repr(error))
            return None
        except Exception:
            log.exception("dns: forwarding failed", upstream=self.host, name=str(name))
            return None
        resolved = Resolved(response.rcode(), tuple(response.answer), tuple(response.authority))
        ttl = min(_cache_ttl(resolved), MAX_CACHE_TTL)
        if ttl > 0:
            self._store(key, resolved, ttl)
        return resolved

    def _store(self, key: Key, resolved: Resolved, ttl: int) -> None:
        if key not in self._cache and len(self._cache) >= self._cache_size:
            del self._cache[next(iter(self._cache))]  # the oldest entry
        now = self._clock()
        self._cache[key] = _Cached(now, now + ttl, resolved)


def _cache_ttl(resolved: Resolved) -> int:
    """How long the answer may be kept: 0 for failures and for negative answers without SOA."""
    if resolved.rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return 0
    if resolved.answer and resolved.rcode == dns.rcode.NOERROR:
        return min(rrset.ttl for rrset in resolved.answer)
    for rrset in resolved.authority:
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset) > 0:
            soa = next(iter(rrset))
            return int(min(rrset.ttl, soa.minimum))
    return 0


def _aged(rrsets: tuple[dns.rrset.RRset, ...], seconds: int) -> tuple[dns.rrset.RRset, ...]:
    return tuple(
        dns.rrset.from_rdata_list(rrset.name, max(0, rrset.ttl - seconds), list(rrset))
        for rrset in rrsets
    )
