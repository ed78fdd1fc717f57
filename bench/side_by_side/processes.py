"""The servers of one run, all on loopback: the fake model, the pass-through proxy, LiteLLM and
two ChatPresets processes (guardrails on, and off for arm O'). Each stops when its block ends."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.fake_model import start_fake_model
from bench.side_by_side.litellm_env import LiteLLMEnv
from tests.server import daphne, fake_model_env, free_port

ROOT = Path(__file__).resolve().parents[2]
LITELLM_MASTER_KEY = "sk-gateway-bench"
LITELLM_START_SECONDS = 180.0
# Whatever the bench itself runs with, LiteLLM runs as a plain proxy: no database, no cache.
LITELLM_UNSET = ("DATABASE_URL", "REDIS_URL", "REDIS_HOST", "DJANGO_SETTINGS_MODULE", "DJANGO_ENV")


@dataclass(frozen=True)
class Endpoints:
    model: str  # each an origin; the OpenAI routes are under /v1
    passthrough: str
    litellm: str
    guarded: str
    plain: str


@contextlib.contextmanager
def fake_model(*, tokens: int, token_delay: float) -> Iterator[str]:
    port = free_port()
    process = start_fake_model(port, ttft=0.0, tokens=tokens, token_delay=token_delay)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def child(name: str, command: list[str], env: dict[str, str], ready: str, timeout: float) -> Iterator[None]:
    """Run `command` until the block ends; its output goes to a file that is shown if it fails."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until_ready(name, process, ready, timeout)
            yield
        except BaseException:
            log.seek(0)
            print(f"--- last output of {name} ---\n{log.read().decode(errors='replace')[-3000:]}", file=sys.stderr)
            raise
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_ready(name: str, process: subprocess.Popen, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{name} did not answer {url} within {timeout:.0f}s")


@contextlib.contextmanager
def passthrough(model: str) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, "bench/passthrough_proxy.py", "--port", str(port), "--upstream", model]
    origin = f"http://127.0.0.1:{port}"
    with child("pass-through proxy", command, dict(os.environ), f"{origin}/healthz", 20.0):
        yield origin


def litellm_config(model: str) -> str:
    """The proxy's config: one model, `fake`, routed to the fake model; no callbacks, no telemetry."""
    config = {
        "model_list": [
            {
                "model_name": "fake",
                "litellm_params": {"model": "openai/fake", "api_base": f"{model}/v1", "api_key": "unused"},
            }
        ],
        "litellm_settings": {
            "callbacks": [],
            "success_callback": [],
            "failure_callback": [],
            "telemetry": False,
            "drop_params": True,
        },
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }
    return json.dumps(config, indent=2)  # JSON is YAML


@contextlib.contextmanager
def litellm(env: LiteLLMEnv, model: str) -> Iterator[str]:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="litellm-bench-") as folder:
        config = Path(folder) / "config.yaml"
        config.write_text(litellm_config(model))
        command = [str(env.litellm), "--config", str(config), "--port", str(port), "--num_workers", "1"]
        environment = {name: value for name, value in os.environ.items() if name not in LITELLM_UNSET}
        environment |= {
            "LITELLM_MASTER_KEY": LITELLM_MASTER_KEY,
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # no fetch of the price list at start
            "LITELLM_LOG": "ERROR",
            "LITELLM_TELEMETRY": "False",
        }
        origin = f"http://127.0.0.1:{port}"
        with child("LiteLLM proxy", command, environment, f"{origin}/health/liveliness", LITELLM_START_SECONDS):
            yield origin


def service_env(model: str, *, guardrails: bool) -> dict[str, str]:
    return {
        **fake_model_env(f"{model}/v1", context_window=8192, max_output=64, ttft_timeout=30.0, total_timeout=300.0),
        "GUARDRAILS_ENABLED": "true" if guardrails else "false",
        "DEBUG": "false",
        "API_THROTTLE_USER_RATE": "1000000/min",
        "LOG_LEVEL": "WARNING",
    }


@contextlib.contextmanager
def all_servers(env: LiteLLMEnv, *, tokens: int, token_delay: float) -> Iterator[Endpoints]:
    with contextlib.ExitStack() as stack:
        model = stack.enter_context(fake_model(tokens=tokens, token_delay=token_delay))
        yield Endpoints(
            model=model,
            passthrough=stack.enter_context(passthrough(model)),
            litellm=stack.enter_context(litellm(env, model)),
            guarded=stack.enter_context(daphne(service_env(model, guardrails=True), timeout=60.0)),
            plain=stack.enter_context(daphne(service_env(model, guardrails=False), timeout=60.0)),
        )
