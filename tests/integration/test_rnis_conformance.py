"""``python -m conformance rnis`` against the real app (SQLite and Redis) while the test network
moves: every RNIS operation, and the notifications the movement causes, checked against the
official ETSI file by the same command an operator runs against any deployment."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path

import pytest
from fixtures.network import CELL_1, CELL_2, UE_1, TinyNetwork
from test_rnis_support import Client

from mep.network.port import Position
from mep.network.static import StaticNetworkSource

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "etsi-mec"
HAVE_REFERENCE = REFERENCE.is_dir()  # read at import: no file I/O on the event loop


async def keep_moving(net: TinyNetwork) -> None:
    """UE_1 moves, reports and hands over between CELL_1 and CELL_2, several times a second."""
    for step in range(1_000):
        await net.move(UE_1, Position(43.73 + step * 1e-5, 7.42), timing_advance=10 + step % 7)
        await net.measure(UE_1)
        if step % 3 == 2:
            await net.handover(UE_1, CELL_2 if net[UE_1].serving_cell_id == CELL_1 else CELL_1)
        await asyncio.sleep(0.1)


async def test_the_rnis_scenario_conforms(
    network_client: tuple[Client, StaticNetworkSource], operator: dict[str, str]
) -> None:
    if not HAVE_REFERENCE:
        pytest.skip(f"the ETSI reference files are not at {REFERENCE}")
    client, source = network_client
    mover = asyncio.create_task(keep_moving(TinyNetwork(source)))
    try:
        command = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "conformance", "rnis",
            "--base-url", str(client.make_url("")).rstrip("/"),
            "--operator-token", operator["Authorization"].removeprefix("Bearer "),
            "--reference", str(REFERENCE),
            "--wait", "2",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        output, _ = await asyncio.wait_for(command.communicate(), 50)
    finally:
        mover.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await mover
    report = output.decode()
    assert command.returncode == 0, report
    assert " passed, 0 failed, 0 skipped" in report, report
    assert "callback CellChangeNotification" in report or "callback MeasTaNotification" in report
