"""The verifier: recompute each chain from its cut point to its head and report the first break.

Kinds of break, each reported with the seq and the event where the chain stops being provable:
- edited: a row's fields no longer hash to its stored hash;
- reordered: a row hashes correctly only under another seq (rows were moved in the chain);
- deleted: seq numbers jump (the missing events are named, and the first row after the gap);
- forged: a seq appears twice, a row beyond the head, or an event whose hash is not what the
  next event (or the head) links to (a row replaced by one with a recomputed hash);
- tail_cut: the head, or the newest seal, says the chain is longer than the table holds;
- cut_point: the purge anchor is not the one the newest `audit.purged` event recorded;
- seal: the newest seal's signature does not verify with AUDIT_SIGNING_KEY.
Rows are streamed (a server-side cursor), so memory does not grow with the chain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from audit import seals
from audit.chain import HASHED_COLUMNS, PURGE_ACTION, canonical, chain_events, digest
from audit.models import AuditChainHead, AuditSeal

REORDER_SEARCH_LIMIT = 2_000_000  # candidate seqs tried when explaining a hash mismatch
STREAM_CHUNK = 2000


@dataclass(frozen=True)
class Break:
    kind: str
    seq: int
    event_id: int | None
    detail: str

    def as_dict(self, chain: str) -> dict[str, Any]:
        return {"chain": chain, "kind": self.kind, "seq": self.seq, "event_id": self.event_id, "detail": self.detail}


@dataclass
class ChainReport:
    chain: str
    events: int = 0
    head_seq: int = 0
    head_hash: str = ""
    broken: Break | None = None
    seal: str = "not sealed yet"

    @property
    def ok(self) -> bool:
        return self.broken is None


@dataclass
class Walk:
    """The state of one chain's walk: what the next row must look like."""

    head: AuditChainHead
    seal_seq: int | None
    events: int = 0
    last_id: int | None = None
    broken: Break | None = None
    sealed_hash: str | None = None
    purge_payload: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.last_seq, self.last_hash = self.head.anchor_seq, self.head.anchor_hash

    def step(self, event_id: int, stored_hash: str, values: tuple[Any, ...]) -> None:
        """Check one row (in seq order) against the one before it; records the first break."""
        seq, prev_hash = values[1], values[-1]
        self.broken = self._row_break(event_id, stored_hash, values, seq, prev_hash)
        if self.broken:
            return
        self.events, self.last_id, self.last_seq, self.last_hash = self.events + 1, event_id, seq, stored_hash
        if seq == self.seal_seq:
            self.sealed_hash = stored_hash
        if values[HASHED_COLUMNS.index("action")] == PURGE_ACTION:
            self.purge_payload = values[HASHED_COLUMNS.index("payload")]

    def _row_break(self, event_id: int, stored_hash: str, values: tuple, seq: int, prev_hash: str) -> Break | None:
        if seq <= self.last_seq:
            return Break("forged", seq, event_id, f"seq {seq} appears again: this row was inserted")
        if digest(canonical(values)) != stored_hash:
            original = original_seq(values, stored_hash, self.head)
            if original is not None:
                return Break("reordered", seq, event_id, f"the event written as seq {original} now sits at seq {seq}")
            return Break("edited", seq, event_id, f"event seq {seq} no longer matches its hash: a field was edited")
        if seq > self.last_seq + 1:
            missing = (
                f"event {seq - 1} is" if seq == self.last_seq + 2 else f"events {self.last_seq + 1}..{seq - 1} are"
            )
            return Break("deleted", self.last_seq + 1, event_id, f"{missing} missing (before seq {seq})")
        if prev_hash != self.last_hash:
            if self.last_id is None:  # the first kept row does not link to the cut point
                return Break("forged", seq, event_id, f"event seq {seq} does not link to the chain's start")
            return Break(
                "forged",
                self.last_seq,
                self.last_id,
                f"event seq {seq} links elsewhere: seq {self.last_seq} was replaced",
            )
        if seq > self.head.seq:
            return Break("forged", seq, event_id, f"event seq {seq} lies beyond the chain head (seq {self.head.seq})")
        return None

    def finish(self, *, from_cut_point: bool = True) -> Break | None:
        """After the last row: the chain must reach its head, and (walked from its cut point) that cut
        point must be recorded."""
        head = self.head
        if self.last_seq < head.seq:
            return Break(
                "tail_cut", self.last_seq + 1, None, f"the head says seq {head.seq}; the chain ends at {self.last_seq}"
            )
        if self.last_hash != head.hash:
            return Break("forged", self.last_seq, self.last_id, "the last event is not the one the head recorded")
        if (
            from_cut_point
            and head.anchor_seq
            and (
                not self.purge_payload
                or self.purge_payload.get("to_seq") != head.anchor_seq
                or self.purge_payload.get("anchor_hash") != head.anchor_hash
            )
        ):
            return Break("cut_point", head.anchor_seq, None, "the chain starts at a cut point no purge event recorded")
        return None


def original_seq(values: tuple[Any, ...], stored_hash: str, head: AuditChainHead) -> int | None:
    """The seq under which this row's fields hash to its stored hash, if not its own: it was moved."""
    prefix, suffix = (part.encode() for part in canonical(values, seq="\x01").split("\x01"))
    first = head.anchor_seq + 1
    for candidate in range(first, min(max(head.seq, values[1]) + 1, first + REORDER_SEARCH_LIMIT)):
        if hashlib.sha256(prefix + str(candidate).encode() + suffix).hexdigest() == stored_hash:
            return candidate if candidate != values[1] else None
    return None


def verify(*, org: Any = None) -> list[ChainReport]:
    """Check every chain (or one organisation's); each report carries its first break, if any."""
    heads = AuditChainHead.objects.all()
    sealed = AuditSeal.objects.order_by().values_list("chain", flat=True).distinct()
    if org is not None:
        heads, sealed = heads.filter(org=org), sealed.filter(org=org)
    chains = sorted({*heads.values_list("key", flat=True), *sealed})
    return [verify_chain(chain) for chain in chains]


def verify_chain(chain: str) -> ChainReport:
    """Walk one chain in a single snapshot, so appends running meanwhile are not mistaken for breaks."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        head = AuditChainHead.objects.filter(pk=chain).first()
        seal = AuditSeal.objects.filter(chain=chain).order_by("-sealed_at", "-id").first()
        if head is None:
            return ChainReport(chain, broken=Break("tail_cut", 1, None, "the chain's head is gone but seals exist"))
        walk = Walk(head, seal.seq if seal else None)
        for row in rows(chain):
            walk.step(row[0], row[1], row[2:])
            if walk.broken:
                break
        report = ChainReport(chain, walk.events, head.seq, head.hash, broken=walk.broken or walk.finish())
        if seal is not None:
            report.seal, seal_break = check_seal(seal, walk)
            report.broken = report.broken or seal_break
    return report


def verify_since_seal(chain: str) -> ChainReport:
    """Walk only the events after the chain's newest seal, from the sealed seq and hash, once the
    seal's signature verifies: what the periodic seal checks before it vouches for a new head, at a
    cost that follows the events since (the daily run walks every chain whole). A chain never sealed,
    or purged past its seal, is walked whole."""
    with transaction.atomic():
        head = AuditChainHead.objects.filter(pk=chain).first()
        seal = AuditSeal.objects.filter(chain=chain).order_by("-sealed_at", "-id").first()
        key = seals.signing_key()
        if head is None or seal is None or key is None or seal.seq < head.anchor_seq:
            return verify_chain(chain)
        if not seals.signature_valid(seal, key):
            return ChainReport(chain, broken=Break("seal", seal.seq, None, "the newest seal does not verify"))
        walk = Walk(head, None)
        walk.last_seq, walk.last_hash = seal.seq, seal.hash
        for row in rows(chain, after=seal.seq):
            walk.step(row[0], row[1], row[2:])
            if walk.broken:
                break
        broken = walk.broken or walk.finish(from_cut_point=False)
        return ChainReport(chain, walk.events, head.seq, head.hash, broken=broken, seal=f"from seal at seq {seal.seq}")


def rows(chain: str, *, after: int = 0) -> Iterator[tuple[Any, ...]]:
    events = chain_events(chain).filter(seq__gt=after) if after else chain_events(chain)
    ordered = events.order_by("seq", "id").values_list("id", "hash", *HASHED_COLUMNS)
    return ordered.iterator(chunk_size=STREAM_CHUNK)


def check_seal(seal: AuditSeal, walk: Walk) -> tuple[str, Break | None]:
    """The newest seal must be signed by the configured key and the chain must still reach it."""
    key = seals.signing_key()
    if key is None:
        status = f"sealed at seq {seal.seq}; signature not checked: AUDIT_SIGNING_KEY is not set"
    elif not seals.signature_valid(seal, key):
        fingerprint = seals.fingerprint(key)
        detail = f"the seal at seq {seal.seq} does not verify with the configured key ({fingerprint})"
        if seal.key_fingerprint != fingerprint:
            detail += f"; it names key {seal.key_fingerprint}"
        return "seal invalid", Break("seal", seal.seq, None, detail)
    else:
        status = f"sealed at seq {seal.seq}, signature valid"
    if seal.seq > walk.last_seq:
        detail = f"sealed at seq {seal.seq}; the chain ends at {walk.last_seq}"
        return status, Break("tail_cut", walk.last_seq + 1, None, detail)
    if seal.seq > walk.head.anchor_seq and walk.sealed_hash != seal.hash:
        return status, Break("forged", seal.seq, None, f"event seq {seal.seq} is not the one sealed")
    return status, None
