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

/// Returns the `q` quantile of the union of runs sorted by [`f64::total_cmp`], as
/// [`quantile`] computes it on the sorted union, without merging the runs; NaN when they are
/// empty.
#[must_use]
pub fn run_quantile(runs: &[&[f64]], q: f64) -> f64 {
    let count: usize = runs.iter().map(|run| run.len()).sum();
    if count == 0 {
        return f64::NAN;
    }
    let position = q.clamp(0.0, 1.0) * (count - 1) as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let weight = position - below as f64;
    let lower = kth(runs, below);
    let upper = if above > below {
        kth(runs, above)
    } else {
        lower
    };
    lower + (upper - lower) * weight
}

/// Maps a number to an integer in the order of [`f64::total_cmp`].
pub(crate) fn order_key(value: f64) -> u64 {
    let bits = value.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    }
}

/// Returns the number whose [`order_key`] is `key`.
fn from_order_key(key: u64) -> f64 {
    if key >> 63 == 1 {
        f64::from_bits(key & !(1 << 63))
    } else {
        f64::from_bits(!key)
    }
}

/// Returns the `k`-th smallest value (from 0) of the union of sorted runs: a binary search
/// over values, counting the values at or below each in every run.
fn kth(runs: &[&[f64]], k: usize) -> f64 {
    let ends = || {
        runs.iter()
            .filter_map(|run| Some((run.first()?, run.last()?)))
    };
    let mut low = ends()
        .map(|(first, _)| order_key(*first))
        .min()
        .unwrap_or(0);
    let mut high = ends().map(|(_, last)| order_key(*last)).max().unwrap_or(0);
    while low < high {
        let middle = low + (high - low) / 2;
        let at_or_below: usize = runs
            .iter()
            .map(|run| run.partition_point(|value| order_key(*value) <= middle))
            .sum();
        if at_or_below > k {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    from_order_key(low)
}

/// Returns `values` sorted, leaving out NaN: the values themselves when they already are,
/// else a sorted copy.
#[must_use]
pub fn sorted_view(values: &[f64]) -> std::borrow::Cow<'_, [f64]> {
    let in_order = values
        .windows(2)
        .all(|pair| pair[0].total_cmp(&pair[1]).is_le());
    if in_order && !values.iter().any(|value| value.is_nan()) {
        std::borrow::Cow::Borrowed(values)
    } else {
        std::borrow::Cow::Owned(sorted(values))
    }
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
