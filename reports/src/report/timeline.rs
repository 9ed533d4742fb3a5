//! Latency percentiles and cost per function over time, for charts.

use std::collections::BTreeMap;

use crate::detect::select_quantile;
use crate::table::Tables;
use rust_decimal::Decimal;

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
const NANOS_PER_SECOND: i64 = 1_000_000_000;

/// Durations and cost per bucket start.
type Buckets = BTreeMap<i64, (Vec<f64>, Decimal)>;
/// Longest window drawn in hourly buckets. Longer windows get daily buckets, so a month
/// gives about 30 points per line and four days about 100.
const MAX_HOURLY_WINDOW: i64 = 4 * DAY;

/// Builds the timeline of the invocations of `tables`.
#[must_use]
pub(super) fn timeline(tables: &Tables) -> Timeline {
    let starts = || {
        tables
            .invocations
            .iter()
            .filter_map(|row| row.start_ns.map(|nanos| nanos.div_euclid(NANOS_PER_SECOND)))
    };
    let first = starts().min().unwrap_or(0);
    let span = starts().max().unwrap_or(0) - first;
    let bucket_seconds = if span <= MAX_HOURLY_WINDOW { HOUR } else { DAY };
    let first_bucket = first.div_euclid(bucket_seconds);
    let buckets = usize::try_from(span / bucket_seconds + 2).unwrap_or(usize::MAX);

    // Per function id, per bucket from the first: durations and cost.
    let mut groups: Vec<Vec<(Vec<f64>, Decimal)>> = Vec::new();
    for row in &tables.invocations {
        let Some(start) = row.start_ns else {
            continue;
        };
        let bucket = start
            .div_euclid(NANOS_PER_SECOND)
            .div_euclid(bucket_seconds)
            - first_bucket;
        let function = row.function as usize;
        if groups.len() <= function {
            groups.resize_with(function + 1, Vec::new);
        }
        let series = &mut groups[function];
        if series.is_empty() {
            series.resize_with(buckets, Default::default);
        }
        let entry = &mut series[bucket as usize];
        entry.0.push(row.duration_ms);
        entry.1 += tables.cost(row).total;
    }
    let mut groups: Vec<(&str, Buckets)> = groups
        .into_iter()
        .enumerate()
        .filter(|(_, series)| !series.is_empty())
        .map(|(function, series)| {
            let buckets = series
                .into_iter()
                .enumerate()
                .filter(|(_, (durations, _))| !durations.is_empty())
                .map(|(index, bucket)| ((first_bucket + index as i64) * bucket_seconds, bucket))
                .collect();
            (tables.function(function as u32), buckets)
        })
        .collect();
    groups.sort_unstable_by(|a, b| a.0.cmp(b.0));

    let functions = groups
        .into_iter()
        .map(|(function, buckets)| {
            let buckets = buckets
                .into_iter()
                .map(|(start, (mut durations, cost_usd))| Bucket {
                    start,
                    invocations: durations.len(),
                    cost_usd,
                    duration_ms: [0.50, 0.95, 0.99].map(|q| select_quantile(&mut durations, q)),
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
