//! The platform events every input layout is reduced to, and the context they arrive in.

use std::sync::Arc;

use time::OffsetDateTime;

use crate::invocation::{InitializationType, MemoryUnit, Status, TraceContext};

use super::error::Location;
use super::summary::ExtensionState;

/// Location and time of a platform event.
#[derive(Debug, Clone)]
pub(crate) struct EventContext {
    pub(crate) location: Location,
    pub(crate) time: Option<OffsetDateTime>,
    /// Log stream name; one stream is one execution environment.
    pub(crate) stream: Option<Arc<str>>,
    pub(crate) log_group: Option<Arc<str>>,
    /// Account id of a subscription delivery (`owner`).
    pub(crate) owner: Option<Arc<str>>,
}

/// Numbers of a REPORT line or a `platform.report` record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReportFields {
    pub(crate) request_id: String,
    pub(crate) duration_ms: f64,
    pub(crate) billed_ms: u64,
    /// Configured memory; a `platform.report` without `memorySizeMB` takes it from the
    /// environment's `instanceMaxMemory`.
    pub(crate) memory: Option<(u32, MemoryUnit)>,
    pub(crate) max_memory_used_mb: u32,
    pub(crate) init_ms: Option<f64>,
    pub(crate) restore_ms: Option<f64>,
    pub(crate) billed_restore_ms: Option<u64>,
    pub(crate) status: Option<Status>,
    pub(crate) error_type: Option<String>,
    pub(crate) trace: Option<TraceContext>,
}

/// Evidence of a crash or timeout found in a free-text line that names a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CrashEvidence {
    pub(crate) crashed: bool,
    pub(crate) timed_out: bool,
    pub(crate) error_type: Option<String>,
}

/// One platform fact, from any input layout.
#[derive(Debug, Clone)]
pub(crate) enum PlatformEvent {
    Start {
        request_id: String,
        version: Option<String>,
        function_arn: Option<String>,
        trace: Option<TraceContext>,
    },
    End {
        request_id: String,
    },
    Report {
        fields: ReportFields,
        from_record: bool,
    },
    RuntimeDone {
        request_id: String,
        status: Option<Status>,
        error_type: Option<String>,
        trace: Option<TraceContext>,
    },
    InitStart {
        runtime_version_arn: Option<String>,
        initialization_type: Option<InitializationType>,
        function_name: Option<String>,
        version: Option<String>,
        memory: Option<(u32, MemoryUnit)>,
    },
    InitReport {
        invoke_phase: bool,
        duration_ms: Option<f64>,
        failed: bool,
        error_type: Option<String>,
    },
    RestoreReport {
        duration_ms: Option<f64>,
    },
    Crash {
        request_id: String,
        evidence: CrashEvidence,
    },
    LogsDropped {
        records: u64,
        bytes: u64,
    },
    Extension(ExtensionState),
}
