//! OTLP/gRPC: the trace, metrics and logs services.
//!
//! A request with rejected items gets OK with a partial success. A full store queue gets
//! `RESOURCE_EXHAUSTED` with a `google.rpc.RetryInfo` detail and an unavailable store
//! `UNAVAILABLE`, which OTLP clients retry.
//!
//! A request body over `max_body_bytes` as sent, or a message over `max_decompressed_bytes`
//! after inflating, gets `RESOURCE_EXHAUSTED`. A message that does not decode gets
//! `INVALID_ARGUMENT`, which OTLP clients do not retry. tonic 0.14 reports decode failures
//! as `INTERNAL` and a frame over its size limit as `OUT_OF_RANGE`, so [`Checked`] recodes
//! both. The handlers here never return either code.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message as _;
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::codegen::{BoxFuture, Bytes, Service, http};
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

use crate::otlp::{self, Converted, Encoding};
use crate::platform::ReadOptions;
use crate::store::{OtlpRequest, StoreError};

use super::Receivers;
use super::status::RpcStatus;

/// Serves the gRPC receivers on `listener` until `shutdown` resolves.
pub async fn serve_grpc(
    listener: TcpListener,
    receivers: Arc<Receivers>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    // tonic 0.14 checks this limit against each frame as sent and stops inflating a
    // compressed message once its output reaches the limit, so a compression bomb costs at
    // most `limit` bytes of memory.
    let limit = receivers.limits.max_decompressed_bytes;
    let handlers = Handlers {
        receivers: receivers.clone(),
    };
    tonic::transport::Server::builder()
        .add_service(Checked {
            inner: TraceServiceServer::new(handlers.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(limit),
            receivers: receivers.clone(),
        })
        .add_service(Checked {
            inner: MetricsServiceServer::new(handlers.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(limit),
            receivers: receivers.clone(),
        })
        .add_service(Checked {
            inner: LogsServiceServer::new(handlers)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(limit),
            receivers,
        })
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
}

/// A generated OTLP service behind two checks: the request body as sent is capped at
/// `max_body_bytes`, and failures to read the request message get the codes OTLP expects.
#[derive(Debug, Clone)]
struct Checked<S> {
    inner: S,
    receivers: Arc<Receivers>,
}

impl<S: NamedService> NamedService for Checked<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for Checked<S>
where
    S: Service<
            http::Request<LimitedBody<B>>,
            Response = http::Response<tonic::body::Body>,
            Error = Infallible,
        >,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_owned();
        let limit = self.receivers.limits.max_body_bytes;
        let request = request.map(|inner| LimitedBody {
            inner,
            read: 0,
            limit,
        });
        let response = self.inner.call(request);
        let receivers = self.receivers.clone();
        Box::pin(async move {
            let mut response = response.await?;
            recode_read_failure(&receivers, &path, response.headers_mut());
            Ok(response)
        })
    }
}

/// Recodes a trailers-only error response from reading the request: `INTERNAL` (a message
/// or compressed data that does not decode) becomes `INVALID_ARGUMENT`, and `OUT_OF_RANGE`
/// (a frame over the size limit) becomes `RESOURCE_EXHAUSTED`. Every bad request is counted.
fn recode_read_failure(receivers: &Receivers, path: &str, headers: &mut http::HeaderMap) {
    let Some(code) = headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<i32>().ok())
        .map(Code::from)
    else {
        return;
    };
    let recoded = match code {
        Code::Internal => Code::InvalidArgument,
        Code::OutOfRange => Code::ResourceExhausted,
        Code::InvalidArgument => code,
        // The handlers' only RESOURCE_EXHAUSTED without details is a batch too large for the
        // log. A full store queue carries `RetryInfo` details and is not a bad request.
        Code::ResourceExhausted if !headers.contains_key("grpc-status-details-bin") => code,
        _ => return,
    };
    let message = headers
        .get("grpc-message")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    receivers.counters.bad_request(path, &message);
    headers.insert("grpc-status", http::HeaderValue::from(recoded as i32));
}

/// A request body that fails with `RESOURCE_EXHAUSTED` once more than `limit` bytes arrive.
#[derive(Debug)]
struct LimitedBody<B> {
    inner: B,
    read: usize,
    limit: usize,
}

impl<B> http_body::Body for LimitedBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Status>>> {
        let frame = match ready!(Pin::new(&mut self.inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(error)) => return Poll::Ready(Some(Err(Status::from_error(error.into())))),
            None => return Poll::Ready(None),
        };
        if let Some(data) = frame.data_ref() {
            self.read = self.read.saturating_add(data.len());
            if self.read > self.limit {
                return Poll::Ready(Some(Err(Status::resource_exhausted(format!(
                    "request body over {} bytes, the collector's limit (`spanbill collect \
                     --max-body-bytes`); send smaller batches",
                    self.limit
                )))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The OTLP export handlers.
#[derive(Debug, Clone)]
struct Handlers {
    receivers: Arc<Receivers>,
}

impl Handlers {
    async fn store(
        &self,
        converted: Converted,
        request: Option<OtlpRequest>,
    ) -> Result<(i64, String), Status> {
        let rejected = converted.rejected.len();
        let message = converted.error_message();
        self.receivers
            .store(converted.records, request.as_ref(), rejected)
            .await
            .map_err(|error| store_status(&error))?;
        Ok((rejected as i64, message))
    }
}

/// Maps a store error to a status. A full write queue gets `RESOURCE_EXHAUSTED` with a retry
/// delay, and a store that failed or is shutting down gets `UNAVAILABLE`. A batch too large
/// for the log gets `RESOURCE_EXHAUSTED` without a delay, because a retry would fail again.
fn store_status(error: &StoreError) -> Status {
    match error {
        StoreError::Busy { retry_after } => {
            RpcStatus::new(Code::ResourceExhausted, error.to_string())
                .with_retry_delay(*retry_after)
                .into_tonic()
        }
        StoreError::BatchTooLarge { .. } => Status::resource_exhausted(error.to_string()),
        _ => Status::unavailable(error.to_string()),
    }
}

#[tonic::async_trait]
impl TraceService for Handlers {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let request = request.into_inner();
        let limits = self.receivers.limits.otlp;
        let logged = OtlpRequest::Traces {
            body: request.encode_to_vec().into(),
            encoding: Encoding::Protobuf,
            limits,
        };
        let (rejected, message) = if let Some(frames) = self.receivers.request_frames(&request) {
            let (frames, rejected) = frames.map_err(|error| store_status(&error))?;
            drop(request);
            self.receivers
                .store_frames(frames, &logged, rejected.len())
                .await
                .map_err(|error| store_status(&error))?;
            (rejected.len() as i64, otlp::rejection_message(&rejected))
        } else {
            let converted = otlp::convert_traces(request, &limits);
            self.store(converted, Some(logged)).await?
        };
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: (rejected > 0).then_some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: message,
            }),
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Handlers {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let request = request.into_inner();
        let limits = self.receivers.limits.otlp;
        let logged = OtlpRequest::Metrics {
            body: request.encode_to_vec().into(),
            encoding: Encoding::Protobuf,
            limits,
        };
        let converted = otlp::convert_metrics(request, &limits);
        let (rejected, message) = self.store(converted, Some(logged)).await?;
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: (rejected > 0).then_some(ExportMetricsPartialSuccess {
                rejected_data_points: rejected,
                error_message: message,
            }),
        }))
    }
}

#[tonic::async_trait]
impl LogsService for Handlers {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let converted = otlp::convert_logs(request.get_ref(), &ReadOptions::default())
            .map_err(|error| Status::invalid_argument(error.to_string()))?;
        let (rejected, message) = self.store(converted, None).await?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: (rejected > 0).then_some(ExportLogsPartialSuccess {
                rejected_log_records: rejected,
                error_message: message,
            }),
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use prost::Message as _;

    use super::*;

    #[test]
    fn busy_store_is_resource_exhausted_with_retry_info() {
        let status = store_status(&StoreError::Busy {
            retry_after: Duration::from_secs(3),
        });
        assert_eq!(status.code(), Code::ResourceExhausted);
        let details = RpcStatus::decode(status.details()).unwrap();
        assert_eq!(details.retry_delay(), Some(Duration::from_secs(3)));
    }

    #[test]
    fn stopped_store_is_unavailable() {
        let status = store_status(&StoreError::Unavailable {
            reason: "shutting down".to_owned(),
        });
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.details().is_empty());
    }
}
