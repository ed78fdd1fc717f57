"""Benchmark: what the guardrail pipeline adds to one chat message, and what a refusal costs.

Run from the project root (about two minutes on two cores):

    DJANGO_ENV=test DATABASE_URL=postgres://postgres@127.0.0.1:5432/chatpresets_bench \
        REDIS_URL=redis://127.0.0.1:6379/14 .venv/bin/python bench/guardrails_overhead.py

It creates and migrates the database if needed, starts the fake model (`manage.py fake_llm`, 20 ms
to first token, 5 tokens) and two copies of the service (daphne) on loopback against the same
database and Redis: one with GUARDRAILS_ENABLED=false, one with GUARDRAILS_ENABLED=true. Each
copy has its own organisation and API key. The guardrails-on organisation switches on every limit
its plan defines (`PLAN_LIMITS["enterprise"]`; the names are printed: requests and tokens per
minute, token quotas per day and month, for organisation, user and key, and whatever kinds the plan
gains later) at a value nothing reaches, so every call goes through the whole pipeline (rate-limit
script, quota reservation, settle) and none is refused. It also sets `pii_mode: redact_for_model`
(an organisation setting, not switched by GUARDRAILS_ENABLED), which the baseline organisation
leaves unset, so the PII screening is measured as part of the pipeline. Every request sends the
same message (with an e-mail address and a phone number in it) to a fresh conversation, so no turn
is ever in progress and every prompt is the same size.

Part 1, overhead: 300 timed pairs (after 10 warm-up pairs), alternating which server goes first,
of each of
  JSON answer, total     POST …/messages/ without "stream": request sent to 201 answer read;
  stream, first token    POST …/messages/ with "stream": true: request sent to the first `delta` event;
  stream, total          the same request: request sent to the end of the event stream (after `done`).
For each it prints p50/p95 with guardrails off and on, the milliseconds the guardrails add
(on - off, at p50 and at p95) and the ratios on/off.

Part 2, refusals (guardrails-on server only): 300 timed rounds (after 10 warm-up rounds) of four
requests in rotating order:
  /healthz                      GET /healthz, the fixed cost of a request through the same server;
  admitted, first token         an admitted streamed message, to its first `delta` (as in part 1);
  429 rate_limited (user_rpm)   a message from a member whose `user_rpm` is 1 and already spent;
  429 quota_exceeded (...)      a message from a member whose `user_tokens_day` is 1.
It prints p50/p95 of each, the p50 minus the /healthz p50, the p50 divided by the /healthz p50 and
the p50 divided by the admitted request's first-token p50. A refusal still pays for everything
before `admit`: key check, membership, conversation lock, context planning and PII screening. The
`user_rpm` case relies on the one-per-minute bucket staying spent, so part 2 must finish within a
minute of its first request (it takes about half a minute).

Any other status (a 409 turn in progress, a 5xx, a 201 where a 429 was expected, an `error` event)
stops the run with the response. It uses only 127.0.0.1, deletes only the Redis keys of its own
organisations and keys, and stops its subprocesses on the way out, error or not.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatpresets.settings")
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()

import httpx  # noqa: E402
import redis  # noqa: E402
from django.conf import settings  # noqa: E402

from bench.database import ensure_database  # noqa: E402
from conversations.models import Conversation, Message, UsageRecord  # noqa: E402
from conversations.models import Role as MessageRole  # noqa: E402
from tenancy import services as tenancy_services  # noqa: E402
from tenancy.models import Membership, Organization, Plan, Role, User  # noqa: E402
from tests.server import free_port  # noqa: E402

PAIRS = 300
ROUNDS = 300
WARMUP = 10
MODEL_TTFT = 0.02
MODEL_TOKENS = 5
START_TIMEOUT_SECONDS = 30.0
# An ordinary question with an e-mail address and a phone number, so a PII step has work to do.
CONTENT = "Write a short reply to Jane Doe (jane.doe@example.com, +44 20 7946 0958) about Tuesday's invoice."


class Aborted(RuntimeError):
    """An unexpected answer: the numbers would not mean what they claim, so the run stops."""


@dataclass
class Tenant:
    """A bench organisation with one member, an API key and unused conversations to send to."""

    slug: str
    org_id: str
    key_id: str
    secret: str
    conversations: list[str]

    def url(self, base: str) -> str:
        """A fresh conversation's messages URL: never reused, so no turn is ever in progress."""
        if not self.conversations:
            raise Aborted(f"{self.slug}: ran out of prepared conversations")
        return f"{base}/api/v1/orgs/{self.slug}/conversations/{self.conversations.pop()}/messages/"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


@dataclass
class Side:
    """One service process and the organisation it is measured with."""

    name: str
    base: str
    tenant: Tenant
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


def seed_tenant(slug: str, org_settings: dict[str, Any], conversations: int) -> Tenant:
    """The organisation with these settings; its conversations and usage from earlier runs are removed."""
    org, _ = Organization.objects.update_or_create(
        slug=slug, defaults={"name": slug, "plan": Plan.ENTERPRISE, "settings": org_settings}
    )
    user, _ = User.objects.get_or_create(username=slug)
    Membership.objects.get_or_create(org=org, user=user, defaults={"role": Role.MEMBER})
    UsageRecord.objects.filter(org=org).delete()
    Conversation.objects.filter(org=org).delete()
    api_key, secret = tenancy_services.api_key_create(
        org=org, actor=user, name="bench", scopes=["chat"], expires_at=None
    )
    rows = Conversation.objects.bulk_create(
        Conversation(org=org, user=user, title="bench") for _ in range(conversations)
    )
    return Tenant(slug, str(org.pk), str(api_key.pk), secret, [str(row.pk) for row in rows])


def generous(name: str) -> int:
    """A value of this limit that no run comes near (cost budgets are in currency units)."""
    if name.endswith("_rpm") or "_cost_" in name:
        return 1_000_000
    return 10**12 if "_tokens_" in name else 1_000_000_000


def all_on(**tight: int) -> dict[str, Any]:
    """Organisation settings with every limit the plan knows switched on (generous unless `tight`)."""
    names = list(settings.PLAN_LIMITS[Plan.ENTERPRISE])
    if missing := set(tight) - set(names):
        raise SystemExit(f"PLAN_LIMITS has no {sorted(missing)}: the refusal cases need them")
    return {"limits": {name: tight.get(name, generous(name)) for name in names}, "pii_mode": "redact_for_model"}


def seed() -> dict[str, Tenant]:
    turns = 2 * (WARMUP + PAIRS)  # one JSON and one streamed message per pair
    return {
        "off": seed_tenant("guardrails-bench-off", {}, turns),
        "on": seed_tenant("guardrails-bench-on", all_on(), turns + WARMUP + ROUNDS),
        "rpm": seed_tenant("guardrails-bench-rpm", all_on(user_rpm=1), 2),
        "quota": seed_tenant("guardrails-bench-quota", all_on(user_tokens_day=1), 1),
    }


def forget_limits(store: redis.Redis, tenants: Iterable[Tenant]) -> None:
    """Delete the rate-limit and quota keys of these organisations and API keys (and nothing else)."""
    patterns = [
        f"{prefix}:{subject}:{ident}:*"
        for tenant in tenants
        for prefix in ("rl", "quota")
        for subject, ident in (("org", tenant.org_id), ("key", tenant.key_id))
    ]
    keys = [key for pattern in patterns for key in store.scan_iter(match=pattern, count=1000)]
    if keys:
        store.delete(*keys)


@contextlib.contextmanager
def subprocess_on_loopback(name: str, command: list[str], env: dict[str, str], ready_url: str) -> Iterator[None]:
    """Run `command` until the block ends; its output goes to a temporary file, shown if anything fails."""
    with tempfile.TemporaryFile() as log:
        child = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_ready(name, child, ready_url)
            yield
        except BaseException:
            print(f"--- last output of {name} ---\n{tail(log)}", file=sys.stderr)
            raise
        finally:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def wait_until_ready(name: str, child: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise RuntimeError(f"{name} exited with status {child.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{name} did not answer {url} within {START_TIMEOUT_SECONDS:.0f}s")


def tail(log: IO[bytes], size: int = 3000) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-size:]


@contextlib.contextmanager
def fake_model() -> Iterator[str]:
    port = free_port()
    options = ["--port", str(port), "--ttft", str(MODEL_TTFT), "--tokens", str(MODEL_TOKENS)]
    command = [sys.executable, "manage.py", "fake_llm", *options]
    with subprocess_on_loopback("fake model", command, {}, f"http://127.0.0.1:{port}/v1/models"):
        yield f"http://127.0.0.1:{port}/v1"


@contextlib.contextmanager
def service(model_url: str, *, guardrails: bool) -> Iterator[str]:
    port = free_port()
    catalogue = [
        {"name": "fake", "base_url": model_url, "encoding": "o200k_base", "context_window": 8192, "max_output": 64}
    ]
    env = {
        "GUARDRAILS_ENABLED": "true" if guardrails else "false",
        "MODEL_CATALOGUE": json.dumps(catalogue),
        "DEFAULT_MODEL": "fake",
        "DEBUG": "false",
        "API_THROTTLE_USER_RATE": "1000000/min",
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "chatpresets.asgi:application"]
    base = f"http://127.0.0.1:{port}"
    with subprocess_on_loopback(
        f"service (guardrails {'on' if guardrails else 'off'})", command, env, f"{base}/healthz"
    ):
        yield base


def since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def expect(response: httpx.Response, status: int, what: str, code: str | None = None) -> None:
    """Stop the run on any answer but the expected one."""
    got_code = None
    if response.headers.get("content-type", "").startswith("application/json"):
        got_code = (response.json().get("error") or {}).get("code")
    if response.status_code == status and (code is None or got_code == code):
        return
    hint = " (a conversation was reused before its answer finished)" if response.status_code == 409 else ""
    wanted = f"{status} {code}" if code else str(status)
    raise Aborted(f"{what}: expected {wanted}, got {response.status_code}{hint}: {response.text[:500]}")


def json_turn(http: httpx.Client, url: str, tenant: Tenant) -> float:
    started = time.perf_counter()
    response = http.post(url, json={"content": CONTENT}, headers=tenant.headers)
    elapsed = since(started)
    expect(response, 201, f"POST {url}")
    return elapsed


def stream_turn(http: httpx.Client, url: str, tenant: Tenant) -> tuple[float, float]:
    """Milliseconds to the first `delta` event and to the end of the stream (read to the end)."""
    started, first, done = time.perf_counter(), None, False
    with http.stream("POST", url, json={"content": CONTENT, "stream": True}, headers=tenant.headers) as response:
        if response.status_code != 200:
            response.read()
            expect(response, 200, f"POST {url} (stream)")
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            frame = json.loads(line[6:])
            if frame["type"] == "delta" and first is None:
                first = since(started)
            elif frame["type"] == "error":
                raise Aborted(f"POST {url} (stream): error event {frame}")
            done = done or frame["type"] == "done"
    total = since(started)
    if first is None or not done:
        raise Aborted(f"POST {url} (stream): {'no delta' if first is None else 'no done'} event")
    return first, total


def refused(http: httpx.Client, url: str, tenant: Tenant, code: str) -> float:
    started = time.perf_counter()
    response = http.post(url, json={"content": CONTENT}, headers=tenant.headers)
    elapsed = since(started)
    expect(response, 429, f"POST {url}", code)
    return elapsed


def healthz(http: httpx.Client, base: str) -> float:
    started = time.perf_counter()
    response = http.get(f"{base}/healthz")
    elapsed = since(started)
    expect(response, 200, "GET /healthz")
    return elapsed


def measure_overhead(http: httpx.Client, off: Side, on: Side) -> None:
    """Interleaved pairs; which side goes first alternates, so drift and noise fall on both."""
    for i in range(WARMUP + PAIRS):
        order = (off, on) if i % 2 == 0 else (on, off)
        for side in order:
            elapsed = json_turn(http, side.tenant.url(side.base), side.tenant)
            if i >= WARMUP:
                side.samples["json"].append(elapsed)
        for side in order:
            first, total = stream_turn(http, side.tenant.url(side.base), side.tenant)
            if i >= WARMUP:
                side.samples["ttft"].append(first)
                side.samples["stream"].append(total)


def measure_refusals(http: httpx.Client, base: str, tenants: dict[str, Tenant]) -> dict[str, list[float]]:
    """Rounds of /healthz, an admitted message and the two refusals, in rotating order."""
    admitted, rpm, quota = tenants["on"], tenants["rpm"], tenants["quota"]
    json_turn(http, rpm.url(base), rpm)  # user_rpm = 1 admits this one; the rest of the minute is refused
    rpm_url, quota_url = rpm.url(base), quota.url(base)  # a refusal stores nothing: one conversation serves all
    probes: dict[str, Callable[[], float]] = {
        "healthz": lambda: healthz(http, base),
        "admitted": lambda: stream_turn(http, admitted.url(base), admitted)[0],
        "rate_limited": lambda: refused(http, rpm_url, rpm, "rate_limited"),
        "quota_exceeded": lambda: refused(http, quota_url, quota, "quota_exceeded"),
    }
    names, samples = list(probes), defaultdict(list)
    for i in range(WARMUP + ROUNDS):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            elapsed = probes[name]()
            if i >= WARMUP:
                samples[name].append(elapsed)
    return samples


def p50_p95(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), statistics.quantiles(values, n=20)[18]


def print_overhead(off: Side, on: Side) -> None:
    print(f"guardrails off vs on: {PAIRS} interleaved pairs per row (model: {MODEL_TTFT * 1000:.0f} ms to first token)")
    print(f"limits on: {', '.join(all_on()['limits'])}")
    columns = ["off p50", "off p95", "on p50", "on p95", "added p50", "added p95", "on/off p50", "on/off p95"]
    print(f"{'ms':<22}" + "".join(f"{name:>11}" for name in columns))
    for metric, label in (("json", "JSON answer, total"), ("ttft", "stream, first token"), ("stream", "stream, total")):
        (off50, off95), (on50, on95) = p50_p95(off.samples[metric]), p50_p95(on.samples[metric])
        cells = [f"{v:11.1f}" for v in (off50, off95, on50, on95, on50 - off50, on95 - off95)]
        print(f"{label:<22}" + "".join(cells) + f"{on50 / off50:11.2f}{on95 / off95:11.2f}")


def print_refusals(samples: dict[str, list[float]]) -> None:
    print(f"\nrefusals, guardrails on: {ROUNDS} rounds of the four requests, rotating order")
    columns = ["p50", "p95", "- healthz", "/ healthz", "/ admitted TTFT"]
    print(f"{'ms (p50 unless p95)':<38}" + "".join(f"{name:>16}" for name in columns))
    health50, admitted50 = statistics.median(samples["healthz"]), statistics.median(samples["admitted"])
    rows = [
        ("healthz", "GET /healthz"),
        ("admitted", "admitted, first token"),
        ("rate_limited", "429 rate_limited (user_rpm)"),
        ("quota_exceeded", "429 quota_exceeded (user_tokens_day)"),
    ]
    for name, label in rows:
        p50, p95 = p50_p95(samples[name])
        cells = f"{p50:16.1f}{p95:16.1f}{p50 - health50:16.1f}{p50 / health50:16.2f}{p50 / admitted50:16.2f}"
        print(f"{label:<38}{cells}")


def print_pii_note(on: Tenant) -> None:
    stored = Message.objects.filter(org_id=on.org_id, role=MessageRole.USER)
    flagged = stored.exclude(pii={}).count()
    print(
        f"\npii_mode=redact_for_model on the guardrails-on organisations; user messages stored with PII findings: "
        f"{flagged} of {stored.count()}"
    )


def stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(143)  # unwinds through the context managers, which stop the subprocesses


def main() -> int:
    if not settings.REDIS_URL:
        raise SystemExit("Set REDIS_URL=redis://127.0.0.1:6379/14: without Redis the guardrails run in memory.")
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    ensure_database()
    tenants = seed()
    store = redis.Redis.from_url(settings.REDIS_URL)
    forget_limits(store, tenants.values())
    started = time.monotonic()
    try:
        with contextlib.ExitStack() as stack, httpx.Client(timeout=30) as http:
            model_url = stack.enter_context(fake_model())
            off = Side("off", stack.enter_context(service(model_url, guardrails=False)), tenants["off"])
            on = Side("on", stack.enter_context(service(model_url, guardrails=True)), tenants["on"])
            measure_overhead(http, off, on)
            part_two = time.monotonic()
            refusals = measure_refusals(http, on.base, tenants)
            finished = time.monotonic()
    except Aborted as error:
        print(f"aborted: {error}", file=sys.stderr)
        return 1
    finally:
        forget_limits(store, tenants.values())
    print_overhead(off, on)
    print_refusals(refusals)
    print_pii_note(tenants["on"])
    print(f"(part 1 {part_two - started:.0f} s, part 2 {finished - part_two:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
