//! Lambda's text platform lines (START, END, REPORT) written from an invocation record,
//! byte for byte as Lambda writes them to CloudWatch Logs, for the local Lambda simulator.

use std::fmt::Write as _;

use crate::invocation::{Invocation, Status};

/// Formats the START line: `START RequestId: <id> Version: <version>\n`. A record without a
/// version prints `$LATEST`.
#[must_use]
pub fn format_start_line(invocation: &Invocation) -> String {
    let version = invocation.version.as_deref().unwrap_or("$LATEST");
    format!(
        "START RequestId: {} Version: {version}\n",
        invocation.request_id
    )
}

/// Formats the END line: `END RequestId: <id>\n`.
#[must_use]
pub fn format_end_line(invocation: &Invocation) -> String {
    format!("END RequestId: {}\n", invocation.request_id)
}

/// Formats the REPORT log event: the REPORT line with a tab after every field, then the
/// XRAY part on a second line when the record has a trace.
///
/// Durations print with two decimals and memory in MB, as Lambda prints them. Optional
/// fields appear only when present: Init Duration, Restore Duration, Billed Restore
/// Duration, `Status` (only for errors and timeouts) and `Error Type`.
#[must_use]
pub fn format_report_line(invocation: &Invocation) -> String {
    let mut line = format!(
        "REPORT RequestId: {}\tDuration: {:.2} ms\tBilled Duration: {} ms\tMemory Size: {} MB\t\
         Max Memory Used: {} MB\t",
        invocation.request_id,
        invocation.duration_ms,
        invocation.billed_ms,
        invocation.memory_mb,
        invocation.max_memory_used_mb,
    );
    // `fmt::Write` for `String` never returns an error.
    if let Some(init_ms) = invocation.init_ms {
        let _ = write!(line, "Init Duration: {init_ms:.2} ms\t");
    }
    if let Some(restore_ms) = invocation.restore_ms {
        let _ = write!(line, "Restore Duration: {restore_ms:.2} ms\t");
    }
    if let Some(billed_restore_ms) = invocation.billed_restore_ms {
        let _ = write!(line, "Billed Restore Duration: {billed_restore_ms} ms\t");
    }
    // NOTE: the tab after `Status` and `Error Type` follows the other fields. The samples
    // with a Status field were captured with trailing whitespace trimmed, so this tab is not
    // confirmed against a raw CloudWatch Logs event.
    if invocation.status != Status::Success {
        let _ = write!(line, "Status: {}\t", invocation.status);
    }
    if let Some(error_type) = &invocation.error_type {
        let _ = write!(line, "Error Type: {error_type}\t");
    }
    line.push('\n');

    if let Some(trace) = &invocation.trace {
        let _ = write!(line, "XRAY TraceId: {}\t", trace.xray_trace_id);
        if let Some(segment_id) = &trace.segment_id {
            let _ = write!(line, "SegmentId: {segment_id}\t");
        }
        if let Some(sampled) = trace.sampled {
            let _ = write!(line, "Sampled: {sampled}\t");
        }
        line.push('\n');
    }
    line
}

/// Formats the START, END and REPORT log events of one invocation, one after the other.
#[must_use]
pub fn format_platform_lines(invocation: &Invocation) -> String {
    let mut lines = format_start_line(invocation);
    lines.push_str(&format_end_line(invocation));
    lines.push_str(&format_report_line(invocation));
    lines
}
