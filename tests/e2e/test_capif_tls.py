"""``mep run`` serves the CAPIF core function over TLS, with a certificate of its own CA."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from fixtures.auth import bearer
from fixtures.platform import RunningPlatform

pytestmark = pytest.mark.e2e


async def _server_certificate(port: int, context: ssl.SSLContext) -> x509.Certificate:
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True)
        return x509.load_der_x509_certificate(der)
    finally:
        writer.close()


async def test_mep_run_listens_on_the_tls_port_with_a_certificate_of_its_ca(
    tmp_path: Path,
) -> None:
    running = RunningPlatform(tmp_path / "var", extra_env={"MEP_TLS_HOSTNAMES": "capif.test"})
    try:
        await running.start()
        assert running.tls_url in "\n".join(running.banner)
        ca_file = running.data_dir / "ca" / "ca.pem"
        ca_pem = await asyncio.to_thread(ca_file.read_text)
        context = ssl.create_default_context(cadata=ca_pem)  # verifies chain and 127.0.0.1
        served = await _server_certificate(running.tls_port, context)
        served.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem.encode()))
        san = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert {"capif.test", "localhost"} <= set(san.get_values_for_type(x509.DNSName))
        on_disk = await asyncio.to_thread((running.data_dir / "tls" / "server.pem").read_bytes)
        assert x509.load_pem_x509_certificate(on_disk) == served

        async with aiohttp.ClientSession() as http:
            enrolled = await http.post(
                f"{running.tls_url}/mep_mgmt/v1/capif/enrolments",
                json={"role": "invoker"},
                headers=bearer(running.operator_token),
                ssl=context,
            )
            assert enrolled.status == 201
            body = await enrolled.json()
            assert body["ccfUrl"] == running.tls_url
            assert body["caRoot"] == ca_pem
            assert (await http.get(f"{running.tls_url}/healthz", ssl=context)).status == 200
    finally:
        await running.stop()

    # A restart keeps the certificate (same names, same CA).
    again = RunningPlatform(
        tmp_path / "var",
        port=running.port,
        osb_port=running.osb_port,
        tls_port=running.tls_port,
        extra_env={"MEP_TLS_HOSTNAMES": "capif.test"},
    )
    try:
        await again.start()
        assert await _server_certificate(again.tls_port, context) == served
    finally:
        await again.stop()


async def test_tls_port_zero_takes_a_free_port_and_says_which(tmp_path: Path) -> None:
    running = RunningPlatform(tmp_path / "var", extra_env={"MEP_TLS_PORT": "0"})
    try:
        await running.start()
        line = next(line for line in running.banner if "CAPIF over TLS" in line)
        url = line.split()[3]
        port = int(url.rsplit(":", 1)[1])
        assert port > 0
        ca_pem = await asyncio.to_thread((running.data_dir / "ca" / "ca.pem").read_text)
        context = ssl.create_default_context(cadata=ca_pem)
        await _server_certificate(port, context)
    finally:
        await running.stop()
