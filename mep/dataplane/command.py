"""Running the data plane's tools (nft, tc) as subprocesses, without blocking the event loop.

Every command gets a time limit (a wedged ``nft`` must not hold the data plane's lock forever)
and an optional prefix: ``ip netns exec <name>`` runs it in another network namespace, where a
router's data plane lives in tests and in some deployments.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

#: How much of a failed command's error output a report keeps.
_DETAIL_MAX = 600


class CommandError(Exception):
    """A command that could not be run, failed or timed out; the message says which."""


class Runner(Protocol):
    async def run(self, *args: str, stdin: bytes | None = None) -> str:
        """``args`` run to completion: its standard output, or :class:`CommandError`."""
        ...


def netns_prefix(netns: str | None) -> tuple[str, ...]:
    return ("ip", "netns", "exec", netns) if netns else ()


@dataclass(frozen=True)
class Commands:
    prefix: Sequence[str] = ()
    timeout: float = 5.0

    async def run(self, *args: str, stdin: bytes | None = None) -> str:
        """``args`` (after the prefix); its standard output, or :class:`CommandError`."""
        command = [*self.prefix, *args]
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as error:
            raise CommandError(f"cannot run {command[0]}: {error.strerror or error}") from None
        try:
            async with asyncio.timeout(self.timeout):
                out, err = await process.communicate(stdin)
        except BaseException as error:  # a timeout or a cancellation: never leave it running
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            if isinstance(error, TimeoutError):
                raise CommandError(f"{args[0]} did not finish within {self.timeout:g} s") from None
            raise
        if process.returncode != 0:
            detail = " ".join(err.decode(errors="replace").split())[:_DETAIL_MAX]
            raise CommandError(f"{args[0]} failed: {detail or f'exit status {process.returncode}'}")
        return out.decode(errors="replace")
