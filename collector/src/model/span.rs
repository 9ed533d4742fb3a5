//! The span record: one OpenTelemetry span with the FaaS fields reports join on.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::attribute::{AttributeValue, Attributes, KeyValue, find};
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
    /// `service.name` resource attribute. Spans that take a text from their resource share
    /// one allocation of it, here and in the other `Arc<str>` fields.
    pub service_name: Option<Arc<str>>,
    /// `service.version` resource attribute.
    pub service_version: Option<Arc<str>>,
    /// `faas.name`, from the resource or the span.
    pub faas_name: Option<Arc<str>>,
    /// `faas.invocation_id`: the Lambda request id.
    pub faas_invocation_id: Option<String>,
    /// `faas.coldstart`; `None` when neither span nor resource sets it.
    pub faas_coldstart: Option<bool>,
    /// `faas.trigger` (`http`, `pubsub`, `datasource`, `timer`, `other`).
    pub faas_trigger: Option<Arc<str>>,
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
    pub scope_name: Option<Arc<str>>,
    /// Instrumentation scope version.
    pub scope_version: Option<Arc<str>>,
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
        let resource = ResourceConventions::new(&self.resource_attributes);
        self.fill_conventions_with(&resource);
    }

    /// Copies the service and FaaS conventions out of the span attributes, and takes those
    /// that the span does not set from `resource`, which must be built from the span's
    /// resource attributes. A key that the span sets wins even when its value has another
    /// type, as in [`Span::fill_conventions`].
    pub fn fill_conventions_with(&mut self, resource: &ResourceConventions) {
        let attributes = &self.attributes;
        let text = |key: &str, shared: &Option<Arc<str>>| match find(attributes, key) {
            Some(value) => value.as_str().map(Arc::from),
            None => shared.clone(),
        };
        let service_name = text("service.name", &resource.service_name);
        let service_version = text("service.version", &resource.service_version);
        let faas_name = text("faas.name", &resource.faas_name);
        let faas_invocation_id = match find(attributes, "faas.invocation_id") {
            Some(value) => value.as_str().map(str::to_owned),
            None => resource.faas_invocation_id.clone(),
        };
        let faas_trigger = text("faas.trigger", &resource.faas_trigger);
        let faas_coldstart = match find(attributes, "faas.coldstart") {
            Some(value) => value.as_bool(),
            None => resource.faas_coldstart,
        };
        self.service_name = service_name;
        self.service_version = service_version;
        self.faas_name = faas_name;
        self.faas_invocation_id = faas_invocation_id;
        self.faas_trigger = faas_trigger;
        self.faas_coldstart = faas_coldstart;
    }
}

/// The service and FaaS conventions that one resource's attributes set, read once for all
/// of its spans.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceConventions {
    service_name: Option<Arc<str>>,
    service_version: Option<Arc<str>>,
    faas_name: Option<Arc<str>>,
    faas_invocation_id: Option<String>,
    faas_trigger: Option<Arc<str>>,
    faas_coldstart: Option<bool>,
}

impl ResourceConventions {
    /// Reads the conventions from resource attributes.
    #[must_use]
    pub fn new(resource_attributes: &[KeyValue]) -> Self {
        let text = |key: &str| find(resource_attributes, key).and_then(AttributeValue::as_str);
        Self {
            service_name: text("service.name").map(Arc::from),
            service_version: text("service.version").map(Arc::from),
            faas_name: text("faas.name").map(Arc::from),
            faas_invocation_id: text("faas.invocation_id").map(str::to_owned),
            faas_trigger: text("faas.trigger").map(Arc::from),
            faas_coldstart: find(resource_attributes, "faas.coldstart")
                .and_then(AttributeValue::as_bool),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn text(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.to_owned(),
            value: AttributeValue::String(value.to_owned()),
        }
    }

    fn span(attributes: Attributes, resource: Attributes) -> Span {
        Span {
            trace_id: TraceId::from_bytes(&[1; 16]).unwrap(),
            span_id: SpanId::from_bytes(&[2; 8]).unwrap(),
            parent_span_id: None,
            trace_state: None,
            flags: 0,
            name: "handler".to_owned(),
            kind: SpanKind::Server,
            start_ns: 1,
            end_ns: 2,
            status: StatusCode::Unset,
            status_message: None,
            service_name: None,
            service_version: None,
            faas_name: None,
            faas_invocation_id: None,
            faas_coldstart: None,
            faas_trigger: None,
            links: Vec::new(),
            events: Vec::new(),
            attributes,
            resource_attributes: Arc::new(resource),
            scope_name: None,
            scope_version: None,
        }
    }

    #[test]
    fn shared_conventions_match_per_span_reading() {
        let resource = vec![
            text("service.name", "orders"),
            text("service.version", "1.2.3"),
            text("faas.name", "orders-create"),
            text("faas.invocation_id", "from-resource"),
            text("faas.trigger", "timer"),
            KeyValue {
                key: "faas.coldstart".to_owned(),
                value: AttributeValue::Bool(false),
            },
        ];
        let cases = [
            Vec::new(),
            vec![
                text("faas.trigger", "http"),
                text("faas.invocation_id", "r-1"),
            ],
            // A key the span sets wins even with a value of another type.
            vec![
                KeyValue {
                    key: "service.name".to_owned(),
                    value: AttributeValue::Int(7),
                },
                text("faas.coldstart", "yes"),
            ],
        ];
        let conventions = ResourceConventions::new(&resource);
        for attributes in cases {
            let mut expected = span(attributes.clone(), resource.clone());
            expected.fill_conventions();
            let mut shared = span(attributes, resource.clone());
            shared.fill_conventions_with(&conventions);
            assert_eq!(shared, expected);
        }
    }

    #[test]
    fn span_attributes_win_over_resource() {
        let resource = vec![
            text("service.name", "orders"),
            text("faas.trigger", "timer"),
        ];
        let attributes = vec![
            text("faas.trigger", "http"),
            KeyValue {
                key: "service.name".to_owned(),
                value: AttributeValue::Int(7),
            },
        ];
        let mut record = span(attributes, resource);
        record.fill_conventions();
        assert_eq!(record.faas_trigger.as_deref(), Some("http"));
        assert_eq!(record.service_name, None);
        assert_eq!(record.faas_coldstart, None);
    }
}
