//! Statistical detectors: latency regressions between two windows and change points in a
//! series.
//!
//! - [`latency::compare`] tests whether more invocations of a current window exceed the
//!   pooled 95th percentile than chance allows (a one-sided Fisher exact test on the
//!   exceedance counts). A shift confined to the tail moves these counts even when the
//!   median does not, which a rank test such as Mann-Whitney misses. The verdict needs both
//!   significance and a p95 ratio of at least 1.05, and it is "insufficient samples" below
//!   the size the test needs, never a pass or a fail.
//! - [`change_point::change_points`] finds where the level of a series, such as daily p95
//!   latency, shifts: E-divisive means picks the split, and a Welch t-test over a window
//!   on each side decides whether it is real.
//! - [`spiral`] finds spend that grows without traffic or buys nothing: recursive loops,
//!   timeouts, oversized memory, INIT time, rising cost per invocation and budget overruns.

pub mod change_point;
pub mod latency;
pub mod spiral;

/// Returns the `q` quantile of `sorted` (ascending, not empty) by linear interpolation
/// between order statistics (Hyndman and Fan's type 7, the default of R and NumPy).
#[must_use]
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    debug_assert!(!sorted.is_empty());
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let weight = position - below as f64;
    sorted[below] + (sorted[above] - sorted[below]) * weight
}

/// Sorts a copy of `values`, leaving out NaN.
#[must_use]
pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = values
        .iter()
        .copied()
        .filter(|value| !value.is_nan())
        .collect();
    sorted.sort_by(f64::total_cmp);
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_like_numpy() {
        let values = sorted(&[4.0, 1.0, 3.0, 2.0, 5.0]);
        assert!((quantile(&values, 0.95) - 4.8).abs() < 1e-12);
        assert!((quantile(&values, 0.5) - 3.0).abs() < 1e-12);
        assert!((quantile(&values, 0.0) - 1.0).abs() < 1e-12);
        assert!((quantile(&values, 1.0) - 5.0).abs() < 1e-12);
    }

    #[test]
    fn sorted_drops_nan() {
        assert_eq!(sorted(&[2.0, f64::NAN, 1.0]), [1.0, 2.0]);
    }
}
