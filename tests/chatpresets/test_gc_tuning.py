"""The startup heap frozen out of full collections (the web process's, and a bench client's)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from chatpresets.gc_tuning import freeze_startup_heap


@pytest.fixture
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_what_is_alive_at_the_freeze_is_out_of_full_collections(thawed: None) -> None:
    kept = [[n] for n in range(1000)]
    before = gc.get_freeze_count()
    freeze_startup_heap()
    assert gc.get_freeze_count() >= before + len(kept)
