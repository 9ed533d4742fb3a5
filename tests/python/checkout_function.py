"""Play a Lambda function instrumented with the OpenTelemetry Python SDK against `spanbill collect`.

Usage: checkout_function.py HTTP_ENDPOINT COUNT

The script plays COUNT invocations, one minute apart from 2026-11-02T10:00:00Z. Each
exports a SERVER span for an API Gateway request with a PRODUCER child that sends to SQS,
and counts one `orders.created`. At the end the script posts the platform records that a
Lambda extension would receive from the Telemetry API (platform.start and platform.report,
with the invocation's X-Ray header) to the collector's /telemetry endpoint. Invocation i lasts 50.5 + i ms and is
billed 51 + i ms at 512 MB.

Prints a JSON list of the W3C trace ids, in invocation order, and exits 0 only when every
export and post succeeded.
"""

import json
import sys
import urllib.request
from datetime import datetime, timedelta, timezone

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import SpanKind, set_span_in_context

START = datetime(2026, 11, 2, 10, 0, 0, tzinfo=timezone.utc)


class CheckedExporter:
    """Wraps a span exporter and counts failed exports."""

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


def nanos(moment):
    return int(moment.timestamp() * 1_000_000_000)


def iso(moment):
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def xray_header(trace_id, span_id):
    hex_id = f"{trace_id:032x}"
    return f"Root=1-{hex_id[:8]}-{hex_id[8:]};Parent={span_id:016x};Sampled=1"


def main():
    endpoint, count = sys.argv[1], int(sys.argv[2])
    resource = Resource.create(
        {"service.name": "checkout", "faas.name": "checkout", "faas.version": "1"}
    )
    checked = CheckedExporter(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"))
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(checked))
    tracer = tracer_provider.get_tracer("checkout")
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics"), export_interval_millis=60_000
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    orders = meter_provider.get_meter("checkout").create_counter("orders.created", unit="{order}")

    batch = [
        {
            "time": iso(START - timedelta(seconds=1)),
            "type": "platform.initStart",
            "record": {
                "initializationType": "on-demand",
                "phase": "init",
                "functionName": "checkout",
                "functionVersion": "1",
                "instanceMaxMemory": 512 * 1024 * 1024,
            },
        }
    ]
    trace_ids = []
    for index in range(count):
        request_id = f"9a0c2f6e-0000-4000-8000-{index:012d}"
        begin = START + timedelta(minutes=index)
        duration_ms = 50.5 + index
        end = begin + timedelta(milliseconds=duration_ms)
        root = tracer.start_span(
            "POST /orders",
            kind=SpanKind.SERVER,
            start_time=nanos(begin),
            attributes={
                "faas.invocation_id": request_id,
                "faas.trigger": "http",
                "http.route": "/orders",
                "http.request.method": "POST",
            },
        )
        send = tracer.start_span(
            "orders send",
            kind=SpanKind.PRODUCER,
            context=set_span_in_context(root),
            start_time=nanos(begin + timedelta(milliseconds=20)),
            attributes={
                "messaging.system": "aws_sqs",
                "messaging.operation.type": "send",
                "messaging.destination.name": "orders",
                "messaging.message.body.size": 1000,
            },
        )
        send.end(end_time=nanos(begin + timedelta(milliseconds=25)))
        root.end(end_time=nanos(end))
        orders.add(1)

        context = root.get_span_context()
        trace_ids.append(f"{context.trace_id:032x}")
        tracing = {
            "spanId": f"{context.span_id:016x}",
            "type": "X-Amzn-Trace-Id",
            "value": xray_header(context.trace_id, context.span_id),
        }
        batch.append(
            {
                "time": iso(begin),
                "type": "platform.start",
                "record": {"requestId": request_id, "version": "1", "tracing": tracing},
            }
        )
        metrics = {
            "durationMs": duration_ms,
            "billedDurationMs": 51 + index,
            "memorySizeMB": 512,
            "maxMemoryUsedMB": 90,
        }
        batch.append(
            {
                "time": iso(end),
                "type": "platform.report",
                "record": {
                    "requestId": request_id,
                    "status": "success",
                    "tracing": tracing,
                    "metrics": metrics,
                },
            }
        )

    tracer_provider.shutdown()
    flushed = meter_provider.force_flush()
    meter_provider.shutdown()
    request = urllib.request.Request(
        f"{endpoint}/telemetry",
        data=json.dumps(batch).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    # No proxy: the collector listens on loopback.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        posted = response.status == 200
    if checked.failures or not flushed or not posted:
        sys.exit(
            f"{checked.failures} span exports failed, metrics flushed: {flushed}, "
            f"telemetry batch accepted: {posted}"
        )
    print(json.dumps(trace_ids))


if __name__ == "__main__":
    main()
