"""An accessibility scan (the vendored axe-core) of the preset pages in both themes: nothing serious or critical."""

from __future__ import annotations

import pytest

from presets.models import Scope
from presets.services import lifecycle, review, sharing
from tenancy.models import Role
from tests.factories import MembershipFactory
from tests.presets_world import make_preset
from tests.ui.browser import WATCH_CSP, csp_violations, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

SCAN = """async () => {
  const result = await axe.run(document, {runOnly: ["wcag2a", "wcag2aa", "best-practice"]});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}"""


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_preset_pages_have_no_serious_accessibility_violations(browser, live_ui, acme, alice, theme) -> None:
    preset = make_preset(acme, alice, "writer", scope=Scope.ORG, tags=["poetry"])
    lifecycle.preset_update(preset=preset, actor=alice, system_prompt="You are writer.\nBe terse.")
    review.preset_submit(preset=preset, actor=alice)
    _, token = sharing.link_create(
        preset=preset, actor=alice, level="view", audience="org", expires_at=None, max_uses=None
    )
    approver = MembershipFactory(org=acme, role=Role.APPROVER).user
    scans = {
        alice: ["", "new/", "trash/", f"{preset.pk}/", f"{preset.pk}/edit/", f"{preset.pk}/share/"],
        approver: ["review/", f"{preset.pk}/diff/?a=1&b=2"],
    }
    found = {}
    for user, paths in scans.items():
        context = browser.new_context(color_scheme=theme)
        context.add_init_script(WATCH_CSP)
        sign_in(context, live_ui, user)
        page = context.new_page()
        for path in [*(f"/o/acme/presets/{p}" for p in paths), f"/l/{token}/", "/gallery/"]:
            page.goto(f"{live_ui}{path}")
            page.add_script_tag(url=f"{live_ui}/static/vendor/axe-core/axe.min.js")
            found[path] = page.evaluate(SCAN)
            assert csp_violations(page) == [], path
        context.close()
    assert {path: problems for path, problems in found.items() if problems} == {}
