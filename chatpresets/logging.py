"""Log records carry the request id; production logs are one JSON object per line.

Both formatters scrub personal data (e-mail, phone, card numbers, secrets, …) from the whole
formatted line, tracebacks included: a chat message that reaches an error path or a library's
log line must not leave its PII in the logs.
"""

from __future__ import annotations

import json
import logging

from chatpresets import request_context
from conversations.pii.redact import scrub


class RequestContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        context = request_context.current()
        record.request_id = context.request_id if context else "-"
        return True


class ScrubbingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(self._format(record))

    def _format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str)
