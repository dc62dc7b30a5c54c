"""Fixtures shared by every tier of the suite."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator

import pytest
from blockbuster import BlockBuster, blockbuster_ctx
from fixtures.callbacks import CallbackServer

from mep.core.logging import configure_logging


def pytest_configure(config: pytest.Config) -> None:
    # The platform's own JSON logging, so tests exercise it; warnings and errors only, so a
    # passing run stays quiet.
    configure_logging("warning", stream=sys.stderr)


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[BlockBuster]:
    """Fail any test whose code blocks the event loop (file or socket I/O, sleeps)."""
    with blockbuster_ctx() as bb:
        # Writing a log line is the one blocking write a service accepts on its loop.
        for name in ("io.TextIOWrapper.write", "io.BufferedWriter.write"):
            bb.functions[name].can_block_in("logging/__init__.py", {"emit", "flush"})
        yield bb


@pytest.fixture
async def server() -> AsyncIterator[CallbackServer]:
    """A real HTTP server on 127.0.0.1 that records the notifications POSTed to it."""
    callbacks = CallbackServer()
    await callbacks.start()
    yield callbacks
    await callbacks.stop()
