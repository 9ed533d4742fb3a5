//! The span record: one OpenTelemetry span with the FaaS fields reports join on.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::attribute::{AttributeValue, Attributes, find};
use super::ids::{SpanId, TraceId};

/// One span.
///
/// A reader copies the FaaS and service fields out of the span and resource attributes
/// ([`Span::fill_conventions`]). The attributes keep them too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// Trace the span belongs to.
    pub trace_id: TraceId,
    /// The span's own id.
    pub span_id: SpanId,
    /// Parent span; `None` for a root span.
    pub parent_span_id: Option<SpanId>,
    /// W3C `tracestate`, when set.
    pub trace_state: Option<String>,
    /// OTLP span flags: the W3C trace flags in bits 0-7, and bits 8-9 for whether the parent
    /// is remote.
    pub flags: u32,
    /// Span name.
    pub name: String,
    /// Span kind.
    pub kind: SpanKind,
    /// Start time, ns since the Unix epoch.
    pub start_ns: u64,
    /// End time, ns since the Unix epoch; never before `start_ns`.
    pub end_ns: u64,
    /// Status code.
    pub status: StatusCode,
    /// Status message, when set.
    pub status_message: Option<String>,
    /// `service.name` resource attribute.
    pub service_name: Option<String>,
    /// `service.version` resource attribute.
    pub service_version: Option<String>,
    /// `faas.name`, from the resource or the span.
    pub faas_name: Option<String>,
    /// `faas.invocation_id`: the Lambda request id.
    pub faas_invocation_id: Option<String>,
    /// `faas.coldstart`; `None` when neither span nor resource sets it.
    pub faas_coldstart: Option<bool>,
    /// `faas.trigger` (`http`, `pubsub`, `datasource`, `timer`, `other`).
    pub faas_trigger: Option<String>,
    /// Links to other spans.
    pub links: Vec<Link>,
    /// Timed events, such as exceptions.
    pub events: Vec<Event>,
    /// Span attributes.
    pub attributes: Attributes,
    /// Resource attributes of the process that produced the span, shared by every span of
    /// one resource in a request.
    pub resource_attributes: Arc<Attributes>,
    /// Instrumentation scope name.
    pub scope_name: Option<String>,
    /// Instrumentation scope version.
    pub scope_version: Option<String>,
}

impl Span {
    /// Returns the span's duration in ns.
    #[must_use]
    pub fn duration_ns(&self) -> u64 {
        self.end_ns.saturating_sub(self.start_ns)
    }

    /// Returns true when the OTLP flags mark the parent span as remote (bits 8 and 9 both set).
    #[must_use]
    pub fn parent_is_remote(&self) -> bool {
        self.flags & 0x300 == 0x300
    }

    /// Copies the service and FaaS conventions out of the attributes: span attributes win
    /// over resource attributes.
    pub fn fill_conventions(&mut self) {
        let text = |key: &str| {
            find(&self.attributes, key)
                .or_else(|| find(&self.resource_attributes, key))
                .and_then(AttributeValue::as_str)
                .map(str::to_owned)
        };
        self.service_name = text("service.name");
        self.service_version = text("service.version");
        self.faas_name = text("faas.name");
        self.faas_invocation_id = text("faas.invocation_id");
        self.faas_trigger = text("faas.trigger");
        self.faas_coldstart = find(&self.attributes, "faas.coldstart")
            .or_else(|| find(&self.resource_attributes, "faas.coldstart"))
            .and_then(AttributeValue::as_bool);
    }
}

/// Span kind, numbered as in OTLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// `SPAN_KIND_UNSPECIFIED` (0).
    Unspecified,
    /// `SPAN_KIND_INTERNAL` (1).
    Internal,
    /// `SPAN_KIND_SERVER` (2).
    Server,
    /// `SPAN_KIND_CLIENT` (3).
    Client,
    /// `SPAN_KIND_PRODUCER` (4).
    Producer,
    /// `SPAN_KIND_CONSUMER` (5).
    Consumer,
}

impl SpanKind {
    /// Returns the kind for an OTLP enum number, or `None` for an unknown number.
    #[must_use]
    pub fn from_otlp(number: i32) -> Option<Self> {
        Some(match number {
            0 => Self::Unspecified,
            1 => Self::Internal,
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            _ => return None,
        })
    }

    /// Returns the lowercase name stored in the `kind` column.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Internal => "internal",
            Self::Server => "server",
            Self::Client => "client",
            Self::Producer => "producer",
            Self::Consumer => "consumer",
        }
    }
}

/// Span status code, numbered as in OTLP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusCode {
    /// `STATUS_CODE_UNSET` (0).
    Unset,
    /// `STATUS_CODE_OK` (1).
    Ok,
    /// `STATUS_CODE_ERROR` (2).
    Error,
}

impl StatusCode {
    /// Returns the code for an OTLP enum number, or `None` for an unknown number.
    #[must_use]
    pub fn from_otlp(number: i32) -> Option<Self> {
        Some(match number {
            0 => Self::Unset,
            1 => Self::Ok,
            2 => Self::Error,
            _ => return None,
        })
    }

    /// Returns the lowercase name stored in the `status` column.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unset => "unset",
            Self::Ok => "ok",
            Self::Error => "error",
        }
    }
}

/// A link from a span to another span, as for each message of a queue batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// Trace of the linked span.
    pub trace_id: TraceId,
    /// The linked span.
    pub span_id: SpanId,
    /// W3C `tracestate` of the link, when set.
    pub trace_state: Option<String>,
    /// OTLP flags of the link.
    pub flags: u32,
    /// Link attributes.
    pub attributes: Attributes,
}

/// A timed event inside a span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Event name, for example `exception`.
    pub name: String,
    /// Time of the event, ns since the Unix epoch.
    pub time_ns: u64,
    /// Event attributes.
    pub attributes: Attributes,
}
