"""OpenTelemetry traces: installed only when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_ENABLED) is set.

`configure()` runs once per process at startup (asgi.py, the Celery worker): it sets the tracer
provider, exports by OTLP/HTTP (the exporter reads the standard OTEL_EXPORTER_OTLP_* variables),
and turns on the official Django, psycopg, Redis and Celery instrumentations (Django's traces
requests served over ASGI only when opentelemetry-instrumentation-asgi is installed). When it has not run,
`span()` is a shared null context and no OpenTelemetry module is imported: tracing costs nothing.
Django's instrumentation middleware is swapped for an async-capable subclass
(chatpresets/observability/django_tracing.py): one sync-only middleware would push every async
view, the chat endpoints included, through a worker thread.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.conf import settings

DJANGO_MIDDLEWARE = "opentelemetry.instrumentation.django.middleware.otel_middleware._DjangoMiddleware"
ASYNC_DJANGO_MIDDLEWARE = "chatpresets.observability.django_tracing.AsyncTracingMiddleware"

_tracer: Any = None  # the service's tracer once configured
NULL = contextlib.nullcontext()  # shared and re-entrant: what `span` gives while tracing is off
_exporters: list[Any] = []  # exporters given to `configure`, each with its processor


def active() -> bool:
    return _tracer is not None


def wanted() -> bool:
    return bool(settings.OTEL_EXPORTER_OTLP_ENDPOINT or settings.OTEL_ENABLED)


def configure(*, exporter: Any = None) -> bool:
    """Install tracing if it is wanted (or an `exporter` is given, for tests); True when tracing is on."""
    global _tracer
    if _tracer is not None or not (exporter is not None or wanted()):
        return _tracer is not None
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):  # the global provider can be set once per process
        provider = TracerProvider(resource=Resource.create({"service.name": settings.OTEL_SERVICE_NAME}))
        trace.set_tracer_provider(provider)
    if exporter is not None and exporter not in _exporters:  # configured again after `disable`: once
        _exporters.append(exporter)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    elif settings.OTEL_EXPORTER_OTLP_ENDPOINT:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _instrument_libraries(provider)
    _tracer = trace.get_tracer("chatpresets")
    return True


def _instrument_libraries(provider: Any) -> None:
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    # The Django instrumentation inserts its middleware into the list it reads, in place: under a settings
    # override (a test's) that list is the one below it, which the override's end would not restore.
    settings.MIDDLEWARE = list(settings.MIDDLEWARE)
    for instrumentor in (DjangoInstrumentor(), PsycopgInstrumentor(), RedisInstrumentor(), CeleryInstrumentor()):
        if not instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.instrument(tracer_provider=provider)
    # Outermost, once: the instrumentation inserts its sync-only middleware (again, if re-enabled).
    tracing_middleware = (DJANGO_MIDDLEWARE, ASYNC_DJANGO_MIDDLEWARE)
    settings.MIDDLEWARE = [
        ASYNC_DJANGO_MIDDLEWARE,
        *(name for name in settings.MIDDLEWARE if name not in tracing_middleware),
    ]


def disable() -> None:
    """Stop tracing in this process (tests): the instrumentations come off, stages stop making spans."""
    global _tracer
    if _tracer is None:
        return
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    settings.MIDDLEWARE = [
        name for name in settings.MIDDLEWARE if name not in (DJANGO_MIDDLEWARE, ASYNC_DJANGO_MIDDLEWARE)
    ]
    for instrumentor in (PsycopgInstrumentor(), RedisInstrumentor(), CeleryInstrumentor()):
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
    DjangoInstrumentor()._is_instrumented_by_opentelemetry = False  # its middleware is already gone
    _tracer = None


def span(name: str, *, parent: Any = None) -> contextlib.AbstractContextManager[Any]:
    """A child span of the current one while tracing is on (of `parent` when there is no current
    one: a streamed answer outlives the request span's context); a null context otherwise."""
    if _tracer is None:
        return NULL
    from opentelemetry import trace

    context = None
    if parent is not None and not trace.get_current_span().get_span_context().is_valid:
        context = trace.set_span_in_context(parent)
    return _tracer.start_as_current_span(name, context=context)


def start_detached(name: str, **attributes: Any) -> tuple[Any, Any]:
    """A span made current until `finish_detached`: a turn's span outlives the frame that began it."""
    if _tracer is None:
        return None, None
    from opentelemetry import context, trace

    started = _tracer.start_span(name, attributes=attributes or None)
    return started, context.attach(trace.set_span_in_context(started))


def detach(token: Any) -> None:
    if token is not None:
        from opentelemetry import context

        context.detach(token)


def past_span(name: str, start_ns: int) -> None:
    """A span from `start_ns` to now, under the current one (the first token, within the model call)."""
    if _tracer is not None:
        _tracer.start_span(name, start_time=start_ns).end()
