//! Latency regression between a baseline window and a current window.

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use rand_distr::{Beta, Distribution as _};

use super::{RankReader, SortedRuns, quantile, run_quantile, sorted_view};

/// Thresholds of the latency test.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LatencySettings {
    /// The quantile whose exceedances are counted.
    pub quantile: f64,
    /// Largest p-value that counts as significant.
    pub alpha: f64,
    /// Smallest ratio of current to baseline p95 that counts as a regression.
    pub min_ratio: f64,
    /// Smallest increase of the p95 that counts as a regression, in the unit of the samples
    /// (milliseconds in reports). Lambda bills in 1 ms steps, so a span that moves from 20 to
    /// 24 µs is a significant but immaterial shift.
    pub min_increase_ms: f64,
    /// Minimum number of samples in each window for a verdict.
    pub min_samples: usize,
    /// Bootstrap resamples for the interval of the p95 ratio; 0 skips the interval.
    pub bootstrap_resamples: usize,
    /// Coverage of that interval.
    pub confidence: f64,
    /// Seed of the bootstrap, so a report is reproducible.
    pub seed: u64,
}

impl Default for LatencySettings {
    /// The thresholds for a report over many functions and span names: p < 0.001 and a p95
    /// ratio of at least 1.05, with at least 400 samples per window. 400 samples put about
    /// 40 values above the pooled p95, enough for a p-value below 0.001 when the tail
    /// shifts; detecting a 10% p95 shift with 90% power takes about 6,000 per window
    /// (`tests/latency_simulation.rs`, log-normal latencies with σ = 0.5).
    fn default() -> Self {
        Self {
            quantile: 0.95,
            alpha: 0.001,
            min_ratio: 1.05,
            min_increase_ms: 1.0,
            min_samples: 400,
            bootstrap_resamples: 1000,
            confidence: 0.95,
            seed: 0x5eed,
        }
    }
}

impl LatencySettings {
    /// The thresholds for a single function that gates a CI job: p < 0.01, because one
    /// test does not need the correction that many tests in one report need.
    #[must_use]
    pub fn gated() -> Self {
        Self {
            alpha: 0.01,
            ..Self::default()
        }
    }
}

/// The outcome of a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Significant and at least the minimum ratio.
    Regression,
    /// Not significant, or below the minimum ratio or increase.
    NoRegression,
    /// A window has fewer samples than the test needs.
    InsufficientSamples,
}

/// A comparison with its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyComparison {
    /// The outcome.
    pub verdict: Verdict,
    /// Samples in the baseline window.
    pub baseline_samples: usize,
    /// Samples in the current window.
    pub current_samples: usize,
    /// Baseline p95, in the unit of the samples.
    pub baseline_p95: f64,
    /// Current p95.
    pub current_p95: f64,
    /// `current_p95 / baseline_p95`.
    pub ratio: f64,
    /// Bootstrap percentile interval of the ratio, when computed.
    pub ratio_interval: Option<(f64, f64)>,
    /// The pooled quantile whose exceedances are counted.
    pub threshold: f64,
    /// Baseline samples above the threshold.
    pub baseline_exceedances: u64,
    /// Current samples above the threshold.
    pub current_exceedances: u64,
    /// One-sided p-value: the chance of at least this many current exceedances if both
    /// windows came from one distribution. `None` without a verdict.
    pub p_value: Option<f64>,
}

/// Compares the latencies of `current` with `baseline`. NaN samples are left out.
#[must_use]
pub fn compare(baseline: &[f64], current: &[f64], settings: &LatencySettings) -> LatencyComparison {
    let baseline = sorted_view(baseline);
    let current = sorted_view(current);
    compare_runs(
        &SortedRuns::new([&*baseline]),
        &SortedRuns::new([&*current]),
        settings,
    )
}

/// Compares the latencies of `current` with `baseline`, each given as sorted runs, as
/// [`compare`] does on their sorted unions.
#[must_use]
pub fn compare_runs(
    baseline: &SortedRuns<'_>,
    current: &SortedRuns<'_>,
    settings: &LatencySettings,
) -> LatencyComparison {
    let enough = baseline.len() >= settings.min_samples.max(1)
        && current.len() >= settings.min_samples.max(1);
    let baseline_p95 = baseline.quantile(settings.quantile);
    let current_p95 = current.quantile(settings.quantile);
    let ratio = current_p95 / baseline_p95;

    // The pooled quantile, found in both windows' runs without merging them.
    let pooled: Vec<&[f64]> = baseline
        .runs()
        .iter()
        .chain(current.runs())
        .copied()
        .collect();
    let threshold = run_quantile(&pooled, settings.quantile);
    let baseline_exceedances = baseline.above(threshold) as u64;
    let current_exceedances = current.above(threshold) as u64;

    if !enough {
        return LatencyComparison {
            verdict: Verdict::InsufficientSamples,
            baseline_samples: baseline.len(),
            current_samples: current.len(),
            baseline_p95,
            current_p95,
            ratio,
            ratio_interval: None,
            threshold,
            baseline_exceedances,
            current_exceedances,
            p_value: None,
        };
    }

    let p_value = exceedance_p_value(
        (baseline.len() + current.len()) as u64,
        baseline_exceedances + current_exceedances,
        current.len() as u64,
        current_exceedances,
    );
    let material =
        ratio >= settings.min_ratio && current_p95 - baseline_p95 >= settings.min_increase_ms;
    let verdict = if p_value < settings.alpha && material {
        Verdict::Regression
    } else {
        Verdict::NoRegression
    };
    let ratio_interval =
        (settings.bootstrap_resamples > 0).then(|| bootstrap_ratio(baseline, current, settings));
    LatencyComparison {
        verdict,
        baseline_samples: baseline.len(),
        current_samples: current.len(),
        baseline_p95,
        current_p95,
        ratio,
        ratio_interval,
        threshold,
        baseline_exceedances,
        current_exceedances,
        p_value: Some(p_value),
    }
}

/// P(X >= `observed`) for X, the exceedances that fall in a window of `window` samples when
/// `exceedances` of `population` samples exceed the threshold and land at random:
/// hypergeometric, so the test is exact for any sample size.
///
/// The probabilities of neighbouring counts differ by a known ratio, so the tail is summed
/// from its largest term outwards with one multiplication per term, and stops once the
/// terms left cannot change the sum. The distribution is log-concave, so from the mode
/// outwards each ratio is smaller than the one before and the terms left sum to less than
/// `term * ratio / (1 - ratio)`.
fn exceedance_p_value(population: u64, exceedances: u64, window: u64, observed: u64) -> f64 {
    let (n, k, draws) = (population, exceedances, window);
    if k > n || draws > n {
        return 1.0;
    }
    let min_count = (draws + k).saturating_sub(n);
    let max_count = k.min(draws);
    if observed <= min_count {
        return 1.0;
    }
    if observed > max_count {
        return 0.0;
    }
    let mode = ((u128::from(draws) + 1) * (u128::from(k) + 1) / (u128::from(n) + 2)) as u64;
    // The probability of x, and the ratios of the probabilities of x + 1 and x - 1 to it.
    let probability =
        |x: u64| (ln_binomial(k, x) + ln_binomial(n - k, draws - x) - ln_binomial(n, draws)).exp();
    // Counts of non-exceedances outside the window: at least 0 for x >= `min_count`.
    let rest = |x: u64| (n - k + x - draws) as f64;
    let up = |x: u64| ((k - x) as f64 * (draws - x) as f64) / ((x + 1) as f64 * (rest(x) + 1.0));
    let down = |x: u64| (x as f64 * rest(x)) / ((k - x + 1) as f64 * (draws - x + 1) as f64);
    let tail = |start: u64, end: u64, step: &dyn Fn(u64) -> f64, upward: bool| {
        let mut term = probability(start);
        let mut sum = 0.0;
        let mut x = start;
        loop {
            sum += term;
            if x == end || term == 0.0 {
                return sum;
            }
            let ratio = step(x);
            term *= ratio;
            x = if upward { x + 1 } else { x - 1 };
            if ratio < 1.0 && term * ratio / (1.0 - ratio) <= sum * 1e-17 {
                return sum + term;
            }
        }
    };
    let p = if observed > mode {
        tail(observed, max_count, &up, true)
    } else {
        1.0 - tail(observed - 1, min_count, &down, false)
    };
    p.clamp(0.0, 1.0)
}

/// Returns ln C(n, k).
fn ln_binomial(n: u64, k: u64) -> f64 {
    statrs::function::factorial::ln_binomial(n, k)
}

/// Merges two sorted slices into one sorted vector.
pub(crate) fn merged(a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut merged = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].total_cmp(&b[j]).is_le() {
            merged.push(a[i]);
            i += 1;
        } else {
            merged.push(b[j]);
            j += 1;
        }
    }
    merged.extend_from_slice(&a[i..]);
    merged.extend_from_slice(&b[j..]);
    merged
}

/// Percentile bootstrap interval of the p95 ratio: each window is resampled with
/// replacement and the ratio recomputed.
fn bootstrap_ratio(
    baseline: &SortedRuns<'_>,
    current: &SortedRuns<'_>,
    settings: &LatencySettings,
) -> (f64, f64) {
    let q = settings.quantile.clamp(0.0, 1.0);
    let baseline_reader = reader_near(baseline, q);
    let current_reader = reader_near(current, q);
    let mut random = StdRng::seed_from_u64(settings.seed);
    let mut ratios: Vec<f64> = (0..settings.bootstrap_resamples)
        .map(|_| {
            let base = resampled_quantile(&baseline_reader, baseline.len(), q, &mut random);
            let now = resampled_quantile(&current_reader, current.len(), q, &mut random);
            now / base
        })
        .collect();
    ratios.sort_by(f64::total_cmp);
    let tail = (1.0 - settings.confidence) / 2.0;
    (quantile(&ratios, tail), quantile(&ratios, 1.0 - tail))
}

/// Merges the values that resampled `q` quantiles of `runs` almost always fall on: the
/// order statistic a resample draws has a standard deviation of about `sqrt(n q (1 - q))`
/// ranks, and the reader contains 12 of them on each side. Ranks outside are searched for.
fn reader_near<'r, 'a>(runs: &'r SortedRuns<'a>, q: f64) -> RankReader<'r, 'a> {
    let count = runs.len() as f64;
    let rank = (q * (count - 1.0).max(0.0)).floor() as usize;
    let spread = 12.0 * (count * q * (1.0 - q)).sqrt() + 32.0;
    RankReader::near(runs, rank, spread as usize)
}

/// Draws the `q` quantile (interpolated as [`quantile`] does) of one bootstrap resample of
/// the `count` sorted values that `sorted` reads by rank, in constant time instead of
/// building and sorting the resample.
///
/// The k-th smallest of n values drawn with replacement from `sorted` is `sorted` at the
/// k-th smallest of n uniforms, U(k), which follows Beta(k, n - k + 1). Given U(k), the
/// next one is U(k) + (1 - U(k)) V with V ~ Beta(1, n - k), the least of n - k uniforms.
/// So the two order statistics the interpolation needs are drawn from their exact joint
/// distribution.
fn resampled_quantile(
    sorted: &RankReader<'_, '_>,
    count: usize,
    q: f64,
    random: &mut StdRng,
) -> f64 {
    if count == 1 {
        return sorted.at(0);
    }
    let position = q * (count - 1) as f64;
    let below = position.floor() as usize;
    let weight = position - below as f64;
    // 1-based rank of the lower order statistic.
    let rank = below + 1;
    let lower =
        Beta::new(rank as f64, (count - rank + 1) as f64).map_or(0.5, |beta| beta.sample(random));
    let upper = if rank < count {
        let least = 1.0 - random.random::<f64>().powf(1.0 / (count - rank) as f64);
        lower + (1.0 - lower) * least
    } else {
        lower
    };
    let value_at = |uniform: f64| {
        let index = ((uniform * count as f64).ceil() as usize).clamp(1, count) - 1;
        sorted.at(index)
    };
    let low = value_at(lower);
    low + (value_at(upper) - low) * weight
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tail summed by ratios matches the sum of every probability term (statrs), over
    /// small and large populations, both sides of the mode and the edges of the support.
    #[test]
    fn exceedance_tail_matches_term_sums() {
        use statrs::distribution::{DiscreteCDF as _, Hypergeometric};
        let cases: [(u64, u64, u64); 6] = [
            (10, 3, 4),
            (40, 20, 30),
            (800, 40, 400),
            (2_000, 100, 1_500),
            (20_000, 1_000, 6_000),
            (500_000, 25_000, 166_000),
        ];
        for (population, exceedances, window) in cases {
            let distribution = Hypergeometric::new(population, exceedances, window).unwrap();
            let max_count = exceedances.min(window);
            let mean = exceedances * window / population;
            let spread = (mean / 4).max(3);
            let observed = (0..=max_count.min(12))
                .chain(
                    (mean.saturating_sub(spread)..=(mean + spread).min(max_count))
                        .step_by((spread / 10).max(1) as usize),
                )
                .chain(max_count.saturating_sub(3)..=max_count + 1);
            for observed in observed {
                let expected = if observed == 0 {
                    1.0
                } else {
                    distribution.sf(observed - 1).clamp(0.0, 1.0)
                };
                let p = exceedance_p_value(population, exceedances, window, observed);
                // The logarithms of binomials near 10^5 carry errors of about 10^-10.
                let close =
                    (p - expected).abs() <= 1e-8 * expected || (p - expected).abs() <= 1e-15;
                assert!(
                    close,
                    "N={population} K={exceedances} n={window} x={observed}: {p} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn merged_equals_sorted_concatenation() {
        let mut random = StdRng::seed_from_u64(3);
        let mut draw = |count: usize| {
            let mut values: Vec<f64> = (0..count)
                .map(|_| f64::from(random.random_range(-5_i32..5)) * 0.5)
                .collect();
            values.push(-0.0);
            values.sort_by(f64::total_cmp);
            values
        };
        let (a, b) = (draw(200), draw(150));

        let mut expected = [a.as_slice(), b.as_slice()].concat();
        expected.sort_by(f64::total_cmp);
        let bits = |values: &[f64]| {
            values
                .iter()
                .map(|value| value.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&merged(&a, &b)), bits(&expected));
        assert_eq!(bits(&merged(&b, &[])), bits(&b));
    }

    fn ramp(count: usize, scale: f64) -> Vec<f64> {
        (0..count)
            .map(|i| scale * (1.0 + i as f64 / count as f64))
            .collect()
    }

    #[test]
    fn identical_windows_are_no_regression() {
        let values = ramp(1000, 100.0);
        let comparison = compare(&values, &values, &LatencySettings::default());
        assert_eq!(comparison.verdict, Verdict::NoRegression);
        assert!((comparison.ratio - 1.0).abs() < 1e-12);
        assert!(comparison.p_value.unwrap() > 0.4);
    }

    #[test]
    fn shifted_tail_is_a_regression() {
        let baseline = ramp(1000, 100.0);
        let mut current = ramp(1000, 100.0);
        for value in current.iter_mut().skip(900) {
            *value *= 1.5;
        }
        let comparison = compare(&baseline, &current, &LatencySettings::default());

        assert_eq!(comparison.verdict, Verdict::Regression);
        assert!(comparison.p_value.unwrap() < 1e-6);
        assert!(comparison.current_exceedances > comparison.baseline_exceedances * 5);
        let (low, high) = comparison.ratio_interval.unwrap();
        assert!(low > 1.05, "interval {low} to {high}");
        assert!(high >= low, "interval {low} to {high}");
    }

    #[test]
    fn small_windows_are_insufficient() {
        let comparison = compare(
            &ramp(50, 1.0),
            &ramp(5000, 2.0),
            &LatencySettings::default(),
        );
        assert_eq!(comparison.verdict, Verdict::InsufficientSamples);
        assert_eq!(comparison.p_value, None);
        assert_eq!(comparison.baseline_samples, 50);
    }

    #[test]
    fn significant_but_small_ratio_is_no_regression() {
        let baseline = ramp(20_000, 100.0);
        let current: Vec<f64> = baseline.iter().map(|value| value * 1.02).collect();
        let comparison = compare(
            &baseline,
            &current,
            &LatencySettings {
                bootstrap_resamples: 0,
                ..LatencySettings::default()
            },
        );
        assert!(comparison.p_value.unwrap() < 0.001);
        assert_eq!(comparison.verdict, Verdict::NoRegression);
    }

    /// A 20% slower span of 20 to 40 µs is significant, but its p95 moves by less than the
    /// 1 ms minimum increase.
    #[test]
    fn significant_but_tiny_increase_is_no_regression() {
        let baseline = ramp(5_000, 0.02);
        let current: Vec<f64> = baseline.iter().map(|value| value * 1.2).collect();
        let settings = LatencySettings {
            bootstrap_resamples: 0,
            ..LatencySettings::default()
        };
        let comparison = compare(&baseline, &current, &settings);
        assert!(comparison.p_value.unwrap() < 0.001);
        assert!(comparison.ratio > 1.19);
        assert_eq!(comparison.verdict, Verdict::NoRegression);

        let without_floor = LatencySettings {
            min_increase_ms: 0.0,
            ..settings
        };
        assert_eq!(
            compare(&baseline, &current, &without_floor).verdict,
            Verdict::Regression
        );
    }

    /// The constant-time draw has the distribution of the quantile of a resample built
    /// and sorted the slow way.
    #[test]
    fn resampled_quantile_matches_explicit_bootstrap() {
        let values: Vec<f64> = (0..300).map(|i| f64::from(i).powf(1.5)).collect();
        // Three interleaved runs, and a reader that contains few ranks, so most draws are
        // searched for in the runs.
        let runs: Vec<Vec<f64>> = (0..3)
            .map(|run| values.iter().copied().skip(run).step_by(3).collect())
            .collect();
        let runs = SortedRuns::new(runs.iter().map(Vec::as_slice));
        let reader = RankReader::near(&runs, 284, 3);
        let mut random = StdRng::seed_from_u64(7);
        let draws = 4000;
        let mut fast = Vec::with_capacity(draws);
        let mut slow = Vec::with_capacity(draws);
        let mut buffer = Vec::with_capacity(values.len());
        for _ in 0..draws {
            fast.push(resampled_quantile(&reader, values.len(), 0.95, &mut random));
            buffer.clear();
            buffer.extend((0..values.len()).map(|_| values[random.random_range(0..values.len())]));
            buffer.sort_by(f64::total_cmp);
            slow.push(quantile(&buffer, 0.95));
        }
        let mean = |draws: &[f64]| draws.iter().sum::<f64>() / draws.len() as f64;
        let spread = |draws: &[f64]| {
            let center = mean(draws);
            (draws
                .iter()
                .map(|value| (value - center).powi(2))
                .sum::<f64>()
                / draws.len() as f64)
                .sqrt()
        };
        let (fast_mean, slow_mean) = (mean(&fast), mean(&slow));
        let (fast_spread, slow_spread) = (spread(&fast), spread(&slow));
        // Standard error of each mean is spread / sqrt(4000), about 1.6% of the spread.
        assert!(
            (fast_mean - slow_mean).abs() < 0.1 * slow_spread,
            "means {fast_mean} and {slow_mean}, spread {slow_spread}"
        );
        assert!(
            (fast_spread / slow_spread - 1.0).abs() < 0.1,
            "spreads {fast_spread} and {slow_spread}"
        );
    }

    #[test]
    fn p_value_matches_hand_computation() {
        // 10 samples, 2 above the threshold, both in a window of 5:
        // C(5,2) / C(10,2) = 10 / 45.
        let p = exceedance_p_value(10, 2, 5, 2);
        assert!((p - 10.0 / 45.0).abs() < 1e-12, "{p}");
        assert!((exceedance_p_value(10, 2, 5, 0) - 1.0).abs() < 1e-12);
    }
}
