"""Reads or writes W3C trace context with the OpenTelemetry Python SDK.

extract: reads a JSON carrier on stdin and prints the trace id, span id and sampled flag
         that the SDK's propagator extracts from it.
inject:  starts a span with the SDK, injects its context into a carrier and prints the
         carrier together with the span's ids.
"""

import json
import sys

from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider


def extract():
    carrier = json.load(sys.stdin)
    context = propagate.extract(carrier)
    span_context = trace.get_current_span(context).get_span_context()
    print(json.dumps({
        "trace_id": format(span_context.trace_id, "032x"),
        "span_id": format(span_context.span_id, "016x"),
        "sampled": span_context.trace_flags.sampled,
        "remote": span_context.is_remote,
        "tracestate": span_context.trace_state.to_header(),
    }))


def inject():
    provider = TracerProvider()
    tracer = provider.get_tracer("interop-producer")
    with tracer.start_as_current_span("send payments", kind=trace.SpanKind.PRODUCER) as span:
        carrier = {}
        propagate.inject(carrier)
        span_context = span.get_span_context()
        print(json.dumps({
            "carrier": carrier,
            "trace_id": format(span_context.trace_id, "032x"),
            "span_id": format(span_context.span_id, "016x"),
        }))


if __name__ == "__main__":
    {"extract": extract, "inject": inject}[sys.argv[1]]()
