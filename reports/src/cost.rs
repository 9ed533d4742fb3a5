//! Shared vocabulary of priced results: where a figure comes from and the billing month.

use std::fmt;

use rust_decimal::Decimal;

/// Whether a cost rests on a figure the provider billed or on an estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Basis {
    /// Priced from a billed quantity as the platform printed it (`Billed Duration`).
    Billed,
    /// Priced from an estimated quantity: a duration without `Billed Duration`, a
    /// downstream call inferred from span attributes, or a projection.
    Estimated,
}

impl Basis {
    /// Returns the basis of a sum: billed only when every part is billed.
    #[must_use]
    pub fn combine(self, other: Self) -> Self {
        self.max(other)
    }

    /// Returns `billed` or `estimate`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Billed => "billed",
            Self::Estimated => "estimate",
        }
    }
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A calendar month (UTC), the period that volume tiers and free tiers reset on.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct BillingMonth {
    /// Year, for example 2026.
    pub year: i32,
    /// Month, 1 to 12.
    pub month: u8,
}

impl fmt::Display for BillingMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Seconds in an average Gregorian month (365.2425 / 12 days), used by projections.
pub const SECONDS_PER_MONTH: u64 = 2_629_746;

/// Formats an amount without trailing zeros, so `18.333370` prints as `18.33337`.
#[must_use]
pub fn format_amount(amount: Decimal) -> String {
    amount.normalize().to_string()
}
