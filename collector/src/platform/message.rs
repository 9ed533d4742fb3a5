//! Parsing of one text log message: the START, END, REPORT, INIT_*, RESTORE_*, EXTENSION,
//! TELEMETRY and LOGS lines, and free-text crash and timeout lines that name a request.

use crate::invocation::{Status, TraceContext, parse_sampled};

use super::error::FieldProblem;
use super::event::{CrashEvidence, PlatformEvent, ReportFields};
use super::fields::{
    Fields, find_request_id, is_error_type, parse_memory, parse_millis, parse_whole_millis,
};
use super::summary::{ExtensionState, SkipReason};

/// Phrases of runtime crash messages. Lambda prints them with the request id, for example
/// `RequestId: <id> Error: Runtime exited with error: signal: killed` or, in older logs,
/// `RequestId: <id> Process exited before completing request`.
const CRASH_MARKERS: &[&str] = &[
    "Process exited before completing request",
    "Runtime exited",
    "signal: killed",
    "Runtime.ExitError",
    "Runtime.OutOfMemory",
];

/// Phrase of the timeout message, `<time> <id> Task timed out after 600.00 seconds`.
const TIMEOUT_MARKER: &str = "Task timed out after";

/// Outcome of parsing one message.
#[derive(Debug)]
pub(crate) enum Parsed {
    Event(PlatformEvent),
    /// A platform line that carries nothing this reader keeps (`RESTORE_START`).
    Ignored,
    Skip(SkipReason),
    InvalidReport(FieldProblem),
    InvalidPlatformReport(FieldProblem),
}

/// Parses one log message, which may span several lines (a REPORT with its XRAY part, or
/// a runtime error followed by its error type).
pub(crate) fn parse_text_message(text: &str) -> Parsed {
    let first_line = text.lines().next().unwrap_or("").trim_start();
    let keyword = first_line.split([' ', '\t']).next().unwrap_or("");
    let rest = first_line[keyword.len()..].trim_start();
    let labelled = |label: &str| {
        rest.strip_prefix(label)
            .is_some_and(|after| after.starts_with(':'))
    };
    match keyword {
        "START" if labelled("RequestId") => parse_start(text),
        "END" if labelled("RequestId") => parse_end(text),
        "REPORT" if labelled("RequestId") || text.contains("Billed Duration:") => {
            match parse_report(text) {
                Ok(fields) => Parsed::Event(PlatformEvent::Report {
                    fields,
                    from_record: false,
                }),
                Err(problem) => Parsed::InvalidReport(problem),
            }
        }
        "INIT_START" => parse_init_start(text),
        "INIT_REPORT" => parse_init_report(text),
        "RESTORE_START" => Parsed::Ignored,
        "RESTORE_REPORT" => {
            let fields = Fields::parse(text);
            let duration_ms = fields
                .get("Restore Duration")
                .and_then(|value| parse_millis("Restore Duration", value).ok());
            Parsed::Event(PlatformEvent::RestoreReport { duration_ms })
        }
        "EXTENSION" | "TELEMETRY" | "LOGS" => parse_extension(keyword, text),
        "XRAY" if labelled("TraceId") => Parsed::Skip(SkipReason::UnusablePlatformLine),
        _ => parse_free_text(text),
    }
}

fn parse_start(text: &str) -> Parsed {
    let fields = Fields::parse(text);
    let Some(request_id) = request_id(&fields) else {
        return Parsed::Skip(SkipReason::UnusablePlatformLine);
    };
    Parsed::Event(PlatformEvent::Start {
        request_id,
        version: fields
            .get("Version")
            .filter(|version| !version.is_empty())
            .map(str::to_owned),
        function_arn: None,
        trace: None,
    })
}

fn parse_end(text: &str) -> Parsed {
    match request_id(&Fields::parse(text)) {
        Some(request_id) => Parsed::Event(PlatformEvent::End { request_id }),
        None => Parsed::Skip(SkipReason::UnusablePlatformLine),
    }
}

fn request_id(fields: &Fields<'_>) -> Option<String> {
    let value = fields.get("RequestId")?;
    let valid = !value.is_empty() && !value.contains(char::is_whitespace);
    valid.then(|| value.to_owned())
}

/// Parses a REPORT line and its optional XRAY part. Fields are matched by label, so their
/// order and the optional ones (Init Duration, Restore Duration, Billed Restore Duration,
/// Status, Error Type, XRAY) do not matter.
pub(crate) fn parse_report(text: &str) -> Result<ReportFields, FieldProblem> {
    let fields = Fields::parse(text);
    let request_id = fields.require("RequestId")?;
    if request_id.contains(char::is_whitespace) {
        return Err(FieldProblem::invalid(
            "RequestId",
            request_id,
            "a request id without spaces",
        ));
    }
    let duration_ms = parse_millis("Duration", fields.require("Duration")?)?;
    let billed_ms = parse_whole_millis("Billed Duration", fields.require("Billed Duration")?)?;
    let (memory_mb, memory_unit) = parse_memory("Memory Size", fields.require("Memory Size")?)?;
    let (max_memory_used_mb, _) =
        parse_memory("Max Memory Used", fields.require("Max Memory Used")?)?;
    let init_ms = optional(&fields, "Init Duration", parse_millis)?;
    let restore_ms = optional(&fields, "Restore Duration", parse_millis)?;
    let billed_restore_ms = optional(&fields, "Billed Restore Duration", parse_whole_millis)?;
    let status = optional(&fields, "Status", parse_status)?;
    let error_type = fields
        .get("Error Type")
        .filter(|value| !value.is_empty())
        .map(str::to_owned);

    let trace = fields
        .get("XRAY TraceId")
        .or_else(|| fields.get("TraceId"))
        .filter(|value| !value.is_empty())
        .map(|trace_id| TraceContext {
            segment_id: fields
                .get("SegmentId")
                .filter(|value| !value.is_empty())
                .map(str::to_owned),
            sampled: fields.get("Sampled").and_then(parse_sampled),
            ..TraceContext::from_xray_trace_id(trace_id)
        });

    Ok(ReportFields {
        request_id: request_id.to_owned(),
        duration_ms,
        billed_ms,
        memory: Some((memory_mb, memory_unit)),
        max_memory_used_mb,
        init_ms,
        restore_ms,
        billed_restore_ms,
        status,
        error_type,
        trace,
    })
}

fn optional<T>(
    fields: &Fields<'_>,
    label: &'static str,
    parse: fn(&'static str, &str) -> Result<T, FieldProblem>,
) -> Result<Option<T>, FieldProblem> {
    fields
        .get(label)
        .map(|value| parse(label, value))
        .transpose()
}

/// Parses a REPORT `Status` value. `failure` is the Telemetry API's name for a runtime
/// failure and reads as an error.
pub(crate) fn parse_status(field: &'static str, value: &str) -> Result<Status, FieldProblem> {
    match value {
        "success" => Ok(Status::Success),
        "error" | "failure" => Ok(Status::Error),
        "timeout" => Ok(Status::Timeout),
        _ => Err(FieldProblem::invalid(
            field,
            value,
            "one of `success`, `error`, `failure` or `timeout`",
        )),
    }
}

fn parse_init_start(text: &str) -> Parsed {
    let fields = Fields::parse(text);
    Parsed::Event(PlatformEvent::InitStart {
        runtime_version_arn: fields.get("Runtime Version ARN").map(str::to_owned),
        initialization_type: None,
        function_name: None,
        version: None,
        memory: None,
    })
}

fn parse_init_report(text: &str) -> Parsed {
    let fields = Fields::parse(text);
    Parsed::Event(PlatformEvent::InitReport {
        invoke_phase: fields.get("Phase") == Some("invoke"),
        duration_ms: fields
            .get("Init Duration")
            .and_then(|value| parse_millis("Init Duration", value).ok()),
        failed: fields
            .get("Status")
            .is_some_and(|status| status != "success"),
        error_type: fields
            .get("Error Type")
            .filter(|value| !value.is_empty())
            .map(str::to_owned),
    })
}

/// Parses `EXTENSION Name: x State: Ready Events: [INVOKE, SHUTDOWN]` and the `TELEMETRY`
/// and `LOGS` subscription lines, which list `Types:` instead of `Events:`.
fn parse_extension(keyword: &str, text: &str) -> Parsed {
    let fields = Fields::parse(text);
    let Some(name) = fields.get("Name").filter(|name| !name.is_empty()) else {
        return Parsed::Skip(SkipReason::ApplicationLog);
    };
    let kind = match keyword {
        "EXTENSION" => "extension",
        "TELEMETRY" => "telemetrySubscription",
        _ => "logsSubscription",
    };
    let types = fields
        .get("Events")
        .or_else(|| fields.get("Types"))
        .map(|list| {
            list.trim_matches(['[', ']'])
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Parsed::Event(PlatformEvent::Extension(ExtensionState {
        kind: kind.to_owned(),
        name: name.to_owned(),
        state: fields.get("State").unwrap_or("").to_owned(),
        types,
    }))
}

/// Reads crash and timeout evidence from a line that is not a platform line. The request is
/// the one after `RequestId: `, or else the first UUID in the text. Anything else is
/// application output.
fn parse_free_text(text: &str) -> Parsed {
    let timed_out = text.contains(TIMEOUT_MARKER);
    let crashed = CRASH_MARKERS.iter().any(|marker| text.contains(marker));
    if !timed_out && !crashed {
        return Parsed::Skip(SkipReason::ApplicationLog);
    }
    let labelled_id = text.split_once("RequestId: ").and_then(|(_, rest)| {
        rest.split(char::is_whitespace)
            .next()
            .filter(|id| !id.is_empty())
    });
    let Some(request_id) = labelled_id.or_else(|| find_request_id(text)) else {
        return Parsed::Skip(SkipReason::CrashWithoutRequestId);
    };
    let error_type = text
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | ':' | '"' | '\'' | '(' | ')'))
        .find(|word| {
            is_error_type(word) && (word.starts_with("Runtime.") || word.starts_with("Sandbox."))
        })
        .map(str::to_owned);
    Parsed::Event(PlatformEvent::Crash {
        request_id: request_id.to_owned(),
        evidence: CrashEvidence {
            crashed,
            timed_out,
            error_type,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(text: &str) -> ReportFields {
        parse_report(text).unwrap()
    }

    #[test]
    fn report_with_status_and_error_type() {
        let fields = report(
            "REPORT RequestId: f5c141fe-d7a6-4f0b-b8d2-430c24478995\tDuration: 2500.00 ms\t\
             Billed Duration: 2500 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\t\
             Status: error\tError Type: Runtime.OutOfMemory\t",
        );
        assert_eq!(fields.status, Some(Status::Error));
        assert_eq!(fields.error_type.as_deref(), Some("Runtime.OutOfMemory"));
        assert_eq!(fields.init_ms, None);
    }

    #[test]
    fn report_missing_billed_duration() {
        let problem = parse_report(
            "REPORT RequestId: f5c141fe-d7a6-4f0b-b8d2-430c24478995\tDuration: 2500.00 ms\t\
             Memory Size: 256 MB\tMax Memory Used: 256 MB\t",
        )
        .unwrap_err();
        assert_eq!(problem, FieldProblem::Missing("Billed Duration"));
    }

    #[test]
    fn report_with_unknown_status() {
        let problem = parse_report(
            "REPORT RequestId: f5c141fe-d7a6-4f0b-b8d2-430c24478995\tDuration: 1.00 ms\t\
             Billed Duration: 1 ms\tMemory Size: 256 MB\tMax Memory Used: 25 MB\tStatus: odd",
        )
        .unwrap_err();
        assert_eq!(
            problem.to_string(),
            "invalid `Status` value `odd`: expected one of `success`, `error`, `failure` or \
             `timeout`"
        );
    }

    #[test]
    fn crash_line_names_its_request() {
        let Parsed::Event(PlatformEvent::Crash {
            request_id,
            evidence,
        }) = parse_text_message(
            "RequestId: f5c141fe-d7a6-4f0b-b8d2-430c24478995 Error: Runtime exited with error: \
             signal: killed\nRuntime.ExitError",
        )
        else {
            panic!("expected a crash event");
        };
        assert_eq!(request_id, "f5c141fe-d7a6-4f0b-b8d2-430c24478995");
        assert!(evidence.crashed);
        assert!(!evidence.timed_out);
        assert_eq!(evidence.error_type.as_deref(), Some("Runtime.ExitError"));
    }

    #[test]
    fn crash_line_without_request_id() {
        assert!(matches!(
            parse_text_message("Error: Runtime exited with error: signal: killed"),
            Parsed::Skip(SkipReason::CrashWithoutRequestId)
        ));
    }

    #[test]
    fn application_lines_mentioning_keywords() {
        for line in [
            "START processing batch",
            "END of input",
            "REPORT generated for customer 42",
            "XRAY is disabled",
            "[INFO]\t2024-05-02T10:15:30.120Z\t22646860-521e-4fdd-9344-c4440d5a2c22\tok",
        ] {
            assert!(
                matches!(
                    parse_text_message(line),
                    Parsed::Skip(SkipReason::ApplicationLog)
                ),
                "{line}"
            );
        }
    }

    #[test]
    fn extension_line() {
        let Parsed::Event(PlatformEvent::Extension(state)) = parse_text_message(
            "EXTENSION\tName: cost-probe\tState: Ready\tEvents: [INVOKE, SHUTDOWN]",
        ) else {
            panic!("expected an extension event");
        };
        assert_eq!(state.kind, "extension");
        assert_eq!(state.name, "cost-probe");
        assert_eq!(state.state, "Ready");
        assert_eq!(state.types, ["INVOKE", "SHUTDOWN"]);
    }

    #[test]
    fn init_report_in_invoke_phase() {
        let Parsed::Event(PlatformEvent::InitReport {
            invoke_phase,
            duration_ms,
            failed,
            error_type,
        }) = parse_text_message(
            "INIT_REPORT Init Duration: 10000.21 ms\tPhase: invoke\tStatus: timeout",
        )
        else {
            panic!("expected an init report");
        };
        assert!(invoke_phase);
        assert_eq!(duration_ms, Some(10_000.21));
        assert!(failed);
        assert_eq!(error_type, None);
    }
}
