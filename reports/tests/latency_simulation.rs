//! The latency test's error rates, by simulation: false alarms on identical distributions
//! and power against a 10% p95 shift, at 6,000 invocations per window.
//!
//! Latencies are log-normal with σ = 0.5, a typical spread for Lambda durations. A 10% p95
//! shift multiplies every latency by 1.1.

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use spanbill_reports::detect::latency::{LatencySettings, Verdict, compare};

const SAMPLES: usize = 6_000;

fn log_normal(random: &mut StdRng, count: usize, scale: f64) -> Vec<f64> {
    (0..count)
        .map(|_| {
            // Box-Muller: one standard normal from two uniforms.
            let u1: f64 = random.random_range(f64::EPSILON..1.0);
            let u2: f64 = random.random();
            let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
            scale * 100.0 * (0.5 * normal).exp()
        })
        .collect()
}

fn settings() -> LatencySettings {
    LatencySettings {
        bootstrap_resamples: 0,
        ..LatencySettings::default()
    }
}

#[test]
fn false_alarms_at_most_three_per_thousand() {
    let mut random = StdRng::seed_from_u64(20_261_204);
    let runs = 1_000;
    let mut alarms = 0;
    for _ in 0..runs {
        let baseline = log_normal(&mut random, SAMPLES, 1.0);
        let current = log_normal(&mut random, SAMPLES, 1.0);
        if compare(&baseline, &current, &settings()).verdict == Verdict::Regression {
            alarms += 1;
        }
    }
    assert!(
        alarms * 1000 <= 3 * runs,
        "{alarms} false alarms in {runs} runs"
    );
}

#[test]
fn ten_percent_shift_power_at_least_ninety() {
    let mut random = StdRng::seed_from_u64(7);
    let runs = 200;
    let mut detected = 0;
    for _ in 0..runs {
        let baseline = log_normal(&mut random, SAMPLES, 1.0);
        let current = log_normal(&mut random, SAMPLES, 1.1);
        if compare(&baseline, &current, &settings()).verdict == Verdict::Regression {
            detected += 1;
        }
    }
    assert!(detected * 10 >= 9 * runs, "detected {detected} of {runs}");
}
