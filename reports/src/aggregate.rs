//! Cost per function, per trace and per business unit, from priced invocations and
//! downstream calls.

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use crate::cost::{Basis, SECONDS_PER_MONTH};
use crate::downstream::DownstreamCost;
use crate::lambda::InvocationCost;

/// Function name under which invocations without one are grouped.
pub const UNKNOWN_FUNCTION: &str = "(unknown)";

/// Total cost of a group of invocations or calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCost {
    /// Invocations in the group.
    pub invocations: u64,
    /// Downstream calls in the group.
    pub downstream_calls: u64,
    /// Lambda charges of the group.
    pub lambda: Decimal,
    /// Downstream charges of the group.
    pub downstream: Decimal,
    /// Sum of both.
    pub total: Decimal,
    /// Billed only when every part is billed.
    pub basis: Basis,
}

impl Default for GroupCost {
    fn default() -> Self {
        Self {
            invocations: 0,
            downstream_calls: 0,
            lambda: Decimal::ZERO,
            downstream: Decimal::ZERO,
            total: Decimal::ZERO,
            basis: Basis::Billed,
        }
    }
}

impl GroupCost {
    pub(crate) fn add_invocation(&mut self, cost: &InvocationCost) {
        let amount = cost.total * Decimal::from(cost.count);
        self.invocations += cost.count;
        self.lambda += amount;
        self.total += amount;
        self.basis = self.basis.combine(cost.basis);
    }

    pub(crate) fn add_downstream(&mut self, cost: &DownstreamCost) {
        self.downstream_calls += cost.call.count;
        self.downstream += cost.amount;
        self.total += cost.amount;
        self.basis = self.basis.combine(cost.basis);
    }

    /// Adds `times` copies of a downstream cost, as spans recording the same call kind.
    pub(crate) fn add_downstream_times(&mut self, cost: &DownstreamCost, times: u64) {
        let amount = crate::table::times(cost.amount, times);
        self.downstream_calls += cost.call.count * times;
        self.downstream += amount;
        self.total += amount;
        if times > 0 {
            self.basis = self.basis.combine(cost.basis);
        }
    }
}

/// Sums invocation costs per function name.
#[must_use]
pub fn per_function(invocations: &[InvocationCost]) -> BTreeMap<String, GroupCost> {
    let mut groups: BTreeMap<String, GroupCost> = BTreeMap::new();
    for cost in invocations {
        let name = cost.function.as_deref().unwrap_or(UNKNOWN_FUNCTION);
        groups
            .entry(name.to_owned())
            .or_default()
            .add_invocation(cost);
    }
    groups
}

/// Sums, per W3C trace id, the invocations and downstream calls that carry that id.
/// Invocations and calls without a trace id are left out.
#[must_use]
pub fn per_trace(
    invocations: &[InvocationCost],
    downstream: &[DownstreamCost],
) -> BTreeMap<String, GroupCost> {
    let mut groups: BTreeMap<String, GroupCost> = BTreeMap::new();
    for cost in invocations {
        if let Some(trace_id) = &cost.trace_id {
            groups
                .entry(trace_id.clone())
                .or_default()
                .add_invocation(cost);
        }
    }
    for cost in downstream {
        if let Some(trace_id) = &cost.call.trace_id {
            groups
                .entry(trace_id.clone())
                .or_default()
                .add_downstream(cost);
        }
    }
    groups
}

/// Cost per business unit, such as cost per order created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitCost {
    /// Name of the KPI, for example `orders.created`.
    pub kpi: String,
    /// Units counted in the window.
    pub units: u64,
    /// Total cost of the window.
    pub total: Decimal,
    /// `total / units`, or `None` when no unit was counted.
    pub per_unit: Option<Decimal>,
    /// Basis of `total`.
    pub basis: Basis,
}

/// Divides the cost of a window by the number of business units counted in it.
#[must_use]
pub fn per_business_unit(kpi: &str, units: u64, total: &GroupCost) -> UnitCost {
    UnitCost {
        kpi: kpi.to_owned(),
        units,
        total: total.total,
        per_unit: (units > 0).then(|| total.total / Decimal::from(units)),
        basis: total.basis,
    }
}

/// Sums every invocation and downstream call into one group.
#[must_use]
pub fn total(invocations: &[InvocationCost], downstream: &[DownstreamCost]) -> GroupCost {
    let mut group = GroupCost::default();
    for cost in invocations {
        group.add_invocation(cost);
    }
    for cost in downstream {
        group.add_downstream(cost);
    }
    group
}

/// Scales a cost observed over `window_seconds` linearly to an average month of
/// 2,629,746 s. Use [`crate::lambda::project_month`] for Lambda charges, which re-prices
/// the scaled volume with tiers. This linear form suits per-call prices.
#[must_use]
pub fn project_linear(amount: Decimal, window_seconds: u64) -> Decimal {
    amount * Decimal::from(SECONDS_PER_MONTH) / Decimal::from(window_seconds.max(1))
}
