"""``python -m conformance <api>`` against ``mep run``: every operation of Mp1, RNIS, Location
and BWM checked against the official ETSI files, the same commands an operator runs against
any deployment. Each command gets a platform of its own, on the demo network (the default
scenario), so RNIS and Location see a moving network."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from fixtures.platform import RunningPlatform

pytestmark = pytest.mark.e2e
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "etsi-mec"
HAVE_REFERENCE = REFERENCE.is_dir()


@pytest.mark.timeout(90)
@pytest.mark.parametrize("command", ["mp1", "rnis", "location", "bwm"])
async def test_scenario_conforms_to_the_official_specifications(
    tmp_path: Path, command: str
) -> None:
    if not HAVE_REFERENCE:
        pytest.skip(f"the ETSI reference files are not at {REFERENCE}")
    platform = RunningPlatform(tmp_path / "var")
    process: asyncio.subprocess.Process | None = None
    try:
        await platform.start()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "conformance", command,
            "--base-url", platform.url,
            "--operator-token", platform.operator_token,
            "--reference", str(REFERENCE),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(process.communicate(), 75)
        report = output.decode()
        assert process.returncode == 0, report
        assert " passed, 0 failed, 0 skipped" in report, report
    finally:
        if process is not None and process.returncode is None:
            process.kill()  # timed out: leave no scenario behind
            await process.wait()
        await platform.stop()
