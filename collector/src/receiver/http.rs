//! OTLP/HTTP on `/v1/traces`, `/v1/metrics` and `/v1/logs`, and the Telemetry API endpoint
//! on `/telemetry`.
//!
//! Status codes follow the OTLP/HTTP specification. A request with rejected items gets 200
//! with a partial-success body. A body that does not decode gets 400, a method other than
//! POST 405, a body over the limit 413 and an unknown content type 415. A full store queue
//! gets 429 and an unavailable store 503, both with `Retry-After`, and OTLP clients retry
//! both.
//!
//! Error bodies are a `google.rpc.Status` (code and message) in the request's encoding:
//! protobuf for `application/x-protobuf` and JSON for `application/json`. When the request's
//! content type is neither, as for a 415, the body is the message as plain text.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message as _;
use tokio::net::TcpListener;
use tonic::Code;

use crate::model::Records;
use crate::otlp::{self, Converted, Encoding};
use crate::platform::{self, ReadOptions};
use crate::store::{OtlpRequest, StoreError};

use super::body::{self, BodyError};
use super::status::RpcStatus;
use super::{Receivers, SpanFrames};

/// Serves the HTTP receivers on `listener` until `shutdown` resolves.
pub async fn serve_http(
    listener: TcpListener,
    receivers: Arc<Receivers>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(receivers))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Builds the HTTP routes.
pub fn router(receivers: Arc<Receivers>) -> Router {
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/metrics", post(metrics))
        .route("/v1/logs", post(logs))
        .route("/telemetry", post(telemetry))
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        // Bodies are read with the receiver's own limit, so the 413 response follows OTLP.
        .layer(DefaultBodyLimit::disable())
        .with_state(receivers)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Traces,
    Metrics,
    Logs,
}

/// Reads, measures and decompresses a request body, and finds its encoding.
async fn read_request(
    receivers: &Receivers,
    request: Request,
) -> Result<(Encoding, Bytes), Response> {
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let Some(encoding) = request_encoding(&headers) else {
        let message = format!(
            "unsupported content type `{}`: send application/x-protobuf or application/json",
            content_type(&headers).unwrap_or_default()
        );
        receivers.counters.bad_request(&path, &message);
        let status = RpcStatus::new(Code::InvalidArgument, message);
        return Err(error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &status,
            None,
        ));
    };

    let limits = receivers.limits;
    let raw = match axum::body::to_bytes(request.into_body(), limits.max_body_bytes).await {
        Ok(raw) => raw,
        Err(error) => {
            let message = format!(
                "request body over {} bytes, the collector's limit (`spanbill collect \
                 --max-body-bytes`), or unreadable: {error}",
                limits.max_body_bytes
            );
            receivers.counters.bad_request(&path, &error);
            let status = RpcStatus::new(Code::ResourceExhausted, message);
            return Err(error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &status,
                Some(encoding),
            ));
        }
    };
    let content_encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok());
    match body::decode(content_encoding, raw, limits.max_decompressed_bytes) {
        Ok(decoded) => Ok((encoding, decoded)),
        Err(error) => {
            receivers.counters.bad_request(&path, &error);
            let (http_status, code) = match error {
                BodyError::TooLarge { .. } => {
                    (StatusCode::PAYLOAD_TOO_LARGE, Code::ResourceExhausted)
                }
                BodyError::UnsupportedEncoding(_) => {
                    (StatusCode::UNSUPPORTED_MEDIA_TYPE, Code::Unimplemented)
                }
                BodyError::Corrupt { .. } => (StatusCode::BAD_REQUEST, Code::InvalidArgument),
            };
            let status = RpcStatus::new(code, error.to_string());
            Err(error_response(http_status, &status, Some(encoding)))
        }
    }
}

/// Returns the media type of `Content-Type`, lowercase and without parameters.
fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media_type = value.split(';').next()?.trim().to_ascii_lowercase();
    Some(media_type)
}

/// Returns the OTLP encoding that `Content-Type` names, or `None` for any other type.
fn request_encoding(headers: &HeaderMap) -> Option<Encoding> {
    match content_type(headers).as_deref() {
        Some("application/x-protobuf" | "application/protobuf") => Some(Encoding::Protobuf),
        Some("application/json") => Some(Encoding::Json),
        _ => None,
    }
}

/// Builds an error response with `status` in `encoding`, or as plain text when the
/// request's encoding is unknown.
fn error_response(
    http_status: StatusCode,
    status: &RpcStatus,
    encoding: Option<Encoding>,
) -> Response {
    match encoding {
        Some(Encoding::Protobuf) => (
            http_status,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            status.encode_to_vec(),
        )
            .into_response(),
        Some(Encoding::Json) => (
            http_status,
            [(header::CONTENT_TYPE, "application/json")],
            status.to_json(),
        )
            .into_response(),
        None => (http_status, status.message.clone()).into_response(),
    }
}

/// Responds with 404, naming the endpoints, to a request for any other path.
async fn not_found(uri: axum::http::Uri) -> Response {
    let message = format!(
        "no endpoint at `{}`: POST OTLP to /v1/traces, /v1/metrics or /v1/logs, and \
         Telemetry API batches to /telemetry",
        uri.path()
    );
    (StatusCode::NOT_FOUND, message).into_response()
}

/// Responds with 405 to a request with a method other than POST on a known path.
async fn method_not_allowed(headers: HeaderMap) -> Response {
    let status = RpcStatus::new(
        Code::Unimplemented,
        "method not allowed: send OTLP and Telemetry API requests with POST",
    );
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        &status,
        request_encoding(&headers),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

async fn traces(State(receivers): State<Arc<Receivers>>, request: Request) -> Response {
    export(&receivers, request, Signal::Traces).await
}

async fn metrics(State(receivers): State<Arc<Receivers>>, request: Request) -> Response {
    export(&receivers, request, Signal::Metrics).await
}

async fn logs(State(receivers): State<Arc<Receivers>>, request: Request) -> Response {
    export(&receivers, request, Signal::Logs).await
}

async fn export(receivers: &Receivers, request: Request, signal: Signal) -> Response {
    let path = request.uri().path().to_owned();
    let (encoding, body) = match read_request(receivers, request).await {
        Ok(read) => read,
        Err(response) => return response,
    };
    let decoded = match decode(signal, encoding, body, receivers) {
        Ok(decoded) => decoded,
        Err(error) => {
            receivers.counters.bad_request(&path, &error);
            let status = RpcStatus::new(Code::InvalidArgument, error);
            return error_response(StatusCode::BAD_REQUEST, &status, Some(encoding));
        }
    };
    let (stored, rejected) = match decoded {
        Decoded::Records(converted, request) => {
            let rejected = converted.rejected;
            let stored = receivers
                .store(converted.records, request.as_ref(), rejected.len())
                .await;
            (stored, rejected)
        }
        Decoded::Frames(frames, request) => match frames {
            Ok((frames, rejected)) => {
                let stored = receivers
                    .store_frames(frames, &request, rejected.len())
                    .await;
                (stored, rejected)
            }
            Err(error) => return store_error_response(&error, Some(encoding)),
        },
    };
    if let Err(error) = stored {
        return store_error_response(&error, Some(encoding));
    }
    let message = otlp::rejection_message(&rejected);
    success_response(signal, encoding, rejected.len() as i64, message)
}

/// A decoded body, ready for the store.
enum Decoded {
    /// Records, with the OTLP request to log when the signal is traces or metrics.
    Records(Converted, Option<OtlpRequest>),
    /// Span columns read straight from a trace request, and the request to log.
    Frames(Result<SpanFrames, StoreError>, OtlpRequest),
}

/// Decodes and converts a body. The error is the message of a 400 response. Trace requests
/// go straight into span columns while nothing subscribes to the store's live feed. They
/// are read from the body without the message types when the wire reader (protobuf) or the
/// borrowing JSON reader handles their encoding.
fn decode(
    signal: Signal,
    encoding: Encoding,
    body: Bytes,
    receivers: &Receivers,
) -> Result<Decoded, String> {
    let limits = receivers.limits.otlp;
    match signal {
        Signal::Traces => {
            if encoding == Encoding::Json
                && let Some((frames, protobuf)) = receivers.json_frames(&body)
            {
                // The request is logged in protobuf, which is less than half the size of
                // its JSON, so the log writes fewer bytes for the same rows.
                let logged = OtlpRequest::Traces {
                    body: Bytes::from(protobuf),
                    encoding: Encoding::Protobuf,
                    limits,
                };
                return Ok(Decoded::Frames(frames, logged));
            }
            let wire = match encoding {
                Encoding::Protobuf => receivers.wire_frames(&body),
                Encoding::Json => None,
            };
            let frames = if let Some(frames) = wire {
                frames
            } else {
                let request =
                    otlp::decode_traces(&body, encoding).map_err(|error| error.to_string())?;
                let Some(frames) = receivers.request_frames(&request) else {
                    let converted = otlp::convert_traces(request, &limits);
                    let logged = OtlpRequest::Traces {
                        body,
                        encoding,
                        limits,
                    };
                    return Ok(Decoded::Records(converted, Some(logged)));
                };
                frames
            };
            let logged = OtlpRequest::Traces {
                body,
                encoding,
                limits,
            };
            Ok(Decoded::Frames(frames, logged))
        }
        Signal::Metrics => {
            let request =
                otlp::decode_metrics(&body, encoding).map_err(|error| error.to_string())?;
            let converted = otlp::convert_metrics(request, &limits);
            let logged = OtlpRequest::Metrics {
                body,
                encoding,
                limits,
            };
            Ok(Decoded::Records(converted, Some(logged)))
        }
        Signal::Logs => {
            let request = otlp::decode_logs(&body, encoding).map_err(|error| error.to_string())?;
            let converted = otlp::convert_logs(&request, &ReadOptions::default())
                .map_err(|error| error.to_string())?;
            Ok(Decoded::Records(converted, None))
        }
    }
}

/// Seconds a client should wait after a 503 from an unavailable store.
const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

/// Maps a store error to a response. A full write queue means the client sends faster than
/// the store drains, so it gets 429. A store that failed or is shutting down gets 503. Both
/// carry `Retry-After`. A batch too large for one log frame gets 413, because a retry of the
/// same request would fail again.
fn store_error_response(error: &StoreError, encoding: Option<Encoding>) -> Response {
    let (http_status, code, retry_after) = match error {
        StoreError::Busy { retry_after } => (
            StatusCode::TOO_MANY_REQUESTS,
            Code::ResourceExhausted,
            Some(retry_after.as_secs().max(1)),
        ),
        StoreError::BatchTooLarge { .. } => {
            (StatusCode::PAYLOAD_TOO_LARGE, Code::ResourceExhausted, None)
        }
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            Code::Unavailable,
            Some(UNAVAILABLE_RETRY_AFTER_SECS),
        ),
    };
    let status = RpcStatus::new(code, error.to_string());
    let mut response = error_response(http_status, &status, encoding);
    if let Some(seconds) = retry_after {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_str(&seconds.to_string()).expect("digits are a valid header"),
        );
    }
    response
}

fn success_response(
    signal: Signal,
    encoding: Encoding,
    rejected: i64,
    message: String,
) -> Response {
    let partial = rejected > 0 || !message.is_empty();
    match encoding {
        Encoding::Protobuf => {
            let bytes = match signal {
                Signal::Traces => ExportTraceServiceResponse {
                    partial_success: partial.then_some(ExportTracePartialSuccess {
                        rejected_spans: rejected,
                        error_message: message,
                    }),
                }
                .encode_to_vec(),
                Signal::Metrics => ExportMetricsServiceResponse {
                    partial_success: partial.then_some(ExportMetricsPartialSuccess {
                        rejected_data_points: rejected,
                        error_message: message,
                    }),
                }
                .encode_to_vec(),
                Signal::Logs => ExportLogsServiceResponse {
                    partial_success: partial.then_some(ExportLogsPartialSuccess {
                        rejected_log_records: rejected,
                        error_message: message,
                    }),
                }
                .encode_to_vec(),
            };
            (
                [(header::CONTENT_TYPE, "application/x-protobuf")],
                Body::from(Bytes::from(bytes)),
            )
                .into_response()
        }
        Encoding::Json => {
            let rejected_field = match signal {
                Signal::Traces => "rejectedSpans",
                Signal::Metrics => "rejectedDataPoints",
                Signal::Logs => "rejectedLogRecords",
            };
            let body = if partial {
                serde_json::json!({
                    "partialSuccess": {
                        rejected_field: rejected.to_string(),
                        "errorMessage": message,
                    }
                })
            } else {
                serde_json::json!({})
            };
            (
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
    }
}

/// Takes a Telemetry API batch (a JSON array of `platform.*` records) that an extension
/// forwards, and stores the invocations the platform reader builds from it.
async fn telemetry(State(receivers): State<Arc<Receivers>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let limits = receivers.limits;
    let raw = match axum::body::to_bytes(request.into_body(), limits.max_body_bytes).await {
        Ok(raw) => raw,
        Err(error) => {
            receivers.counters.bad_request(&path, &error);
            let message = format!(
                "request body over {} bytes, the collector's limit (`spanbill collect \
                 --max-body-bytes`), or unreadable: {error}",
                limits.max_body_bytes
            );
            return (StatusCode::PAYLOAD_TOO_LARGE, message).into_response();
        }
    };
    let content_encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok());
    let raw = match body::decode(content_encoding, raw, limits.max_decompressed_bytes) {
        Ok(raw) => raw,
        Err(error) => {
            receivers.counters.bad_request(&path, &error);
            let status = match error {
                BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                BodyError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                BodyError::Corrupt { .. } => StatusCode::BAD_REQUEST,
            };
            return (status, error.to_string()).into_response();
        }
    };
    if let Err(message) = check_telemetry_batch(&raw) {
        receivers.counters.bad_request(&path, &message);
        return (StatusCode::BAD_REQUEST, message).into_response();
    }
    let read = match platform::read_bytes("telemetry api", &raw, &ReadOptions::default()) {
        Ok(read) => read,
        Err(error) => {
            receivers.counters.bad_request(&path, &error);
            return (StatusCode::BAD_REQUEST, error.to_string()).into_response();
        }
    };
    let records = Records {
        invocations: read.invocations,
        ..Records::default()
    };
    match receivers
        .store(records, None, read.summary.problem_count)
        .await
    {
        Ok(()) => StatusCode::OK.into_response(),
        // The Telemetry API has no error body format, so errors are plain text.
        Err(error) => store_error_response(&error, None),
    }
}

/// Checks that `body` is a Telemetry API batch: a JSON array of objects that each have a
/// string `type`. The error is the message of the 400 response.
fn check_telemetry_batch(body: &[u8]) -> Result<(), String> {
    let fix = "send a JSON array of Telemetry API events such as \
               [{\"time\": \"...\", \"type\": \"platform.report\", \"record\": {...}}]";
    let batch: serde_json::Value = serde_json::from_slice(body)
        .map_err(|error| format!("invalid Telemetry API batch: {error}; {fix}"))?;
    let Some(events) = batch.as_array() else {
        return Err(format!(
            "invalid Telemetry API batch: the body is a JSON {} instead of an array; {fix}",
            json_kind(&batch)
        ));
    };
    for (index, event) in events.iter().enumerate() {
        if !event.get("type").is_some_and(serde_json::Value::is_string) {
            return Err(format!(
                "invalid Telemetry API batch: event {index} has no string `type`; {fix}"
            ));
        }
    }
    Ok(())
}

/// Returns the name of a JSON value's kind, for messages.
fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn body_status(response: Response) -> RpcStatus {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        RpcStatus::decode(bytes).unwrap()
    }

    #[tokio::test]
    async fn busy_store_gets_429_with_retry_after() {
        let error = StoreError::Busy {
            retry_after: Duration::from_secs(2),
        };
        let response = store_error_response(&error, Some(Encoding::Protobuf));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/x-protobuf"
        );
        let status = body_status(response).await;
        assert_eq!(status.code, Code::ResourceExhausted as i32);
        assert_eq!(status.message, error.to_string());
    }

    #[tokio::test]
    async fn unavailable_store_gets_503_with_retry_after() {
        let error = StoreError::Unavailable {
            reason: "shutting down".to_owned(),
        };
        let response = store_error_response(&error, Some(Encoding::Protobuf));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
        let status = body_status(response).await;
        assert_eq!(status.code, Code::Unavailable as i32);
        assert_eq!(status.message, "store unavailable: shutting down");
    }

    #[tokio::test]
    async fn oversized_batch_gets_413_without_retry_after() {
        let error = StoreError::BatchTooLarge { bytes: 1 << 30 };
        let response = store_error_response(&error, None);
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn content_type_ignores_parameters_and_case() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/JSON; charset=utf-8"),
        );
        assert_eq!(content_type(&headers).as_deref(), Some("application/json"));
    }
}
