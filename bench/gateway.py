"""The API gateway's cost: one Location query through the gateway (token check, scope and
security context, access control policy, the invocation's Log record committed before the
response) next to the same handler with the gateway off, in the same run.

The MEP app runs alone in its own process (``bench/_gateway_server.py``), pinned to one CPU when
there are two or more; wrk runs on the others. Both variants serve the same data directory, one
after the other: an invoker onboarded over TLS with a CSR, a security context for the Location
API (OAUTH) and a token; wrk then sends ``GET /location/v2/queries/zones`` with that token. With
the gateway off, the handler still verifies the token (the platform's authenticator); only the
gateway's work is missing. The figure is the ratio of the two.

Audit records/s sustained: the records the journal gained during the gateway run, per second
(every call writes one, before its response), checked against wrk's request count.

Figures only, never assertions.

Run: ``.venv/bin/python bench/gateway.py [--seconds 10] [--connections 64] [--no-pin]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sqlite3
import ssl
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from _harness import (
    LoadResult,
    Placement,
    free_port,
    load,
    load_tool,
    print_table,
    stop_process,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

SERVER = str(Path(__file__).with_name("_gateway_server.py"))
ZONES = "/location/v2/queries/zones"
JOURNAL = "capif_invocations"


@dataclass
class Server:
    data_dir: Path
    gateway: bool
    placement: Placement
    admin_token: str
    port: int = field(default_factory=free_port)
    tls_port: int = field(default_factory=free_port)
    process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    async def start(self, within: float = 30.0) -> None:
        args = [
            *self.placement.server_prefix(),
            sys.executable,
            SERVER,
            "--data-dir",
            str(self.data_dir),
            "--port",
            str(self.port),
            "--tls-port",
            str(self.tls_port),
            "--admin-token",
            self.admin_token,
        ]
        if not self.gateway:
            args.append("--no-gateway")
        self.process = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        assert self.process.stdout is not None
        async with asyncio.timeout(within):
            while (line := await self.process.stdout.readline()) != b"ready\n":
                if not line:
                    raise RuntimeError("the bench server exited before it was ready")

    async def stop(self) -> None:
        if self.process is not None:
            await stop_process(self.process)


@contextlib.asynccontextmanager
async def serving(server: Server) -> AsyncIterator[Server]:
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def _csr() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench-invoker")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


def _context(ca_pem: str, certificate: str | None = None, key: Any = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cadata=ca_pem)
    if certificate is not None:
        with tempfile.TemporaryDirectory() as directory:
            cert_file, key_file = Path(directory) / "c.pem", Path(directory) / "k.pem"
            cert_file.write_text(certificate)
            key_file.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            context.load_cert_chain(cert_file, key_file)
    return context


async def _json(response: aiohttp.ClientResponse, expected: int) -> Any:
    body = await response.json(content_type=None)
    if response.status != expected:
        raise RuntimeError(f"{response.method} {response.url}: {response.status} {body}")
    return body


async def authorised_token(server: Server) -> str:
    """Enrol, onboard, discover Location, negotiate OAUTH, get a token: the CAPIF walk."""
    ca_pem = (server.data_dir / "ca" / "ca.pem").read_text()
    operator = {"Authorization": f"Bearer {server.admin_token}"}
    plain_tls = _context(ca_pem)
    async with aiohttp.ClientSession(server.tls_url) as http:
        async with http.post(
            "/mep_mgmt/v1/capif/enrolments", json={"role": "invoker"}, headers=operator,
            ssl=plain_tls,
        ) as response:  # fmt: skip
            onboarding_token = (await _json(response, 201))["onboardingToken"]
        key, csr = _csr()
        details = {
            "notificationDestination": "http://127.0.0.1:9/callbacks",
            "onboardingInformation": {"apiInvokerPublicKey": csr},
            "supportedFeatures": "0",
        }
        async with http.post(
            "/api-invoker-management/v1/onboardedInvokers", json=details, ssl=plain_tls,
            headers={"Authorization": f"Bearer {onboarding_token}"},
        ) as response:  # fmt: skip
            onboarded = await _json(response, 201)
        invoker_id = onboarded["apiInvokerId"]
        certificate = onboarded["onboardingInformation"]["apiInvokerCertificate"]
        mutual = _context(ca_pem, certificate, key)
        async with http.get(
            "/service-apis/v1/allServiceAPIs",
            params={"api-invoker-id": invoker_id, "api-name": "location"},
            ssl=mutual,
        ) as response:
            (location,) = (await _json(response, 200))["serviceAPIDescriptions"]
        aef_id = location["aefProfiles"][0]["aefId"]
        context = {
            "notificationDestination": "http://127.0.0.1:9/security",
            "securityInfo": [
                {"aefId": aef_id, "apiId": location["apiId"], "prefSecurityMethods": ["OAUTH"]}
            ],
        }
        async with http.put(
            f"/capif-security/v1/trustedInvokers/{invoker_id}", json=context, ssl=mutual
        ) as response:
            await _json(response, 201)
        form = {
            "grant_type": "client_credentials",
            "client_id": invoker_id,
            "scope": f"3gpp#{aef_id}:location",
        }
        async with http.post(
            f"/capif-security/v1/securities/{invoker_id}/token", data=form, ssl=mutual
        ) as response:
            return str((await _json(response, 200))["access_token"])


def journal_size(data_dir: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{data_dir / 'mep.db'}?mode=ro", uri=True)) as db:
        (count,) = db.execute(
            "SELECT COUNT(*) FROM docs WHERE collection = ?", (JOURNAL,)
        ).fetchone()
        return int(count)


async def measure(
    server: Server, token: str, args: argparse.Namespace, placement: Placement
) -> LoadResult:
    headers = {"Authorization": f"Bearer {token}"}
    # Warm-up: token cache, connections, SQLite pages.
    await load(f"{server.url}{ZONES}", headers, connections=8, seconds=1, placement=placement)
    return await load(
        f"{server.url}{ZONES}",
        headers,
        connections=args.connections,
        seconds=args.seconds,
        placement=placement,
    )


async def main(args: argparse.Namespace) -> None:
    placement = Placement.choose(pin=args.pin)
    placement.pin_self()
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as tmp:
        data_dir = Path(tmp)
        admin = secrets.token_urlsafe(24)
        async with serving(Server(data_dir, True, placement, admin)) as server:
            token = await authorised_token(server)
            before = journal_size(data_dir)
            on = await measure(server, token, args, placement)
        after = journal_size(data_dir)
        async with serving(Server(data_dir, False, placement, admin)) as server:
            off = await measure(server, token, args, placement)

    print(f"\nGateway: GET {ZONES} with an invoker's OAUTH token")
    print(f"  {placement.describe()}; {load_tool(args.connections, args.seconds)}\n")
    rows = []
    for name, result in (("gateway on", on), ("gateway off", off)):
        rows.append(
            [
                name,
                f"{result.requests_per_s:,.0f}",
                f"{result.p50_ms:.1f}",
                f"{result.p99_ms:.1f}",
                result.problems or "-",
            ]
        )
    print_table(["", "req/s", "p50 ms", "p99 ms", "problems"], rows, indent="  ")
    ratio = on.requests_per_s / off.requests_per_s if off.requests_per_s else 0.0
    print(f"\n  ratio on/off: {ratio:.3f}x")
    recorded = after - before
    # The warm-up's records are in ``recorded`` too; its seconds are 1.
    print(
        f"  audit records written during the gateway runs: {recorded:,}"
        f" ({recorded / (args.seconds + 1):,.0f} records/s sustained;"
        f" wrk counted {on.requests:,} requests in the measured run)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--no-pin", dest="pin", action="store_false")
    asyncio.run(main(parser.parse_args()))
