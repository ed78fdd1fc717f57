"""The loopback cluster loses its broker (the link to RabbitMQ cut, as when RabbitMQ stops): chat goes on
through nginx, with no wait on the broker, the work that needs it skipped; once the broker is back the
web processes and the workers use it again."""

from __future__ import annotations

import asyncio
import time

import pytest

from chatpresets import queue_limits
from conversations.models import Conversation, MessageStatus
from tests.deploy.tcp_link import TcpLink
from tests.deploy.test_cluster import streamed_send, websocket_turn

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

RECOVERY_SECONDS = 60  # the workers reconnect with a growing back-off (2, 4, 6… s); the web processes after 5 s


@pytest.fixture
def broker_link(tcp_link) -> TcpLink:
    return tcp_link(5672)


@pytest.fixture
def cluster_overrides(broker_link: TcpLink, rabbitmq_vhost: str) -> dict[str, str]:
    return {"CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{broker_link.port}/{rabbitmq_vhost}"}


def titled(conversation: Conversation) -> str:
    conversation.refresh_from_db()
    return conversation.title


def test_chat_goes_on_while_the_broker_is_unreachable_and_background_work_resumes_after(
    cluster, broker_link, fake_llm, acme, alice
) -> None:
    before = Conversation.objects.create(org=acme, user=alice)
    frames = asyncio.run(websocket_turn(cluster, before))
    assert frames[-1]["type"] == "done"
    deadline = time.monotonic() + RECOVERY_SECONDS
    while not titled(before) and time.monotonic() < deadline:  # the broker works: a worker titles it
        time.sleep(0.5)
    assert titled(before)

    broker_link.cut()
    for _ in range(2):  # each web process in turn, nginx alternating: each finds the broker gone itself
        started = time.monotonic()
        cut_off = Conversation.objects.create(org=acme, user=alice)
        frames = asyncio.run(websocket_turn(cluster, cut_off))
        assert [frames[0]["type"], frames[-1]["type"]] == ["ack", "done"], frames
        events = streamed_send(cluster, cut_off)
        assert events[-1][1]["type"] == "done", events[-1]
        assert time.monotonic() - started < 4  # kombu alone sleeps 2 s before retrying a refused connection
        assert list(cut_off.messages.values_list("status", flat=True)) == [MessageStatus.COMPLETE] * 4
        assert titled(cut_off) == ""  # its title was skipped, not queued for later
    web_logs = "".join(path.read_text() for path in cluster["dir"].glob("web*.log"))
    assert "broker unreachable" in web_logs
    assert "Traceback" not in web_logs

    broker_link.restore()
    time.sleep(queue_limits.RETRY_AFTER_SECONDS + 1)  # past it each web process tries the broker again
    later = [Conversation.objects.create(org=acme, user=alice) for _ in range(2)]
    for conversation in later:
        assert asyncio.run(websocket_turn(cluster, conversation))[-1]["type"] == "done"
    deadline = time.monotonic() + RECOVERY_SECONDS
    while not all(titled(conversation) for conversation in later) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert all(titled(conversation) for conversation in later), "no titles after the broker came back"
