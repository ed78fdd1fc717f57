"""The multiprocess directory's lifecycle: emptied once per deployment start, dead processes marked.

`python -m chatpresets.observability.multiprocess` empties PROMETHEUS_MULTIPROC_DIR; run it once
before the web and worker processes start (never from each process: a process starting late would
wipe the values of those already running). Every process marks itself dead on exit (`on_exit`,
registered at startup), which drops its `live*` gauges from the sum.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

from prometheus_client.multiprocess import mark_process_dead

from chatpresets.observability.metrics import multiprocess_dir


def clear_directory(directory: str) -> int:
    """Remove the metric files left in `directory` (created if missing); returns how many."""
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    removed = 0
    for file in path.glob("*.db"):
        file.unlink()
        removed += 1
    return removed


def on_exit() -> None:
    directory = multiprocess_dir()
    if directory is not None:
        mark_process_dead(os.getpid(), directory)


_registered = False


def register_exit_hook() -> None:
    """Mark this process dead when it exits (once per process; a no-op outside multiprocess mode)."""
    global _registered
    if multiprocess_dir() is not None and not _registered:
        atexit.register(on_exit)
        _registered = True


if __name__ == "__main__":
    target = multiprocess_dir()
    if target is None:
        sys.exit("PROMETHEUS_MULTIPROC_DIR is not set: nothing to clear.")
    print(f"removed {clear_directory(target)} metric files from {target}")
