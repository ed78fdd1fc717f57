"""Every main page in both themes, at a desktop and a phone width: each must render without a policy
report, and with UPDATE_UI_SCREENSHOTS=1 the pictures go into docs/ui/ for docs/ui.md."""

from __future__ import annotations

from typing import Any

import pytest

from conversations.models import Conversation, Message
from presets.models import Scope
from presets.services import lifecycle, review, sharing
from tenancy.models import Role
from tests.factories import MembershipFactory
from tests.presets_world import make_preset
from tests.ui.browser import WATCH_CSP, csp_violations, screenshot, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

ANSWER = """Here is a plan for the parcel:

1. **Check** the tracking link.
2. Call the carrier if it has not moved in 48 hours.

```python
def late(days: int) -> bool:
    return days > 2
```
"""


def _world(acme: Any, alice: Any) -> dict[str, str]:
    approver = MembershipFactory(org=acme, role=Role.APPROVER).user
    support = make_preset(
        acme,
        alice,
        "support",
        scope=Scope.ORG,
        description="Answers customers kindly and briefly.",
        variables=[{"name": "tone", "default": "warm", "description": "How it sounds"}],
    )
    support = lifecycle.preset_update(
        preset=support, actor=alice, system_prompt="You answer customers in a {{ tone }} tone."
    )
    review.preset_submit(preset=support, actor=alice)
    review.preset_approve(preset=support, actor=approver, number=2)
    lifecycle.preset_update(preset=support, actor=alice, system_prompt="You answer customers, {{ tone }} and brief.")
    _, token = sharing.link_create(
        preset=support, actor=alice, level="view", audience="org", expires_at=None, max_uses=None
    )
    conversation = Conversation.objects.create(org=acme, user=alice, title="Late parcel", preset=support)
    for seq, (role, content) in enumerate([("user", "My parcel is late, what now?"), ("assistant", ANSWER)], 1):
        Message.objects.create(
            org=acme, conversation=conversation, seq=seq, role=role, content=content, token_count=20, status="complete"
        )
    return {
        "chat": f"/o/acme/chat/{conversation.pk}/",
        "new-chat": "/o/acme/chat/",
        "presets": "/o/acme/presets/",
        "preset": f"/o/acme/presets/{support.pk}/",
        "editor": f"/o/acme/presets/{support.pk}/edit/",
        "diff": f"/o/acme/presets/{support.pk}/diff/?a=2&b=3",
        "review": "/o/acme/presets/review/",
        "share": f"/o/acme/presets/{support.pk}/share/",
        "link": f"/l/{token}/",
        "usage": "/o/acme/usage/",
        "keys": "/o/acme/keys/",
        "members": "/o/acme/members/",
    }


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_main_page_renders_in_both_themes(browser, live_ui, acme, alice, tmp_path, theme: str) -> None:
    pages = _world(acme, alice)
    for width, suffix in ((1280, ""), (375, "-phone")):
        context = browser.new_context(color_scheme=theme, viewport={"width": width, "height": 800})
        context.add_init_script(WATCH_CSP)
        sign_in(context, live_ui, alice)
        page = context.new_page()
        for name, path in pages.items():
            response = page.goto(f"{live_ui}{path}")
            assert response.status == 200, path
            page.wait_for_load_state("networkidle")
            assert page.evaluate("document.documentElement.dataset.theme") == theme
            assert page.evaluate("document.documentElement.scrollWidth") <= width, path  # no sideways scroll
            assert csp_violations(page) == [], path
            if suffix == "" or name in ("chat", "new-chat", "presets"):
                screenshot(page, f"{name}{suffix}", tmp_path, document=True)
        context.close()
