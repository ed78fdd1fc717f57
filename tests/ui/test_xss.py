"""Thirty markup payloads in what users and the model write never run on any main page: not in model
output, conversation titles, preset names, descriptions, prompts and variables, people's names,
experiment names, or webhook descriptions and URLs.
A `window` sentinel stays untouched, no dialog opens, and the page's policy reports nothing (the
`context` fixture fails the test on any report)."""

from __future__ import annotations

from typing import Any

import pytest

from conversations.models import Conversation, Message
from presets.experiments.models import Experiment
from presets.models import Preset, Scope
from presets.services import lifecycle, review
from presets.webhooks.models import WebhookEndpoint
from tenancy.models import Role
from tests.experiments_world import build_experiment_world
from tests.factories import MembershipFactory, UserFactory
from tests.presets_world import make_preset
from tests.ui.browser import sign_in

pytestmark = pytest.mark.django_db(transaction=True)

# Each one, if it ran, would set window.__xss (or open a dialog).
PAYLOADS = [
    "<script>window.__xss=1</script>",
    '<img src=x onerror="window.__xss=2">',
    '"><svg onload="window.__xss=3">',
    "'><svg/onload=window.__xss=4>",
    '<iframe srcdoc="<script>parent.__xss=5</script>"></iframe>',
    '<a href="javascript:window.__xss=6">click</a>',
    '<details open ontoggle="window.__xss=7">',
    '<body onload="window.__xss=8">',
    '<input autofocus onfocus="window.__xss=9">',
    '<video><source onerror="window.__xss=10"></video>',
    '<math><mtext><table><mglyph><style><img src=x onerror="window.__xss=11">',
    '<svg><animate onbegin="window.__xss=12" attributeName=x dur=1s>',
    '<object data="javascript:window.__xss=13"></object>',
    '<embed src="javascript:window.__xss=14">',
    '<form><button formaction="javascript:window.__xss=15">go</button></form>',
    '<meta http-equiv="refresh" content="0;url=javascript:window.__xss=16">',
    '<base href="javascript:window.__xss=17//">',
    '<marquee onstart="window.__xss=18">',
    '</textarea><img src=x onerror="window.__xss=19">',
    "</title><script>window.__xss=20</script>",
    '<noscript><p title="</noscript><img src=x onerror=window.__xss=21>">',
    "[click](javascript:window.__xss=22)",
    '![x](x" onerror="window.__xss=23)',
    "<scr<script>ipt>window.__xss=24</script>",
    '<div style="background:url(javascript:window.__xss=25)">',
    '<svg><a xlink:href="javascript:window.__xss=26"><text x=20 y=20>x</text></a></svg>',
    "{{ 7*7 }}{% csrf_token %}<img src=x onerror=window.__xss=27>",
    "`<img src=x onerror=window.__xss=28>`",
    '<template><img src=x onerror="window.__xss=29"></template>',
    '<select autofocus onfocus="window.__xss=30"><option>x</option></select>',
]
HOSTILE = "\n\n".join(PAYLOADS)


def _world(acme: Any, alice: Any) -> tuple[Conversation, Preset]:
    alice.first_name, alice.last_name = PAYLOADS[1], PAYLOADS[2]
    alice.save(update_fields=["first_name", "last_name"])
    named = UserFactory(username="mallory", first_name=PAYLOADS[3], last_name=PAYLOADS[8], email="m@example.com")
    MembershipFactory(org=acme, user=named, role=Role.MEMBER)
    preset = make_preset(
        acme,
        alice,
        "hostile",
        scope=Scope.ORG,
        description=HOSTILE,
        variables=[{"name": "v", "default": PAYLOADS[5], "description": PAYLOADS[6]}],
    )
    preset = lifecycle.preset_update(preset=preset, actor=alice, system_prompt=f"{HOSTILE}\n{{{{ v }}}}")
    Preset.objects.filter(pk=preset.pk).update(name=PAYLOADS[0][:200])
    review.preset_submit(preset=preset, actor=alice)
    review.preset_approve(preset=preset, actor=MembershipFactory(org=acme, role=Role.APPROVER).user, number=2)
    # and a newer version, pending review (an edit of an approved org preset is), for the queue's diff
    lifecycle.preset_update(preset=preset, actor=alice, system_prompt=f"{PAYLOADS[9]}\n{HOSTILE}\n{{{{ v }}}}")
    # What admins write on the experiment and webhook pages.
    experiments = build_experiment_world(acme, alice)
    Experiment.objects.filter(pk__in=[experiments.running.pk, experiments.draft.pk]).update(name=PAYLOADS[4])
    WebhookEndpoint.objects.create(
        org=acme,
        url=f"https://93.184.215.14/hook?q={PAYLOADS[12]}",
        description=PAYLOADS[10][:200],
        events=["preset.label_moved"],
        secret="whsec_test",
        created_by=alice,
    )
    conversation = Conversation.objects.create(org=acme, user=alice, title=PAYLOADS[19][:200], preset=preset)
    for seq, payload in enumerate(PAYLOADS, start=1):
        Conversation.objects.create(org=acme, user=alice, title=payload[:200])
        Message.objects.create(
            org=acme, conversation=conversation, seq=2 * seq - 1, role="user", content=payload, token_count=5
        )
        Message.objects.create(
            org=acme,
            conversation=conversation,
            seq=2 * seq,
            role="assistant",
            content=f"Here you go:\n\n{payload}\n\n```html\n{payload}\n```",
            token_count=5,
            status="complete",
        )
    return conversation, preset


def test_thirty_payloads_stay_text_on_every_main_page(page, context, live_ui, acme, alice) -> None:
    conversation, preset = _world(acme, alice)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(context, live_ui, alice)
    pages = [
        f"/o/acme/chat/{conversation.pk}/",
        "/o/acme/chat/",
        f"/o/acme/chat/?preset={preset.pk}",
        "/o/acme/presets/",
        f"/o/acme/presets/{preset.pk}/",
        "/o/acme/presets/review/",
        f"/o/acme/presets/{preset.pk}/diff/?a=2&b=3",
        "/o/acme/members/",
        "/o/acme/usage/",
        "/o/acme/keys/",
        "/o/acme/audit/",  # the preset's hostile edits, as before/after changes
        "/o/acme/experiments/",
        *(f"/o/acme/experiments/{experiment.pk}/" for experiment in Experiment.objects.all()),
        "/o/acme/webhooks/",
    ]

    for path in pages:
        response = page.goto(f"{live_ui}{path}")
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__xss") is None, path

    for path, payload in [("/o/acme/experiments/", PAYLOADS[4]), ("/o/acme/webhooks/", PAYLOADS[10][:200])]:
        page.goto(f"{live_ui}{path}")
        assert payload in page.locator("main").inner_text(), path  # shown, as text

    page.goto(f"{live_ui}/o/acme/chat/{conversation.pk}/")
    page.wait_for_load_state("networkidle")
    shown = page.locator("main").inner_text()
    assert PAYLOADS[19] in shown  # the title, as text
    assert PAYLOADS[-1] in shown  # the newest question and answer, as text
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
