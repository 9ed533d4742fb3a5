//! Latency samples that merge: the sorted durations of each series and version, day by day,
//! and the figures of each function's hours.
//!
//! A series is a function's invocations, or the spans of one name inside a function. The
//! report reads every latency figure from these samples: the percentiles of a function, the
//! comparison of its two latest versions, the hourly p95 series that change points run on
//! and the timeline buckets. Percentiles over several days are found in the sorted days
//! without merging them.
//!
//! Samples built from two sets of rows and merged equal the samples built from both at once
//! when the sets share no day of invocation starts, because the figures of an hour are kept
//! instead of its durations. Kept rollups are one per day, so they never share one.
//!
//! Order within a series is by start time, then by version name: the first version of a
//! series is the one with the earliest start, and the latest is the one with the last start.
//! Rows without a start come before every other row.

use std::collections::BTreeMap;

use crate::detect::latency::merged as merge_sorted;
use crate::detect::{SortedRuns, run_quantile, select_quantile};
use crate::table::Tables;

const NANOS_PER_HOUR: i64 = 3_600_000_000_000;
const HOURS_PER_DAY: i64 = 24;

/// A latency series: a function's invocations, or the spans of one name inside a function.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct SeriesKey {
    /// Function name.
    pub function: String,
    /// Span name, or `None` for the function's invocations.
    pub span: Option<String>,
}

/// The durations of one series and version that started on one day.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Run {
    /// Day of the starts, in days since the Unix epoch, or `None` for rows without a start.
    pub day: Option<i64>,
    /// Durations in ms, ascending by [`f64::total_cmp`].
    #[serde(with = "crate::le_bytes")]
    pub durations: Vec<f64>,
}

/// The durations of one series and version.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VersionSamples {
    /// Version of the function.
    pub version: Option<String>,
    /// Earliest start, in ns since the Unix epoch, or `None` when a row has no start.
    pub first_ns: Option<i64>,
    /// Earliest start of the rows with a start.
    pub earliest_ns: Option<i64>,
    /// Latest start.
    pub last_ns: Option<i64>,
    /// Durations by day, in order of day.
    pub runs: Vec<Run>,
}

impl VersionSamples {
    /// Returns the position of the version's earliest row in the series order.
    fn first(&self) -> Position<'_> {
        (self.first_ns, self.version.as_deref())
    }

    /// Returns the position of the version's latest row in the series order.
    fn last(&self) -> Position<'_> {
        (self.last_ns, self.version.as_deref())
    }
}

/// A row's place in the order of a series: its start, then its version.
type Position<'a> = (Option<i64>, Option<&'a str>);

/// Figures of one function's invocations that started in one hour.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HourStats {
    /// Hours since the Unix epoch.
    pub hour: i64,
    /// Invocations.
    pub count: u64,
    /// Duration percentiles in ms: p50, p95 and p99.
    pub percentiles: [f64; 3],
    /// Start of the hour's last invocation.
    pub last_ns: i64,
    /// Version of the hour's last invocation.
    pub last_version: Option<String>,
}

/// The samples of every series.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Samples {
    /// Durations per series and version, versions in order of name.
    pub series: BTreeMap<SeriesKey, Vec<VersionSamples>>,
    /// Figures per function and hour, hours in order.
    pub hours: BTreeMap<String, Vec<HourStats>>,
}

impl Samples {
    /// Builds the samples of the invocations of `tables`, and of their spans that do not
    /// cover a whole invocation and name a function.
    #[must_use]
    pub fn of(tables: &Tables) -> Self {
        // Durations and starts per (series id, version id, day); functions are the first
        // series ids, then (function, span name) pairs as they appear.
        let mut runs: foldhash::HashMap<(u32, Option<u32>, Option<i64>), Vec<f64>> =
            foldhash::HashMap::default();
        let mut bounds: foldhash::HashMap<(u32, Option<u32>), [Option<i64>; 3]> =
            foldhash::HashMap::default();
        let mut add = |series: u32, version: Option<u32>, start: Option<i64>, duration: f64| {
            let day = start.map(|start| start.div_euclid(NANOS_PER_HOUR * HOURS_PER_DAY));
            runs.entry((series, version, day))
                .or_default()
                .push(duration);
            let [first, earliest, last] = bounds
                .entry((series, version))
                .or_insert([start, start, start]);
            *first = (*first).min(start);
            *earliest = earliest_of(*earliest, start);
            *last = (*last).max(start);
        };
        let functions = tables.functions.len() as u32;
        let deferred = tables.deferred_rows();
        let mut hours: foldhash::HashMap<(u32, i64), (Vec<f64>, Position<'_>)> =
            foldhash::HashMap::default();
        for (index, row) in tables.invocations.iter().enumerate() {
            if deferred.contains(&(index as u32)) {
                continue;
            }
            add(row.function, row.version, row.start_ns, row.duration_ms);
            if let Some(start) = row.start_ns {
                let last = (Some(start), tables.version(row.version));
                let hour = hours
                    .entry((row.function, start.div_euclid(NANOS_PER_HOUR)))
                    .or_insert_with(|| (Vec::new(), last));
                hour.0.push(row.duration_ms);
                hour.1 = hour.1.max(last);
            }
        }
        let mut span_series: foldhash::HashMap<(u32, u32), u32> = foldhash::HashMap::default();
        for span in tables.spans.iter().filter(|span| !span.is_invocation) {
            let Some(function) = span.function else {
                continue;
            };
            let next = functions + span_series.len() as u32;
            let series = *span_series.entry((function, span.name)).or_insert(next);
            add(series, span.version, Some(span.start_ns), span.duration_ms);
        }

        let mut names: Vec<Option<SeriesKey>> = (0..functions)
            .map(|id| {
                Some(SeriesKey {
                    function: tables.function(id).to_owned(),
                    span: None,
                })
            })
            .collect();
        names.resize(names.len() + span_series.len(), None);
        for ((function, name), series) in span_series {
            names[series as usize] = Some(SeriesKey {
                function: tables.function(function).to_owned(),
                span: Some(tables.span_names.get(name).to_owned()),
            });
        }
        let mut versions: BTreeMap<(u32, Option<u32>), Vec<Run>> = BTreeMap::new();
        for ((series, version, day), mut durations) in runs {
            durations.sort_unstable_by(f64::total_cmp);
            versions
                .entry((series, version))
                .or_default()
                .push(Run { day, durations });
        }
        let mut samples = Self::default();
        for ((series, version), mut runs) in versions {
            runs.sort_by_key(|run| run.day);
            let [first_ns, earliest_ns, last_ns] = bounds[&(series, version)];
            let key = names[series as usize]
                .clone()
                .expect("every series id has a name");
            samples.series.entry(key).or_default().push(VersionSamples {
                version: tables.version(version).map(str::to_owned),
                first_ns,
                earliest_ns,
                last_ns,
                runs,
            });
        }
        for versions in samples.series.values_mut() {
            versions.sort_by(|a, b| a.version.cmp(&b.version));
        }
        samples.hours = hour_stats(tables, hours);
        samples
    }

    /// Merges the samples of several sets of rows that share no day of invocation starts.
    #[must_use]
    pub fn merge_all(all: Vec<Self>) -> Self {
        let mut merged = Self::default();
        for samples in all {
            for (key, versions) in samples.series {
                let mine = merged.series.entry(key).or_default();
                for version in versions {
                    match mine.iter_mut().find(|kept| kept.version == version.version) {
                        Some(kept) => {
                            kept.first_ns = kept.first_ns.min(version.first_ns);
                            kept.earliest_ns = earliest_of(kept.earliest_ns, version.earliest_ns);
                            kept.last_ns = kept.last_ns.max(version.last_ns);
                            kept.runs.extend(version.runs);
                        }
                        None => mine.push(version),
                    }
                }
            }
            for (function, hours) in samples.hours {
                merged.hours.entry(function).or_default().extend(hours);
            }
        }
        for versions in merged.series.values_mut() {
            versions.sort_by(|a, b| a.version.cmp(&b.version));
            for version in versions {
                version.runs = merge_runs(std::mem::take(&mut version.runs));
            }
        }
        for hours in merged.hours.values_mut() {
            hours.sort_by_key(|stats| stats.hour);
            // NOTE: an hour in two sets keeps the figures of one: the sets must share no
            // day, as the days of kept rollups do not.
            debug_assert!(
                hours.windows(2).all(|pair| pair[0].hour < pair[1].hour),
                "merged samples share an hour"
            );
            hours.dedup_by_key(|stats| stats.hour);
        }
        merged
    }

    /// Adds the samples of `other`, which shares no day of invocation starts.
    pub fn merge(&mut self, other: Self) {
        let mine = std::mem::take(self);
        *self = Self::merge_all(vec![mine, other]);
    }

    /// Adds the duration of an invocation without a start.
    pub(crate) fn add_timeless(&mut self, function: &str, version: Option<&str>, duration_ms: f64) {
        let version = version.map(str::to_owned);
        let key = SeriesKey {
            function: function.to_owned(),
            span: None,
        };
        let versions = self.series.entry(key).or_default();
        if !versions.iter().any(|kept| kept.version == version) {
            versions.push(VersionSamples {
                version: version.clone(),
                first_ns: None,
                earliest_ns: None,
                last_ns: None,
                runs: Vec::new(),
            });
            versions.sort_by(|a, b| a.version.cmp(&b.version));
        }
        let at = versions
            .iter()
            .position(|kept| kept.version == version)
            .expect("the version was added");
        let samples = &mut versions[at];
        samples.first_ns = None;
        if samples.runs.first().is_none_or(|run| run.day.is_some()) {
            samples.runs.insert(
                0,
                Run {
                    day: None,
                    durations: Vec::new(),
                },
            );
        }
        let durations = &mut samples.runs[0].durations;
        let position = durations.partition_point(|value| value.total_cmp(&duration_ms).is_le());
        durations.insert(position, duration_ms);
    }

    /// Returns the series of each function's invocations, by function name.
    pub fn functions(&self) -> impl Iterator<Item = (&str, Series<'_>)> {
        self.series
            .iter()
            .filter(|(key, _)| key.span.is_none())
            .map(|(key, versions)| {
                let hours = self.hours.get(&key.function).map_or(&[][..], Vec::as_slice);
                (key.function.as_str(), Series { versions, hours })
            })
    }

    /// Returns the series of each span name inside each function, by function and span
    /// name.
    pub fn spans(&self) -> impl Iterator<Item = ((&str, &str), Series<'_>)> {
        self.series.iter().filter_map(|(key, versions)| {
            let span = key.span.as_deref()?;
            let series = Series {
                versions,
                hours: &[],
            };
            Some(((key.function.as_str(), span), series))
        })
    }

    /// Returns the earliest and the latest start of an invocation.
    #[must_use]
    pub fn period(&self) -> Option<(i64, i64)> {
        self.functions()
            .filter_map(|(_, series)| series.period())
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
    }

    /// Returns the p50, p95 and p99 of the durations of every invocation.
    #[must_use]
    pub fn total_percentiles(&self) -> [f64; 3] {
        let runs: Vec<&[f64]> = self
            .functions()
            .flat_map(|(_, series)| series.runs(|_| true))
            .collect();
        run_percentiles(&runs)
    }
}

/// Returns the figures of each function's hours from their durations and last rows.
fn hour_stats(
    tables: &Tables,
    hours: foldhash::HashMap<(u32, i64), (Vec<f64>, Position<'_>)>,
) -> BTreeMap<String, Vec<HourStats>> {
    let mut stats: BTreeMap<String, Vec<HourStats>> = BTreeMap::new();
    for ((function, hour), (mut durations, (last_ns, last_version))) in hours {
        stats
            .entry(tables.function(function).to_owned())
            .or_default()
            .push(HourStats {
                hour,
                count: durations.len() as u64,
                percentiles: percentiles(&mut durations),
                last_ns: last_ns.unwrap_or_default(),
                last_version: last_version.map(str::to_owned),
            });
    }
    for hours in stats.values_mut() {
        hours.sort_by_key(|hour| hour.hour);
    }
    stats
}

/// Returns the earlier of two starts, ignoring a missing one.
fn earliest_of(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Merges the runs of one day into one, and puts the runs in order of day.
fn merge_runs(mut runs: Vec<Run>) -> Vec<Run> {
    runs.sort_by_key(|run| run.day);
    let mut merged: Vec<Run> = Vec::with_capacity(runs.len());
    for run in runs {
        match merged.last_mut() {
            Some(last) if last.day == run.day => {
                last.durations = merge_sorted(&last.durations, &run.durations);
            }
            _ => merged.push(run),
        }
    }
    merged
}

/// The samples of one series.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    versions: &'a [VersionSamples],
    hours: &'a [HourStats],
}

impl<'a> Series<'a> {
    /// Returns the number of samples.
    #[must_use]
    pub fn len(self) -> usize {
        self.runs(|_| true).map(<[f64]>::len).sum()
    }

    /// Returns whether the series has no samples.
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Returns the sorted runs of the versions that `keep` selects.
    fn runs(self, keep: impl Fn(&VersionSamples) -> bool) -> impl Iterator<Item = &'a [f64]> {
        self.versions
            .iter()
            .filter(move |version| keep(version))
            .flat_map(|version| version.runs.iter().map(|run| run.durations.as_slice()))
    }

    /// Returns the p50, p95 and p99 durations, or NaN for an empty series.
    #[must_use]
    pub fn percentiles(self) -> [f64; 3] {
        let runs: Vec<&[f64]> = self.runs(|_| true).collect();
        run_percentiles(&runs)
    }

    /// Returns the number of samples and the p50, p95 and p99 durations of the rows that
    /// started on `day` (days since the Unix epoch).
    #[must_use]
    pub fn day_percentiles(self, day: i64) -> (usize, [f64; 3]) {
        let runs: Vec<&[f64]> = self
            .versions
            .iter()
            .flat_map(|version| version.runs.iter())
            .filter(|run| run.day == Some(day))
            .map(|run| run.durations.as_slice())
            .collect();
        (
            runs.iter().map(|run| run.len()).sum(),
            run_percentiles(&runs),
        )
    }

    /// Returns the days with starts, in order.
    #[must_use]
    pub fn days(self) -> Vec<i64> {
        let mut days: Vec<i64> = self
            .versions
            .iter()
            .flat_map(|version| version.runs.iter().filter_map(|run| run.day))
            .collect();
        days.sort_unstable();
        days.dedup();
        days
    }

    /// Returns the versions in the order they first appear, with `None` read as
    /// `$LATEST`.
    #[must_use]
    pub fn versions_in_order(self) -> Vec<&'a str> {
        let mut firsts: BTreeMap<&str, Position<'_>> = BTreeMap::new();
        for version in self.versions {
            let name = latest_name(version.version.as_deref());
            let first = firsts.entry(name).or_insert_with(|| version.first());
            *first = (*first).min(version.first());
        }
        let mut versions: Vec<(&str, Position<'_>)> = firsts.into_iter().collect();
        versions.sort_by_key(|&(_, first)| first);
        versions.into_iter().map(|(version, _)| version).collect()
    }

    /// Returns the sorted runs of a version, as [`Series::versions_in_order`] names it.
    #[must_use]
    pub fn version_runs(self, name: &str) -> SortedRuns<'a> {
        SortedRuns::new(self.runs(|version| latest_name(version.version.as_deref()) == name))
    }

    /// Returns the named versions in the order they first ran, with versions that first ran
    /// at the same time in name order. Rows without a start run first.
    #[must_use]
    pub fn named_versions(self) -> Vec<&'a str> {
        let mut versions: Vec<&VersionSamples> = self
            .versions
            .iter()
            .filter(|version| version.version.is_some())
            .collect();
        versions.sort_by_key(|version| version.first());
        versions
            .into_iter()
            .filter_map(|version| version.version.as_deref())
            .collect()
    }

    /// Returns every duration of the series, sorted.
    #[must_use]
    pub fn sorted_durations(self) -> Vec<f64> {
        let mut merged: Vec<Vec<f64>> = self.runs(|_| true).map(<[f64]>::to_vec).collect();
        // Merging pairs of runs round by round copies each value once per round.
        while merged.len() > 1 {
            merged = merged
                .chunks(2)
                .map(|pair| match pair {
                    [a, b] => merge_sorted(a, b),
                    [a] => a.clone(),
                    _ => Vec::new(),
                })
                .collect();
        }
        merged.pop().unwrap_or_default()
    }

    /// Returns the version of the series' last row, or `None` for an empty series.
    #[must_use]
    pub fn latest_version(self) -> Option<Option<&'a str>> {
        self.versions
            .iter()
            .filter(|version| version.runs.iter().any(|run| !run.durations.is_empty()))
            .max_by(|a, b| a.last().cmp(&b.last()))
            .map(|version| version.version.as_deref())
    }

    /// Returns the sorted runs of the rows whose version is exactly `version`.
    #[must_use]
    pub fn exact_version_runs(self, version: Option<&str>) -> SortedRuns<'a> {
        SortedRuns::new(self.runs(|samples| samples.version.as_deref() == version))
    }

    /// Returns the earliest and the latest start.
    #[must_use]
    pub fn period(self) -> Option<(i64, i64)> {
        let first = self
            .versions
            .iter()
            .filter_map(|version| version.earliest_ns)
            .min()?;
        let last = self
            .versions
            .iter()
            .filter_map(|version| version.last_ns)
            .max()?;
        Some((first, last))
    }

    /// Returns the figures of the function's hours, in order.
    #[must_use]
    pub fn hours(self) -> &'a [HourStats] {
        self.hours
    }
}

/// Returns the p50, p95 and p99 of the union of sorted runs, as [`percentiles`] computes
/// them on the union, or NaN when the runs are empty.
fn run_percentiles(runs: &[&[f64]]) -> [f64; 3] {
    [0.50, 0.95, 0.99].map(|q| run_quantile(runs, q))
}

/// Returns the p50, p95 and p99 of `durations`, or NaN when there are none.
#[must_use]
pub fn percentiles(durations: &mut [f64]) -> [f64; 3] {
    if durations.is_empty() {
        return [f64::NAN; 3];
    }
    [0.50, 0.95, 0.99].map(|q| select_quantile(durations, q))
}

/// Names an unset version `$LATEST`, as Lambda does.
fn latest_name(version: Option<&str>) -> &str {
    version.unwrap_or("$LATEST")
}
