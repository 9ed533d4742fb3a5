//! Report thresholds from a TOML file, such as `spanbill.toml`:
//!
//! ```toml
//! [report]
//! budget_usd = 250
//! fail_on = ["regression", "spiral"]
//! business_units = ["orders.created"]
//! top_traces = 10
//!
//! [latency]
//! alpha = 0.001
//! min_ratio = 1.05
//! min_samples = 400
//!
//! [change_points]
//! min_change = 0.05
//!
//! [spiral]
//! loop_passes = 4
//! retry_share = 0.05
//! ```
//!
//! Every key is optional and unknown keys are rejected, so a misspelt threshold fails
//! loudly instead of being ignored. So is a value outside its range, such as an `alpha`
//! of 2. Command-line flags override the file.

use std::path::Path;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::ReportSettings;
use crate::detect::change_point::ChangePointSettings;
use crate::detect::latency::LatencySettings;
use crate::detect::spiral::SpiralSettings;

/// Errors reading a report configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("failed to read the configuration file `{path}`")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a wrong type.
    #[error("invalid configuration file `{path}`: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// The TOML parser's message, with the line and column.
        message: String,
    },
    /// A setting is outside its allowed range.
    #[error("invalid configuration file `{path}`: `{setting}` is {value}, but it must be {range}")]
    OutOfRange {
        /// The file.
        path: String,
        /// The setting, as `table.key`.
        setting: &'static str,
        /// The value in the file.
        value: String,
        /// The allowed range, such as `greater than 0 and less than 1`.
        range: String,
    },
}

/// A range of allowed values of a setting.
#[derive(Debug, Clone, Copy)]
enum Range {
    /// Greater than 0 and less than 1: a p-value threshold, a quantile or a coverage.
    OpenUnit,
    /// From 0 to 1: a share.
    ClosedUnit,
    /// A finite number of at least the value.
    AtLeast(f64),
    /// A whole number of at least the value.
    Count(usize),
}

impl Range {
    fn contains(self, value: f64) -> bool {
        match self {
            Self::OpenUnit => value > 0.0 && value < 1.0,
            Self::ClosedUnit => (0.0..=1.0).contains(&value),
            Self::AtLeast(min) => value >= min && value.is_finite(),
            Self::Count(min) => value >= min as f64,
        }
    }

    fn describe(self) -> String {
        match self {
            Self::OpenUnit => "greater than 0 and less than 1".to_owned(),
            Self::ClosedUnit => "from 0 to 1".to_owned(),
            Self::AtLeast(min) => format!("a finite number of {min} or more"),
            Self::Count(min) => format!("{min} or more"),
        }
    }
}

/// The contents of a report configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportConfig {
    /// Budget, gates and report contents.
    pub report: ReportSection,
    /// Latency test thresholds.
    pub latency: LatencySettings,
    /// Change-point thresholds.
    pub change_points: ChangePointSettings,
    /// Cost-spiral thresholds.
    pub spiral: SpiralSettings,
}

/// The `[report]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReportSection {
    /// Monthly budget in USD, as a number or a decimal string.
    pub budget_usd: Option<Amount>,
    /// Apply the AWS free tier.
    pub free_tier: Option<bool>,
    /// Gates that fail the command: `regression`, `spiral`, `budget`.
    pub fail_on: Option<Vec<String>>,
    /// KPIs to report cost per unit for.
    pub business_units: Option<Vec<String>>,
    /// Most expensive traces listed.
    pub top_traces: Option<usize>,
}

/// An amount of money written as a TOML number or string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amount(pub Decimal);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Integer(i64),
            Float(f64),
            Text(String),
        }
        let invalid = |shown: &dyn std::fmt::Display| {
            serde::de::Error::custom(format!(
                "invalid amount `{shown}`: write a non-negative number of USD, such as 250 or \"99.50\""
            ))
        };
        let amount = match Written::deserialize(deserializer)? {
            Written::Integer(value) => Decimal::from(value),
            Written::Float(value) => Decimal::try_from(value).map_err(|_| invalid(&value))?,
            Written::Text(text) => Decimal::from_str(text.trim().trim_start_matches('$'))
                .map_err(|_| invalid(&text))?,
        };
        if amount.is_sign_negative() {
            return Err(invalid(&amount));
        }
        Ok(Self(amount))
    }
}

impl ReportConfig {
    /// Reads and parses the file at `path`.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses `text` and checks that each threshold is in its range, naming `path` in
    /// errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|error| ConfigError::Invalid {
            path: path.display().to_string(),
            message: error.to_string().trim_end().to_owned(),
        })?;
        config.check_ranges(path)?;
        Ok(config)
    }

    /// Rejects thresholds that would turn a check off or make it report everything, such
    /// as a negative `alpha` or a `loop_passes` of 0.
    fn check_ranges(&self, path: &Path) -> Result<(), ConfigError> {
        let latency = &self.latency;
        let change_points = &self.change_points;
        let spiral = &self.spiral;
        let count = |value: usize| value as f64;
        let settings: [(&'static str, f64, Range); 18] = [
            ("latency.quantile", latency.quantile, Range::OpenUnit),
            ("latency.alpha", latency.alpha, Range::OpenUnit),
            ("latency.min_ratio", latency.min_ratio, Range::AtLeast(1.0)),
            (
                "latency.min_increase_ms",
                latency.min_increase_ms,
                Range::AtLeast(0.0),
            ),
            (
                "latency.min_samples",
                count(latency.min_samples),
                Range::Count(1),
            ),
            ("latency.confidence", latency.confidence, Range::OpenUnit),
            (
                "change_points.window",
                count(change_points.window),
                Range::Count(2),
            ),
            ("change_points.alpha", change_points.alpha, Range::OpenUnit),
            (
                "change_points.min_change",
                change_points.min_change,
                Range::AtLeast(0.0),
            ),
            // The t-test needs two points on each side for a variance.
            (
                "change_points.min_segment",
                count(change_points.min_segment),
                Range::Count(2),
            ),
            // One pass through a function is no loop.
            (
                "spiral.loop_passes",
                count(spiral.loop_passes),
                Range::Count(2),
            ),
            (
                "spiral.memory_use_ratio",
                spiral.memory_use_ratio,
                Range::ClosedUnit,
            ),
            (
                "spiral.memory_headroom",
                spiral.memory_headroom,
                Range::AtLeast(1.0),
            ),
            ("spiral.init_share", spiral.init_share, Range::ClosedUnit),
            ("spiral.cost_rise", spiral.cost_rise, Range::AtLeast(0.0)),
            (
                "spiral.traffic_change",
                spiral.traffic_change,
                Range::AtLeast(0.0),
            ),
            (
                "spiral.min_invocations",
                count(spiral.min_invocations),
                Range::Count(1),
            ),
            ("spiral.retry_share", spiral.retry_share, Range::ClosedUnit),
        ];
        for (setting, value, range) in settings {
            if !range.contains(value) {
                return Err(ConfigError::OutOfRange {
                    path: path.display().to_string(),
                    setting,
                    value: value.to_string(),
                    range: range.describe(),
                });
            }
        }
        Ok(())
    }

    /// Returns the report settings the file sets, with defaults for the rest.
    #[must_use]
    pub fn settings(&self) -> ReportSettings {
        let defaults = ReportSettings::default();
        ReportSettings {
            latency: self.latency.clone(),
            spiral: self.spiral.clone(),
            change_points: self.change_points.clone(),
            budget: self.report.budget_usd.map(|amount| amount.0),
            free_tier: self.report.free_tier.unwrap_or(defaults.free_tier),
            business_units: self.report.business_units.clone(),
            top_traces: self.report.top_traces.unwrap_or(defaults.top_traces),
            window_ns: defaults.window_ns,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ReportConfig, ConfigError> {
        ReportConfig::parse(text, Path::new("spanbill.toml"))
    }

    #[test]
    fn config_sets_thresholds_and_keeps_defaults() {
        let config = parse(
            "[report]\nbudget_usd = \"99.50\"\nbusiness_units = [\"orders.created\"]\n\
             [latency]\nalpha = 0.01\n[spiral]\nloop_passes = 8\n",
        )
        .unwrap();
        let settings = config.settings();
        assert_eq!(settings.budget, Some("99.50".parse().unwrap()));
        assert!((settings.latency.alpha - 0.01).abs() < 1e-15);
        assert_eq!(settings.latency.min_samples, 400);
        assert_eq!(settings.spiral.loop_passes, 8);
        assert!((settings.spiral.retry_share - 0.05).abs() < 1e-15);
        assert_eq!(settings.top_traces, 5);
        assert_eq!(
            settings.business_units,
            Some(vec!["orders.created".to_owned()])
        );
    }

    #[test]
    fn config_budget_as_number() {
        assert_eq!(
            parse("[report]\nbudget_usd = 250\n")
                .unwrap()
                .settings()
                .budget,
            Some(Decimal::from(250))
        );
    }

    #[test]
    fn config_unknown_key_is_named() {
        let error = parse("[latency]\nalpah = 0.01\n").unwrap_err().to_string();
        assert!(error.contains("spanbill.toml"), "{error}");
        assert!(error.contains("alpah"), "{error}");
    }

    #[test]
    fn config_out_of_range_is_named() {
        let cases = [
            (
                "[latency]\nalpha = -1\n",
                "`latency.alpha` is -1, but it must be greater than 0 and less than 1",
            ),
            (
                "[latency]\nalpha = 2\n",
                "`latency.alpha` is 2, but it must be greater than 0 and less than 1",
            ),
            (
                "[latency]\nalpha = nan\n",
                "`latency.alpha` is NaN, but it must be greater than 0 and less than 1",
            ),
            (
                "[latency]\nmin_samples = 0\n",
                "`latency.min_samples` is 0, but it must be 1 or more",
            ),
            (
                "[latency]\nmin_ratio = 0.5\n",
                "`latency.min_ratio` is 0.5, but it must be a finite number of 1 or more",
            ),
            (
                "[spiral]\nloop_passes = 0\n",
                "`spiral.loop_passes` is 0, but it must be 2 or more",
            ),
            (
                "[spiral]\nloop_passes = 1\n",
                "`spiral.loop_passes` is 1, but it must be 2 or more",
            ),
            (
                "[spiral]\nretry_share = 5\n",
                "`spiral.retry_share` is 5, but it must be from 0 to 1",
            ),
            (
                "[spiral]\nmemory_headroom = 0.5\n",
                "`spiral.memory_headroom` is 0.5, but it must be a finite number of 1 or more",
            ),
            (
                "[change_points]\nmin_change = -0.1\n",
                "`change_points.min_change` is -0.1, but it must be a finite number of 0 or more",
            ),
            (
                "[change_points]\nwindow = 1\n",
                "`change_points.window` is 1, but it must be 2 or more",
            ),
        ];
        for (text, message) in cases {
            let error = parse(text).unwrap_err().to_string();
            assert!(
                error.starts_with("invalid configuration file `spanbill.toml`: "),
                "{error}"
            );
            assert!(error.ends_with(message), "{text}: {error}");
        }
    }

    #[test]
    fn config_range_ends_are_accepted() {
        let text = "[latency]\nalpha = 0.5\nmin_samples = 1\nmin_ratio = 1\n\
                    [spiral]\nloop_passes = 2\nretry_share = 1\ninit_share = 0\n";
        assert!(parse(text).is_ok(), "{text}");
    }

    #[test]
    fn config_negative_budget_rejected() {
        let error = parse("[report]\nbudget_usd = -5\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("invalid amount `-5`"), "{error}");
    }
}
