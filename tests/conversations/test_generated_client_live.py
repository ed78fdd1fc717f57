"""A client generated from /api/v1/schema/ by openapi-python-client works against a real server.

The schema is fetched from a running daphne, the client is generated into a temporary package, and
that package (not hand-written requests) creates a preset, starts a conversation with it and sends
a message.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from chatpresets.llm.catalogue import default_model
from tenancy import services as tenancy_services
from tests.conversations.conftest import server_env
from tests.server import daphne

pytestmark = pytest.mark.django_db(transaction=True)

PACKAGE = "chatpresets_client"


def generate_client(schema: dict, into: Path) -> None:
    spec = into / "schema.json"
    spec.write_text(json.dumps(schema))
    venv_bin = str(Path(sys.executable).parent)  # the generator formats its output with ruff
    subprocess.run(
        [
            f"{venv_bin}/openapi-python-client",
            "generate",
            "--meta",
            "none",
            "--path",
            str(spec),
            "--output-path",
            str(into / PACKAGE),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PATH": f"{venv_bin}:{os.environ['PATH']}"},
        timeout=120,
    )


def load(into: Path, module: str) -> ModuleType:
    sys.path.insert(0, str(into))
    try:
        return importlib.import_module(f"{PACKAGE}.{module}")
    finally:
        sys.path.remove(str(into))


@pytest.fixture
def generated(tmp_path: Path, fake_server, fake_llm, acme, alice):
    _, key = tenancy_services.api_key_create(
        org=acme, actor=alice, name="generated", scopes=["presets:write", "presets:read", "chat"], expires_at=None
    )
    with daphne(server_env(fake_server), log=tmp_path / "daphne.log") as base:
        schema = httpx.get(f"{base}/api/v1/schema/?format=json", headers={"Authorization": f"Bearer {key}"}).json()
        generate_client(schema, tmp_path)
        client_module = load(tmp_path, "client")
        yield tmp_path, client_module.AuthenticatedClient(base_url=base, token=key, raise_on_unexpected_status=True)
    for name in [name for name in sys.modules if name.startswith(PACKAGE)]:
        del sys.modules[name]


def test_a_generated_client_creates_a_preset_starts_a_conversation_and_sends_a_message(
    generated, acme, fake_llm
) -> None:
    fake_llm.config.reply = "Your parcel ships today."
    into, client = generated
    models = load(into, "models")
    create_preset = load(into, "api.orgs.orgs_presets_create")
    create_conversation = load(into, "api.orgs.orgs_conversations_create")
    send_message = load(into, "api.orgs.orgs_conversations_messages_create")
    list_messages = load(into, "api.orgs.orgs_conversations_messages_retrieve")

    preset = create_preset.sync(
        org_slug=acme.slug,
        client=client,
        body=models.PresetWriteRequest(
            name="Support", slug="support", system_prompt="Answer kindly.", model=default_model()
        ),
    )
    conversation = create_conversation.sync(
        org_slug=acme.slug, client=client, body=models.ConversationCreateRequest(preset=preset.id, title="Parcel")
    )

    turn = send_message.sync(
        org_slug=acme.slug,
        id=conversation.id,
        client=client,
        body=models.SendMessageRequest(content="Where is my parcel?"),
        idempotency_key="first-send",
    )
    history = list_messages.sync(org_slug=acme.slug, id=conversation.id, client=client)

    assert preset.slug == "support"
    assert conversation.preset == preset.id
    assert isinstance(turn, models.TurnResult)
    assert (turn.user_message.content, turn.message.content) == ("Where is my parcel?", "Your parcel ships today.")
    assert [message.content for message in history.results] == ["Where is my parcel?", "Your parcel ships today."]
    assert fake_llm.requests[-1]["messages"][0] == {"role": "system", "content": "Answer kindly."}
