//! OTLP decoding: protobuf and JSON export requests for traces, metrics and logs, turned
//! into spanbill records.
//!
//! Both encodings go through the same protobuf message types (`opentelemetry-proto`), so a
//! JSON request and its protobuf twin give the same records. Trace requests can also go
//! straight into span columns without records: a protobuf body through the wire reader
//! (`trace_rows`), which borrows from the body, and a decoded request through
//! `request_rows`, which borrows from its messages. Both give the rows of the records.
//!
//! The JSON decoder is spanbill's own, because OTLP/JSON needs rules that a generic mapping
//! misses: hex ids in either case, enums as integers, 64-bit integers as strings or bare
//! numbers without rounding, and `"NaN"` or `"Infinity"` as double values.
//!
//! Invalid items (a span with a wrong-length id, a span that ends before it starts) are
//! rejected one by one and counted by reason. The rest of the request is kept, because
//! OTLP's partial success expects that.

mod convert;
mod json;
mod logs;
mod wire;

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

use crate::model::{IdError, Records};

pub use convert::{convert_metrics, convert_traces, log_bodies};
pub(crate) use json::trace_rows_json;
pub use json::{logs_from_json, metrics_from_json, traces_from_json};
pub use logs::convert_logs;
pub(crate) use wire::{request_rows, trace_rows};

/// A way to read a trace export request into span rows, for the read benchmark
/// (`benches/otlp_read.rs`).
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum RowReader {
    /// OTLP/JSON through the borrowing row reader, which also writes the protobuf for the
    /// write-ahead log.
    Json,
    /// OTLP/JSON through the decoder into the message types, then the rows of those.
    JsonDecoder,
    /// Protobuf through the wire reader.
    Protobuf,
}

/// Reads `body` into span rows with `reader` and returns the number of rows. `None` when
/// the reader leaves the body to another one or the body does not decode.
#[doc(hidden)]
#[must_use]
pub fn read_rows(body: &[u8], reader: RowReader, limits: &Limits) -> Option<usize> {
    match reader {
        RowReader::Json => {
            let arena = bumpalo::Bump::new();
            let read = trace_rows_json(body, &arena, limits)?;
            Some(read.rows.rows.len())
        }
        RowReader::JsonDecoder => {
            let request = decode_traces(body, Encoding::Json).ok()?;
            Some(request_rows(&request, limits).0.rows.len())
        }
        RowReader::Protobuf => Some(trace_rows(body, limits)?.0.rows.len()),
    }
}

/// Limits applied while converting OTLP into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum length of an attribute key, string value, bytes value or span name, in bytes.
    /// Longer ones are cut on a character boundary. Default 4096.
    pub max_attribute_len: usize,
    /// Number of attributes kept per span, event, link or point, and of items per array
    /// value. Default 128.
    pub max_attributes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_attribute_len: 4096,
            max_attributes: 128,
        }
    }
}

/// Reason one span, data point or log record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    /// A trace or span id has the wrong length or is all zeros.
    #[error("{0}")]
    InvalidId(IdError),
    /// The end time is before the start time.
    #[error("end time before start time")]
    NegativeDuration,
    /// The start or point time is zero.
    #[error("missing time")]
    MissingTime,
    /// An enum has a number OTLP does not define: the enum's name and the number.
    #[error("unknown {0} number {1}")]
    UnknownEnum(&'static str, i32),
    /// A metric has no data.
    #[error("metric without data")]
    MissingData,
    /// A histogram's bucket counts do not match its bounds.
    #[error("histogram bucket counts do not match its bounds")]
    InvalidHistogram,
    /// A log record carries no Lambda platform data, and spanbill stores no other logs.
    #[error("log record is not Lambda platform data, the only logs spanbill stores")]
    NotPlatformLog,
    /// A log record's body is missing or is not a string.
    #[error("log record body is not a string")]
    LogBodyNotString,
    /// The platform reader found a platform record invalid.
    #[error("{0}")]
    InvalidPlatformData(String),
}

/// The span id of a rejected span as the request sent it, for messages. The id may be of
/// any length, and only its first 16 bytes are stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpanLabel {
    bytes: [u8; 16],
    len: u8,
    cut: bool,
}

impl SpanLabel {
    /// Keeps the first 16 bytes of `span_id`.
    #[must_use]
    pub fn new(span_id: &[u8]) -> Self {
        let mut bytes = [0; 16];
        let stored = span_id.len().min(bytes.len());
        bytes[..stored].copy_from_slice(&span_id[..stored]);
        Self {
            bytes,
            len: stored as u8,
            cut: span_id.len() > stored,
        }
    }
}

impl std::fmt::Display for SpanLabel {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.len == 0 {
            return formatter.write_str("span without a span id");
        }
        formatter.write_str("span id ")?;
        for byte in &self.bytes[..usize::from(self.len)] {
            write!(formatter, "{byte:02x}")?;
        }
        if self.cut {
            formatter.write_str("...")?;
        }
        Ok(())
    }
}

/// One rejected span, data point or log record: the reason, and for a span its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The reason the item was rejected.
    pub reason: RejectReason,
    /// The span's id, when the item is a span.
    pub span: Option<SpanLabel>,
}

impl Rejection {
    /// Builds the rejection of an item that is not a span.
    #[must_use]
    pub fn item(reason: RejectReason) -> Self {
        Self { reason, span: None }
    }

    /// Builds the rejection of the span with id `span_id`.
    #[must_use]
    pub fn span(reason: RejectReason, span_id: &[u8]) -> Self {
        Self {
            reason,
            span: Some(SpanLabel::new(span_id)),
        }
    }
}

/// Records converted from one request, and what was rejected.
#[derive(Debug, Default)]
pub struct Converted {
    /// Records that passed validation.
    pub records: Records,
    /// Every rejected item, in order.
    pub rejected: Vec<Rejection>,
}

impl Converted {
    fn reject(&mut self, reason: RejectReason) {
        self.rejected.push(Rejection::item(reason));
    }

    /// Returns the rejection counts by reason.
    #[must_use]
    pub fn rejected_by_reason(&self) -> BTreeMap<String, usize> {
        convert::count_reasons(&self.rejected)
    }

    /// Returns a partial-success message: the rejection counts by reason, or an empty string
    /// when nothing was rejected.
    #[must_use]
    pub fn error_message(&self) -> String {
        rejection_message(&self.rejected)
    }
}

/// Returns a partial-success message for `rejected`: the counts by reason, each with the
/// first span rejected for it, or an empty string when nothing was rejected.
#[must_use]
pub fn rejection_message(rejected: &[Rejection]) -> String {
    let mut by_reason: BTreeMap<String, (usize, Option<SpanLabel>)> = BTreeMap::new();
    for rejection in rejected {
        let entry = by_reason
            .entry(rejection.reason.to_string())
            .or_insert((0, rejection.span));
        entry.0 += 1;
    }
    by_reason
        .iter()
        .map(|(reason, (count, span))| match span {
            Some(span) => format!("{count} rejected: {reason} (first: {span})"),
            None => format!("{count} rejected: {reason}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Encoding of an OTLP body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Binary protobuf (`application/x-protobuf`).
    Protobuf,
    /// OTLP/JSON (`application/json`).
    Json,
}

/// Failure to decode an OTLP body as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not a valid protobuf message of the expected type.
    #[error("invalid OTLP protobuf body: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// The body is not valid JSON.
    #[error("invalid OTLP JSON body: {0}")]
    Json(#[from] serde_json::Error),
    /// The body is not UTF-8, as JSON text must be.
    #[error("invalid OTLP JSON body: invalid UTF-8 at byte {offset}; JSON text must be UTF-8")]
    JsonUtf8 {
        /// Offset of the first byte that is not part of valid UTF-8.
        offset: usize,
    },
    /// The JSON is valid but a field has the wrong type or form.
    #[error("invalid OTLP JSON body: field `{path}`: {problem}")]
    JsonField {
        /// Path of the field, such as `resourceSpans[0].scopeSpans[0].spans[3].traceId`.
        path: String,
        /// The problem found.
        problem: String,
    },
}

/// Decodes a trace export request.
pub fn decode_traces(
    body: &[u8],
    encoding: Encoding,
) -> Result<ExportTraceServiceRequest, DecodeError> {
    match encoding {
        Encoding::Protobuf => Ok(ExportTraceServiceRequest::decode(body)?),
        Encoding::Json => traces_from_json(body),
    }
}

/// Decodes a metrics export request.
pub fn decode_metrics(
    body: &[u8],
    encoding: Encoding,
) -> Result<ExportMetricsServiceRequest, DecodeError> {
    match encoding {
        Encoding::Protobuf => Ok(ExportMetricsServiceRequest::decode(body)?),
        Encoding::Json => metrics_from_json(body),
    }
}

/// Decodes a logs export request.
pub fn decode_logs(
    body: &[u8],
    encoding: Encoding,
) -> Result<ExportLogsServiceRequest, DecodeError> {
    match encoding {
        Encoding::Protobuf => Ok(ExportLogsServiceRequest::decode(body)?),
        Encoding::Json => logs_from_json(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_message_names_first_span() {
        let rejected = [
            Rejection::span(RejectReason::NegativeDuration, &[0x0a; 8]),
            Rejection::span(RejectReason::MissingTime, &[]),
            Rejection::span(RejectReason::NegativeDuration, &[0x0b; 8]),
            Rejection::item(RejectReason::MissingData),
            Rejection::span(RejectReason::UnknownEnum("span kind", 9), &[0xcd; 20]),
        ];
        assert_eq!(
            rejection_message(&rejected),
            "2 rejected: end time before start time (first: span id 0a0a0a0a0a0a0a0a); \
             1 rejected: metric without data; \
             1 rejected: missing time (first: span without a span id); \
             1 rejected: unknown span kind number 9 \
             (first: span id cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd...)"
        );
        assert_eq!(rejection_message(&[]), "");
    }
}
