//! Read summary: counts, skipped records with their reasons, the date source, dropped logs
//! and the extensions that were active.

use std::collections::BTreeMap;
use std::fmt;

use time::Date;

use super::error::ReadError;

/// Layout of the whole input, as detected from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// No records at all.
    Empty,
    /// Text lines: bare, or with an `aws logs tail`, `HH:MM:SS` or `sam logs` prefix.
    Text,
    /// CloudWatch Logs events: `filter-log-events` items as JSON lines, a JSON array of
    /// them, or a whole `filter-log-events` response.
    CloudWatchEvents,
    /// CloudWatch Logs subscription deliveries, encoded (`awslogs.data`) or decoded.
    Subscription,
    /// Platform records (`{"time", "type", "record"}`): a Telemetry API batch or JSON log
    /// format lines.
    PlatformRecords,
}

impl fmt::Display for InputFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "no records",
            Self::Text => "text lines",
            Self::CloudWatchEvents => "CloudWatch Logs events",
            Self::Subscription => "CloudWatch Logs subscription deliveries",
            Self::PlatformRecords => "JSON platform records",
        })
    }
}

/// Origin of the dates of lines that print only a time of day, or no time at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateSource {
    /// Every record carried its own date.
    Timestamps,
    /// [`super::ReadOptions::date`], taken as the date of the first line.
    Option(Date),
    /// The file's modification time (UTC), taken as the date of the last line.
    FileModified(Date),
    /// Some records have no date, so their start time and billing era are unknown.
    Unknown,
}

impl fmt::Display for DateSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timestamps => f.write_str("timestamps in the input"),
            Self::Option(date) => write!(f, "the date option ({date})"),
            Self::FileModified(date) => write!(f, "the file modification time ({date})"),
            Self::Unknown => f.write_str(
                "the day of the run, because some records carry no time (pass --date to set \
                 it)",
            ),
        }
    }
}

/// Reason a line, log event or record produced no platform data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// Output of the function or an extension, with no platform keyword.
    ApplicationLog,
    /// A text line starting with `#`.
    Annotation,
    /// Longer than [`super::Limits::max_line_bytes`].
    TooLong,
    /// A JSON line or message that does not parse.
    InvalidJson,
    /// Valid JSON of a shape this reader does not know.
    UnknownJson,
    /// A `platform.*` record type this reader does not know.
    UnknownPlatformType,
    /// A platform line this reader recognises but cannot use (for example an XRAY part
    /// with no REPORT before it).
    UnusablePlatformLine,
    /// A log event of a CloudWatch Logs `CONTROL_MESSAGE` delivery.
    ControlMessage,
    /// A log event whose id was already read.
    DuplicateEvent,
    /// A REPORT identical to one already read for the same request.
    DuplicateReport,
    /// A REPORT line or `platform.report` record with a missing or invalid field.
    InvalidReport,
    /// A crash or timeout line that names no RequestId.
    CrashWithoutRequestId,
    /// An INIT_REPORT in the invoke phase that no single open request can take.
    UnattributedInitReport,
    /// A subscription payload that could not be decoded or was over the size limit.
    InvalidPayload,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ApplicationLog => "application log line",
            Self::Annotation => "`#` annotation line",
            Self::TooLong => "line over `max_line_bytes`",
            Self::InvalidJson => "invalid JSON",
            Self::UnknownJson => "JSON of an unknown shape",
            Self::UnknownPlatformType => "unknown platform record type",
            Self::UnusablePlatformLine => "platform line that names no request",
            Self::ControlMessage => "CloudWatch Logs control message",
            Self::DuplicateEvent => "duplicate log event id",
            Self::DuplicateReport => "duplicate REPORT",
            Self::InvalidReport => "invalid REPORT",
            Self::CrashWithoutRequestId => "crash line without a RequestId",
            Self::UnattributedInitReport => {
                "INIT_REPORT in the invoke phase with no single open request"
            }
            Self::InvalidPayload => "undecodable subscription payload",
        })
    }
}

/// Totals of `platform.logsDropped` records. Dropped logs are not invocations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogsDropped {
    /// Number of `platform.logsDropped` records.
    pub reports: u64,
    /// Sum of `droppedRecords`.
    pub records: u64,
    /// Sum of `droppedBytes`.
    pub bytes: u64,
}

/// An extension or a Telemetry/Logs API subscription the platform reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionState {
    /// Kind of platform record: `extension`, `telemetrySubscription` or `logsSubscription`
    /// (`EXTENSION`, `TELEMETRY` or `LOGS` in text).
    pub kind: String,
    /// Extension name.
    pub name: String,
    /// State, for example `Ready` or `Subscribed`.
    pub state: String,
    /// Subscribed event types (`INVOKE`, `SHUTDOWN`) or log types (`platform`, `function`).
    pub types: Vec<String>,
}

/// Summary of one read.
#[derive(Debug)]
pub struct ReadSummary {
    /// Detected layout of the input.
    pub format: InputFormat,
    /// Records examined: non-blank text lines, log events or platform records.
    pub records_read: usize,
    /// Invocations produced.
    pub invocations: usize,
    /// Records that produced no platform data, by reason.
    pub skipped: BTreeMap<SkipReason, usize>,
    /// Origin of the dates of records that carry none.
    pub date_source: DateSource,
    /// Problems a lenient read recovered from, up to [`super::Limits::max_problems`].
    pub problems: Vec<ReadError>,
    /// Number of problems, including those over the limit.
    pub problem_count: usize,
    /// Request ids seen in platform lines whose REPORT was not in the input.
    pub requests_without_report: Vec<String>,
    /// Totals of dropped-log notices.
    pub logs_dropped: LogsDropped,
    /// Extensions and subscriptions the platform reported.
    pub extensions: Vec<ExtensionState>,
}

impl ReadSummary {
    pub(crate) fn new(format: InputFormat) -> Self {
        Self {
            format,
            records_read: 0,
            invocations: 0,
            skipped: BTreeMap::new(),
            date_source: DateSource::Timestamps,
            problems: Vec::new(),
            problem_count: 0,
            requests_without_report: Vec::new(),
            logs_dropped: LogsDropped::default(),
            extensions: Vec::new(),
        }
    }

    /// Returns how many records were skipped for `reason`.
    #[must_use]
    pub fn skipped(&self, reason: SkipReason) -> usize {
        self.skipped.get(&reason).copied().unwrap_or(0)
    }

    pub(crate) fn skip(&mut self, reason: SkipReason) {
        *self.skipped.entry(reason).or_insert(0) += 1;
    }
}
