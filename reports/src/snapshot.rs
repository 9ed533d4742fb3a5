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
        let mut ordered: Vec<&InvocationRow> = tables.invocations.iter().collect();
        ordered.sort_by_key(|row| row.start_ns);
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
        ordered.sort_by_key(|span| span.start_ns);
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
                .map(|(name, builder)| (name, builder.finish()))
                .collect(),
            spans: span_series
                .into_iter()
                .map(|(function, names)| {
                    (
                        function,
                        names
                            .into_iter()
                            .map(|(name, builder)| (name, builder.finish()))
                            .collect(),
                    )
                })
                .collect(),
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
        serde_json::from_str(&text).map_err(|source| SnapshotError::Invalid {
            path: shown,
            source,
        })
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
        if duration_ms.is_finite() {
            self.durations.push(duration_ms);
        }
    }

    fn finish(mut self) -> SeriesSnapshot {
        self.durations.sort_by(f64::total_cmp);
        SeriesSnapshot {
            versions: self.versions,
            count: self.durations.len(),
            durations_ms: thin(&self.durations, MAX_SAMPLES),
        }
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
}
