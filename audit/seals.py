"""Seals: a chain head signed with HMAC-SHA256 under AUDIT_SIGNING_KEY, kept outside the database.

A seal says "this chain had reached seq N with hash H at time T". Rewriting the chain or cutting its
tail back past N is then detectable by anyone holding the key, even with full database access,
because a new seal cannot be forged without the key. Sealing is idempotent: a chain whose head has
not moved since its newest seal gets no new seal.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC

from django.conf import settings
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from audit.models import AuditChainHead, AuditSeal


class SigningKeyMissing(Exception):
    """Sealing needs AUDIT_SIGNING_KEY (or AUDIT_SIGNING_KEY_FILE)."""


def signing_key() -> bytes | None:
    key = settings.AUDIT_SIGNING_KEY
    return key.encode() if key else None


def fingerprint(key: bytes) -> str:
    """A short public name for a key (never the key): tells which key signed a seal after a rotation."""
    return hashlib.sha256(b"audit-seal-key:" + key).hexdigest()[:16]


def signed_text(seal: AuditSeal) -> bytes:
    sealed_at = seal.sealed_at.astimezone(UTC).isoformat(timespec="microseconds")
    return f"{seal.chain}|{seal.seq}|{seal.hash}|{sealed_at}".encode()


def signature_valid(seal: AuditSeal, key: bytes) -> bool:
    expected = hmac.new(key, signed_text(seal), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, seal.signature)


def unsealed_chains() -> list[str]:
    """The chains whose head moved since their newest seal (or that were never sealed)."""
    newest = AuditSeal.objects.filter(chain=OuterRef("key")).order_by("-sealed_at", "-id")
    heads = AuditChainHead.objects.filter(seq__gt=0).annotate(
        sealed_seq=Subquery(newest.values("seq")[:1]), sealed_hash=Subquery(newest.values("hash")[:1])
    )
    rows = heads.values_list("key", "seq", "hash", "sealed_seq", "sealed_hash")
    return [key for key, seq, hash_, sealed_seq, sealed_hash in rows if (seq, hash_) != (sealed_seq, sealed_hash)]


def seal_heads(*, verified: dict[str, tuple[int, str]] | None = None) -> list[AuditSeal]:
    """Sign each chain's head that moved since its newest seal.

    With `verified` ({chain: (seq, hash)}, what a verification run just checked) only those chains
    are sealed, at the verified head rather than the current one: a seal vouches for what was checked.
    """
    key = signing_key()
    if key is None:
        raise SigningKeyMissing("AUDIT_SIGNING_KEY (or AUDIT_SIGNING_KEY_FILE) is not set: heads cannot be sealed")
    heads = AuditChainHead.objects.filter(seq__gt=0)
    if verified is not None:
        heads = heads.filter(key__in=verified)
    written = []
    for head in heads.iterator():
        seq, hash_ = verified[head.key] if verified is not None else (head.seq, head.hash)
        newest = AuditSeal.objects.filter(chain=head.key).order_by("-sealed_at", "-id").first()
        if seq == 0 or (newest is not None and (newest.seq, newest.hash) == (seq, hash_)):
            continue
        seal = AuditSeal(chain=head.key, org_id=head.org_id, seq=seq, hash=hash_, sealed_at=timezone.now())
        seal.key_fingerprint = fingerprint(key)
        seal.signature = hmac.new(key, signed_text(seal), hashlib.sha256).hexdigest()
        seal.save()
        written.append(seal)
    return written
