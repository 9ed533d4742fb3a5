//! Google Cloud Run functions cost with request-based billing: vCPU-seconds, GiB-seconds
//! and requests, with the monthly free tier. Prices come from the `gcp.*` keys of the
//! price book.

use rust_decimal::Decimal;

use crate::cost::Basis;
use crate::pricing::PriceBook;

/// Cloud Run bills instance time rounded up to the next 100 ms.
const BILLING_STEP_MS: u64 = 100;

/// One month of requests with the same configuration and duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunFunctionsUsage {
    /// Number of requests.
    pub requests: u64,
    /// Billable instance time of one request in ms, rounded up to the next 100 ms.
    pub duration_ms: u64,
    /// vCPUs allocated, in thousandths (1000 = 1 vCPU, 83 = 0.083 vCPU).
    pub vcpu_millis: u32,
    /// Memory allocated, in MiB.
    pub memory_mib: u32,
}

/// Charges of one Cloud Run functions month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFunctionsCharge {
    /// vCPU-seconds used.
    pub vcpu_seconds: Decimal,
    /// GiB-seconds used.
    pub gib_seconds: Decimal,
    /// CPU charge.
    pub cpu: Decimal,
    /// Memory charge.
    pub memory: Decimal,
    /// Requests charge.
    pub requests: Decimal,
    /// Sum of the charges.
    pub total: Decimal,
    /// Always [`Basis::Estimated`]: the usage is a summary the caller supplies, not a billed
    /// figure.
    pub basis: Basis,
}

/// Prices a month of Cloud Run functions requests. The free tier (vCPU-seconds,
/// GiB-seconds and requests) applies when `free_tier` is set.
#[must_use]
pub fn run_functions_charge(
    book: &PriceBook,
    usage: &RunFunctionsUsage,
    free_tier: bool,
) -> RunFunctionsCharge {
    let billed_ms = usage.duration_ms.div_ceil(BILLING_STEP_MS) * BILLING_STEP_MS;
    let seconds = Decimal::from(usage.requests) * Decimal::from(billed_ms) / Decimal::from(1000);
    let vcpu_seconds = seconds * Decimal::from(usage.vcpu_millis) / Decimal::from(1000);
    let gib_seconds = seconds * Decimal::from(usage.memory_mib) / Decimal::from(1024);
    let requests = Decimal::from(usage.requests);

    let charge = |key: &str, quantity: Decimal| {
        let price = book.price(key);
        let free = if free_tier {
            price.free_per_month.min(quantity)
        } else {
            Decimal::ZERO
        };
        price.monthly_charge(quantity, free)
    };
    let cpu = charge("gcp.run_functions.cpu", vcpu_seconds);
    let memory = charge("gcp.run_functions.memory", gib_seconds);
    let requests_charge = charge("gcp.run_functions.requests", requests);
    RunFunctionsCharge {
        vcpu_seconds,
        gib_seconds,
        cpu,
        memory,
        requests: requests_charge,
        total: cpu + memory + requests_charge,
        basis: Basis::Estimated,
    }
}
