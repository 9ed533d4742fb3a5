//! Reader of Lambda platform data: detects the layout of an input and turns its platform
//! records into [`Invocation`]s.
//!
//! Layouts read:
//!
//! - text lines (`START`, `END`, `REPORT`, `INIT_START`, `INIT_REPORT`, `RESTORE_REPORT`,
//!   crash and timeout lines), bare or with an `aws logs tail`, `HH:MM:SS` or `sam logs`
//!   prefix;
//! - CloudWatch Logs events (`filter-log-events` items as JSON lines or an array, or a
//!   whole response);
//! - CloudWatch Logs subscription deliveries, base64 gzip (`awslogs.data`) or decoded, and a
//!   gzip file of either;
//! - platform records (`platform.*`): Telemetry API batches and JSON log format lines.
//!
//! Records are paired by RequestId, never by position, and fields are matched by label.

mod assemble;
mod error;
mod event;
mod fields;
mod json;
mod message;
mod names;
mod records;
mod summary;
mod text;

use std::fs::File;
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;
use time::{Date, OffsetDateTime};

use crate::invocation::{Architecture, Invocation};

use assemble::Assembler;
use event::EventContext;
use json::{JsonReader, PayloadError, inflate_bounded, is_gzip};
use message::{Parsed, parse_text_message};

pub use error::{FieldProblem, Location, ReadError};
pub use summary::{DateSource, ExtensionState, InputFormat, LogsDropped, ReadSummary, SkipReason};

/// Size limits of a read. An input over `max_input_bytes` is rejected. A line or message
/// over `max_line_bytes` is skipped and counted. A payload that inflates past
/// `max_decompressed_bytes` is a problem, counted or (in a strict read) returned, and is
/// never inflated further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest input read, in bytes. Default 1 GiB.
    pub max_input_bytes: u64,
    /// Maximum length of a text line or log event message, in bytes. Longer ones are skipped
    /// and counted. Default 1 MiB.
    pub max_line_bytes: usize,
    /// Largest size a gzip payload (`awslogs.data`, or a gzip input) may inflate to, in
    /// bytes. Default 16 MiB.
    pub max_decompressed_bytes: usize,
    /// Number of recovered problems kept in [`ReadSummary::problems`]. All are counted.
    /// Default 100.
    pub max_problems: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_input_bytes: 1 << 30,
            max_line_bytes: 1 << 20,
            max_decompressed_bytes: 16 << 20,
            max_problems: 100,
        }
    }
}

/// Settings of a read. These values fill in facts the input lacks, so a function name or
/// region in the input wins over them.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Function name for records whose input names no function.
    pub function: Option<String>,
    /// Region for records whose input names no region.
    pub region: Option<String>,
    /// Architecture of the function; platform logs do not print it.
    pub architecture: Option<Architecture>,
    /// Date (UTC) of the first line of a log that prints only times of day (`HH:MM:SS`),
    /// and of every record that carries no time at all.
    pub date: Option<Date>,
    /// Return the first malformed REPORT or undecodable payload as an error, instead of
    /// counting it in the summary and reading on.
    pub strict: bool,
    /// Size limits.
    pub limits: Limits,
}

/// Result of a read.
#[derive(Debug)]
pub struct PlatformRead {
    /// Invocations in the order their first record appeared.
    pub invocations: Vec<Invocation>,
    /// Counts, skipped records and where dates came from.
    pub summary: ReadSummary,
}

/// Reads platform data from a file. A log that prints only times of day takes its date from
/// [`ReadOptions::date`], or else from the file's modification time.
pub fn read_file(path: &Path, options: &ReadOptions) -> Result<PlatformRead, ReadError> {
    let io_error = |source| ReadError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    let modified = file
        .metadata()
        .and_then(|metadata| metadata.modified())
        .ok()
        .map(|modified| OffsetDateTime::from(modified).date());

    let limit = options.limits.max_input_bytes;
    let mut input = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut input)
        .map_err(io_error)?;
    if input.len() as u64 > limit {
        return Err(ReadError::InputTooLarge {
            name: path.display().to_string(),
            size: input.len() as u64,
            limit,
        });
    }
    read(&path.display().to_string(), &input, modified, options)
}

/// Reads platform data from bytes. `name` identifies the input in locations and errors.
pub fn read_bytes(
    name: &str,
    input: &[u8],
    options: &ReadOptions,
) -> Result<PlatformRead, ReadError> {
    if input.len() as u64 > options.limits.max_input_bytes {
        return Err(ReadError::InputTooLarge {
            name: name.to_owned(),
            size: input.len() as u64,
            limit: options.limits.max_input_bytes,
        });
    }
    read(name, input, None, options)
}

fn read(
    name: &str,
    input: &[u8],
    file_modified: Option<Date>,
    options: &ReadOptions,
) -> Result<PlatformRead, ReadError> {
    let name: Arc<str> = Arc::from(name);
    let mut assembler = Assembler::new(options, InputFormat::Empty);

    let inflated;
    let mut input = input;
    if is_gzip(input) {
        match inflate_bounded(input, options.limits.max_decompressed_bytes) {
            Ok(bytes) => {
                inflated = bytes;
                input = &inflated;
            }
            Err(error) => {
                let location = Location::line(&name, 1);
                let error = match error {
                    PayloadError::TooLarge => ReadError::PayloadTooLarge {
                        location,
                        limit: options.limits.max_decompressed_bytes,
                    },
                    PayloadError::Invalid(reason) => ReadError::InvalidPayload { location, reason },
                };
                assembler.problem(SkipReason::InvalidPayload, error)?;
                input = &[];
            }
        }
    }
    let input = input.strip_prefix("\u{feff}".as_bytes()).unwrap_or(input);

    let date_source = match detect(input) {
        Layout::Empty => DateSource::Timestamps,
        Layout::Text => {
            assembler.summary.format = InputFormat::Text;
            text::read_text(input, &name, file_modified, options, &mut assembler)?
        }
        Layout::JsonLines => {
            read_json_lines(input, &name, options, &mut assembler)?;
            DateSource::Timestamps
        }
        Layout::JsonDocument(document) => {
            let mut reader = JsonReader::new(&mut assembler, options);
            match &document {
                Value::Array(items) => {
                    for (index, item) in items.iter().enumerate() {
                        reader.read_item(item, &Location::record(&name, index + 1))?;
                    }
                }
                other => reader.read_item(other, &Location::record(&name, 1))?,
            }
            DateSource::Timestamps
        }
        Layout::InvalidJson => {
            assembler.summary.records_read += 1;
            assembler.skip(SkipReason::InvalidJson);
            DateSource::Timestamps
        }
    };

    let (invocations, summary) = assembler.finish(date_source)?;
    Ok(PlatformRead {
        invocations,
        summary,
    })
}

/// Layout of a whole input.
#[derive(Debug)]
enum Layout {
    Empty,
    Text,
    /// One JSON object per line.
    JsonLines,
    /// One JSON document: an array or an object.
    JsonDocument(Value),
    /// Starts like a JSON document but does not parse.
    InvalidJson,
}

fn detect(input: &[u8]) -> Layout {
    let Some(start) = input.iter().position(|byte| !byte.is_ascii_whitespace()) else {
        return Layout::Empty;
    };
    let body = &input[start..];
    match body[0] {
        b'{' => {
            let first_line = body.split(|byte| *byte == b'\n').next().unwrap_or(body);
            if matches!(
                serde_json::from_slice::<Value>(first_line),
                Ok(Value::Object(_))
            ) {
                return Layout::JsonLines;
            }
            serde_json::from_slice(body).map_or(Layout::InvalidJson, Layout::JsonDocument)
        }
        b'[' => {
            if let Ok(document) = serde_json::from_slice(body) {
                return Layout::JsonDocument(document);
            }
            // Python runtimes start text lines with `[INFO]`, and a JSON array never has an
            // uppercase letter after its bracket.
            let next = body[1..].iter().find(|byte| !byte.is_ascii_whitespace());
            match next {
                Some(byte) if byte.is_ascii_uppercase() => Layout::Text,
                _ => Layout::InvalidJson,
            }
        }
        _ => Layout::Text,
    }
}

fn read_json_lines(
    input: &[u8],
    name: &Arc<str>,
    options: &ReadOptions,
    assembler: &mut Assembler<'_>,
) -> Result<(), ReadError> {
    let mut reader = JsonReader::new(assembler, options);
    for (index, line) in input.split(|byte| *byte == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if line.len() > options.limits.max_line_bytes {
            reader.assembler.summary.records_read += 1;
            reader.assembler.skip(SkipReason::TooLong);
            continue;
        }
        if let Ok(item) = serde_json::from_slice::<Value>(line) {
            reader.read_item(&item, &Location::line(name, index + 1))?;
        } else {
            reader.assembler.summary.records_read += 1;
            reader.assembler.skip(SkipReason::InvalidJson);
        }
    }
    Ok(())
}

/// Parses one text log message and hands the result to the assembler.
fn dispatch_text_message(
    assembler: &mut Assembler<'_>,
    context: &EventContext,
    text: &str,
) -> Result<(), ReadError> {
    dispatch(assembler, context, parse_text_message(text))
}

/// Hands a parse result to the assembler: events are paired, problems recorded or, in a
/// strict read, returned.
fn dispatch(
    assembler: &mut Assembler<'_>,
    context: &EventContext,
    parsed: Parsed,
) -> Result<(), ReadError> {
    match parsed {
        Parsed::Event(event) => assembler.handle(context, event),
        Parsed::Ignored => {}
        Parsed::Skip(reason) => assembler.skip(reason),
        Parsed::InvalidReport(problem) => {
            let error = ReadError::InvalidReport {
                location: context.location.clone(),
                problem,
            };
            assembler.problem(SkipReason::InvalidReport, error)?;
        }
        Parsed::InvalidPlatformReport(problem) => {
            let error = ReadError::InvalidPlatformReport {
                location: context.location.clone(),
                problem,
            };
            assembler.problem(SkipReason::InvalidReport, error)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        assert!(matches!(detect(b"  \n"), Layout::Empty));
        assert!(matches!(detect(b"START RequestId: x"), Layout::Text));
        assert!(matches!(detect(b"[INFO]\tstarted\n"), Layout::Text));
        assert!(matches!(
            detect(b"{\"a\":1}\n{\"b\":2}\n"),
            Layout::JsonLines
        ));
        assert!(matches!(detect(b"{\n\"a\": 1\n}"), Layout::JsonDocument(_)));
        assert!(matches!(detect(b"[{\"a\":1}]"), Layout::JsonDocument(_)));
        assert!(matches!(detect(b"[{\"a\":1}"), Layout::InvalidJson));
        assert!(matches!(detect(b"{\n\"a\": "), Layout::InvalidJson));
    }
}
