//! Baseline snapshots: the latency distribution of each function and span name over a
//! window, saved as JSON so later reports compare against it (`spanbill snapshot`, then
//! `spanbill report --baseline FILE`).
//!
//! A snapshot keeps the sorted durations of each series. Series longer than
//! [`MAX_SAMPLES`] keep that many evenly spaced order statistics, which describe the same
//! distribution with fewer points. The latency test then counts them as that many samples,
//! which makes it more conservative, never less.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::samples::{Samples, Series};
use crate::table::{self, InvocationRow, SpanRow, Tables};

/// Version of the snapshot layout; a reader rejects other versions.
pub const SNAPSHOT_VERSION: u32 = 1;

/// Samples kept per series.
pub const MAX_SAMPLES: usize = 20_000;

/// A baseline snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Layout version, [`SNAPSHOT_VERSION`].
    pub snapshot_version: u32,
    /// When the snapshot was written, RFC 3339.
    pub created: String,
    /// First and last invocation start of the window, RFC 3339.
    pub period: Option<(String, String)>,
    /// Per function, by name.
    pub functions: BTreeMap<String, SeriesSnapshot>,
    /// Per function, then per span name, for spans that are not whole invocations.
    pub spans: BTreeMap<String, BTreeMap<String, SeriesSnapshot>>,
}

/// The durations of one function or span name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesSnapshot {
    /// Versions seen in the window, in the order they first ran.
    pub versions: Vec<String>,
    /// Samples the window held, before thinning.
    pub count: usize,
    /// Sorted durations in milliseconds, at most [`MAX_SAMPLES`].
    pub durations_ms: Vec<f64>,
}

/// Errors reading or writing a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The file could not be read or written.
    #[error("failed to access the baseline snapshot `{path}`")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a snapshot.
    #[error(
        "`{path}` is not a spanbill baseline snapshot: {source}; write one with `spanbill snapshot --output {path}`"
    )]
    Invalid {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// A field of the snapshot has an invalid value.
    #[error(
        "invalid baseline snapshot `{path}`: `{field}` is {value}, but {expected}. Write the \
         baseline again with `spanbill snapshot`."
    )]
    Value {
        /// The file.
        path: String,
        /// The field, such as `functions.checkout.durations_ms[3]`.
        field: String,
        /// The value found.
        value: String,
        /// The rule the value breaks, as a clause such as `durations must be sorted`.
        expected: String,
    },
    /// The file is a snapshot of another layout version.
    #[error(
        "`{path}` has snapshot_version {found}, but this spanbill reads version {SNAPSHOT_VERSION}; write it again with `spanbill snapshot`"
    )]
    Version {
        /// The file.
        path: String,
        /// The version in the file.
        found: u32,
    },
}

impl Snapshot {
    /// Builds a snapshot of the invocations and spans of `tables`; `created` is the RFC
    /// 3339 time to record.
    #[must_use]
    pub fn build(tables: &Tables, created: String) -> Self {
        let mut functions: BTreeMap<String, Builder> = BTreeMap::new();
        // Rows in order of start, then of version name, as latency samples order them.
        let mut ordered: Vec<&InvocationRow> = tables.invocations.iter().collect();
        ordered.sort_by_key(|row| (row.start_ns, tables.version(row.version)));
        for row in ordered {
            functions
                .entry(tables.function(row.function).to_owned())
                .or_default()
                .add(tables.version(row.version), row.duration_ms);
        }

        let mut span_series: BTreeMap<String, BTreeMap<String, Builder>> = BTreeMap::new();
        let mut ordered: Vec<&SpanRow> = tables
            .spans
            .iter()
            .filter(|span| !span.is_invocation)
            .collect();
        ordered.sort_by_key(|span| (span.start_ns, tables.version(span.version)));
        for span in ordered {
            let Some(function) = span.function else {
                continue;
            };
            span_series
                .entry(tables.function(function).to_owned())
                .or_default()
                .entry(tables.span_names.get(span.name).to_owned())
                .or_default()
                .add(tables.version(span.version), span.duration_ms);
        }

        let starts = || tables.invocations.iter().filter_map(|row| row.start_ns);
        Self {
            snapshot_version: SNAPSHOT_VERSION,
            created,
            period: starts()
                .min()
                .zip(starts().max())
                .map(|(first, last)| (table::rfc3339(first), table::rfc3339(last))),
            functions: functions
                .into_iter()
                .filter_map(|(name, builder)| Some((name, builder.finish()?)))
                .collect(),
            spans: span_series
                .into_iter()
                .map(|(function, names)| {
                    (
                        function,
                        names
                            .into_iter()
                            .filter_map(|(name, builder)| Some((name, builder.finish()?)))
                            .collect(),
                    )
                })
                .collect(),
        }
    }

    /// Builds a snapshot from the latency samples of a window. It equals the snapshot that
    /// [`Snapshot::build`] gives for the rows of the samples. `created` is the RFC 3339 time
    /// to record.
    #[must_use]
    pub fn from_samples(samples: &Samples, created: String) -> Self {
        let snapshot = |series: Series<'_>| {
            let mut builder = Builder {
                versions: series
                    .named_versions()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                durations: series.sorted_durations(),
            };
            builder
                .durations
                .retain(|duration| duration.is_finite() && *duration >= 0.0);
            builder.finish()
        };
        let mut spans: BTreeMap<String, BTreeMap<String, SeriesSnapshot>> = BTreeMap::new();
        for ((function, name), series) in samples.spans() {
            let names = spans.entry(function.to_owned()).or_default();
            if let Some(series) = snapshot(series) {
                names.insert(name.to_owned(), series);
            }
        }
        Self {
            snapshot_version: SNAPSHOT_VERSION,
            created,
            period: samples
                .period()
                .map(|(first, last)| (table::rfc3339(first), table::rfc3339(last))),
            functions: samples
                .functions()
                .filter_map(|(function, series)| Some((function.to_owned(), snapshot(series)?)))
                .collect(),
            spans,
        }
    }

    /// Reads a snapshot file.
    pub fn read(path: &Path) -> Result<Self, SnapshotError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| SnapshotError::Io {
            path: shown.clone(),
            source,
        })?;
        // The version is checked first, so a file of another version names its version
        // rather than a field this reader does not know.
        let version = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|value| value.get("snapshot_version")?.as_u64());
        if let Some(found) = version
            && found != u64::from(SNAPSHOT_VERSION)
        {
            return Err(SnapshotError::Version {
                path: shown,
                found: u32::try_from(found).unwrap_or(u32::MAX),
            });
        }
        let snapshot: Self =
            serde_json::from_str(&text).map_err(|source| SnapshotError::Invalid {
                path: shown.clone(),
                source,
            })?;
        snapshot
            .validate()
            .map_err(|invalid| SnapshotError::Value {
                path: shown,
                field: invalid.field,
                value: invalid.value,
                expected: invalid.expected,
            })?;
        Ok(snapshot)
    }

    /// Checks the values that parsing does not check, which are the period and every
    /// series.
    fn validate(&self) -> Result<(), InvalidValue> {
        if let Some((first, last)) = &self.period {
            let parse = |field: &str, text: &str| {
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| InvalidValue {
                        field: field.to_owned(),
                        value: format!("`{text}`"),
                        expected: "it must be an RFC 3339 time".to_owned(),
                    })
            };
            let start = parse("period[0]", first)?;
            let end = parse("period[1]", last)?;
            if start > end {
                return Err(InvalidValue {
                    field: "period".to_owned(),
                    value: format!("[`{first}`, `{last}`]"),
                    expected: "the first invocation start must not be after the last".to_owned(),
                });
            }
        }
        for (function, series) in &self.functions {
            series.validate(&format!("functions.{function}"))?;
        }
        for (function, names) in &self.spans {
            for (name, series) in names {
                series.validate(&format!("spans.{function}.{name}"))?;
            }
        }
        Ok(())
    }

    /// Writes the snapshot to `path` as JSON, through a temporary file renamed into place.
    pub fn write(&self, path: &Path) -> Result<(), SnapshotError> {
        let io_error = |source| SnapshotError::Io {
            path: path.display().to_string(),
            source,
        };
        let text = serde_json::to_string(self)
            .map_err(std::io::Error::other)
            .map_err(io_error)?;
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        std::fs::write(&temporary, text).map_err(io_error)?;
        std::fs::rename(&temporary, path).map_err(io_error)
    }
}

/// A field value that [`Snapshot::validate`] rejects.
#[derive(Debug)]
struct InvalidValue {
    field: String,
    value: String,
    expected: String,
}

impl SeriesSnapshot {
    /// Checks that the durations are present, finite, not negative and sorted, and that
    /// `count` agrees with them: equal to their number, or at least [`MAX_SAMPLES`] when
    /// the series was thinned. `field` names the series in errors.
    fn validate(&self, field: &str) -> Result<(), InvalidValue> {
        let invalid = |field: String, value: String, expected: &str| InvalidValue {
            field,
            value,
            expected: expected.to_owned(),
        };
        let durations = &self.durations_ms;
        if durations.is_empty() {
            return Err(invalid(
                format!("{field}.durations_ms"),
                "empty".to_owned(),
                "a series needs at least one duration",
            ));
        }
        if durations.len() > MAX_SAMPLES {
            return Err(invalid(
                format!("{field}.durations_ms"),
                format!("{} durations long", durations.len()),
                &format!("a series keeps at most {MAX_SAMPLES}"),
            ));
        }
        for (index, duration) in durations.iter().enumerate() {
            if !duration.is_finite() || *duration < 0.0 {
                return Err(invalid(
                    format!("{field}.durations_ms[{index}]"),
                    duration.to_string(),
                    "durations must be finite milliseconds of 0 or more",
                ));
            }
            if index > 0 && durations[index - 1] > *duration {
                return Err(invalid(
                    format!("{field}.durations_ms[{index}]"),
                    duration.to_string(),
                    &format!(
                        "durations must be sorted, and the one before it is {}",
                        durations[index - 1]
                    ),
                ));
            }
        }
        let thinned = durations.len() == MAX_SAMPLES;
        if self.count < durations.len() || (!thinned && self.count != durations.len()) {
            let expected = if thinned {
                format!("a thinned series counts at least its {MAX_SAMPLES} kept durations")
            } else {
                format!(
                    "a series of {} durations has a count of {}",
                    durations.len(),
                    durations.len()
                )
            };
            return Err(invalid(
                format!("{field}.count"),
                self.count.to_string(),
                &expected,
            ));
        }
        Ok(())
    }
}

#[derive(Default)]
struct Builder {
    versions: Vec<String>,
    durations: Vec<f64>,
}

impl Builder {
    fn add(&mut self, version: Option<&str>, duration_ms: f64) {
        if let Some(version) = version
            && !self.versions.iter().any(|seen| seen == version)
        {
            self.versions.push(version.to_owned());
        }
        // Snapshot::read rejects other durations, so they are not written.
        if duration_ms.is_finite() && duration_ms >= 0.0 {
            self.durations.push(duration_ms);
        }
    }

    /// Returns the series, or `None` when it has no durations to compare against.
    fn finish(mut self) -> Option<SeriesSnapshot> {
        if self.durations.is_empty() {
            return None;
        }
        self.durations.sort_by(f64::total_cmp);
        Some(SeriesSnapshot {
            versions: self.versions,
            count: self.durations.len(),
            durations_ms: thin(&self.durations, MAX_SAMPLES),
        })
    }
}

/// Keeps `keep` evenly spaced order statistics of sorted `values`, including the smallest
/// and the largest.
fn thin(values: &[f64], keep: usize) -> Vec<f64> {
    if values.len() <= keep || keep < 2 {
        return values.to_vec();
    }
    let last = values.len() - 1;
    (0..keep)
        .map(|index| values[index * last / (keep - 1)])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[expect(
        clippy::float_cmp,
        reason = "thinning copies values, so they compare exactly"
    )]
    fn thin_keeps_ends_and_order() {
        let values: Vec<f64> = (0..100_001).map(f64::from).collect();
        let kept = thin(&values, 1001);
        assert_eq!(kept.len(), 1001);
        assert_eq!(kept[0], 0.0);
        assert_eq!(kept[1000], 100_000.0);
        assert_eq!(kept[500], 50_000.0);
        assert!(kept.windows(2).all(|pair| pair[0] <= pair[1]));
    }

    #[test]
    fn thin_leaves_short_series() {
        assert_eq!(thin(&[1.0, 2.0], 10), vec![1.0, 2.0]);
    }

    /// A valid snapshot of one function with three durations, as JSON.
    fn valid() -> serde_json::Value {
        serde_json::json!({
            "snapshot_version": SNAPSHOT_VERSION,
            "created": "2026-11-02T00:00:00Z",
            "period": ["2026-11-01T00:00:00Z", "2026-11-01T16:39:00Z"],
            "functions": {
                "checkout": {"versions": ["1"], "count": 3, "durations_ms": [5.0, 7.1, 9.0]}
            },
            "spans": {},
        })
    }

    /// Writes `snapshot` to a file and returns the error message of reading it.
    fn read_error(snapshot: &serde_json::Value) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline.json");
        std::fs::write(&path, snapshot.to_string()).unwrap();
        Snapshot::read(&path).unwrap_err().to_string()
    }

    #[test]
    fn valid_snapshot_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline.json");
        std::fs::write(&path, valid().to_string()).unwrap();
        let snapshot = Snapshot::read(&path).unwrap();
        assert_eq!(snapshot.functions["checkout"].count, 3);
    }

    #[test]
    fn invalid_series_values_are_rejected() {
        let cases: [(&str, serde_json::Value, &str); 6] = [
            (
                "durations_ms",
                serde_json::json!([-5.0, 5.0, 7.1]),
                "`functions.checkout.durations_ms[0]` is -5, but durations must be finite",
            ),
            (
                "durations_ms",
                serde_json::json!([]),
                "`functions.checkout.durations_ms` is empty, but a series needs at least one",
            ),
            (
                "durations_ms",
                serde_json::json!([9.0, 7.1, 5.0]),
                "`functions.checkout.durations_ms[1]` is 7.1, but durations must be sorted",
            ),
            (
                "count",
                serde_json::json!(2),
                "`functions.checkout.count` is 2, but a series of 3 durations has a count of 3",
            ),
            (
                "count",
                serde_json::json!(50),
                "`functions.checkout.count` is 50, but a series of 3 durations has a count of 3",
            ),
            (
                "durations_ms",
                serde_json::json!(vec![1.0; MAX_SAMPLES + 1]),
                "durations long, but a series keeps at most 20000",
            ),
        ];
        for (field, value, message) in cases {
            let mut snapshot = valid();
            snapshot["functions"]["checkout"][field] = value;
            let error = read_error(&snapshot);
            assert!(error.contains(message), "{error}");
            assert!(
                error.ends_with("Write the baseline again with `spanbill snapshot`."),
                "{error}"
            );
        }
    }

    #[test]
    fn thinned_count_may_exceed_durations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("baseline.json");
        let mut snapshot = valid();
        snapshot["functions"]["checkout"]["durations_ms"] =
            serde_json::json!(vec![1.0; MAX_SAMPLES]);
        snapshot["functions"]["checkout"]["count"] = serde_json::json!(MAX_SAMPLES * 3);
        std::fs::write(&path, snapshot.to_string()).unwrap();
        assert!(Snapshot::read(&path).is_ok());

        snapshot["functions"]["checkout"]["count"] = serde_json::json!(MAX_SAMPLES - 1);
        let error = read_error(&snapshot);
        assert!(
            error.contains("but a thinned series counts at least its 20000 kept durations"),
            "{error}"
        );
    }

    #[test]
    fn invalid_period_is_rejected() {
        let mut snapshot = valid();
        snapshot["period"] = serde_json::json!(["2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z"]);
        let error = read_error(&snapshot);
        assert!(
            error.contains(
                "`period` is [`2026-11-02T00:00:00Z`, `2026-11-01T00:00:00Z`], but the first \
                 invocation start must not be after the last"
            ),
            "{error}"
        );

        snapshot["period"] = serde_json::json!(["yesterday", "2026-11-01T00:00:00Z"]);
        let error = read_error(&snapshot);
        assert!(
            error.contains("`period[0]` is `yesterday`, but it must be an RFC 3339 time"),
            "{error}"
        );
    }

    #[test]
    fn span_series_are_checked() {
        let mut snapshot = valid();
        snapshot["spans"] = serde_json::json!({
            "checkout": {"charge": {"versions": [], "count": 1, "durations_ms": [-1.0]}},
        });
        let error = read_error(&snapshot);
        assert!(
            error.contains("`spans.checkout.charge.durations_ms[0]` is -1"),
            "{error}"
        );
    }
}
