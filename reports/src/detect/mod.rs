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

/// Returns the `q` quantile of `values` (not empty) as [`quantile`] computes it on the
/// sorted values, reordering `values` by selection instead of sorting them: linear time.
#[must_use]
pub fn select_quantile(values: &mut [f64], q: f64) -> f64 {
    debug_assert!(!values.is_empty());
    let position = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let weight = position - below as f64;
    let (_, lower, right) = values.select_nth_unstable_by(below, f64::total_cmp);
    let lower = *lower;
    let upper = if above > below {
        right
            .iter()
            .copied()
            .min_by(f64::total_cmp)
            .unwrap_or(lower)
    } else {
        lower
    };
    lower + (upper - lower) * weight
}

/// Sorts a copy of `values`, leaving out NaN.
#[must_use]
pub fn sorted(values: &[f64]) -> Vec<f64> {
    let mut sorted: Vec<f64> = values
        .iter()
        .copied()
        .filter(|value| !value.is_nan())
        .collect();
    // Values equal by `total_cmp` have the same bits, so an unstable sort gives the same
    // result as a stable one.
    sorted.sort_unstable_by(f64::total_cmp);
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
    fn selection_matches_the_sorted_quantile() {
        let values: Vec<f64> = (0..1001)
            .map(|i| f64::from((i * 7919) % 1009) / 3.0)
            .collect();
        let ordered = sorted(&values);
        for q in [0.0, 0.01, 0.5, 0.95, 0.99, 1.0] {
            let mut copy = values.clone();
            assert_eq!(
                select_quantile(&mut copy, q).to_bits(),
                quantile(&ordered, q).to_bits()
            );
        }
        let mut single = [4.5];
        assert_eq!(
            select_quantile(&mut single, 0.95).to_bits(),
            4.5_f64.to_bits()
        );
    }

    #[test]
    fn sorted_drops_nan() {
        assert_eq!(sorted(&[2.0, f64::NAN, 1.0]), [1.0, 2.0]);
    }
}
