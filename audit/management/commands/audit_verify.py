"""manage.py audit_verify [--org SLUG] [--seal]: recompute the audit hash chains and report breaks.

Exits 1 when any chain is broken (the first break of each is printed: kind, seq, event id, how),
so it can run from cron or CI. --seal then signs the heads of the intact chains with
AUDIT_SIGNING_KEY; a broken chain is never sealed, since a seal would vouch for the tampering.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit import seals
from audit.models import PLATFORM_CHAIN
from audit.verification import record_run
from audit.verify import ChainReport, verify
from tenancy.models import Organization


class Command(BaseCommand):
    help = "Verify the audit trail's hash chains (and optionally seal their heads)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--org", metavar="SLUG", help="check one organisation's chain only")
        parser.add_argument("--seal", action="store_true", help="sign the heads of intact chains")

    def handle(self, *args: Any, org: str | None, seal: bool, **options: Any) -> None:
        if seal and seals.signing_key() is None:
            raise CommandError("cannot seal: AUDIT_SIGNING_KEY (or AUDIT_SIGNING_KEY_FILE) is not set")
        organisation = None
        if org is not None:
            organisation = Organization.objects.filter(slug=org).first()
            if organisation is None:
                raise CommandError(f"no organisation with slug {org!r}")
        reports = verify(org=organisation)
        record_run(reports)
        slugs = chain_slugs(reports)
        for report in reports:
            self.stdout.write(describe(report, slugs))
        if seal:
            intact = {report.chain: (report.head_seq, report.head_hash) for report in reports if report.ok}
            written = seals.seal_heads(verified=intact)
            self.stdout.write(f"sealed {len(written)} chain head(s)")
        broken = [report for report in reports if not report.ok]
        if broken:
            raise CommandError(f"{len(broken)} of {len(reports)} chain(s) broken", returncode=1)
        self.stdout.write(f"all {len(reports)} chain(s) intact")


def chain_slugs(reports: list[ChainReport]) -> dict[str, str]:
    """Chain key → organisation slug, for the organisations that still exist."""
    ids = [report.chain for report in reports if report.chain != PLATFORM_CHAIN]
    return {str(pk): slug for pk, slug in Organization.objects.filter(pk__in=ids).values_list("pk", "slug")}


def describe(report: ChainReport, slugs: dict[str, str]) -> str:
    """One line per chain: intact with its size and seal status, or its first break."""
    name = f"{slugs[report.chain]} ({report.chain})" if report.chain in slugs else report.chain
    if report.ok:
        return f"{name}: intact, {report.events} events to seq {report.head_seq}; {report.seal}"
    broken = report.broken
    assert broken is not None
    event = f" (event id {broken.event_id})" if broken.event_id is not None else ""
    return f"{name}: BROKEN at seq {broken.seq}{event}: {broken.kind}: {broken.detail}; {report.seal}"
