//! The record types every part of spanbill reads: spans, metric points and invocations.
//!
//! Readers build these records from OTLP and Lambda platform data; the store writes them
//! to the `spans`, `metrics` and `invocations` tables.

pub(crate) mod attribute;
mod ids;
mod metric;
mod span;

use serde::{Deserialize, Serialize};

pub use crate::invocation::Invocation;
pub use attribute::{
    AttributeValue, Attributes, KeyValue, attributes_to_json, attributes_to_json_text, find,
};
pub use ids::{IdError, SpanId, TraceId};
pub use metric::{
    ExponentialBuckets, ExponentialHistogram, Histogram, MetricKind, MetricPoint, PointValue,
    Summary, Temporality,
};
pub use span::{Event, Link, ResourceConventions, Span, SpanKind, StatusCode};

/// Records that arrive together, such as one OTLP request or one platform log file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Records {
    /// Spans.
    pub spans: Vec<Span>,
    /// Metric points.
    pub metrics: Vec<MetricPoint>,
    /// Invocations.
    pub invocations: Vec<Invocation>,
}

impl Records {
    /// Returns the number of records of all kinds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.spans.len() + self.metrics.len() + self.invocations.len()
    }

    /// Returns true when there are no records.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
