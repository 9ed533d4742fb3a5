//! Downstream AWS services, Azure Functions and Cloud Run functions at the built-in prices.

use rust_decimal::Decimal;
use spanbill_reports::azure::{ConsumptionUsage, FlexUsage, consumption_charge, flex_charge};
use spanbill_reports::downstream::{DownstreamCall, Service, price_call};
use spanbill_reports::gcp::{RunFunctionsUsage, run_functions_charge};
use spanbill_reports::{Basis, PriceBook};

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// Returns the billed units and the amount of a call.
fn price(
    service: Service,
    operation: Option<&str>,
    payload_bytes: u64,
    count: u64,
) -> (Decimal, Decimal) {
    let cost = price_call(
        &DownstreamCall::new(service, operation, payload_bytes, count),
        &PriceBook::built_in(),
    );
    assert_eq!(cost.basis, Basis::Estimated);
    (cost.units, cost.amount)
}

#[test]
fn sqs_bills_each_64_kib_chunk() {
    assert_eq!(
        price(Service::Sqs, Some("SendMessage"), 0, 1),
        (dec("1"), dec("0.0000004"))
    );
    assert_eq!(
        price(Service::Sqs, None, 65_536, 1),
        (dec("1"), dec("0.0000004"))
    );
    assert_eq!(price(Service::Sqs, None, 65_537, 1).0, dec("2"));
    assert_eq!(
        price(Service::Sqs, None, 70_000, 3),
        (dec("6"), dec("0.0000024"))
    );
    assert_eq!(price(Service::Sqs, None, 262_144, 1).0, dec("4"));
}

#[test]
fn sns_and_eventbridge_bill_64_kib_chunks() {
    assert_eq!(
        price(Service::Sns, Some("Publish"), 200, 1),
        (dec("1"), dec("0.0000005"))
    );
    assert_eq!(
        price(Service::EventBridge, Some("PutEvents"), 262_144, 1),
        (dec("4"), dec("0.000004"))
    );
}

#[test]
fn api_gateway_rest_and_http() {
    assert_eq!(
        price(Service::ApiGatewayRest, None, 10_000_000, 1000),
        (dec("1000"), dec("0.0035"))
    );
    assert_eq!(
        price(Service::ApiGatewayHttp, None, 512 * 1024, 1),
        (dec("1"), dec("0.000001"))
    );
    assert_eq!(
        price(Service::ApiGatewayHttp, None, 600 * 1024, 1),
        (dec("2"), dec("0.000002"))
    );
}

#[test]
fn dynamodb_request_units() {
    assert_eq!(
        price(Service::DynamoDb, Some("PutItem"), 1536, 1),
        (dec("2"), dec("0.00000125"))
    );
    assert_eq!(
        price(Service::DynamoDb, Some("GetItem"), 5000, 1),
        (dec("2"), dec("0.00000025"))
    );
    assert_eq!(
        price(Service::DynamoDb, Some("TransactWriteItems"), 100, 1).0,
        dec("2")
    );
    assert_eq!(price(Service::DynamoDb, Some("Query"), 0, 4).0, dec("4"));
    assert_eq!(
        price(Service::DynamoDb, Some("DescribeTable"), 0, 1),
        (Decimal::ZERO, Decimal::ZERO)
    );
}

#[test]
fn step_functions_xray_and_cloudwatch() {
    assert_eq!(
        price(Service::StepFunctions, None, 0, 12),
        (dec("12"), dec("0.0003"))
    );
    assert_eq!(
        price(Service::XRay, None, 0, 1),
        (dec("1"), dec("0.000005"))
    );
    assert_eq!(
        price(Service::CloudWatchLogs, None, 1 << 30, 1),
        (dec("1"), dec("0.5"))
    );
    assert_eq!(
        price(Service::CloudWatchLogs, None, 512 << 20, 3).0,
        dec("1.5")
    );
    assert_eq!(
        price(Service::CloudWatchMetrics, None, 0, 2),
        (dec("2"), dec("0.6"))
    );
}

#[test]
fn call_from_span_attributes_is_priced() {
    let call = DownstreamCall::from_attributes([
        ("rpc.system", "aws-api"),
        ("rpc.service", "SQS"),
        ("rpc.method", "SendMessageBatch"),
        ("messaging.message.body.size", "1000"),
        ("messaging.batch.message_count", "10"),
    ])
    .unwrap();
    assert_eq!(call.service, Service::Sqs);
    assert_eq!(call.operation.as_deref(), Some("SendMessageBatch"));
    let cost = price_call(&call, &PriceBook::built_in());
    assert_eq!(cost.amount, dec("0.000004"));
}

#[test]
fn azure_consumption_published_example() {
    // 3M executions of 1 s at 1.5 GB with the free grant: 4,100,000 billable GB-s at
    // $0.000016 and 2M billable executions at $0.20 per million.
    let usage = ConsumptionUsage {
        executions: 3_000_000,
        duration_ms: 1000,
        memory_mb: 1536,
    };
    let charge = consumption_charge(&PriceBook::built_in(), &usage, true);
    assert_eq!(charge.gb_seconds, dec("4500000"));
    assert_eq!(charge.execution_time, dec("65.6"));
    assert_eq!(charge.executions, dec("0.4"));
    assert_eq!(charge.total, dec("66.0"));
    assert_eq!(charge.basis, Basis::Estimated);
}

#[test]
fn azure_consumption_rounds_memory_and_duration() {
    // 160 MB is billed as 256 MB, and 50 ms as 100 ms.
    let usage = ConsumptionUsage {
        executions: 1,
        duration_ms: 50,
        memory_mb: 160,
    };
    let charge = consumption_charge(&PriceBook::built_in(), &usage, false);
    assert_eq!(charge.gb_seconds, dec("0.025"));
    assert_eq!(charge.total, dec("0.0000006"));
}

#[test]
fn azure_flex_on_demand_and_always_ready() {
    let usage = FlexUsage {
        instance_memory_mb: 2048,
        on_demand_executions: 1_000_000,
        on_demand_seconds: 500_000,
        always_ready_instances: 1,
        always_ready_seconds: 2_592_000,
        always_ready_executions: 200_000,
        always_ready_busy_seconds: 100_000,
    };
    let charge = flex_charge(&PriceBook::built_in(), &usage, true);
    // On demand: 900,000 GB-s x $0.000026 + 750,000 x $0.0000004.
    // Always ready: 5,184,000 GB-s baseline x $0.000004, 200,000 GB-s x $0.000016 and
    // 200,000 executions x $0.0000004, with no free grant.
    assert_eq!(charge.baseline, dec("20.736"));
    assert_eq!(charge.execution_time, dec("23.4") + dec("3.2"));
    assert_eq!(charge.executions, dec("0.3") + dec("0.08"));
    assert_eq!(charge.total, dec("47.716"));
}

#[test]
fn cloud_run_functions_with_and_without_free_tier() {
    let usage = RunFunctionsUsage {
        requests: 10_000_000,
        duration_ms: 250,
        vcpu_millis: 1000,
        memory_mib: 512,
    };
    let book = PriceBook::built_in();
    let free = run_functions_charge(&book, &usage, true);
    // 250 ms is billed as 300 ms: 3,000,000 vCPU-s and 1,500,000 GiB-s.
    assert_eq!(free.vcpu_seconds, dec("3000000"));
    assert_eq!(free.gib_seconds, dec("1500000"));
    assert_eq!(free.cpu, dec("67.68"));
    assert_eq!(free.memory, dec("2.85"));
    assert_eq!(free.requests, dec("3.2"));
    assert_eq!(free.total, dec("73.73"));
    assert_eq!(free.basis, Basis::Estimated);
    let paid = run_functions_charge(&book, &usage, false);
    assert_eq!(paid.total, dec("79.75"));
}
