//! Parsing of platform records (`{"time", "type", "record"}`), as the Telemetry API sends
//! them and as the JSON log format writes them to CloudWatch Logs.

use serde_json::{Map, Value};

use crate::invocation::{InitializationType, MemoryUnit, TraceContext};

use super::error::FieldProblem;
use super::event::{PlatformEvent, ReportFields};
use super::fields::bytes_to_megabytes;
use super::message::{Parsed, parse_status, parse_text_message};
use super::summary::{ExtensionState, SkipReason};

/// Largest integer an f64 represents exactly. JSON numbers above it are not trusted as
/// counts.
const MAX_EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Returns true when `object` has the shape of a platform record.
pub(crate) fn is_platform_record(object: &Map<String, Value>) -> bool {
    object.get("type").is_some_and(Value::is_string) && object.contains_key("record")
}

/// Parses one platform record. The caller reads its `time`.
pub(crate) fn parse_platform_record(object: &Map<String, Value>) -> Parsed {
    let kind = object.get("type").and_then(Value::as_str).unwrap_or("");
    let record = object.get("record").unwrap_or(&Value::Null);
    if matches!(kind, "function" | "extension") {
        // Output of the function or an extension: a string in text format, where a crash
        // line can name a request, or an object in JSON format.
        return match record.as_str() {
            Some(text) => parse_text_message(text),
            None => Parsed::Skip(SkipReason::ApplicationLog),
        };
    }
    let Some(record) = record.as_object() else {
        return Parsed::Skip(SkipReason::UnknownJson);
    };
    match kind {
        "platform.initStart" => init_start(record),
        "platform.initReport" => init_report(record),
        "platform.start" => start(record),
        "platform.runtimeDone" => runtime_done(record),
        "platform.report" => match report(record) {
            Ok(fields) => Parsed::Event(PlatformEvent::Report {
                fields,
                from_record: true,
            }),
            Err(problem) => Parsed::InvalidPlatformReport(problem),
        },
        "platform.restoreReport" => Parsed::Event(PlatformEvent::RestoreReport {
            duration_ms: record
                .get("metrics")
                .and_then(Value::as_object)
                .and_then(|metrics| metrics.get("durationMs"))
                .and_then(as_millis),
        }),
        "platform.extension" => extension(record, "extension", "events"),
        "platform.telemetrySubscription" => extension(record, "telemetrySubscription", "types"),
        "platform.logsSubscription" => extension(record, "logsSubscription", "types"),
        "platform.logsDropped" => Parsed::Event(PlatformEvent::LogsDropped {
            records: record.get("droppedRecords").and_then(as_count).unwrap_or(0),
            bytes: record.get("droppedBytes").and_then(as_count).unwrap_or(0),
        }),
        "platform.initRuntimeDone" | "platform.restoreStart" | "platform.restoreRuntimeDone" => {
            Parsed::Ignored
        }
        _ if kind.starts_with("platform.") => Parsed::Skip(SkipReason::UnknownPlatformType),
        _ => Parsed::Skip(SkipReason::UnknownJson),
    }
}

fn string(record: &Map<String, Value>, key: &str) -> Option<String> {
    record
        .get(key)
        .and_then(Value::as_str)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

/// Reads a non-negative, finite number of milliseconds.
fn as_millis(value: &Value) -> Option<f64> {
    value
        .as_f64()
        .filter(|number| number.is_finite() && *number >= 0.0)
}

/// Reads a non-negative whole number, written as an integer or as an integral float.
fn as_count(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|number| {
                *number >= 0.0 && *number <= MAX_EXACT_INTEGER && number.fract() == 0.0
            })
            .map(|number| number as u64)
    })
}

fn tracing(record: &Map<String, Value>) -> Option<TraceContext> {
    let tracing = record.get("tracing")?.as_object()?;
    if let Some(kind) = tracing.get("type").and_then(Value::as_str)
        && kind != "X-Amzn-Trace-Id"
    {
        return None;
    }
    let mut context = TraceContext::from_xray_header(tracing.get("value")?.as_str()?)?;
    context.segment_id = string(tracing, "spanId");
    Some(context)
}

fn init_start(record: &Map<String, Value>) -> Parsed {
    let memory = record
        .get("instanceMaxMemory")
        .and_then(as_count)
        .and_then(|bytes| u32::try_from(bytes_to_megabytes(bytes)).ok())
        .map(|megabytes| (megabytes, MemoryUnit::Bytes));
    Parsed::Event(PlatformEvent::InitStart {
        runtime_version_arn: string(record, "runtimeVersionArn"),
        initialization_type: record
            .get("initializationType")
            .and_then(Value::as_str)
            .and_then(InitializationType::from_platform_name),
        function_name: string(record, "functionName"),
        version: string(record, "functionVersion"),
        memory,
    })
}

fn init_report(record: &Map<String, Value>) -> Parsed {
    let status = record.get("status").and_then(Value::as_str);
    Parsed::Event(PlatformEvent::InitReport {
        invoke_phase: record.get("phase").and_then(Value::as_str) == Some("invoke"),
        duration_ms: record
            .get("metrics")
            .and_then(Value::as_object)
            .and_then(|metrics| metrics.get("durationMs"))
            .and_then(as_millis),
        failed: status.is_some_and(|status| status != "success"),
        error_type: string(record, "errorType"),
    })
}

fn start(record: &Map<String, Value>) -> Parsed {
    let Some(request_id) = string(record, "requestId") else {
        return Parsed::Skip(SkipReason::UnusablePlatformLine);
    };
    Parsed::Event(PlatformEvent::Start {
        request_id,
        version: string(record, "version"),
        function_arn: string(record, "functionArn"),
        trace: tracing(record),
    })
}

fn runtime_done(record: &Map<String, Value>) -> Parsed {
    let Some(request_id) = string(record, "requestId") else {
        return Parsed::Skip(SkipReason::UnusablePlatformLine);
    };
    let status = record
        .get("status")
        .and_then(Value::as_str)
        .and_then(|status| parse_status("status", status).ok());
    Parsed::Event(PlatformEvent::RuntimeDone {
        request_id,
        status,
        error_type: string(record, "errorType"),
        trace: tracing(record),
    })
}

fn report(record: &Map<String, Value>) -> Result<ReportFields, FieldProblem> {
    let request_id = string(record, "requestId").ok_or(FieldProblem::Missing("requestId"))?;
    let metrics = record
        .get("metrics")
        .and_then(Value::as_object)
        .ok_or(FieldProblem::Missing("metrics"))?;

    let millis = |key: &'static str| -> Result<Option<f64>, FieldProblem> {
        metrics
            .get(key)
            .map(|value| {
                as_millis(value).ok_or_else(|| {
                    FieldProblem::invalid(key, &value.to_string(), "a non-negative number")
                })
            })
            .transpose()
    };
    let count = |key: &'static str| -> Result<Option<u64>, FieldProblem> {
        metrics
            .get(key)
            .map(|value| {
                as_count(value).ok_or_else(|| {
                    FieldProblem::invalid(key, &value.to_string(), "a non-negative whole number")
                })
            })
            .transpose()
    };
    let megabytes = |key: &'static str| -> Result<Option<u32>, FieldProblem> {
        count(key)?
            .map(|value| {
                u32::try_from(value).map_err(|_| {
                    FieldProblem::invalid(key, &value.to_string(), "a size in MB below 2^32")
                })
            })
            .transpose()
    };

    let status = record
        .get("status")
        .map(|value| match value.as_str() {
            Some(text) => parse_status("status", text),
            None => Err(FieldProblem::invalid(
                "status",
                &value.to_string(),
                "a string",
            )),
        })
        .transpose()?;

    Ok(ReportFields {
        request_id,
        duration_ms: millis("durationMs")?.ok_or(FieldProblem::Missing("durationMs"))?,
        billed_ms: count("billedDurationMs")?.ok_or(FieldProblem::Missing("billedDurationMs"))?,
        memory: megabytes("memorySizeMB")?.map(|megabytes| (megabytes, MemoryUnit::Mb)),
        max_memory_used_mb: megabytes("maxMemoryUsedMB")?
            .ok_or(FieldProblem::Missing("maxMemoryUsedMB"))?,
        init_ms: millis("initDurationMs")?,
        restore_ms: millis("restoreDurationMs")?,
        billed_restore_ms: count("billedRestoreDurationMs")?,
        status,
        error_type: string(record, "errorType"),
        trace: tracing(record),
    })
}

fn extension(record: &Map<String, Value>, kind: &str, list_key: &str) -> Parsed {
    let Some(name) = string(record, "name") else {
        return Parsed::Skip(SkipReason::UnusablePlatformLine);
    };
    let types = record
        .get(list_key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    Parsed::Event(PlatformEvent::Extension(ExtensionState {
        kind: kind.to_owned(),
        name,
        state: string(record, "state").unwrap_or_default(),
        types,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(json: &str) -> Map<String, Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn report_record_missing_billed_duration() {
        let parsed = parse_platform_record(&object(
            r#"{"type":"platform.report","record":{"requestId":"a","metrics":{"durationMs":1.5,"memorySizeMB":128,"maxMemoryUsedMB":60}}}"#,
        ));
        let Parsed::InvalidPlatformReport(problem) = parsed else {
            panic!("expected an invalid report, got {parsed:?}");
        };
        assert_eq!(problem, FieldProblem::Missing("billedDurationMs"));
    }

    #[test]
    fn report_record_with_negative_duration() {
        let parsed = parse_platform_record(&object(
            r#"{"type":"platform.report","record":{"requestId":"a","metrics":{"durationMs":-1,"billedDurationMs":1,"memorySizeMB":128,"maxMemoryUsedMB":60}}}"#,
        ));
        let Parsed::InvalidPlatformReport(problem) = parsed else {
            panic!("expected an invalid report, got {parsed:?}");
        };
        assert_eq!(
            problem.to_string(),
            "invalid `durationMs` value `-1`: expected a non-negative number"
        );
    }

    #[test]
    fn counts_accept_integral_floats() {
        assert_eq!(as_count(&serde_json::json!(1698)), Some(1698));
        assert_eq!(as_count(&serde_json::json!(1698.0)), Some(1698));
        assert_eq!(as_count(&serde_json::json!(1698.5)), None);
        assert_eq!(as_count(&serde_json::json!(-1)), None);
        assert_eq!(as_count(&serde_json::json!(1e300)), None);
    }

    #[test]
    fn unknown_platform_type() {
        assert!(matches!(
            parse_platform_record(&object(r#"{"type":"platform.future","record":{}}"#)),
            Parsed::Skip(SkipReason::UnknownPlatformType)
        ));
    }
}
