//! Network receivers: OTLP/HTTP, OTLP/gRPC and a Lambda Telemetry API endpoint, all
//! writing through the [`Store`](crate::store::Store).
//!
//! A request gets a success response only after its records are durable in the store's
//! write-ahead log. Two store errors are retryable in OTLP, and they differ in cause:
//!
//! - the store's write queue is full, because clients send faster than it drains: HTTP 429
//!   with `Retry-After`, gRPC `RESOURCE_EXHAUSTED` with a `google.rpc.RetryInfo` detail;
//! - the store failed or is shutting down: HTTP 503 with `Retry-After`, gRPC `UNAVAILABLE`.

mod body;
mod grpc;
mod http;
mod status;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::model::Records;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

use crate::otlp;
use crate::store::columns::SpanRows;
use crate::store::{OtlpRequest, PendingWrite, Store, StoreError, Table, WriteFrames};

/// Span columns read straight from a trace request, with the reasons of the spans it
/// rejected.
pub(crate) type SpanFrames = (WriteFrames, Vec<otlp::Rejection>);

pub use body::{BodyError, decode as decode_body};
pub use grpc::serve_grpc;
pub use http::{router, serve_http};
pub use status::{AnyMessage, ProtoDuration, RetryInfo, RpcStatus};

/// Request limits of the receivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverLimits {
    /// Largest request body accepted as sent, in bytes; larger ones get 413 or
    /// `RESOURCE_EXHAUSTED`. Default 8 MiB.
    pub max_body_bytes: usize,
    /// Largest size a compressed body may inflate to, in bytes. Larger ones get 413 or
    /// `RESOURCE_EXHAUSTED`. gRPC also applies it to each message as sent. Default 32 MiB.
    pub max_decompressed_bytes: usize,
    /// Attribute limits of the OTLP conversion.
    pub otlp: otlp::Limits,
}

impl Default for ReceiverLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 << 20,
            max_decompressed_bytes: 32 << 20,
            otlp: otlp::Limits::default(),
        }
    }
}

/// Totals since the receivers started, reported at shutdown.
#[derive(Debug, Default)]
pub struct Counters {
    /// Requests whose records were stored.
    pub requests: AtomicU64,
    /// Spans stored.
    pub spans: AtomicU64,
    /// Metric points stored.
    pub metric_points: AtomicU64,
    /// Invocations stored.
    pub invocations: AtomicU64,
    /// Spans, points and log records rejected as invalid.
    pub rejected_items: AtomicU64,
    /// Requests rejected as undecodable, too large or of an unknown content type.
    pub bad_requests: AtomicU64,
    /// Requests turned away because the store was busy.
    pub busy: AtomicU64,
    warned_bad_request: AtomicBool,
    warned_busy: AtomicBool,
}

impl Counters {
    /// Counts a bad request, logging the first one.
    pub(crate) fn bad_request(&self, path: &str, error: &dyn std::fmt::Display) {
        self.bad_requests.fetch_add(1, Ordering::Relaxed);
        if !self.warned_bad_request.swap(true, Ordering::Relaxed) {
            tracing::warn!(path, %error, "rejected a bad request; later ones are only counted");
        }
    }

    /// Counts a request turned away while the store is busy, logging the first one.
    pub(crate) fn busy(&self) {
        self.busy.fetch_add(1, Ordering::Relaxed);
        if !self.warned_busy.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "store queue full; responding with retry-later, later ones are only counted"
            );
        }
    }

    fn stored(&self, (spans, points, invocations): (usize, usize, usize)) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.spans.fetch_add(spans as u64, Ordering::Relaxed);
        self.metric_points
            .fetch_add(points as u64, Ordering::Relaxed);
        self.invocations
            .fetch_add(invocations as u64, Ordering::Relaxed);
    }

    /// Returns a one-line summary of the counters.
    #[must_use]
    pub fn summary(&self) -> String {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        format!(
            "{} requests stored: {} spans, {} metric points, {} invocations; {} items rejected, {} bad requests, {} busy",
            load(&self.requests),
            load(&self.spans),
            load(&self.metric_points),
            load(&self.invocations),
            load(&self.rejected_items),
            load(&self.bad_requests),
            load(&self.busy),
        )
    }
}

/// State shared by the receivers.
#[derive(Debug)]
pub struct Receivers {
    /// Store that receives the records.
    pub store: Store,
    /// Request limits.
    pub limits: ReceiverLimits,
    /// Totals.
    pub counters: Counters,
}

impl Receivers {
    /// Creates the shared state.
    #[must_use]
    pub fn new(store: Store, limits: ReceiverLimits) -> Arc<Self> {
        Arc::new(Self {
            store,
            limits,
            counters: Counters::default(),
        })
    }

    /// Stores `records` and waits until they are durable. Empty batches succeed at once.
    /// `request`, when given, is the OTLP request the records were converted from, which
    /// the store logs instead of the records.
    pub(crate) async fn store(
        &self,
        records: Records,
        request: Option<&OtlpRequest>,
        rejected: usize,
    ) -> Result<(), StoreError> {
        self.counters
            .rejected_items
            .fetch_add(rejected as u64, Ordering::Relaxed);
        if records.is_empty() {
            return Ok(());
        }
        let counts = (
            records.spans.len(),
            records.metrics.len(),
            records.invocations.len(),
        );
        let queued = match request {
            Some(request) => self.store.try_write_otlp(records, request),
            None => self.store.try_write(records),
        };
        self.wait_durable(queued, counts).await
    }

    /// Waits until a queued write is durable and counts it: as stored with `counts` (spans,
    /// metric points, invocations), or as busy when the store's queue was full.
    async fn wait_durable(
        &self,
        queued: Result<PendingWrite, StoreError>,
        counts: (usize, usize, usize),
    ) -> Result<(), StoreError> {
        let result = match queued {
            Ok(pending) => pending.durable().await.map(|_| ()),
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            if matches!(error, StoreError::Busy { .. }) {
                self.counters.busy();
            }
            return Err(error);
        }
        self.counters.stored(counts);
        Ok(())
    }

    /// Reads a protobuf trace request body straight into span columns, while nothing
    /// subscribes to the store's live feed. `None` when a subscriber needs records, or when
    /// the wire reader leaves the body to prost.
    pub(crate) fn wire_frames(&self, body: &[u8]) -> Option<Result<SpanFrames, StoreError>> {
        if self.store.has_subscribers() {
            return None;
        }
        let (rows, rejected) = otlp::trace_rows(body, &self.limits.otlp)?;
        Some(self.frames_of(&rows).map(|frames| (frames, rejected)))
    }

    /// Reads an OTLP/JSON trace request body straight into span columns, while nothing
    /// subscribes to the store's live feed, and returns them with the request in protobuf
    /// for the write-ahead log. `None` when a subscriber needs records, or when the
    /// borrowing JSON reader leaves the body to the decoder.
    pub(crate) fn json_frames(
        &self,
        body: &[u8],
    ) -> Option<(Result<SpanFrames, StoreError>, Vec<u8>)> {
        if self.store.has_subscribers() {
            return None;
        }
        let arena = bumpalo::Bump::new();
        let read = otlp::trace_rows_json(body, &arena, &self.limits.otlp)?;
        let frames = self
            .frames_of(&read.rows)
            .map(|frames| (frames, read.rejected));
        Some((frames, read.protobuf))
    }

    /// Builds the span columns of a decoded trace request without records, while nothing
    /// subscribes to the store's live feed. `None` when a subscriber needs records.
    pub(crate) fn request_frames(
        &self,
        request: &ExportTraceServiceRequest,
    ) -> Option<Result<SpanFrames, StoreError>> {
        if self.store.has_subscribers() {
            return None;
        }
        let (rows, rejected) = otlp::request_rows(request, &self.limits.otlp);
        Some(self.frames_of(&rows).map(|frames| (frames, rejected)))
    }

    fn frames_of(&self, rows: &SpanRows<'_>) -> Result<WriteFrames, StoreError> {
        WriteFrames::of_span_rows(rows).map_err(|source| StoreError::Parquet {
            path: self.store.data_dir().to_owned(),
            source,
        })
    }

    /// Stores span `frames` read straight from `request` and waits until they are durable.
    pub(crate) async fn store_frames(
        &self,
        frames: WriteFrames,
        request: &OtlpRequest,
        rejected: usize,
    ) -> Result<(), StoreError> {
        self.counters
            .rejected_items
            .fetch_add(rejected as u64, Ordering::Relaxed);
        let spans = frames.table_rows(Table::Spans);
        if spans == 0 {
            return Ok(());
        }
        let queued = self.store.try_write_frames(frames, request);
        self.wait_durable(queued, (spans, 0, 0)).await
    }
}
