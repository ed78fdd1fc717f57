"""The load generator's collections, each counted in a step."""

from __future__ import annotations

import gc

from bench.client_gc import pauses


def test_each_collection_in_the_block_is_counted_with_its_duration() -> None:
    with pauses() as measured:
        gc.collect()
        gc.collect(0)
    counted = measured["load_generator_gc"]
    assert counted["collections"] == 2
    assert 0 < counted["max_ms"] <= counted["total_ms"]


def test_a_block_without_collections_reports_none_and_leaves_no_callback() -> None:
    callbacks = list(gc.callbacks)
    gc.disable()
    try:
        with pauses() as measured:
            pass
    finally:
        gc.enable()
    assert measured["load_generator_gc"] == {"collections": 0, "max_ms": 0.0, "total_ms": 0.0}
    assert gc.callbacks == callbacks
