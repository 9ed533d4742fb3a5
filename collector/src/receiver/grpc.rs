//! OTLP/gRPC: the trace, metrics and logs services.
//!
//! A request with rejected items gets OK with a partial success, and a request the store
//! cannot take now gets `UNAVAILABLE`, which OTLP clients retry.
//!
//! NOTE: a message that does not decode gets `INTERNAL` from tonic-prost's codec, where
//! OTLP expects `INVALID_ARGUMENT`; clients treat both as not retryable.

use std::future::Future;
use std::sync::Arc;

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
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::model::Records;
use crate::otlp::{self, Converted};
use crate::platform::{self, ReadOptions};
use crate::store::StoreError;

use super::Receivers;

/// Serves the gRPC receivers on `listener` until `shutdown` resolves.
pub async fn serve_grpc(
    listener: TcpListener,
    receivers: Arc<Receivers>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    // NOTE: tonic inflates a compressed message before it checks the size limit, so the
    // decompressed limit bounds what is kept, not the work of inflating it.
    let limit = receivers.limits.max_decompressed_bytes;
    let service = Service { receivers };
    tonic::transport::Server::builder()
        .add_service(
            TraceServiceServer::new(service.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(limit),
        )
        .add_service(
            MetricsServiceServer::new(service.clone())
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(limit),
        )
        .add_service(
            LogsServiceServer::new(service)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .max_decoding_message_size(limit),
        )
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
}

#[derive(Debug, Clone)]
struct Service {
    receivers: Arc<Receivers>,
}

impl Service {
    async fn store(&self, converted: Converted) -> Result<(i64, String), Status> {
        let rejected = converted.rejected.len();
        let message = converted.error_message();
        self.receivers
            .store(converted.records, rejected)
            .await
            .map_err(|error| store_status(&error))?;
        Ok((rejected as i64, message))
    }
}

fn store_status(error: &StoreError) -> Status {
    Status::unavailable(error.to_string())
}

#[tonic::async_trait]
impl TraceService for Service {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let converted = otlp::convert_traces(request.into_inner(), &self.receivers.limits.otlp);
        let (rejected, message) = self.store(converted).await?;
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: (rejected > 0).then_some(ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: message,
            }),
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Service {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let converted = otlp::convert_metrics(request.into_inner(), &self.receivers.limits.otlp);
        let (rejected, message) = self.store(converted).await?;
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: (rejected > 0).then_some(ExportMetricsPartialSuccess {
                rejected_data_points: rejected,
                error_message: message,
            }),
        }))
    }
}

#[tonic::async_trait]
impl LogsService for Service {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let (text, _) = otlp::log_bodies(request.get_ref());
        let read = platform::read_bytes("otlp logs", text.as_bytes(), &ReadOptions::default())
            .map_err(|error| Status::invalid_argument(error.to_string()))?;
        let converted = Converted {
            records: Records {
                invocations: read.invocations,
                ..Records::default()
            },
            rejected: Vec::new(),
        };
        let (rejected, message) = self.store(converted).await?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: (rejected > 0).then_some(ExportLogsPartialSuccess {
                rejected_log_records: rejected,
                error_message: message,
            }),
        }))
    }
}
