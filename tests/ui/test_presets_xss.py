"""Markup placed in a preset's name, description, tags, prompt and variables is shown as text on every
preset page, never run: a `window` sentinel stays untouched and the page's policy reports nothing."""

from __future__ import annotations

import pytest

from presets.models import Preset, Scope
from presets.services import lifecycle, review, sharing
from tenancy.models import Organization, Role, User
from tests.factories import MembershipFactory
from tests.presets_world import make_preset
from tests.ui.browser import WATCH_CSP, csp_violations, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

PAYLOADS = [
    '<img src=x onerror="window.__xss=1">',
    "<script>window.__xss=2</script>",
    '"><svg onload="window.__xss=3">',
    '<iframe srcdoc="<script>parent.__xss=4</script>"></iframe>',
    '<a href="javascript:window.__xss=5">x</a>',
    "{{ 7*7 }}{% csrf_token %}",
    '<details open ontoggle="window.__xss=6">',
    '</textarea><img src=x onerror="window.__xss=7">',
]


def _hostile_preset(acme: Organization, alice: User) -> Preset:
    hostile = " ".join(PAYLOADS)
    preset = make_preset(
        acme,
        alice,
        "hostile",
        scope=Scope.ORG,
        description=hostile,
        tags=[PAYLOADS[0][:50]],
        variables=[{"name": "v", "default": PAYLOADS[1], "description": PAYLOADS[2]}],
    )
    Preset.objects.filter(pk=preset.pk).update(name=PAYLOADS[0])
    lifecycle.preset_update(preset=preset, actor=alice, system_prompt=f"{hostile}\n{{{{ v }}}}")
    review.preset_submit(preset=preset, actor=alice)
    return preset


def test_markup_in_a_preset_is_text_on_every_preset_page(browser, live_ui, acme, alice) -> None:
    preset = _hostile_preset(acme, alice)
    _, token = sharing.link_create(
        preset=preset, actor=alice, level="view", audience="org", expires_at=None, max_uses=None
    )
    approver = MembershipFactory(org=acme, role=Role.APPROVER).user
    pages = {
        alice: [
            "/o/acme/presets/",
            f"/o/acme/presets/{preset.pk}/",
            f"/o/acme/presets/{preset.pk}/edit/",
            f"/o/acme/presets/{preset.pk}/diff/?a=1&b=2",
            f"/o/acme/presets/{preset.pk}/share/",
            f"/l/{token}/",
        ],
        approver: ["/o/acme/presets/review/"],
    }
    for user, paths in pages.items():
        context = browser.new_context()
        context.add_init_script(WATCH_CSP)
        context.add_init_script("window.__xss = 0;")
        sign_in(context, live_ui, user)
        page = context.new_page()
        for path in paths:
            page.goto(f"{live_ui}{path}")
            assert PAYLOADS[0] in page.locator("main").inner_text() + page.locator("main").evaluate(
                "m => [...m.querySelectorAll('input, textarea')].map(e => e.value).join(' ')"
            ), path
            assert page.evaluate("window.__xss") == 0, path
            assert csp_violations(page) == [], path
        context.close()
