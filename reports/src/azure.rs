//! Azure Functions cost: the Consumption plan and the Flex Consumption plan (on-demand and
//! always-ready instances). Prices come from the `azure.*` keys of the price book.

use rust_decimal::Decimal;

use crate::cost::Basis;
use crate::pricing::PriceBook;

/// Smallest billed execution time on the Consumption plan, in ms.
const CONSUMPTION_MINIMUM_MS: u64 = 100;
/// Consumption plan memory is billed in steps of this size, in MB.
const CONSUMPTION_MEMORY_STEP_MB: u32 = 128;

/// One month of Consumption plan executions with the same memory use and duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsumptionUsage {
    /// Number of executions.
    pub executions: u64,
    /// Execution time of one execution, in ms.
    pub duration_ms: u64,
    /// Memory used in MB, billed rounded up to the next 128 MB.
    pub memory_mb: u32,
}

/// One month of Flex Consumption usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FlexUsage {
    /// Instance memory size in MB (512, 2048 or 4096).
    pub instance_memory_mb: u32,
    /// Executions on on-demand instances.
    pub on_demand_executions: u64,
    /// Seconds on-demand instances spent executing.
    pub on_demand_seconds: u64,
    /// Number of always-ready instances.
    pub always_ready_instances: u32,
    /// Seconds the always-ready instances were kept (the baseline).
    pub always_ready_seconds: u64,
    /// Executions on always-ready instances.
    pub always_ready_executions: u64,
    /// Seconds always-ready instances spent executing.
    pub always_ready_busy_seconds: u64,
}

/// Charges of one Azure Functions month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureCharge {
    /// GB-seconds billed before free grants.
    pub gb_seconds: Decimal,
    /// Execution-time charge.
    pub execution_time: Decimal,
    /// Executions charge.
    pub executions: Decimal,
    /// Always-ready baseline charge (Flex Consumption only).
    pub baseline: Decimal,
    /// Sum of the charges.
    pub total: Decimal,
    /// Always [`Basis::Estimated`]: the usage is a summary the caller supplies, not a billed
    /// figure.
    pub basis: Basis,
}

/// Prices a Consumption plan month. Memory is rounded up to the next 128 MB and each
/// execution to at least 100 ms. The free grant (400,000 GB-s and 1M executions a month,
/// per subscription) applies when `free_grant` is set.
#[must_use]
pub fn consumption_charge(
    book: &PriceBook,
    usage: &ConsumptionUsage,
    free_grant: bool,
) -> AzureCharge {
    let memory_mb =
        usage.memory_mb.div_ceil(CONSUMPTION_MEMORY_STEP_MB).max(1) * CONSUMPTION_MEMORY_STEP_MB;
    let duration_ms = usage.duration_ms.max(CONSUMPTION_MINIMUM_MS);
    let gb_seconds = Decimal::from(usage.executions) * Decimal::from(duration_ms)
        / Decimal::from(1000)
        * Decimal::from(memory_mb)
        / Decimal::from(1024);

    let time_price = book.price("azure.consumption.execution_time");
    let executions_price = book.price("azure.consumption.executions");
    let free = |free: Decimal, quantity: Decimal| {
        if free_grant {
            free.min(quantity)
        } else {
            Decimal::ZERO
        }
    };
    let executions = Decimal::from(usage.executions);
    let execution_time =
        time_price.monthly_charge(gb_seconds, free(time_price.free_per_month, gb_seconds));
    let executions_charge = executions_price.monthly_charge(
        executions,
        free(executions_price.free_per_month, executions),
    );
    AzureCharge {
        gb_seconds,
        execution_time,
        executions: executions_charge,
        baseline: Decimal::ZERO,
        total: execution_time + executions_charge,
        basis: Basis::Estimated,
    }
}

/// Prices a Flex Consumption month: on-demand execution time and executions (with their
/// free grant when `free_grant` is set), and for always-ready instances the baseline,
/// execution time and executions, which have no free grant.
#[must_use]
pub fn flex_charge(book: &PriceBook, usage: &FlexUsage, free_grant: bool) -> AzureCharge {
    let memory_gb = Decimal::from(usage.instance_memory_mb) / Decimal::from(1024);
    let on_demand_gb_seconds = memory_gb * Decimal::from(usage.on_demand_seconds);
    let baseline_gb_seconds = memory_gb
        * Decimal::from(usage.always_ready_instances)
        * Decimal::from(usage.always_ready_seconds);
    let busy_gb_seconds = memory_gb * Decimal::from(usage.always_ready_busy_seconds);

    let charge = |key: &str, quantity: Decimal, grant: bool| {
        let price = book.price(key);
        let free = if grant {
            price.free_per_month.min(quantity)
        } else {
            Decimal::ZERO
        };
        price.monthly_charge(quantity, free)
    };
    let execution_time = charge(
        "azure.flex.on_demand.execution_time",
        on_demand_gb_seconds,
        free_grant,
    ) + charge(
        "azure.flex.always_ready.execution_time",
        busy_gb_seconds,
        false,
    );
    let executions = charge(
        "azure.flex.on_demand.executions",
        Decimal::from(usage.on_demand_executions),
        free_grant,
    ) + charge(
        "azure.flex.always_ready.executions",
        Decimal::from(usage.always_ready_executions),
        false,
    );
    let baseline = charge(
        "azure.flex.always_ready.baseline",
        baseline_gb_seconds,
        false,
    );
    AzureCharge {
        gb_seconds: on_demand_gb_seconds + busy_gb_seconds,
        execution_time,
        executions,
        baseline,
        total: execution_time + executions + baseline,
        basis: Basis::Estimated,
    }
}
