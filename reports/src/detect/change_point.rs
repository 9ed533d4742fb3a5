//! Change points in a series: E-divisive means to place each split, a Welch t-test to keep
//! only the real ones.
//!
//! The series is split recursively. In each segment, the split maximises the E-divisive
//! statistic (Matteson and James, 2014, with exponent 1): how far apart the two sides are,
//! measured by mean absolute differences, weighted by their sizes. A split is kept when a
//! Welch t-test between the `window` points on each side gives p at most `alpha`, and when
//! the means differ by at least `min_change` of the earlier one. The two sides of a kept
//! split are then searched in turn.

use statrs::distribution::{ContinuousCDF as _, StudentsT};

/// Thresholds of the change-point search.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChangePointSettings {
    /// Points on each side of a split that the t-test compares.
    pub window: usize,
    /// Largest two-sided p-value that keeps a split.
    pub alpha: f64,
    /// Smallest relative change of the mean that keeps a split.
    pub min_change: f64,
    /// Minimum number of points on each side of a split.
    pub min_segment: usize,
}

impl Default for ChangePointSettings {
    fn default() -> Self {
        Self {
            window: 50,
            alpha: 0.001,
            min_change: 0.05,
            min_segment: 3,
        }
    }
}

/// A shift in the level of the series.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePoint {
    /// Index of the first point after the shift.
    pub index: usize,
    /// Mean of the window before the shift.
    pub before: f64,
    /// Mean of the window after the shift.
    pub after: f64,
    /// `(after - before) / before`.
    pub relative_change: f64,
    /// Two-sided p-value of the Welch t-test.
    pub p_value: f64,
}

/// Returns the change points of `series`, by index.
#[must_use]
pub fn change_points(series: &[f64], settings: &ChangePointSettings) -> Vec<ChangePoint> {
    let mut found = Vec::new();
    let mut segments = vec![(0, series.len())];
    while let Some((start, end)) = segments.pop() {
        let Some(split) = best_split(&series[start..end], settings.min_segment) else {
            continue;
        };
        let index = start + split;
        let window_start = index.saturating_sub(settings.window).max(start);
        let window_end = (index + settings.window).min(end);
        let (before, after) = (&series[window_start..index], &series[index..window_end]);
        let Some(p_value) = welch_p_value(before, after) else {
            continue;
        };
        let (before_mean, after_mean) = (mean(before), mean(after));
        let relative_change = (after_mean - before_mean) / before_mean;
        if p_value <= settings.alpha && relative_change.abs() >= settings.min_change {
            found.push(ChangePoint {
                index,
                before: before_mean,
                after: after_mean,
                relative_change,
                p_value,
            });
            segments.push((start, index));
            segments.push((index, end));
        }
    }
    found.sort_by_key(|point| point.index);
    found
}

/// Returns the split of `values` that maximises the E-divisive statistic, with at least
/// `min_segment` points on each side.
fn best_split(values: &[f64], min_segment: usize) -> Option<usize> {
    let n = values.len();
    let min_segment = min_segment.max(2);
    if n < 2 * min_segment {
        return None;
    }

    // Sums of |x_i - x_j| within the left side, within the right side and between them,
    // updated as the split moves right one point at a time: O(n^2) in all.
    let distance = |i: usize, j: usize| (values[i] - values[j]).abs();
    let mut within_left = 0.0;
    let mut within_right: f64 = (0..n)
        .flat_map(|i| (i + 1..n).map(move |j| (i, j)))
        .map(|(i, j)| distance(i, j))
        .sum();
    let mut between = 0.0;
    let mut best: Option<(usize, f64)> = None;
    for k in 1..n {
        // Point k - 1 moves from the right side to the left.
        let moved = k - 1;
        let to_left: f64 = (0..moved).map(|i| distance(i, moved)).sum();
        let to_right: f64 = (moved + 1..n).map(|j| distance(moved, j)).sum();
        within_left += to_left;
        within_right -= to_right;
        between += to_right - to_left;

        let (m, r) = (k as f64, (n - k) as f64);
        if k < min_segment || n - k < min_segment {
            continue;
        }
        let statistic = (m * r / (m + r))
            * (2.0 * between / (m * r)
                - 2.0 * within_left / (m * (m - 1.0))
                - 2.0 * within_right / (r * (r - 1.0)));
        if best.is_none_or(|(_, value)| statistic > value) {
            best = Some((k, statistic));
        }
    }
    best.map(|(k, _)| k)
}

fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

fn variance(values: &[f64], mean: f64) -> f64 {
    values
        .iter()
        .map(|value| (value - mean).powi(2))
        .sum::<f64>()
        / (values.len() as f64 - 1.0)
}

/// Two-sided p-value of Welch's t-test; `None` with fewer than two points a side.
fn welch_p_value(left: &[f64], right: &[f64]) -> Option<f64> {
    if left.len() < 2 || right.len() < 2 {
        return None;
    }
    let (mean_left, mean_right) = (mean(left), mean(right));
    let left_term = variance(left, mean_left) / left.len() as f64;
    let right_term = variance(right, mean_right) / right.len() as f64;
    let standard_error = (left_term + right_term).sqrt();
    if standard_error == 0.0 {
        // Two constant sides: any difference of the means is certain.
        let same = (mean_left - mean_right).abs() <= f64::EPSILON * mean_left.abs().max(1.0);
        return Some(if same { 1.0 } else { 0.0 });
    }
    let t = (mean_right - mean_left) / standard_error;
    let freedom = (left_term + right_term).powi(2)
        / (left_term.powi(2) / (left.len() as f64 - 1.0)
            + right_term.powi(2) / (right.len() as f64 - 1.0));
    let distribution = StudentsT::new(0.0, 1.0, freedom).ok()?;
    Some(2.0 * distribution.sf(t.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic wobble of about ±2% around `level`.
    fn noisy(level: f64, count: usize, phase: usize) -> Vec<f64> {
        (0..count)
            .map(|i| level * (1.0 + 0.02 * (((i + phase) * 7919 % 13) as f64 / 6.0 - 1.0)))
            .collect()
    }

    #[test]
    fn one_step_is_found_where_it_is() {
        let mut series = noisy(100.0, 30, 0);
        series.extend(noisy(130.0, 30, 5));
        let points = change_points(&series, &ChangePointSettings::default());

        assert_eq!(points.len(), 1, "{points:?}");
        assert_eq!(points[0].index, 30);
        assert!((points[0].relative_change - 0.3).abs() < 0.02);
        assert!(points[0].p_value < 1e-6);
    }

    #[test]
    fn two_steps_are_both_found() {
        let mut series = noisy(100.0, 25, 0);
        series.extend(noisy(150.0, 25, 3));
        series.extend(noisy(110.0, 25, 7));
        let indexes: Vec<usize> = change_points(&series, &ChangePointSettings::default())
            .iter()
            .map(|point| point.index)
            .collect();
        assert_eq!(indexes, [25, 50]);
    }

    #[test]
    fn flat_series_has_none() {
        let series = noisy(100.0, 60, 0);
        assert!(change_points(&series, &ChangePointSettings::default()).is_empty());
    }

    #[test]
    fn step_below_min_change_is_ignored() {
        let mut series = noisy(100.0, 40, 0);
        series.extend(noisy(103.0, 40, 1));
        let points = change_points(
            &series,
            &ChangePointSettings {
                alpha: 0.5,
                ..ChangePointSettings::default()
            },
        );
        assert!(points.is_empty(), "{points:?}");
    }

    #[test]
    fn short_series_has_none() {
        assert!(change_points(&[1.0, 5.0, 1.0], &ChangePointSettings::default()).is_empty());
    }
}
