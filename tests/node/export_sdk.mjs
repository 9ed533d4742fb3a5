// Exports spans and metrics to a running `spanbill collect` with the OpenTelemetry JS SDK over
// OTLP/HTTP JSON, then sends one hand-written OTLP JSON request with chunked transfer encoding.
//
// Usage: node export_sdk.mjs HTTP_ENDPOINT COUNT
//
// Sends COUNT parent spans, each with one child, a counter and a histogram. Prints a JSON
// object with the ids of every span the SDK ended and the response to the chunked request.
// SDK export errors go to standard error through the OpenTelemetry diagnostic logger.

import http from "node:http";

import {
  DiagConsoleLogger,
  DiagLogLevel,
  ROOT_CONTEXT,
  SpanKind,
  ValueType,
  diag,
  trace,
} from "@opentelemetry/api";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";

/** Ids of the span sent in the chunked request. */
const CHUNKED_TRACE_ID = "5b8efff798038103d269b633813fc60c";
const CHUNKED_SPAN_ID = "eee19b7ec3c1b174";

diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);

const [endpoint, countText] = process.argv.slice(2);
const count = Number.parseInt(countText, 10);
if (!endpoint || !Number.isInteger(count) || count < 1) {
  console.error("usage: node export_sdk.mjs HTTP_ENDPOINT COUNT");
  process.exit(2);
}

const resource = resourceFromAttributes({
  "service.name": "node-http-json",
  "service.version": "4.5.6",
  "faas.name": "checkout",
});

/** Ends COUNT parent spans with one child each and returns their ids. */
async function sendSpans() {
  const exporter = new OTLPTraceExporter({ url: `${endpoint}/v1/traces` });
  const provider = new BasicTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  const tracer = provider.getTracer("spanbill-node-test");
  const spans = [];
  for (let index = 0; index < count; index++) {
    const parent = tracer.startSpan(`node-span-${index}`, {
      kind: SpanKind.SERVER,
      attributes: {
        "faas.invocation_id": `node-${index}`,
        "order.items": index,
        "order.express": index % 2 === 0,
        "order.total": index + 0.25,
      },
    });
    const child = tracer.startSpan(
      `node-child-${index}`,
      { kind: SpanKind.CLIENT },
      trace.setSpan(ROOT_CONTEXT, parent),
    );
    child.end();
    parent.end();
    for (const [span, parentSpanId] of [
      [parent, ""],
      [child, parent.spanContext().spanId],
    ]) {
      spans.push({
        name: span.name,
        traceId: span.spanContext().traceId,
        spanId: span.spanContext().spanId,
        parentSpanId,
      });
    }
  }
  await provider.forceFlush();
  await provider.shutdown();
  return spans;
}

/** Records a counter and a histogram, exported gzip-compressed at flush and shutdown. */
async function sendMetrics() {
  const exporter = new OTLPMetricExporter({
    url: `${endpoint}/v1/metrics`,
    compression: "gzip",
  });
  const provider = new MeterProvider({
    resource,
    readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 })],
  });
  const meter = provider.getMeter("spanbill-node-test");
  const created = meter.createCounter("orders.created", {
    unit: "{order}",
    valueType: ValueType.INT,
  });
  const value = meter.createHistogram("order.value", { unit: "USD" });
  for (let index = 0; index < count; index++) {
    created.add(1, { "order.channel": "web" });
    value.record(10 + index, { "order.channel": "web" });
  }
  await provider.forceFlush();
  await provider.shutdown();
}

/** Posts one span as OTLP JSON without `Content-Length`, so Node sends the body chunked. */
function sendChunked() {
  const body = JSON.stringify({
    resourceSpans: [
      {
        resource: {
          attributes: [{ key: "service.name", value: { stringValue: "node-chunked" } }],
        },
        scopeSpans: [
          {
            scope: { name: "spanbill-node-test" },
            spans: [
              {
                traceId: CHUNKED_TRACE_ID,
                spanId: CHUNKED_SPAN_ID,
                name: "node-chunked-span",
                kind: 2,
                startTimeUnixNano: "1717000000000000000",
                endTimeUnixNano: "1717000000250000000",
                attributes: [{ key: "http.request.body.chunked", value: { boolValue: true } }],
              },
            ],
          },
        ],
      },
    ],
  });
  return new Promise((resolve, reject) => {
    const request = http.request(`${endpoint}/v1/traces`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Transfer-Encoding": "chunked" },
    });
    request.on("error", reject);
    request.on("response", (response) => {
      const parts = [];
      response.on("data", (part) => parts.push(part));
      response.on("end", () =>
        resolve({
          status: response.statusCode,
          body: Buffer.concat(parts).toString("utf8"),
          contentLength: request.getHeader("content-length") ?? null,
          transferEncoding: request.getHeader("transfer-encoding") ?? null,
        }),
      );
    });
    // Three writes, so the body goes out as three chunks.
    const third = Math.ceil(body.length / 3);
    request.write(body.slice(0, third));
    request.write(body.slice(third, 2 * third));
    request.end(body.slice(2 * third));
  });
}

const spans = await sendSpans();
await sendMetrics();
const chunked = await sendChunked();
console.log(JSON.stringify({ spans, chunked }));
