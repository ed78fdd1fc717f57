"""Serve the project's OpenAI-compatible test model on loopback."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from django.core.management.base import BaseCommand, CommandParser

from conversations.testing.fake_llm import FakeConfig, FakeLLM


class Command(BaseCommand):
    help = "Serve a fake OpenAI-compatible streaming chat model (faults via POST /_control/faults)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8090)
        parser.add_argument("--ttft", type=float, default=0.0, help="seconds before the first token")
        parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between tokens")
        parser.add_argument("--tokens", type=int, default=12, help="tokens per reply")
        parser.add_argument("--reply", default=None, help="a fixed reply text")

    def handle(self, *args: Any, **options: Any) -> None:
        config = FakeConfig(
            ttft=options["ttft"],
            token_delay=options["token_delay"],
            output_tokens=options["tokens"],
            reply=options["reply"],
        )
        self.stdout.write(f"fake LLM on http://{options['host']}:{options['port']}/v1")
        web.run_app(FakeLLM(config).app(), host=options["host"], port=options["port"], print=None, access_log=None)
