"""A bench runs as `python bench/<name>.py`, which puts bench/ first on sys.path: a file there named
like a module that Django, DRF or a bench imports hides it (bench/markdown.py once hid the optional
markdown package DRF tries, and every bench died in django.setup())."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "script", ["topology.py", "asgi_servers.py", "websocket_capacity.py", "v1_segments.py", "checkouts_ab.py"]
)
def test_a_bench_script_sets_django_up_and_parses_its_options_as_it_is_run(script: str) -> None:
    ran = subprocess.run(
        [sys.executable, f"bench/{script}", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.stdout.startswith("usage: "), ran.stdout[:200]
