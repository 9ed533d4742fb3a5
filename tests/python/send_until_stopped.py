"""Send OTLP/HTTP protobuf trace requests in a loop and record every acknowledged span id.

Usage: send_until_stopped.py HTTP_ENDPOINT ACK_FILE STOP_FILE

Each request carries 20 spans with fresh ids. After a 200 response the ids are appended to
ACK_FILE and flushed. A failed or refused request is dropped, not retried, so ACK_FILE lists
exactly the spans the collector acknowledged. Stops when STOP_FILE exists.
"""

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


def main():
    endpoint, ack_path, stop_path = sys.argv[1], sys.argv[2], sys.argv[3]
    batch = 0
    with open(ack_path, "a", encoding="utf-8") as acks:
        while not os.path.exists(stop_path):
            batch += 1
            body, span_ids = request_body(batch)
            request = urllib.request.Request(
                f"{endpoint}/v1/traces",
                data=body,
                headers={"Content-Type": "application/x-protobuf"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    if response.status == 200:
                        acks.write("".join(f"{span_id}\n" for span_id in span_ids))
                        acks.flush()
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.02)


if __name__ == "__main__":
    main()
