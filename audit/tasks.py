"""Periodic audit work (Celery beat, or the inline scheduler): seal chain heads, purge, verify.

Each task is idempotent: sealing skips heads that did not move, the purge finds nothing left to
cut, and a repeated verification only stores one more result.
"""

from __future__ import annotations

import logging

from celery import shared_task

from audit import retention, seals
from audit.verification import record_run
from audit.verify import verify

logger = logging.getLogger(__name__)


@shared_task
def seal_chain_heads() -> str:
    """Sign every chain head that moved since its last seal; a missing key is logged, not raised."""
    try:
        written = seals.seal_heads()
    except seals.SigningKeyMissing as missing:
        logger.warning("audit chain heads not sealed: %s", missing)
        return ""
    return f"sealed {len(written)} chain head(s)" if written else ""


@shared_task
def purge_expired_events() -> str:
    summaries = retention.purge_expired()
    return "; ".join(f"{s['chain']}: removed {s['removed']} (seq {s['from_seq']}..{s['to_seq']})" for s in summaries)


@shared_task
def verify_chains() -> str:
    """Verify every chain and store the result (the audit-verification metric reads the newest)."""
    run = record_run(verify())
    if not run.ok:
        logger.error("audit trail verification found breaks: %s", run.breaks)
    return f"{'intact' if run.ok else 'BROKEN'}: {run.chains} chain(s), {run.events} events"
