//! Invocation counts that merge: how many invocations of each function ran on each day, in
//! each usage group, with each outcome, and in each hour.
//!
//! A usage group is a set of invocations that cost the same: the same month, region,
//! architecture, memory size, billed duration and billing flags. Every cost figure of a
//! report except the cost per trace is a sum over usage groups of a group's cost times its
//! invocations, so the report reads these counts instead of the rows. Usage built from two
//! sets of rows and merged equals the usage of both sets, and groups, functions and entries
//! are kept in one order, so sums add their terms in the same order either way.

use rust_decimal::Decimal;
use spanbill_collector::{Architecture, Status};

use crate::aggregate::GroupCost;
use crate::cost::{Basis, BillingMonth};
use crate::downstream::{DownstreamCall, DownstreamCost, Service, price_call};
use crate::lambda::{
    FREE_EPHEMERAL_STORAGE_MB, InvocationCost, LambdaOptions, LambdaUsage, price_invocations,
};
use crate::pricing::PriceBook;
use crate::shapes::Timeless;
use crate::table::{Tables, times};

const NANOS_PER_HOUR: i64 = 3_600_000_000_000;
const HOURS_PER_DAY: i64 = 24;
const NANOS_PER_MS: f64 = 1e6;

/// The fields that decide an invocation's cost.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct GroupKey {
    /// Month the invocations started in.
    pub month: Option<BillingMonth>,
    /// AWS region.
    pub region: Option<String>,
    /// Architecture, when the input gave it.
    pub architecture: Option<Architecture>,
    /// Configured memory in MB.
    pub memory_mb: u32,
    /// Billed duration in ms.
    pub billed_ms: u64,
    /// Whether the billed duration is an estimate.
    pub estimated: bool,
    /// Whether the invocations ran on provisioned concurrency.
    pub provisioned: bool,
    /// Whether they restored a SnapStart snapshot.
    pub snapstart_restore: bool,
}

impl GroupKey {
    /// Returns the key of a usage group.
    #[must_use]
    pub fn of(usage: &LambdaUsage) -> Self {
        Self {
            month: usage.month,
            region: usage.region.clone(),
            architecture: usage.architecture_known.then_some(usage.architecture),
            memory_mb: usage.memory_mb,
            billed_ms: usage.billed_ms,
            estimated: usage.basis == Basis::Estimated,
            provisioned: usage.provisioned,
            snapstart_restore: usage.snapstart_restore,
        }
    }

    /// Returns the usage of `count` invocations of the group.
    fn usage(&self, count: u64) -> LambdaUsage {
        LambdaUsage {
            request_id: String::new(),
            function: None,
            trace_id: None,
            month: self.month,
            region: self.region.clone(),
            architecture: self.architecture.unwrap_or(Architecture::X86_64),
            architecture_known: self.architecture.is_some(),
            memory_mb: self.memory_mb,
            billed_ms: self.billed_ms,
            basis: if self.estimated {
                Basis::Estimated
            } else {
                Basis::Billed
            },
            provisioned: self.provisioned,
            snapstart_restore: self.snapstart_restore,
            ephemeral_storage_mb: FREE_EPHEMERAL_STORAGE_MB,
            count,
        }
    }
}

/// The fields that decide a downstream call's cost.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct CallKey {
    /// Service called.
    pub service: Service,
    /// API operation.
    pub operation: Option<String>,
    /// Payload size of one call in bytes.
    pub payload_bytes: u64,
    /// Number of identical calls a span records.
    pub count: u64,
}

impl CallKey {
    fn of(call: &DownstreamCall) -> Self {
        Self {
            service: call.service,
            operation: call.operation.clone(),
            payload_bytes: call.payload_bytes,
            count: call.count,
        }
    }

    fn call(&self) -> DownstreamCall {
        DownstreamCall {
            trace_id: None,
            service: self.service,
            operation: self.operation.clone(),
            payload_bytes: self.payload_bytes,
            count: self.count,
        }
    }
}

/// New indexes of usage groups and calls, by old index. A group without invocations gets
/// `u32::MAX`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Renumbering {
    /// New index of each usage group.
    pub groups: Vec<u32>,
    /// New index of each call kind.
    pub calls: Vec<u32>,
}

/// Invocations of one function in one hour and usage group. A report reads them only for
/// hourly timelines and for the day in which a period's halves meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HourEntry {
    /// Function, by index in [`Usage::functions`].
    pub function: u32,
    /// Hours since the Unix epoch.
    pub hour: i64,
    /// Usage group, by index in [`Usage::groups`].
    pub group: u32,
    /// Number of invocations.
    pub invocations: u64,
}

/// Invocations of one function on one day and usage group, with one outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// Function, by index in [`Usage::functions`].
    pub function: u32,
    /// Day of the starts, in days since the Unix epoch, or `None` without a start.
    pub day: Option<i64>,
    /// Usage group, by index in [`Usage::groups`].
    pub group: u32,
    /// Outcome.
    pub status: Status,
    /// Whether the invocations were cold starts.
    pub cold_start: bool,
    /// Whether their billing era bills INIT time.
    pub init_billed: bool,
    /// Number of invocations.
    pub invocations: u64,
    /// Invocations whose billed INIT time counts in the INIT share: cold starts with an init
    /// duration in an era that bills INIT.
    pub init_rows: u64,
    /// Sum over those of the init duration, capped at the billed duration, in ns.
    pub init_ns: u128,
    /// Largest maximum memory used, in MB.
    pub max_memory_used_mb: u32,
}

/// The fields that tell entries apart: function, day, group, status, cold start and
/// whether INIT is billed.
type EntryKey = (u32, Option<i64>, u32, Status, bool, bool);

impl Entry {
    /// Returns the fields that tell entries apart.
    fn key(&self) -> EntryKey {
        (
            self.function,
            self.day,
            self.group,
            self.status,
            self.cold_start,
            self.init_billed,
        )
    }

    fn add(&mut self, other: &Self) {
        self.invocations += other.invocations;
        self.init_rows += other.init_rows;
        self.init_ns += other.init_ns;
        self.max_memory_used_mb = self.max_memory_used_mb.max(other.max_memory_used_mb);
    }
}

/// Invocation counts per function, day, usage group and outcome, per function, hour and
/// usage group, and calls per kind.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    /// Function names, in order.
    pub functions: Vec<String>,
    /// Usage groups, in order.
    pub groups: Vec<GroupKey>,
    /// Entries in order of their key, one per key.
    pub entries: Vec<Entry>,
    /// Hourly counts in order of function, hour and group, one per key. Kept rollups load
    /// them only for the days a report needs.
    pub hours: Vec<HourEntry>,
    /// Distinct downstream calls, in order, each with the spans that record it.
    pub calls: Vec<(CallKey, u64)>,
}

impl Usage {
    /// Counts the invocations and calls of `tables`.
    #[must_use]
    pub fn of(tables: &Tables) -> Self {
        Self::of_tables(tables).0
    }

    /// Counts the invocations and calls of `tables`. Returns the counts with the index of
    /// each usage group ([`Tables::usages`]) and call ([`Tables::calls`]) of the tables.
    #[must_use]
    pub fn of_tables(tables: &Tables) -> (Self, Renumbering) {
        let mut entries: foldhash::HashMap<EntryKey, Entry> = foldhash::HashMap::default();
        let mut hours: foldhash::HashMap<(u32, i64, u32), u64> = foldhash::HashMap::default();
        let deferred = tables.deferred_rows();
        for (index, row) in tables.invocations.iter().enumerate() {
            if deferred.contains(&(index as u32)) {
                continue;
            }
            let hour = row.start_ns.map(|start| start.div_euclid(NANOS_PER_HOUR));
            if let Some(hour) = hour {
                *hours.entry((row.function, hour, row.cost)).or_default() += 1;
            }
            let day = hour.map(|hour| hour.div_euclid(HOURS_PER_DAY));
            let key = (
                row.function,
                day,
                row.cost,
                row.status,
                row.cold_start,
                row.init_billed,
            );
            let entry = entries.entry(key).or_insert(Entry {
                function: row.function,
                day,
                group: row.cost,
                status: row.status,
                cold_start: row.cold_start,
                init_billed: row.init_billed,
                invocations: 0,
                init_rows: 0,
                init_ns: 0,
                max_memory_used_mb: 0,
            });
            entry.invocations += 1;
            entry.max_memory_used_mb = entry.max_memory_used_mb.max(row.max_memory_used_mb);
            let (init_rows, init_ns) =
                billed_init(row.cold_start, row.init_billed, row.init_ms, row.billed_ms);
            entry.init_rows += init_rows;
            entry.init_ns += init_ns;
        }

        let calls = tables
            .calls
            .iter()
            .zip(&tables.call_spans)
            .map(|(cost, &spans)| (CallKey::of(&cost.call), spans))
            .collect();

        let functions = (0..tables.functions.len() as u32)
            .map(|id| tables.function(id).to_owned())
            .collect();
        let groups = tables.usages.iter().map(GroupKey::of).collect();
        let mut usage = Self {
            functions,
            groups,
            entries: entries.into_values().collect(),
            hours: hours
                .into_iter()
                .map(|((function, hour, group), invocations)| HourEntry {
                    function,
                    hour,
                    group,
                    invocations,
                })
                .collect(),
            calls,
        };
        let renumbering = usage.normalize();
        (usage, renumbering)
    }

    /// Adds the counts of `other`. Returns the new index of each usage group and call of
    /// `self`, then of `other`.
    pub fn merge(&mut self, other: Self) -> (Renumbering, Renumbering) {
        let mine = std::mem::take(self);
        let (merged, mut renumberings) = Self::merge_all(vec![mine, other]);
        *self = merged;
        let theirs = renumberings.pop().unwrap_or_default();
        let mine = renumberings.pop().unwrap_or_default();
        (mine, theirs)
    }

    /// Merges the counts of several sets of rows. Returns the merged counts with the new
    /// index of each usage group and call of each set.
    #[must_use]
    pub fn merge_all(all: Vec<Self>) -> (Self, Vec<Renumbering>) {
        let mut merged = Self::default();
        let mut function_ids: foldhash::HashMap<String, u32> = foldhash::HashMap::default();
        let mut group_ids: foldhash::HashMap<GroupKey, u32> = foldhash::HashMap::default();
        let mut call_ids: foldhash::HashMap<CallKey, u32> = foldhash::HashMap::default();
        let mut appended = Vec::with_capacity(all.len());
        for usage in all {
            let functions: Vec<u32> = usage
                .functions
                .into_iter()
                .map(|name| id_of(&mut function_ids, &mut merged.functions, name))
                .collect();
            let groups: Vec<u32> = usage
                .groups
                .into_iter()
                .map(|key| id_of(&mut group_ids, &mut merged.groups, key))
                .collect();
            merged
                .entries
                .extend(usage.entries.into_iter().map(|entry| Entry {
                    function: functions[entry.function as usize],
                    group: groups[entry.group as usize],
                    ..entry
                }));
            merged
                .hours
                .extend(usage.hours.into_iter().map(|entry| HourEntry {
                    function: functions[entry.function as usize],
                    group: groups[entry.group as usize],
                    ..entry
                }));
            let mut calls = Vec::with_capacity(usage.calls.len());
            for (key, spans) in usage.calls {
                let id = *call_ids.entry(key.clone()).or_insert_with(|| {
                    merged.calls.push((key, 0));
                    (merged.calls.len() - 1) as u32
                });
                merged.calls[id as usize].1 += spans;
                calls.push(id);
            }
            appended.push(Renumbering { groups, calls });
        }
        let combined = merged.normalize();
        let renumberings = appended
            .into_iter()
            .map(|ids| Renumbering {
                groups: ids
                    .groups
                    .iter()
                    .map(|&id| combined.groups[id as usize])
                    .collect(),
                calls: ids
                    .calls
                    .iter()
                    .map(|&id| combined.calls[id as usize])
                    .collect(),
            })
            .collect();
        (merged, renumberings)
    }

    /// Puts functions, groups and calls in order, drops functions and groups without
    /// entries, and sums entries with equal keys. Returns the new index of each old group and
    /// call.
    pub(crate) fn normalize(&mut self) -> Renumbering {
        let mut used_functions = vec![false; self.functions.len()];
        let mut used_groups = vec![false; self.groups.len()];
        for entry in &self.entries {
            used_functions[entry.function as usize] = true;
            used_groups[entry.group as usize] = true;
        }
        let function_ids = renumber(&mut self.functions, &used_functions);
        let group_ids = renumber(&mut self.groups, &used_groups);
        for entry in &mut self.entries {
            entry.function = function_ids[entry.function as usize];
            entry.group = group_ids[entry.group as usize];
        }
        for entry in &mut self.hours {
            entry.function = function_ids[entry.function as usize];
            entry.group = group_ids[entry.group as usize];
        }
        self.hours
            .sort_unstable_by_key(|entry| (entry.function, entry.hour, entry.group));
        self.hours.dedup_by(|next, kept| {
            let equal =
                (next.function, next.hour, next.group) == (kept.function, kept.hour, kept.group);
            if equal {
                kept.invocations += next.invocations;
            }
            equal
        });
        self.entries.sort_unstable_by_key(Entry::key);
        self.entries.dedup_by(|next, kept| {
            let equal = next.key() == kept.key();
            if equal {
                kept.add(next);
            }
            equal
        });
        let all_calls = vec![true; self.calls.len()];
        let call_ids = renumber(&mut self.calls, &all_calls);
        Renumbering {
            groups: group_ids,
            calls: call_ids,
        }
    }

    /// Prices the usage groups and calls with `book`.
    #[must_use]
    pub fn price(&self, book: &PriceBook, options: LambdaOptions) -> PricedUsage<'_> {
        let counts = self.group_counts(|_| true);
        let costs = price_invocations(&self.lambda_usages(&counts), book, options).invocations;
        let calls = self
            .calls
            .iter()
            .map(|(key, _)| price_call(&key.call(), book))
            .collect();
        PricedUsage {
            usage: self,
            costs,
            calls,
        }
    }

    /// Returns the usage of each group, with the invocations `counts` gives it.
    #[must_use]
    pub fn lambda_usages(&self, counts: &Counts) -> Vec<LambdaUsage> {
        self.groups
            .iter()
            .zip(&counts.0)
            .map(|(key, &count)| key.usage(count))
            .collect()
    }

    /// Counts the invocations of the entries that `keep` selects, per usage group.
    #[must_use]
    pub fn group_counts(&self, keep: impl Fn(&Entry) -> bool) -> Counts {
        let mut counts = Counts(vec![0; self.groups.len()]);
        for entry in self.entries.iter().filter(|entry| keep(entry)) {
            counts.0[entry.group as usize] += entry.invocations;
        }
        counts
    }

    /// Counts one invocation without a start of the function `function`. Functions and groups
    /// are put in order again by [`Usage::normalize`].
    pub(crate) fn add_timeless(&mut self, function: &str, record: &Timeless) {
        let function = self
            .functions
            .iter()
            .position(|name| name == function)
            .unwrap_or_else(|| {
                self.functions.push(function.to_owned());
                self.functions.len() - 1
            });
        let group = self
            .groups
            .iter()
            .position(|key| *key == record.group)
            .unwrap_or_else(|| {
                self.groups.push(record.group.clone());
                self.groups.len() - 1
            });
        let init_duration = record.init_bits.map(f64::from_bits);
        let (init_rows, init_ns) = billed_init(
            record.cold_start,
            record.init_billed,
            init_duration,
            record.group.billed_ms,
        );
        self.entries.push(Entry {
            function: function as u32,
            day: None,
            group: group as u32,
            status: record.status,
            cold_start: record.cold_start,
            init_billed: record.init_billed,
            invocations: 1,
            init_rows,
            init_ns,
            max_memory_used_mb: record.max_memory_used_mb,
        });
    }

    /// Returns the index of a usage group.
    #[must_use]
    pub fn group_index(&self, key: &GroupKey) -> Option<u32> {
        self.groups.binary_search(key).ok().map(|at| at as u32)
    }

    /// Returns the hourly counts of each function, by function index.
    pub fn hours_by_function(&self) -> impl Iterator<Item = (&str, &[HourEntry])> {
        self.hours
            .chunk_by(|a, b| a.function == b.function)
            .map(|hours| (self.functions[hours[0].function as usize].as_str(), hours))
    }

    /// Returns the entries of each function, by function index.
    pub fn by_function(&self) -> impl Iterator<Item = (&str, &[Entry])> {
        self.entries
            .chunk_by(|a, b| a.function == b.function)
            .map(|entries| {
                (
                    self.functions[entries[0].function as usize].as_str(),
                    entries,
                )
            })
    }
}

/// Returns whether an invocation's INIT time counts in the INIT share (1 or 0), and that time
/// in ns, capped at the billed duration.
fn billed_init(
    cold_start: bool,
    init_billed: bool,
    init_ms: Option<f64>,
    billed_ms: u64,
) -> (u64, u128) {
    match (cold_start, init_billed, init_ms) {
        (true, true, Some(init_ms)) => {
            let cap = billed_ms.max(1).saturating_mul(1_000_000);
            let nanos = (init_ms * NANOS_PER_MS).round().max(0.0) as u64;
            (1, u128::from(nanos.min(cap)))
        }
        _ => (0, 0),
    }
}

/// Returns the index of `value` in `values`, which `ids` indexes, adding it at the end when
/// it is missing.
pub(crate) fn id_of<T: Clone + Eq + std::hash::Hash>(
    ids: &mut foldhash::HashMap<T, u32>,
    values: &mut Vec<T>,
    value: T,
) -> u32 {
    if let Some(&id) = ids.get(&value) {
        return id;
    }
    values.push(value.clone());
    let id = (values.len() - 1) as u32;
    ids.insert(value, id);
    id
}

/// Sorts `values`, drops those not `used`, and returns the new index of each old one.
fn renumber<T: Ord>(values: &mut Vec<T>, used: &[bool]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..values.len()).filter(|&at| used[at]).collect();
    order.sort_unstable_by(|&a, &b| values[a].cmp(&values[b]));
    let mut new_ids = vec![u32::MAX; values.len()];
    for (new, &old) in order.iter().enumerate() {
        new_ids[old] = new as u32;
    }
    let mut old_values: Vec<Option<T>> = std::mem::take(values).into_iter().map(Some).collect();
    *values = order
        .iter()
        .map(|&old| old_values[old].take().expect("each index is taken once"))
        .collect();
    new_ids
}

/// Invocations per usage group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts(Vec<u64>);

impl Counts {
    /// Adds the invocations of `entry`.
    pub fn add(&mut self, entry: &Entry) {
        self.add_group(entry.group, entry.invocations);
    }

    /// Adds `count` invocations of the usage group `group`.
    pub fn add_group(&mut self, group: u32, count: u64) {
        let group = group as usize;
        if group >= self.0.len() {
            self.0.resize(group + 1, 0);
        }
        self.0[group] += count;
    }

    /// Returns the number of invocations.
    #[must_use]
    pub fn invocations(&self) -> u64 {
        self.0.iter().sum()
    }
}

/// Usage with the cost of one invocation of each group and the cost of each call kind.
#[derive(Debug, Clone)]
pub struct PricedUsage<'a> {
    /// The counts.
    pub usage: &'a Usage,
    /// Cost of one invocation of each usage group.
    pub costs: Vec<InvocationCost>,
    /// Cost of each call kind of [`Usage::calls`].
    pub calls: Vec<DownstreamCost>,
}

impl PricedUsage<'_> {
    /// Sums `amount` over the invocations of `counts`, in group order.
    #[must_use]
    pub fn sum(&self, counts: &Counts, amount: impl Fn(&InvocationCost) -> Decimal) -> Decimal {
        let mut sum = Decimal::ZERO;
        for (cost, &count) in self.costs.iter().zip(&counts.0) {
            if count > 0 {
                sum += times(amount(cost), count);
            }
        }
        sum
    }

    /// Sums the billed duration of the invocations of `counts`, in ms.
    #[must_use]
    pub fn sum_billed_ms(&self, counts: &Counts) -> u64 {
        self.usage
            .groups
            .iter()
            .zip(&counts.0)
            .map(|(group, &count)| group.billed_ms * count)
            .sum()
    }

    /// Returns whether the invocations of `counts` cost what was billed or an estimate.
    #[must_use]
    pub fn basis(&self, counts: &Counts) -> Basis {
        self.costs
            .iter()
            .zip(&counts.0)
            .filter(|(_, count)| **count > 0)
            .fold(Basis::Billed, |basis, (cost, _)| basis.combine(cost.basis))
    }

    /// Sums every invocation and downstream call.
    #[must_use]
    pub fn total(&self) -> GroupCost {
        let mut total = GroupCost::default();
        for cost in &self.costs {
            total.add_invocation(cost);
        }
        for (cost, (_, spans)) in self.calls.iter().zip(&self.usage.calls) {
            total.add_downstream_times(cost, *spans);
        }
        total
    }

    /// Returns the billed INIT cost of an entry: the compute cost of its INIT time.
    #[must_use]
    pub fn init_cost(&self, entry: &Entry) -> Decimal {
        if entry.init_rows == 0 {
            return Decimal::ZERO;
        }
        let cost = &self.costs[entry.group as usize];
        let billed_ns = self.usage.groups[entry.group as usize].billed_ms.max(1) * 1_000_000;
        let init_ns =
            Decimal::from_i128_with_scale(i128::try_from(entry.init_ns).unwrap_or(i128::MAX), 0);
        cost.compute * init_ns / Decimal::from(billed_ns)
    }
}
