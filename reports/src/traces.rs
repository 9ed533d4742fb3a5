//! Spans and KPI counts as the report uses them, and the join of spans with invocations.
//!
//! An invocation's span carries `faas.invocation_id`, which is the Lambda request id of its
//! REPORT line, so the join gives each invocation its W3C trace id even when the platform
//! record has no X-Ray header. The spans of a trace that call a priced service (an SQS send,
//! an API Gateway request) become [`DownstreamCall`]s of that trace.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::cost::Basis;
use crate::downstream::DownstreamCall;
use crate::table::{Tables, TraceId};

/// One span, with the fields the report reads.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSpan {
    /// W3C trace id, 32 hex digits.
    pub trace_id: String,
    /// Span name.
    pub name: String,
    /// Function that emitted the span: `faas.name`, else `service.name`.
    pub function: Option<String>,
    /// Version of that function: `faas.version`, else `service.version`.
    pub version: Option<String>,
    /// `faas.invocation_id`, set on the span of a whole invocation.
    pub invocation_id: Option<String>,
    /// `faas.trigger` of an invocation span.
    pub trigger: Option<String>,
    /// Start, in nanoseconds since the Unix epoch.
    pub start_ns: i64,
    /// Duration in milliseconds.
    pub duration_ms: f64,
    /// Whether the span's status is error.
    pub error: bool,
    /// The priced call the span records, when it records one.
    pub downstream: Option<DownstreamCall>,
}

impl TraceSpan {
    /// Returns whether the span covers a whole invocation.
    #[must_use]
    pub fn is_invocation(&self) -> bool {
        self.invocation_id.is_some()
    }
}

/// Units of a business KPI counted at one time, such as 3 `orders.created`.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitCount {
    /// KPI name.
    pub name: String,
    /// Time of the count, in nanoseconds since the Unix epoch.
    pub time_ns: i64,
    /// Units counted since the previous count of the same series.
    pub units: f64,
}

/// Cost of one trace: every invocation and priced call in it.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceCost {
    /// W3C trace id.
    pub trace_id: String,
    /// Invocations in the trace.
    pub invocations: u64,
    /// Invocations per function, by name.
    pub functions: BTreeMap<String, u64>,
    /// Priced downstream calls in the trace.
    pub downstream_calls: u64,
    /// Lambda charges.
    pub lambda_usd: Decimal,
    /// Downstream charges.
    pub downstream_usd: Decimal,
    /// Sum of both.
    pub cost_usd: Decimal,
    /// Billed only when every part is billed.
    pub basis: Basis,
}

/// Summary of trace costs over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceCosts {
    /// Traces with at least one invocation or priced call.
    pub traces: usize,
    /// Mean cost of a trace.
    pub mean_usd: Decimal,
    /// Median cost of a trace.
    pub median_usd: Decimal,
    /// 95th percentile of trace cost (nearest rank).
    pub p95_usd: Decimal,
    /// The most expensive traces, most expensive first.
    pub top: Vec<TraceCost>,
}

/// Sums invocations and calls per trace and keeps the `top` most expensive traces. Returns
/// `None` when nothing carries a trace id.
#[must_use]
pub fn trace_costs(tables: &Tables, top: usize) -> Option<TraceCosts> {
    // Integer sums give the same amounts as decimal sums without rescaling at each addition.
    // They are used unless an amount does not fit an integer of the common scale.
    if let Some(scale) = FixedScale::of(tables) {
        let summary = summarize(tables, top, |amount| scale.fixed(amount))?;
        if let Some(costs) = summary.finish(|fixed| scale.decimal(fixed)) {
            return Some(costs);
        }
    }
    summarize(tables, top, |amount| amount)?.finish(Some)
}

/// An amount that traces can be summed and ranked in.
trait TraceAmount: Copy + Default + Ord {
    /// Adds `other`.
    fn add(&mut self, other: Self);
}

impl TraceAmount for Decimal {
    fn add(&mut self, other: Self) {
        *self += other;
    }
}

/// The scale all amounts of a report are converted to for integer sums: the largest scale
/// among the invocation and call costs.
#[derive(Debug, Clone, Copy)]
struct FixedScale(u32);

impl FixedScale {
    /// Returns the common scale of the tables' amounts, or `None` when the sum of all
    /// invocations and calls could overflow an integer of that scale.
    fn of(tables: &Tables) -> Option<Self> {
        // The bound below needs each cost group's invocation count.
        if tables.costs.len() != tables.usages.len() {
            return None;
        }
        let amounts = tables
            .costs
            .iter()
            .map(|cost| cost.total)
            .chain(tables.calls.iter().map(|call| call.amount));
        let scale = Self(amounts.map(|amount| amount.scale()).max()?);
        // Every trace sum, and their total, is at most this bound in absolute value.
        let lambda = tables
            .costs
            .iter()
            .zip(&tables.usages)
            .map(|(cost, usage)| {
                scale
                    .units(cost.total.abs())?
                    .checked_mul(i128::from(usage.count))
            });
        let calls = tables
            .calls
            .iter()
            .zip(&tables.call_spans)
            .map(|(call, &spans)| {
                scale
                    .units(call.amount.abs())?
                    .checked_mul(i128::from(spans))
            });
        lambda
            .chain(calls)
            .try_fold(0_i128, |bound, units| bound.checked_add(units?))
            .map(|_| scale)
    }

    /// Returns `amount` in units of the common scale.
    fn units(self, amount: Decimal) -> Option<i128> {
        let factor = 10_i128.checked_pow(self.0.checked_sub(amount.scale())?)?;
        amount.mantissa().checked_mul(factor)
    }

    /// Returns `amount` as a fixed amount. [`FixedScale::of`] has checked that it fits.
    fn fixed(self, amount: Decimal) -> Fixed {
        Fixed {
            units: self.units(amount).unwrap_or_default(),
            scale: amount.scale(),
        }
    }

    /// Returns a fixed amount as a decimal of its own scale, or `None` when it does not fit.
    fn decimal(self, fixed: Fixed) -> Option<Decimal> {
        let divisor = 10_i128.checked_pow(self.0.checked_sub(fixed.scale)?)?;
        Decimal::try_from_i128_with_scale(fixed.units / divisor, fixed.scale).ok()
    }
}

/// An amount as an integer count of units of the common scale, with the scale that a
/// decimal sum of the same terms has: the largest scale among them. Amounts compare by
/// value, as decimals do.
#[derive(Debug, Clone, Copy, Default)]
struct Fixed {
    units: i128,
    scale: u32,
}

impl PartialEq for Fixed {
    fn eq(&self, other: &Self) -> bool {
        self.units == other.units
    }
}

impl Eq for Fixed {}

impl PartialOrd for Fixed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Fixed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.units.cmp(&other.units)
    }
}

impl TraceAmount for Fixed {
    fn add(&mut self, other: Self) {
        self.units += other.units;
        self.scale = self.scale.max(other.scale);
    }
}

/// Trace costs in the amount type they were summed in.
struct Summary<A> {
    traces: usize,
    total: A,
    median: A,
    p95: A,
    top: Vec<(TraceCost, A, A, A)>,
}

impl<A: TraceAmount> Summary<A> {
    /// Converts the amounts to decimals with `decimal`. Returns `None` when one does not fit.
    fn finish(self, decimal: impl Fn(A) -> Option<Decimal>) -> Option<TraceCosts> {
        let top = self
            .top
            .into_iter()
            .map(|(cost, lambda, downstream, total)| {
                Some(TraceCost {
                    lambda_usd: decimal(lambda)?,
                    downstream_usd: decimal(downstream)?,
                    cost_usd: decimal(total)?,
                    ..cost
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(TraceCosts {
            traces: self.traces,
            mean_usd: decimal(self.total)? / Decimal::from(self.traces),
            median_usd: decimal(self.median)?,
            p95_usd: decimal(self.p95)?,
            top,
        })
    }
}

/// Sums each trace in the amount type `amount` converts to, ranks the traces and keeps the
/// `top` most expensive.
fn summarize<A: TraceAmount>(
    tables: &Tables,
    top: usize,
    amount: impl Fn(Decimal) -> A,
) -> Option<Summary<A>> {
    let items = crate::timed("bucketing trace charges", || TraceItems::of(tables));
    let costs: Vec<A> = tables.costs.iter().map(|cost| amount(cost.total)).collect();
    let calls: Vec<A> = tables
        .calls
        .iter()
        .map(|call| amount(call.amount))
        .collect();
    let sum = |items: &[(TraceId, Item)]| {
        items.iter().fold(TraceSum::default(), |sum, &(_, item)| {
            sum.with(item, tables, &costs, &calls)
        })
    };

    // Each trace's total, bucket by bucket: a bucket's traces fit in the cache.
    let traces = crate::timed("summing traces", || {
        let mut traces: Vec<(A, TraceId)> = Vec::with_capacity(tables.invocations.len());
        let mut bucket_totals: foldhash::HashMap<TraceId, A> = foldhash::HashMap::default();
        for bucket in &items.buckets {
            for &(trace, item) in bucket {
                bucket_totals
                    .entry(trace)
                    .or_default()
                    .add(item.amount(&costs, &calls));
            }
            traces.extend(bucket_totals.drain().map(|(trace, total)| (total, trace)));
        }
        traces
    });
    if traces.is_empty() {
        return None;
    }
    let count = traces.len();
    let mut total = A::default();
    for &(amount, _) in &traces {
        total.add(amount);
    }
    let mut amounts: Vec<A> = traces.iter().map(|&(amount, _)| amount).collect();
    let mut rank = |q: f64| {
        // Nearest rank in ascending order.
        let ascending = ((q * count as f64).ceil() as usize).clamp(1, count);
        *amounts.select_nth_unstable(ascending - 1).1
    };
    let (median, p95) = (rank(0.5), rank(0.95));
    drop(amounts);

    // Most expensive first; the trace id breaks ties so the order is reproducible.
    let trace_of = |at: usize| traces[at].1;
    let order = |a: &u32, b: &u32| {
        let (a, b) = (*a as usize, *b as usize);
        traces[b]
            .0
            .cmp(&traces[a].0)
            .then_with(|| tables.traces.cmp(trace_of(a), trace_of(b)))
    };
    let mut ranked: Vec<u32> = (0..count as u32).collect();
    let top_count = top.min(count);
    if top_count > 0 && top_count < count {
        ranked.select_nth_unstable_by(top_count - 1, order);
    }
    ranked.truncate(top_count);
    ranked.sort_unstable_by(order);
    let top = ranked
        .iter()
        .map(|&at| {
            let trace = traces[at as usize].1;
            let trace_items: Vec<(TraceId, Item)> = items.buckets[items.bucket(trace)]
                .iter()
                .filter(|(id, _)| *id == trace)
                .copied()
                .collect();
            let sum = sum(&trace_items);
            let mut functions: BTreeMap<String, u64> = BTreeMap::new();
            for &(_, item) in &trace_items {
                if let Item::Invocation { row, .. } = item {
                    let function = tables.invocations[row as usize].function;
                    *functions
                        .entry(tables.function(function).to_owned())
                        .or_default() += 1;
                }
            }
            let cost = TraceCost {
                trace_id: tables.traces.text(trace).into_owned(),
                invocations: u64::from(sum.invocations),
                functions,
                downstream_calls: sum.calls,
                lambda_usd: Decimal::ZERO,
                downstream_usd: Decimal::ZERO,
                cost_usd: Decimal::ZERO,
                basis: if sum.estimated {
                    Basis::Estimated
                } else {
                    Basis::Billed
                },
            };
            (cost, sum.lambda, sum.downstream, sum.total())
        })
        .collect();
    Some(Summary {
        traces: count,
        total,
        median,
        p95,
        top,
    })
}

/// A charge of a trace: an invocation, by its usage group and row, or a priced call, by its
/// index in [`Tables::calls`]. The usage group gives the amount, so summing reads no row.
#[derive(Debug, Clone, Copy)]
enum Item {
    Invocation { cost: u32, row: u32 },
    Call(u32),
}

impl Item {
    /// Returns the item's amount, from `costs` (per usage group) or `calls` (per distinct
    /// call).
    fn amount<A: Copy>(self, costs: &[A], calls: &[A]) -> A {
        match self {
            Self::Invocation { cost, .. } => costs[cost as usize],
            Self::Call(call) => calls[call as usize],
        }
    }
}

/// The invocations and priced calls of every trace, in buckets by a hash of the trace id.
/// A window can hold millions of traces. Summing them in one hash map misses the cache at
/// almost every item, while one bucket's traces fit in it.
struct TraceItems {
    buckets: Vec<Vec<(TraceId, Item)>>,
    hasher: foldhash::fast::FixedState,
}

impl TraceItems {
    /// Buckets per million invocations, so that a bucket's sums take a few megabytes.
    const BUCKETS_PER_MILLION: usize = 32;

    fn of(tables: &Tables) -> Self {
        let invocations = tables
            .invocations
            .iter()
            .enumerate()
            .filter_map(|(row, invocation)| {
                let item = Item::Invocation {
                    cost: invocation.cost,
                    row: row as u32,
                };
                Some((invocation.trace?, item))
            });
        let calls = tables
            .spans
            .iter()
            .filter_map(|span| Some((span.trace, Item::Call(span.call?))));
        let count = (tables.invocations.len() / 1_000_000 + 1) * Self::BUCKETS_PER_MILLION;
        let mut items = Self {
            buckets: vec![Vec::new(); count],
            hasher: foldhash::fast::FixedState::with_seed(0x5eed),
        };
        for (trace, item) in invocations.chain(calls) {
            let bucket = items.bucket(trace);
            items.buckets[bucket].push((trace, item));
        }
        items
    }

    /// Returns the bucket of a trace.
    fn bucket(&self, trace: TraceId) -> usize {
        let hash = std::hash::BuildHasher::hash_one(&self.hasher, trace);
        ((u128::from(hash) * self.buckets.len() as u128) >> 64) as usize
    }
}

/// Sums of one trace.
#[derive(Debug, Default, Clone, Copy)]
struct TraceSum<A> {
    lambda: A,
    downstream: A,
    invocations: u32,
    calls: u64,
    estimated: bool,
}

impl<A: TraceAmount> TraceSum<A> {
    /// Returns the sums with `item` added, its amount taken from `costs` (per usage group)
    /// or `calls` (per distinct call).
    fn with(mut self, item: Item, tables: &Tables, costs: &[A], calls: &[A]) -> Self {
        match item {
            Item::Invocation { cost, .. } => {
                self.invocations += 1;
                self.lambda.add(costs[cost as usize]);
                self.estimated |= tables.costs[cost as usize].basis == Basis::Estimated;
            }
            Item::Call(call) => {
                let call = call as usize;
                let cost = &tables.calls[call];
                self.calls += cost.call.count;
                self.downstream.add(calls[call]);
                self.estimated |= cost.basis == Basis::Estimated;
            }
        }
        self
    }

    fn total(&self) -> A {
        let mut total = self.lambda;
        total.add(self.downstream);
        total
    }
}

/// Sums the units of each KPI.
#[must_use]
pub fn unit_totals(counts: &[UnitCount]) -> BTreeMap<String, f64> {
    let mut totals: BTreeMap<String, f64> = BTreeMap::new();
    for count in counts {
        *totals.entry(count.name.clone()).or_default() += count.units;
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PriceBook;
    use crate::downstream::{Service, price_call};
    use crate::lambda::InvocationCost;
    use crate::table::InvocationRow;
    use spanbill_collector::Status;

    fn cost(total: &str) -> InvocationCost {
        InvocationCost {
            request_id: String::new(),
            function: None,
            trace_id: None,
            month: None,
            count: 7,
            gb_seconds: Decimal::ZERO,
            compute: Decimal::ZERO,
            request: Decimal::ZERO,
            ephemeral_storage: Decimal::ZERO,
            snapstart_restore: Decimal::ZERO,
            total: total.parse().unwrap(),
            basis: Basis::Billed,
            assumptions: Vec::new(),
        }
    }

    /// Tables of invocations given as (trace, function, total cost).
    fn tables(invocations: &[(Option<&str>, &str, &str)]) -> Tables {
        let mut tables = Tables::default();
        for (trace, function, total) in invocations {
            let trace = trace.map(|trace| tables.traces.intern(trace));
            let function = tables.functions.intern(function);
            tables.costs.push(cost(total));
            tables.invocations.push(InvocationRow {
                function,
                version: None,
                start_ns: None,
                duration_ms: 1.0,
                billed_ms: 1,
                init_ms: None,
                memory_mb: 128,
                max_memory_used_mb: 64,
                cost: (tables.costs.len() - 1) as u32,
                trace,
                status: Status::Success,
                cold_start: false,
                init_billed: false,
            });
        }
        tables
    }

    #[test]
    fn trace_costs_rank_and_sum() {
        let mut tables = tables(&[
            (Some("a"), "createOrder", "0.001"),
            (Some("a"), "handlePayment", "0.002"),
            (Some("b"), "createOrder", "0.001"),
            (Some("c"), "createOrder", "0.0005"),
            (None, "createOrder", "1"),
        ]);
        let call = DownstreamCall::new(Service::Sqs, Some("send"), 100, 1);
        tables.calls.push(price_call(&call, &PriceBook::built_in()));
        tables.call_spans.push(1);
        let trace = tables.traces.intern("b");
        tables.spans.push(crate::table::SpanRow {
            trace,
            start_ns: 0,
            duration_ms: 1.0,
            name: tables.span_names.intern("send"),
            function: None,
            version: None,
            invocation: None,
            call: Some(0),
            is_invocation: false,
            from_queue: false,
            error: false,
        });

        let summary = trace_costs(&tables, 2).unwrap();

        assert_eq!(summary.traces, 3);
        assert_eq!(summary.top.len(), 2);
        assert_eq!(summary.top[0].trace_id, "a");
        assert_eq!(summary.top[0].cost_usd, "0.003".parse().unwrap());
        assert_eq!(summary.top[0].invocations, 2);
        assert_eq!(summary.top[0].functions.len(), 2);
        assert_eq!(summary.top[0].basis, Basis::Billed);
        // One SQS request at $0.40 per million.
        assert_eq!(summary.top[1].trace_id, "b");
        assert_eq!(summary.top[1].downstream_calls, 1);
        assert_eq!(summary.top[1].cost_usd, "0.0010004".parse().unwrap());
        assert_eq!(summary.top[1].basis, Basis::Estimated);
        assert_eq!(summary.median_usd, "0.0010004".parse().unwrap());
        assert_eq!(summary.p95_usd, "0.003".parse().unwrap());
    }

    #[test]
    fn trace_costs_none_without_trace_ids() {
        assert!(trace_costs(&tables(&[(None, "createOrder", "1")]), 5).is_none());
    }

    #[test]
    fn integer_sums_match_decimal_sums() {
        use crate::table::{InvocationFields, SpanFields, TableBuilder};

        let book = PriceBook::built_in();
        let send = DownstreamCall::new(Service::Sqs, Some("send"), 70_000, 1);
        let mut builder = TableBuilder::default();
        let traces: Vec<String> = (0..40).map(|trace| format!("{trace:032x}")).collect();
        let request_ids: Vec<String> = (0..200).map(|row| format!("req-{row}")).collect();
        for (row, request_id) in request_ids.iter().enumerate() {
            builder.push_invocation(&InvocationFields {
                request_id,
                function: Some(["createOrder", "handlePayment"][row % 2]),
                version: None,
                start_ns: Some(1_790_812_800_000_000_000 + row as i64),
                duration_ms: 10.0,
                billed_ms: 1 + (row as u64 * 37) % 900,
                memory_mb: [128, 1024, 1769][row % 3],
                max_memory_used_mb: 64,
                init_ms: None,
                snapstart_restore: false,
                status: Status::Success,
                cold_start: false,
                billing_era: None,
                architecture: None,
                region: None,
                provisioned: false,
                estimated: row % 7 == 0,
                trace_id: None,
            });
            builder.push_span(&SpanFields {
                trace_id: &traces[row % traces.len()],
                name: "invoke",
                function: None,
                version: None,
                invocation_id: Some(request_id),
                from_queue: false,
                start_ns: 0,
                duration_ms: 10.0,
                error: false,
                call: (row % 3 == 0).then_some(&send),
            });
        }
        let tables = builder.finish(&book, crate::lambda::LambdaOptions::default());
        let scale = FixedScale::of(&tables).expect("small amounts fit");

        let fixed = summarize(&tables, 5, |amount| scale.fixed(amount))
            .unwrap()
            .finish(|amount| scale.decimal(amount))
            .unwrap();
        let decimal = summarize(&tables, 5, |amount| amount)
            .unwrap()
            .finish(Some)
            .unwrap();

        assert_eq!(fixed, decimal);
        assert_eq!(fixed.traces, 40);
        assert_eq!(fixed.top[0].invocations, 5);
    }
}
