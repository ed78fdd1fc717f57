"""The web process's garbage collector: what is alive after startup is frozen out of full collections.

Measured on /v1 at 10 requests/s: a full (generation 2) collection walked the whole Django, DRF,
openai and tiktoken heap in 140 to 230 ms, every few seconds, on the event loop: the stalls behind
the p99 of one process under load (docs/performance.md). `gc.freeze()` moves every object alive
now to the permanent generation, so a full collection walks only what requests created since.
"""

from __future__ import annotations

import gc

from django.urls import get_resolver


def freeze_startup_heap() -> None:
    get_resolver().url_patterns  # noqa: B018  (imports every view now, so they are frozen too)
    gc.collect()
    gc.freeze()
