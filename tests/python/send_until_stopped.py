"""Send OTLP/HTTP trace requests in a loop and record every acknowledged span id.

Usage: send_until_stopped.py HTTP_ENDPOINT ACK_FILE STOP_FILE

Each request carries 20 spans with fresh ids, in protobuf and OTLP/JSON by turns, so that
both kinds of write-ahead log frames are replayed. After a 200 response the ids are appended
to ACK_FILE and flushed. A failed or refused request is dropped, not retried, so ACK_FILE lists
exactly the spans the collector acknowledged. Stops when STOP_FILE exists, and fails if no
request of one of the two encodings was acknowledged.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span


def request_body(batch):
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    now = time.time_ns()
    span_ids = []
    for index in range(20):
        span = scope_spans.spans.add()
        span.trace_id = os.urandom(16)
        span.span_id = os.urandom(8)
        span.name = f"crash-{batch}-{index}"
        span.kind = Span.SPAN_KIND_SERVER
        span.start_time_unix_nano = now
        span.end_time_unix_nano = now + 1_000_000
        span_ids.append(span.span_id.hex())
    return request.SerializeToString(), span_ids


def json_body(body, batch):
    """Writes the protobuf request `body` as compact OTLP/JSON, as exporters send it."""
    request = ExportTraceServiceRequest.FromString(body)
    spans = [
        {
            "traceId": span.trace_id.hex(),
            "spanId": span.span_id.hex(),
            "name": span.name,
            "kind": span.kind,
            "startTimeUnixNano": str(span.start_time_unix_nano),
            "endTimeUnixNano": str(span.end_time_unix_nano),
            "attributes": [{"key": "crash.batch", "value": {"intValue": str(batch)}}],
        }
        for span in request.resource_spans[0].scope_spans[0].spans
    ]
    document = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": "crash-test"}}
                    ]
                },
                "scopeSpans": [{"scope": {"name": "crash"}, "spans": spans}],
            }
        ]
    }
    return json.dumps(document, separators=(",", ":")).encode()


def main():
    endpoint, ack_path, stop_path = sys.argv[1], sys.argv[2], sys.argv[3]
    batch = 0
    acknowledged = {"application/x-protobuf": 0, "application/json": 0}
    with open(ack_path, "a", encoding="utf-8") as acks:
        while not os.path.exists(stop_path):
            batch += 1
            body, span_ids = request_body(batch)
            content_type = "application/x-protobuf"
            if batch % 2 == 0:
                body = json_body(body, batch)
                content_type = "application/json"
            request = urllib.request.Request(
                f"{endpoint}/v1/traces",
                data=body,
                headers={"Content-Type": content_type},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    if response.status == 200:
                        acks.write("".join(f"{span_id}\n" for span_id in span_ids))
                        acks.flush()
                        acknowledged[content_type] += 1
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.02)
    for content_type, count in acknowledged.items():
        if count == 0:
            sys.exit(f"no {content_type} request was acknowledged")


if __name__ == "__main__":
    main()
