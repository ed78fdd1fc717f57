"""Log records carry the request id and the ids the request context knows (organisation, user,
API key, conversation, answer); production logs are one JSON object per line.

Both formatters scrub personal data (e-mail, phone, card numbers, secrets, …) from the whole
formatted line, tracebacks included: a chat message that reaches an error path or a library's
log line must not leave its PII in the logs. Loopback and unspecified addresses (`127.0.0.1`,
`::1`, `0.0.0.0`) identify no one and say where a server listens, so they stay.
"""

from __future__ import annotations

import ipaddress
import json
import logging

from chatpresets import request_context
from chatpresets.llm.pii.detectors import Entity
from chatpresets.llm.pii.redact import scrub


def _machine_address(entity: Entity) -> bool:
    if entity.type != "IP_ADDRESS":
        return False
    address = ipaddress.ip_address(entity.value)
    return address.is_loopback or address.is_unspecified


def scrub_log(text: str) -> str:
    return scrub(text, keep=_machine_address)


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = request_context.current()
        record.request_id = context.request_id if context else "-"
        record.context_ids = context.log_fields() if context else {}
        return True


class ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub_log(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line. The fields that can hold someone's text (the message, a traceback,
    a client's request id) are scrubbed; the rest are ours (time, level, logger, database ids), and
    scrubbing them would cost a millisecond a line (UUIDs look like many things to the detectors)."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub_log(record.getMessage()),
            "request_id": scrub_log(getattr(record, "request_id", "-")),
            **getattr(record, "context_ids", {}),
        }
        if record.exc_info:
            payload["exception"] = scrub_log(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)
