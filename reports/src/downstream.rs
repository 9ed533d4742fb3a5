//! Downstream AWS services a trace touches, priced per call at first-tier list prices.
//!
//! [`DownstreamCall`] is the input: a service, an operation, a payload size and a count. It
//! can be built directly or from span attributes named by the OpenTelemetry semantic
//! conventions with [`DownstreamCall::from_attributes`]. Every downstream cost is an
//! estimate, because spans show calls, not the provider's metering.

use rust_decimal::Decimal;

use crate::cost::Basis;
use crate::pricing::PriceBook;

/// 64 KiB: SQS, SNS and EventBridge bill each started chunk of this size as one request.
const MESSAGE_CHUNK_BYTES: u64 = 64 * 1024;
/// 512 KiB: API Gateway HTTP APIs meter requests in increments of this size.
const HTTP_API_CHUNK_BYTES: u64 = 512 * 1024;
/// 1 KiB per DynamoDB write request unit.
const WRITE_UNIT_BYTES: u64 = 1024;
/// 4 KiB per DynamoDB read request unit (strongly consistent).
const READ_UNIT_BYTES: u64 = 4 * 1024;
/// Bytes in the GiB that CloudWatch Logs ingestion is priced per.
const GIB: u64 = 1 << 30;

/// A downstream AWS service.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Service {
    /// Amazon SQS, standard queue requests.
    Sqs,
    /// Amazon SNS publishes.
    Sns,
    /// Amazon EventBridge custom events.
    EventBridge,
    /// API Gateway REST API requests.
    ApiGatewayRest,
    /// API Gateway HTTP API requests.
    ApiGatewayHttp,
    /// DynamoDB on-demand reads and writes.
    DynamoDb,
    /// Step Functions standard workflow state transitions (`count` is the transitions).
    StepFunctions,
    /// X-Ray traces recorded (`count` is the traces).
    XRay,
    /// CloudWatch Logs ingestion (`payload_bytes` is the bytes ingested per call).
    CloudWatchLogs,
    /// CloudWatch custom metrics (`count` is metric-months).
    CloudWatchMetrics,
}

impl Service {
    /// Returns a short lowercase name for tables.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sqs => "sqs",
            Self::Sns => "sns",
            Self::EventBridge => "eventbridge",
            Self::ApiGatewayRest => "apigateway-rest",
            Self::ApiGatewayHttp => "apigateway-http",
            Self::DynamoDb => "dynamodb",
            Self::StepFunctions => "stepfunctions",
            Self::XRay => "xray",
            Self::CloudWatchLogs => "cloudwatch-logs",
            Self::CloudWatchMetrics => "cloudwatch-metrics",
        }
    }
}

/// One call, or `count` identical calls, from a trace to a downstream service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownstreamCall {
    /// W3C trace id of the trace the call belongs to.
    pub trace_id: Option<String>,
    /// Service called.
    pub service: Service,
    /// API operation (`SendMessage`, `PutItem`), when known.
    pub operation: Option<String>,
    /// Payload size of one call in bytes (message body, item size, log bytes).
    pub payload_bytes: u64,
    /// Number of identical calls.
    pub count: u64,
}

impl DownstreamCall {
    /// Creates a call with no trace id.
    #[must_use]
    pub fn new(service: Service, operation: Option<&str>, payload_bytes: u64, count: u64) -> Self {
        Self {
            trace_id: None,
            service,
            operation: operation.map(str::to_owned),
            payload_bytes,
            count,
        }
    }

    /// Classifies a span by its attributes, or returns `None` when it is not a priced call.
    ///
    /// Reads `messaging.system` (`aws_sqs`, `aws_sns`), `rpc.service` or `aws.service`
    /// (`SQS`, `SNS`, `EventBridge`, `DynamoDB`, `SFN`/`StepFunctions`, `XRay`,
    /// `CloudWatchLogs`, `CloudWatch`), `db.system`/`db.system.name` (`dynamodb`,
    /// `aws.dynamodb`) and `http.route` with `faas.trigger = http` for API Gateway. The
    /// operation comes from `rpc.method`, `db.operation.name`, `db.operation` or
    /// `messaging.operation.name`; the payload from `messaging.message.body.size`; the
    /// count from `messaging.batch.message_count`.
    // NOTE: spans do not say whether API Gateway is a REST or an HTTP API; an
    // `aws.api_gateway.api_type = "rest"` attribute selects REST, otherwise HTTP is assumed.
    pub fn from_attributes<'a>(
        attributes: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Option<Self> {
        let attributes: Vec<(&str, &str)> = attributes.into_iter().collect();
        let get = |name: &str| {
            attributes
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| *value)
        };
        let service = classify(&get)?;
        let operation = get("rpc.method")
            .or_else(|| get("db.operation.name"))
            .or_else(|| get("db.operation"))
            .or_else(|| get("messaging.operation.name"))
            .map(str::to_owned);
        let payload_bytes = get("messaging.message.body.size")
            .and_then(|value| value.parse().ok())
            .unwrap_or(0);
        let count = get("messaging.batch.message_count")
            .and_then(|value| value.parse().ok())
            .unwrap_or(1);
        Some(Self {
            trace_id: None,
            service,
            operation,
            payload_bytes,
            count,
        })
    }
}

fn classify<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Option<Service> {
    match get("messaging.system") {
        Some("aws_sqs" | "aws.sqs") => return Some(Service::Sqs),
        Some("aws_sns" | "aws.sns") => return Some(Service::Sns),
        _ => {}
    }
    if matches!(
        get("db.system").or_else(|| get("db.system.name")),
        Some("dynamodb" | "aws.dynamodb")
    ) {
        return Some(Service::DynamoDb);
    }
    if let Some(name) = get("rpc.service").or_else(|| get("aws.service")) {
        let service = match name.to_ascii_lowercase().as_str() {
            "sqs" | "amazonsqs" => Service::Sqs,
            "sns" | "amazonsns" => Service::Sns,
            "eventbridge" | "cloudwatchevents" | "events" => Service::EventBridge,
            "dynamodb" | "amazondynamodb" | "dynamodb_20120810" => Service::DynamoDb,
            "sfn" | "stepfunctions" | "states" | "awsstepfunctions" => Service::StepFunctions,
            "xray" | "awsxray" => Service::XRay,
            "cloudwatchlogs" | "logs" => Service::CloudWatchLogs,
            "cloudwatch" | "monitoring" => Service::CloudWatchMetrics,
            _ => return None,
        };
        return Some(service);
    }
    if get("http.route").is_some() && get("faas.trigger") == Some("http") {
        return Some(match get("aws.api_gateway.api_type") {
            Some("rest") => Service::ApiGatewayRest,
            _ => Service::ApiGatewayHttp,
        });
    }
    None
}

/// The priced cost of a [`DownstreamCall`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownstreamCost {
    /// The call.
    pub call: DownstreamCall,
    /// Price key used; `None` for operations that are not billed per call (DynamoDB
    /// control-plane calls such as `DescribeTable`).
    pub key: Option<&'static str>,
    /// Billed units for all `count` calls (requests, chunks, request units, GiB).
    pub units: Decimal,
    /// Cost of all `count` calls at the first-tier price.
    pub amount: Decimal,
    /// Always [`Basis::Estimated`].
    pub basis: Basis,
}

/// Prices a call at the first-tier list price, with no free tier: a call alone cannot tell
/// where in the month's volume it falls.
///
/// DynamoDB reads are counted as strongly consistent (one read unit per 4 KiB); an
/// eventually consistent read costs half of that. Transactional reads and writes count
/// double.
#[must_use]
pub fn price_call(call: &DownstreamCall, book: &PriceBook) -> DownstreamCost {
    let chunks = |size: u64| call.payload_bytes.div_ceil(size).max(1);
    let (key, units_per_call): (Option<&'static str>, Decimal) = match call.service {
        Service::Sqs => (Some("aws.sqs.requests"), chunks(MESSAGE_CHUNK_BYTES).into()),
        Service::Sns => (
            Some("aws.sns.publishes"),
            chunks(MESSAGE_CHUNK_BYTES).into(),
        ),
        Service::EventBridge => (
            Some("aws.eventbridge.events"),
            chunks(MESSAGE_CHUNK_BYTES).into(),
        ),
        Service::ApiGatewayRest => (Some("aws.apigateway.rest.requests"), Decimal::ONE),
        Service::ApiGatewayHttp => (
            Some("aws.apigateway.http.requests"),
            chunks(HTTP_API_CHUNK_BYTES).into(),
        ),
        Service::DynamoDb => dynamodb_units(call.operation.as_deref(), call.payload_bytes),
        Service::StepFunctions => (Some("aws.stepfunctions.state_transitions"), Decimal::ONE),
        Service::XRay => (Some("aws.xray.traces_recorded"), Decimal::ONE),
        Service::CloudWatchLogs => (
            Some("aws.cloudwatch.logs_ingested"),
            Decimal::from(call.payload_bytes) / Decimal::from(GIB),
        ),
        Service::CloudWatchMetrics => (Some("aws.cloudwatch.custom_metrics"), Decimal::ONE),
    };
    let units = units_per_call * Decimal::from(call.count);
    let amount = key.map_or(Decimal::ZERO, |key| {
        units * book.price(key).first_tier_price()
    });
    DownstreamCost {
        call: call.clone(),
        key,
        units,
        amount,
        basis: Basis::Estimated,
    }
}

fn dynamodb_units(operation: Option<&str>, payload_bytes: u64) -> (Option<&'static str>, Decimal) {
    let write_units = payload_bytes.div_ceil(WRITE_UNIT_BYTES).max(1);
    let read_units = payload_bytes.div_ceil(READ_UNIT_BYTES).max(1);
    match operation {
        Some("PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem") => {
            (Some("aws.dynamodb.write_request_units"), write_units.into())
        }
        Some("TransactWriteItems") => (
            Some("aws.dynamodb.write_request_units"),
            (2 * write_units).into(),
        ),
        Some("GetItem" | "Query" | "Scan" | "BatchGetItem") => {
            (Some("aws.dynamodb.read_request_units"), read_units.into())
        }
        Some("TransactGetItems") => (
            Some("aws.dynamodb.read_request_units"),
            (2 * read_units).into(),
        ),
        _ => (None, Decimal::ZERO),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqs_attributes_classify() {
        let call = DownstreamCall::from_attributes([
            ("messaging.system", "aws_sqs"),
            ("messaging.operation.name", "send"),
            ("messaging.message.body.size", "70000"),
        ])
        .unwrap();
        assert_eq!(call.service, Service::Sqs);
        assert_eq!(call.payload_bytes, 70_000);
        assert_eq!(call.count, 1);
    }

    #[test]
    fn rpc_service_names_classify() {
        let service = |name| {
            DownstreamCall::from_attributes([("rpc.system", "aws-api"), ("rpc.service", name)])
                .map(|call| call.service)
        };
        assert_eq!(service("DynamoDB"), Some(Service::DynamoDb));
        assert_eq!(service("SNS"), Some(Service::Sns));
        assert_eq!(service("EventBridge"), Some(Service::EventBridge));
        assert_eq!(service("SFN"), Some(Service::StepFunctions));
        assert_eq!(service("XRay"), Some(Service::XRay));
        assert_eq!(service("CloudWatchLogs"), Some(Service::CloudWatchLogs));
        assert_eq!(service("CloudWatch"), Some(Service::CloudWatchMetrics));
        assert_eq!(service("S3"), None);
    }

    #[test]
    fn api_gateway_route_classifies() {
        let http =
            DownstreamCall::from_attributes([("faas.trigger", "http"), ("http.route", "/orders")])
                .unwrap();
        assert_eq!(http.service, Service::ApiGatewayHttp);
        let rest = DownstreamCall::from_attributes([
            ("faas.trigger", "http"),
            ("http.route", "/orders"),
            ("aws.api_gateway.api_type", "rest"),
        ])
        .unwrap();
        assert_eq!(rest.service, Service::ApiGatewayRest);
    }

    #[test]
    fn dynamodb_db_system_classifies() {
        let call = DownstreamCall::from_attributes([
            ("db.system", "dynamodb"),
            ("db.operation", "PutItem"),
        ])
        .unwrap();
        assert_eq!(call.service, Service::DynamoDb);
        assert_eq!(call.operation.as_deref(), Some("PutItem"));
    }
}
