//! Cost spirals and waste: spend that grows without traffic, or that buys nothing.
//!
//! Each check takes invocation records with their priced costs (in the same order) and
//! returns findings that state their evidence:
//!
//! - [`recursive_loops`]: a trace that enters the same function through a queue again and
//!   again, as when a consumer re-sends what it consumed;
//! - [`timeouts`]: invocations that ran into their timeout and were billed for all of it;
//! - [`oversized_memory`]: functions whose memory size is far above the most they used,
//!   with the saving of a smaller size;
//! - [`init_share`]: the share of spend that is billed INIT time of cold starts;
//! - [`cost_per_invocation_trend`]: cost per invocation rising while traffic does not;
//! - [`cost_per_unit_trend`]: cost per business unit (an order created) rising faster than
//!   the units counted;
//! - [`retry_storms`]: functions that run again in the same trace after failing, and what
//!   those reruns cost;
//! - [`budget`]: a monthly projection above a budget.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive as _;
use spanbill_collector::Status;

use crate::shapes::TraceFigures;
use crate::traces::UnitCount;
use crate::usage::{Counts, Entry, PricedUsage};

/// The kind of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FindingKind {
    /// A function re-entered within one trace.
    RecursiveLoop,
    /// Invocations billed up to their timeout.
    Timeouts,
    /// Memory size far above the memory used.
    OversizedMemory,
    /// A large share of spend in billed INIT time.
    InitShare,
    /// Cost per invocation rising faster than traffic.
    CostPerInvocationRising,
    /// Cost per business unit rising faster than the units counted.
    CostPerUnitRising,
    /// Many invocations that rerun a failed invocation of the same trace.
    RetryStorm,
    /// Projected monthly spend above the budget.
    OverBudget,
}

impl FindingKind {
    /// Returns the kind's name in reports and JSON.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RecursiveLoop => "recursive_loop",
            Self::Timeouts => "timeouts",
            Self::OversizedMemory => "oversized_memory",
            Self::InitShare => "init_share",
            Self::CostPerInvocationRising => "cost_per_invocation_rising",
            Self::CostPerUnitRising => "cost_per_unit_rising",
            Self::RetryStorm => "retry_storm",
            Self::OverBudget => "over_budget",
        }
    }
}

/// One finding with its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The kind.
    pub kind: FindingKind,
    /// The function concerned, when the finding is about one.
    pub function: Option<String>,
    /// One sentence for people.
    pub summary: String,
    /// The numbers behind it, as name and value.
    pub evidence: Vec<(String, String)>,
    /// Spend concerned, in USD, when it has one.
    pub cost_usd: Option<Decimal>,
}

/// Thresholds of the checks.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SpiralSettings {
    /// Queue-triggered passes of one trace through one function that make a loop.
    pub loop_passes: usize,
    /// Ratio of memory used to memory size below which memory is oversized.
    pub memory_use_ratio: f64,
    /// Headroom kept above the most memory used when recommending a size.
    pub memory_headroom: f64,
    /// Share of spend in billed INIT time from which it is reported.
    pub init_share: f64,
    /// Rise of cost per invocation between the halves of a period that counts as rising.
    pub cost_rise: f64,
    /// Largest change of traffic between the halves that counts as "traffic did not rise".
    pub traffic_change: f64,
    /// Minimum number of invocations of a function for a memory or trend finding, and of
    /// business units in each half for a cost-per-unit finding.
    pub min_invocations: usize,
    /// Share of a function's invocations that rerun a failed one, from which it is a retry
    /// storm.
    pub retry_share: f64,
}

impl Default for SpiralSettings {
    fn default() -> Self {
        Self {
            loop_passes: 4,
            memory_use_ratio: 0.5,
            memory_headroom: 1.25,
            init_share: 0.10,
            cost_rise: 0.20,
            traffic_change: 0.10,
            min_invocations: 20,
            retry_share: 0.05,
        }
    }
}

const NANOS_PER_HOUR: i64 = 3_600_000_000_000;
const HOURS_PER_DAY: i64 = 24;

/// Returns whether the hour `hour` (hours since the Unix epoch) is in the second half of
/// `period` (first and last start, in ns): whether it starts after the period's middle.
/// Counts are kept per hour, so the halves split at an hour boundary.
fn in_second_half(hour: i64, period: (i64, i64)) -> bool {
    let (first, last) = (i128::from(period.0), i128::from(period.1));
    let middle = first + (last - first) / 2;
    i128::from(hour) * i128::from(NANOS_PER_HOUR) > middle
}

/// Calls `add` with the function, half of `period` (0 or 1), usage group and invocations of
/// each count of `priced`. Whole days go by their daily counts, and the day in which the
/// halves meet by its hourly counts.
fn for_each_half<'a>(
    priced: &PricedUsage<'a>,
    period: (i64, i64),
    mut add: impl FnMut(&'a str, usize, u32, u64),
) {
    // Half of each day: 0 or 1 when all its hours are in one half, else `None`.
    let day_half = |day: i64| {
        let first = in_second_half(day * HOURS_PER_DAY, period);
        let last = in_second_half(day * HOURS_PER_DAY + HOURS_PER_DAY - 1, period);
        (first == last).then_some(usize::from(first))
    };
    for (function, entries) in priced.usage.by_function() {
        for entry in entries {
            if let Some(half) = entry.day.and_then(day_half) {
                add(function, half, entry.group, entry.invocations);
            }
        }
    }
    for (function, hours) in priced.usage.hours_by_function() {
        for entry in hours {
            if day_half(entry.hour.div_euclid(HOURS_PER_DAY)).is_none() {
                let half = usize::from(in_second_half(entry.hour, period));
                add(function, half, entry.group, entry.invocations);
            }
        }
    }
}

/// Per function, in name order: a value from `fold` over the function's usage entries.
fn per_function<'a, T: Default>(
    priced: &PricedUsage<'a>,
    mut fold: impl FnMut(&mut T, &Entry),
) -> Vec<(&'a str, T)> {
    priced
        .usage
        .by_function()
        .map(|(function, entries)| {
            let mut value = T::default();
            for entry in entries {
                fold(&mut value, entry);
            }
            (function, value)
        })
        .collect()
}

fn usd(amount: Decimal) -> String {
    format!("${}", amount.round_dp(10).normalize())
}

/// Finds traces that pass through one function, triggered by a queue, at least
/// `loop_passes` times. One finding per function, naming its longest loop. `names` gives the
/// function of each index of `figures`.
#[must_use]
pub fn recursive_loops(
    figures: &TraceFigures,
    names: &[String],
    settings: &SpiralSettings,
) -> Vec<Finding> {
    let threshold = settings.loop_passes as u64;
    figures
        .loops
        .iter()
        .filter_map(|(&function, stats)| {
            let traces: u64 = stats.passes.range(threshold..).map(|(_, traces)| traces).sum();
            let (longest, trace) = stats.longest.as_ref().filter(|_| traces > 0)?;
            let function = &names[function as usize];
            Some(Finding {
                kind: FindingKind::RecursiveLoop,
                function: Some(function.clone()),
                summary: format!(
                    "{function} re-enters itself through a queue: trace {trace} passes through it {longest} times"
                ),
                evidence: vec![
                    ("looping_traces".to_owned(), traces.to_string()),
                    ("longest_trace".to_owned(), trace.clone()),
                    ("passes_in_longest".to_owned(), longest.to_string()),
                    ("threshold_passes".to_owned(), settings.loop_passes.to_string()),
                ],
                cost_usd: None,
            })
        })
        .collect()
}

/// Reports, per function, the invocations that ran into their timeout.
#[must_use]
pub fn timeouts(priced: &PricedUsage<'_>) -> Vec<Finding> {
    per_function(priced, |entry: &mut (Counts, Counts), usage| {
        entry.1.add(usage);
        if usage.status == Status::Timeout {
            entry.0.add(usage);
        }
    })
    .into_iter()
    .filter(|(_, (timeouts, _))| timeouts.invocations() > 0)
    .map(|(function, (timeouts, all))| {
        let count = timeouts.invocations();
        let billed_ms = priced.sum_billed_ms(&timeouts);
        let spent = priced.sum(&timeouts, |cost| cost.total);
        let total = priced.sum(&all, |cost| cost.total);
        let share = if total.is_zero() { Decimal::ZERO } else { spent / total };
        Finding {
            kind: FindingKind::Timeouts,
            summary: format!(
                "{function}: {count} invocations timed out and were billed {billed_ms} ms in all ({}, {:.1}% of its spend)",
                usd(spent),
                share.to_f64().unwrap_or_default() * 100.0
            ),
            function: Some(function.to_owned()),
            evidence: vec![
                ("timeouts".to_owned(), count.to_string()),
                ("billed_ms".to_owned(), billed_ms.to_string()),
                ("share_of_function_spend".to_owned(), format!("{:.4}", share.to_f64().unwrap_or_default())),
            ],
            cost_usd: Some(spent),
        }
    })
    .collect()
}

/// Finds functions whose most memory used stays below `memory_use_ratio` of their memory
/// size, and prices the same invocations at a recommended size.
///
/// The saving assumes the same billed duration at the smaller size. Lambda gives CPU in
/// proportion to memory, so a CPU-bound function may run longer there, and the finding states that assumption.
#[must_use]
pub fn oversized_memory(priced: &PricedUsage<'_>, settings: &SpiralSettings) -> Vec<Finding> {
    per_function(
        priced,
        |entry: &mut (u32, u32, usize, Counts), usage| {
            entry.0 = entry.0.max(priced.usage.groups[usage.group as usize].memory_mb);
            entry.1 = entry.1.max(usage.max_memory_used_mb);
            entry.2 += usage.invocations as usize;
            entry.3.add(usage);
        },
    )
    .into_iter()
        .filter(|(_, (size, used, count, _))| {
            *count >= settings.min_invocations && f64::from(*used) < settings.memory_use_ratio * f64::from(*size)
        })
        .filter_map(|(function, (size, used, count, groups))| {
            let compute = priced.sum(&groups, |cost| cost.compute);
            let recommended = recommended_memory(used, settings.memory_headroom);
            if recommended >= size {
                return None;
            }
            let saving = compute * (Decimal::ONE - Decimal::from(recommended) / Decimal::from(size));
            Some(Finding {
                kind: FindingKind::OversizedMemory,
                summary: format!(
                    "{function}: {size} MB configured, at most {used} MB used; {recommended} MB would save {} of {} compute (same duration assumed; less memory also means less CPU)",
                    usd(saving),
                    usd(compute)
                ),
                function: Some(function.to_owned()),
                evidence: vec![
                    ("memory_mb".to_owned(), size.to_string()),
                    ("max_memory_used_mb".to_owned(), used.to_string()),
                    ("recommended_mb".to_owned(), recommended.to_string()),
                    ("invocations".to_owned(), count.to_string()),
                ],
                cost_usd: Some(saving),
            })
        })
        .collect()
}

/// Recommends the memory for a function that used at most `used_mb`: the use plus headroom,
/// rounded up to 64 MB, at least Lambda's minimum of 128 MB.
#[must_use]
pub fn recommended_memory(used_mb: u32, headroom: f64) -> u32 {
    let wanted = (f64::from(used_mb) * headroom).ceil() as u32;
    wanted.div_ceil(64).saturating_mul(64).max(128)
}

/// Reports, per function, the share of spend that is billed INIT time, when at least
/// `init_share`. Only invocations whose billing era bills INIT count.
#[must_use]
pub fn init_share(priced: &PricedUsage<'_>, settings: &SpiralSettings) -> Vec<Finding> {
    per_function(priced, |entry: &mut (Decimal, Counts, u64), usage| {
        entry.1.add(usage);
        entry.0 += priced.init_cost(usage);
        entry.2 += usage.init_rows;
    })
    .into_iter()
    .map(|(function, (init, groups, cold))| {
        (function, (init, priced.sum(&groups, |cost| cost.compute), cold))
    })
        .filter(|(_, (init, total, _))| {
            !total.is_zero() && (init / total).to_f64().unwrap_or_default() >= settings.init_share
        })
        .map(|(function, (init, total, cold))| {
            let share = (init / total).to_f64().unwrap_or_default();
            Finding {
                kind: FindingKind::InitShare,
                summary: format!(
                    "{function}: {:.1}% of compute spend ({}) is billed INIT time of {cold} cold starts",
                    share * 100.0,
                    usd(init)
                ),
                function: Some(function.to_owned()),
                evidence: vec![
                    ("init_share".to_owned(), format!("{share:.4}")),
                    ("cold_starts".to_owned(), cold.to_string()),
                    ("threshold".to_owned(), format!("{:.2}", settings.init_share)),
                ],
                cost_usd: Some(init),
            }
        })
        .collect()
}

/// Compares, per function, the first and second half of the period the invocations cover.
/// A function is reported when its cost per invocation rose by at least `cost_rise`, and
/// its number of invocations changed by at most `traffic_change` or rose less than the cost.
#[must_use]
pub fn cost_per_invocation_trend(
    priced: &PricedUsage<'_>,
    period: Option<(i64, i64)>,
    settings: &SpiralSettings,
) -> Vec<Finding> {
    let Some(period) = period else {
        return Vec::new();
    };

    // Per function: (count, cost) in the first half and in the second.
    let mut functions: BTreeMap<&str, [(usize, Counts); 2]> = BTreeMap::new();
    for_each_half(priced, period, |function, half, group, invocations| {
        let entry = &mut functions.entry(function).or_default()[half];
        entry.0 += invocations as usize;
        entry.1.add_group(group, invocations);
    });
    functions
    .into_iter()
    .filter(|(_, halves)| halves.iter().any(|(count, _)| *count > 0))
        .filter_map(|(function, [(before_count, before), (after_count, after)])| {
            if before_count < settings.min_invocations || after_count < settings.min_invocations {
                return None;
            }
            let before_cost = priced.sum(&before, |cost| cost.total);
            let after_cost = priced.sum(&after, |cost| cost.total);
            let per_before = before_cost / Decimal::from(before_count);
            let per_after = after_cost / Decimal::from(after_count);
            let cost_rise = ((per_after - per_before) / per_before).to_f64()?;
            let traffic = after_count as f64 / before_count as f64 - 1.0;
            let flat_traffic = traffic.abs() <= settings.traffic_change;
            if cost_rise < settings.cost_rise || !(flat_traffic || traffic < cost_rise) {
                return None;
            }
            Some(Finding {
                kind: FindingKind::CostPerInvocationRising,
                summary: format!(
                    "{function}: cost per invocation rose {:.0}% ({} to {}) while invocations changed {:+.0}%",
                    cost_rise * 100.0,
                    usd(per_before),
                    usd(per_after),
                    traffic * 100.0
                ),
                function: Some(function.to_owned()),
                evidence: vec![
                    ("cost_per_invocation_before".to_owned(), usd(per_before)),
                    ("cost_per_invocation_after".to_owned(), usd(per_after)),
                    ("invocations_before".to_owned(), before_count.to_string()),
                    ("invocations_after".to_owned(), after_count.to_string()),
                    ("threshold_rise".to_owned(), format!("{:.2}", settings.cost_rise)),
                ],
                cost_usd: Some(after_cost),
            })
        })
        .collect()
}

/// Compares Lambda cost per business unit between the first and second half of the period
/// the invocations cover, counting the units of the KPI named `kpi`. A finding is made when
/// the cost per unit rose by at least `cost_rise` while the units changed by at most
/// `traffic_change` or rose less than the cost.
#[must_use]
pub fn cost_per_unit_trend(
    kpi: &str,
    priced: &PricedUsage<'_>,
    period: Option<(i64, i64)>,
    units: &[UnitCount],
    settings: &SpiralSettings,
) -> Option<Finding> {
    let period = period?;

    let mut halves = [Counts::default(), Counts::default()];
    for_each_half(priced, period, |_, half, group, invocations| {
        halves[half].add_group(group, invocations);
    });
    let spend = halves.map(|half| priced.sum(&half, |cost| cost.total));
    let mut counted = [0.0_f64; 2];
    for count in units.iter().filter(|count| count.name == kpi) {
        if count.time_ns < period.0 || count.time_ns > period.1 {
            continue;
        }
        let hour = count.time_ns.div_euclid(NANOS_PER_HOUR);
        counted[usize::from(in_second_half(hour, period))] += count.units;
    }
    let minimum = settings.min_invocations as f64;
    if counted[0] < minimum || counted[1] < minimum {
        return None;
    }
    let per_before = spend[0] / Decimal::try_from(counted[0]).ok()?;
    let per_after = spend[1] / Decimal::try_from(counted[1]).ok()?;
    if per_before.is_zero() {
        return None;
    }
    let cost_rise = ((per_after - per_before) / per_before).to_f64()?;
    let unit_change = counted[1] / counted[0] - 1.0;
    let flat_units = unit_change.abs() <= settings.traffic_change;
    if cost_rise < settings.cost_rise || !(flat_units || unit_change < cost_rise) {
        return None;
    }
    Some(Finding {
        kind: FindingKind::CostPerUnitRising,
        function: None,
        summary: format!(
            "cost per {kpi} rose {:.0}% ({} to {}) while {kpi} changed {:+.0}%",
            cost_rise * 100.0,
            usd(per_before),
            usd(per_after),
            unit_change * 100.0
        ),
        evidence: vec![
            ("kpi".to_owned(), kpi.to_owned()),
            ("cost_per_unit_before".to_owned(), usd(per_before)),
            ("cost_per_unit_after".to_owned(), usd(per_after)),
            ("units_before".to_owned(), format!("{}", counted[0])),
            ("units_after".to_owned(), format!("{}", counted[1])),
            (
                "threshold_rise".to_owned(),
                format!("{:.2}", settings.cost_rise),
            ),
        ],
        cost_usd: Some(spend[1]),
    })
}

/// Finds functions that run again within a trace after an invocation of theirs failed, as
/// when a queue redelivers a message whose handler raised an error. Every invocation span
/// of a function that follows a failed one in the same trace is a rerun. A function is
/// reported when reruns are at least `retry_share` of its invocation spans and it has at
/// least `min_invocations` of them. A rerun costs what its invocation, joined by request
/// id, cost.
#[must_use]
pub fn retry_storms(
    figures: &TraceFigures,
    names: &[String],
    priced: &PricedUsage<'_>,
    settings: &SpiralSettings,
) -> Vec<Finding> {
    figures
        .retries
        .iter()
        .filter_map(|(&function, stats)| {
            let total = figures.runs.get(&function).copied().unwrap_or_default() as usize;
            let reruns = stats.reruns as usize;
            let share = reruns as f64 / total.max(1) as f64;
            if reruns == 0 || total < settings.min_invocations || share < settings.retry_share {
                return None;
            }
            let (longest, trace) = stats.longest.as_ref()?;
            let mut groups = Counts::default();
            for (&group, &count) in &stats.groups {
                groups.add_group(group, count);
            }
            let cost = priced.sum(&groups, |cost| cost.total);
            let function = &names[function as usize];
            Some(Finding {
                kind: FindingKind::RetryStorm,
                function: Some(function.clone()),
                summary: format!(
                    "{function}: {reruns} of {total} invocations ({:.1}%) rerun a failed invocation of the same trace, costing {}; trace {trace} ran it {longest} times",
                    share * 100.0,
                    usd(cost)
                ),
                evidence: vec![
                    ("reruns".to_owned(), reruns.to_string()),
                    ("invocations".to_owned(), total.to_string()),
                    ("traces_with_reruns".to_owned(), stats.traces.to_string()),
                    ("longest_trace".to_owned(), trace.clone()),
                    ("runs_in_longest".to_owned(), longest.to_string()),
                    ("threshold_share".to_owned(), format!("{:.2}", settings.retry_share)),
                ],
                cost_usd: Some(cost),
            })
        })
        .collect()
}

/// Reports a projected monthly spend above `budget`.
#[must_use]
pub fn budget(projected: Decimal, budget: Decimal) -> Option<Finding> {
    (projected > budget).then(|| Finding {
        kind: FindingKind::OverBudget,
        function: None,
        summary: format!(
            "projected monthly spend {} is above the budget of {}",
            usd(projected),
            usd(budget)
        ),
        evidence: vec![
            ("projected_monthly_usd".to_owned(), usd(projected)),
            ("budget_usd".to_owned(), usd(budget)),
        ],
        cost_usd: Some(projected - budget),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shapes::TraceRollup;
    use crate::table::{Shared, SpanRow, Tables};
    use crate::usage::Renumbering;

    #[test]
    fn recommended_memory_rounds_up_with_headroom() {
        assert_eq!(recommended_memory(84, 1.25), 128);
        assert_eq!(recommended_memory(300, 1.25), 384);
        assert_eq!(recommended_memory(1000, 1.25), 1280);
    }

    /// Adds `passes` invocation spans of `function` in `trace`.
    fn hops(tables: &mut Tables, trace: &str, function: &str, from_queue: bool, passes: usize) {
        let trace = tables.traces.intern(trace);
        let function = tables.functions.intern(function);
        let name = tables.span_names.intern("handler");
        for pass in 0..passes {
            tables.spans.push(SpanRow {
                trace,
                start_ns: pass as i64,
                duration_ms: 1.0,
                name,
                function: Some(function),
                version: None,
                invocation: None,
                call: None,
                is_invocation: true,
                from_queue,
                error: false,
            });
        }
    }

    #[test]
    fn loop_names_the_longest_trace() {
        let mut tables = Tables::default();
        hops(&mut tables, "a", "handlePayment", true, 16);
        hops(&mut tables, "b", "handlePayment", true, 5);
        hops(&mut tables, "c", "handlePayment", true, 2);
        hops(&mut tables, "d", "createOrder", false, 9);
        // A pass from outside a queue does not count towards a loop.
        hops(&mut tables, "c", "handlePayment", false, 3);
        let rollup = TraceRollup::of(&tables, &Renumbering::default(), &Shared::default(), 5);
        let figures = rollup.figures(&rollup.resolve());
        let findings = recursive_loops(&figures, &rollup.functions, &SpiralSettings::default());

        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].function.as_deref(), Some("handlePayment"));
        assert!(
            findings[0]
                .summary
                .contains("trace a passes through it 16 times"),
            "{}",
            findings[0].summary
        );
        assert!(
            findings[0]
                .evidence
                .contains(&("looping_traces".to_owned(), "2".to_owned()))
        );
    }

    #[test]
    fn budget_only_when_above() {
        assert!(budget(Decimal::from(99), Decimal::from(100)).is_none());
        let finding = budget(Decimal::from(130), Decimal::from(100)).unwrap();
        assert_eq!(finding.cost_usd, Some(Decimal::from(30)));
        assert_eq!(
            finding.summary,
            "projected monthly spend $130 is above the budget of $100"
        );
    }
}
