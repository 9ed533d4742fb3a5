//! Load generator for OTLP/HTTP trace receivers. It builds one export request of realistic
//! Lambda spans, then sends it over several keep-alive HTTP/1.1 connections, each with one
//! request in flight, for a fixed time. At the end it prints throughput, latency and errors.
//!
//! ```sh
//! cargo build --release -p spanbill-collector --example otlp_load
//! target/release/examples/otlp_load --target 127.0.0.1:4318 --encoding json \
//!     --connections 8 --duration 20
//! ```
//!
//! Only requests that get HTTP 200 inside the measured window count, and spans that a
//! partial-success response reports as rejected are subtracted from the span count. A 429
//! or 503 response is counted as an error, and that connection then waits for its
//! `Retry-After` as an OTLP exporter does. The last line of output is `result` followed by
//! `name=value` pairs for scripts. Only loopback targets are accepted.

mod json;
mod workload;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Request body encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Encoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`, OTLP/JSON.
    Json,
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Self::Protobuf => "protobuf",
            Self::Json => "json",
        }
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Protobuf => "application/x-protobuf",
            Self::Json => "application/json",
        }
    }
}

/// Flags of the load generator.
#[derive(Debug, Parser)]
#[command(about = "Sends OTLP/HTTP trace export requests to a loopback receiver")]
struct Args {
    /// Address of the OTLP/HTTP receiver, a loopback address such as 127.0.0.1:4318.
    #[arg(long, value_name = "ADDR")]
    target: SocketAddr,
    /// Path of the trace endpoint.
    #[arg(long, value_name = "PATH", default_value = "/v1/traces")]
    path: String,
    /// Encoding of the request body.
    #[arg(long, value_enum, default_value_t = Encoding::Protobuf)]
    encoding: Encoding,
    /// Spans per request, rounded up to a multiple of 8 (one trace of 8 spans per
    /// invocation).
    #[arg(long, value_name = "SPANS", default_value_t = 512)]
    spans: usize,
    /// Concurrent keep-alive connections, each with one request in flight.
    #[arg(long, value_name = "N", default_value_t = 8)]
    connections: usize,
    /// Measured time, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 20)]
    duration: u64,
    /// Time before the measured window, in seconds, whose requests are sent but not counted.
    #[arg(long, value_name = "SECONDS", default_value_t = 3)]
    warmup: u64,
    /// Worker threads of the generator's own runtime.
    #[arg(long, value_name = "N", default_value_t = 1)]
    threads: usize,
}

/// The request that every connection sends.
#[derive(Debug)]
struct Prepared {
    target: SocketAddr,
    path: String,
    encoding: Encoding,
    body: Bytes,
    spans: u64,
}

/// The warm-up end and the measured window's end.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
}

/// Status, `Retry-After` and rejected span count of one response.
#[derive(Debug)]
struct Outcome {
    status: StatusCode,
    retry_after: Option<Duration>,
    /// Spans that a 200 response reports as rejected, or `None` when its body did not decode.
    rejected_spans: Option<u64>,
}

/// Counts of one connection, merged at the end.
#[derive(Debug, Default)]
struct Tally {
    ok_requests: u64,
    rejected_spans: u64,
    latencies_us: Vec<u32>,
    /// Responses other than 200 over the whole run, by status code.
    http_errors: BTreeMap<u16, u64>,
    /// Failed connects, sends and body reads over the whole run.
    transport_errors: u64,
    /// 200 responses whose body did not decode as an export response.
    unreadable_responses: u64,
    first_error: Option<String>,
}

impl Tally {
    fn transport_error(&mut self, error: &dyn std::fmt::Display) {
        self.transport_errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error.to_string());
        }
    }

    fn merge(&mut self, other: Tally) {
        self.ok_requests += other.ok_requests;
        self.rejected_spans += other.rejected_spans;
        self.latencies_us.extend(other.latencies_us);
        for (status, count) in other.http_errors {
            *self.http_errors.entry(status).or_default() += count;
        }
        self.transport_errors += other.transport_errors;
        self.unreadable_responses += other.unreadable_responses;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !args.target.ip().is_loopback() {
        eprintln!(
            "otlp_load: target `{}` is not a loopback address: use 127.0.0.1 or [::1]",
            args.target
        );
        return ExitCode::from(2);
    }
    if args.connections == 0 || args.duration == 0 || args.threads == 0 {
        eprintln!("otlp_load: --connections, --duration and --threads must be at least 1");
        return ExitCode::from(2);
    }

    let request = workload::export_request(args.spans);
    let spans = request
        .resource_spans
        .iter()
        .flat_map(|resource| &resource.scope_spans)
        .map(|scope| scope.spans.len() as u64)
        .sum();
    let body = match args.encoding {
        Encoding::Protobuf => request.encode_to_vec(),
        Encoding::Json => json::encode(&request),
    };
    let prepared = Arc::new(Prepared {
        target: args.target,
        path: args.path.clone(),
        encoding: args.encoding,
        body: Bytes::from(body),
        spans,
    });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .expect("starting the Tokio runtime failed");
    match runtime.block_on(run(&args, prepared)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("otlp_load: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args, prepared: Arc<Prepared>) -> Result<(), String> {
    check_target(&prepared).await?;

    let start = Instant::now() + Duration::from_secs(args.warmup);
    let window = Window {
        start,
        end: start + Duration::from_secs(args.duration),
    };
    let tasks: Vec<_> = (0..args.connections)
        .map(|_| tokio::spawn(drive(Arc::clone(&prepared), window)))
        .collect();
    let mut total = Tally::default();
    for task in tasks {
        total.merge(task.await.expect("a connection task panicked"));
    }

    print_report(args, &prepared, &mut total);
    if total.ok_requests == 0 {
        return Err("no request got HTTP 200 in the measured window".to_owned());
    }
    Ok(())
}

/// Sends the request once and fails unless the receiver takes every span, so a wrong port,
/// path or encoding stops the run before it measures anything.
async fn check_target(prepared: &Prepared) -> Result<(), String> {
    let mut sender = connect(prepared.target)
        .await
        .map_err(|error| format!("cannot connect to {}: {error}", prepared.target))?;
    let outcome = send(&mut sender, prepared)
        .await
        .map_err(|error| format!("first request to {} failed: {error}", prepared.target))?;
    match (outcome.status, outcome.rejected_spans) {
        (StatusCode::OK, Some(0)) => Ok(()),
        (StatusCode::OK, Some(rejected)) => Err(format!(
            "the receiver rejected {rejected} of {} spans of the first request",
            prepared.spans
        )),
        (StatusCode::OK, None) => {
            Err("the response to the first request is not an export response".to_owned())
        }
        (status, _) => Err(format!("the first request got HTTP {status}")),
    }
}

/// Sends requests on one connection, reconnecting after a failure, until the window ends.
async fn drive(prepared: Arc<Prepared>, window: Window) -> Tally {
    let mut tally = Tally::default();
    while Instant::now() < window.end {
        let mut sender = match connect(prepared.target).await {
            Ok(sender) => sender,
            Err(error) => {
                tally.transport_error(&error);
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        while Instant::now() < window.end {
            let sent = Instant::now();
            let outcome = match send(&mut sender, &prepared).await {
                Ok(outcome) => outcome,
                Err(error) => {
                    tally.transport_error(&error);
                    break;
                }
            };
            let done = Instant::now();
            let measured = done >= window.start && done <= window.end;

            if outcome.status != StatusCode::OK {
                *tally
                    .http_errors
                    .entry(outcome.status.as_u16())
                    .or_default() += 1;
                if let Some(wait) = outcome.retry_after {
                    tokio::time::sleep_until((done + wait).min(window.end)).await;
                }
                continue;
            }
            let Some(rejected) = outcome.rejected_spans else {
                tally.unreadable_responses += 1;
                continue;
            };
            if measured {
                tally.ok_requests += 1;
                tally.rejected_spans += rejected;
                let micros = (done - sent).as_micros();
                tally
                    .latencies_us
                    .push(u32::try_from(micros).unwrap_or(u32::MAX));
            }
        }
    }
    tally
}

async fn connect(target: SocketAddr) -> std::io::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(target).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        // A broken connection also fails the next send, which is where it is counted.
        let _ = connection.await;
    });
    Ok(sender)
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    prepared: &Prepared,
) -> Result<Outcome, hyper::Error> {
    sender.ready().await?;
    let request = Request::post(prepared.path.as_str())
        .header(header::HOST, prepared.target.to_string())
        .header(header::CONTENT_TYPE, prepared.encoding.content_type())
        .body(Full::new(prepared.body.clone()))
        .expect("the method, path and headers are valid");
    let response = sender.send_request(request).await?;
    let status = response.status();
    let retry_after = response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.into_body().collect().await?.to_bytes();
    let rejected_spans = if status == StatusCode::OK {
        rejected_spans(prepared.encoding, &body)
    } else {
        None
    };
    Ok(Outcome {
        status,
        retry_after,
        rejected_spans,
    })
}

/// Reads `partial_success.rejected_spans` from an export response body. An empty body is
/// an empty message, so it rejects nothing.
fn rejected_spans(encoding: Encoding, body: &[u8]) -> Option<u64> {
    match encoding {
        Encoding::Protobuf => {
            let response = ExportTraceServiceResponse::decode(body).ok()?;
            let rejected = response
                .partial_success
                .map_or(0, |partial| partial.rejected_spans);
            u64::try_from(rejected).ok()
        }
        Encoding::Json => {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Some(0);
            }
            let response: serde_json::Value = serde_json::from_slice(body).ok()?;
            // int64 fields may be a decimal string or a JSON number.
            match response.pointer("/partialSuccess/rejectedSpans") {
                None | Some(serde_json::Value::Null) => Some(0),
                Some(serde_json::Value::String(text)) => text.parse().ok(),
                Some(number) => number.as_u64(),
            }
        }
    }
}

/// Returns the `quantile` of the sorted microsecond values `sorted_us` by the nearest-rank
/// method, in milliseconds.
fn percentile_ms(sorted_us: &[u32], quantile: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = (quantile * sorted_us.len() as f64).ceil() as usize;
    f64::from(sorted_us[rank.clamp(1, sorted_us.len()) - 1]) / 1000.0
}

fn print_report(args: &Args, prepared: &Prepared, total: &mut Tally) {
    let seconds = args.duration as f64;
    let accepted_spans = total.ok_requests * prepared.spans - total.rejected_spans;
    let requests_per_s = total.ok_requests as f64 / seconds;
    let spans_per_s = accepted_spans as f64 / seconds;
    total.latencies_us.sort_unstable();
    let p50 = percentile_ms(&total.latencies_us, 0.50);
    let p99 = percentile_ms(&total.latencies_us, 0.99);
    let http_errors: u64 = total.http_errors.values().sum();

    println!(
        "target {}{}, {}, {} spans per request ({} bytes), {} connections, {} s measured after {} s warm-up",
        prepared.target,
        prepared.path,
        prepared.encoding.name(),
        prepared.spans,
        prepared.body.len(),
        args.connections,
        args.duration,
        args.warmup,
    );
    println!(
        "measured: {} requests with HTTP 200 ({requests_per_s:.1}/s), {accepted_spans} spans accepted ({spans_per_s:.0}/s), {} spans rejected",
        total.ok_requests, total.rejected_spans,
    );
    println!("latency of those requests: p50 {p50:.2} ms, p99 {p99:.2} ms");
    let statuses: Vec<String> = total
        .http_errors
        .iter()
        .map(|(status, count)| format!("HTTP {status}: {count}"))
        .collect();
    println!(
        "errors over the whole run: {} transport, {} unreadable responses, {}",
        total.transport_errors,
        total.unreadable_responses,
        if statuses.is_empty() {
            "no HTTP errors".to_owned()
        } else {
            statuses.join(", ")
        },
    );
    if let Some(error) = &total.first_error {
        println!("first transport error: {error}");
    }
    println!(
        "result encoding={} connections={} body_bytes={} ok_requests={} requests_per_s={requests_per_s:.1} spans_per_s={spans_per_s:.0} rejected_spans={} http_errors={http_errors} transport_errors={} unreadable_responses={} p50_ms={p50:.2} p99_ms={p99:.2}",
        prepared.encoding.name(),
        args.connections,
        prepared.body.len(),
        total.ok_requests,
        total.rejected_spans,
        total.transport_errors,
        total.unreadable_responses,
    );
}

#[cfg(test)]
mod tests {
    use spanbill_collector::otlp::{self, Limits};

    use super::*;

    #[test]
    fn json_body_decodes_to_protobuf_twin() {
        let request = workload::export_request(512);
        let decoded = otlp::traces_from_json(&json::encode(&request)).unwrap();
        assert_eq!(decoded, request);
    }

    #[test]
    fn workload_spans_all_accepted() {
        let request = workload::export_request(512);
        let converted = otlp::convert_traces(request, &Limits::default());
        assert_eq!(converted.records.spans.len(), 512);
        assert!(
            converted.rejected.is_empty(),
            "{}",
            converted.error_message()
        );
    }

    #[test]
    fn span_count_rounds_up_to_whole_traces() {
        let count = |spans| {
            workload::export_request(spans).resource_spans[0]
                .scope_spans
                .iter()
                .map(|scope| scope.spans.len())
                .sum::<usize>()
        };
        assert_eq!(count(512), 512);
        assert_eq!(count(9), 16);
        assert_eq!(count(0), 8);
    }

    #[test]
    fn rejected_spans_read_from_both_encodings() {
        let partial = ExportTraceServiceResponse {
            partial_success: Some(
                opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess {
                    rejected_spans: 3,
                    error_message: "invalid span id".to_owned(),
                },
            ),
        };
        let protobuf = partial.encode_to_vec();
        assert_eq!(rejected_spans(Encoding::Protobuf, &protobuf), Some(3));
        assert_eq!(rejected_spans(Encoding::Protobuf, b""), Some(0));
        let json_string = br#"{"partialSuccess":{"rejectedSpans":"3"}}"#;
        assert_eq!(rejected_spans(Encoding::Json, json_string), Some(3));
        let json_number = br#"{"partialSuccess":{"rejectedSpans":4}}"#;
        assert_eq!(rejected_spans(Encoding::Json, json_number), Some(4));
        assert_eq!(rejected_spans(Encoding::Json, b"{}"), Some(0));
        assert_eq!(rejected_spans(Encoding::Json, b"not json"), None);
    }

    #[test]
    fn percentile_uses_nearest_rank() {
        let sorted: Vec<u32> = (1..=100).map(|value| value * 1000).collect();
        assert!((percentile_ms(&sorted, 0.50) - 50.0).abs() < 1e-9);
        assert!((percentile_ms(&sorted, 0.99) - 99.0).abs() < 1e-9);
        assert!((percentile_ms(&[], 0.99)).abs() < 1e-9);
    }
}
