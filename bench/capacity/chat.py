"""The bench's organisation, members and presets, and the chat it drives through a real server.

Texts have the sizes docs/capacity.md assumes: a question of about 300 characters (about 70
tokens), an answer of about 1,300 characters (about 250 tokens), a system prompt of about
1,300 characters. The first question of each conversation carries an e-mail address and a phone
number, so the PII screening stores a vault as it would for a real user now and then.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import aiohttp

from bench.side_by_side.seed import all_guardrails_on
from presets.models import Preset
from presets.services.lifecycle import preset_create, preset_update
from tenancy import services as tenancy_services
from tenancy.models import Membership, Organization, Plan, Role, User

ORG_SLUG = "capacity-bench"
ANSWER_TIMEOUT_SECONDS = 120.0
_PROSE = (
    "the invoice for march was sent to the billing contact and the team asked whether the discount "
    "applies to the renewal as well as to the new seats that were added during the quarter so please "
    "check the contract terms and the usage report before you answer and keep the reply short and clear"
)
_WORDS = _PROSE.split(" ")


def text(*, words: int, variant: int) -> str:
    """Ordinary English-like text of `words` words (each about one token in o200k_base)."""
    return " ".join(_WORDS[(variant + n * 7) % len(_WORDS)] for n in range(words))


SYSTEM_PROMPT = "You are a concise assistant for a billing team. " + text(words=230, variant=3)
ANSWER = text(words=250, variant=5)


def question(*, turn: int, conversation: int) -> str:
    body = text(words=55, variant=turn * 31 + conversation)
    if turn == 0:
        return f"Write to Jane Doe (jane.doe{conversation}@example.com, +44 20 7946 {conversation % 10000:04d}): {body}"
    return body


@dataclass
class Member:
    user: User
    secret: str
    preset_id: str


def seed(*, members: int) -> tuple[Organization, list[Member]]:
    """The organisation on the enterprise plan with every limit on (none reached) and `redact_for_model`."""
    if Organization.objects.filter(slug=ORG_SLUG).exists():
        raise SystemExit(f"Organisation {ORG_SLUG} exists: point DATABASE_URL at a new database for a clean count.")
    org = Organization.objects.create(slug=ORG_SLUG, name="Capacity bench", plan=Plan.ENTERPRISE)
    org.settings = all_guardrails_on()
    org.save(update_fields=["settings"])
    seeded = []
    for n in range(members):
        user = User.objects.create(username=f"capacity-bench-{n}")
        Membership.objects.create(org=org, user=user, role=Role.MEMBER)
        _, secret = tenancy_services.api_key_create(org=org, actor=user, name="bench", scopes=["chat"], expires_at=None)
        preset = preset_create(
            org=org, actor=user, name=f"Billing {n}", slug=f"billing-{n}", system_prompt=SYSTEM_PROMPT, model="fake"
        )
        seeded.append(Member(user, secret, str(preset.pk)))
    return org, seeded


def edit_presets(*, members: list[Member], edits: int) -> int:
    """`edits` content changes per preset through the service (a version, history and audit each)."""
    done = 0
    for round_ in range(edits):
        for n, member in enumerate(members):
            preset = Preset.objects.get(pk=member.preset_id)
            prompt = f"{SYSTEM_PROMPT} Revision {round_}: " + text(words=20, variant=round_ + n)
            preset_update(preset=preset, actor=member.user, change_reason=f"revision {round_}", system_prompt=prompt)
            done += 1
    return done


class TurnFailed(RuntimeError):
    """A turn ended in anything but `done`: the counts would not be those of a chat turn."""


async def create_conversations(base: str, members: list[Member], count: int) -> list[tuple[Member, str]]:
    """`count` conversations through the API, round-robin over the members, each with its owner's preset."""
    created = []
    async with aiohttp.ClientSession() as session:
        for n in range(count):
            member = members[n % len(members)]
            async with session.post(
                f"{base}/api/v1/orgs/{ORG_SLUG}/conversations/",
                json={"preset": member.preset_id},
                headers={"Authorization": f"Bearer {member.secret}"},
            ) as response:
                if response.status != 201:
                    raise TurnFailed(f"creating a conversation: {response.status} {await response.text()}")
                created.append((member, (await response.json())["id"]))
    return created


async def converse(
    session: aiohttp.ClientSession, base: str, member: Member, conversation_id: str, *, turns: int, index: int
) -> None:
    """`turns` turns in one websocket, each sent once the previous answer is `done`."""
    url = f"{base.replace('http', 'ws', 1)}/ws/orgs/{ORG_SLUG}/conversations/{conversation_id}/"
    headers = {"Authorization": f"Bearer {member.secret}"}
    async with session.ws_connect(url, headers=headers) as ws:
        for turn in range(turns):
            await ws.send_str(json.dumps({"type": "send", "content": question(turn=turn, conversation=index)}))
            async for message in ws:
                if message.type != aiohttp.WSMsgType.TEXT:
                    raise TurnFailed(f"socket closed mid-turn: {message}")
                frame = json.loads(message.data)
                if frame["type"] == "done":
                    break
                if frame["type"] == "error":
                    raise TurnFailed(f"turn {turn} of {conversation_id}: {frame}")


async def run_turns(
    base: str, conversations: list[tuple[Member, str]], *, turns: int, concurrency: int, offset: int = 0
) -> None:
    gate = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=ANSWER_TIMEOUT_SECONDS * turns)

    async def one(index: int, member: Member, conversation_id: str) -> None:
        async with gate:
            await converse(session, base, member, conversation_id, turns=turns, index=offset + index)

    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(one(n, member, cid) for n, (member, cid) in enumerate(conversations)))
