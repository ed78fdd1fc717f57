"""The one reading of `Authorization: Bearer <key>`, for every transport and the middleware that skips key requests."""

from __future__ import annotations

BEARER = "Bearer"


def bearer_secret(authorization: str) -> str | None:
    """The key in an `Authorization: Bearer <key>` header; None for no header or another scheme."""
    scheme, _, secret = authorization.partition(" ")
    return secret.strip() if scheme == BEARER else None
