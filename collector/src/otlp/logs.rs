//! OTLP log records as Lambda platform data.
//!
//! Log pipelines forward Lambda's platform lines (START, REPORT, INIT_REPORT) and
//! `platform.*` records as log bodies, and the platform reader turns them into invocations.
//! spanbill has no table for other logs, so every other record is rejected with its reason
//! and counted in the partial success, not dropped without a word.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::model::Records;
use crate::platform::{self, InputFormat, ReadError, ReadOptions, ReadSummary, SkipReason};

use super::{Converted, RejectReason};

/// Name of the input in the platform reader's locations and errors.
const INPUT_NAME: &str = "otlp logs";

/// Reads the platform data in the log records of `request` into invocations. Records that
/// carry no platform data, and platform records the reader finds invalid, are rejected.
///
/// Each record is first read alone to classify it and find its layout, because START and
/// REPORT of one request may come in separate records. The platform records are then read
/// together, so the reader pairs them by RequestId. Records with a time are read as
/// CloudWatch Logs events, which date each record and name the function by the resource's
/// `faas.name`, `cloud.resource_id` or `aws.log.group.names`. Records without a time are
/// read by layout (text lines, or JSON platform records), with the function and date of
/// `options`.
pub fn convert_logs(
    request: &ExportLogsServiceRequest,
    options: &ReadOptions,
) -> Result<Converted, ReadError> {
    let mut converted = Converted::default();
    // Records with a time, written as the CloudWatch Logs events of one input. The event's
    // timestamp dates the record, and its log group names the function.
    let mut events = String::new();
    // Records without a time, by layout.
    let mut inputs: Vec<(InputFormat, String)> = Vec::new();
    for resource_logs in &request.resource_logs {
        let log_group = log_group(resource_logs.resource.as_ref());
        let records = resource_logs
            .scope_logs
            .iter()
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
            let time_ns = [record.time_unix_nano, record.observed_time_unix_nano]
                .into_iter()
                .find(|&time| time > 0);
            if let Some(time_ns) = time_ns {
                let mut event = serde_json::json!({
                    "timestamp": time_ns / 1_000_000,
                    "message": body,
                });
                if let Some(group) = &log_group {
                    event["logGroupName"] = group.as_str().into();
                }
                events.push_str(&event.to_string());
                events.push('\n');
                continue;
            }
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
    }

    let mut invocations = Vec::new();
    let texts = std::iter::once(&events).chain(inputs.iter().map(|(_, text)| text));
    for text in texts.filter(|text| !text.is_empty()) {
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

/// Returns the CloudWatch Logs group of a resource's records, which names their function.
/// It is `/aws/lambda/` with `faas.name`, else with the function name of the
/// `cloud.resource_id` ARN, else the first of `aws.log.group.names`.
fn log_group(resource: Option<&Resource>) -> Option<String> {
    let attributes = &resource?.attributes;
    let value = |key: &str| {
        attributes
            .iter()
            .find(|attribute| attribute.key == key)
            .and_then(|attribute| attribute.value.as_ref()?.value.as_ref())
    };
    let text = |key: &str| match value(key) {
        Some(any_value::Value::StringValue(text)) if !text.is_empty() => Some(text.as_str()),
        _ => None,
    };
    if let Some(name) = text("faas.name") {
        return Some(format!("/aws/lambda/{name}"));
    }
    // arn:aws:lambda:REGION:ACCOUNT:function:NAME, optionally with :QUALIFIER.
    let from_arn = text("cloud.resource_id").and_then(|arn| {
        let mut fields = arn.split(':').skip(5);
        (fields.next() == Some("function"))
            .then(|| fields.next())
            .flatten()
    });
    if let Some(name) = from_arn {
        return Some(format!("/aws/lambda/{name}"));
    }
    match value("aws.log.group.names") {
        Some(any_value::Value::ArrayValue(groups)) => {
            groups
                .values
                .iter()
                .find_map(|group| match group.value.as_ref()? {
                    any_value::Value::StringValue(name) if !name.is_empty() => Some(name.clone()),
                    _ => None,
                })
        }
        _ => None,
    }
}

/// Returns the layout of one record's body, or why it is no platform data.
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
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, KeyValue};
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
        let reasons: Vec<&RejectReason> = converted
            .rejected
            .iter()
            .map(|rejection| &rejection.reason)
            .collect();
        assert_eq!(
            reasons,
            [
                &RejectReason::NotPlatformLog,
                &RejectReason::NotPlatformLog,
                &RejectReason::LogBodyNotString,
                &RejectReason::LogBodyNotString,
            ]
        );
    }

    #[test]
    fn timed_records_take_function_and_time() {
        let mut logs = request(vec![
            Some(text("START RequestId: r3 Version: 7")),
            Some(text(
                "REPORT RequestId: r3\tDuration: 20.00 ms\tBilled Duration: 21 ms\t\
                 Memory Size: 256 MB\tMax Memory Used: 60 MB\t",
            )),
        ]);
        // 2026-10-01T00:00:00Z and 25 ms later.
        let start_ns = 1_790_812_800_000_000_000_u64;
        let records = &mut logs.resource_logs[0].scope_logs[0].log_records;
        records[0].time_unix_nano = start_ns;
        records[1].observed_time_unix_nano = start_ns + 25_000_000;
        logs.resource_logs[0].resource = Some(Resource {
            attributes: vec![KeyValue {
                key: "faas.name".to_owned(),
                value: Some(AnyValue {
                    value: Some(text("checkout")),
                }),
                ..KeyValue::default()
            }],
            ..Resource::default()
        });

        let converted = convert_logs(&logs, &ReadOptions::default()).unwrap();
        assert!(converted.rejected.is_empty(), "{:?}", converted.rejected);
        assert_eq!(converted.records.invocations.len(), 1);
        let invocation = &converted.records.invocations[0];
        assert_eq!(invocation.function.as_deref(), Some("checkout"));
        let start = invocation.start.expect("start time from the START record");
        assert_eq!(start.unix_timestamp_nanos(), i128::from(start_ns));
        assert_eq!(invocation.billed_ms, 21);
    }

    #[test]
    fn log_group_from_resource_attributes() {
        let resource = |key: &str, value: any_value::Value| Resource {
            attributes: vec![KeyValue {
                key: key.to_owned(),
                value: Some(AnyValue { value: Some(value) }),
                ..KeyValue::default()
            }],
            ..Resource::default()
        };
        let arn = "arn:aws:lambda:eu-west-1:123456789012:function:resize:live";
        assert_eq!(
            log_group(Some(&resource("cloud.resource_id", text(arn)))).as_deref(),
            Some("/aws/lambda/resize")
        );
        let groups = any_value::Value::ArrayValue(ArrayValue {
            values: vec![AnyValue {
                value: Some(text("/aws/lambda/billing")),
            }],
        });
        assert_eq!(
            log_group(Some(&resource("aws.log.group.names", groups))).as_deref(),
            Some("/aws/lambda/billing")
        );
        assert_eq!(log_group(Some(&resource("service.name", text("x")))), None);
        assert_eq!(log_group(None), None);
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
