//! The per-invocation cost estimate attached to each invocation span.
//!
//! The handler cannot see the platform's billed duration, so the estimate uses the measured
//! handler duration rounded up to the next millisecond, the configured memory size and the
//! first-tier prices. Spans mark it as an estimate; reports replace it with the billed figure
//! from platform data when they have one.

use std::time::Duration;

use crate::environment::Architecture;

/// Prices for the estimate, in USD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostRates {
    /// Price of one GB-second on `x86_64`.
    pub gb_second_x86_64: f64,
    /// Price of one GB-second on `arm64`.
    pub gb_second_arm64: f64,
    /// Price of one request.
    pub request: f64,
}

impl Default for CostRates {
    /// First-tier AWS Lambda prices in us-east-1 (AWS price list, September 2026): $0.0000166667
    /// per GB-second on `x86_64`, $0.0000133334 on `arm64`, $0.20 per million requests.
    fn default() -> Self {
        Self {
            gb_second_x86_64: 0.000_016_666_7,
            gb_second_arm64: 0.000_013_333_4,
            request: 0.000_000_2,
        }
    }
}

impl CostRates {
    /// Estimates the cost of one invocation that ran for `duration` with `memory_mb`.
    #[must_use]
    pub fn estimate(&self, duration: Duration, memory_mb: u32, architecture: Architecture) -> f64 {
        // Whole seconds plus the rounded-up rest, which avoids a 128-bit division.
        let billed_ms =
            duration.as_secs() * 1000 + u64::from(duration.subsec_nanos().div_ceil(1_000_000));
        let billed_ms = billed_ms as f64;
        let gb_seconds = billed_ms / 1000.0 * f64::from(memory_mb) / 1024.0;
        let price = match architecture {
            Architecture::X86_64 => self.gb_second_x86_64,
            Architecture::Arm64 => self.gb_second_arm64,
        };
        gb_seconds * price + self.request
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_rounds_up_to_the_millisecond() {
        let rates = CostRates::default();

        // 662 ms at 512 MB is 0.331 GB-s.
        let cost = rates.estimate(Duration::from_micros(661_010), 512, Architecture::X86_64);
        let expected = 0.331 * 0.000_016_666_7 + 0.000_000_2;
        assert!((cost - expected).abs() < 1e-15, "{cost} != {expected}");
    }

    #[test]
    fn estimate_rounds_only_a_partial_millisecond() {
        let rates = CostRates::default();
        let exact = rates.estimate(Duration::from_secs(2), 1024, Architecture::X86_64);
        let over = rates.estimate(Duration::new(2, 1), 1024, Architecture::X86_64);
        let expected_exact = 2.0 * 0.000_016_666_7 + 0.000_000_2;
        let expected_over = 2.001 * 0.000_016_666_7 + 0.000_000_2;
        assert!(
            (exact - expected_exact).abs() < 1e-15,
            "{exact} != {expected_exact}"
        );
        assert!(
            (over - expected_over).abs() < 1e-15,
            "{over} != {expected_over}"
        );
    }

    #[test]
    fn estimate_uses_the_arm_price() {
        let rates = CostRates::default();
        let cost = rates.estimate(Duration::from_millis(662), 512, Architecture::Arm64);
        let expected = 0.331 * 0.000_013_333_4 + 0.000_000_2;
        assert!((cost - expected).abs() < 1e-15, "{cost} != {expected}");
    }
}
