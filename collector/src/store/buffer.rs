//! Records written to the log but not yet to Parquet, grouped per table and date at flush.

use std::collections::BTreeMap;
use std::sync::Arc;

use polars::prelude::{DataFrame, PolarsResult};
use time::{Date, OffsetDateTime};

use crate::model::{Invocation, MetricPoint, Records, Span};

use super::Table;
use super::columns::{date_of_ns, invocations_frame, metrics_frame, spans_frame};

/// Returns the partition date of a span: the UTC date of its start.
pub(crate) fn span_date(span: &Span) -> Date {
    date_of_ns(span.start_ns)
}

/// Returns the partition date of a metric point: the UTC date of its time.
pub(crate) fn metric_date(point: &MetricPoint) -> Date {
    date_of_ns(point.time_ns)
}

/// Returns the partition date of an invocation: the UTC date of its start, or of `fallback`
/// when the input gave no time.
pub(crate) fn invocation_date(invocation: &Invocation, fallback: Date) -> Date {
    invocation.start.map_or(fallback, |start| {
        start.to_offset(time::UtcOffset::UTC).date()
    })
}

/// Record batches waiting for the next flush, each with its sequence number.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    batches: Vec<(u64, Arc<Records>)>,
    rows: usize,
}

/// One part to write: its table, date, sequence range and rows.
pub(crate) struct PendingPart<'a> {
    pub(crate) table: Table,
    pub(crate) date: Date,
    pub(crate) range: (u64, u64),
    rows: PartRows<'a>,
}

enum PartRows<'a> {
    Spans(Vec<(u64, &'a Span)>),
    Metrics(Vec<(u64, &'a MetricPoint)>),
    Invocations(Vec<(u64, &'a Invocation)>),
}

/// Rows per Parquet row group. A flush builds the columns of one row group at a time, so
/// this bounds the memory that columns take next to the buffer.
const ROW_GROUP_ROWS: usize = 4_096;

impl PendingPart<'_> {
    /// Builds the part's columns, one frame per row group.
    pub(crate) fn row_groups(&self) -> impl Iterator<Item = PolarsResult<DataFrame>> + '_ {
        let groups: Box<dyn Iterator<Item = PolarsResult<DataFrame>> + '_> = match &self.rows {
            PartRows::Spans(rows) => Box::new(rows.chunks(ROW_GROUP_ROWS).map(spans_frame)),
            PartRows::Metrics(rows) => Box::new(rows.chunks(ROW_GROUP_ROWS).map(metrics_frame)),
            PartRows::Invocations(rows) => {
                Box::new(rows.chunks(ROW_GROUP_ROWS).map(invocations_frame))
            }
        };
        groups
    }
}

impl Buffer {
    pub(crate) fn push(&mut self, seq: u64, records: Arc<Records>) {
        self.rows += records.len();
        self.batches.push((seq, records));
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    pub(crate) fn into_batches(self) -> Vec<(u64, Arc<Records>)> {
        self.batches
    }

    /// Groups the buffered records by table and date, one part each.
    pub(crate) fn parts(&self) -> Vec<PendingPart<'_>> {
        let today = OffsetDateTime::now_utc().date();
        let mut spans: BTreeMap<Date, Vec<(u64, &Span)>> = BTreeMap::new();
        let mut metrics: BTreeMap<Date, Vec<(u64, &MetricPoint)>> = BTreeMap::new();
        let mut invocations: BTreeMap<Date, Vec<(u64, &Invocation)>> = BTreeMap::new();
        for (seq, records) in &self.batches {
            for span in &records.spans {
                spans.entry(span_date(span)).or_default().push((*seq, span));
            }
            for point in &records.metrics {
                metrics
                    .entry(metric_date(point))
                    .or_default()
                    .push((*seq, point));
            }
            for invocation in &records.invocations {
                invocations
                    .entry(invocation_date(invocation, today))
                    .or_default()
                    .push((*seq, invocation));
            }
        }

        let mut parts = Vec::new();
        for (date, rows) in spans {
            parts.push(PendingPart {
                table: Table::Spans,
                date,
                range: range(&rows),
                rows: PartRows::Spans(rows),
            });
        }
        for (date, rows) in metrics {
            parts.push(PendingPart {
                table: Table::Metrics,
                date,
                range: range(&rows),
                rows: PartRows::Metrics(rows),
            });
        }
        for (date, rows) in invocations {
            parts.push(PendingPart {
                table: Table::Invocations,
                date,
                range: range(&rows),
                rows: PartRows::Invocations(rows),
            });
        }
        parts
    }
}

/// Returns the first and last sequence number of non-empty `rows`.
fn range<T>(rows: &[(u64, T)]) -> (u64, u64) {
    let first = rows.iter().map(|(seq, _)| *seq).min().unwrap_or(0);
    let last = rows.iter().map(|(seq, _)| *seq).max().unwrap_or(0);
    (first, last)
}
