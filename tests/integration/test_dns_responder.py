"""The DNS responder end to end: the real app serving DNS on UDP and TCP, asked by dnspython's
stub resolver (and ``dig`` when installed), with the rules changed over the real operator and
Mp1 APIs; forwarding to an upstream resolver; malformed packets; two replicas on one Redis."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import dns.resolver
import pytest
from fixtures.apps import new_app
from fixtures.dns_responder import (
    MGMT,
    OPERATOR,
    DnsPlatform,
    TinyDns,
    dns_platform,
    dns_rule,
    redis_prefix,
    until,
)

NAME = "video.edge.example"
MP1 = "/mec_app_support/v1/applications"


@pytest.fixture
async def platform(tmp_path: Path) -> AsyncIterator[DnsPlatform]:
    async with dns_platform(tmp_path) as running:
        yield running


@pytest.fixture
async def upstream() -> AsyncIterator[TinyDns]:
    server = TinyDns({"www.upstream.test": (300, ["192.0.2.80", "192.0.2.81"])})
    await server.start()
    yield server
    server.close()


async def test_active_rules_answer_a_and_aaaa_authoritatively_with_their_ttl(
    platform: DnsPlatform,
) -> None:
    created = await platform.put_instance(
        "app-1",
        dnsRules=[
            dns_rule("v4", NAME, "10.10.0.5", ttl=42),
            dns_rule("v6", NAME, "2001:db8::5", ttl=7),
            dns_rule("off", "off.edge.example", "10.10.0.6", state="INACTIVE"),
        ],
    )
    assert created.status == 201, await created.text()

    v4 = await platform.resolver().resolve(NAME, "A")
    assert v4.rrset is not None
    assert [r.address for r in v4.rrset] == ["10.10.0.5"]
    assert v4.rrset.ttl == 42
    assert v4.response.flags & dns.flags.AA
    v6 = await platform.resolver().resolve("Video.EDGE.example.", "AAAA")
    assert v6.rrset is not None
    assert [r.address for r in v6.rrset] == ["2001:db8::5"]
    assert v6.rrset.ttl == 7
    assert v6.response.flags & dns.flags.AA
    assert v6.response.question[0].name.to_text() == "Video.EDGE.example.", "case kept"

    # The name exists: another type has no records (NOERROR), not NXDOMAIN.
    other = await platform.ask(NAME, "MX")
    assert other.rcode() == dns.rcode.NOERROR
    assert other.answer == []
    # Only INACTIVE rules, or none at all: NXDOMAIN.
    assert await platform.addresses("off.edge.example") is None
    assert await platform.addresses("nobody.edge.example") is None
    assert (await platform.ask("nobody.edge.example")).rcode() == dns.rcode.NXDOMAIN


async def test_the_apps_put_to_inactive_stops_the_answer_and_active_restores_it(
    platform: DnsPlatform,
) -> None:
    app = await new_app(
        platform.client, OPERATOR, "app-p", dnsRules=[dns_rule("dns1", NAME, "10.10.0.5")]
    )
    assert await platform.addresses(NAME) == {"10.10.0.5"}
    url = f"{MP1}/app-p/dns_rules/dns1"

    off = await platform.client.put(
        url, json=dns_rule("dns1", NAME, "10.10.0.5", state="INACTIVE"), headers=app.headers
    )
    assert off.status == 200, await off.text()

    async def stopped() -> bool:
        return await platform.addresses(NAME) is None

    await until(stopped)

    on = await platform.client.put(
        url, json=dns_rule("dns1", NAME, "10.10.0.5"), headers=app.headers
    )
    assert on.status == 200, await on.text()

    async def answering() -> bool:
        return await platform.addresses(NAME) == {"10.10.0.5"}

    await until(answering)


async def test_termination_removes_the_answer(platform: DnsPlatform) -> None:
    created = await platform.put_instance(
        "app-t", dnsRules=[dns_rule("dns1", NAME, "10.10.0.5")], gracefulTerminationTimeout=0
    )
    assert created.status == 201
    assert await platform.addresses(NAME) == {"10.10.0.5"}

    deleted = await platform.client.delete(f"{MGMT}/app-t", headers=OPERATOR)
    assert deleted.status == 204, await deleted.text()

    async def stopped() -> bool:
        return await platform.addresses(NAME) is None

    await until(stopped)


async def test_a_large_answer_is_truncated_over_udp_and_whole_over_tcp(
    platform: DnsPlatform,
) -> None:
    addresses = {f"10.20.{n // 250}.{n % 250 + 1}" for n in range(120)}
    rules = [dns_rule(f"r{n}", NAME, a) for n, a in enumerate(sorted(addresses))]
    created = await platform.put_instance("app-big", dnsRules=rules)
    assert created.status == 201, await created.text()

    plain = await platform.ask(NAME)
    assert plain.flags & dns.flags.TC
    with_edns = await platform.ask(NAME, payload=4096)
    assert with_edns.flags & dns.flags.TC, "120 records do not fit 1232 bytes either"
    whole = await platform.ask(NAME, tcp=True)
    assert not whole.flags & dns.flags.TC
    assert {r.address for r in whole.answer[0]} == addresses
    # The stub resolver retries over TCP by itself.
    assert await platform.addresses(NAME) == addresses


async def test_garbage_is_survived_and_malformed_queries_get_formerr(
    platform: DnsPlatform,
) -> None:
    await platform.put_instance("app-g", dnsRules=[dns_rule("dns1", NAME, "10.10.0.5")])
    rng = random.Random(1)
    packets = [b"", b"\x00", os.urandom(11), os.urandom(5000)]
    packets += [rng.randbytes(rng.randint(12, 600)) for _ in range(300)]
    query = dns.message.make_query(NAME, "A").to_wire()
    packets += [query[:-3], query + b"\xff" * 40]
    packets.append(bytes([0x12, 0x34, 0x80]) + query[3:])  # a response: never answered
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, (platform.host, platform.port))
        for packet in packets:
            await loop.sock_sendall(sock, packet)
        # A header that announces a question and carries none: FORMERR, with the query's id
        # (sent until answered: the flood may have filled the server's receive buffer).
        probe = bytes.fromhex("abcd01000001000000000000")
        reply = b""
        for _ in range(20):
            await loop.sock_sendall(sock, probe)
            with contextlib.suppress(TimeoutError):
                while reply[:2] != b"\xab\xcd":
                    reply = await asyncio.wait_for(loop.sock_recv(sock, 4096), 0.2)
                break
        assert reply[2] & 0x80
        assert reply[3] & 0x0F == dns.rcode.FORMERR
    # Garbage over TCP: the connection is dropped, the server goes on.
    _, writer = await asyncio.open_connection(platform.host, platform.port)
    writer.write(b"\x00\x20" + rng.randbytes(32) + b"\xff\xff" + b"x" * 100)
    await writer.drain()
    writer.close()
    await writer.wait_closed()

    assert await platform.addresses(NAME) == {"10.10.0.5"}
    assert (await platform.ask(NAME, tcp=True)).answer[0][0].address == "10.10.0.5"


async def test_unknown_names_go_to_the_upstream_resolver_and_are_cached(
    tmp_path: Path, upstream: TinyDns
) -> None:
    async with dns_platform(tmp_path, dns_upstream=upstream.address) as platform:
        await platform.put_instance("app-u", dnsRules=[dns_rule("dns1", NAME, "10.10.0.5")])

        forwarded = await platform.resolver().resolve("www.upstream.test", "A")
        assert forwarded.rrset is not None
        assert {r.address for r in forwarded.rrset} == {"192.0.2.80", "192.0.2.81"}
        assert not forwarded.response.flags & dns.flags.AA
        assert forwarded.response.flags & dns.flags.RA
        again = await platform.ask("WWW.upstream.test")
        assert {r.address for r in again.answer[0]} == {"192.0.2.80", "192.0.2.81"}
        assert again.answer[0].ttl <= 300
        assert upstream.asked == [("www.upstream.test", "A")], "the second answer was cached"

        with pytest.raises(dns.resolver.NXDOMAIN):
            await platform.resolver().resolve("nowhere.upstream.test", "A")
        assert ("nowhere.upstream.test", "A") in upstream.asked
        # A name with an ACTIVE rule is ours: the upstream is not asked.
        assert await platform.addresses(NAME) == {"10.10.0.5"}
        assert (NAME, "A") not in upstream.asked


async def test_an_upstream_that_does_not_answer_is_servfail(tmp_path: Path) -> None:
    silent = TinyDns({})
    await silent.start()
    silent.close()  # its port now refuses: every forwarded question fails
    async with dns_platform(tmp_path, dns_upstream=silent.address) as platform:
        answer = await platform.ask("www.upstream.test", within=10.0)
        assert answer.rcode() == dns.rcode.SERVFAIL


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig is not installed")
async def test_dig_gets_the_answer(platform: DnsPlatform) -> None:
    await platform.put_instance(
        "app-d",
        dnsRules=[dns_rule("v4", NAME, "10.10.0.5"), dns_rule("v6", NAME, "2001:db8::5")],
    )

    async def dig(*args: str) -> str:
        process = await asyncio.create_subprocess_exec(
            "dig",
            f"@{platform.host}",
            "-p",
            str(platform.port),
            *args,
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 10)
        assert process.returncode == 0
        return out.decode()

    assert (await dig("+short", NAME, "A")).split() == ["10.10.0.5"]
    assert (await dig("+short", "+tcp", NAME, "AAAA")).split() == ["2001:db8::5"]
    full = await dig(NAME, "A")
    assert "status: NOERROR" in full
    assert " aa" in full.split("flags:")[1].split(";")[0]
    assert "status: NXDOMAIN" in await dig("nobody.edge.example", "A")


async def test_the_table_is_built_at_start_and_replicas_follow_each_other(
    tmp_path: Path,
) -> None:
    async with (
        redis_prefix() as prefix,
        dns_platform(tmp_path, redis_prefix=prefix) as first,
    ):
        app = await new_app(
            first.client, OPERATOR, "app-r", dnsRules=[dns_rule("dns1", NAME, "10.10.0.5")]
        )
        async with dns_platform(tmp_path, redis_prefix=prefix) as second:
            assert await second.addresses(NAME) == {"10.10.0.5"}, "loaded from the store"

            url = f"{MP1}/app-r/dns_rules/dns1"
            off = await first.client.put(
                url,
                json=dns_rule("dns1", NAME, "10.10.0.5", state="INACTIVE"),
                headers=app.headers,
            )
            assert off.status == 200

            async def stopped() -> bool:
                return await second.addresses(NAME) is None

            await until(stopped)

            created = await first.put_instance(
                "app-s", dnsRules=[dns_rule("dns1", "new.edge.example", "10.10.0.9")]
            )
            assert created.status == 201

            async def answering() -> bool:
                return await second.addresses("new.edge.example") == {"10.10.0.9"}

            await until(answering)

            deleted = await second.client.delete(f"{MGMT}/app-s", headers=OPERATOR)
            assert deleted.status == 204

            async def removed() -> bool:
                return await first.addresses("new.edge.example") is None

            await until(removed)
