"""Answering one DNS message (RFC 1035) from the name table: the responder without its sockets.

A name with an ACTIVE DNS rule gets an authoritative answer (AA): its A or AAAA records by the
rules' ``ipAddressType``, with the rules' ``ttl``; a question of another type about it is
answered with no records (NOERROR). Any other name is NXDOMAIN, or, with an upstream resolver,
left to it (:class:`Forward`). A message that cannot be parsed is answered FORMERR when its
header can be read and it is a query, else dropped; a response is never answered (no loops).

The answer over UDP fits the client's EDNS payload (at most 1232 bytes) or 512 bytes, else it
is truncated (TC) and the client asks again over TCP (RFC 7766). An answer depends only on the
query's bytes after its ID and on the table, so the rendered answers are kept until the table
changes: a repeated question costs a dictionary read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdtypes.IN.A import A
from dns.rdtypes.IN.AAAA import AAAA

from mep.dns.table import Addresses, Answer, NameTable
from mep.dns.upstream import Resolved, Upstream

#: Longer queries are not parsed: a real question (one name, an OPT record) is far shorter.
MAX_QUERY = 4096
#: The largest UDP answer (RFC 6891 clause 6.2.5: the smaller of the client's payload and ours).
UDP_PAYLOAD = 1232
_HEADER = 12
_RENDERED = 4096


@dataclass(frozen=True, slots=True)
class Forward:
    """A question for the upstream resolver; ``limit`` is the size the answer must fit."""

    query: dns.message.Message
    limit: int


Reply = bytes | Forward | None


class Responder:
    def __init__(self, table: NameTable, upstream: Upstream | None = None) -> None:
        self._table = table
        self._upstream = upstream
        self._rendered: dict[bytes, bytes] = {}
        self._generation = table.generation

    def respond(self, wire: bytes, *, tcp: bool) -> Reply:
        """The answer to ``wire``: bytes to send, a question to forward, or None to drop."""
        if len(wire) < _HEADER or len(wire) > MAX_QUERY or wire[2] & 0x80:
            return None
        if self._generation != self._table.generation:
            self._rendered.clear()
            self._generation = self._table.generation
        key = (b"t" if tcp else b"u") + wire[2:]
        rendered = self._rendered.get(key)
        if rendered is not None:
            return wire[:2] + rendered
        reply, reusable = self._answer(wire, tcp)
        if reusable and isinstance(reply, bytes):
            if len(self._rendered) >= _RENDERED:
                del self._rendered[next(iter(self._rendered))]
            self._rendered[key] = reply[2:]
        return reply

    async def forward(self, forward: Forward) -> bytes:
        """Ask the upstream resolver; SERVFAIL when it cannot answer."""
        question = forward.query.question[0]
        resolved = None
        if self._upstream is not None:
            resolved = await self._upstream.resolve(
                question.name, question.rdtype, question.rdclass
            )
        return self.forwarded(forward, resolved)

    def forwarded(self, forward: Forward, resolved: Resolved | None) -> bytes:
        """The client's answer from the upstream's (None: SERVFAIL)."""
        response = dns.message.make_response(
            forward.query, recursion_available=True, our_payload=UDP_PAYLOAD
        )
        if resolved is None or resolved.rcode > 15:  # an extended rcode is the upstream's own
            response.set_rcode(dns.rcode.SERVFAIL)
        else:
            response.set_rcode(resolved.rcode)
            response.answer = list(resolved.answer)
            response.authority = list(resolved.authority)
        return response.to_wire(max_size=forward.limit, prefer_truncation=True)

    def _answer(self, wire: bytes, tcp: bool) -> tuple[Reply, bool]:
        """The reply, and whether it may be reused for the same bytes."""
        try:
            query = dns.message.from_wire(wire)
        except Exception:  # whatever the bytes make the parser raise, the server goes on
            return _format_error(wire), False
        if query.opcode() != dns.opcode.QUERY:
            return self._reply(query, dns.rcode.NOTIMP, 512), True
        limit = 65535 if tcp else _udp_limit(query)
        if len(query.question) != 1:
            return self._reply(query, dns.rcode.FORMERR, limit), True
        question = query.question[0]
        if question.rdclass != dns.rdataclass.IN:
            return self._reply(query, dns.rcode.REFUSED, limit), True
        found = self._table.lookup(question.name.to_text(omit_final_dot=True).lower())
        if found is None:
            if self._upstream is not None:
                return Forward(query, limit), False
            return self._reply(query, dns.rcode.NXDOMAIN, limit), True
        response = self._response(query)
        response.flags |= dns.flags.AA
        response.answer = _rrsets(question.name, question.rdtype, found)
        return response.to_wire(max_size=limit, prefer_truncation=True), True

    def _response(self, query: dns.message.Message) -> dns.message.Message:
        return dns.message.make_response(
            query, recursion_available=self._upstream is not None, our_payload=UDP_PAYLOAD
        )

    def _reply(self, query: dns.message.Message, rcode: dns.rcode.Rcode, limit: int) -> bytes:
        response = self._response(query)
        response.set_rcode(rcode)
        return response.to_wire(max_size=limit, prefer_truncation=True)


def _udp_limit(query: dns.message.Message) -> int:
    if query.edns < 0:
        return 512
    return max(512, min(query.payload, UDP_PAYLOAD))


def _format_error(wire: bytes) -> bytes | None:
    """A bare FORMERR header for an unparsable query (its ID, opcode and RD), else None."""
    opcode_and_rd = wire[2] & 0x79
    if opcode_and_rd >> 3 != dns.opcode.QUERY:
        return None
    flags = bytes([0x80 | opcode_and_rd, int(dns.rcode.FORMERR)])
    return wire[:2] + flags + bytes(8)


def _rrsets(owner: dns.name.Name, rdtype: int, found: Answer) -> list[dns.rrset.RRset]:
    rrsets = []
    if rdtype in (dns.rdatatype.A, dns.rdatatype.ANY) and found.v4 is not None:
        rrsets.append(_rrset(owner, dns.rdatatype.A, found.v4))
    if rdtype in (dns.rdatatype.AAAA, dns.rdatatype.ANY) and found.v6 is not None:
        rrsets.append(_rrset(owner, dns.rdatatype.AAAA, found.v6))
    return rrsets


def _rrset(
    owner: dns.name.Name, rdtype: dns.rdatatype.RdataType, found: Addresses
) -> dns.rrset.RRset:
    kind = A if rdtype == dns.rdatatype.A else AAAA
    rrset = dns.rrset.RRset(owner, dns.rdataclass.IN, rdtype)
    records: Sequence[A | AAAA] = [kind(dns.rdataclass.IN, rdtype, a) for a in found.addresses]
    for record in records:
        rrset.add(record, found.ttl)
    return rrset
