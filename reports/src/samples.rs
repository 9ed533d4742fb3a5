//! Latency samples in cells that merge: the durations of each series, split by version and
//! by hour, each cell sorted.
//!
//! A series is a function's invocations, or the spans of one name inside a function. The
//! report reads every latency figure from these cells: the percentiles of a function, the
//! comparison of its two latest versions, the hourly p95 series that change points run on
//! and the timeline buckets. Samples built from two sets of rows and merged equal the samples
//! built from both sets at once, so a day's samples can be built once and kept.
//!
//! Order within a series is by start time, then by version name: the first version of a
//! series is the one with the earliest start, and the latest is the one with the last start.
//! Rows without a start come before every other row, in a cell without an hour.

use std::collections::BTreeMap;

use crate::detect::select_quantile;
use crate::table::Tables;

const NANOS_PER_HOUR: i64 = 3_600_000_000_000;

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

/// The durations of one series in one version and one hour.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cell {
    /// Version of the function.
    pub version: Option<String>,
    /// Hour of the starts, in hours since the Unix epoch, or `None` for rows without a start.
    pub hour: Option<i64>,
    /// Earliest start in the cell, in ns since the Unix epoch.
    pub first_ns: Option<i64>,
    /// Latest start in the cell.
    pub last_ns: Option<i64>,
    /// Durations in ms, ascending by [`f64::total_cmp`].
    pub durations: Vec<f64>,
}

/// A row's place in the order of a series: its start, then its version.
type Position<'a> = (Option<i64>, Option<&'a str>);

impl Cell {
    /// Returns the position of the cell's earliest row in the series order.
    fn first(&self) -> Position<'_> {
        (self.first_ns, self.version.as_deref())
    }

    /// Returns the position of the cell's latest row in the series order.
    fn last(&self) -> Position<'_> {
        (self.last_ns, self.version.as_deref())
    }
}

/// The cells of every series.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Samples {
    /// Cells per series, in order of hour, then version.
    pub series: BTreeMap<SeriesKey, Vec<Cell>>,
}

/// Cell key while building from a table: series id, version id, hour.
type BuildKey = (u32, Option<u32>, Option<i64>);

impl Samples {
    /// Builds the samples of the invocations of `tables`, and of their spans that do not
    /// cover a whole invocation and name a function.
    #[must_use]
    pub fn of(tables: &Tables) -> Self {
        let mut cells: foldhash::HashMap<BuildKey, Cell> = foldhash::HashMap::default();
        let mut add = |key: BuildKey, start: Option<i64>, duration_ms: f64| {
            let cell = cells.entry(key).or_insert_with(|| Cell {
                version: None,
                hour: key.2,
                first_ns: start,
                last_ns: start,
                durations: Vec::new(),
            });
            cell.first_ns = cell.first_ns.min(start);
            cell.last_ns = cell.last_ns.max(start);
            cell.durations.push(duration_ms);
        };
        let hour = |start: i64| start.div_euclid(NANOS_PER_HOUR);

        // Series ids: functions first, then (function, span name) pairs as they appear.
        let functions = tables.functions.len() as u32;
        let deferred = tables.deferred_rows();
        for (index, row) in tables.invocations.iter().enumerate() {
            if deferred.contains(&(index as u32)) {
                continue;
            }
            let key = (row.function, row.version, row.start_ns.map(hour));
            add(key, row.start_ns, row.duration_ms);
        }
        let mut span_series: foldhash::HashMap<(u32, u32), u32> = foldhash::HashMap::default();
        for span in tables.spans.iter().filter(|span| !span.is_invocation) {
            let Some(function) = span.function else {
                continue;
            };
            let next = functions + span_series.len() as u32;
            let series = *span_series.entry((function, span.name)).or_insert(next);
            let key = (series, span.version, Some(hour(span.start_ns)));
            add(key, Some(span.start_ns), span.duration_ms);
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
        let mut samples = Self::default();
        for ((series, version, _), mut cell) in cells {
            cell.version = tables.version(version).map(str::to_owned);
            cell.durations.sort_unstable_by(f64::total_cmp);
            let key = names[series as usize]
                .clone()
                .expect("every series id has a name");
            samples.series.entry(key).or_default().push(cell);
        }
        for cells in samples.series.values_mut() {
            cells.sort_unstable_by(|a, b| (a.hour, &a.version).cmp(&(b.hour, &b.version)));
        }
        samples
    }

    /// Merges the samples of several sets of rows.
    #[must_use]
    pub fn merge_all(all: Vec<Self>) -> Self {
        let mut series: BTreeMap<SeriesKey, Vec<Cell>> = BTreeMap::new();
        for samples in all {
            for (key, cells) in samples.series {
                series.entry(key).or_default().extend(cells);
            }
        }
        for cells in series.values_mut() {
            cells.sort_by(|a, b| (a.hour, &a.version).cmp(&(b.hour, &b.version)));
            let mut merged: Vec<Cell> = Vec::with_capacity(cells.len());
            for cell in cells.drain(..) {
                match merged.last_mut() {
                    Some(last) if (last.hour, &last.version) == (cell.hour, &cell.version) => {
                        let kept = std::mem::replace(last, cell);
                        *last = merge_cells(kept, last);
                    }
                    _ => merged.push(cell),
                }
            }
            *cells = merged;
        }
        Self { series }
    }

    /// Adds the cells of `other`. Cells of the same series, version and hour become one.
    pub fn merge(&mut self, other: Self) {
        for (key, cells) in other.series {
            let mine = self.series.entry(key).or_default();
            let mut merged = Vec::with_capacity(mine.len() + cells.len());
            let mut left = std::mem::take(mine).into_iter().peekable();
            let mut right = cells.into_iter().peekable();
            loop {
                let order = match (left.peek(), right.peek()) {
                    (Some(a), Some(b)) => (a.hour, &a.version).cmp(&(b.hour, &b.version)),
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (None, None) => break,
                };
                let cell = match order {
                    std::cmp::Ordering::Less => left.next(),
                    std::cmp::Ordering::Greater => right.next(),
                    std::cmp::Ordering::Equal => {
                        let (a, b) = (left.next(), right.next());
                        a.zip(b).map(|(a, b)| merge_cells(a, &b))
                    }
                };
                merged.extend(cell);
            }
            *mine = merged;
        }
    }

    /// Adds the duration of an invocation without a start.
    pub(crate) fn add_timeless(
        &mut self,
        function: &str,
        version: Option<String>,
        duration_ms: f64,
    ) {
        let key = SeriesKey {
            function: function.to_owned(),
            span: None,
        };
        let cells = self.series.entry(key).or_default();
        if let Some(cell) = cells
            .iter_mut()
            .find(|cell| cell.hour.is_none() && cell.version == version)
        {
            let at = cell
                .durations
                .partition_point(|value| value.total_cmp(&duration_ms).is_le());
            cell.durations.insert(at, duration_ms);
            return;
        }
        cells.push(Cell {
            version,
            hour: None,
            first_ns: None,
            last_ns: None,
            durations: vec![duration_ms],
        });
        cells.sort_by(|a, b| (a.hour, &a.version).cmp(&(b.hour, &b.version)));
    }

    /// Returns the series of each function's invocations, by function name.
    pub fn functions(&self) -> impl Iterator<Item = (&str, Series<'_>)> {
        self.series
            .iter()
            .filter(|(key, _)| key.span.is_none())
            .map(|(key, cells)| (key.function.as_str(), Series { cells }))
    }

    /// Returns the series of each span name inside each function, by function and span
    /// name.
    pub fn spans(&self) -> impl Iterator<Item = ((&str, &str), Series<'_>)> {
        self.series.iter().filter_map(|(key, cells)| {
            let span = key.span.as_deref()?;
            Some(((key.function.as_str(), span), Series { cells }))
        })
    }

    /// Returns the earliest and the latest start of an invocation.
    #[must_use]
    pub fn period(&self) -> Option<(i64, i64)> {
        self.functions()
            .filter_map(|(_, series)| series.period())
            .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)))
    }

    /// Returns every invocation duration of every function, in no order.
    #[must_use]
    pub fn all_invocation_durations(&self) -> Vec<f64> {
        let mut durations = Vec::new();
        for (_, series) in self.functions() {
            for cell in series.cells {
                durations.extend_from_slice(&cell.durations);
            }
        }
        durations
    }
}

/// Merges two cells of the same series, version and hour.
fn merge_cells(a: Cell, b: &Cell) -> Cell {
    let mut durations = Vec::with_capacity(a.durations.len() + b.durations.len());
    let (mut i, mut j) = (0, 0);
    while i < a.durations.len() && j < b.durations.len() {
        if a.durations[i].total_cmp(&b.durations[j]).is_le() {
            durations.push(a.durations[i]);
            i += 1;
        } else {
            durations.push(b.durations[j]);
            j += 1;
        }
    }
    durations.extend_from_slice(&a.durations[i..]);
    durations.extend_from_slice(&b.durations[j..]);
    Cell {
        version: a.version,
        hour: a.hour,
        first_ns: a.first_ns.min(b.first_ns),
        last_ns: a.last_ns.max(b.last_ns),
        durations,
    }
}

/// The cells of one series.
#[derive(Debug, Clone, Copy)]
pub struct Series<'a> {
    cells: &'a [Cell],
}

impl<'a> Series<'a> {
    /// Returns the number of samples.
    #[must_use]
    pub fn len(self) -> usize {
        self.cells.iter().map(|cell| cell.durations.len()).sum()
    }

    /// Returns whether the series has no samples.
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Returns every duration, in no order.
    #[must_use]
    pub fn durations(self) -> Vec<f64> {
        self.durations_where(|_| true)
    }

    /// Returns the durations of the cells that `keep` selects, in no order.
    fn durations_where(self, keep: impl Fn(&Cell) -> bool) -> Vec<f64> {
        let cells = || self.cells.iter().filter(|cell| keep(cell));
        let mut durations = Vec::with_capacity(cells().map(|cell| cell.durations.len()).sum());
        for cell in cells() {
            durations.extend_from_slice(&cell.durations);
        }
        durations
    }

    /// Returns the p50, p95 and p99 durations, or NaN for an empty series.
    #[must_use]
    pub fn percentiles(self) -> [f64; 3] {
        percentiles(&mut self.durations())
    }

    /// Returns the versions in the order they first appear, with `None` read as
    /// `$LATEST`.
    #[must_use]
    pub fn versions_in_order(self) -> Vec<&'a str> {
        let mut firsts: BTreeMap<&str, Position<'_>> = BTreeMap::new();
        for cell in self.cells {
            let version = latest_name(cell.version.as_deref());
            let first = firsts.entry(version).or_insert_with(|| cell.first());
            *first = (*first).min(cell.first());
        }
        let mut versions: Vec<(&str, Position<'_>)> = firsts.into_iter().collect();
        versions.sort_by_key(|&(_, first)| first);
        versions.into_iter().map(|(version, _)| version).collect()
    }

    /// Returns the durations of a version, as [`Series::versions_in_order`] names it.
    #[must_use]
    pub fn version_durations(self, version: &str) -> Vec<f64> {
        self.durations_where(|cell| latest_name(cell.version.as_deref()) == version)
    }

    /// Returns the version of the series' last row, or `None` for an empty series.
    #[must_use]
    pub fn latest_version(self) -> Option<Option<&'a str>> {
        self.cells
            .iter()
            .filter(|cell| !cell.durations.is_empty())
            .max_by(|a, b| a.last().cmp(&b.last()))
            .map(|cell| cell.version.as_deref())
    }

    /// Returns the durations of the rows whose version is exactly `version`.
    #[must_use]
    pub fn exact_version_durations(self, version: Option<&str>) -> Vec<f64> {
        self.durations_where(|cell| cell.version.as_deref() == version)
    }

    /// Returns the earliest and the latest start.
    #[must_use]
    pub fn period(self) -> Option<(i64, i64)> {
        let first = self.cells.iter().filter_map(|cell| cell.first_ns).min()?;
        let last = self.cells.iter().filter_map(|cell| cell.last_ns).max()?;
        Some((first, last))
    }

    /// Returns the hours with starts, in order, each with its cells.
    #[must_use]
    pub fn hours(self) -> Vec<Hour<'a>> {
        let mut hours: Vec<Hour<'a>> = Vec::new();
        let mut rest = self.cells;
        while let Some(first) = rest.first() {
            let end = rest
                .iter()
                .position(|cell| cell.hour != first.hour)
                .unwrap_or(rest.len());
            if let Some(hour) = first.hour {
                hours.push(Hour {
                    hour,
                    cells: &rest[..end],
                });
            }
            rest = &rest[end..];
        }
        hours
    }
}

/// The cells of one series in one hour.
#[derive(Debug, Clone, Copy)]
pub struct Hour<'a> {
    /// Hours since the Unix epoch.
    pub hour: i64,
    cells: &'a [Cell],
}

impl<'a> Hour<'a> {
    /// Returns the number of samples in the hour.
    #[must_use]
    pub fn len(self) -> usize {
        Series { cells: self.cells }.len()
    }

    /// Returns whether the hour has no samples.
    #[must_use]
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// Returns the hour's durations, in no order.
    #[must_use]
    pub fn durations(self) -> Vec<f64> {
        Series { cells: self.cells }.durations()
    }

    /// Returns the version of the hour's last row.
    #[must_use]
    pub fn latest_version(self) -> Option<&'a str> {
        Series { cells: self.cells }.latest_version().flatten()
    }
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
