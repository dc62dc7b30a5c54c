"""``python -m conformance location`` against the real app serving the demo city: every Location
operation and a walk across zones, checked against the official MEC 013 file and ours."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from fixtures.reference import REFERENCE
from test_location_support import Client

from mep.app import create_app
from mep.core.settings import MepSettings

TOKEN = "operator-test-token"
HAVE_REFERENCE = REFERENCE.is_dir()


@pytest.mark.timeout(60)
async def test_the_location_scenario_passes(
    tmp_path: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> None:
    if not HAVE_REFERENCE:
        pytest.skip(f"the ETSI reference files are not at {REFERENCE}")
    settings = MepSettings(data_dir=tmp_path, admin_token=TOKEN, scenario="demo")
    client = await aiohttp_client(create_app(settings))
    command = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "conformance", "location",
        "--base-url", str(client.make_url("")).rstrip("/"),
        "--operator-token", TOKEN,
        "--reference", str(REFERENCE),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(command.communicate(), 50)
    report = output.decode()
    assert command.returncode == 0, report
    assert " passed, 0 failed, 0 skipped" in report, report
    assert "callback ZonalPresenceNotification" in report, report
