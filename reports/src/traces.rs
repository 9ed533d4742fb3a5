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
use crate::shapes::{InvocationItem, Shape, SplitTrace, TraceKey, TraceRollup};
use crate::usage::PricedUsage;

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

/// Sums the invocations and calls of each trace and keeps the `top` most expensive
/// traces: the whole traces of `rollup`, by shape, and its shared traces as `resolved`
/// gives them ([`TraceRollup::resolve`]). Returns `None` when no trace has an invocation or
/// a call.
#[must_use]
pub fn trace_costs(
    rollup: &TraceRollup,
    resolved: &[SplitTrace],
    priced: &PricedUsage<'_>,
    top: usize,
) -> Option<TraceCosts> {
    let traces = Traces {
        rollup,
        resolved,
        priced,
    };
    // Integer sums give the same amounts as decimal sums without rescaling at each addition.
    // They are used unless an amount does not fit an integer of the common scale.
    if let Some(scale) = FixedScale::of(priced) {
        let summary = summarize(&traces, top, |amount| scale.fixed(amount))?;
        if let Some(costs) = summary.finish(|fixed| scale.decimal(fixed)) {
            return Some(costs);
        }
    }
    summarize(&traces, top, |amount| amount)?.finish(Some)
}

/// The traces of a window: whole ones by shape, and shared ones item by item.
struct Traces<'a> {
    rollup: &'a TraceRollup,
    resolved: &'a [SplitTrace],
    priced: &'a PricedUsage<'a>,
}

/// An amount that traces can be summed and ranked in.
trait TraceAmount: Copy + Default + Ord {
    /// Adds `other`.
    fn add(&mut self, other: Self);

    /// Returns the amount `count` times.
    fn times(self, count: u64) -> Self;
}

impl TraceAmount for Decimal {
    fn add(&mut self, other: Self) {
        *self += other;
    }

    fn times(self, count: u64) -> Self {
        crate::table::times(self, count)
    }
}

/// The scale all amounts of a report are converted to for integer sums: the largest scale
/// among the invocation and call costs.
#[derive(Debug, Clone, Copy)]
struct FixedScale(u32);

impl FixedScale {
    /// Returns the common scale of the amounts of `priced`, or `None` when the sum of all
    /// invocations and calls could overflow an integer of that scale.
    fn of(priced: &PricedUsage<'_>) -> Option<Self> {
        let amounts = priced
            .costs
            .iter()
            .map(|cost| cost.total)
            .chain(priced.calls.iter().map(|call| call.amount));
        let scale = Self(amounts.map(|amount| amount.scale()).max()?);
        // Every trace sum, and their total, is at most this bound in absolute value.
        let lambda = priced.costs.iter().map(|cost| {
            scale
                .units(cost.total.abs())?
                .checked_mul(i128::from(cost.count))
        });
        let calls = priced
            .calls
            .iter()
            .zip(&priced.usage.calls)
            .map(|(call, (_, spans))| {
                scale
                    .units(call.amount.abs())?
                    .checked_mul(i128::from(*spans))
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

    fn times(self, count: u64) -> Self {
        Self {
            units: self.units * i128::from(count),
            scale: self.scale,
        }
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
    traces: &Traces<'_>,
    top: usize,
    amount: impl Fn(Decimal) -> A,
) -> Option<Summary<A>> {
    let priced = traces.priced;
    let costs: Vec<A> = priced.costs.iter().map(|cost| amount(cost.total)).collect();
    let calls: Vec<A> = priced
        .calls
        .iter()
        .map(|call| amount(call.amount))
        .collect();
    let sum = |invocations: &[InvocationItem], call_items: &[u32]| {
        let mut sum = TraceSum::<A>::default();
        for &(_, group) in invocations {
            sum.invocations += 1;
            sum.lambda.add(costs[group as usize]);
            sum.estimated |= priced.costs[group as usize].basis == Basis::Estimated;
        }
        for &call in call_items {
            let cost = &priced.calls[call as usize];
            sum.calls += cost.call.count;
            sum.downstream.add(calls[call as usize]);
            sum.estimated |= cost.basis == Basis::Estimated;
        }
        sum
    };

    // Each distinct trace: its items, its sums, how many traces have it, and the ids that
    // can be listed.
    let mut kinds: Vec<Kind<'_, A>> = Vec::new();
    for shape in traces.rollup.shapes.iter() {
        kinds.push(Kind {
            invocations: shape.invocations,
            sums: sum(shape.invocations, shape.calls),
            traces: shape.traces,
            ids: Ids::Shape(shape),
        });
    }
    for trace in traces.resolved {
        if trace.invocations.is_empty() && trace.calls.is_empty() {
            continue;
        }
        kinds.push(Kind {
            invocations: &trace.invocations,
            sums: sum(&trace.invocations, &trace.calls),
            traces: 1,
            ids: Ids::One(TraceKey::of(&trace.id)),
        });
    }
    let count: u64 = kinds.iter().map(|kind| kind.traces).sum();
    if count == 0 {
        return None;
    }
    let mut total = A::default();
    for kind in &kinds {
        total.add(kind.sums.total().times(kind.traces));
    }
    let mut ranked: Vec<(A, u64)> = kinds
        .iter()
        .map(|kind| (kind.sums.total(), kind.traces))
        .collect();
    ranked.sort_unstable();
    let rank = |q: f64| {
        // Nearest rank in ascending order.
        let ascending = ((q * count as f64).ceil() as u64).clamp(1, count);
        let mut seen = 0;
        for &(amount, traces) in &ranked {
            seen += traces;
            if seen >= ascending {
                return amount;
            }
        }
        A::default()
    };
    let (median, p95) = (rank(0.5), rank(0.95));

    let top = most_expensive(&kinds, &traces.rollup.functions, top);
    Some(Summary {
        traces: usize::try_from(count).unwrap_or(usize::MAX),
        total,
        median,
        p95,
        top,
    })
}

/// Traces with the same items.
struct Kind<'a, A> {
    invocations: &'a [InvocationItem],
    sums: TraceSum<A>,
    traces: u64,
    /// The ids that can be listed.
    ids: Ids<'a>,
}

/// The ids of a [`Kind`] that can be listed.
enum Ids<'a> {
    /// The ids a shape kept.
    Shape(Shape<'a>),
    /// The id of a shared trace.
    One(TraceKey),
}

impl Ids<'_> {
    fn keys(&self) -> Vec<TraceKey> {
        match self {
            Self::Shape(shape) => shape.ids().collect(),
            Self::One(id) => vec![id.clone()],
        }
    }
}

/// Returns the `top` most expensive traces of `kinds`, each with its Lambda, downstream and
/// total amounts; `names` gives the function names.
fn most_expensive<A: TraceAmount>(
    kinds: &[Kind<'_, A>],
    names: &[String],
    top: usize,
) -> Vec<(TraceCost, A, A, A)> {
    // Most expensive first; the trace id breaks ties so the order is reproducible. Only the
    // kinds that can reach the list are ranked by id: the costliest, down to the amount of
    // the `top`-th trace.
    let mut order: Vec<usize> = (0..kinds.len()).collect();
    order.sort_unstable_by(|&a, &b| kinds[b].sums.total().cmp(&kinds[a].sums.total()));
    let mut listed: Vec<(A, TraceKey, usize)> = Vec::new();
    for &at in &order {
        let total = kinds[at].sums.total();
        if listed.len() >= top && listed.last().is_some_and(|last| last.0 > total) {
            break;
        }
        listed.extend(kinds[at].ids.keys().into_iter().map(|id| (total, id, at)));
    }
    listed.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    listed.truncate(top);
    listed
        .into_iter()
        .map(|(_, id, at)| {
            let id = id.text();
            let kind = &kinds[at];
            let sums = &kind.sums;
            let mut functions: BTreeMap<String, u64> = BTreeMap::new();
            for &(function, _) in kind.invocations {
                *functions
                    .entry(names[function as usize].clone())
                    .or_default() += 1;
            }
            let cost = TraceCost {
                trace_id: id.into_owned(),
                invocations: u64::from(sums.invocations),
                functions,
                downstream_calls: sums.calls,
                lambda_usd: Decimal::ZERO,
                downstream_usd: Decimal::ZERO,
                cost_usd: Decimal::ZERO,
                basis: if sums.estimated {
                    Basis::Estimated
                } else {
                    Basis::Billed
                },
            };
            (cost, sums.lambda, sums.downstream, sums.total())
        })
        .collect()
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
    use crate::shapes::Shapes;
    use crate::usage::{CallKey, Usage};
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

    /// A shape's invocations, calls and the id of its one trace.
    type ShapeOfOne<'a> = (&'a [(u32, u32)], &'a [u32], &'a str);

    fn shapes(list: &[ShapeOfOne<'_>]) -> Shapes {
        let mut shapes = Shapes::default();
        for &(invocations, calls, id) in list {
            shapes.push(invocations, calls, 1, [TraceKey::of(id)]);
        }
        shapes
    }

    #[test]
    fn trace_costs_rank_and_sum() {
        let call = DownstreamCall::new(Service::Sqs, Some("send"), 100, 1);
        let key = CallKey {
            service: Service::Sqs,
            operation: Some("send".to_owned()),
            payload_bytes: 100,
            count: 1,
        };
        let usage = Usage {
            calls: vec![(key, 1)],
            ..Usage::default()
        };
        let priced = PricedUsage {
            usage: &usage,
            costs: vec![cost("0.001"), cost("0.002"), cost("0.0005")],
            calls: vec![price_call(&call, &PriceBook::built_in())],
        };
        let rollup = TraceRollup {
            functions: vec!["createOrder".to_owned(), "handlePayment".to_owned()],
            ids_per_shape: 5,
            shapes: shapes(&[
                (&[(0, 0), (1, 1)], &[], "a"),
                (&[(0, 0)], &[0], "b"),
                (&[(0, 2)], &[], "c"),
            ]),
            ..TraceRollup::default()
        };

        let summary = trace_costs(&rollup, &[], &priced, 2).unwrap();

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
    fn trace_costs_none_without_traces() {
        let usage = Usage::default();
        let priced = PricedUsage {
            usage: &usage,
            costs: vec![cost("1")],
            calls: Vec::new(),
        };
        assert!(trace_costs(&TraceRollup::default(), &[], &priced, 5).is_none());
    }

    #[test]
    fn integer_sums_match_decimal_sums() {
        use crate::rollup::Rollup;
        use crate::table::{InvocationFields, Shared, SpanFields, TableBuilder};

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
        let options = crate::lambda::LambdaOptions::default();
        let tables = builder.finish(&book, options);
        let rollup = Rollup::of(&tables, &Shared::default(), 5);
        let priced = rollup.usage.price(&book, options);
        let scale = FixedScale::of(&priced).expect("small amounts fit");
        let traces = Traces {
            rollup: &rollup.traces,
            resolved: &[],
            priced: &priced,
        };

        let fixed = summarize(&traces, 5, |amount| scale.fixed(amount))
            .unwrap()
            .finish(|amount| scale.decimal(amount))
            .unwrap();
        let decimal = summarize(&traces, 5, |amount| amount)
            .unwrap()
            .finish(Some)
            .unwrap();

        assert_eq!(fixed, decimal);
        assert_eq!(fixed.traces, 40);
        assert_eq!(fixed.top[0].invocations, 5);
    }
}
