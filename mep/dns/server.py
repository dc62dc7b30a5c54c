"""The DNS responder's sockets: UDP and TCP (RFC 1035 clause 4.2, RFC 7766) on one port.

It shares the event loop with the HTTP APIs, so each packet costs bounded work: a query is
answered synchronously from the name table (or from the rendered answers), and only questions
for the upstream resolver wait, at most ``max_forwards`` of them at once (beyond, SERVFAIL at
once). TCP connections are limited in number and closed when idle; a UDP datagram is read per
turn of the event loop, so a flood of queries takes turns with the HTTP requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, cast

import structlog

from mep.dns.answer import MAX_QUERY, Forward, Reply, Responder

log = structlog.get_logger("mep.dns")

#: A UDP peer's address: (host, port) for IPv4, (host, port, flowinfo, scope id) for IPv6.
Peer = tuple[Any, ...]

_BIND_ATTEMPTS = 20


class DnsServer:
    def __init__(
        self,
        responder: Responder,
        *,
        max_forwards: int = 256,
        max_connections: int = 128,
        idle_timeout: float = 10.0,
    ) -> None:
        self._responder = responder
        self._max_forwards = max_forwards
        self._max_connections = max_connections
        self._idle_timeout = idle_timeout
        self._forwarding = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._connections: set[asyncio.Task[None]] = set()
        self.paused = False
        self.address: tuple[str, int] = ("", 0)

    async def start(self, host: str, port: int) -> None:
        """Listen on ``host``:``port`` over UDP and TCP; port 0: a free port for both."""
        for _ in range(_BIND_ATTEMPTS):
            udp = await self._bind_udp(host, port)
            bound = cast(tuple[str, int], udp.get_extra_info("sockname")[:2])
            try:
                self._tcp = await asyncio.start_server(
                    self._connection, host, bound[1], reuse_address=True
                )
            except OSError:
                udp.close()
                if port != 0:
                    raise
                continue  # the free UDP port is taken over TCP: another one
            self._udp = udp
            self.address = bound
            log.info("dns responder listening", host=bound[0], port=bound[1])
            return
        raise OSError(f"no port free over both UDP and TCP on {host}")

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
        for task in [*self._tasks, *self._connections]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._connections, return_exceptions=True)
        if self._tcp is not None:
            await self._tcp.wait_closed()

    async def _bind_udp(self, host: str, port: int) -> asyncio.DatagramTransport:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self), local_addr=(host, port)
        )
        return transport

    def on_datagram(self, data: bytes, peer: Peer) -> None:
        reply = self._respond(data, tcp=False)
        if isinstance(reply, Forward):
            if self._forwarding >= self._max_forwards:
                self._send(self._responder.forwarded(reply, None), peer)
                return
            self._forwarding += 1
            task = asyncio.create_task(self._forward_udp(reply, peer), name="dns-forward")
            self._tasks.add(task)
            task.add_done_callback(self._forwarded)
        elif reply is not None:
            self._send(reply, peer)

    def _respond(self, data: bytes, *, tcp: bool) -> Reply:
        try:
            return self._responder.respond(data, tcp=tcp)
        except Exception:
            # A query the responder cannot cope with is a bug to fix, not a reason to stop
            # answering the others.
            log.exception("dns: query failed")
            return None

    async def _forward_udp(self, forward: Forward, peer: Peer) -> None:
        self._send(await self._responder.forward(forward), peer)

    def _forwarded(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._forwarding -= 1

    async def _forward(self, forward: Forward) -> bytes:
        if self._forwarding >= self._max_forwards:
            return self._responder.forwarded(forward, None)
        self._forwarding += 1
        try:
            return await self._responder.forward(forward)
        finally:
            self._forwarding -= 1

    def _send(self, reply: bytes, peer: Peer) -> None:
        udp = self._udp
        # While the socket's send buffer is full, answers are dropped rather than queued.
        if udp is None or udp.is_closing() or self.paused:
            return
        udp.sendto(reply, peer)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or len(self._connections) >= self._max_connections:
            writer.close()
            return
        self._connections.add(task)
        try:
            await self._serve_stream(reader, writer)
        except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), self._idle_timeout)

    async def _serve_stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Length-prefixed queries, answered in turn, until the client closes or idles."""
        while True:
            async with asyncio.timeout(self._idle_timeout):
                size = int.from_bytes(await reader.readexactly(2), "big")
                if size > MAX_QUERY:
                    return
                data = await reader.readexactly(size)
            reply = self._respond(data, tcp=True)
            if isinstance(reply, Forward):
                reply = await self._forward(reply)
            if reply is None:
                return  # garbage on a stream: nothing after it can be trusted to be framed
            writer.write(len(reply).to_bytes(2, "big") + reply)
            async with asyncio.timeout(self._idle_timeout):
                await writer.drain()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self._server = server

    def datagram_received(self, data: bytes, addr: Peer) -> None:
        self._server.on_datagram(data, addr)

    def pause_writing(self) -> None:
        self._server.paused = True

    def resume_writing(self) -> None:
        self._server.paused = False

    def error_received(self, exc: Exception) -> None:
        # An ICMP error for an earlier answer (the client went away): nothing to do.
        log.debug("dns: udp error", error=str(exc))
