//! Traces in a form that merges: shapes of whole traces, and the parts of traces that other
//! tables share.
//!
//! A trace's cost is the sum of its invocations (by usage group) and downstream calls (by
//! kind), so traces with the same items cost the same under any price book. A table's whole
//! traces are kept as distinct shapes, each with its trace count and its smallest trace ids.
//! The recursive-loop and retry checks need more than the items, so each whole trace also
//! adds to per-function loop and retry figures. A trace that has rows in other tables is
//! split: its items are kept one by one with its id, and merged with the other parts when the
//! tables are merged. Rows and spans of request ids that other tables have are loose: they are
//! joined by request id after the merge, by the rule of [`TraceRollup::resolve`].
//!
//! Within a trace, invocation spans are ordered by start, with failed spans after others that
//! start at the same time.

use std::collections::BTreeMap;

use spanbill_collector::Status;

use crate::table::{Shared, Tables, TraceId};
use crate::usage::{GroupKey, Renumbering, id_of};

/// One invocation of a trace: function (index in [`TraceRollup::functions`]) and usage group.
pub type InvocationItem = (u32, u32);

/// A trace id as a rollup keeps it: 32 lowercase hex digits as their number, any other text
/// as it is. Ids compare in the order of their texts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TraceKey {
    /// A W3C trace id.
    Hex(u128),
    /// Any other text.
    Text(String),
}

impl TraceKey {
    /// Returns the key of a trace id's text.
    #[must_use]
    pub fn of(text: &str) -> Self {
        let hex = text.len() == 32
            && text
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
        match u128::from_str_radix(text, 16) {
            Ok(value) if hex => Self::Hex(value),
            _ => Self::Text(text.to_owned()),
        }
    }

    /// Returns the trace id.
    #[must_use]
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Self::Hex(value) => std::borrow::Cow::Owned(format!("{value:032x}")),
            Self::Text(text) => std::borrow::Cow::Borrowed(text),
        }
    }
}

impl Ord for TraceKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (Self::Hex(a), Self::Hex(b)) => a.cmp(b),
            _ => self.text().cmp(&other.text()),
        }
    }
}

impl PartialOrd for TraceKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// An invocation span: the run of a function in a trace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Run {
    /// Function, by index in [`TraceRollup::functions`].
    pub function: u32,
    /// Start in ns since the Unix epoch.
    pub start_ns: i64,
    /// Whether the span's status is error.
    pub error: bool,
    /// Whether a queue triggered the invocation.
    pub from_queue: bool,
    /// Usage group of the invocation the span joined.
    pub group: Option<u32>,
    /// Request id, for a loose span that is joined after the merge.
    pub request: Option<String>,
    /// Place of a loose span in read order: its tables' place and its index there.
    pub order: Option<(i64, u32)>,
}

/// Distinct items of whole traces, with how many traces have them, and their smallest ids.
///
/// The shapes are columns: the items and ids of every shape back to back, with each shape's
/// ends. So a table of shapes decodes, merges and drops with a few allocations, not a few
/// per shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shapes {
    /// Per shape, where its invocations, calls and ids end in the columns below.
    #[serde(with = "crate::le_bytes")]
    ends: Vec<[u32; 3]>,
    /// Invocations of each shape, sorted.
    #[serde(with = "crate::le_bytes")]
    invocations: Vec<InvocationItem>,
    /// Downstream calls of each shape by kind index in [`crate::usage::Usage::calls`],
    /// sorted.
    #[serde(with = "crate::le_bytes")]
    calls: Vec<u32>,
    /// Traces with each shape.
    #[serde(with = "crate::le_bytes")]
    traces: Vec<u64>,
    /// The smallest ids of those traces, ascending, at most
    /// [`TraceRollup::ids_per_shape`] per shape.
    ids: IdColumn,
}

/// One shape of [`Shapes`].
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    /// Invocations, sorted.
    pub invocations: &'a [InvocationItem],
    /// Downstream calls by kind, sorted.
    pub calls: &'a [u32],
    /// Traces with these items.
    pub traces: u64,
    ids: IdRange<'a>,
}

impl Shape<'_> {
    /// Returns the smallest ids of the shape's traces, ascending.
    pub fn ids(&self) -> impl Iterator<Item = TraceKey> + '_ {
        self.ids.iter()
    }
}

/// Ids of one shape.
#[derive(Debug, Clone, Copy)]
struct IdRange<'a> {
    column: &'a IdColumn,
    start: usize,
    end: usize,
}

impl<'a> IdRange<'a> {
    fn iter(self) -> impl Iterator<Item = TraceKey> + 'a {
        (self.start..self.end).map(move |at| self.column.get(at))
    }
}

impl Shapes {
    /// Returns the number of shapes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Returns whether there are no shapes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Returns shape `at`.
    #[must_use]
    pub fn get(&self, at: usize) -> Shape<'_> {
        let start = if at == 0 { [0; 3] } else { self.ends[at - 1] };
        let end = self.ends[at];
        let range = |column: usize| start[column] as usize..end[column] as usize;
        Shape {
            invocations: &self.invocations[range(0)],
            calls: &self.calls[range(1)],
            traces: self.traces[at],
            ids: IdRange {
                column: &self.ids,
                start: start[2] as usize,
                end: end[2] as usize,
            },
        }
    }

    /// Returns whether the columns agree: each shape's ends are at or after the previous
    /// shape's, the last ends are the columns' lengths, and every text id has a place. A
    /// decoded table that does not is damaged, and reading its shapes would panic.
    #[must_use]
    pub fn is_consistent(&self) -> bool {
        let lengths = [self.invocations.len(), self.calls.len(), self.ids.len()];
        let ordered = self
            .ends
            .windows(2)
            .all(|pair| (0..3).all(|column| pair[0][column] <= pair[1][column]));
        let last = self.ends.last().copied().unwrap_or([0; 3]);
        let whole = (0..3).all(|column| last[column] as usize == lengths[column]);
        let texts = self.ids.texts.windows(2).all(|pair| pair[0].0 < pair[1].0)
            && self
                .ids
                .texts
                .last()
                .is_none_or(|(position, _)| (*position as usize) < self.ids.len());
        ordered && whole && texts && self.traces.len() == self.ends.len()
    }

    /// Returns whether every item names a function below `functions`, a usage group below
    /// `groups` and a call kind below `calls`.
    fn items_within(&self, functions: usize, groups: usize, calls: usize) -> bool {
        items_within(&self.invocations, &self.calls, (functions, groups, calls))
    }

    /// Returns the shapes in order.
    pub fn iter(&self) -> impl Iterator<Item = Shape<'_>> {
        (0..self.len()).map(|at| self.get(at))
    }

    /// Adds a shape.
    pub fn push(
        &mut self,
        invocations: &[InvocationItem],
        calls: &[u32],
        traces: u64,
        ids: impl IntoIterator<Item = TraceKey>,
    ) {
        self.invocations.extend_from_slice(invocations);
        self.calls.extend_from_slice(calls);
        self.traces.push(traces);
        for id in ids {
            self.ids.push(id);
        }
        let end = |length: usize| u32::try_from(length).expect("fewer than 2^32 shape items");
        self.ends.push([
            end(self.invocations.len()),
            end(self.calls.len()),
            end(self.ids.len()),
        ]);
    }

    /// Changes every function, usage group and call index with `function`, `group` and
    /// `call`, and sorts the items of each shape again.
    fn map_items(
        &mut self,
        function: impl Fn(u32) -> u32,
        group: impl Fn(u32) -> u32,
        call: impl Fn(u32) -> u32,
    ) {
        for item in &mut self.invocations {
            *item = (function(item.0), group(item.1));
        }
        for kind in &mut self.calls {
            *kind = call(*kind);
        }
        let mut start = [0_usize; 2];
        for end in &self.ends {
            let end = [end[0] as usize, end[1] as usize];
            self.invocations[start[0]..end[0]].sort_unstable();
            self.calls[start[1]..end[1]].sort_unstable();
            start = end;
        }
    }

    /// Merges tables of shapes: equal items add their traces and keep the `limit` smallest
    /// ids. The result is in order of items.
    fn merge_all(tables: &[Self], limit: usize) -> Self {
        type Key<'a> = (&'a [InvocationItem], &'a [u32]);
        let mut index: foldhash::HashMap<Key<'_>, usize> = foldhash::HashMap::default();
        let mut merged: Vec<(Key<'_>, u64, Vec<TraceKey>)> = Vec::new();
        let mut scratch = Vec::new();
        for table in tables {
            for shape in table.iter() {
                let key = (shape.invocations, shape.calls);
                match index.entry(key) {
                    std::collections::hash_map::Entry::Occupied(entry) => {
                        let (_, traces, ids) = &mut merged[*entry.get()];
                        *traces += shape.traces;
                        merge_ids(ids, shape.ids(), limit, &mut scratch);
                    }
                    std::collections::hash_map::Entry::Vacant(entry) => {
                        entry.insert(merged.len());
                        merged.push((key, shape.traces, shape.ids().take(limit).collect()));
                    }
                }
            }
        }
        merged.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut shapes = Self::default();
        for ((invocations, calls), traces, ids) in merged {
            shapes.push(invocations, calls, traces, ids);
        }
        shapes
    }

    /// Returns the shapes in order of items.
    fn sorted(&self) -> Self {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_unstable_by(|&a, &b| {
            let (a, b) = (self.get(a), self.get(b));
            (a.invocations, a.calls).cmp(&(b.invocations, b.calls))
        });
        let mut shapes = Self::default();
        for at in order {
            let shape = self.get(at);
            shapes.push(shape.invocations, shape.calls, shape.traces, shape.ids());
        }
        shapes
    }
}

/// Trace ids as a column: W3C ids as their numbers, and other ids as text by position.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct IdColumn {
    /// The number of each id, and 0 at the position of an id kept as text.
    #[serde(with = "crate::le_bytes")]
    numbers: Vec<u128>,
    /// Positions and texts of the other ids, in order of position.
    texts: Vec<(u32, String)>,
}

impl IdColumn {
    fn len(&self) -> usize {
        self.numbers.len()
    }

    fn get(&self, at: usize) -> TraceKey {
        let text = (!self.texts.is_empty())
            .then(|| {
                self.texts
                    .binary_search_by_key(&at, |(position, _)| *position as usize)
                    .ok()
            })
            .flatten();
        match text {
            Some(found) => TraceKey::Text(self.texts[found].1.clone()),
            None => TraceKey::Hex(self.numbers[at]),
        }
    }

    fn push(&mut self, id: TraceKey) {
        match id {
            TraceKey::Hex(number) => self.numbers.push(number),
            TraceKey::Text(text) => {
                let position = u32::try_from(self.numbers.len()).expect("fewer than 2^32 ids");
                self.texts.push((position, text));
                self.numbers.push(0);
            }
        }
    }
}

/// The items of a trace that other tables share.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SplitTrace {
    /// Trace id.
    pub id: String,
    /// Invocations.
    pub invocations: Vec<InvocationItem>,
    /// Downstream calls by kind.
    pub calls: Vec<u32>,
    /// Invocation spans that name a function.
    pub runs: Vec<Run>,
    /// Whether an invocation span of the trace failed.
    pub failed: bool,
}

/// An invocation whose request id other tables have, joined after the merge.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LooseInvocation {
    /// Request id.
    pub request: String,
    /// Function, by index in [`TraceRollup::functions`].
    pub function: u32,
    /// Usage group.
    pub group: u32,
    /// Start in ns since the Unix epoch.
    pub start_ns: Option<i64>,
    /// Trace of its X-Ray header.
    pub trace: Option<String>,
    /// Place in read order: its tables' place and its row there.
    pub order: (i64, u32),
    /// The record of an invocation without a start, which other tables may repeat. It is
    /// counted after the merge, once however many tables repeat it.
    pub timeless: Option<Timeless>,
}

/// The fields of an invocation without a start that the report counts.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Timeless {
    /// Version of the function.
    pub version: Option<String>,
    /// Handler duration in ms, as the bits of the number.
    pub duration_bits: u64,
    /// Usage group.
    pub group: GroupKey,
    /// Maximum memory used in MB.
    pub max_memory_used_mb: u32,
    /// Init duration in ms, as the bits of the number.
    pub init_bits: Option<u64>,
    /// Outcome.
    pub status: Status,
    /// Whether it was a cold start.
    pub cold_start: bool,
    /// Whether its billing era bills INIT time.
    pub init_billed: bool,
}

/// How often whole traces enter one function through a queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoopStats {
    /// Traces by number of queue-triggered passes, for one pass or more.
    pub passes: BTreeMap<u64, u64>,
    /// The maximum passes, with the smallest id of a trace that has them.
    pub longest: Option<(u64, String)>,
}

impl LoopStats {
    fn add(&mut self, passes: u64, trace: impl FnOnce() -> String) {
        *self.passes.entry(passes).or_default() += 1;
        self.longest = Some(longest(self.longest.take(), passes, trace));
    }

    fn merge(&mut self, other: Self) {
        for (passes, traces) in other.passes {
            *self.passes.entry(passes).or_default() += traces;
        }
        if let Some((passes, trace)) = other.longest {
            self.longest = Some(longest(self.longest.take(), passes, || trace));
        }
    }
}

/// Reruns of one function after a failed run in the same whole trace.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RetryStats {
    /// Runs after the first failed run of the function in its trace.
    pub reruns: u64,
    /// Traces with reruns.
    pub traces: u64,
    /// The maximum runs of the function in a trace with reruns, with the smallest such id.
    pub longest: Option<(u64, String)>,
    /// Reruns per usage group of their invocations, for their cost.
    pub groups: BTreeMap<u32, u64>,
}

impl RetryStats {
    fn merge(&mut self, other: Self) {
        self.reruns += other.reruns;
        self.traces += other.traces;
        if let Some((runs, trace)) = other.longest {
            self.longest = Some(longest(self.longest.take(), runs, || trace));
        }
        for (group, count) in other.groups {
            *self.groups.entry(group).or_default() += count;
        }
    }
}

/// Keeps the larger count, and the smaller id for equal counts.
fn longest(
    kept: Option<(u64, String)>,
    count: u64,
    trace: impl FnOnce() -> String,
) -> (u64, String) {
    match kept {
        Some((kept_count, kept_trace)) if kept_count > count => (kept_count, kept_trace),
        Some((kept_count, kept_trace)) if kept_count == count => {
            let trace = trace();
            (count, kept_trace.min(trace))
        }
        _ => (count, trace()),
    }
}

/// Whole-trace shapes and figures, and the parts of shared traces.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TraceRollup {
    /// Function names, in order.
    pub functions: Vec<String>,
    /// Ids kept per shape.
    pub ids_per_shape: usize,
    /// Shapes of whole traces, in order of their items.
    pub shapes: Shapes,
    /// Parts of shared traces, by id.
    pub split: Vec<SplitTrace>,
    /// Invocations joined after the merge, in order.
    pub loose: Vec<LooseInvocation>,
    /// Loop and retry figures of the whole traces.
    pub whole: TraceFigures,
}

impl TraceRollup {
    /// Builds the traces of `tables`. `renumbering` gives the usage index of each of the
    /// tables' usage groups and calls, `shared` the traces that other tables have, and
    /// `ids_per_shape` the trace ids kept per shape.
    #[must_use]
    pub fn of(
        tables: &Tables,
        renumbering: &Renumbering,
        shared: &Shared,
        ids_per_shape: usize,
    ) -> Self {
        let loose_spans: foldhash::HashMap<u32, &str> = tables
            .loose_spans
            .iter()
            .map(|(span, request)| (*span, request.as_str()))
            .collect();
        let mut rollup = Self {
            functions: (0..tables.functions.len() as u32)
                .map(|id| tables.function(id).to_owned())
                .collect(),
            ids_per_shape,
            ..Self::default()
        };
        let (mut items, split) = trace_items(tables, &loose_spans);
        for (row, request) in &tables.loose_rows {
            let invocation = &tables.invocations[*row as usize];
            rollup.loose.push(LooseInvocation {
                request: request.clone(),
                function: invocation.function,
                group: renumbering.groups[invocation.cost as usize],
                start_ns: invocation.start_ns,
                trace: invocation
                    .trace
                    .map(|trace| tables.traces.text(trace).into_owned()),
                order: (shared.place, *row),
                timeless: invocation.start_ns.is_none().then(|| Timeless {
                    version: tables.version(invocation.version).map(str::to_owned),
                    duration_bits: invocation.duration_ms.to_bits(),
                    group: GroupKey::of(&tables.usages[invocation.cost as usize]),
                    max_memory_used_mb: invocation.max_memory_used_mb,
                    init_bits: invocation.init_ms.map(f64::to_bits),
                    status: invocation.status,
                    cold_start: invocation.cold_start,
                    init_billed: invocation.init_billed,
                }),
            });
        }

        items.sort_unstable_by(|a, b| tables.traces.cmp(a.0, b.0));
        // Shapes by their items flattened: function and group of each invocation, a
        // separator, then the calls.
        let mut shapes: foldhash::HashMap<Box<[u32]>, (u64, Vec<TraceId>)> =
            foldhash::HashMap::default();
        let mut runs = vec![0_u64; rollup.functions.len()];
        let mut whole = WholeTrace::default();
        let mut key: Vec<u32> = Vec::new();
        for trace_items in items.chunk_by(|a, b| a.0 == b.0) {
            let trace = trace_items[0].0;
            whole.clear();
            for &(_, item) in trace_items {
                whole.add_item(tables, renumbering, (&loose_spans, shared.place), item);
            }
            whole.finish();
            let is_shared =
                split.contains(&trace) || shared.traces.contains(&tables.traces.hash(trace));
            if is_shared {
                let id = tables.traces.text(trace).into_owned();
                rollup.split.push(whole.to_split(id));
                continue;
            }
            if whole.failed || whole.runs.iter().any(|run| run.from_queue) {
                rollup
                    .whole
                    .add(&whole, || tables.traces.text(trace).into_owned());
            } else {
                for run in &whole.runs {
                    runs[run.function as usize] += 1;
                }
            }
            if whole.invocations.is_empty() && whole.calls.is_empty() {
                continue;
            }
            key.clear();
            for &(function, group) in &whole.invocations {
                key.extend([function, group]);
            }
            key.push(u32::MAX);
            key.extend(&whole.calls);
            let (count, ids) = match shapes.get_mut(key.as_slice()) {
                Some(shape) => shape,
                None => shapes.entry(key.clone().into_boxed_slice()).or_default(),
            };
            *count += 1;
            // Traces come in id order, so the first ones are the smallest.
            if ids.len() < ids_per_shape {
                ids.push(trace);
            }
        }
        for (function, runs) in runs.into_iter().enumerate() {
            if runs > 0 {
                *rollup.whole.runs.entry(function as u32).or_default() += runs;
            }
        }
        for (key, (traces, ids)) in shapes {
            let (invocations, calls) = shape_items(&key);
            let ids = ids.iter().map(|&id| match id {
                TraceId::Hex { high, low } => {
                    TraceKey::Hex(u128::from(high) << 64 | u128::from(low))
                }
                TraceId::Other(_) => TraceKey::Text(tables.traces.text(id).into_owned()),
            });
            rollup.shapes.push(&invocations, calls, traces, ids);
        }
        rollup.normalize();
        rollup
    }

    /// Returns whether the shape columns agree and every index points into the function
    /// names or below the `(groups, calls)` counts of the usage the rollup goes with.
    /// Loose invocations may have the group `u32::MAX`, which stands for none.
    #[must_use]
    pub fn is_consistent(&self, (groups, calls): (usize, usize)) -> bool {
        let functions = self.functions.len();
        let function = |id: u32| (id as usize) < functions;
        let group = |id: u32| (id as usize) < groups;
        let split = self.split.iter().all(|trace| {
            items_within(&trace.invocations, &trace.calls, (functions, groups, calls))
                && trace
                    .runs
                    .iter()
                    .all(|run| function(run.function) && run.group.is_none_or(group))
        });
        let loose = self.loose.iter().all(|invocation| {
            function(invocation.function)
                && (group(invocation.group) || invocation.group == u32::MAX)
        });
        let whole = &self.whole;
        let figures = whole.loops.keys().all(|&id| function(id))
            && whole.runs.keys().all(|&id| function(id))
            && whole
                .retries
                .iter()
                .all(|(&id, stats)| function(id) && stats.groups.keys().all(|&id| group(id)));
        self.shapes.is_consistent()
            && self.shapes.items_within(functions, groups, calls)
            && split
            && loose
            && figures
    }

    /// Merges the traces of several sets of rows, each with the renumbering of its usage
    /// groups and calls into the merged usage.
    #[must_use]
    pub fn merge_all(all: Vec<(Self, &Renumbering)>) -> Self {
        let mut merged = Self::default();
        let mut tables = Vec::with_capacity(all.len());
        for (mut rollup, renumbering) in all {
            if rollup.functions.is_empty() && rollup.shapes.is_empty() {
                continue;
            }
            rollup.renumber(renumbering);
            let functions = append_names(&mut merged.functions, &rollup.functions);
            rollup.map_functions(&functions);
            // Zero stands for a rollup with no traces yet, such as the default one.
            merged.ids_per_shape = match (merged.ids_per_shape, rollup.ids_per_shape) {
                (0, theirs) => theirs,
                (mine, 0) => mine,
                (mine, theirs) => mine.min(theirs),
            };
            tables.push(rollup.shapes);
            merged.split.extend(rollup.split);
            merged.loose.extend(rollup.loose);
            merged.whole.merge(rollup.whole);
        }
        merged.shapes = Shapes::merge_all(&tables, merged.ids_per_shape);
        drop(tables);
        merged.normalize();
        merged
    }

    /// Gives usage groups and calls their new indexes. Loose invocations without a start
    /// whose group has no counted invocation keep `u32::MAX`.
    pub(crate) fn renumber(&mut self, renumbering: &Renumbering) {
        let group = |id: &mut u32| {
            if let Some(&new) = renumbering.groups.get(*id as usize) {
                *id = new;
            }
        };
        let call = |id: &mut u32| *id = renumbering.calls[*id as usize];
        self.shapes.map_items(
            |function| function,
            |id| renumbering.groups.get(id as usize).copied().unwrap_or(id),
            |id| renumbering.calls[id as usize],
        );
        for trace in &mut self.split {
            trace.invocations.iter_mut().for_each(|(_, id)| group(id));
            trace.calls.iter_mut().for_each(call);
            trace
                .runs
                .iter_mut()
                .filter_map(|run| run.group.as_mut())
                .for_each(group);
        }
        for invocation in &mut self.loose {
            group(&mut invocation.group);
        }
        for stats in self.whole.retries.values_mut() {
            stats.groups = std::mem::take(&mut stats.groups).into_iter().fold(
                BTreeMap::new(),
                |mut groups, (id, count)| {
                    *groups.entry(renumbering.groups[id as usize]).or_default() += count;
                    groups
                },
            );
        }
    }

    /// Gives functions new indexes, `map[old]`.
    fn map_functions(&mut self, map: &[u32]) {
        let function = |id: &mut u32| *id = map[*id as usize];
        self.shapes
            .map_items(|id| map[id as usize], |group| group, |call| call);
        for trace in &mut self.split {
            trace
                .invocations
                .iter_mut()
                .for_each(|(id, _)| function(id));
            trace
                .runs
                .iter_mut()
                .for_each(|run| function(&mut run.function));
        }
        for invocation in &mut self.loose {
            function(&mut invocation.function);
        }
        self.whole.map_functions(map);
    }

    /// Puts functions in name order, merges equal shapes and the parts of one trace, and
    /// sorts shapes, parts and loose invocations.
    fn normalize(&mut self) {
        let mut order: Vec<u32> = (0..self.functions.len() as u32).collect();
        order.sort_by(|&a, &b| self.functions[a as usize].cmp(&self.functions[b as usize]));
        let mut map = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            map[old as usize] = new as u32;
        }
        self.functions = order
            .iter()
            .map(|&old| std::mem::take(&mut self.functions[old as usize]))
            .collect();
        self.map_functions(&map);

        // Shapes are distinct; new function indexes only change their order.
        self.shapes = self.shapes.sorted();

        let mut split: BTreeMap<String, SplitTrace> = BTreeMap::new();
        for mut part in std::mem::take(&mut self.split) {
            part.invocations.sort_unstable();
            part.calls.sort_unstable();
            match split.get_mut(&part.id) {
                Some(trace) => {
                    trace.invocations.extend(part.invocations);
                    trace.invocations.sort_unstable();
                    trace.calls.extend(part.calls);
                    trace.calls.sort_unstable();
                    trace.runs.extend(part.runs);
                    trace.failed |= part.failed;
                }
                None => {
                    split.insert(part.id.clone(), part);
                }
            }
        }
        self.split = split.into_values().collect();
        for trace in &mut self.split {
            trace.runs.sort_by(|a, b| run_order(a).cmp(&run_order(b)));
        }
        self.loose
            .sort_by(|a, b| loose_order(a).cmp(&loose_order(b)));
    }

    /// Joins the loose invocations with the loose spans by request id and returns the shared
    /// traces with them.
    ///
    /// As within one table, all spans that name a request id join the last invocation with
    /// that id in read order, which takes the trace of the last of those spans. Other
    /// invocations keep the trace of their X-Ray header.
    #[must_use]
    pub fn resolve(&self) -> Vec<SplitTrace> {
        let mut traces = self.split.clone();

        // The last invocation of each loose request id: they are sorted by request and order.
        let mut last: BTreeMap<&str, &LooseInvocation> = BTreeMap::new();
        for invocation in &self.loose {
            last.insert(&invocation.request, invocation);
        }

        // The trace of the last span of each request id.
        let mut spans: BTreeMap<&str, ((i64, u32), &str)> = BTreeMap::new();
        for trace in &self.split {
            for run in &trace.runs {
                if let (Some(request), Some(order)) = (&run.request, run.order) {
                    let candidate = (order, trace.id.as_str());
                    let entry = spans.entry(request).or_insert(candidate);
                    *entry = (*entry).max(candidate);
                }
            }
        }

        // Every span that names a request id joins its last invocation.
        for trace in &mut traces {
            for run in &mut trace.runs {
                if let Some(request) = &run.request {
                    run.group = last
                        .get(request.as_str())
                        .map(|invocation| invocation.group);
                }
            }
        }

        // Each invocation joins the trace of the last span that names it, else its own.
        let mut index: BTreeMap<String, usize> = traces
            .iter()
            .enumerate()
            .map(|(at, trace)| (trace.id.clone(), at))
            .collect();
        for invocation in &self.loose {
            let is_last = last
                .get(invocation.request.as_str())
                .is_some_and(|last| std::ptr::eq(*last, invocation));
            let trace = match spans.get(invocation.request.as_str()) {
                Some((_, trace)) if is_last => Some((*trace).to_owned()),
                _ => invocation.trace.clone(),
            };
            let Some(trace) = trace else {
                continue;
            };
            let at = *index.entry(trace.clone()).or_insert_with(|| {
                traces.push(SplitTrace {
                    id: trace,
                    invocations: Vec::new(),
                    calls: Vec::new(),
                    runs: Vec::new(),
                    failed: false,
                });
                traces.len() - 1
            });
            traces[at]
                .invocations
                .push((invocation.function, invocation.group));
        }

        for trace in &mut traces {
            trace.invocations.sort_unstable();
        }
        traces.sort_by(|a, b| a.id.cmp(&b.id));
        traces
    }

    /// Returns the loop and retry figures of every trace: the whole ones, and the shared
    /// ones given by `resolved` (from [`TraceRollup::resolve`]).
    #[must_use]
    pub fn figures(&self, resolved: &[SplitTrace]) -> TraceFigures {
        let mut figures = self.whole.clone();
        for trace in resolved {
            let whole = WholeTrace {
                invocations: Vec::new(),
                calls: Vec::new(),
                runs: trace.runs.clone(),
                failed: trace.failed,
            };
            figures.add(&whole, || trace.id.clone());
        }
        figures
    }
}

/// Loop and retry figures per function, by index in [`TraceRollup::functions`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TraceFigures {
    /// Queue-triggered passes.
    pub loops: BTreeMap<u32, LoopStats>,
    /// Reruns after a failed run.
    pub retries: BTreeMap<u32, RetryStats>,
    /// Invocation spans.
    pub runs: BTreeMap<u32, u64>,
}

impl TraceFigures {
    /// Adds the loop and retry figures of a whole trace.
    fn add(&mut self, whole: &WholeTrace, trace: impl Fn() -> String) {
        let mut by_function: BTreeMap<u32, Vec<&Run>> = BTreeMap::new();
        for run in &whole.runs {
            by_function.entry(run.function).or_default().push(run);
        }
        for (function, mut runs) in by_function {
            *self.runs.entry(function).or_default() += runs.len() as u64;
            let passes = runs.iter().filter(|run| run.from_queue).count() as u64;
            if passes > 0 {
                self.loops.entry(function).or_default().add(passes, &trace);
            }
            if !whole.failed {
                continue;
            }
            runs.sort_by(|a, b| run_order(a).cmp(&run_order(b)));
            let Some(first_failure) = runs.iter().position(|run| run.error) else {
                continue;
            };
            let reruns = &runs[first_failure + 1..];
            if reruns.is_empty() {
                continue;
            }
            let stats = self.retries.entry(function).or_default();
            stats.reruns += reruns.len() as u64;
            stats.traces += 1;
            stats.longest = Some(longest(stats.longest.take(), runs.len() as u64, &trace));
            for run in reruns {
                if let Some(group) = run.group {
                    *stats.groups.entry(group).or_default() += 1;
                }
            }
        }
    }

    fn merge(&mut self, other: Self) {
        for (function, stats) in other.loops {
            self.loops.entry(function).or_default().merge(stats);
        }
        for (function, stats) in other.retries {
            self.retries.entry(function).or_default().merge(stats);
        }
        for (function, runs) in other.runs {
            *self.runs.entry(function).or_default() += runs;
        }
    }

    /// Gives functions new indexes, `map[old]`.
    fn map_functions(&mut self, map: &[u32]) {
        self.loops = std::mem::take(&mut self.loops)
            .into_iter()
            .map(|(id, stats)| (map[id as usize], stats))
            .collect();
        self.retries = std::mem::take(&mut self.retries)
            .into_iter()
            .map(|(id, stats)| (map[id as usize], stats))
            .collect();
        self.runs = std::mem::take(&mut self.runs)
            .into_iter()
            .map(|(id, runs)| (map[id as usize], runs))
            .collect();
    }
}

/// The order of runs within a trace: by start, failed runs after others, then by the rest.
type RunOrder<'a> = (
    i64,
    bool,
    u32,
    bool,
    Option<u32>,
    Option<(i64, u32)>,
    Option<&'a str>,
);

fn run_order(run: &Run) -> RunOrder<'_> {
    (
        run.start_ns,
        run.error,
        run.function,
        run.from_queue,
        run.group,
        run.order,
        run.request.as_deref(),
    )
}

/// Returns the sort key of a loose invocation: its request id, then its read order.
fn loose_order(invocation: &LooseInvocation) -> (&str, (i64, u32)) {
    (&invocation.request, invocation.order)
}

/// Returns the invocations and calls of the flattened items `key`: function and group of
/// each invocation, a separator, then the calls.
fn shape_items(key: &[u32]) -> (Vec<InvocationItem>, &[u32]) {
    let separator = key
        .iter()
        .rposition(|&value| value == u32::MAX)
        .unwrap_or(0);
    let invocations = key[..separator]
        .chunks_exact(2)
        .map(|pair| (pair[0], pair[1]))
        .collect();
    (invocations, &key[separator + 1..])
}

/// Marks a span among the items of [`trace_items`]; other items are invocation rows.
const SPAN: u32 = 1 << 31;

/// Returns the rows and spans that are items of a trace, each with its trace, and the traces
/// that loose rows or spans make shared.
fn trace_items(
    tables: &Tables,
    loose_spans: &foldhash::HashMap<u32, &str>,
) -> (Vec<(TraceId, u32)>, foldhash::HashSet<TraceId>) {
    let loose_rows: foldhash::HashSet<u32> =
        tables.loose_rows.iter().map(|(row, _)| *row).collect();
    let mut split: foldhash::HashSet<TraceId> = foldhash::HashSet::default();
    let mut items: Vec<(TraceId, u32)> = Vec::new();
    for (row, invocation) in tables.invocations.iter().enumerate() {
        let Some(trace) = invocation.trace else {
            continue;
        };
        if loose_rows.contains(&(row as u32)) {
            split.insert(trace);
        } else {
            items.push((trace, row as u32));
        }
    }
    for (index, span) in tables.spans.iter().enumerate() {
        if span.call.is_none() && !span.is_invocation {
            continue;
        }
        if loose_spans.contains_key(&(index as u32)) {
            split.insert(span.trace);
        }
        items.push((span.trace, SPAN | index as u32));
    }
    (items, split)
}

/// Adds the names of `more` that `names` lacks, and returns the index in `names` of each.
fn append_names(names: &mut Vec<String>, more: &[String]) -> Vec<u32> {
    let mut ids: foldhash::HashMap<String, u32> = names
        .iter()
        .enumerate()
        .map(|(at, name)| (name.clone(), at as u32))
        .collect();
    more.iter()
        .map(|name| id_of(&mut ids, names, name.clone()))
        .collect()
}

/// The items of one trace.
#[derive(Debug, Default)]
struct WholeTrace {
    invocations: Vec<InvocationItem>,
    calls: Vec<u32>,
    runs: Vec<Run>,
    failed: bool,
}

impl WholeTrace {
    fn clear(&mut self) {
        self.invocations.clear();
        self.calls.clear();
        self.runs.clear();
        self.failed = false;
    }

    /// Adds an item of [`trace_items`].
    fn add_item(
        &mut self,
        tables: &Tables,
        renumbering: &Renumbering,
        (loose_spans, place): (&foldhash::HashMap<u32, &str>, i64),
        item: u32,
    ) {
        let group = |cost: u32| renumbering.groups[cost as usize];
        if item & SPAN == 0 {
            let invocation = &tables.invocations[item as usize];
            self.invocations
                .push((invocation.function, group(invocation.cost)));
            return;
        }
        let index = item & !SPAN;
        let span = &tables.spans[index as usize];
        if let Some(call) = span.call {
            self.calls.push(renumbering.calls[call as usize]);
        }
        if !span.is_invocation {
            return;
        }
        self.failed |= span.error;
        if let Some(function) = span.function {
            let request = loose_spans.get(&index);
            self.runs.push(Run {
                function,
                start_ns: span.start_ns,
                error: span.error,
                from_queue: span.from_queue,
                group: span
                    .invocation
                    .map(|row| group(tables.invocations[row as usize].cost)),
                request: request.map(|request| (*request).to_owned()),
                order: request.map(|_| (place, index)),
            });
        }
    }

    fn finish(&mut self) {
        self.invocations.sort_unstable();
        self.calls.sort_unstable();
    }

    fn to_split(&self, id: String) -> SplitTrace {
        SplitTrace {
            id,
            invocations: self.invocations.clone(),
            calls: self.calls.clone(),
            runs: self.runs.clone(),
            failed: self.failed,
        }
    }
}

/// Returns whether `invocations` and `calls` name functions, usage groups and call kinds
/// below the `(functions, groups, calls)` counts.
fn items_within(
    invocations: &[InvocationItem],
    calls: &[u32],
    (functions, groups, kinds): (usize, usize, usize),
) -> bool {
    invocations
        .iter()
        .all(|&(function, group)| (function as usize) < functions && (group as usize) < groups)
        && calls.iter().all(|&call| (call as usize) < kinds)
}

/// Merges the ascending ids `more` into the ascending ids `smallest`, keeping the `limit`
/// smallest without repeats. `scratch` is reused memory.
fn merge_ids(
    smallest: &mut Vec<TraceKey>,
    more: impl Iterator<Item = TraceKey>,
    limit: usize,
    scratch: &mut Vec<TraceKey>,
) {
    let mut more = more.peekable();
    // Later days mostly bring larger ids, which a full list keeps out.
    if smallest.len() >= limit
        && more
            .peek()
            .is_none_or(|first| Some(first) >= smallest.last())
    {
        return;
    }
    scratch.clear();
    let mut mine = smallest.drain(..).peekable();
    while scratch.len() < limit {
        let next = match (mine.peek(), more.peek()) {
            (Some(a), Some(b)) => match a.cmp(b) {
                std::cmp::Ordering::Less => mine.next(),
                std::cmp::Ordering::Greater => more.next(),
                std::cmp::Ordering::Equal => {
                    more.next();
                    mine.next()
                }
            },
            (Some(_), None) => mine.next(),
            (None, _) => more.next(),
        };
        match next {
            Some(id) => scratch.push(id),
            None => break,
        }
    }
    drop(mine);
    smallest.append(scratch);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shape's invocations, calls, traces and ids.
    type ShapeRow = (Vec<InvocationItem>, Vec<u32>, u64, Vec<TraceKey>);

    fn hex(value: u128) -> TraceKey {
        TraceKey::Hex(value)
    }

    /// Equal shapes of several tables add their traces and keep the smallest ids, with W3C
    /// ids and other ids in the order of their texts. The result is in order of items.
    #[test]
    fn merged_shapes_keep_the_smallest_ids() {
        let text = |id: &str| TraceKey::Text(id.to_owned());
        let mut first = Shapes::default();
        first.push(&[(1, 0)], &[], 2, [hex(0x30), hex(0x90)]);
        first.push(&[(0, 4)], &[2], 1, [text("zz-last")]);
        let mut second = Shapes::default();
        second.push(&[(1, 0)], &[], 3, [text("0000-text"), hex(0x10), hex(0x20)]);
        let mut third = Shapes::default();
        third.push(&[(0, 4)], &[2], 4, [hex(0x05)]);
        third.push(&[(1, 0)], &[], 1, [hex(0xff)]);

        let merged = Shapes::merge_all(&[first, second, third], 3);

        let shapes: Vec<ShapeRow> = merged
            .iter()
            .map(|shape| {
                let ids = shape.ids().collect();
                (
                    shape.invocations.to_vec(),
                    shape.calls.to_vec(),
                    shape.traces,
                    ids,
                )
            })
            .collect();
        assert_eq!(
            shapes,
            [
                (vec![(0, 4)], vec![2], 5, vec![hex(0x05), text("zz-last")]),
                // "0000-text" sorts before every 32-digit hex id.
                (
                    vec![(1, 0)],
                    vec![],
                    6,
                    vec![text("0000-text"), hex(0x10), hex(0x20)]
                ),
            ]
        );
    }

    /// Columns whose ends run backwards or past a column, or that lack a trace count, are
    /// found inconsistent; the tables that `push` builds are consistent.
    #[test]
    fn damaged_columns_are_inconsistent() {
        let mut shapes = Shapes::default();
        assert!(shapes.is_consistent());
        shapes.push(
            &[(0, 1), (1, 2)],
            &[3],
            4,
            [hex(9), TraceKey::Text("x".to_owned())],
        );
        shapes.push(&[(2, 2)], &[], 1, [hex(1)]);
        shapes.push(&[(3, 3)], &[], 2, [hex(2)]);
        assert!(shapes.is_consistent());

        let mut backwards = shapes.clone();
        backwards.ends[1][0] = 1;
        assert!(!backwards.is_consistent());
        let mut past = shapes.clone();
        past.ends[2][2] = 7;
        assert!(!past.is_consistent());
        let mut short = shapes.clone();
        short.traces.pop();
        assert!(!short.is_consistent());
        let mut text = shapes.clone();
        text.ids.texts[0].0 = 5;
        assert!(!text.is_consistent());
    }

    /// A full list of ids takes no larger id, and a list with room takes the smallest.
    #[test]
    fn id_lists_merge_up_to_the_limit() {
        let mut scratch = Vec::new();
        let mut kept = vec![hex(2), hex(4)];
        merge_ids(&mut kept, [hex(4), hex(9)].into_iter(), 2, &mut scratch);
        assert_eq!(kept, [hex(2), hex(4)]);
        merge_ids(&mut kept, [hex(1), hex(3)].into_iter(), 3, &mut scratch);
        assert_eq!(kept, [hex(1), hex(2), hex(3)]);
        let mut empty = Vec::new();
        merge_ids(&mut empty, [hex(7), hex(8)].into_iter(), 1, &mut scratch);
        assert_eq!(empty, [hex(7)]);
    }
}
