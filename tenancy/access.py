"""Tell open websockets that a caller's access changed, so they re-check it at once.

A socket joins one group per credential it rests on: its API key, its membership in the
organisation, and its user. When one of those changes (a key revoked, expired or re-scoped; a
member removed or given another role; a user deactivated), the change is announced to that
group after the transaction commits, and each socket in it re-authorises and closes if its
caller may no longer chat. The announcement is best effort: the write has already happened,
a socket that misses it is still refused at its next frame, so a channel layer that is down
or slow is logged and never fails the write.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

EVENT_TYPE = "access.changed"  # handled by a consumer's `access_changed` method
SEND_TIMEOUT_SECONDS = 2.0  # a paused Redis must not hold the request that changed access


def key_group(key_id: Any) -> str:
    return f"access.key.{key_id}"


def member_group(org_id: Any, user_id: Any) -> str:
    return f"access.member.{org_id}.{user_id}"


def user_group(user_id: Any) -> str:
    return f"access.user.{user_id}"


def groups_for(*, org_id: Any, user_id: Any, key_id: Any | None) -> list[str]:
    """The groups a socket of this caller joins."""
    groups = [member_group(org_id, user_id), user_group(user_id)]
    if key_id is not None:
        groups.append(key_group(key_id))
    return groups


def announce_after_commit(group: str, *, reason: str) -> None:
    """Announce an access change to `group` once the current transaction commits."""
    transaction.on_commit(lambda: announce(group, reason=reason))


def announce(group: str, *, reason: str) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(_send)(layer, group, reason)
    except Exception as error:  # any failure of the layer; the change itself is committed
        logger.warning(
            "could not announce %s to %s (%s); open sockets re-check at their next frame",
            reason,
            group,
            type(error).__name__,
        )


async def _send(layer: Any, group: str, reason: str) -> None:
    await asyncio.wait_for(layer.group_send(group, {"type": EVENT_TYPE, "reason": reason}), SEND_TIMEOUT_SECONDS)
