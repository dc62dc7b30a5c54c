"""The name table and the answers rendered from it, without sockets."""

from __future__ import annotations

from typing import Any

import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest
from pydantic import ValidationError

from mep.core.settings import MepSettings
from mep.dns.answer import Forward, Responder
from mep.dns.table import DEFAULT_TTL, Addresses, NameTable
from mep.dns.upstream import Upstream
from mep.mp1.app_support.models import DnsRule

NAME = "video.edge.example"


def rule(rule_id: str, address: str, name: str = NAME, **fields: Any) -> DnsRule:
    return DnsRule.model_validate(
        {
            "dnsRuleId": rule_id,
            "domainName": name,
            "ipAddressType": "IP_V6" if ":" in address else "IP_V4",
            "ipAddress": address,
            "state": "ACTIVE",
            **fields,
        }
    )


def v4(table: NameTable) -> tuple[str, ...] | None:
    found = table.lookup(NAME)
    return None if found is None or found.v4 is None else found.v4.addresses


def test_active_rules_answer_by_family_with_the_smallest_ttl() -> None:
    table = NameTable()
    table.apply("a", rule("r1", "10.0.0.1", ttl=60))
    table.apply("a", rule("r2", "10.0.0.2", ttl=20))
    table.apply("a", rule("r3", "10.0.0.1", ttl=90))
    table.apply("a", rule("r4", "2001:db8::1"))
    table.apply("a", rule("r5", "10.0.0.3", state="INACTIVE"))
    found = table.lookup(NAME)
    assert found is not None
    assert found.v4 == Addresses(("10.0.0.1", "10.0.0.2"), 20)
    assert found.v6 == Addresses(("2001:db8::1",), DEFAULT_TTL)
    assert table.lookup("other.example") is None
    assert table.names() == [NAME]


def test_inactive_removed_and_renamed_rules_stop_answering() -> None:
    table = NameTable()
    table.apply("a", rule("r1", "10.0.0.1"))
    before = table.generation
    table.apply("a", rule("r1", "10.0.0.1", state="INACTIVE"))
    assert table.lookup(NAME) is None
    assert table.generation > before
    table.apply("a", rule("r1", "10.0.0.1", name="new.example", state="INACTIVE"))
    assert table.lookup(NAME) is None
    assert table.lookup("new.example") is None
    table.apply("a", rule("r1", "10.0.0.1", name="new.example"))
    assert table.names() == ["new.example"]
    table.remove("a", "r1")
    table.remove("a", "never-there")
    assert table.names() == []


def test_the_preferred_instance_answers_while_it_has_an_active_rule() -> None:
    table = NameTable()
    table.apply("a", rule("r", "10.0.0.1"))
    table.apply("b", rule("r", "10.0.0.2"))
    assert v4(table) == ("10.0.0.1", "10.0.0.2")
    table.prefer(NAME, "b")
    assert v4(table) == ("10.0.0.2",)
    table.apply("b", rule("r", "10.0.0.2", state="INACTIVE"))
    assert v4(table) == ("10.0.0.1",)
    table.prefer(NAME, None)
    table.prefer(NAME, None)


def test_replace_takes_a_rebuilt_table_in_one_step() -> None:
    live, fresh = NameTable(), NameTable()
    live.apply("a", rule("r", "10.0.0.1"))
    fresh.apply("b", rule("r", "10.0.0.9", name="b.example"))
    generation = live.generation
    live.replace(fresh)
    assert live.names() == ["b.example"]
    assert live.generation > generation


def ask(responder: Responder, query: dns.message.Message) -> dns.message.Message:
    reply = responder.respond(query.to_wire(), tcp=False)
    assert isinstance(reply, bytes)
    answer = dns.message.from_wire(reply)
    assert answer.id == query.id
    return answer


def test_answers_are_rendered_again_once_the_table_changed() -> None:
    table = NameTable()
    table.apply("a", rule("r", "10.0.0.1", ttl=5))
    responder = Responder(table)
    first = ask(responder, dns.message.make_query(NAME, "A"))
    assert first.flags & dns.flags.AA
    assert first.answer[0].ttl == 5
    again = ask(responder, dns.message.make_query(NAME, "A"))
    assert [r.address for r in again.answer[0]] == ["10.0.0.1"]
    table.apply("a", rule("r", "10.0.0.1", state="INACTIVE"))
    assert ask(responder, dns.message.make_query(NAME, "A")).rcode() == dns.rcode.NXDOMAIN


def test_malformed_and_unsupported_messages() -> None:
    responder = Responder(NameTable())
    assert responder.respond(b"", tcp=False) is None
    assert responder.respond(b"\x00" * 11, tcp=False) is None
    assert responder.respond(b"\x00" * 5000, tcp=False) is None
    query = dns.message.make_query(NAME, "A").to_wire()
    response_bits = query[:2] + bytes([query[2] | 0x80]) + query[3:]
    assert responder.respond(response_bits, tcp=False) is None, "responses are not answered"
    formerr = responder.respond(bytes.fromhex("beef01000001000000000000"), tcp=False)
    assert formerr == bytes.fromhex("beef81010000000000000000")
    notify = dns.message.make_query(NAME, "A")
    notify.set_opcode(dns.opcode.NOTIFY)
    assert ask(responder, notify).rcode() == dns.rcode.NOTIMP
    chaos = dns.message.make_query("version.bind", "TXT", "CH")
    assert ask(responder, chaos).rcode() == dns.rcode.REFUSED


def test_unknown_names_are_forwarded_when_there_is_an_upstream() -> None:
    responder = Responder(NameTable(), Upstream("127.0.0.1", 53))
    query = dns.message.make_query("elsewhere.example", "A", use_edns=0, payload=4096)
    reply = responder.respond(query.to_wire(), tcp=False)
    assert isinstance(reply, Forward)
    assert reply.limit == 1232
    servfail = dns.message.from_wire(responder.forwarded(reply, None))
    assert servfail.rcode() == dns.rcode.SERVFAIL
    assert servfail.flags & dns.flags.RA


@pytest.mark.parametrize(
    ("given", "address"),
    [
        ("192.0.2.53", ("192.0.2.53", 53)),
        ("192.0.2.53:5353", ("192.0.2.53", 5353)),
        ("2001:db8::53", ("2001:db8::53", 53)),
        ("[2001:db8::53]:5353", ("2001:db8::53", 5353)),
    ],
)
def test_the_upstream_setting(given: str, address: tuple[str, int]) -> None:
    assert MepSettings(dns_upstream=given).dns_upstream_address == address


@pytest.mark.parametrize("given", ["dns.example", "192.0.2.53:0", "192.0.2.53:x", "[::1]:99999"])
def test_an_upstream_that_is_not_an_address_is_refused(given: str) -> None:
    with pytest.raises(ValidationError):
        MepSettings(dns_upstream=given)
