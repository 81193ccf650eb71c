"""OpenTelemetry export, switched on by OTEL_EXPORTER_OTLP_ENDPOINT (OTLP over HTTP).

The engine creates spans through the OpenTelemetry API (a no-op until a provider is installed here).
LangSmith tracing needs nothing from us: langchain reads its own LANGSMITH_* variables.
"""

from __future__ import annotations

from typing import Any

from bot.settings import Settings


def setup_tracing(settings: Settings) -> Any | None:
    """Install an OTLP exporting tracer provider when an endpoint is configured; return it (or None)."""
    if not settings.otel_exporter_otlp_endpoint:
        return None
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/")
    if not endpoint.endswith("/v1/traces"):
        endpoint += "/v1/traces"
    provider = TracerProvider(resource=Resource.create({"service.name": settings.otel_service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return provider
