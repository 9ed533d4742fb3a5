//! Trace context crosses between spanbill and the OpenTelemetry Python SDK in both
//! directions.
//!
//! Needs `.venv-test` at the workspace root with `opentelemetry-sdk` installed (`.ci/run`
//! creates it); `SPANBILL_PYTHON` names another interpreter.

mod support;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::Context;
use spanbill_instrumentation as spanbill;
use spanbill_instrumentation::InitType;
use support::{Harness, context, sqs_message, string_attribute};

fn python() -> PathBuf {
    let path = std::env::var_os("SPANBILL_PYTHON").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../.venv-test/bin/python"
            ))
        },
        PathBuf::from,
    );
    assert!(
        path.exists(),
        "missing Python interpreter `{}`: run `.ci/run`, or create `.venv-test` with \
         `python3 -m venv .venv-test && .venv-test/bin/pip install opentelemetry-sdk`",
        path.display()
    );
    path
}

fn run_python(mode: &str, stdin: &str) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/w3c_context.py");
    let mut child = Command::new(python())
        .args([script, mode])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "python {mode} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[derive(Debug, thiserror::Error)]
#[error("never")]
struct Never;

#[tokio::test]
async fn python_sdk_extracts_what_spanbill_injects() {
    let harness = Harness::new(InitType::OnDemand, None);

    #[spanbill::handler(name = "createOrder")]
    async fn create_order(
        _event: serde_json::Value,
        _context: Context,
    ) -> Result<spanbill::messaging::MessageContext, Never> {
        spanbill::messaging::publish("aws_sqs", "payments", |message| async move { Ok(message) })
            .await
    }
    let mut sent = harness
        .run(create_order(serde_json::json!({}), context("req-py-1")))
        .await
        .unwrap();
    sent.attributes
        .insert("tracestate".to_owned(), "vendor=v1".to_owned());

    let extracted = run_python("extract", &serde_json::to_string(&sent.attributes).unwrap());
    let send_span = harness.span("send payments");
    assert_eq!(
        extracted["trace_id"],
        format!("{:032x}", send_span.span_context.trace_id())
    );
    assert_eq!(
        extracted["span_id"],
        format!("{:016x}", send_span.span_context.span_id())
    );
    assert_eq!(extracted["sampled"], true);
    assert_eq!(extracted["remote"], true);
    assert_eq!(extracted["tracestate"], "vendor=v1");
}

#[tokio::test]
async fn spanbill_consumer_extracts_what_python_sdk_injects() {
    let harness = Harness::new(InitType::OnDemand, None);
    let produced = run_python("inject", "");
    let traceparent = produced["carrier"]["traceparent"].as_str().unwrap();

    #[spanbill::handler(name = "handlePayment")]
    async fn handle_payment(event: SqsEvent, _context: Context) -> Result<SqsBatchResponse, Never> {
        for message in &event.records {
            spanbill::messaging::process_message(message, async { Ok::<_, Never>(()) }).await?;
        }
        Ok(SqsBatchResponse::default())
    }
    let event: SqsEvent = serde_json::from_value(serde_json::json!({"Records": [
        sqs_message("m-py", serde_json::json!({"traceparent": string_attribute(traceparent)}), serde_json::json!({})),
    ]}))
    .unwrap();
    harness
        .run(handle_payment(event, context("req-py-2")))
        .await
        .unwrap();

    let invocation = harness.span("handlePayment");
    let message = harness.span("process payments");
    assert_eq!(
        format!("{:032x}", invocation.span_context.trace_id()),
        produced["trace_id"].as_str().unwrap()
    );
    assert_eq!(
        format!("{:016x}", invocation.parent_span_id),
        produced["span_id"].as_str().unwrap()
    );
    assert_eq!(
        format!("{:016x}", message.parent_span_id),
        produced["span_id"].as_str().unwrap()
    );
    assert_eq!(
        message.span_context.trace_id(),
        invocation.span_context.trace_id()
    );
}
