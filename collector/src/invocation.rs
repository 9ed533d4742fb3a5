//! The invocation record: one billed Lambda invocation, as platform data reports it.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime};

/// One billed invocation of a Lambda function.
///
/// Optional fields are `None` when the input did not carry them: an absent `Init Duration`
/// is `None`, never zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    /// Lambda request id (`RequestId`, `requestId`).
    pub request_id: String,
    /// Function name, from the function ARN, the log group, the log stream or the caller.
    pub function: Option<String>,
    /// Function version: `$LATEST` or a published version number.
    pub version: Option<String>,
    /// Time the invocation started: the START time when it was captured, otherwise the
    /// END or REPORT time minus `duration_ms`.
    pub start: Option<OffsetDateTime>,
    /// UTC day of an invocation whose start is unknown, from the date option of the read
    /// (`spanbill ingest --date`). The store files such an invocation under this day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<Date>,
    /// `Duration`: time spent in the handler, in ms.
    pub duration_ms: f64,
    /// `Billed Duration` as printed, in ms. Depending on [`Invocation::billing_era`] it
    /// already includes the init phase or the billed restore time.
    pub billed_ms: u64,
    /// Configured memory in MB, where Lambda's MB is 2^20 bytes (the same number as MiB).
    pub memory_mb: u32,
    /// Unit the configured memory arrived in before it was converted to `memory_mb`.
    pub memory_unit: MemoryUnit,
    /// `Max Memory Used` in MB (2^20 bytes).
    pub max_memory_used_mb: u32,
    /// `Init Duration` in ms, present only on cold starts of on-demand functions.
    pub init_ms: Option<f64>,
    /// SnapStart `Restore Duration` in ms.
    pub restore_ms: Option<f64>,
    /// SnapStart `Billed Restore Duration` in ms; already part of `billed_ms`.
    pub billed_restore_ms: Option<u64>,
    /// Outcome of the invocation.
    pub status: Status,
    /// Error type as the platform printed it, for example `Runtime.ExitError`.
    pub error_type: Option<String>,
    /// True when the invocation crashed while using all of its memory, or the platform
    /// reported `Runtime.OutOfMemory`.
    pub out_of_memory: bool,
    /// True when the request waited for the execution environment to initialise.
    pub cold_start: bool,
    /// Evidence behind `cold_start`.
    pub cold_start_source: ColdStartSource,
    /// Initialisation type of the execution environment, when the input gives it.
    pub initialization_type: Option<InitializationType>,
    /// Instruction set architecture, when known.
    pub architecture: Option<Architecture>,
    /// AWS region, when known.
    pub region: Option<String>,
    /// AWS account id, when known.
    pub account: Option<String>,
    /// X-Ray trace context of the invocation.
    pub trace: Option<TraceContext>,
    /// Kind of platform record the invocation was read from.
    pub source: Source,
    /// Billing rules in force on the day of the invocation; `None` when the date is unknown.
    pub billing_era: Option<BillingEra>,
}

impl Invocation {
    /// Returns the GB-seconds this invocation was billed for: `billed_ms / 1000 x memory_mb
    /// / 1024`.
    ///
    /// `billed_ms` is used as printed. Init and billed restore time are never added on top,
    /// because Lambda already counts them in `Billed Duration` whenever it bills them.
    #[must_use]
    pub fn gb_seconds(&self) -> f64 {
        // One division of an exact product keeps the result within one rounding step.
        (self.billed_ms as f64 * f64::from(self.memory_mb)) / 1_024_000.0
    }
}

/// Outcome of an invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Status {
    /// The handler returned a response.
    Success,
    /// The handler or the runtime failed, including crashes.
    Error,
    /// The invocation ran into the function's timeout.
    Timeout,
}

impl Status {
    /// Returns the name Lambda prints in the REPORT `Status` field.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::Timeout => "timeout",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Evidence behind a cold-start verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ColdStartSource {
    /// Platform data: `Init Duration`, `Restore Duration` or an INIT_REPORT in the invoke
    /// phase, or their absence.
    Platform,
    /// The application's own cold-start flag, which is weaker evidence.
    AppFlag,
}

/// Initialisation type of an execution environment (`initializationType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InitializationType {
    /// Initialised for a request that was waiting.
    OnDemand,
    /// Initialised ahead of requests; its init is not on any request's path.
    ProvisionedConcurrency,
    /// Restored from a SnapStart snapshot.
    SnapStart,
}

impl InitializationType {
    /// Parses the Telemetry API spelling (`on-demand`, `provisioned-concurrency`,
    /// `snap-start`).
    #[must_use]
    pub fn from_platform_name(name: &str) -> Option<Self> {
        match name {
            "on-demand" => Some(Self::OnDemand),
            "provisioned-concurrency" => Some(Self::ProvisionedConcurrency),
            "snap-start" => Some(Self::SnapStart),
            _ => None,
        }
    }
}

/// Instruction set architecture of a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Architecture {
    /// `x86_64`.
    X86_64,
    /// `arm64` (Graviton).
    Arm64,
}

/// Unit the configured memory arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MemoryUnit {
    /// Lambda's `MB`, which is 2^20 bytes.
    Mb,
    /// `MiB`.
    Mib,
    /// Bytes, as in `instanceMaxMemory` or `faas.max_memory`.
    Bytes,
}

/// Kind of platform record an invocation was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Source {
    /// A text `REPORT RequestId: ...` line.
    ReportLine,
    /// A `platform.report` record from the JSON log format or the Telemetry API.
    PlatformReport,
    /// The local Lambda simulator.
    Simulator,
}

/// Billing rules in force on the day of an invocation.
///
/// The era gives the content of `Billed Duration` as far as the date alone decides it.
/// Container images and custom runtimes were billed for init before 2025-08-01 too, which
/// the date cannot show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum BillingEra {
    /// Before 2020-12-01: duration rounded up to the next 100 ms.
    Rounded100Ms,
    /// From 2020-12-01: duration rounded up to the next 1 ms; the init phase of on-demand
    /// functions with a managed runtime is free.
    Rounded1Ms,
    /// From 2025-08-01: rounded to 1 ms, and the init phase of on-demand functions is billed
    /// as part of `Billed Duration`.
    InitBilled,
}

impl BillingEra {
    /// Returns the era in force on `date` (UTC).
    #[must_use]
    pub fn for_date(date: Date) -> Self {
        let millisecond_billing =
            Date::from_calendar_date(2020, Month::December, 1).expect("2020-12-01 is a valid date");
        let init_billing =
            Date::from_calendar_date(2025, Month::August, 1).expect("2025-08-01 is a valid date");
        if date < millisecond_billing {
            Self::Rounded100Ms
        } else if date < init_billing {
            Self::Rounded1Ms
        } else {
            Self::InitBilled
        }
    }
}

/// X-Ray trace context of an invocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    /// Trace id as printed, in the X-Ray form `1-663367c2-ad6a0f14a3cdc9d8a02e9f81`.
    pub xray_trace_id: String,
    /// The same id in the W3C form (32 lowercase hex digits); `None` when the printed id is
    /// not a valid X-Ray trace id.
    pub w3c_trace_id: Option<String>,
    /// `SegmentId` from the REPORT XRAY part, or `tracing.spanId` from a Telemetry API
    /// record.
    pub segment_id: Option<String>,
    /// `Parent` from an `X-Amzn-Trace-Id` header value.
    pub parent_id: Option<String>,
    /// Sampling decision (`Sampled: true`, `Sampled=1`).
    pub sampled: Option<bool>,
}

impl TraceContext {
    /// Creates a context from a printed X-Ray trace id and fills in its W3C form.
    #[must_use]
    pub fn from_xray_trace_id(xray_trace_id: &str) -> Self {
        Self {
            xray_trace_id: xray_trace_id.to_owned(),
            w3c_trace_id: xray_to_w3c_trace_id(xray_trace_id),
            segment_id: None,
            parent_id: None,
            sampled: None,
        }
    }

    /// Parses an `X-Amzn-Trace-Id` header value such as
    /// `Root=1-65c5e583-38e7d284ab70a208f4956b87;Parent=add816d1ab2d7835;Sampled=1`.
    ///
    /// Returns `None` when the value has no `Root`.
    #[must_use]
    pub fn from_xray_header(value: &str) -> Option<Self> {
        let mut context: Option<Self> = None;
        let mut parent_id = None;
        let mut sampled = None;
        for part in value.split(';') {
            let Some((key, field)) = part.split_once('=') else {
                continue;
            };
            match key.trim() {
                "Root" => context = Some(Self::from_xray_trace_id(field.trim())),
                "Parent" => parent_id = Some(field.trim().to_owned()),
                "Sampled" => sampled = parse_sampled(field.trim()),
                _ => {}
            }
        }
        let mut context = context?;
        context.parent_id = parent_id;
        context.sampled = sampled;
        Some(context)
    }
}

/// Parses a sampling flag as Lambda prints it: `true`/`false` or `1`/`0`.
pub(crate) fn parse_sampled(value: &str) -> Option<bool> {
    match value {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// Converts an X-Ray trace id (`1-<8 hex epoch>-<24 hex>`) to the W3C form (32 lowercase
/// hex digits). Returns `None` when `id` is not in the X-Ray form.
#[must_use]
pub fn xray_to_w3c_trace_id(id: &str) -> Option<String> {
    let mut parts = id.split('-');
    let (Some("1"), Some(epoch), Some(random), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let is_hex = |text: &str| text.bytes().all(|byte| byte.is_ascii_hexdigit());
    if epoch.len() != 8 || random.len() != 24 || !is_hex(epoch) || !is_hex(random) {
        return None;
    }
    Some(format!("{epoch}{random}").to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invocation(billed_ms: u64, memory_mb: u32) -> Invocation {
        Invocation {
            request_id: "22646860-521e-4fdd-9344-c4440d5a2c22".to_owned(),
            function: None,
            version: None,
            start: None,
            date: None,
            duration_ms: 1.0,
            billed_ms,
            memory_mb,
            memory_unit: MemoryUnit::Mb,
            max_memory_used_mb: 1,
            init_ms: Some(80.0),
            restore_ms: None,
            billed_restore_ms: Some(303),
            status: Status::Success,
            error_type: None,
            out_of_memory: false,
            cold_start: true,
            cold_start_source: ColdStartSource::Platform,
            initialization_type: None,
            architecture: None,
            region: None,
            account: None,
            trace: None,
            source: Source::ReportLine,
            billing_era: None,
        }
    }

    #[test]
    fn gb_seconds_uses_billed_duration_only() {
        assert!((invocation(694, 128).gb_seconds() - 0.086_75).abs() < 1e-12);
        assert!((invocation(610, 3009).gb_seconds() - 1.792_470_703_125).abs() < 1e-12);
        assert!((invocation(600_000, 1024).gb_seconds() - 600.0).abs() < 1e-12);
    }

    #[test]
    fn billing_era_boundaries() {
        let date = |year, month, day| Date::from_calendar_date(year, month, day).unwrap();
        assert_eq!(
            BillingEra::for_date(date(2020, Month::November, 30)),
            BillingEra::Rounded100Ms
        );
        assert_eq!(
            BillingEra::for_date(date(2020, Month::December, 1)),
            BillingEra::Rounded1Ms
        );
        assert_eq!(
            BillingEra::for_date(date(2025, Month::July, 31)),
            BillingEra::Rounded1Ms
        );
        assert_eq!(
            BillingEra::for_date(date(2025, Month::August, 1)),
            BillingEra::InitBilled
        );
    }

    #[test]
    fn xray_id_to_w3c() {
        assert_eq!(
            xray_to_w3c_trace_id("1-663367c2-ad6a0f14a3cdc9d8a02e9f81").as_deref(),
            Some("663367c2ad6a0f14a3cdc9d8a02e9f81")
        );
        assert_eq!(
            xray_to_w3c_trace_id("1-663367C2-AD6A0F14A3CDC9D8A02E9F81").as_deref(),
            Some("663367c2ad6a0f14a3cdc9d8a02e9f81")
        );
        assert_eq!(xray_to_w3c_trace_id("1-663367c2-ad6a0f14"), None);
        assert_eq!(
            xray_to_w3c_trace_id("2-663367c2-ad6a0f14a3cdc9d8a02e9f81"),
            None
        );
        assert_eq!(
            xray_to_w3c_trace_id("1-663367c2-ad6a0f14a3cdc9d8a02e9f81-x"),
            None
        );
        assert_eq!(
            xray_to_w3c_trace_id("1-6633é7c2-ad6a0f14a3cdc9d8a02e9f8"),
            None
        );
    }

    #[test]
    fn xray_header_parts() {
        let context = TraceContext::from_xray_header(
            "Root=1-65c5e583-38e7d284ab70a208f4956b87;Parent=add816d1ab2d7835;Sampled=1",
        )
        .unwrap();
        assert_eq!(context.xray_trace_id, "1-65c5e583-38e7d284ab70a208f4956b87");
        assert_eq!(
            context.w3c_trace_id.as_deref(),
            Some("65c5e58338e7d284ab70a208f4956b87")
        );
        assert_eq!(context.parent_id.as_deref(), Some("add816d1ab2d7835"));
        assert_eq!(context.sampled, Some(true));
        assert_eq!(
            TraceContext::from_xray_header("Parent=add816d1ab2d7835"),
            None
        );
    }
}
