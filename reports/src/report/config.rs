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
//! loudly instead of being ignored. Command-line flags override the file.

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

    /// Parses `text`, naming `path` in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|error| ConfigError::Invalid {
            path: path.display().to_string(),
            message: error.to_string().trim_end().to_owned(),
        })
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
    fn config_negative_budget_rejected() {
        let error = parse("[report]\nbudget_usd = -5\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("invalid amount `-5`"), "{error}");
    }
}
