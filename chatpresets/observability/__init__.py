"""Runtime observability: metrics, traces and where a chat turn's time goes (lowest layer, used by all).

metrics.py        the Prometheus metric set (no-op objects while METRICS_ENABLED is off),
                  multiprocess mode, the registry a scrape reads
multiprocess.py   PROMETHEUS_MULTIPROC_DIR emptied per deployment, dead processes marked
views.py          GET /metrics behind METRICS_TOKEN
http.py           HTTP request counts and latency by route (middleware)
celery_signals.py Celery task run time and failures
tracing.py        OpenTelemetry setup (OTLP/HTTP; Django, psycopg, Redis, Celery instrumentations)
django_tracing.py the Django instrumentation's middleware, async-capable
timing.py         a chat turn's stages: spans, the `timing` object, Server-Timing
"""
