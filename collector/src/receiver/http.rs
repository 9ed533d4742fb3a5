//! OTLP/HTTP on `/v1/traces`, `/v1/metrics` and `/v1/logs`, and the Telemetry API endpoint
//! on `/telemetry`.
//!
//! Status codes follow the OTLP/HTTP specification. A request with rejected items gets 200
//! with a partial-success body. A body that does not decode gets 400, a method other than
//! POST 405, a body over the limit 413 and an unknown content type 415. When the store
//! cannot keep up, the response is 503 with `Retry-After`.
//!
//! NOTE: error responses carry a plain-text message. OTLP asks for a `google.rpc.Status`
//! message in the request's encoding, which clients only log.

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

use crate::model::Records;
use crate::otlp::{self, Converted, Encoding};
use crate::platform::{self, ReadOptions};
use crate::store::StoreError;

use super::Receivers;
use super::body::{self, BodyError};

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
) -> Result<(Encoding, Vec<u8>), Response> {
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let encoding = match content_type(&headers).as_deref() {
        Some("application/x-protobuf" | "application/protobuf") => Encoding::Protobuf,
        Some("application/json") => Encoding::Json,
        other => {
            let message = format!(
                "unsupported content type `{}`: send application/x-protobuf or application/json",
                other.unwrap_or("")
            );
            receivers.counters.bad_request(&path, &message);
            return Err((StatusCode::UNSUPPORTED_MEDIA_TYPE, message).into_response());
        }
    };

    let limits = receivers.limits;
    let raw = match axum::body::to_bytes(request.into_body(), limits.max_body_bytes).await {
        Ok(raw) => raw,
        Err(error) => {
            let message = format!(
                "request body over {} bytes or unreadable",
                limits.max_body_bytes
            );
            receivers.counters.bad_request(&path, &error);
            return Err((StatusCode::PAYLOAD_TOO_LARGE, message).into_response());
        }
    };
    let content_encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok());
    match body::decode(content_encoding, &raw, limits.max_decompressed_bytes) {
        Ok(decoded) => Ok((encoding, decoded)),
        Err(error) => {
            receivers.counters.bad_request(&path, &error);
            let status = match error {
                BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                BodyError::UnsupportedEncoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                BodyError::Corrupt { .. } => StatusCode::BAD_REQUEST,
            };
            Err((status, error.to_string()).into_response())
        }
    }
}

/// Returns the media type of `Content-Type`, lowercase and without parameters.
fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media_type = value.split(';').next()?.trim().to_ascii_lowercase();
    Some(media_type)
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
    let converted = match decode(signal, encoding, &body, receivers) {
        Ok(converted) => converted,
        Err(error) => {
            receivers.counters.bad_request(&path, &error);
            return (StatusCode::BAD_REQUEST, error).into_response();
        }
    };

    let rejected = converted.rejected.len();
    let message = converted.error_message();
    if let Err(error) = receivers.store(converted.records, rejected).await {
        return store_error_response(&error);
    }
    success_response(signal, encoding, rejected as i64, message)
}

/// Decodes and converts a body; the error is the message of a 400 response.
fn decode(
    signal: Signal,
    encoding: Encoding,
    body: &[u8],
    receivers: &Receivers,
) -> Result<Converted, String> {
    let limits = &receivers.limits.otlp;
    match signal {
        Signal::Traces => otlp::decode_traces(body, encoding)
            .map(|request| otlp::convert_traces(request, limits))
            .map_err(|error| error.to_string()),
        Signal::Metrics => otlp::decode_metrics(body, encoding)
            .map(|request| otlp::convert_metrics(request, limits))
            .map_err(|error| error.to_string()),
        Signal::Logs => {
            let request = otlp::decode_logs(body, encoding).map_err(|error| error.to_string())?;
            let (text, _) = otlp::log_bodies(&request);
            let read = platform::read_bytes("otlp logs", text.as_bytes(), &ReadOptions::default())
                .map_err(|error| error.to_string())?;
            Ok(Converted {
                records: Records {
                    invocations: read.invocations,
                    ..Records::default()
                },
                rejected: Vec::new(),
            })
        }
    }
}

pub(super) fn store_error_response(error: &StoreError) -> Response {
    let retry_after = match error {
        StoreError::Busy { retry_after } => retry_after.as_secs().max(1),
        _ => 5,
    };
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response();
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_str(&retry_after.to_string()).expect("digits are a valid header"),
    );
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
    let limits = receivers.limits;
    let raw = match axum::body::to_bytes(request.into_body(), limits.max_body_bytes).await {
        Ok(raw) => raw,
        Err(error) => {
            receivers.counters.bad_request(&path, &error);
            return StatusCode::PAYLOAD_TOO_LARGE.into_response();
        }
    };
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
    match receivers.store(records, read.summary.problem_count).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => store_error_response(&error),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn busy_store_gets_503_with_retry_after() {
        let response = store_error_response(&StoreError::Busy {
            retry_after: Duration::from_secs(2),
        });
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
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
