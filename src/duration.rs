//! Durations on the command line: a whole number of days (`7d`) or hours (`36h`).

use std::time::Duration;

use anyhow::{Context as _, bail};

/// Maximum duration accepted, in hours: 100 years.
const MAX_HOURS: u64 = 100 * 366 * 24;

/// Parses `7d` or `36h`, up to 100 years.
pub(crate) fn parse_days_or_hours(text: &str) -> anyhow::Result<Duration> {
    let invalid =
        || format!("invalid duration `{text}`: expected days or hours, such as `7d` or `36h`");
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let count: u64 = number
        .parse()
        .ok()
        .filter(|count| *count > 0)
        .with_context(invalid)?;
    let hours = match unit {
        "d" => count.saturating_mul(24),
        "h" => count,
        _ => bail!(invalid()),
    };
    if hours > MAX_HOURS {
        bail!("duration `{text}` is longer than 100 years: pass a shorter one");
    }
    Ok(Duration::from_hours(hours))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_hours() {
        assert_eq!(parse_days_or_hours("2d").unwrap(), Duration::from_hours(48));
        assert_eq!(
            parse_days_or_hours("36h").unwrap(),
            Duration::from_hours(36)
        );
    }

    #[test]
    fn other_forms_are_rejected() {
        let too_long = parse_days_or_hours("99999999999999999d")
            .unwrap_err()
            .to_string();
        assert_eq!(
            too_long,
            "duration `99999999999999999d` is longer than 100 years: pass a shorter one"
        );
        for text in ["", "d", "0d", "7w", "-1h", "7 d"] {
            let error = parse_days_or_hours(text).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!("invalid duration `{text}`")),
                "{error}"
            );
        }
    }
}
