"""GET /metrics: the Prometheus scrape, behind a bearer token, and absent while metrics are off.

Off (METRICS_ENABLED false): 404, like any unknown path. On: `Authorization: Bearer <METRICS_TOKEN>`
(compared in constant time) or 401 without credentials and 403 with wrong ones, in the one error
shape. With metrics on and no METRICS_TOKEN every scrape is refused: an open /metrics would tell
anyone the traffic and the models in use.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chatpresets import errors
from chatpresets.bearer import bearer_secret
from chatpresets.observability import metrics


class ScrapeUnauthenticated(errors.DomainError):
    code = "not_authenticated"
    status_code = 401
    message = "Send Authorization: Bearer <METRICS_TOKEN>."

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "WWW-Authenticate": 'Bearer realm="metrics"'}


class ScrapeForbidden(errors.Forbidden):
    message = "This token may not read the metrics."


@require_GET
def scrape(request: HttpRequest) -> HttpResponse:
    if not metrics.enabled():
        raise Http404("Metrics are off.")
    secret = bearer_secret(request.headers.get("Authorization", ""))
    if secret is None:
        return errors.error_response(ScrapeUnauthenticated())
    token = settings.METRICS_TOKEN or ""
    if not token or not hmac.compare_digest(secret.encode(), token.encode()):
        return errors.error_response(ScrapeForbidden())
    metrics.refresh_for_scrape()
    return HttpResponse(generate_latest(metrics.registry()), content_type=CONTENT_TYPE_LATEST)
