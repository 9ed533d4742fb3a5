//! The receivers in-process against a real store on loopback ports: gRPC partial success and
//! status codes, the `google.rpc.Status` bodies of HTTP errors, and the log records that
//! carry no platform data.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use spanbill_collector::receiver::{ReceiverLimits, Receivers, serve_grpc, serve_http};
use spanbill_collector::store::{Store, StoreOptions};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tonic::codegen::http;

fn span(span_id: Vec<u8>, start: u64, end: u64) -> Span {
    Span {
        trace_id: vec![3; 16],
        span_id,
        name: "handler".to_owned(),
        kind: 2,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        ..Span::default()
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }],
    }
}

async fn start_grpc(receivers: Arc<Receivers>) -> (String, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve_grpc(listener, receivers, async {
        let _ = stopped.await;
    }));
    (address, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_partial_success_counts_rejected_spans() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let receivers = Receivers::new(store.clone(), ReceiverLimits::default());
    let (address, stop) = start_grpc(receivers.clone()).await;
    let mut client = TraceServiceClient::connect(address).await.unwrap();

    let start = 1_717_000_000_000_000_000;
    let spans = vec![
        span(vec![1; 8], start, start + 10),
        span(vec![2; 7], start, start + 10),
        span(vec![3; 8], start + 10, start),
    ];
    let response = client.export(request(spans)).await.unwrap().into_inner();
    let partial = response.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 2);
    assert!(partial.error_message.contains("end time before start time"));
    assert!(partial.error_message.contains("expected 8 bytes, found 7"));

    let full = client
        .export(request(vec![span(vec![4; 8], start, start + 1)]))
        .await
        .unwrap()
        .into_inner();
    assert!(full.partial_success.is_none());

    let _ = stop.send(());
    let totals = tokio::task::spawn_blocking(move || store.shutdown_blocking().unwrap())
        .await
        .unwrap();
    assert_eq!(totals.spans, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_unavailable_after_store_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let receivers = Receivers::new(store.clone(), ReceiverLimits::default());
    let (address, stop) = start_grpc(receivers).await;
    let mut client = TraceServiceClient::connect(address).await.unwrap();
    tokio::task::spawn_blocking(move || store.shutdown_blocking().unwrap())
        .await
        .unwrap();

    let start = 1_717_000_000_000_000_000;
    let status = client
        .export(request(vec![span(vec![1; 8], start, start + 1)]))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable);
    let _ = stop.send(());
}

/// `google.rpc.Status` as `google/rpc/status.proto` numbers its fields, declared here apart
/// from the crate's own type so that a wrong field number there fails these tests.
#[derive(Clone, PartialEq, prost::Message)]
struct GoogleRpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name),
    )
    .unwrap()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Compresses `size` zero bytes with the `gzip` command, which is far faster than a debug
/// build of flate2 for the hundreds of megabytes a real compression bomb inflates to.
fn gzip_bomb(size: u64) -> Vec<u8> {
    let mut child = std::process::Command::new("gzip")
        .args(["-9", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the `gzip` command is needed to build a compression bomb");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        std::io::copy(&mut std::io::repeat(0).take(size), &mut stdin).unwrap();
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(output.status.success());
    output.stdout
}

/// Returns this process's peak resident set size in bytes, from `/proc/self/status`.
fn peak_rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with("VmHWM:"))
        .unwrap();
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

async fn start_http(receivers: Arc<Receivers>) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve_http(listener, receivers, async {
        let _ = stopped.await;
    }));
    (address, stop)
}

/// An HTTP response: status, headers with lowercase names, and the raw body.
#[derive(Debug)]
struct HttpResponse {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// Sends one HTTP/1.1 request with a `Content-Length` and reads the response to the end.
async fn send_http(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        write!(head, "{name}: {value}\r\n").unwrap();
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may respond and close before it reads a body over its limit.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;

    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of headers in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {head:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// Decodes an error body by its content type: protobuf or JSON `google.rpc.Status`, or
/// plain text with no code.
fn error_body(response: &HttpResponse) -> (Option<i32>, String) {
    let content_type = response.headers.get("content-type").map(String::as_str);
    match content_type {
        Some("application/x-protobuf") => {
            let status = GoogleRpcStatus::decode(response.body.as_slice()).unwrap();
            (Some(status.code), status.message)
        }
        Some("application/json") => {
            let value: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
            let code = value["code"].as_i64().expect("numeric `code`");
            let message = value["message"].as_str().expect("string `message`");
            (Some(i32::try_from(code).unwrap()), message.to_owned())
        }
        _ => (None, String::from_utf8(response.body.clone()).unwrap()),
    }
}

/// One row of the HTTP error table.
struct HttpCase {
    name: &'static str,
    method: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: Vec<u8>,
    status: u16,
    content_type: &'static str,
    code: Option<tonic::Code>,
    message: &'static str,
}

const PROTOBUF: (&str, &str) = ("Content-Type", "application/x-protobuf");
const JSON: (&str, &str) = ("Content-Type", "application/json");
const GZIP: (&str, &str) = ("Content-Encoding", "gzip");

#[expect(clippy::too_many_lines, reason = "one table of cases")]
fn http_cases() -> Vec<HttpCase> {
    let protobuf = data("otlp_protobuf_traces_export_request.binpb");
    let json = data("otlp_json_traces_twin_of_protobuf_sample.json");
    let bomb = gzip(&vec![b' '; 4 << 20]);
    let not_gzip = b"plain text, not gzip".to_vec();

    let cases = [
        (
            "truncated protobuf",
            "POST",
            vec![PROTOBUF],
            protobuf[..100].to_vec(),
            400,
            "application/x-protobuf",
            Some(tonic::Code::InvalidArgument),
            "invalid OTLP protobuf body",
        ),
        (
            "invalid JSON",
            "POST",
            vec![JSON],
            b"{\"resourceSpans\": [".to_vec(),
            400,
            "application/json",
            Some(tonic::Code::InvalidArgument),
            "invalid OTLP JSON body",
        ),
        (
            "JSON with invalid UTF-8",
            "POST",
            vec![JSON],
            b"{\"resourceSpans\": [{\"schemaUrl\": \"\xff\"}]}".to_vec(),
            400,
            "application/json",
            Some(tonic::Code::InvalidArgument),
            "invalid OTLP JSON body: invalid UTF-8 at byte 34",
        ),
        (
            "JSON field of the wrong form",
            "POST",
            vec![JSON],
            br#"{"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "xyz"}]}]}]}"#.to_vec(),
            400,
            "application/json",
            Some(tonic::Code::InvalidArgument),
            "field `resourceSpans[0].scopeSpans[0].spans[0].spanId`",
        ),
        (
            "unknown content type",
            "POST",
            vec![("Content-Type", "text/plain")],
            json.clone(),
            415,
            "text/plain; charset=utf-8",
            None,
            "unsupported content type `text/plain`",
        ),
        (
            "body over the limit",
            "POST",
            vec![JSON],
            vec![b' '; 100_000],
            413,
            "application/json",
            Some(tonic::Code::ResourceExhausted),
            "request body over 65536 bytes",
        ),
        (
            "gzip bomb",
            "POST",
            vec![PROTOBUF, GZIP],
            bomb,
            413,
            "application/x-protobuf",
            Some(tonic::Code::ResourceExhausted),
            "body inflates past 1048576 bytes",
        ),
        (
            "corrupt gzip",
            "POST",
            vec![JSON, GZIP],
            not_gzip,
            400,
            "application/json",
            Some(tonic::Code::InvalidArgument),
            "invalid gzip data",
        ),
        (
            "unknown content encoding",
            "POST",
            vec![JSON, ("Content-Encoding", "br")],
            json.clone(),
            415,
            "application/json",
            Some(tonic::Code::Unimplemented),
            "unsupported content encoding `br`",
        ),
        (
            "GET with an OTLP content type",
            "GET",
            vec![PROTOBUF],
            Vec::new(),
            405,
            "application/x-protobuf",
            Some(tonic::Code::Unimplemented),
            "method not allowed",
        ),
        (
            "GET without a content type",
            "GET",
            Vec::new(),
            Vec::new(),
            405,
            "text/plain; charset=utf-8",
            None,
            "method not allowed",
        ),
    ];
    cases
        .into_iter()
        .map(
            |(name, method, headers, body, status, content_type, code, message)| HttpCase {
                name,
                method,
                headers,
                body,
                status,
                content_type,
                code,
                message,
            },
        )
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_errors_carry_rpc_status() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let limits = ReceiverLimits {
        max_body_bytes: 64 << 10,
        max_decompressed_bytes: 1 << 20,
        ..ReceiverLimits::default()
    };
    let receivers = Receivers::new(store.clone(), limits);
    let (address, stop) = start_http(receivers.clone()).await;

    for case in http_cases() {
        let name = case.name;
        let response = send_http(
            address,
            case.method,
            "/v1/traces",
            &case.headers,
            &case.body,
        )
        .await;
        assert_eq!(response.status, case.status, "{name}");
        assert_eq!(
            response.headers.get("content-type").map(String::as_str),
            Some(case.content_type),
            "{name}"
        );
        let (code, message) = error_body(&response);
        assert_eq!(code, case.code.map(|code| code as i32), "{name}");
        assert!(message.contains(case.message), "{name}: {message}");
        if case.status == 405 {
            assert_eq!(
                response.headers.get("allow").map(String::as_str),
                Some("POST")
            );
        }
    }

    // A valid request after all those is still stored.
    let protobuf = data("otlp_protobuf_traces_export_request.binpb");
    let response = send_http(address, "POST", "/v1/traces", &[PROTOBUF], &protobuf).await;
    assert_eq!(response.status, 200);
    // Every POST above is a bad request, but the two GETs are not counted.
    assert_eq!(receivers.counters.bad_requests.load(Ordering::Relaxed), 9);

    let _ = stop.send(());
    let totals = tokio::task::spawn_blocking(move || store.shutdown_blocking().unwrap())
        .await
        .unwrap();
    assert_eq!(totals.spans, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_full_queue_gets_429_then_503() {
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        queue_capacity: 1,
        ..StoreOptions::default()
    };
    let store = Store::open(dir.path(), options).unwrap();
    let receivers = Receivers::new(store.clone(), ReceiverLimits::default());
    let (address, stop) = start_http(receivers.clone()).await;
    let json = data("otlp_json_traces_twin_of_protobuf_sample.json");

    // Bursts of concurrent requests against a queue of one write, until the first 429.
    let mut too_many = None;
    let mut stored_requests = 0;
    for _ in 0..20 {
        let mut burst = tokio::task::JoinSet::new();
        for _ in 0..32 {
            let json = json.clone();
            burst.spawn(
                async move { send_http(address, "POST", "/v1/traces", &[JSON], &json).await },
            );
        }
        while let Some(response) = burst.join_next().await {
            let response = response.unwrap();
            match response.status {
                200 => stored_requests += 1,
                429 => too_many = Some(response),
                other => panic!("unexpected status {other}: {response:?}"),
            }
        }
        if too_many.is_some() {
            break;
        }
    }
    let too_many = too_many.expect("a queue of one write never filled in 20 bursts of 32");
    let retry_after: u64 = too_many.headers["retry-after"].parse().unwrap();
    assert!((1..=5).contains(&retry_after), "{retry_after}");
    let (code, message) = error_body(&too_many);
    assert_eq!(code, Some(tonic::Code::ResourceExhausted as i32));
    assert!(message.contains("write queue full"), "{message}");
    assert!(receivers.counters.busy.load(Ordering::Relaxed) >= 1);

    // Once the store is shut down, the same request gets 503.
    let shutdown_store = store.clone();
    let totals = tokio::task::spawn_blocking(move || shutdown_store.shutdown_blocking().unwrap())
        .await
        .unwrap();
    assert_eq!(totals.spans, 2 * stored_requests);
    let unavailable = send_http(address, "POST", "/v1/traces", &[JSON], &json).await;
    assert_eq!(unavailable.status, 503);
    assert_eq!(unavailable.headers["retry-after"], "5");
    let (code, message) = error_body(&unavailable);
    assert_eq!(code, Some(tonic::Code::Unavailable as i32));
    assert!(message.contains("store unavailable"), "{message}");
    let _ = stop.send(());
}

/// A gRPC response's status code and message, from its headers or trailers.
struct GrpcOutcome {
    code: tonic::Code,
    message: String,
}

/// Sends one unary OTLP trace export on a raw HTTP/2 stream, with `frame` as the whole
/// request body, so a test controls the compressed flag and the length prefix.
async fn send_grpc(address: SocketAddr, encoding: Option<&str>, frame: Vec<u8>) -> GrpcOutcome {
    let tcp = TcpStream::connect(address).await.unwrap();
    let (client, connection) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let mut client = client.ready().await.unwrap();
    let mut request = http::Request::builder()
        .method("POST")
        .uri(format!(
            "http://{address}/opentelemetry.proto.collector.trace.v1.TraceService/Export"
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(encoding) = encoding {
        request = request.header("grpc-encoding", encoding);
    }
    let (response, mut body) = client
        .send_request(request.body(()).unwrap(), false)
        .unwrap();
    // The server may respond before it reads the whole body, and then resets the stream.
    let _ = body.send_data(frame.into(), true);
    let response = response.await.unwrap();

    let (parts, mut response_body) = response.into_parts();
    let mut headers = parts.headers;
    if !headers.contains_key("grpc-status") {
        while let Some(chunk) = response_body.data().await {
            let chunk = chunk.unwrap();
            let _ = response_body.flow_control().release_capacity(chunk.len());
        }
        headers = response_body.trailers().await.unwrap().unwrap_or_default();
    }
    let code = headers["grpc-status"]
        .to_str()
        .unwrap()
        .parse::<i32>()
        .unwrap();
    let message = headers
        .get("grpc-message")
        .map(|value| percent_decode(value.as_bytes()))
        .unwrap_or_default();
    GrpcOutcome {
        code: tonic::Code::from(code),
        message,
    }
}

/// Decodes a `grpc-message` header, which gRPC percent-encodes.
fn percent_decode(encoded: &[u8]) -> String {
    let mut decoded = Vec::with_capacity(encoded.len());
    let mut index = 0;
    while index < encoded.len() {
        if encoded[index] == b'%' && index + 2 < encoded.len() {
            let hex = std::str::from_utf8(&encoded[index + 1..index + 3]).unwrap();
            decoded.push(u8::from_str_radix(hex, 16).unwrap());
            index += 3;
        } else {
            decoded.push(encoded[index]);
            index += 1;
        }
    }
    String::from_utf8(decoded).unwrap()
}

/// Prefixes `message` with the gRPC length-prefixed message header.
fn grpc_frame(compressed: bool, message: &[u8]) -> Vec<u8> {
    let mut frame = vec![u8::from(compressed)];
    frame.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    frame.extend_from_slice(message);
    frame
}

async fn start_grpc_with(
    limits: ReceiverLimits,
) -> (
    SocketAddr,
    Arc<Receivers>,
    Store,
    oneshot::Sender<()>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let receivers = Receivers::new(store.clone(), limits);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve_grpc(listener, receivers.clone(), async {
        let _ = stopped.await;
    }));
    (address, receivers, store, stop, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_read_failures_get_otlp_codes() {
    let limits = ReceiverLimits {
        max_decompressed_bytes: 1 << 20,
        ..ReceiverLimits::default()
    };
    let (address, receivers, store, stop, _dir) = start_grpc_with(limits).await;
    let protobuf = data("otlp_protobuf_traces_export_request.binpb");

    let cases = [
        (
            "truncated protobuf",
            None,
            grpc_frame(false, &protobuf[..100]),
            tonic::Code::InvalidArgument,
            "failed to decode Protobuf message",
        ),
        (
            "corrupt gzip",
            Some("gzip"),
            grpc_frame(true, b"plain text, not gzip"),
            tonic::Code::InvalidArgument,
            "Error decompressing",
        ),
        (
            "message over the decompressed limit",
            None,
            grpc_frame(false, &vec![0; (1 << 20) + 1]),
            tonic::Code::ResourceExhausted,
            "1048576",
        ),
        (
            "valid gzip protobuf",
            Some("gzip"),
            grpc_frame(true, &gzip(&protobuf)),
            tonic::Code::Ok,
            "",
        ),
    ];
    for (name, encoding, frame, code, message) in cases {
        let outcome = send_grpc(address, encoding, frame).await;
        assert_eq!(outcome.code, code, "{name}: {}", outcome.message);
        assert!(
            outcome.message.contains(message),
            "{name}: {}",
            outcome.message
        );
    }
    assert_eq!(receivers.counters.bad_requests.load(Ordering::Relaxed), 3);

    let _ = stop.send(());
    let totals = tokio::task::spawn_blocking(move || store.shutdown_blocking().unwrap())
        .await
        .unwrap();
    assert_eq!(totals.spans, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_gzip_bomb_stops_at_limit() {
    let limits = ReceiverLimits {
        max_decompressed_bytes: 1 << 20,
        ..ReceiverLimits::default()
    };
    let (address, receivers, store, stop, _dir) = start_grpc_with(limits).await;
    // 512 MiB of zeros compress to about 0.5 MB, under the 8 MiB body limit.
    let bomb_size = 512 << 20;
    let bomb = tokio::task::spawn_blocking(move || gzip_bomb(bomb_size))
        .await
        .unwrap();
    assert!(bomb.len() < 1 << 20, "{} compressed bytes", bomb.len());

    let peak_before = peak_rss_bytes();
    let outcome = send_grpc(address, Some("gzip"), grpc_frame(true, &bomb)).await;
    let peak_after = peak_rss_bytes();
    assert_eq!(
        outcome.code,
        tonic::Code::ResourceExhausted,
        "{}",
        outcome.message
    );
    assert!(outcome.message.contains("1048576"), "{}", outcome.message);
    // Inflating the whole bomb would raise the peak by 512 MiB. The limit allows 1 MiB, and
    // the margin covers the other tests of this binary running at the same time.
    let growth = peak_after.saturating_sub(peak_before);
    assert!(growth < 128 << 20, "peak RSS grew by {growth} bytes");
    assert_eq!(receivers.counters.bad_requests.load(Ordering::Relaxed), 1);

    let _ = stop.send(());
    tokio::task::spawn_blocking(move || store.shutdown_blocking().unwrap())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_body_over_limit_is_resource_exhausted() {
    let limits = ReceiverLimits {
        max_body_bytes: 64 << 10,
        max_decompressed_bytes: 1 << 20,
        ..ReceiverLimits::default()
    };
    let (address, receivers, store, stop, _dir) = start_grpc_with(limits).await;
    // The length prefix is under the decompressed limit, so only the body limit stops it.
    let outcome = send_grpc(address, None, grpc_frame(false, &vec![0; 200_000])).await;
    assert_eq!(
        outcome.code,
        tonic::Code::ResourceExhausted,
        "{}",
        outcome.message
    );
    assert!(
        outcome.message.contains("request body over 65536 bytes"),
        "{}",
        outcome.message
    );
    assert_eq!(receivers.counters.bad_requests.load(Ordering::Relaxed), 1);

    let _ = stop.send(());
    tokio::task::spawn_blocking(move || store.shutdown_blocking().unwrap())
        .await
        .unwrap();
}

/// Log bodies of one OTLP logs request: a START and REPORT pair in separate records, a
/// `platform.report` record in the JSON log format, and two records that are no platform
/// data (an application line and an integer body).
fn mixed_log_bodies() -> Vec<serde_json::Value> {
    let platform_report = serde_json::json!({
        "time": "2024-02-09T08:42:44.080Z",
        "type": "platform.report",
        "record": {
            "requestId": "r3",
            "metrics": {
                "durationMs": 1.3,
                "billedDurationMs": 2,
                "memorySizeMB": 128,
                "maxMemoryUsedMB": 68
            }
        }
    });
    vec![
        serde_json::json!({ "stringValue": "START RequestId: r1 Version: $LATEST" }),
        serde_json::json!({ "stringValue": "INFO order 42 created" }),
        serde_json::json!({
            "stringValue": "REPORT RequestId: r1\tDuration: 12.34 ms\tBilled Duration: 13 ms\t\
                            Memory Size: 128 MB\tMax Memory Used: 40 MB\t"
        }),
        serde_json::json!({ "stringValue": platform_report.to_string() }),
        serde_json::json!({ "intValue": "7" }),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_logs_reject_non_platform_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let receivers = Receivers::new(store.clone(), ReceiverLimits::default());
    let (address, stop) = start_http(receivers.clone()).await;
    let log_records: Vec<_> = mixed_log_bodies()
        .into_iter()
        .map(|body| serde_json::json!({ "body": body }))
        .collect();
    let request = serde_json::json!({
        "resourceLogs": [{ "scopeLogs": [{ "logRecords": log_records }] }]
    });

    let response = send_http(
        address,
        "POST",
        "/v1/logs",
        &[JSON],
        request.to_string().as_bytes(),
    )
    .await;
    assert_eq!(response.status, 200);
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    let partial = &body["partialSuccess"];
    assert_eq!(partial["rejectedLogRecords"], "2");
    let message = partial["errorMessage"].as_str().unwrap();
    assert!(
        message.contains("1 rejected: log record is not Lambda platform data"),
        "{message}"
    );
    assert!(
        message.contains("1 rejected: log record body is not a string"),
        "{message}"
    );
    assert_eq!(receivers.counters.rejected_items.load(Ordering::Relaxed), 2);

    let _ = stop.send(());
    let totals = tokio::task::spawn_blocking(move || store.shutdown_blocking().unwrap())
        .await
        .unwrap();
    assert_eq!(totals.invocations, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_logs_reject_non_platform_records() {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    let (address, _receivers, store, stop, _dir) = start_grpc_with(ReceiverLimits::default()).await;
    let mut client = LogsServiceClient::connect(format!("http://{address}"))
        .await
        .unwrap();
    let log_records = mixed_log_bodies()
        .into_iter()
        .map(|body| {
            let value = match body.get("stringValue") {
                Some(text) => any_value::Value::StringValue(text.as_str().unwrap().to_owned()),
                None => any_value::Value::IntValue(7),
            };
            LogRecord {
                body: Some(AnyValue { value: Some(value) }),
                ..LogRecord::default()
            }
        })
        .collect();
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records,
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    };

    let response = client.export(request).await.unwrap().into_inner();
    let partial = response.partial_success.expect("partial success");
    assert_eq!(partial.rejected_log_records, 2);
    assert!(
        partial
            .error_message
            .contains("log record is not Lambda platform data"),
        "{}",
        partial.error_message
    );

    let _ = stop.send(());
    let totals = tokio::task::spawn_blocking(move || store.shutdown_blocking().unwrap())
        .await
        .unwrap();
    assert_eq!(totals.invocations, 2);
}

/// A trace request is read straight into columns while nothing subscribes to the live feed,
/// and through records while something does. Both store the same rows, respond with the same
/// partial success, and the subscriber gets the second request's spans. A JSON request sent
/// before the subscription goes into columns through its decoded messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_traces_reach_dataset_and_feed() {
    use spanbill_collector::store::{DateRange, FeedEvent, Table, scan};

    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let receivers = Receivers::new(store.clone(), ReceiverLimits::default());
    let (address, stop) = start_http(receivers.clone()).await;
    let start = 1_717_000_000_000_000_000;
    let body = |first: u8| {
        request(vec![
            span(vec![first; 8], start, start + 10),
            span(vec![first + 1; 7], start, start + 10),
            span(vec![first + 2; 8], start, start + 20),
        ])
        .encode_to_vec()
    };

    let json = send_http(
        address,
        "POST",
        "/v1/traces",
        &[JSON],
        &data("otlp_json_traces_twin_of_protobuf_sample.json"),
    )
    .await;
    assert_eq!(json.status, 200, "{json:?}");
    let mut responses = Vec::new();
    let unsubscribed = send_http(address, "POST", "/v1/traces", &[PROTOBUF], &body(1)).await;
    responses.push(unsubscribed);
    let mut feed = store.subscribe();
    let subscribed = send_http(address, "POST", "/v1/traces", &[PROTOBUF], &body(11)).await;
    responses.push(subscribed);
    for response in &responses {
        assert_eq!(response.status, 200, "{response:?}");
        let decoded =
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse::decode(
                &response.body[..],
            )
            .unwrap();
        let partial = decoded.partial_success.expect("one span is rejected");
        assert_eq!(partial.rejected_spans, 1);
        assert!(partial.error_message.contains("expected 8 bytes, found 7"));
    }
    let Some(FeedEvent::Batch(batch)) = feed.recv().await else {
        panic!("the subscriber got no batch");
    };
    let batch_span_ids: Vec<String> = batch
        .records
        .spans
        .iter()
        .map(|span| span.span_id.to_hex())
        .collect();
    assert_eq!(batch_span_ids, ["0b0b0b0b0b0b0b0b", "0d0d0d0d0d0d0d0d"]);

    let shutdown_store = store.clone();
    let totals = tokio::task::spawn_blocking(move || shutdown_store.shutdown_blocking().unwrap())
        .await
        .unwrap();
    assert_eq!(totals.spans, 6);
    assert_eq!(receivers.counters.rejected_items.load(Ordering::Relaxed), 2);
    let frame = scan(dir.path(), Table::Spans, DateRange::default())
        .unwrap()
        .unwrap()
        .collect()
        .unwrap();
    let mut stored: Vec<(String, u64)> = frame
        .column("span_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .zip(frame.column("duration_ns").unwrap().u64().unwrap().iter())
        .map(|(id, duration)| (id.unwrap().to_owned(), duration.unwrap()))
        .collect();
    assert_eq!(stored.len(), 6);
    let from_json = ["b6398f586e9f4fe4", "0ce50fbc716fa05f"];
    stored.retain(|(id, _)| !from_json.contains(&id.as_str()));
    stored.sort();
    assert_eq!(
        stored,
        [
            ("0101010101010101".to_owned(), 10),
            ("0303030303030303".to_owned(), 20),
            ("0b0b0b0b0b0b0b0b".to_owned(), 10),
            ("0d0d0d0d0d0d0d0d".to_owned(), 20),
        ]
    );
    let _ = stop.send(());
}

/// A `/telemetry` request: name, headers, body, expected status and a part of the expected
/// message.
type TelemetryCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16, &'a str);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telemetry_and_unknown_paths_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let receivers = Receivers::new(store.clone(), ReceiverLimits::default());
    let (address, stop) = start_http(receivers.clone()).await;

    let batch = data("telemetry_api_batch_on_demand_cold_start_full.json");
    let cases: [TelemetryCase<'_>; 7] = [
        (
            "not JSON",
            vec![],
            b"hello".to_vec(),
            400,
            "invalid Telemetry API batch",
        ),
        (
            "empty body",
            vec![],
            Vec::new(),
            400,
            "invalid Telemetry API batch",
        ),
        (
            "object",
            vec![],
            b"{}".to_vec(),
            400,
            "a JSON object instead of an array",
        ),
        (
            "event without type",
            vec![],
            br#"[{"time": "2024-02-09T08:42:43.512Z"}]"#.to_vec(),
            400,
            "event 0 has no string `type`",
        ),
        (
            "gzip without its header",
            vec![],
            gzip(&batch),
            400,
            "invalid Telemetry API batch",
        ),
        (
            "unknown encoding",
            vec![("Content-Encoding", "br")],
            batch.clone(),
            415,
            "unsupported content encoding `br`",
        ),
        (
            "gzip",
            vec![("Content-Encoding", "gzip")],
            gzip(&batch),
            200,
            "",
        ),
    ];
    for (name, headers, body, status, message) in cases {
        let response = send_http(address, "POST", "/telemetry", &headers, &body).await;
        assert_eq!(response.status, status, "{name}");
        let text = String::from_utf8_lossy(&response.body);
        assert!(text.contains(message), "{name}: {text}");
    }

    let response = send_http(address, "POST", "/v1/trace", &[], b"{}").await;
    assert_eq!(response.status, 404);
    let text = String::from_utf8_lossy(&response.body);
    assert!(text.contains("no endpoint at `/v1/trace`"), "{text}");

    let _ = stop.send(());
    let totals = tokio::task::spawn_blocking(move || store.shutdown_blocking().unwrap())
        .await
        .unwrap();
    // The invocation of the batch sent with gzip.
    assert_eq!(totals.invocations, 1);
}
