//! OTLP log records as Lambda platform data.
//!
//! Log pipelines forward Lambda's platform lines (START, REPORT, INIT_REPORT) and
//! `platform.*` records as log bodies, and the platform reader turns them into invocations.
//! spanbill has no table for other logs, so every other record is rejected with its reason
//! and counted in the partial success, not dropped without a word.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;

use crate::model::Records;
use crate::platform::{self, InputFormat, ReadError, ReadOptions, ReadSummary, SkipReason};

use super::{Converted, RejectReason};

/// Name of the input in the platform reader's locations and errors.
const INPUT_NAME: &str = "otlp logs";

/// Reads the platform data in the log records of `request` into invocations. Records that
/// carry no platform data, and platform records the reader finds invalid, are rejected.
///
/// Each record is first read alone to classify it and find its layout, because START and
/// REPORT of one request may come in separate records. The platform records of each layout
/// (text lines, or JSON platform records) are then read together, so the reader pairs them
/// by RequestId.
pub fn convert_logs(
    request: &ExportLogsServiceRequest,
    options: &ReadOptions,
) -> Result<Converted, ReadError> {
    let mut converted = Converted::default();
    let mut inputs: Vec<(InputFormat, String)> = Vec::new();
    let records = request
        .resource_logs
        .iter()
        .flat_map(|resource_logs| &resource_logs.scope_logs)
        .flat_map(|scope_logs| &scope_logs.log_records);
    for record in records {
        let Some(any_value::Value::StringValue(body)) =
            record.body.as_ref().and_then(|body| body.value.as_ref())
        else {
            converted.reject(RejectReason::LogBodyNotString);
            continue;
        };
        let format = match classify(body, options) {
            Ok(format) => format,
            Err(reason) => {
                converted.reject(reason);
                continue;
            }
        };
        let index = inputs
            .iter()
            .position(|(known, _)| *known == format)
            .unwrap_or_else(|| {
                inputs.push((format, String::new()));
                inputs.len() - 1
            });
        let text = &mut inputs[index].1;
        text.push_str(body);
        if !body.ends_with('\n') {
            text.push('\n');
        }
    }

    let mut invocations = Vec::new();
    for (_, text) in &inputs {
        let read = platform::read_bytes(INPUT_NAME, text.as_bytes(), options)?;
        for problem in &read.summary.problems {
            converted.reject(RejectReason::InvalidPlatformData(problem.to_string()));
        }
        let unlisted = read
            .summary
            .problem_count
            .saturating_sub(read.summary.problems.len());
        for _ in 0..unlisted {
            converted.reject(RejectReason::InvalidPlatformData(
                "further invalid platform records".to_owned(),
            ));
        }
        invocations.extend(read.invocations);
    }
    converted.records = Records {
        invocations,
        ..Records::default()
    };
    Ok(converted)
}

/// Reads one log body alone and returns its layout, or rejects it when it carries no
/// platform data.
fn classify(body: &str, options: &ReadOptions) -> Result<InputFormat, RejectReason> {
    let read = platform::read_bytes(INPUT_NAME, body.as_bytes(), options)
        .map_err(|error| RejectReason::InvalidPlatformData(error.to_string()))?;
    if is_not_platform_data(&read.summary) {
        return Err(RejectReason::NotPlatformLog);
    }
    Ok(read.summary.format)
}

/// Returns true when a read skipped every record it examined as output of the function or
/// as JSON that is no platform record, or examined none.
fn is_not_platform_data(summary: &ReadSummary) -> bool {
    let not_platform = [
        SkipReason::ApplicationLog,
        SkipReason::UnknownJson,
        SkipReason::InvalidJson,
        SkipReason::Annotation,
    ]
    .into_iter()
    .map(|reason| summary.skipped(reason))
    .sum::<usize>();
    summary.problem_count == 0 && not_platform == summary.records_read
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::AnyValue;
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    use super::*;

    fn request(bodies: Vec<Option<any_value::Value>>) -> ExportLogsServiceRequest {
        let log_records = bodies
            .into_iter()
            .map(|body| LogRecord {
                body: body.map(|value| AnyValue { value: Some(value) }),
                ..LogRecord::default()
            })
            .collect();
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records,
                    ..ScopeLogs::default()
                }],
                ..ResourceLogs::default()
            }],
        }
    }

    fn text(body: &str) -> any_value::Value {
        any_value::Value::StringValue(body.to_owned())
    }

    #[test]
    fn platform_lines_in_separate_records_pair() {
        let converted = convert_logs(
            &request(vec![
                Some(text("START RequestId: r1 Version: $LATEST")),
                Some(text("INFO order 42 created")),
                Some(text(
                    "REPORT RequestId: r1\tDuration: 12.34 ms\tBilled Duration: 13 ms\t\
                     Memory Size: 128 MB\tMax Memory Used: 40 MB\t",
                )),
                Some(text(r#"{"level":"info","msg":"order created"}"#)),
                Some(any_value::Value::IntValue(7)),
                None,
            ]),
            &ReadOptions::default(),
        )
        .unwrap();

        assert_eq!(converted.records.invocations.len(), 1);
        assert_eq!(converted.records.invocations[0].request_id, "r1");
        assert_eq!(
            converted.records.invocations[0].version.as_deref(),
            Some("$LATEST")
        );
        assert_eq!(
            converted.rejected,
            [
                RejectReason::NotPlatformLog,
                RejectReason::NotPlatformLog,
                RejectReason::LogBodyNotString,
                RejectReason::LogBodyNotString,
            ]
        );
    }

    #[test]
    fn invalid_report_is_rejected_with_problem() {
        let converted = convert_logs(
            &request(vec![Some(text("REPORT RequestId: r2\tDuration: 1.00 ms"))]),
            &ReadOptions::default(),
        )
        .unwrap();
        assert!(converted.records.invocations.is_empty());
        assert_eq!(converted.rejected.len(), 1);
        let message = converted.error_message();
        assert!(message.contains("missing `Billed Duration`"), "{message}");
    }
}
