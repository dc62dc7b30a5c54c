"""Child process of the SQLite crash test: commit documents until killed.

Usage: ``python crash_writer.py DB_FILE``. Several tasks commit concurrently (so batches hold many
commits); each acknowledged id is printed on its own line and flushed only after ``commit``
returned, so every printed id is a write the store promised to keep.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from mep.core.store import Put
from mep.core.store.sqlite import SqliteStore

WRITERS = 8


async def main(path: Path) -> None:
    store = await SqliteStore.open(path)

    async def write(writer: int) -> None:
        n = 0
        while True:
            id = f"w{writer}-{n:06d}"
            data = {"writer": writer, "n": n, "pad": "x" * 200}
            await store.commit([Put("crash", id, data, indexes={"writer": [str(writer)]})])
            sys.stdout.write(id + "\n")
            sys.stdout.flush()
            n += 1

    await asyncio.gather(*(write(writer) for writer in range(WRITERS)))


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
