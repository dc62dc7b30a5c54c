"""``python -m conformance <api>`` against ``mep run``: every operation of Mp1, RNIS, Location
and BWM checked against the official ETSI files, the same commands an operator runs against
any deployment. Each command gets a platform of its own, on the demo network (the default
scenario), so RNIS and Location see a moving network. ``python -m conformance osb`` plays the
Open Service Broker scenario against the broker of ``mep run``, its backends the local servers,
once per service."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from fixtures.platform import RunningPlatform

pytestmark = pytest.mark.e2e
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "etsi-mec"
HAVE_REFERENCE = REFERENCE.is_dir()
OSB_REFERENCE = REFERENCE.parent / "osb"
HAVE_OSB_REFERENCE = (OSB_REFERENCE / "swagger.yaml").is_file()
#: The broker's settings: Basic credentials, and every backend on the local servers.
OSB_ENV = {
    "OSB_USERNAME": "conformance",
    "OSB_PASSWORD": "conformance-password",
    "OSB_MYSQL_URL": "mysql://root@127.0.0.1:3306",
    "OSB_REDIS_URL": "redis://127.0.0.1:6379/0",
    "OSB_RABBITMQ_URL": "amqp://guest:guest@127.0.0.1:5672",
    "OSB_RABBITMQ_MANAGEMENT_URL": "http://guest:guest@127.0.0.1:15672",
}
#: The ports each service's backend must answer on for its scenario to run.
BACKEND_PORTS = {"mysql": (3306,), "redis": (6379,), "rabbitmq": (5672, 15672)}


@pytest.mark.timeout(90)
@pytest.mark.parametrize("command", ["mp1", "rnis", "location", "bwm"])
async def test_scenario_conforms_to_the_official_specifications(
    tmp_path: Path, command: str
) -> None:
    if not HAVE_REFERENCE:
        pytest.skip(f"the ETSI reference files are not at {REFERENCE}")
    platform = RunningPlatform(tmp_path / "var")
    try:
        await platform.start()
        returncode, report = await _conformance(
            [
                command,
                "--base-url", platform.url,
                "--operator-token", platform.operator_token,
                "--reference", str(REFERENCE),
            ],
            within=75,
        )  # fmt: skip
        assert returncode == 0, report
        assert " passed, 0 failed, 0 skipped" in report, report
    finally:
        await platform.stop()


async def _conformance(args: list[str], *, within: float) -> tuple[int | None, str]:
    """Run ``python -m conformance <args>``: its exit status and its report."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "conformance",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), within)
    finally:
        if process.returncode is None:
            process.kill()  # timed out: leave no scenario behind
            await process.wait()
    return process.returncode, output.decode()


async def _listening(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2)
    except (OSError, TimeoutError):
        return False
    writer.close()
    await writer.wait_closed()
    return True


@pytest.mark.timeout(150)
@pytest.mark.parametrize("service", ["mysql", "redis", "rabbitmq"])
async def test_broker_conforms_to_the_open_service_broker_api(tmp_path: Path, service: str) -> None:
    if not HAVE_OSB_REFERENCE:
        pytest.skip(f"the OSB reference files are not at {OSB_REFERENCE}")
    down = [port for port in BACKEND_PORTS[service] if not await _listening(port)]
    if down:
        pytest.skip(f"{service}: nothing listens on 127.0.0.1:{down}")
    platform = RunningPlatform(tmp_path / "var", extra_env=OSB_ENV)
    try:
        await platform.start()
        returncode, report = await _conformance(
            [
                "osb",
                "--base-url", platform.broker_url,
                "--username", OSB_ENV["OSB_USERNAME"],
                "--password", OSB_ENV["OSB_PASSWORD"],
                "--reference", str(OSB_REFERENCE),
                "--service", service,
            ],
            within=120,
        )  # fmt: skip
        assert returncode == 0, report
        assert " passed, 0 failed, 0 skipped" in report, report
    finally:
        await platform.stop()
