//! A rollup: the latency samples, usage counts and traces of a set of rows, which the report
//! is built from. Rollups of two sets of rows merge into the rollup of both, so a day's rollup
//! can be built once and kept; see `docs/report-rollups.md`.

use crate::samples::Samples;
use crate::shapes::{LooseInvocation, TraceRollup};
use crate::table::{Shared, Tables};
use crate::usage::Usage;

/// Trace ids kept per trace shape, and so the most traces a report built from kept rollups
/// can list.
pub const IDS_PER_SHAPE: usize = 5;

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

    /// Returns whether every index in the rollup points into its tables, the shape columns
    /// agree, and the whole traces are no more than the invocations and calls that make
    /// them. A decoded rollup that does not is damaged.
    #[must_use]
    pub fn is_consistent(&self) -> bool {
        let usage = &self.usage;
        let counts = (usage.groups.len(), usage.calls.len());
        let usage_indexes = usage.entries.iter().all(|entry| {
            (entry.function as usize) < usage.functions.len()
                && (entry.group as usize) < usage.groups.len()
        }) && usage.hours.iter().all(|hour| {
            (hour.function as usize) < usage.functions.len()
                && (hour.group as usize) < usage.groups.len()
        });
        // Each whole trace has an invocation or a call span of its own.
        let invocations: u128 = usage
            .entries
            .iter()
            .map(|entry| u128::from(entry.invocations))
            .sum();
        let call_spans: u128 = usage
            .calls
            .iter()
            .map(|(_, spans)| u128::from(*spans))
            .sum();
        let traces: u128 = self
            .traces
            .shapes
            .iter()
            .map(|shape| u128::from(shape.traces))
            .sum();
        usage_indexes && self.traces.is_consistent(counts) && traces <= invocations + call_spans
    }

    /// Merges the rollups of several sets of rows.
    #[must_use]
    pub fn merge_all(rollups: Vec<Self>) -> Self {
        let mut merged = Self::merge_parts(rollups, true);
        tracing::debug!(
            usage_entries = merged.usage.entries.len(),
            usage_groups = merged.usage.groups.len(),
            series = merged.samples.series.len(),
            trace_shapes = merged.traces.shapes.len(),
            split_traces = merged.traces.split.len(),
            "merged rollups"
        );
        merged.count_timeless();
        merged
    }

    /// Merges rollups without counting their loose invocations without a start. With
    /// `halves`, many rollups are merged in two halves on two threads, then together.
    fn merge_parts(mut rollups: Vec<Self>, halves: bool) -> Self {
        /// Rollups that one thread merges alone.
        const SMALL: usize = 4;
        if halves && rollups.len() > SMALL {
            let second = rollups.split_off(rollups.len() / 2);
            let (first, second) = std::thread::scope(|scope| {
                let second = scope.spawn(|| Self::merge_parts(second, false));
                let first = Self::merge_parts(rollups, false);
                (
                    first,
                    second.join().expect("merging rollups does not panic"),
                )
            });
            return Self::merge_parts(vec![first, second], false);
        }
        let mut samples = Vec::with_capacity(rollups.len());
        let mut usages = Vec::with_capacity(rollups.len());
        let mut traces = Vec::with_capacity(rollups.len());
        for rollup in rollups {
            samples.push(rollup.samples);
            usages.push(rollup.usage);
            traces.push(rollup.traces);
        }
        let (usage, renumberings) = Usage::merge_all(usages);
        Self {
            samples: Samples::merge_all(samples),
            usage,
            traces: TraceRollup::merge_all(traces.into_iter().zip(&renumberings).collect()),
        }
    }

    /// Counts the loose invocations without a start once per record: the last in read order
    /// of those with the same request id, function, duration, billed duration and memory,
    /// as the join within one table does.
    fn count_timeless(&mut self) {
        if self
            .traces
            .loose
            .iter()
            .all(|loose| loose.timeless.is_none())
        {
            return;
        }
        let same = |a: &LooseInvocation, b: &LooseInvocation| match (&a.timeless, &b.timeless) {
            (Some(x), Some(y)) => {
                a.function == b.function
                    && x.duration_bits == y.duration_bits
                    && x.group.billed_ms == y.group.billed_ms
                    && x.group.memory_mb == y.group.memory_mb
            }
            _ => false,
        };
        let loose = std::mem::take(&mut self.traces.loose);
        let mut kept = Vec::with_capacity(loose.len());
        let mut repeated = 0_usize;
        // Loose invocations are in order of request id, then read order.
        for request in loose.chunk_by(|a, b| a.request == b.request) {
            for (at, invocation) in request.iter().enumerate() {
                if request[at + 1..]
                    .iter()
                    .any(|later| same(invocation, later))
                {
                    repeated += 1;
                } else {
                    kept.push(invocation.clone());
                }
            }
        }
        if repeated > 0 {
            tracing::warn!(
                records = repeated,
                "invocation records that repeat another one (same request id, start and \
                 durations) were counted once; the dataset contains them twice, for example \
                 from an input ingested twice"
            );
        }
        for invocation in &kept {
            if let Some(record) = &invocation.timeless {
                let function = &self.traces.functions[invocation.function as usize];
                self.usage.add_timeless(function, record);
                let duration_ms = f64::from_bits(record.duration_bits);
                self.samples
                    .add_timeless(function, record.version.as_deref(), duration_ms);
            }
        }
        let renumbering = self.usage.normalize();
        self.traces.renumber(&renumbering);
        for invocation in &mut kept {
            if let Some(record) = &invocation.timeless {
                invocation.group = self.usage.group_index(&record.group).unwrap_or(u32::MAX);
            }
        }
        self.traces.loose = kept;
    }

    /// Adds the rows of `other`.
    pub fn merge(&mut self, other: Self) {
        let mine = std::mem::take(self);
        *self = Self::merge_all(vec![mine, other]);
    }
}
