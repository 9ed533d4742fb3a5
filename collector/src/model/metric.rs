//! The metric point record: one data point of a KPI or platform metric.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::attribute::Attributes;

/// One metric data point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    /// Metric name, for example `orders.created`.
    pub name: String,
    /// Metric description, when set.
    pub description: Option<String>,
    /// UCUM unit, for example `ms` or `{order}`; `None` when empty.
    pub unit: Option<String>,
    /// Kind of metric the point belongs to.
    pub kind: MetricKind,
    /// Aggregation temporality of sums and histograms.
    pub temporality: Option<Temporality>,
    /// For sums: whether the sum only grows.
    pub monotonic: Option<bool>,
    /// Start of the aggregation window, ns since the Unix epoch; `None` when unset (0).
    pub start_ns: Option<u64>,
    /// Time of the point, ns since the Unix epoch.
    pub time_ns: u64,
    /// The value.
    pub value: PointValue,
    /// OTLP data point flags; bit 0 is `FLAG_NO_RECORDED_VALUE`.
    pub flags: u32,
    /// Point attributes.
    pub attributes: Attributes,
    /// Resource attributes of the process that produced the point, shared by every point of
    /// one resource in a request.
    pub resource_attributes: Arc<Attributes>,
    /// `service.name` resource attribute.
    pub service_name: Option<String>,
    /// Instrumentation scope name.
    pub scope_name: Option<String>,
}

/// Kind of metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricKind {
    /// A sampled value.
    Gauge,
    /// A sum (counter or up-down counter).
    Sum,
    /// A histogram with explicit bucket bounds.
    Histogram,
    /// A base-2 exponential histogram.
    ExponentialHistogram,
    /// A summary with quantiles.
    Summary,
}

impl MetricKind {
    /// Returns the lowercase name stored in the `kind` column.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gauge => "gauge",
            Self::Sum => "sum",
            Self::Histogram => "histogram",
            Self::ExponentialHistogram => "exponential_histogram",
            Self::Summary => "summary",
        }
    }
}

/// Aggregation temporality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Temporality {
    /// Each point covers its own window.
    Delta,
    /// Each point covers the time since `start_ns`.
    Cumulative,
}

impl Temporality {
    /// Returns the temporality for an OTLP enum number; 0 (unspecified) and unknown numbers
    /// are `None`.
    #[must_use]
    pub fn from_otlp(number: i32) -> Option<Self> {
        match number {
            1 => Some(Self::Delta),
            2 => Some(Self::Cumulative),
            _ => None,
        }
    }

    /// Returns the lowercase name stored in the `temporality` column.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delta => "delta",
            Self::Cumulative => "cumulative",
        }
    }
}

/// The value of a point.
///
/// A point without a usable value records why, and is never stored as 0.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointValue {
    /// An integer gauge or sum value, exact.
    Int(i64),
    /// A finite double gauge or sum value.
    Double(f64),
    /// A histogram with explicit bounds.
    Histogram(Histogram),
    /// An exponential histogram.
    ExponentialHistogram(ExponentialHistogram),
    /// A summary.
    Summary(Summary),
    /// The point carries `FLAG_NO_RECORDED_VALUE`: the producer had no value to report.
    NoRecordedValue,
    /// The value was NaN or infinite, which no aggregate can use.
    NotFinite,
}

impl PointValue {
    /// Creates a double value, or [`PointValue::NotFinite`] for NaN and the infinities.
    #[must_use]
    pub fn double(value: f64) -> Self {
        if value.is_finite() {
            Self::Double(value)
        } else {
            Self::NotFinite
        }
    }

    /// Returns the value of a gauge or sum point as a double; `None` for histograms,
    /// summaries and points without a usable value.
    #[must_use]
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Int(value) => Some(*value as f64),
            Self::Double(value) => Some(*value),
            _ => None,
        }
    }

    /// Returns the name stored in the `value_state` column: `value`, `no_recorded_value` or
    /// `not_finite`.
    #[must_use]
    pub fn state(&self) -> &'static str {
        match self {
            Self::NoRecordedValue => "no_recorded_value",
            Self::NotFinite => "not_finite",
            _ => "value",
        }
    }
}

/// A histogram with explicit bucket bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Number of values recorded.
    pub count: u64,
    /// Sum of the values; `None` when unset or not finite.
    pub sum: Option<f64>,
    /// Smallest value, when recorded.
    pub min: Option<f64>,
    /// Largest value, when recorded.
    pub max: Option<f64>,
    /// Upper bounds of all buckets but the last, ascending.
    pub explicit_bounds: Vec<f64>,
    /// Counts per bucket; one more than `explicit_bounds`, or empty.
    pub bucket_counts: Vec<u64>,
}

/// A base-2 exponential histogram.
///
/// Bucket `index` of the positive range covers `(base^index, base^(index + 1)]` with
/// `base = 2^(2^-scale)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExponentialHistogram {
    /// Number of values recorded, including the zero bucket.
    pub count: u64,
    /// Sum of the values; `None` when unset or not finite.
    pub sum: Option<f64>,
    /// Smallest value, when recorded.
    pub min: Option<f64>,
    /// Largest value, when recorded.
    pub max: Option<f64>,
    /// Resolution: larger is finer.
    pub scale: i32,
    /// Values in the zero bucket.
    pub zero_count: u64,
    /// Width of the zero bucket, `[-threshold, threshold]`.
    pub zero_threshold: f64,
    /// Buckets of positive values.
    pub positive: ExponentialBuckets,
    /// Buckets of negative values, indexed by absolute value.
    pub negative: ExponentialBuckets,
}

impl ExponentialHistogram {
    /// Returns the bucket base, `2^(2^-scale)`.
    #[must_use]
    pub fn base(&self) -> f64 {
        2_f64.powf(2_f64.powi(-self.scale))
    }

    /// Returns the lower and upper bound of positive bucket `index`.
    #[must_use]
    pub fn bucket_bounds(&self, index: i32) -> (f64, f64) {
        let base = self.base();
        (base.powi(index), base.powi(index + 1))
    }
}

/// Consecutive buckets of an exponential histogram.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExponentialBuckets {
    /// Index of the first bucket.
    pub offset: i32,
    /// Counts of buckets `offset`, `offset + 1`, ...
    pub bucket_counts: Vec<u64>,
}

/// A summary point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of values recorded.
    pub count: u64,
    /// Sum of the values; `None` when not finite.
    pub sum: Option<f64>,
    /// Quantiles as (quantile, value) pairs.
    pub quantiles: Vec<(f64, f64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_is_not_a_usable_value() {
        assert_eq!(PointValue::double(f64::NAN), PointValue::NotFinite);
        assert_eq!(PointValue::double(f64::NAN).as_f64(), None);
        assert_eq!(PointValue::NoRecordedValue.as_f64(), None);
        assert_eq!(PointValue::Int(0).as_f64(), Some(0.0));
    }

    #[test]
    fn exponential_bucket_bounds_at_scale_three() {
        let histogram = ExponentialHistogram {
            count: 0,
            sum: None,
            min: None,
            max: None,
            scale: 3,
            zero_count: 0,
            zero_threshold: 0.0,
            positive: ExponentialBuckets::default(),
            negative: ExponentialBuckets::default(),
        };
        assert!((histogram.base() - 1.090_507_7).abs() < 1e-7);
        let (lower, upper) = histogram.bucket_bounds(-25);
        assert!((lower - 0.114_626).abs() < 1e-6);
        assert!((upper - 0.125).abs() < 1e-12);
    }
}
