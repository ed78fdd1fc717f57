from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from tenancy.rbac_doc import render


class Command(BaseCommand):
    help = "Print docs/rbac.md, generated from the role matrix and the routes."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(render(), ending="")
