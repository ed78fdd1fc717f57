"""Record real API calls during a test and render them as docs/api.md.

`ApiDocs.call` performs a request, checks its status, and keeps the exchange. `ApiDocs.render`
turns the exchanges into Markdown with every run-dependent value (ids, timestamps, secrets,
timings) replaced by a placeholder, so the document only changes when the API does.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from django.urls import resolve
from rest_framework.test import APIClient

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2}| UTC)?")
API_KEY_SECRET = re.compile(r"cpk_[0-9a-f]+_[A-Za-z0-9_-]+")
USER_PRINCIPAL = re.compile(r"\buser-(\d+)\b")
TEAM_MEMBER_PATH = re.compile(r"(?<=/members/)(\d+)(?=/)")

# Keys whose values differ on every run whatever they contain.
VOLATILE_KEYS = {
    "prefix": "<key-prefix>",
    "token": "<token>",
    "key": "<secret>",
    "ttft_ms": "<ms>",
    "total_ms": "<ms>",
    "median_ttft_ms": "<ms>",
    "median_total_ms": "<ms>",
}
# An audit event's id, request id and chain hashes differ on every run.
AUDIT_EVENT_VOLATILE = {"id": "<event-id>", "request_id": "<request-id>", "hash": "<hash>", "prev_hash": "<hash>"}
MAX_LIST_ITEMS = 2
MAX_STRING = 600


@dataclass
class Example:
    title: str
    caller: str
    method: str
    path: str
    route: str
    headers: dict[str, str]
    request: Any
    status: int
    response: Any


@dataclass(frozen=True)
class Text:
    """A response body that is not JSON."""

    content_type: str
    body: str


@dataclass
class Section:
    title: str
    text: str = ""


@dataclass
class Placeholders:
    """Stable names for run-dependent values, numbered per kind in order of first appearance."""

    kinds: dict[str, str] = field(default_factory=dict)  # lower-case uuid -> kind
    users: dict[int, str] = field(default_factory=dict)  # user id -> username
    secrets: dict[str, str] = field(default_factory=dict)  # exact value -> placeholder
    labels: dict[str, str] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def uuid(self, value: str) -> str:
        value = value.lower()
        if value not in self.labels:
            kind = self.kinds.get(value, "uuid")
            self.counters[kind] += 1
            self.labels[value] = f"<{kind}-{self.counters[kind]}>"
        return self.labels[value]

    def user(self, user_id: int | str) -> str | None:
        name = self.users.get(int(user_id))
        return f"<user-{name}>" if name is not None else None

    def text(self, value: str) -> str:
        for secret, placeholder in self.secrets.items():
            value = value.replace(secret, placeholder)
        value = API_KEY_SECRET.sub("<secret>", value)
        value = UUID.sub(lambda m: self.uuid(m.group()), value)
        value = TIMESTAMP.sub("<timestamp>", value)
        return USER_PRINCIPAL.sub(lambda m: f"user-{self.user(m.group(1)) or m.group(1)}", value)

    def path(self, value: str) -> str:
        value = self.text(value)
        return TEAM_MEMBER_PATH.sub(lambda m: self.user(m.group(1)) or m.group(1), value)

    def json(self, value: Any, key: str | None = None, parent: dict[str, Any] | None = None) -> Any:
        if isinstance(value, dict):
            return {k: self.json(v, k, value) for k, v in value.items()}
        if isinstance(value, list):
            return self.list(value)
        if key in VOLATILE_KEYS and value is not None:
            return VOLATILE_KEYS[key]
        if key in AUDIT_EVENT_VOLATILE and value not in (None, "") and _is_audit_event(parent):
            return AUDIT_EVENT_VOLATILE[key]
        if isinstance(value, int | str) and parent is not None and self.is_user_id(key, parent):
            return self.user(value) or value
        return self.text(value)[:MAX_STRING] if isinstance(value, str) else value

    def list(self, value: list[Any]) -> list[Any]:
        shown = [self.json(item) for item in value[:MAX_LIST_ITEMS]]
        if len(value) > MAX_LIST_ITEMS and any(isinstance(item, dict | list) for item in value):
            return [*shown, f"… {len(value) - MAX_LIST_ITEMS} more"]
        return [*shown, *(self.json(item) for item in value[MAX_LIST_ITEMS:])]

    @staticmethod
    def is_user_id(key: str | None, parent: dict[str, Any]) -> bool:
        by_name = "username" in parent or "label" in parent  # a user, or an audit event's actor
        # User ids are numbers: an experiment has a `label` too, and a uuid for its id.
        return (key == "id" and by_name and not isinstance(parent["id"], str)) or (
            key == "principal_id" and parent.get("kind") == "user"
        )


class ApiDocs:
    """The examples of one scenario, in the order they were made."""

    def __init__(self) -> None:
        self.items: list[Example | Section] = []
        self.placeholders = Placeholders()

    def section(self, title: str, text: str = "") -> None:
        self.items.append(Section(title, text))

    def name(self, value: Any, kind: str) -> None:
        """Show this uuid as <kind-N> wherever it appears."""
        self.placeholders.kinds[str(value).lower()] = kind

    def user(self, user: Any) -> None:
        """Show this user's integer id as <user-username>."""
        self.placeholders.users[user.pk] = user.username

    def secret(self, value: str, placeholder: str) -> None:
        self.placeholders.secrets[value] = placeholder

    def call(
        self,
        client: APIClient,
        method: str,
        path: str,
        body: Any = None,
        *,
        title: str,
        caller: str,
        expect: int,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Make the request, fail unless it answered `expect`, record it, and return the JSON body."""
        kwargs: dict[str, Any] = {"headers": headers} if headers else {}
        if body is not None:
            kwargs |= {"data": body, "format": "json"}
        response = getattr(client, method.lower())(path, **kwargs)
        payload = _payload(response)
        assert response.status_code == expect, f"{method} {path}: {response.status_code} {payload}"
        route = resolve(urlsplit(path).path).url_name
        self.items.append(
            Example(title, caller, method.upper(), path, route, headers or {}, body, response.status_code, payload)
        )
        return payload

    @property
    def examples(self) -> list[Example]:
        return [item for item in self.items if isinstance(item, Example)]

    @property
    def routes(self) -> set[str]:
        return {example.route for example in self.examples}

    def render(self, intro: str) -> str:
        self.placeholders.labels.clear()
        self.placeholders.counters.clear()
        body = [self._render(item) for item in self.items]  # numbers placeholders in document order
        index = ["| Method | Path | Example |", "| --- | --- | --- |"]
        for example in self.examples:
            index.append(f"| {example.method} | `{self.placeholders.path(example.path)}` | {example.title} |")
        return "\n\n".join([intro.strip(), "## Index", "\n".join(index), *body]) + "\n"

    def _render(self, item: Example | Section) -> str:
        if isinstance(item, Section):
            return f"## {item.title}" + (f"\n\n{item.text.strip()}" if item.text else "")
        p = self.placeholders
        lines = [f"### {item.method} {p.path(item.path)}", "", f"{item.title} Caller: {item.caller}."]
        if item.headers:
            shown = "\n".join(f"{name}: {p.text(value)}" for name, value in item.headers.items())
            lines += ["", "Headers:", "", "```http", shown, "```"]
        if item.request is not None:
            lines += ["", "Request:", "", "```json", _dump(p.json(item.request)), "```"]
        status = f"{item.status} {HTTPStatus(item.status).phrase}"
        if item.response is None:
            lines += ["", f"Response `{status}`, no body."]
        elif isinstance(item.response, Text):
            lines += ["", f"Response `{status}`, `{item.response.content_type}`:", "", "````text"]
            lines += [_text_body(p, item.response).rstrip("\n"), "````"]
        else:
            lines += ["", f"Response `{status}`:", "", "```json", _dump(p.json(item.response)), "```"]
        return "\n".join(lines)


def response_body(response: Any) -> bytes:
    """The body of any test-client response; a streamed one (async chunks) is read to its end."""
    if not response.streaming:
        return response.content

    async def read() -> bytes:
        return b"".join([chunk async for chunk in response.streaming_content])

    return async_to_sync(read)()


def _payload(response: Any) -> Any:
    """JSON as data; any other body (a Markdown export) as its text."""
    content = response_body(response)
    if not content:
        return None
    if response.get("Content-Type", "").startswith("application/json"):
        return json.loads(content)
    return Text(response["Content-Type"], content.decode())


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _is_audit_event(parent: dict[str, Any] | None) -> bool:
    return parent is not None and "action" in parent and "request_id" in parent


def _text_body(p: Placeholders, response: Text) -> str:
    """A text body with placeholders; JSON Lines line by line, as JSON, so events get theirs too."""
    if response.content_type != "application/x-ndjson":
        return p.text(response.body)
    lines = response.body.splitlines()
    return "".join(json.dumps(p.json(json.loads(line)), ensure_ascii=False) + "\n" for line in lines)
