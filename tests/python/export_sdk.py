"""Export spans and metrics to a running `spanbill collect` with the OpenTelemetry Python SDK.

Usage: export_sdk.py HTTP_ENDPOINT GRPC_ENDPOINT COUNT

Sends COUNT spans and one counter over OTLP/HTTP protobuf, and the same over OTLP/gRPC,
then flushes and exits 0 only when every export succeeded.
"""

import sys

from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult


class CheckedExporter:
    """Wraps a span exporter and remembers whether every export succeeded."""

    def __init__(self, inner):
        self.inner = inner
        self.failures = 0

    def export(self, spans):
        result = self.inner.export(spans)
        if result != SpanExportResult.SUCCESS:
            self.failures += 1
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis=30000):
        return True


def send(transport, span_exporter, metric_exporter, count):
    resource = Resource.create(
        {"service.name": f"python-{transport}", "service.version": "1.2.3", "faas.name": "checkout"}
    )
    checked = CheckedExporter(span_exporter)
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(checked))
    tracer = provider.get_tracer("spanbill-test")
    for index in range(count):
        with tracer.start_as_current_span(f"{transport}-span-{index}") as span:
            span.set_attribute("faas.invocation_id", f"{transport}-{index}")
            span.set_attribute("faas.coldstart", index == 0)
    provider.shutdown()

    reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=60_000)
    meters = MeterProvider(resource=resource, metric_readers=[reader])
    counter = meters.get_meter("spanbill-test").create_counter("orders.created", unit="{order}")
    counter.add(count, {"transport": transport})
    flushed = meters.force_flush()
    meters.shutdown()
    if checked.failures or not flushed:
        sys.exit(f"{transport}: {checked.failures} span exports failed, metrics flushed: {flushed}")


def main():
    http_endpoint, grpc_endpoint, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    send(
        "http",
        HttpSpanExporter(endpoint=f"{http_endpoint}/v1/traces"),
        HttpMetricExporter(endpoint=f"{http_endpoint}/v1/metrics"),
        count,
    )
    send(
        "grpc",
        GrpcSpanExporter(endpoint=grpc_endpoint, insecure=True),
        GrpcMetricExporter(endpoint=grpc_endpoint, insecure=True),
        count,
    )


if __name__ == "__main__":
    main()
