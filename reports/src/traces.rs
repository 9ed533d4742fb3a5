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
    let sums = trace_sums(tables);
    if sums.is_empty() {
        return None;
    }

    let count = sums.len();
    let totals: Vec<Decimal> = sums
        .iter()
        .map(|(_, sum)| sum.lambda + sum.downstream)
        .collect();
    let total: Decimal = totals.iter().sum();
    let mut amounts = totals.clone();
    let mut rank = |q: f64| {
        // Nearest rank in ascending order.
        let ascending = ((q * count as f64).ceil() as usize).clamp(1, count);
        *amounts.select_nth_unstable(ascending - 1).1
    };
    let (median_usd, p95_usd) = (rank(0.5), rank(0.95));
    drop(amounts);

    // Most expensive first; the trace id breaks ties so the order is reproducible.
    let order = |a: &u32, b: &u32| {
        let (a, b) = (*a as usize, *b as usize);
        totals[b]
            .cmp(&totals[a])
            .then_with(|| tables.traces.cmp(sums[a].0, sums[b].0))
    };
    let mut ranked: Vec<u32> = (0..count as u32).collect();
    let top_count = top.min(count);
    if top_count > 0 && top_count < count {
        ranked.select_nth_unstable_by(top_count - 1, order);
    }
    ranked.truncate(top_count);
    ranked.sort_unstable_by(order);
    let top_sums: Vec<(TraceId, &TraceSum, Decimal)> = ranked
        .iter()
        .map(|&at| {
            (
                sums[at as usize].0,
                &sums[at as usize].1,
                totals[at as usize],
            )
        })
        .collect();
    let mut top: Vec<TraceCost> = top_sums
        .iter()
        .map(|(trace, sum, cost_usd)| TraceCost {
            trace_id: tables.traces.text(*trace).into_owned(),
            invocations: u64::from(sum.invocations),
            functions: BTreeMap::new(),
            downstream_calls: sum.calls,
            lambda_usd: sum.lambda,
            downstream_usd: sum.downstream,
            cost_usd: *cost_usd,
            basis: if sum.estimated {
                Basis::Estimated
            } else {
                Basis::Billed
            },
        })
        .collect();
    for row in &tables.invocations {
        let Some(position) = row
            .trace
            .and_then(|trace| top_sums.iter().position(|(top, ..)| *top == trace))
        else {
            continue;
        };
        *top[position]
            .functions
            .entry(tables.function(row.function).to_owned())
            .or_default() += 1;
    }
    Some(TraceCosts {
        traces: count,
        mean_usd: total / Decimal::from(count),
        median_usd,
        p95_usd,
        top,
    })
}

/// Sums invocations and calls per trace, without the per-function counts, which only the
/// top traces need: a window can hold millions of traces.
fn trace_sums(tables: &Tables) -> Vec<(TraceId, TraceSum)> {
    let mut index: foldhash::HashMap<TraceId, u32> = foldhash::HashMap::default();
    index.reserve(tables.invocations.len());
    // A trace usually has one invocation, so a window has about as many traces as
    // invocations.
    let mut sums: Vec<(TraceId, TraceSum)> = Vec::with_capacity(tables.invocations.len());
    let mut sum_of = |trace: TraceId, sums: &mut Vec<(TraceId, TraceSum)>| {
        let at = *index.entry(trace).or_insert_with(|| {
            sums.push((trace, TraceSum::default()));
            (sums.len() - 1) as u32
        });
        at as usize
    };
    for row in &tables.invocations {
        if let Some(trace) = row.trace {
            let at = sum_of(trace, &mut sums);
            let cost = tables.cost(row);
            let sum = &mut sums[at].1;
            sum.invocations += 1;
            sum.lambda += cost.total;
            sum.estimated |= cost.basis == Basis::Estimated;
        }
    }
    for span in &tables.spans {
        if let Some(call) = span.call {
            let at = sum_of(span.trace, &mut sums);
            let cost = &tables.calls[call as usize];
            let sum = &mut sums[at].1;
            sum.calls += cost.call.count;
            sum.downstream += cost.amount;
            sum.estimated |= cost.basis == Basis::Estimated;
        }
    }
    sums
}

/// Running sums of one trace.
#[derive(Debug, Default)]
struct TraceSum {
    lambda: Decimal,
    downstream: Decimal,
    invocations: u32,
    calls: u64,
    estimated: bool,
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
}
