"""Where browsers report what the Content-Security-Policy blocked: each report is a warning in the log,
since on these pages a violation means an injection attempt or a bug in our own markup."""

from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

logger = logging.getLogger(__name__)
REPORT_MAX_BYTES = 8192


@csrf_exempt  # browsers send reports without a token; the endpoint only logs
@require_POST
def receive(request: HttpRequest) -> HttpResponse:
    body = request.body[:REPORT_MAX_BYTES]
    try:
        report = json.loads(body).get("csp-report", {})
    except (ValueError, AttributeError, RecursionError):  # RecursionError: JSON nested deeper than Python parses
        return HttpResponse(status=400)
    if not isinstance(report, dict):
        return HttpResponse(status=400)
    logger.warning(
        "Content-Security-Policy violation: %s blocked %s on %s",
        report.get("violated-directive") or report.get("effective-directive"),
        str(report.get("blocked-uri", ""))[:200],
        str(report.get("document-uri", ""))[:200],
    )
    return HttpResponse(status=204)
