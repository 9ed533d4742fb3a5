//! The write-ahead log: numbered writes appended to segment files and fsynced before a write
//! is acknowledged.
//!
//! Segments are `<data dir>/wal/segment-<first seq>.log`. The writer appends to the newest
//! one. When it hands its buffer to the flush thread it starts a new segment, and the flush
//! thread deletes the old one once every record in it is in a renamed Parquet part.
//! `wal/wal.log`, the single log file of earlier versions, is replayed like a segment.
//!
//! Frame layout, little-endian: payload length (u32), CRC-32 of sequence number and payload
//! (u32), sequence number (u64), payload. The payload's first byte gives its kind:
//!
//! - `{`: JSON of [`Records`], as every frame of earlier versions;
//! - `OTLP_TRACES` (1) or `OTLP_METRICS` (2): the conversion limits (`max_attribute_len` and
//!   `max_attributes`, u64 each), then the OTLP export request in protobuf. Replay converts
//!   the request again with those limits, which gives the same records.
//! - `OTLP_TRACES_JSON` (3) or `OTLP_METRICS_JSON` (4): the same, with the request in OTLP
//!   JSON as the client sent it.
//!
//! Replay keeps every intact frame. A torn frame at the end of a segment, left by a crash
//! during a write that was never acknowledged, is ignored. After a damaged frame inside a
//! segment, replay goes on at the next intact frame and keeps a copy of the segment.

use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice, Write};

use bytes::Bytes;
use std::path::{Path, PathBuf};

use crate::model::Records;
use crate::otlp::{self, Encoding, Limits};

use super::StoreError;

const HEADER_BYTES: usize = 16;

/// Largest frame payload replay accepts, so a corrupt length cannot make it allocate
/// without bound. Writes are far smaller because receivers cap request sizes.
const MAX_FRAME_BYTES: usize = 1 << 30;

/// Payload kind of an OTLP trace export request in protobuf.
const OTLP_TRACES: u8 = 1;
/// Payload kind of an OTLP metrics export request in protobuf.
const OTLP_METRICS: u8 = 2;
/// Payload kind of an OTLP trace export request in JSON.
const OTLP_TRACES_JSON: u8 = 3;
/// Payload kind of an OTLP metrics export request in JSON.
const OTLP_METRICS_JSON: u8 = 4;
/// Bytes of the payload kind and the two limits before an OTLP request.
const OTLP_PREFIX_BYTES: usize = 17;

/// File name of the log of earlier versions, which had one file and no segments.
const LEGACY_FILE: &str = "wal.log";

/// The OTLP export request that a write's records were converted from.
///
/// The log stores the request instead of the records because it is several times smaller:
/// a request lists each resource's attributes once, and the records repeat them. A JSON
/// trace request that the JSON row reader reads is logged in the protobuf that the reader
/// writes as it goes, less than half the size of the JSON, which gave 5% more spans per
/// second under the load generator. Other JSON requests are logged as they arrived:
/// decoding them into messages and encoding those in protobuf takes more time than writing
/// the larger text.
#[derive(Debug, Clone, PartialEq)]
pub enum OtlpRequest {
    /// An `ExportTraceServiceRequest`.
    Traces {
        /// The encoded request.
        body: Bytes,
        /// The request's encoding.
        encoding: Encoding,
        /// The limits the records were converted with.
        limits: Limits,
    },
    /// An `ExportMetricsServiceRequest`.
    Metrics {
        /// The encoded request.
        body: Bytes,
        /// The request's encoding.
        encoding: Encoding,
        /// The limits the records were converted with.
        limits: Limits,
    },
}

/// The payload of one log frame: `head`, then `body`. An OTLP request's body is shared with
/// its reader, so logging it copies nothing until the write to the segment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Payload {
    head: Vec<u8>,
    body: Bytes,
}

impl Payload {
    /// Returns the payload's size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.head.len() + self.body.len()
    }
}

/// Encodes the log payload of records that have no OTLP request to log.
pub(crate) fn records_payload(records: &Records) -> Result<Payload, StoreError> {
    let head = serde_json::to_vec(records).map_err(StoreError::Encode)?;
    check_size(Payload {
        head,
        body: Bytes::new(),
    })
}

/// Encodes the log payload of an OTLP request.
pub(crate) fn otlp_payload(request: &OtlpRequest) -> Result<Payload, StoreError> {
    let (kind, body, limits) = match request {
        OtlpRequest::Traces {
            body,
            encoding: Encoding::Protobuf,
            limits,
        } => (OTLP_TRACES, body, limits),
        OtlpRequest::Traces {
            body,
            encoding: Encoding::Json,
            limits,
        } => (OTLP_TRACES_JSON, body, limits),
        OtlpRequest::Metrics {
            body,
            encoding: Encoding::Protobuf,
            limits,
        } => (OTLP_METRICS, body, limits),
        OtlpRequest::Metrics {
            body,
            encoding: Encoding::Json,
            limits,
        } => (OTLP_METRICS_JSON, body, limits),
    };
    let mut head = Vec::with_capacity(OTLP_PREFIX_BYTES);
    head.push(kind);
    head.extend_from_slice(&(limits.max_attribute_len as u64).to_le_bytes());
    head.extend_from_slice(&(limits.max_attributes as u64).to_le_bytes());
    check_size(Payload {
        head,
        body: body.clone(),
    })
}

fn check_size(payload: Payload) -> Result<Payload, StoreError> {
    if payload.len() > MAX_FRAME_BYTES {
        return Err(StoreError::BatchTooLarge {
            bytes: payload.len(),
        });
    }
    Ok(payload)
}

/// Decodes a payload back into records; `None` when it does not decode.
fn decode_payload(payload: &[u8]) -> Option<Records> {
    match *payload.first()? {
        b'{' => serde_json::from_slice(payload).ok(),
        kind @ (OTLP_TRACES | OTLP_METRICS | OTLP_TRACES_JSON | OTLP_METRICS_JSON) => {
            let prefix = payload.get(..OTLP_PREFIX_BYTES)?;
            let number = |range: std::ops::Range<usize>| {
                let bytes: [u8; 8] = prefix[range].try_into().expect("8 bytes");
                usize::try_from(u64::from_le_bytes(bytes)).unwrap_or(usize::MAX)
            };
            let limits = Limits {
                max_attribute_len: number(1..9),
                max_attributes: number(9..17),
            };
            let body = &payload[OTLP_PREFIX_BYTES..];
            let encoding = if matches!(kind, OTLP_TRACES | OTLP_METRICS) {
                Encoding::Protobuf
            } else {
                Encoding::Json
            };
            let converted = if matches!(kind, OTLP_TRACES | OTLP_TRACES_JSON) {
                otlp::convert_traces(otlp::decode_traces(body, encoding).ok()?, &limits)
            } else {
                otlp::convert_metrics(otlp::decode_metrics(body, encoding).ok()?, &limits)
            };
            Some(converted.records)
        }
        _ => None,
    }
}

/// One write read back from the log.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) seq: u64,
    pub(crate) records: Records,
}

/// The segment the writer appends to.
#[derive(Debug)]
pub(crate) struct Wal {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    /// Bytes of the segment that hold complete frames.
    len: u64,
    /// Frames appended since the last sync, written with one system call: each frame's
    /// header and payload head, then its payload body.
    pending: Vec<(Vec<u8>, Bytes)>,
}

impl Wal {
    /// Creates a new, empty segment in `dir` for writes from `first_seq` on, and makes its
    /// directory entry durable.
    pub(crate) fn create(dir: &Path, first_seq: u64) -> Result<Self, StoreError> {
        let path = segment_path(dir, first_seq);
        let io_error = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(io_error)?;
        super::sync_dir(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            path,
            file,
            len: 0,
            pending: Vec::new(),
        })
    }

    /// Returns the segment's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Returns the log directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends one frame in memory; [`Wal::sync`] writes and fsyncs it.
    pub(crate) fn append(&mut self, seq: u64, payload: &Payload) {
        let length = u32::try_from(payload.len()).expect("payload size checked at encoding");
        let checksum = checksum(seq, &[&payload.head, &payload.body]);
        let mut head = Vec::with_capacity(HEADER_BYTES + payload.head.len());
        head.extend_from_slice(&length.to_le_bytes());
        head.extend_from_slice(&checksum.to_le_bytes());
        head.extend_from_slice(&seq.to_le_bytes());
        head.extend_from_slice(&payload.head);
        self.pending.push((head, payload.body.clone()));
    }

    /// Writes the appended frames and flushes them to disk (fdatasync). On failure the
    /// segment is cut back to its last complete frame, so later frames stay readable.
    pub(crate) fn sync(&mut self) -> Result<(), StoreError> {
        let pending = std::mem::take(&mut self.pending);
        let appended: usize = pending
            .iter()
            .map(|(head, body)| head.len() + body.len())
            .sum();
        let written =
            write_all_vectored(&mut self.file, &pending).and_then(|()| self.file.sync_data());
        if let Err(source) = written {
            if let Err(error) = self.file.set_len(self.len) {
                tracing::error!(path = %self.path.display(), %error, "cutting a failed write from the write-ahead log failed");
            }
            return Err(StoreError::Io {
                path: self.path.clone(),
                source,
            });
        }
        self.len += appended as u64;
        Ok(())
    }

    /// Returns true when no frame was written to the segment.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Writes every piece of `frames` in order, with as few system calls as the kernel allows.
fn write_all_vectored(file: &mut File, frames: &[(Vec<u8>, Bytes)]) -> io::Result<()> {
    // The kernel takes at most 1,024 slices per call (IOV_MAX on Linux).
    const MAX_SLICES: usize = 1024;
    let pieces: Vec<&[u8]> = frames
        .iter()
        .flat_map(|(head, body)| [head.as_slice(), body.as_ref()])
        .filter(|piece| !piece.is_empty())
        .collect();
    for group in pieces.chunks(MAX_SLICES) {
        let mut slices: Vec<IoSlice<'_>> = group.iter().map(|piece| IoSlice::new(piece)).collect();
        let mut slices = slices.as_mut_slice();
        while !slices.is_empty() {
            match file.write_vectored(slices) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => IoSlice::advance_slices(&mut slices, written),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
    }
    Ok(())
}

fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("segment-{first_seq:020}.log"))
}

/// Lists the segments in `dir`, oldest first: the log of earlier versions, then segments
/// by first sequence number.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let io_error = |source| StoreError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let first_seq = if name == LEGACY_FILE {
            Some(0)
        } else {
            name.strip_prefix("segment-")
                .and_then(|rest| rest.strip_suffix(".log"))
                .and_then(|number| number.parse::<u64>().ok())
        };
        if let Some(first_seq) = first_seq {
            segments.push((first_seq, entry.path()));
        }
    }
    segments.sort();
    Ok(segments.into_iter().map(|(_, path)| path).collect())
}

/// Reads every intact frame of the segments at `paths`, in order.
///
/// A damaged frame inside a segment does not end it, because reading goes on at the next
/// intact frame. A copy of such a segment is kept beside it with the suffix `.damaged`,
/// since the writer deletes the segment once its frames are in parts.
pub(crate) fn read_segments(paths: &[PathBuf]) -> Result<Vec<Frame>, StoreError> {
    let mut frames = Vec::new();
    for path in paths {
        let io_error = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        let data = fs::read(path).map_err(io_error)?;
        let before = frames.len();
        let scan = read_frames(&data, &mut frames);
        if !scan.skipped.is_empty() {
            let copy = damaged_copy_path(path);
            fs::copy(path, &copy).map_err(io_error)?;
            tracing::error!(
                path = %path.display(),
                damaged_bytes = ?scan.skipped,
                kept_frames = frames.len() - before,
                copy = %copy.display(),
                "write-ahead log segment has damaged frames; replaying the intact frames before and after them, and the records of the damaged frames are lost"
            );
        }
        if scan.torn_tail > 0 {
            tracing::warn!(
                path = %path.display(),
                kept_bytes = data.len() as u64 - scan.torn_tail,
                ignored_bytes = scan.torn_tail,
                "write-ahead log segment ends in a torn or corrupt frame; replaying the frames before it"
            );
        }
    }
    Ok(frames)
}

/// Returns the path for the copy of a damaged segment: beside it, under a name that
/// [`list_segments`] does not list.
fn damaged_copy_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".damaged");
    path.with_file_name(name)
}

/// Deletes segments whose records are all in durable parts, and makes the deletion durable.
pub(crate) fn remove_segments(dir: &Path, paths: &[PathBuf]) -> Result<(), StoreError> {
    super::remove_files(dir, paths)
}

/// Returns the CRC-32 of a frame: its sequence number, then the pieces of its payload.
fn checksum(seq: u64, payload: &[&[u8]]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    for piece in payload {
        hasher.update(piece);
    }
    hasher.finalize()
}

/// The damage found while reading one segment.
#[derive(Debug, Default, PartialEq)]
struct SegmentScan {
    /// Byte ranges of damaged frames that intact frames follow.
    skipped: Vec<std::ops::Range<usize>>,
    /// Bytes after the last intact frame: a write torn by a crash, or damage at the end.
    torn_tail: u64,
}

/// Reads the frames of one segment's bytes, appending the intact ones to `frames`. After a
/// damaged frame it looks for the next intact frame: one whose header fits, whose sequence
/// number follows the last intact one, whose payload starts with a known kind and whose
/// CRC-32 matches.
fn read_frames(data: &[u8], frames: &mut Vec<Frame>) -> SegmentScan {
    let mut scan = SegmentScan::default();
    let mut offset = 0;
    while offset < data.len() {
        if let Some((frame, end)) = parse_frame(data, offset) {
            frames.push(frame);
            offset = end;
            continue;
        }
        let last_seq = frames.last().map(|frame| frame.seq);
        let next = (offset + 1..data.len())
            .filter(|&start| plausible_frame(data, start, last_seq))
            .find_map(|start| Some((start, parse_frame(data, start)?)));
        let Some((start, (frame, end))) = next else {
            scan.torn_tail = (data.len() - offset) as u64;
            break;
        };
        scan.skipped.push(offset..start);
        frames.push(frame);
        offset = end;
    }
    scan
}

/// Reads the frame at `offset`; `None` when it is cut short, fails its checksum or has a
/// payload that does not decode.
fn parse_frame(data: &[u8], offset: usize) -> Option<(Frame, usize)> {
    let (length, expected, seq) = frame_header(data, offset)?;
    if length > MAX_FRAME_BYTES {
        return None;
    }
    let start = offset + HEADER_BYTES;
    let payload = data.get(start..start + length)?;
    if checksum(seq, &[payload]) != expected {
        return None;
    }
    let records = decode_payload(payload)?;
    Some((Frame { seq, records }, start + length))
}

/// Reads the header of the frame at `offset`: payload length, checksum and sequence number.
fn frame_header(data: &[u8], offset: usize) -> Option<(usize, u32, u64)> {
    let header = data.get(offset..offset.checked_add(HEADER_BYTES)?)?;
    let length = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
    let checksum = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let seq = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    Some((length, checksum, seq))
}

/// Checks the cheap signs of a frame at `offset` before its checksum is computed.
fn plausible_frame(data: &[u8], offset: usize, last_seq: Option<u64>) -> bool {
    let Some((length, _, seq)) = frame_header(data, offset) else {
        return false;
    };
    let kind = data.get(offset + HEADER_BYTES).copied();
    length <= data.len() - offset - HEADER_BYTES
        && last_seq.is_none_or(|last| seq > last)
        && matches!(
            kind,
            Some(b'{' | OTLP_TRACES | OTLP_METRICS | OTLP_TRACES_JSON | OTLP_METRICS_JSON)
        )
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    use prost::Message as _;

    use super::*;

    fn trace_request(names: &[&str]) -> ExportTraceServiceRequest {
        let spans = names
            .iter()
            .enumerate()
            .map(|(index, name)| Span {
                trace_id: vec![7; 16],
                span_id: vec![index as u8 + 1; 8],
                name: (*name).to_owned(),
                start_time_unix_nano: 1_717_000_000_000_000_000,
                end_time_unix_nano: 1_717_000_000_000_000_005,
                ..Span::default()
            })
            .collect();
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".to_owned(),
                        value: Some(AnyValue {
                            value: Some(any_value::Value::StringValue(
                                "checkout-with-a-long-name".to_owned(),
                            )),
                        }),
                        ..KeyValue::default()
                    }],
                    ..Resource::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..ScopeSpans::default()
                }],
                schema_url: String::new(),
            }],
        }
    }

    #[test]
    fn torn_tail_keeps_earlier_frames() {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = Wal::create(dir.path(), 1).unwrap();
        let payload = records_payload(&Records::default()).unwrap();
        wal.append(1, &payload);
        wal.append(2, &payload);
        wal.sync().unwrap();
        let path = wal.path().to_owned();
        drop(wal);
        let full = fs::metadata(&path).unwrap().len();
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(full - 3).unwrap();

        let frames = read_segments(&list_segments(dir.path()).unwrap()).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].seq, 1);
    }

    #[test]
    fn otlp_frame_replays_as_converted_records() {
        let dir = tempfile::tempdir().unwrap();
        let limits = Limits {
            max_attribute_len: 12,
            max_attributes: 128,
        };
        let request = trace_request(&["first span", "second span name"]);
        let expected = otlp::convert_traces(request.clone(), &limits).records;
        let payload = otlp_payload(&OtlpRequest::Traces {
            body: request.encode_to_vec().into(),
            encoding: Encoding::Protobuf,
            limits,
        })
        .unwrap();
        let mut wal = Wal::create(dir.path(), 5).unwrap();
        wal.append(5, &payload);
        wal.sync().unwrap();

        let frames = read_segments(&[wal.path().to_owned()]).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].seq, 5);
        assert_eq!(frames[0].records, expected);
        // The limits of the write apply again: names and values are cut to 12 bytes.
        assert_eq!(frames[0].records.spans[1].name, "second span ");
        assert_eq!(
            frames[0].records.spans[1].service_name.as_deref(),
            Some("checkout-wit")
        );
    }

    #[test]
    fn json_frame_replays_as_converted_records() {
        let dir = tempfile::tempdir().unwrap();
        let body = br#"{"resourceSpans":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"checkout"}}]},
            "scopeSpans":[{"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C",
            "spanId":"EEE19B7EC3C1B174","name":"charge card","kind":3,
            "startTimeUnixNano":"1717000000000000000","endTimeUnixNano":1717000000250000000,
            "attributes":[{"key":"retries","value":{"intValue":"9007199254740993"}}]}]}]}]}"#;
        let limits = Limits::default();
        let expected =
            otlp::convert_traces(otlp::decode_traces(body, Encoding::Json).unwrap(), &limits)
                .records;
        assert_eq!(expected.spans.len(), 1);
        let payload = otlp_payload(&OtlpRequest::Traces {
            body: Bytes::copy_from_slice(body),
            encoding: Encoding::Json,
            limits,
        })
        .unwrap();
        assert_eq!(payload.head[0], OTLP_TRACES_JSON);
        let mut wal = Wal::create(dir.path(), 9).unwrap();
        wal.append(9, &payload);
        wal.sync().unwrap();

        let frames = read_segments(&[wal.path().to_owned()]).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].seq, 9);
        assert_eq!(frames[0].records, expected);
        let span = &frames[0].records.spans[0];
        assert_eq!(span.name, "charge card");
        assert_eq!(span.service_name.as_deref(), Some("checkout"));
        assert_eq!(
            crate::model::find(&span.attributes, "retries")
                .and_then(crate::model::AttributeValue::as_i64),
            Some(9_007_199_254_740_993)
        );
    }

    #[test]
    fn sync_of_over_1024_slices_replays() {
        let dir = tempfile::tempdir().unwrap();
        let request = trace_request(&["first span", "second span"]);
        let payload = otlp_payload(&OtlpRequest::Traces {
            body: request.encode_to_vec().into(),
            encoding: Encoding::Protobuf,
            limits: Limits::default(),
        })
        .unwrap();
        let expected = otlp::convert_traces(request, &Limits::default()).records;
        let mut wal = Wal::create(dir.path(), 1).unwrap();
        // Each OTLP frame is two slices, so 700 frames need two vectored writes.
        for seq in 1..=700 {
            wal.append(seq, &payload);
        }
        wal.append(701, &records_payload(&Records::default()).unwrap());
        wal.sync().unwrap();

        let frames = read_segments(&[wal.path().to_owned()]).unwrap();
        assert_eq!(frames.len(), 701);
        for (frame, seq) in frames.iter().zip(1..) {
            assert_eq!(frame.seq, seq);
        }
        assert_eq!(frames[699].records, expected);
        assert_eq!(frames[700].records, Records::default());
    }

    #[test]
    fn otlp_frame_is_smaller_than_records_json() {
        let names: Vec<String> = (0..64).map(|index| format!("span {index}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let request = trace_request(&names);
        let records = otlp::convert_traces(request.clone(), &Limits::default()).records;
        let otlp = otlp_payload(&OtlpRequest::Traces {
            body: request.encode_to_vec().into(),
            encoding: Encoding::Protobuf,
            limits: Limits::default(),
        })
        .unwrap();
        let json = records_payload(&records).unwrap();
        assert!(
            otlp.len() * 4 < json.len(),
            "OTLP frame {} bytes, JSON frame {} bytes",
            otlp.len(),
            json.len()
        );
    }

    /// Writes a segment of three trace frames, seq 1 to 3, and returns its path and the
    /// byte offset where each frame starts.
    fn three_frame_segment(dir: &Path) -> (PathBuf, Vec<usize>) {
        let mut wal = Wal::create(dir, 1).unwrap();
        for seq in 1..=3 {
            let name = format!("span of write {seq}");
            let payload = otlp_payload(&OtlpRequest::Traces {
                body: trace_request(&[name.as_str()]).encode_to_vec().into(),
                encoding: Encoding::Protobuf,
                limits: Limits::default(),
            })
            .unwrap();
            wal.append(seq, &payload);
        }
        wal.sync().unwrap();
        let data = fs::read(wal.path()).unwrap();
        let mut starts = vec![0];
        while starts.len() < 3 {
            let start = *starts.last().unwrap();
            let length = u32::from_le_bytes(data[start..start + 4].try_into().unwrap()) as usize;
            starts.push(start + HEADER_BYTES + length);
        }
        (wal.path().to_owned(), starts)
    }

    /// Overwrites 16 bytes of the file at `offset` with 0xAB.
    fn damage(path: &Path, offset: usize) {
        let mut data = fs::read(path).unwrap();
        data[offset..offset + 16].fill(0xAB);
        fs::write(path, data).unwrap();
    }

    fn seqs_of(frames: &[Frame]) -> Vec<u64> {
        frames.iter().map(|frame| frame.seq).collect()
    }

    #[test]
    fn segment_with_damaged_first_frame() {
        let dir = tempfile::tempdir().unwrap();
        let (path, starts) = three_frame_segment(dir.path());
        damage(&path, starts[0] + HEADER_BYTES + 20);

        let frames = read_segments(std::slice::from_ref(&path)).unwrap();
        assert_eq!(seqs_of(&frames), [2, 3]);
        assert_eq!(frames[0].records.spans[0].name, "span of write 2");
        let copy = damaged_copy_path(&path);
        assert!(copy.exists(), "a copy of the damaged segment is kept");
        assert_eq!(fs::read(&copy).unwrap(), fs::read(&path).unwrap());
        assert_eq!(list_segments(dir.path()).unwrap(), [path]);
    }

    #[test]
    fn segment_with_damaged_middle_frame() {
        let dir = tempfile::tempdir().unwrap();
        let (path, starts) = three_frame_segment(dir.path());
        // The header of frame 2: its length and checksum.
        damage(&path, starts[1]);

        let data = fs::read(&path).unwrap();
        let mut frames = Vec::new();
        let scan = read_frames(&data, &mut frames);
        assert_eq!(seqs_of(&frames), [1, 3]);
        assert_eq!(scan.skipped, vec![starts[1]..starts[2]]);
        assert_eq!(scan.torn_tail, 0);
    }

    #[test]
    fn segment_with_torn_last_frame() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = three_frame_segment(dir.path());
        let data = fs::read(&path).unwrap();
        fs::write(&path, &data[..data.len() - 10]).unwrap();

        let frames = read_segments(std::slice::from_ref(&path)).unwrap();
        assert_eq!(seqs_of(&frames), [1, 2]);
        assert!(!damaged_copy_path(&path).exists());

        let mut frames = Vec::new();
        let scan = read_frames(&data[..data.len() - 10], &mut frames);
        assert!(scan.skipped.is_empty());
        assert!(scan.torn_tail > 0);
    }

    #[test]
    fn segments_list_oldest_first_with_legacy_log() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "segment-00000000000000000010.log",
            "segment-00000000000000000002.log",
            "wal.log",
            "notes.txt",
        ] {
            fs::write(dir.path().join(name), b"").unwrap();
        }
        let names: Vec<String> = list_segments(dir.path())
            .unwrap()
            .iter()
            .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "wal.log",
                "segment-00000000000000000002.log",
                "segment-00000000000000000010.log"
            ]
        );
    }

    #[test]
    fn legacy_json_frames_replay() {
        let dir = tempfile::tempdir().unwrap();
        let payload = serde_json::to_vec(&Records::default()).unwrap();
        let mut frame = Vec::new();
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&checksum(3, &[&payload]).to_le_bytes());
        frame.extend_from_slice(&3_u64.to_le_bytes());
        frame.extend_from_slice(&payload);
        fs::write(dir.path().join(LEGACY_FILE), &frame).unwrap();

        let frames = read_segments(&list_segments(dir.path()).unwrap()).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].seq, 3);
    }
}
