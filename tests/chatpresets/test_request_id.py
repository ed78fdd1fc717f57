"""Every response carries a request id, taken from X-Request-ID when it is safe, and logs show it."""

from __future__ import annotations

import logging
import re

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from chatpresets.logging import RequestContextFilter


def test_generated_when_absent(client, db) -> None:
    response = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_accepted_when_safe(client, db) -> None:
    assert client.get("/healthz", HTTP_X_REQUEST_ID="edge-123.abc").headers["X-Request-ID"] == "edge-123.abc"


@pytest.mark.parametrize("unsafe", ["has space", "x" * 129, "new\nline", "<script>"])
def test_replaced_when_unsafe(client, db, unsafe) -> None:
    returned = client.get("/healthz", HTTP_X_REQUEST_ID=unsafe).headers["X-Request-ID"]
    assert returned != unsafe
    assert re.fullmatch(r"[0-9a-f]{32}", returned)


def test_audit_events_and_logs_carry_it(api, alice, caplog) -> None:
    client = api(alice)
    caplog.handler.addFilter(RequestContextFilter())
    with caplog.at_level(logging.WARNING, logger="django.request"):
        client.post(
            reverse("team-list", kwargs={"org_slug": "acme"}),
            {"name": "Ops", "slug": "ops"},
            format="json",
            HTTP_X_REQUEST_ID="req-team-1",
        )
        client.get(reverse("member-list", kwargs={"org_slug": "nope"}), HTTP_X_REQUEST_ID="req-missing-2")
    assert AuditEvent.objects.get(action="team.created").request_id == "req-team-1"
    assert any(getattr(record, "request_id", None) == "req-missing-2" for record in caplog.records)


def test_json_log_lines_carry_the_request_id() -> None:
    import json

    from chatpresets import request_context
    from chatpresets.logging import JsonFormatter

    request_context.begin(request_context.RequestContext(request_id="req-json-1"))
    record = logging.LogRecord("chatpresets", logging.WARNING, __file__, 1, "quota at %d%%", (90,), None)
    RequestContextFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert (line["request_id"], line["message"], line["level"]) == ("req-json-1", "quota at 90%", "WARNING")
