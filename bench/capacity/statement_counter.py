"""Every SQL statement Django sends, counted by verb and table, in this process and in a daphne run through it.

`python -m bench.capacity.statement_counter OUT.json <daphne arguments>` runs daphne with the
counter installed and writes the counts to OUT.json a few times a second, so a bench reads what a
real server sent without the server's code knowing. `install()` counts in the calling process.
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from django.db.backends import utils

# The tables a statement names; the first is the one it reads or writes.
TABLE = re.compile(r'\b(?:FROM|JOIN|INTO|UPDATE)\s+"(\w+)"', re.IGNORECASE)
DUMP_SECONDS = 0.25

_counts: Counter[str] = Counter()
_lock = threading.Lock()
_installed = False


def _record(sql: str) -> None:
    words = sql.lstrip().split(None, 1)
    verb = words[0].upper() if words else "?"
    tables = TABLE.findall(sql)
    with _lock:
        _counts[f"statement {verb} {tables[0] if tables else '-'}"] += 1
        for table in set(tables):
            _counts[f"touches {verb} {table}"] += 1


def install() -> None:
    """Count from now on; executemany counts once (one statement, many rows)."""
    global _installed
    if _installed:
        return
    _installed = True
    execute, executemany = utils.CursorWrapper._execute, utils.CursorWrapper._executemany

    def counted_execute(self: utils.CursorWrapper, sql: str, *args: Any) -> Any:
        _record(sql)
        return execute(self, sql, *args)

    def counted_executemany(self: utils.CursorWrapper, sql: str, *args: Any) -> Any:
        _record(sql)
        return executemany(self, sql, *args)

    utils.CursorWrapper._execute = counted_execute  # type: ignore[method-assign]
    utils.CursorWrapper._executemany = counted_executemany  # type: ignore[method-assign]


def snapshot() -> Counter[str]:
    with _lock:
        return Counter(_counts)


def _dump_forever(path: Path) -> None:
    written: Counter[str] | None = None
    while True:
        counts = snapshot()
        if counts != written:
            partial = path.with_suffix(".partial")
            partial.write_text(json.dumps(counts))
            os.replace(partial, path)
            written = counts
        time.sleep(DUMP_SECONDS)


def read_stable(path: Path) -> Counter[str]:
    """The counts a server wrote, once two reads half a second apart agree (its last statements are in)."""
    previous = None
    while True:
        current = Counter(json.loads(path.read_text())) if path.exists() else Counter()
        if current == previous:
            return current
        previous = current
        time.sleep(2 * DUMP_SECONDS)


def main() -> None:
    out, daphne_args = Path(sys.argv[1]), sys.argv[2:]
    install()
    threading.Thread(target=_dump_forever, args=(out,), daemon=True).start()
    from daphne.cli import CommandLineInterface

    sys.argv = ["daphne", *daphne_args]
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
