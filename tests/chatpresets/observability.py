"""Helpers for the observability tests: a chat turn over HTTP and a scrape of /metrics."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

METRICS_TOKEN = "scrape-token-for-tests"


def start_conversation(client: Any) -> str:
    response = client.post(reverse("conversation-list", kwargs={"org_slug": "acme"}), {}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def send_turn(client: Any, conversation_id: str, content: str = "Hello", **body: Any) -> Any:
    url = reverse("conversation-messages", kwargs={"org_slug": "acme", "pk": conversation_id})
    return client.post(url, {"content": content, **body}, format="json")


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by (name, sorted labels)."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert response.status_code == 200, response.content
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def chat_socket(acme: Any, alice: Any) -> tuple[str, str]:
    """A websocket path to a new conversation of alice's, and her chat key (call in a worker thread)."""
    from conversations.models import Conversation
    from tenancy import services as tenancy_services

    conversation = Conversation.objects.create(org=acme, user=alice)
    _, secret = tenancy_services.api_key_create(org=acme, actor=alice, name="ws", scopes=["chat"], expires_at=None)
    return f"/ws/orgs/acme/conversations/{conversation.pk}/", secret


async def websocket_turn(path: str, key: str, content: str = "Hello") -> dict[str, Any]:
    """Send one message over the conversation websocket; the frame that ends the turn."""
    from channels.testing import WebsocketCommunicator

    from chatpresets.asgi import application

    socket = WebsocketCommunicator(application, path, headers=[(b"authorization", f"Bearer {key}".encode())])
    connected, _ = await socket.connect()
    assert connected
    await socket.send_json_to({"type": "send", "content": content})
    while (frame := await socket.receive_json_from(timeout=5))["type"] not in ("done", "error"):
        pass
    await socket.disconnect()
    return frame
