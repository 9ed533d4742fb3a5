//! AWS Lambda cost: requests, duration by architecture with monthly volume tiers, the free
//! tier, ephemeral storage, provisioned concurrency and SnapStart.
//!
//! Monthly bills are computed on monthly totals, because tiers and the free tier apply to
//! the month's volume. Each invocation then gets a share of every charge line by the
//! **average rule**: its quantity times the line's monthly amount divided by the line's
//! monthly quantity. Identical invocations in one month cost the same whatever their order,
//! and the shares add up to the monthly amount (each share is rounded to 28 significant
//! digits).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use spanbill_collector::{Architecture, BillingEra, InitializationType, Invocation, Source};

use crate::cost::{Basis, BillingMonth, SECONDS_PER_MONTH};
use crate::pricing::PriceBook;

/// Ephemeral storage every function gets at no charge, in MB.
pub const FREE_EPHEMERAL_STORAGE_MB: u32 = 512;

/// Settings of a Lambda pricing run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LambdaOptions {
    /// Apply the monthly free tier (1M requests, 400,000 GB-s shared by both
    /// architectures). Off by default, because organisations past their free tier are the
    /// common case.
    pub free_tier: bool,
}

/// Billed quantities of one invocation, or of `count` identical invocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaUsage {
    /// Lambda request id, or a label for a group of identical invocations.
    pub request_id: String,
    /// Function name, when known.
    pub function: Option<String>,
    /// W3C trace id (32 lowercase hex digits), when known.
    pub trace_id: Option<String>,
    /// Month the invocation started in. `None` puts it in one undated month.
    pub month: Option<BillingMonth>,
    /// AWS region the invocation ran in, when known.
    pub region: Option<String>,
    /// Instruction set architecture.
    pub architecture: Architecture,
    /// False when the input did not give the architecture and x86_64 was assumed.
    pub architecture_known: bool,
    /// Configured memory in MB (2^20 bytes).
    pub memory_mb: u32,
    /// Billed duration in ms, which already contains any billed init or restore time.
    pub billed_ms: u64,
    /// Whether `billed_ms` was printed by the platform or estimated.
    pub basis: Basis,
    /// The invocation ran on provisioned concurrency, which has its own duration price.
    pub provisioned: bool,
    /// The invocation restored a SnapStart snapshot, which adds a restore charge.
    pub snapstart_restore: bool,
    /// Configured ephemeral storage (`/tmp`) in MB, of which 512 are free.
    pub ephemeral_storage_mb: u32,
    /// Number of identical invocations this record stands for.
    pub count: u64,
}

impl LambdaUsage {
    /// Builds the usage of an invocation read from platform data.
    ///
    /// `Billed Duration` is used as printed: it already contains the init phase when Lambda
    /// bills it and the billed restore time of SnapStart, so neither is added. Records from
    /// the local simulator are labelled as estimates. Platform logs do not print the
    /// architecture or ephemeral storage, so x86_64 and 512 MB are assumed unless the record
    /// carries an architecture. Set the fields to correct them.
    #[must_use]
    pub fn from_invocation(invocation: &Invocation) -> Self {
        let basis = if invocation.source == Source::Simulator {
            Basis::Estimated
        } else {
            Basis::Billed
        };
        Self {
            request_id: invocation.request_id.clone(),
            function: invocation.function.clone(),
            trace_id: invocation
                .trace
                .as_ref()
                .and_then(|trace| trace.w3c_trace_id.clone()),
            month: invocation.start.map(|start| BillingMonth {
                year: start.year(),
                month: u8::from(start.month()),
            }),
            region: invocation.region.clone(),
            architecture: invocation.architecture.unwrap_or(Architecture::X86_64),
            architecture_known: invocation.architecture.is_some(),
            memory_mb: invocation.memory_mb,
            billed_ms: invocation.billed_ms,
            basis,
            provisioned: invocation.initialization_type
                == Some(InitializationType::ProvisionedConcurrency),
            snapstart_restore: invocation.restore_ms.is_some(),
            ephemeral_storage_mb: FREE_EPHEMERAL_STORAGE_MB,
            count: 1,
        }
    }

    /// Builds an estimated usage from a handler duration, for input without `Billed
    /// Duration` (a span, a metric). The billed duration is estimated with
    /// [`estimate_billed_ms`].
    #[must_use]
    pub fn estimated(
        request_id: &str,
        memory_mb: u32,
        duration_ms: f64,
        init_ms: Option<f64>,
        era: Option<BillingEra>,
    ) -> Self {
        Self {
            request_id: request_id.to_owned(),
            function: None,
            trace_id: None,
            month: None,
            region: None,
            architecture: Architecture::X86_64,
            architecture_known: false,
            memory_mb,
            billed_ms: estimate_billed_ms(duration_ms, init_ms, era),
            basis: Basis::Estimated,
            provisioned: false,
            snapstart_restore: false,
            ephemeral_storage_mb: FREE_EPHEMERAL_STORAGE_MB,
            count: 1,
        }
    }

    /// Returns the GB-seconds of one invocation: `billed_ms / 1000 x memory_mb / 1024`,
    /// exactly.
    #[must_use]
    pub fn gb_seconds(&self) -> Decimal {
        gb_seconds(self.billed_ms, self.memory_mb)
    }

    /// Returns the price key and quantity of every charge one invocation incurs.
    fn charges(&self) -> Vec<(&'static str, Decimal)> {
        let duration_key = match (self.provisioned, self.architecture) {
            (false, Architecture::X86_64) => "aws.lambda.duration.x86_64",
            (false, Architecture::Arm64) => "aws.lambda.duration.arm64",
            (true, Architecture::X86_64) => "aws.lambda.provisioned_duration.x86_64",
            (true, Architecture::Arm64) => "aws.lambda.provisioned_duration.arm64",
        };
        let mut charges = vec![
            ("aws.lambda.requests", Decimal::ONE),
            (duration_key, self.gb_seconds()),
        ];
        if self.ephemeral_storage_mb > FREE_EPHEMERAL_STORAGE_MB {
            let extra_mb = self.ephemeral_storage_mb - FREE_EPHEMERAL_STORAGE_MB;
            charges.push((
                "aws.lambda.ephemeral_storage",
                gb_seconds(self.billed_ms, extra_mb),
            ));
        }
        if self.snapstart_restore {
            charges.push((
                "aws.lambda.snapstart_restore",
                Decimal::from(self.memory_mb) / Decimal::from(1024),
            ));
        }
        charges
    }
}

/// Returns `billed_ms / 1000 x memory_mb / 1024` exactly: the quotient by 1,024,000 is a
/// terminating decimal with at most 13 places.
#[must_use]
pub fn gb_seconds(billed_ms: u64, memory_mb: u32) -> Decimal {
    Decimal::from(billed_ms) * Decimal::from(memory_mb) / Decimal::from(1_024_000)
}

/// Estimates `Billed Duration` from a handler duration and an init duration.
///
/// - Before 2020-12-01: the duration rounded up to the next 100 ms; init not billed.
/// - From 2020-12-01: rounded up to the next 1 ms, init not billed. This holds for ZIP
///   packages with a managed runtime. Container images and custom runtimes were billed for
///   init, which the date cannot show.
/// - From 2025-08-01, and when the era is unknown: `ceil(duration) + ceil(init)`, as Lambda
///   prints for on-demand cold starts (133.61 ms + 80.00 ms init bills 214 ms).
#[must_use]
pub fn estimate_billed_ms(duration_ms: f64, init_ms: Option<f64>, era: Option<BillingEra>) -> u64 {
    let duration = duration_ms.max(0.0).ceil() as u64;
    match era {
        Some(BillingEra::Rounded100Ms) => duration.div_ceil(100) * 100,
        Some(BillingEra::Rounded1Ms) => duration,
        Some(BillingEra::InitBilled) | None => {
            duration + init_ms.map_or(0, |init| init.max(0.0).ceil() as u64)
        }
    }
}

/// Returns the name an architecture has in price keys.
#[must_use]
pub fn architecture_name(architecture: Architecture) -> &'static str {
    match architecture {
        Architecture::X86_64 => "x86_64",
        Architecture::Arm64 => "arm64",
    }
}

/// One line of a monthly bill: a price key, the month's quantity, the free part and the
/// charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeLine {
    /// Price key, for example `aws.lambda.duration.arm64`.
    pub key: String,
    /// Quantity used in the month, in the price's unit.
    pub quantity: Decimal,
    /// Part of `quantity` the free tier covered.
    pub free: Decimal,
    /// Charge after tiers and the free tier.
    pub amount: Decimal,
}

/// The Lambda charges of one month.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthlyLambdaBill {
    /// The month, or `None` for undated invocations.
    pub month: Option<BillingMonth>,
    /// Invocations in the month.
    pub invocations: u64,
    /// Charge lines in key order.
    pub lines: Vec<ChargeLine>,
    /// Sum of the lines.
    pub total: Decimal,
    /// Billed only when every invocation's duration was billed.
    pub basis: Basis,
}

impl MonthlyLambdaBill {
    /// Returns the line for `key`, if the month used it.
    #[must_use]
    pub fn line(&self, key: &str) -> Option<&ChargeLine> {
        self.lines.iter().find(|line| line.key == key)
    }
}

/// The cost of one [`LambdaUsage`] record, per invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvocationCost {
    /// Lambda request id.
    pub request_id: String,
    /// Function name, when known.
    pub function: Option<String>,
    /// W3C trace id, when known.
    pub trace_id: Option<String>,
    /// Month the invocation was billed in.
    pub month: Option<BillingMonth>,
    /// Number of identical invocations the record stands for; the amounts below are per
    /// invocation.
    pub count: u64,
    /// GB-seconds of one invocation.
    pub gb_seconds: Decimal,
    /// Duration charge (on-demand or provisioned-concurrency duration).
    pub compute: Decimal,
    /// Request charge.
    pub request: Decimal,
    /// Ephemeral storage charge above 512 MB.
    pub ephemeral_storage: Decimal,
    /// SnapStart restore charge.
    pub snapstart_restore: Decimal,
    /// Sum of the charges of one invocation.
    pub total: Decimal,
    /// Whether the duration was billed or estimated.
    pub basis: Basis,
    /// Assumptions behind the figure, such as an assumed architecture.
    pub assumptions: Vec<String>,
}

/// Monthly bills and per-invocation costs of a set of invocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LambdaCosts {
    /// One bill per month, earliest first, after the bill of undated invocations.
    pub bills: Vec<MonthlyLambdaBill>,
    /// One entry per usage record, in input order.
    pub invocations: Vec<InvocationCost>,
}

impl LambdaCosts {
    /// Returns the sum of the monthly bills.
    #[must_use]
    pub fn total(&self) -> Decimal {
        self.bills.iter().map(|bill| bill.total).sum()
    }
}

/// Prices invocations month by month and gives each one its share of the month's charges
/// by the average rule described in the module documentation.
#[must_use]
pub fn price_invocations(
    usages: &[LambdaUsage],
    book: &PriceBook,
    options: LambdaOptions,
) -> LambdaCosts {
    let mut months: BTreeMap<Option<BillingMonth>, Vec<usize>> = BTreeMap::new();
    for (index, usage) in usages.iter().enumerate() {
        months.entry(usage.month).or_default().push(index);
    }

    let mut bills = Vec::new();
    let mut invocations: Vec<Option<InvocationCost>> = vec![None; usages.len()];
    for (month, indices) in months {
        let mut quantities: BTreeMap<&'static str, Decimal> = BTreeMap::new();
        let mut count = 0_u64;
        let mut basis = Basis::Billed;
        for &index in &indices {
            let usage = &usages[index];
            count += usage.count;
            basis = basis.combine(usage.basis);
            for (key, quantity) in usage.charges() {
                *quantities.entry(key).or_default() += quantity * Decimal::from(usage.count);
            }
        }
        let lines = bill_lines(&quantities, book, options);
        for &index in &indices {
            invocations[index] = Some(allocate(&usages[index], &lines, book));
        }
        let total = lines.iter().map(|line| line.amount).sum();
        bills.push(MonthlyLambdaBill {
            month,
            invocations: count,
            lines,
            total,
            basis,
        });
    }

    LambdaCosts {
        bills,
        invocations: invocations.into_iter().flatten().collect(),
    }
}

/// Prices one invocation as if it were the only one of its month, with the free tier off:
/// every quantity falls in the first tier.
#[must_use]
pub fn price_invocation(usage: &LambdaUsage, book: &PriceBook) -> InvocationCost {
    let costs = price_invocations(
        std::slice::from_ref(usage),
        book,
        LambdaOptions { free_tier: false },
    );
    costs
        .invocations
        .into_iter()
        .next()
        .expect("one usage gives one cost")
}

/// Computes the charge lines of one month's quantities: tiers on each total, and the free
/// tier when switched on.
///
/// The free 400,000 GB-s are shared by both architectures: they go to x86_64 duration first,
/// because its price is the higher one, and the rest to arm64.
// NOTE: AWS does not document how the shared free GB-seconds split between architectures;
// x86_64 first gives the customer the larger saving.
fn bill_lines(
    quantities: &BTreeMap<&'static str, Decimal>,
    book: &PriceBook,
    options: LambdaOptions,
) -> Vec<ChargeLine> {
    let mut shared_free_gb_seconds = if options.free_tier {
        book.price("aws.lambda.duration.x86_64").free_per_month
    } else {
        Decimal::ZERO
    };
    let mut keys: Vec<&'static str> = quantities.keys().copied().collect();
    // x86_64 duration takes the shared free tier before arm64.
    keys.sort_by_key(|key| (*key != "aws.lambda.duration.x86_64", *key));

    let mut lines = Vec::new();
    for key in keys {
        let quantity = quantities[key];
        let price = book.price(key);
        let free = if !options.free_tier {
            Decimal::ZERO
        } else if key.starts_with("aws.lambda.duration.") {
            let free = shared_free_gb_seconds.min(quantity);
            shared_free_gb_seconds -= free;
            free
        } else if key == "aws.lambda.requests" {
            price.free_per_month.min(quantity)
        } else {
            Decimal::ZERO
        };
        lines.push(ChargeLine {
            key: key.to_owned(),
            quantity,
            free,
            amount: price.monthly_charge(quantity, free),
        });
    }
    lines.sort_by(|a, b| a.key.cmp(&b.key));
    lines
}

/// Gives one usage record its average-rule share of every line it contributes to.
fn allocate(usage: &LambdaUsage, lines: &[ChargeLine], book: &PriceBook) -> InvocationCost {
    let mut cost = InvocationCost {
        request_id: usage.request_id.clone(),
        function: usage.function.clone(),
        trace_id: usage.trace_id.clone(),
        month: usage.month,
        count: usage.count,
        gb_seconds: usage.gb_seconds(),
        compute: Decimal::ZERO,
        request: Decimal::ZERO,
        ephemeral_storage: Decimal::ZERO,
        snapstart_restore: Decimal::ZERO,
        total: Decimal::ZERO,
        basis: usage.basis,
        assumptions: Vec::new(),
    };
    if !usage.architecture_known {
        cost.assumptions
            .push("architecture not in the input: x86_64 assumed".to_owned());
    }
    let price_region = &book.price("aws.lambda.requests").region;
    if let Some(region) = usage
        .region
        .as_ref()
        .filter(|region| *region != price_region)
    {
        cost.assumptions.push(format!(
            "ran in {region} but priced at {price_region} prices: load a user pricing file with {region} prices"
        ));
    }
    for (key, quantity) in usage.charges() {
        let line = lines
            .iter()
            .find(|line| line.key == key)
            .expect("every charge of a usage has a line in its month");
        let share = if line.quantity.is_zero() || line.amount.is_zero() {
            Decimal::ZERO
        } else if quantity == line.quantity {
            line.amount
        } else {
            line.amount * quantity / line.quantity
        };
        match key {
            "aws.lambda.requests" => cost.request = share,
            "aws.lambda.ephemeral_storage" => cost.ephemeral_storage = share,
            "aws.lambda.snapstart_restore" => cost.snapstart_restore = share,
            _ => cost.compute = share,
        }
    }
    cost.total = cost.compute + cost.request + cost.ephemeral_storage + cost.snapstart_restore;
    cost
}

/// Computes a month's duration charge for `gb_seconds` on one architecture, with tiers and,
/// when `free_tier` is set, the 400,000 free GB-s.
#[must_use]
pub fn monthly_compute_charge(
    book: &PriceBook,
    architecture: Architecture,
    gb_seconds: Decimal,
    free_tier: bool,
) -> Decimal {
    let price = book.price(&format!(
        "aws.lambda.duration.{}",
        architecture_name(architecture)
    ));
    let free = if free_tier {
        price.free_per_month.min(gb_seconds)
    } else {
        Decimal::ZERO
    };
    price.monthly_charge(gb_seconds, free)
}

/// Computes the charge for keeping `concurrency` environments of `memory_mb` provisioned
/// for `seconds`. Invocations that run on them are priced separately, at the
/// provisioned-duration price.
#[must_use]
pub fn provisioned_concurrency_charge(
    book: &PriceBook,
    architecture: Architecture,
    memory_mb: u32,
    concurrency: u32,
    seconds: u64,
) -> Decimal {
    let price = book.price(&format!(
        "aws.lambda.provisioned_concurrency.{}",
        architecture_name(architecture)
    ));
    let gb_seconds = Decimal::from(memory_mb) / Decimal::from(1024)
        * Decimal::from(concurrency)
        * Decimal::from(seconds);
    gb_seconds * price.first_tier_price()
}

/// Computes the SnapStart cache charge for one published version with `memory_mb` kept
/// cached for `seconds`. Restores are charged per invocation, in [`price_invocations`].
#[must_use]
pub fn snapstart_cache_charge(book: &PriceBook, memory_mb: u32, seconds: u64) -> Decimal {
    let gb_seconds = Decimal::from(memory_mb) / Decimal::from(1024) * Decimal::from(seconds);
    gb_seconds * book.price("aws.lambda.snapstart_cache").first_tier_price()
}

/// A monthly projection from an observation window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Projection {
    /// Length of the window in seconds.
    pub window_seconds: u64,
    /// Factor the window's quantities were multiplied by: seconds in an average month
    /// divided by the window's seconds.
    pub factor: Decimal,
    /// The projected month, priced with tiers and the free tier.
    pub bill: MonthlyLambdaBill,
}

/// Projects a month of Lambda charges from the invocations of a window of `window_seconds`.
///
/// The window's quantities (requests, GB-seconds, storage, restores) are scaled linearly to
/// an average month of 2,629,746 s. The scaled totals are then priced with tiers and the
/// free tier, so a projection that crosses a tier boundary gets the lower price above it. The result is always an estimate.
#[must_use]
pub fn project_month(
    usages: &[LambdaUsage],
    window_seconds: u64,
    book: &PriceBook,
    options: LambdaOptions,
) -> Projection {
    let factor = Decimal::from(SECONDS_PER_MONTH) / Decimal::from(window_seconds.max(1));
    let mut quantities: BTreeMap<&'static str, Decimal> = BTreeMap::new();
    let mut count = 0_u64;
    for usage in usages {
        count += usage.count;
        for (key, quantity) in usage.charges() {
            *quantities.entry(key).or_default() += quantity * Decimal::from(usage.count);
        }
    }
    for quantity in quantities.values_mut() {
        *quantity *= factor;
    }
    let lines = bill_lines(&quantities, book, options);
    let total = lines.iter().map(|line| line.amount).sum();
    let projected_count = (Decimal::from(count) * factor).round();
    Projection {
        window_seconds,
        factor,
        bill: MonthlyLambdaBill {
            month: None,
            invocations: u64::try_from(projected_count).unwrap_or(u64::MAX),
            lines,
            total,
            basis: Basis::Estimated,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn estimate_rounds_by_era() {
        assert_eq!(
            estimate_billed_ms(133.61, Some(80.0), Some(BillingEra::InitBilled)),
            214
        );
        assert_eq!(estimate_billed_ms(133.61, Some(80.0), None), 214);
        assert_eq!(
            estimate_billed_ms(693.92, Some(397.68), Some(BillingEra::Rounded1Ms)),
            694
        );
        assert_eq!(
            estimate_billed_ms(5.2, None, Some(BillingEra::Rounded100Ms)),
            100
        );
        assert_eq!(
            estimate_billed_ms(100.0, None, Some(BillingEra::Rounded100Ms)),
            100
        );
    }

    #[test]
    fn estimated_usage_is_labelled() {
        let usage = LambdaUsage::estimated("r", 128, 133.61, Some(80.0), None);
        let cost = price_invocation(&usage, &PriceBook::built_in());
        assert_eq!(cost.basis, Basis::Estimated);
        assert_eq!(cost.gb_seconds, dec("0.02675"));
        assert_eq!(cost.assumptions.len(), 1);
    }

    #[test]
    fn gb_seconds_are_exact() {
        assert_eq!(gb_seconds(610, 3009), dec("1.792470703125"));
        assert_eq!(gb_seconds(662, 512), dec("0.331"));
    }
}
