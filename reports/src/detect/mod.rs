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
/// over values that narrows each run to the values still in range, until few are left.
fn kth(runs: &[&[f64]], k: usize) -> f64 {
    /// Values few enough to select among directly.
    const FEW: usize = 64;
    if let [run] = runs {
        return run[k];
    }
    let mut windows: Vec<&[f64]> = runs.iter().copied().filter(|run| !run.is_empty()).collect();
    // The result is the `k`-th smallest of the values left in `windows`.
    let mut k = k;
    loop {
        let total: usize = windows.iter().map(|window| window.len()).sum();
        if let [window] = windows.as_slice() {
            return window[k];
        }
        if total <= FEW {
            let mut few: Vec<f64> = windows.concat();
            let (_, value, _) = few.select_nth_unstable_by(k, f64::total_cmp);
            return *value;
        }
        let ends = windows
            .iter()
            .map(|window| (order_key(window[0]), order_key(window[window.len() - 1])));
        let (low, high) = ends.fold((u64::MAX, 0), |(low, high), (first, last)| {
            (low.min(first), high.max(last))
        });
        if low == high {
            return from_order_key(low);
        }
        let middle = low + (high - low) / 2;
        let counts: Vec<usize> = windows
            .iter()
            .map(|window| window.partition_point(|value| order_key(*value) <= middle))
            .collect();
        let at_or_below: usize = counts.iter().sum();
        let below = at_or_below > k;
        if !below {
            k -= at_or_below;
        }
        for (window, count) in windows.iter_mut().zip(counts) {
            *window = if below {
                &window[..count]
            } else {
                &window[count..]
            };
        }
        windows.retain(|window| !window.is_empty());
    }
}

/// Values in runs sorted by [`f64::total_cmp`], read as their sorted union without
/// merging them. NaN values are left out.
#[derive(Debug, Clone, Default)]
pub struct SortedRuns<'a> {
    runs: Vec<&'a [f64]>,
    len: usize,
}

impl<'a> SortedRuns<'a> {
    /// Creates the view of runs that are each sorted by [`f64::total_cmp`].
    #[must_use]
    pub fn new(runs: impl IntoIterator<Item = &'a [f64]>) -> Self {
        // `total_cmp` puts negative NaN first and positive NaN last.
        let runs: Vec<&[f64]> = runs
            .into_iter()
            .map(|run| {
                let start = run.partition_point(|value| value.is_nan() && value.is_sign_negative());
                let end =
                    run.partition_point(|value| !(value.is_nan() && value.is_sign_positive()));
                &run[start..end.max(start)]
            })
            .filter(|run| !run.is_empty())
            .collect();
        let len = runs.iter().map(|run| run.len()).sum();
        Self { runs, len }
    }

    /// Returns the number of values.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns whether there are no values.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns the runs.
    #[must_use]
    pub fn runs(&self) -> &[&'a [f64]] {
        &self.runs
    }

    /// Returns the `q` quantile, as [`quantile`] computes it on the sorted union; NaN when
    /// there are no values.
    #[must_use]
    pub fn quantile(&self, q: f64) -> f64 {
        run_quantile(&self.runs, q)
    }

    /// Returns the `k`-th smallest value, from 0. `k` must be less than the length.
    #[must_use]
    pub fn kth(&self, k: usize) -> f64 {
        debug_assert!(k < self.len);
        kth(&self.runs, k)
    }

    /// Returns the number of values above `threshold`.
    #[must_use]
    pub fn above(&self, threshold: f64) -> usize {
        let key = order_key(threshold);
        self.runs
            .iter()
            .map(|run| run.len() - run.partition_point(|value| order_key(*value) <= key))
            .sum()
    }

    /// Returns the values of ranks `low..=high` of the sorted union, merged, with the rank of
    /// the first one, which is at most `low`. Values equal to the ones at `low` and `high`
    /// are all included.
    fn ranks(&self, low: usize, high: usize) -> (usize, Vec<f64>) {
        let (from, to) = (order_key(self.kth(low)), order_key(self.kth(high)));
        let mut first = 0;
        let mut values = Vec::new();
        for run in &self.runs {
            let start = run.partition_point(|value| order_key(*value) < from);
            let end = run.partition_point(|value| order_key(*value) <= to);
            first += start;
            values.extend_from_slice(&run[start..end]);
        }
        // Values equal by `total_cmp` have the same bits, so any sort gives the same order.
        values.sort_unstable_by(f64::total_cmp);
        (first, values)
    }
}

/// Reads values of a [`SortedRuns`] by rank, from the merged values near one rank, else by
/// searching the runs.
pub(crate) struct RankReader<'r, 'a> {
    runs: &'r SortedRuns<'a>,
    first: usize,
    near: Vec<f64>,
}

impl<'r, 'a> RankReader<'r, 'a> {
    /// Merges the values within `spread` ranks of `rank`.
    pub(crate) fn near(runs: &'r SortedRuns<'a>, rank: usize, spread: usize) -> Self {
        if runs.is_empty() {
            return Self {
                runs,
                first: 0,
                near: Vec::new(),
            };
        }
        let last = runs.len() - 1;
        let (first, near) = runs.ranks(
            rank.saturating_sub(spread).min(last),
            rank.saturating_add(spread).min(last),
        );
        Self { runs, first, near }
    }

    /// Returns the value of rank `k`, from 0.
    pub(crate) fn at(&self, k: usize) -> f64 {
        match k.checked_sub(self.first) {
            Some(at) if at < self.near.len() => self.near[at],
            _ => self.runs.kth(k),
        }
    }
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

    /// Every rank of the union of runs, and the count above each value, match the merged
    /// and sorted values, with repeats, both zeros and NaN of both signs in the runs.
    #[test]
    fn sorted_runs_read_like_their_sorted_union() {
        let mut seed = 0x2545_f491_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..40 {
            let runs: Vec<Vec<f64>> = (0..=(round % 7))
                .map(|_| {
                    let length = (next() % 90) as usize;
                    let mut run: Vec<f64> = (0..length)
                        .map(|_| match next() % 12 {
                            0 => -0.0,
                            1 => 0.0,
                            2 => f64::NAN,
                            3 => -f64::NAN,
                            _ => (next() % 40) as f64 / 4.0 - 3.0,
                        })
                        .collect();
                    run.sort_by(f64::total_cmp);
                    run
                })
                .collect();
            let all: Vec<f64> = runs.concat();
            let union = sorted(&all);
            let view = SortedRuns::new(runs.iter().map(Vec::as_slice));
            assert_eq!(view.len(), union.len());
            for (rank, value) in union.iter().enumerate() {
                assert_eq!(view.kth(rank).to_bits(), value.to_bits(), "rank {rank}");
                let above = union
                    .iter()
                    .filter(|other| other.total_cmp(value).is_gt())
                    .count();
                assert_eq!(view.above(*value), above);
            }
            for q in [0.0, 0.3, 0.5, 0.95, 0.99, 1.0] {
                if !union.is_empty() {
                    assert_eq!(view.quantile(q).to_bits(), quantile(&union, q).to_bits());
                }
            }
            if !union.is_empty() {
                let middle = union.len() / 2;
                let reader = RankReader::near(&view, middle, 2);
                for (rank, value) in union.iter().enumerate() {
                    assert_eq!(reader.at(rank).to_bits(), value.to_bits());
                }
            }
        }
    }

    #[test]
    fn sorted_drops_nan() {
        assert_eq!(sorted(&[2.0, f64::NAN, 1.0]), [1.0, 2.0]);
    }
}
