//! Spans and KPI counts as the report uses them, and the join of spans with invocations.
//!
//! An invocation's span carries `faas.invocation_id`, which is the Lambda request id of its
//! REPORT line, so the join gives each invocation its W3C trace id even when the platform
//! record has no X-Ray header. The spans of a trace that call a priced service (an SQS send,
//! an API Gateway request) become [`DownstreamCall`]s of that trace.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use spanbill_collector::Invocation;

use crate::aggregate::GroupCost;
use crate::cost::Basis;
use crate::detect::spiral::TraceHop;
use crate::downstream::{DownstreamCall, DownstreamCost};
use crate::lambda::InvocationCost;

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

/// Returns one [`TraceHop`] per invocation span, for loop detection.
#[must_use]
pub fn hops(spans: &[TraceSpan]) -> Vec<TraceHop> {
    spans
        .iter()
        .filter(|span| span.is_invocation())
        .filter_map(|span| {
            Some(TraceHop {
                trace_id: span.trace_id.clone(),
                function: span.function.clone()?,
                from_queue: span.trigger.as_deref() == Some("pubsub"),
            })
        })
        .collect()
}

/// Returns the W3C trace id of each invocation: from its span, found by request id, else
/// from the invocation's own X-Ray trace header.
#[must_use]
pub fn trace_ids(invocations: &[Invocation], spans: &[TraceSpan]) -> Vec<Option<String>> {
    let by_request: foldhash::HashMap<&str, &str> = spans
        .iter()
        .filter_map(|span| Some((span.invocation_id.as_deref()?, span.trace_id.as_str())))
        .collect();
    invocations
        .iter()
        .map(|invocation| {
            by_request
                .get(invocation.request_id.as_str())
                .map(|trace| (*trace).to_owned())
                .or_else(|| {
                    invocation
                        .trace
                        .as_ref()
                        .and_then(|trace| trace.w3c_trace_id.clone())
                })
        })
        .collect()
}

/// Returns the priced calls of the spans, each tagged with its span's trace id.
#[must_use]
pub fn downstream_calls(spans: &[TraceSpan]) -> Vec<DownstreamCall> {
    spans
        .iter()
        .filter_map(|span| {
            let mut call = span.downstream.clone()?;
            call.trace_id = Some(span.trace_id.clone());
            Some(call)
        })
        .collect()
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
pub fn trace_costs(
    costs: &[InvocationCost],
    downstream: &[DownstreamCost],
    top: usize,
) -> Option<TraceCosts> {
    // Sums per trace first, without the per-function counts, which only the top traces
    // need: a window can hold millions of traces.
    let mut sums: foldhash::HashMap<&str, GroupCost> = foldhash::HashMap::default();
    for cost in costs {
        if let Some(trace_id) = cost.trace_id.as_deref() {
            sums.entry(trace_id).or_default().add_invocation(cost);
        }
    }
    for cost in downstream {
        if let Some(trace_id) = cost.call.trace_id.as_deref() {
            sums.entry(trace_id).or_default().add_downstream(cost);
        }
    }
    if sums.is_empty() {
        return None;
    }

    let mut all: Vec<(&str, Decimal)> = sums
        .iter()
        .map(|(trace_id, sum)| (*trace_id, sum.total))
        .collect();
    // Most expensive first; the trace id breaks ties so the order is reproducible.
    all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let count = all.len();
    let total: Decimal = all.iter().map(|(_, cost)| *cost).sum();
    let rank = |q: f64| {
        // Nearest rank in ascending order, read from the descending list.
        let ascending = ((q * count as f64).ceil() as usize).clamp(1, count);
        all[count - ascending].1
    };
    let (median_usd, p95_usd) = (rank(0.5), rank(0.95));

    let mut top: Vec<TraceCost> = all
        .iter()
        .take(top)
        .map(|(trace_id, cost_usd)| {
            let sum = &sums[trace_id];
            TraceCost {
                trace_id: (*trace_id).to_owned(),
                invocations: sum.invocations,
                functions: BTreeMap::new(),
                downstream_calls: sum.downstream_calls,
                lambda_usd: sum.lambda,
                downstream_usd: sum.downstream,
                cost_usd: *cost_usd,
                basis: sum.basis,
            }
        })
        .collect();
    for cost in costs {
        let Some(trace) = top
            .iter_mut()
            .find(|trace| cost.trace_id.as_deref() == Some(trace.trace_id.as_str()))
        else {
            continue;
        };
        *trace
            .functions
            .entry(
                cost.function
                    .clone()
                    .unwrap_or_else(|| "unknown".to_owned()),
            )
            .or_default() += cost.count;
    }
    Some(TraceCosts {
        traces: count,
        mean_usd: total / Decimal::from(count),
        median_usd,
        p95_usd,
        top,
    })
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

    fn cost(trace: Option<&str>, function: &str, total: &str) -> InvocationCost {
        InvocationCost {
            request_id: String::new(),
            function: Some(function.to_owned()),
            trace_id: trace.map(str::to_owned),
            month: None,
            count: 1,
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

    #[test]
    fn trace_costs_rank_and_sum() {
        let costs = vec![
            cost(Some("a"), "createOrder", "0.001"),
            cost(Some("a"), "handlePayment", "0.002"),
            cost(Some("b"), "createOrder", "0.001"),
            cost(Some("c"), "createOrder", "0.0005"),
            cost(None, "createOrder", "1"),
        ];
        let mut call = DownstreamCall::new(Service::Sqs, Some("send"), 100, 1);
        call.trace_id = Some("b".to_owned());
        let downstream = vec![price_call(&call, &PriceBook::built_in())];

        let summary = trace_costs(&costs, &downstream, 2).unwrap();

        assert_eq!(summary.traces, 3);
        assert_eq!(summary.top.len(), 2);
        assert_eq!(summary.top[0].trace_id, "a");
        assert_eq!(summary.top[0].cost_usd, "0.003".parse().unwrap());
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
        assert!(trace_costs(&[cost(None, "createOrder", "1")], &[], 5).is_none());
    }
}
