"""API key secrets: minting, hashing and checking. Only a SHA-256 hash of the secret is stored.

The secret carries 256 random bits, so a fast hash is enough: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "cpk"


@dataclass(frozen=True)
class MintedKey:
    prefix: str
    secret: str
    secret_hash: str


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def mint() -> MintedKey:
    prefix = secrets.token_hex(6)
    secret = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return MintedKey(prefix=prefix, secret=secret, secret_hash=hash_secret(secret))


def parse_prefix(secret: str) -> str | None:
    """The lookup prefix of a presented key, or None when the key is not of our shape."""
    parts = secret.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1]


def secret_matches(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)
