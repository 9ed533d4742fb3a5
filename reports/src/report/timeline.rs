//! Latency percentiles and cost per function over time, for charts.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use spanbill_collector::Invocation;

use crate::detect::quantile;
use crate::lambda::InvocationCost;

/// Figures of one function in one time bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    /// Start of the bucket, in seconds since the Unix epoch.
    pub start: i64,
    /// Invocations that started in the bucket.
    pub invocations: usize,
    /// Lambda cost of those invocations, in USD.
    pub cost_usd: Decimal,
    /// Duration percentiles in ms: p50, p95, p99.
    pub duration_ms: [f64; 3],
}

/// Per-function series of buckets of equal length.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    /// Length of a bucket in seconds: an hour for windows up to four days, else a day.
    pub bucket_seconds: i64,
    /// Buckets per function, by name, in time order. Buckets without invocations are left
    /// out.
    pub functions: BTreeMap<String, Vec<Bucket>>,
}

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;
/// Longest window drawn in hourly buckets. Longer windows get daily buckets, so a month
/// gives about 30 points per line and four days about 100.
const MAX_HOURLY_WINDOW: i64 = 4 * DAY;

/// Builds the timeline of `invocations` with their `costs`, in the same order.
#[must_use]
pub(super) fn timeline(invocations: &[Invocation], costs: &[InvocationCost]) -> Timeline {
    let starts = || {
        invocations
            .iter()
            .filter_map(|invocation| invocation.start.map(time::OffsetDateTime::unix_timestamp))
    };
    let span = starts().max().unwrap_or(0) - starts().min().unwrap_or(0);
    let bucket_seconds = if span <= MAX_HOURLY_WINDOW { HOUR } else { DAY };

    let mut groups: BTreeMap<&str, BTreeMap<i64, (Vec<f64>, Decimal)>> = BTreeMap::new();
    for (invocation, cost) in invocations.iter().zip(costs) {
        let Some(start) = invocation.start else {
            continue;
        };
        let bucket = start.unix_timestamp().div_euclid(bucket_seconds) * bucket_seconds;
        let entry = groups
            .entry(invocation.function.as_deref().unwrap_or("unknown"))
            .or_default()
            .entry(bucket)
            .or_default();
        entry.0.push(invocation.duration_ms);
        entry.1 += cost.total * Decimal::from(cost.count.max(1));
    }

    let functions = groups
        .into_iter()
        .map(|(function, buckets)| {
            let buckets = buckets
                .into_iter()
                .map(|(start, (mut durations, cost_usd))| {
                    durations.sort_by(f64::total_cmp);
                    Bucket {
                        start,
                        invocations: durations.len(),
                        cost_usd,
                        duration_ms: [
                            quantile(&durations, 0.50),
                            quantile(&durations, 0.95),
                            quantile(&durations, 0.99),
                        ],
                    }
                })
                .collect();
            (function.to_owned(), buckets)
        })
        .collect();
    Timeline {
        bucket_seconds,
        functions,
    }
}
