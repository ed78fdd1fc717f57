"""Periodic audit work (Celery beat, or the inline scheduler): seal chain heads, purge, verify.

Each task is idempotent: sealing skips heads that did not move, the purge finds nothing left to
cut, and a repeated verification only stores one more result.
"""

from __future__ import annotations

import logging

from celery import shared_task

from audit import retention, seals
from audit.verification import record_run
from audit.verify import verify, verify_since_seal

logger = logging.getLogger(__name__)


@shared_task
def seal_chain_heads() -> str:
    """Sign every chain head that moved since its last seal, once the events since that seal verify:
    a seal vouches for what was checked, so a broken chain is logged and left unsealed. A missing key
    is logged, not raised."""
    if seals.signing_key() is None:
        logger.warning("audit chain heads not sealed: AUDIT_SIGNING_KEY (or AUDIT_SIGNING_KEY_FILE) is not set")
        return ""
    reports = [verify_since_seal(chain) for chain in seals.unsealed_chains()]
    for report in reports:
        if not report.ok:
            logger.error("audit chain %s not sealed: %s", report.chain, report.broken)
    written = seals.seal_heads(verified={r.chain: (r.head_seq, r.head_hash) for r in reports if r.ok})
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
