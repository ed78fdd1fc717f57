"""The project and the lowest layer: what every app may use, importing none of them.

Wiring (may import every app; nothing imports it): settings.py, urls.py, routing.py (websocket
routes), asgi.py (Origin check, authentication, router), celery.py (the Celery app, loaded here).

Shared modules:
  llm/              model access: catalogue, tokens, cost controls, gateway (openai), pii/
  audit_sink.py     `record()` for the layers below audit; audit registers the writer
  audited_admin.py  AuditedAdminMixin: staff edits in the admin are audited
  env.py            typed environment readers for settings
  errors.py         the one error shape and the domain error family
  request_context.py  per-request facts (request id, client IP, organisation, user, API key, conversation, answer)
  observability/    Prometheus metrics, OpenTelemetry traces, a chat turn's stage timing
  bearer.py         the one reading of `Authorization: Bearer <key>`
  middleware.py     request id, NUL refusal, JSON 404s, 503 for unavailable dependencies
  browser_middleware.py  Django's browser-only middleware, skipped by key requests
  static_files.py   WhiteNoise as an async-capable middleware
  gc_tuning.py      the web process's startup heap frozen out of full collections
  body_limit.py     the request body size limit (ASGI)
  breaker.py        Breaker: a failed dependency skipped for a while (cache, broker, database pool)
  cache_outage.py   the cache breaker: the request path without depending on Redis
  version_tokens.py  tokens in the cache that tell every process its copies of rows are stale
  daphne_tuning.py  TCP_NODELAY on daphne's connections
  logging.py        request and context ids in log records, JSON logs, PII scrubbing
  health.py         /healthz and /readyz
  csp_report.py     Content-Security-Policy violation reports
  scheduler.py      periodic tasks in the web process when there is no broker
  throttling.py     DRF throttles read from settings at request time
  streaming.py      streamed bodies read from the database a chunk at a time (exports)
  filters.py        the UTC instant filter every list's FilterSet uses
  pagination.py, parsers.py, metadata.py, strict_strings.py, validators.py  DRF pieces
  openapi.py, schema_views.py  the OpenAPI schema's error responses and its views
  migration_sql.py  PostgreSQL-only migrations
"""

from chatpresets.celery import app as celery_app

__all__ = ["celery_app"]
