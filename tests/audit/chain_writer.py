"""Append N audit events to one organisation's chain, from its own process; prints events per second.

Usage: python -m tests.audit.chain_writer <org-slug> <count> <worker-name>
(DATABASE_URL, DJANGO_ENV and REDIS_URL from the environment.)
"""

from __future__ import annotations

import os
import sys
import time

import django


def main(slug: str, count: int, worker: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpresets.settings")
    django.setup()
    from audit import services as audit
    from tenancy.models import Organization

    org = Organization.objects.get(slug=slug)
    started = time.perf_counter()
    for n in range(count):
        audit.record(org=org, actor=None, action="load.appended", payload={"worker": worker, "n": n})
    elapsed = time.perf_counter() - started
    print(f"{worker}: {count} events in {elapsed:.2f} s ({count / elapsed:.0f} events/s)")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
