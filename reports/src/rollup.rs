//! A rollup: the latency samples, usage counts and traces of a set of rows, which the report
//! is built from. Rollups of two sets of rows merge into the rollup of both, so a day's rollup
//! can be built once and kept; see `docs/report-rollups.md`.

use crate::samples::Samples;
use crate::shapes::TraceRollup;
use crate::table::{Shared, Tables};
use crate::usage::Usage;

/// Trace ids kept per trace shape, and so the most traces a report built from kept rollups
/// can list.
pub const IDS_PER_SHAPE: usize = 16;

/// Latency samples, usage counts and traces of a set of rows.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rollup {
    /// Durations per series, version and hour.
    pub samples: Samples,
    /// Invocations per function, hour, usage group and outcome, and calls per kind.
    pub usage: Usage,
    /// Trace shapes, shared traces, and loop and retry figures.
    pub traces: TraceRollup,
}

impl Rollup {
    /// Builds the rollup of `tables`, whose request ids and trace ids in `shared` other
    /// tables also have. Keeps up to `ids_per_shape` trace ids per shape.
    #[must_use]
    pub fn of(tables: &Tables, shared: &Shared, ids_per_shape: usize) -> Self {
        let samples = crate::timed("latency samples", || Samples::of(tables));
        let (usage, renumbering) = crate::timed("usage counts", || Usage::of_tables(tables));
        let traces = crate::timed("trace shapes", || {
            TraceRollup::of(tables, &renumbering, shared, ids_per_shape)
        });
        Self {
            samples,
            usage,
            traces,
        }
    }

    /// Merges the rollups of several sets of rows.
    #[must_use]
    pub fn merge_all(rollups: Vec<Self>) -> Self {
        let mut samples = Vec::with_capacity(rollups.len());
        let mut usages = Vec::with_capacity(rollups.len());
        let mut traces = Vec::with_capacity(rollups.len());
        for rollup in rollups {
            samples.push(rollup.samples);
            usages.push(rollup.usage);
            traces.push(rollup.traces);
        }
        let (usage, renumberings) = crate::timed("merging usage", || Usage::merge_all(usages));
        let samples = crate::timed("merging samples", || Samples::merge_all(samples));
        let traces = crate::timed("merging traces", || {
            TraceRollup::merge_all(traces.into_iter().zip(&renumberings).collect())
        });
        tracing::debug!(
            usage_entries = usage.entries.len(),
            usage_groups = usage.groups.len(),
            series = samples.series.len(),
            trace_shapes = traces.shapes.len(),
            split_traces = traces.split.len(),
            "merged rollups"
        );
        Self {
            samples,
            usage,
            traces,
        }
    }

    /// Adds the rows of `other`.
    pub fn merge(&mut self, other: Self) {
        self.samples.merge(other.samples);
        let (mine, theirs) = self.usage.merge(other.usage);
        self.traces.merge(other.traces, &mine, &theirs);
    }
}
