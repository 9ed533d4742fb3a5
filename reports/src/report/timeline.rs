//! Latency percentiles and cost per function over time, for charts.

use std::collections::BTreeMap;

use crate::samples::Samples;
use crate::usage::{Counts, PricedUsage};
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

/// Longest window drawn in hourly buckets. Longer windows get daily buckets, so a month
/// gives about 30 points per line and four days about 100.
const MAX_HOURLY_WINDOW: i64 = 4 * DAY;

/// Returns whether the timeline of invocations that start from `first` to `last` (seconds
/// since the Unix epoch) has hourly buckets.
#[must_use]
pub fn hourly((first, last): (i64, i64)) -> bool {
    last - first <= MAX_HOURLY_WINDOW
}

/// Builds the timeline of the invocations of `priced`, with their latency `samples`.
#[must_use]
pub(super) fn timeline(priced: &PricedUsage<'_>, samples: &Samples) -> Timeline {
    let (first, last) = samples.period().map_or((0, 0), |(first, last)| {
        (
            first.div_euclid(NANOS_PER_SECOND),
            last.div_euclid(NANOS_PER_SECOND),
        )
    });
    let bucket_seconds = if hourly((first, last)) { HOUR } else { DAY };
    let bucket_of = |seconds: i64| seconds.div_euclid(bucket_seconds) * bucket_seconds;

    // Invocations per usage group, per function and bucket start: from hourly counts for
    // hourly buckets, else from daily ones.
    let mut costs: BTreeMap<(&str, i64), Counts> = BTreeMap::new();
    if bucket_seconds == HOUR {
        for (function, hours) in priced.usage.hours_by_function() {
            for entry in hours {
                costs
                    .entry((function, bucket_of(entry.hour * HOUR)))
                    .or_default()
                    .add_group(entry.group, entry.invocations);
            }
        }
    } else {
        for (function, entries) in priced.usage.by_function() {
            for entry in entries {
                if let Some(day) = entry.day {
                    costs
                        .entry((function, bucket_of(day * DAY)))
                        .or_default()
                        .add(entry);
                }
            }
        }
    }

    let mut functions = BTreeMap::new();
    for (function, series) in samples.functions() {
        // Invocations and percentiles per bucket start: an hour's figures, or a day's.
        let figures: Vec<(i64, usize, [f64; 3])> = if bucket_seconds == HOUR {
            series
                .hours()
                .iter()
                .map(|hour| (hour.hour * HOUR, hour.count as usize, hour.percentiles))
                .collect()
        } else {
            series
                .days()
                .into_iter()
                .map(|day| {
                    let (count, percentiles) = series.day_percentiles(day);
                    (day * DAY, count, percentiles)
                })
                .collect()
        };
        if figures.is_empty() {
            continue;
        }
        let buckets = figures
            .into_iter()
            .map(|(start, invocations, duration_ms)| Bucket {
                start,
                invocations,
                cost_usd: costs
                    .get(&(function, start))
                    .map(|counts| priced.sum(counts, |cost| cost.total))
                    .unwrap_or_default(),
                duration_ms,
            })
            .collect();
        functions.insert(function.to_owned(), buckets);
    }
    Timeline {
        bucket_seconds,
        functions,
    }
}
