//! Errors of a platform log read and the locations they point at.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Place of a record in the input, for error messages and skip counts.
///
/// Displays as `app.log:12` for a line, `batch.json record 9` for an element of a JSON
/// array, and `payload.json record 1 event 4` for a log event inside a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// Input name: the file path or the name the caller gave.
    pub source: Arc<str>,
    /// Line number, 1-based, in line-oriented inputs.
    pub line: Option<usize>,
    /// Element index, 1-based, in a JSON array.
    pub record: Option<usize>,
    /// Log event index, 1-based, inside a CloudWatch Logs delivery.
    pub event: Option<usize>,
}

impl Location {
    pub(crate) fn line(source: &Arc<str>, line: usize) -> Self {
        Self {
            source: Arc::clone(source),
            line: Some(line),
            record: None,
            event: None,
        }
    }

    pub(crate) fn record(source: &Arc<str>, record: usize) -> Self {
        Self {
            source: Arc::clone(source),
            line: None,
            record: Some(record),
            event: None,
        }
    }

    pub(crate) fn with_event(&self, event: usize) -> Self {
        Self {
            event: Some(event),
            ..self.clone()
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(record) = self.record {
            write!(f, " record {record}")?;
        }
        if let Some(event) = self.event {
            write!(f, " event {event}")?;
        }
        Ok(())
    }
}

/// Problem with one field of a REPORT line or a `platform.report` record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldProblem {
    /// A required field is absent.
    #[error("missing `{0}`")]
    Missing(&'static str),
    /// A field is present but its value cannot be read.
    #[error("invalid `{field}` value `{value}`: expected {expected}")]
    Invalid {
        /// Field label as the platform prints it.
        field: &'static str,
        /// Value as found, shortened to 80 characters.
        value: String,
        /// Description of a valid value.
        expected: &'static str,
    },
}

impl FieldProblem {
    pub(crate) fn invalid(field: &'static str, value: &str, expected: &'static str) -> Self {
        let mut shortened: String = value.chars().take(80).collect();
        if shortened.len() < value.len() {
            shortened.push_str("...");
        }
        Self::Invalid {
            field,
            value: shortened,
            expected,
        }
    }
}

/// Failure of a platform log read.
///
/// In a lenient read ([`super::ReadOptions::strict`] false) only [`ReadError::Io`] and
/// [`ReadError::InputTooLarge`] end the read; the others are kept in the summary.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The file could not be read.
    #[error("failed to read `{path}`: {source}")]
    Io {
        /// File path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The input is larger than [`super::Limits::max_input_bytes`].
    #[error(
        "input `{name}` has {size} bytes, more than the limit of {limit}; raise \
         `max_input_bytes` or split the input"
    )]
    InputTooLarge {
        /// Input name.
        name: String,
        /// Input size in bytes.
        size: u64,
        /// Limit in bytes.
        limit: u64,
    },
    /// A text REPORT line lacks a required field or has an unreadable value.
    #[error("invalid REPORT line at `{location}`: {problem}")]
    InvalidReport {
        /// Location of the line.
        location: Location,
        /// The problem.
        problem: FieldProblem,
    },
    /// A `platform.report` record lacks a required field or has an unreadable value.
    #[error("invalid platform.report record at `{location}`: {problem}")]
    InvalidPlatformReport {
        /// Location of the record.
        location: Location,
        /// The problem.
        problem: FieldProblem,
    },
    /// A CloudWatch Logs subscription payload (`awslogs.data`) could not be decoded.
    #[error("invalid `awslogs.data` payload at `{location}`: {reason}")]
    InvalidPayload {
        /// Location of the payload.
        location: Location,
        /// Cause of the decoding failure.
        reason: String,
    },
    /// A subscription payload inflates to more than
    /// [`super::Limits::max_decompressed_bytes`].
    #[error(
        "`awslogs.data` payload at `{location}` inflates to more than {limit} bytes; raise \
         `max_decompressed_bytes` if the payload is trusted"
    )]
    PayloadTooLarge {
        /// Location of the payload.
        location: Location,
        /// Limit in bytes.
        limit: usize,
    },
}
