"""Two OS processes appending to one chain at once leave one intact chain: no fork, no gap."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.db import connection

from audit.models import AuditChainHead, AuditEvent
from audit.verify import verify_chain
from tests.server import ROOT

PER_PROCESS = 5000


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(300)
def test_two_processes_appending_10000_events_leave_one_intact_chain(acme) -> None:
    database = connection.settings_dict
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DATABASE_POOL_ENABLED": "false"}
    command = [sys.executable, "-m", "tests.audit.chain_writer", "acme", str(PER_PROCESS)]
    writers = [subprocess.Popen([*command, name], cwd=ROOT, env=env, stdout=subprocess.PIPE) for name in "ab"]
    outputs = [writer.communicate(timeout=280)[0].decode() for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0], outputs

    seqs = list(AuditEvent.objects.filter(org=acme).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, 2 * PER_PROCESS + 1))
    workers = AuditEvent.objects.filter(org=acme).values_list("payload__worker", flat=True)
    assert sorted(set(workers)) == ["a", "b"]
    assert AuditChainHead.objects.get(pk=str(acme.pk)).seq == 2 * PER_PROCESS
    report = verify_chain(str(acme.pk))
    assert report.ok, report.broken
    assert report.events == 2 * PER_PROCESS
