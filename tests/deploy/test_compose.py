"""deploy/docker-compose.yml brought up with `docker compose up --wait`, as the deployment guide says:
every service healthy, nginx terminating TLS in front of three web replicas that all serve, a
websocket turn, a streamed send and a `/v1` stream through it, a worker titling the conversation
over RabbitMQ, a fourth replica served with no reload of nginx, and every process stopping cleanly
on `docker compose stop`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator

import aiohttp
import httpx
import pytest

from tests.deploy.compose import (
    build_stand_ins,
    engine_problem,
    image_id,
    run,
    self_signed_certificate,
    service_states,
)
from tests.server import free_port

pytestmark = pytest.mark.timeout(1500)  # a first run builds the base, the stand-ins and the image

# The project's fake model as one more service of the same image, for the web processes and workers.
MODEL = """
services:
  model:
    image: ${CHATPRESETS_IMAGE}
    command: ["python", "manage.py", "fake_llm", "--host", "0.0.0.0", "--port", "8090",
              "--tokens", "10", "--token-delay", "0.05"]
    environment:
      DJANGO_ENV: production
      SECRET_KEY: fake-model
      AUDIT_SIGNING_KEY: fake-model
      ALLOWED_HOSTS: model
"""
CATALOGUE = [
    {"name": "fake", "base_url": "http://model:8090/v1", "encoding": "o200k_base", "context_window": 4096,
     "max_output": 256},
]  # fmt: skip
APPLICATION = {"web", "worker-default", "worker-summaries", "worker-webhooks", "beat", "migrate", "nginx"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[dict]:
    problem = engine_problem()
    if problem:
        pytest.skip(f"no Docker engine here ({problem}); bin/ensure-docker sets one up")
    directory = tmp_path_factory.mktemp("compose")
    certificate = self_signed_certificate(directory / "tls")
    (directory / "model.yml").write_text(MODEL)
    https_port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        **build_stand_ins(),
        "CHATPRESETS_IMAGE": "chatpresets-test/app:latest",
        "SECRET_KEY": uuid.uuid4().hex * 2,
        "AUDIT_SIGNING_KEY": uuid.uuid4().hex,
        "ALLOWED_HOSTS": "localhost",
        "TLS_DIR": str(directory / "tls"),
        "CHATPRESETS_HTTPS_PORT": str(https_port),
        "CHATPRESETS_HTTP_PORT": str(free_port()),
        "OPENAI_API_KEY": "fake",
        "MODEL_CATALOGUE": json.dumps(CATALOGUE),
    }
    project = f"chatpresets-test-{uuid.uuid4().hex[:8]}"
    compose = [
        "docker",
        "compose",
        "-p",
        project,
        "-f",
        "deploy/docker-compose.yml",
        "-f",
        str(directory / "model.yml"),
    ]

    def logs() -> str:
        return subprocess.run([*compose, "logs", "--no-color"], capture_output=True, text=True, env=env).stdout

    try:
        previous = image_id(env["CHATPRESETS_IMAGE"])
        run([*compose, "build", "migrate"], timeout=1200, env=env)  # one image for every process
        if previous not in ("", image_id(env["CHATPRESETS_IMAGE"])):  # each change of the code, one more
            subprocess.run(["docker", "image", "rm", previous], capture_output=True)
        try:
            run([*compose, "up", "--detach", "--wait", "--wait-timeout", "300"], timeout=420, env=env)
        except RuntimeError as error:
            raise RuntimeError(f"{error}\n{logs()[-6000:]}") from None
        tls = ssl.create_default_context(cafile=str(certificate))
        yield {"compose": compose, "env": env, "base": f"https://localhost:{https_port}", "tls": tls, "logs": logs}
    finally:
        subprocess.run(
            [*compose, "down", "--volumes", "--remove-orphans", "--timeout", "10"], env=env, capture_output=True
        )


def lines_by_container(logs: str) -> list[tuple[str, str]]:
    """`docker compose logs` as (container, line) pairs: each line is prefixed `web-2  | `."""
    return re.findall(r"^(?:\x1b\[[0-9;]*[A-Za-z])*([a-z][a-z-]*-\d+)\s+\| (.*)$", logs, re.M)


def exec_web(stack: dict, *command: str) -> str:
    return run([*stack["compose"], "exec", "-T", "web", *command], timeout=120, env=stack["env"])


@pytest.fixture(scope="module")
def demo(stack) -> dict[str, str]:
    """Demo data, alice's password and an API key of hers in acme, made inside the stack by a web replica."""
    password = uuid.uuid4().hex
    run(
        [*stack["compose"], "exec", "-T", "-e", f"DEMO_PASSWORD={password}", "web", "python", "manage.py", "seed_demo"],
        timeout=120,
        env=stack["env"],
    )
    script = (
        "from tenancy.models import Organization, User; from tenancy import services; "
        "print(services.api_key_create(org=Organization.objects.get(slug='acme'), "
        "actor=User.objects.get(username='alice'), name='compose', scopes=['chat'], expires_at=None)[1])"
    )
    key = exec_web(stack, "python", "manage.py", "shell", "-c", script).strip().splitlines()[-1]
    return {"password": password, "key": key}


async def websocket_turn(stack: dict, key: str, conversation: str) -> list[dict]:
    url = stack["base"].replace("https://", "wss://") + f"/ws/orgs/acme/conversations/{conversation}/"
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(url, headers={"Authorization": f"Bearer {key}"}, ssl=stack["tls"]) as socket,
    ):
        await socket.send_json({"type": "send", "content": "through the compose topology"})
        frames = []
        while not frames or frames[-1]["type"] not in ("done", "error"):
            frames.append(await socket.receive_json(timeout=30))
    return frames


def streamed(client: httpx.Client, path: str, body: dict) -> list[tuple[float, str]]:
    """The `data:` lines of a streamed POST, with when each arrived."""
    lines, started = [], time.monotonic()
    with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line.startswith("data: "):
                lines.append((time.monotonic() - started, line[6:]))
    return lines


def test_compose_serves_turns_through_tls_from_every_web_replica(stack, demo) -> None:
    base = stack["base"]
    plain = httpx.get(f"http://localhost:{stack['env']['CHATPRESETS_HTTP_PORT']}/api/v1/", timeout=10)
    assert (plain.status_code, plain.headers["location"]) == (301, "https://localhost/api/v1/")

    probe = uuid.uuid4().hex
    with httpx.Client(base_url=base, verify=stack["tls"], timeout=30) as anonymous:
        for n in range(9):
            assert anonymous.get(f"/readyz?probe={probe}-{n}").json()["failing"] == []
    logs = lines_by_container(stack["logs"]())
    answered = [name for name, line in logs if name.startswith("web-") and f"probe={probe}" in line]
    assert sorted(set(answered)) == ["web-1", "web-2", "web-3"]  # nginx reached every replica through `web`
    assert len(answered) == 9

    key = demo["key"]
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, verify=stack["tls"], headers=headers, timeout=30) as client:
        conversation = client.post("/api/v1/orgs/acme/conversations/", json={}).json()["id"]
        frames = asyncio.run(websocket_turn(stack, key, conversation))
        assert [frame["type"] for frame in frames] == ["ack"] + ["delta"] * 10 + ["done"]

        events = streamed(
            client, f"/api/v1/orgs/acme/conversations/{conversation}/messages/", {"content": "sse", "stream": True}
        )
        kinds = [json.loads(data)["type"] for _, data in events]
        assert (kinds[0], kinds.count("delta"), kinds[-1]) == ("ack", 10, "done")
        assert events[-1][0] - events[1][0] >= 0.3  # deltas left nginx as they came, not buffered to the end

        chunks = streamed(
            client,
            "/v1/chat/completions",
            {"model": "fake", "stream": True, "messages": [{"role": "user", "content": "hi"}]},
        )
        assert chunks[-1][1] == "[DONE]"
        assert len(chunks) >= 10

        deadline, title = time.monotonic() + 60, ""
        while not title and time.monotonic() < deadline:  # a worker titles it, reached through RabbitMQ
            title = client.get(f"/api/v1/orgs/acme/conversations/{conversation}/").json()["title"]
            time.sleep(0.5)
        assert title
        messages = client.get(f"/api/v1/orgs/acme/conversations/{conversation}/messages/").json()
        rows = messages["results"] if isinstance(messages, dict) else messages
        assert [(m["role"], m["status"]) for m in rows if m["role"] == "assistant"] == [("assistant", "complete")] * 2


def test_compose_signs_a_browser_in_over_tls_and_serves_its_static_files(stack, demo) -> None:
    """Production's secure cookies, CSRF's origin check behind nginx, and the image's collected static files."""
    with httpx.Client(base_url=stack["base"], verify=stack["tls"], timeout=30) as browser:
        form = browser.get("/accounts/login/")
        assert form.status_code == 200
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        signed_in = browser.post(
            "/accounts/login/",
            data={"username": "alice", "password": demo["password"], "csrfmiddlewaretoken": token},
            headers={"Origin": stack["base"]},
        )
        assert signed_in.status_code == 302, signed_in.text[:500]
        assert {cookie.name for cookie in browser.cookies.jar if cookie.secure} >= {"sessionid", "csrftoken"}
        page = browser.get("/o/acme/", follow_redirects=True)
        assert page.status_code == 200
        assert "alice" in page.text
        assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
        assert any(re.search(r"\.[0-9a-f]{12}\.css$", asset) for asset in assets), assets  # the hashed manifest
        for asset in assets:
            response = browser.get(asset)
            assert response.status_code == 200, asset
            assert "immutable" in response.headers["cache-control"], asset


def test_compose_nginx_sends_requests_to_a_web_replica_added_later_without_a_reload(stack) -> None:
    """nginx asks Docker's DNS for `web` again every few seconds (`resolve`), so a replica added by
    `--scale` gets its share of requests, with nothing done to nginx."""
    scale = [
        "up",
        "--detach",
        "--wait",
        "--wait-timeout",
        "300",
        "--no-deps",
        "--no-recreate",
        "--scale",
        "web=4",
        "web",
    ]
    run([*stack["compose"], *scale], timeout=420, env=stack["env"])
    probe, answered, statuses = uuid.uuid4().hex, set(), []
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=stack["base"], verify=stack["tls"], timeout=30) as anonymous:
        while "web-4" not in answered and time.monotonic() < deadline:
            statuses += [anonymous.get(f"/readyz?probe={probe}-{len(statuses)}").status_code for _ in range(8)]
            answered = {name for name, line in lines_by_container(stack["logs"]()) if f"probe={probe}" in line}
            time.sleep(1)
    assert "web-4" in answered
    assert set(statuses) == {200}


def test_compose_stops_every_process_cleanly(stack) -> None:
    run([*stack["compose"], "stop"], timeout=180, env=stack["env"])
    states = service_states(stack["compose"], stack["env"])
    assert {(state["Service"], state["ExitCode"]) for state in states if state["Service"] != "model"} == {
        (service, 0) for service in APPLICATION | {"postgres", "redis", "rabbitmq"}
    }
    tracebacks = [
        (name, line)
        for name, line in lines_by_container(stack["logs"]())
        if name.rsplit("-", 1)[0] in APPLICATION and "Traceback" in line
    ]
    assert tracebacks == []
