//! Reading files of any supported format into records: format detection for
//! `spanbill ingest`.
//!
//! Detected formats: OTLP/JSON export requests (traces, metrics, logs), OTLP protobuf trace
//! and metrics requests (bare or with a gRPC frame prefix), gzip files of either, and
//! everything the Lambda platform reader reads.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message as _;

use crate::model::Records;
use crate::otlp::{self, Converted, DecodeError, Encoding};
use crate::platform::{self, ReadError, ReadOptions};

/// Format an input was read as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectedFormat {
    /// An OTLP trace export request in JSON.
    OtlpJsonTraces,
    /// An OTLP metrics export request in JSON.
    OtlpJsonMetrics,
    /// An OTLP logs export request in JSON, read for Lambda platform lines.
    OtlpJsonLogs,
    /// An OTLP trace export request in protobuf.
    OtlpProtobufTraces,
    /// An OTLP metrics export request in protobuf.
    OtlpProtobufMetrics,
    /// Lambda platform data.
    Platform(platform::InputFormat),
}

/// Settings of an ingest read.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// Options for platform logs: function name, date and limits.
    pub platform: ReadOptions,
    /// OTLP conversion limits.
    pub otlp: otlp::Limits,
}

/// Records read from one input, with counts for the summary.
#[derive(Debug)]
pub struct IngestRead {
    /// Format the input was read as.
    pub format: DetectedFormat,
    /// Records that passed validation.
    pub records: Records,
    /// Items read: spans, data points, log records or platform records.
    pub read: usize,
    /// Items rejected as invalid, by reason.
    pub rejected: BTreeMap<String, usize>,
    /// Items left out on purpose (application log lines, control messages), by reason.
    pub skipped: BTreeMap<String, usize>,
    /// Source of the dates of a platform log, when the input was one.
    pub date_note: Option<String>,
}

/// Failure to read an input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The platform reader failed.
    #[error(transparent)]
    Platform(Box<ReadError>),
    /// An OTLP input did not decode.
    #[error("`{source_name}`: {error}")]
    Otlp {
        /// Input name.
        source_name: String,
        /// Decode failure.
        error: DecodeError,
    },
    /// A gzip input inflates past the limit or is corrupt.
    #[error("`{source_name}`: gzip data is corrupt or inflates past {limit} bytes")]
    Gzip {
        /// Input name.
        source_name: String,
        /// Inflated size limit in bytes.
        limit: usize,
    },
}

impl From<ReadError> for IngestError {
    fn from(error: ReadError) -> Self {
        Self::Platform(Box::new(error))
    }
}

/// Reads `bytes`, detecting their format. `path`, when given, lets a platform log without
/// dates take its date from the file's modification time.
pub fn read_input(
    name: &str,
    path: Option<&Path>,
    bytes: &[u8],
    options: &IngestOptions,
) -> Result<IngestRead, IngestError> {
    // Some Windows editors and tools start UTF-8 text with a byte order mark.
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let limit = options.platform.limits.max_decompressed_bytes;
        let mut inflated = Vec::new();
        let read = flate2::read::MultiGzDecoder::new(bytes)
            .take(limit as u64 + 1)
            .read_to_end(&mut inflated);
        if read.is_err() || inflated.len() > limit {
            return Err(IngestError::Gzip {
                source_name: name.to_owned(),
                limit,
            });
        }
        // CloudWatch subscription files are gzip too; the platform reader handles them whole.
        if !looks_like_otlp(&inflated) {
            return read_platform(name, path, bytes, options);
        }
        return read_input(name, None, &inflated, options);
    }
    if looks_like_otlp(bytes) {
        return read_otlp(name, bytes, options);
    }
    read_platform(name, path, bytes, options)
}

fn first_byte(bytes: &[u8]) -> Option<u8> {
    bytes
        .iter()
        .copied()
        .find(|byte| !byte.is_ascii_whitespace())
}

fn looks_like_otlp(bytes: &[u8]) -> bool {
    match first_byte(bytes) {
        Some(b'{') => {
            let head = &bytes[..bytes.len().min(4096)];
            let head = String::from_utf8_lossy(head);
            [
                "resourceSpans",
                "resource_spans",
                "resourceMetrics",
                "resource_metrics",
                "resourceLogs",
                "resource_logs",
            ]
            .iter()
            .any(|key| head.contains(key))
        }
        Some(_) => protobuf_body(bytes).is_some(),
        None => false,
    }
}

/// Returns the protobuf message in `bytes`: the bytes themselves, or the message inside a
/// gRPC frame (flag byte 0, then a big-endian length that matches the rest).
fn protobuf_body(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.len() > 5 && bytes[0] == 0 {
        let length = u32::from_be_bytes(bytes[1..5].try_into().ok()?) as usize;
        if length == bytes.len() - 5 {
            return Some(&bytes[5..]);
        }
    }
    // Field 1 (resource_spans or resource_metrics), wire type 2: tag byte 0x0a.
    (bytes.first() == Some(&0x0a)).then_some(bytes)
}

fn read_otlp(name: &str, bytes: &[u8], options: &IngestOptions) -> Result<IngestRead, IngestError> {
    let otlp_error = |error| IngestError::Otlp {
        source_name: name.to_owned(),
        error,
    };
    if first_byte(bytes) == Some(b'{') {
        let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]).into_owned();
        if head.contains("resourceMetrics") || head.contains("resource_metrics") {
            let request = otlp::decode_metrics(bytes, Encoding::Json).map_err(otlp_error)?;
            return Ok(from_converted(
                DetectedFormat::OtlpJsonMetrics,
                otlp::convert_metrics(request, &options.otlp),
            ));
        }
        if head.contains("resourceLogs") || head.contains("resource_logs") {
            let request = otlp::decode_logs(bytes, Encoding::Json).map_err(otlp_error)?;
            let (text, records) = otlp::log_bodies(&request);
            let mut read = read_platform(name, None, text.as_bytes(), options)?;
            read.format = DetectedFormat::OtlpJsonLogs;
            read.read = records;
            return Ok(read);
        }
        let request = otlp::decode_traces(bytes, Encoding::Json).map_err(otlp_error)?;
        return Ok(from_converted(
            DetectedFormat::OtlpJsonTraces,
            otlp::convert_traces(request, &options.otlp),
        ));
    }

    let body = protobuf_body(bytes).unwrap_or(bytes);
    // Trace and metrics requests share their outer layout, so a body is read as traces when
    // every span has ids of the right length, and as metrics otherwise.
    let traces = ExportTraceServiceRequest::decode(body);
    if let Ok(request) = &traces {
        let spans = request
            .resource_spans
            .iter()
            .flat_map(|resource| &resource.scope_spans)
            .flat_map(|scope| &scope.spans);
        let mut count = 0;
        let mut all_ids_fit = true;
        for span in spans {
            count += 1;
            all_ids_fit &= span.trace_id.len() == 16 && span.span_id.len() == 8;
        }
        if count > 0 && all_ids_fit {
            let request = traces.expect("checked above");
            return Ok(from_converted(
                DetectedFormat::OtlpProtobufTraces,
                otlp::convert_traces(request, &options.otlp),
            ));
        }
    }
    match ExportMetricsServiceRequest::decode(body) {
        Ok(request) => Ok(from_converted(
            DetectedFormat::OtlpProtobufMetrics,
            otlp::convert_metrics(request, &options.otlp),
        )),
        Err(error) => Err(otlp_error(DecodeError::Protobuf(error))),
    }
}

fn from_converted(format: DetectedFormat, converted: Converted) -> IngestRead {
    let rejected = converted.rejected_by_reason();
    let read = converted.records.len() + converted.rejected.len();
    IngestRead {
        format,
        records: converted.records,
        read,
        rejected,
        skipped: BTreeMap::new(),
        date_note: None,
    }
}

fn read_platform(
    name: &str,
    path: Option<&Path>,
    bytes: &[u8],
    options: &IngestOptions,
) -> Result<IngestRead, IngestError> {
    let read = match path {
        Some(path) => platform::read_file(path, &options.platform)?,
        None => platform::read_bytes(name, bytes, &options.platform)?,
    };
    let summary = &read.summary;
    let skipped = summary
        .skipped
        .iter()
        .map(|(reason, count)| (reason.to_string(), *count))
        .collect();
    let mut rejected = BTreeMap::new();
    for problem in &summary.problems {
        *rejected.entry(problem.to_string()).or_insert(0) += 1;
    }
    let unlisted = summary.problem_count.saturating_sub(summary.problems.len());
    if unlisted > 0 {
        rejected.insert("further malformed records".to_owned(), unlisted);
    }
    Ok(IngestRead {
        format: DetectedFormat::Platform(summary.format),
        read: summary.records_read,
        rejected,
        skipped,
        date_note: Some(summary.date_source.to_string()),
        records: Records {
            invocations: read.invocations,
            ..Records::default()
        },
    })
}
