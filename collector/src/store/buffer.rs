//! Rows written to the log but not yet to Parquet, kept as columns per table and date.
//!
//! A write's records become columns before the write is queued, on the thread that queues
//! it ([`WriteFrames::build`]). The request threads share that work while the records are
//! still in their caches, and free the records themselves, so the flush thread only joins
//! the columns into row groups and encodes them.

use std::collections::BTreeMap;

use polars::prelude::{Column, DataFrame, PolarsResult};
use time::{Date, OffsetDateTime};

use crate::model::{Invocation, MetricPoint, Records, Span};

use super::Table;
use super::columns::{SpanRows, date_of_ns, invocations_frame, metrics_frame};

/// Returns the partition date of a span: the UTC date of its start.
pub(crate) fn span_date(span: &Span) -> Date {
    date_of_ns(span.start_ns)
}

/// Returns the partition date of a metric point: the UTC date of its time.
pub(crate) fn metric_date(point: &MetricPoint) -> Date {
    date_of_ns(point.time_ns)
}

/// Returns the partition date of an invocation: the UTC date of its start, else its date
/// from the read's date option, else `fallback`.
pub(crate) fn invocation_date(invocation: &Invocation, fallback: Date) -> Date {
    invocation
        .start
        .map(|start| start.to_offset(time::UtcOffset::UTC).date())
        .or(invocation.date)
        .unwrap_or(fallback)
}

/// The columns of one write's records, one frame per table and date, without the `seq`
/// column: the sequence number is not known until the writer takes the write.
#[derive(Debug, Default)]
pub(crate) struct WriteFrames {
    frames: Vec<((Table, Date), DataFrame)>,
}

impl WriteFrames {
    /// Builds the columns of `records`. An invocation with neither a start time nor a date
    /// is dated by today's UTC date.
    pub(crate) fn build(records: &Records) -> PolarsResult<Self> {
        let today = OffsetDateTime::now_utc().date();
        let mut frames = Vec::new();
        let spans: Vec<&Span> = records.spans.iter().collect();
        frames.extend(SpanRows::from_spans(&spans).frames()?);
        for (date, rows) in group_by_date(&records.metrics, metric_date) {
            frames.push(((Table::Metrics, date), metrics_frame(&rows)?));
        }
        let dated = |invocation: &Invocation| invocation_date(invocation, today);
        for (date, rows) in group_by_date(&records.invocations, dated) {
            frames.push(((Table::Invocations, date), invocations_frame(&rows)?));
        }
        Ok(Self { frames })
    }

    fn rows(&self) -> usize {
        self.frames.iter().map(|(_, frame)| frame.height()).sum()
    }

    /// Returns the number of rows for `table`.
    pub(crate) fn table_rows(&self, table: Table) -> usize {
        self.frames
            .iter()
            .filter(|((frame_table, _), _)| *frame_table == table)
            .map(|(_, frame)| frame.height())
            .sum()
    }

    /// Takes the `spans` frames of span rows.
    pub(crate) fn of_span_rows(rows: &SpanRows<'_>) -> PolarsResult<Self> {
        Ok(Self {
            frames: rows.frames()?,
        })
    }
}

impl SpanRows<'_> {
    /// Builds the `spans` frames of the rows, one per date.
    pub(crate) fn frames(&self) -> PolarsResult<Vec<((Table, Date), DataFrame)>> {
        let indices: Vec<usize> = (0..self.rows.len()).collect();
        group_by_date(&indices, |&index| date_of_ns(self.rows[index].start_ns))
            .into_iter()
            .map(|(date, rows)| {
                let rows: Vec<usize> = rows.into_iter().copied().collect();
                Ok(((Table::Spans, date), self.frame(&rows)?))
            })
            .collect()
    }
}

/// Groups `records` by date, keeping their order within each date.
fn group_by_date<T>(records: &[T], date: impl Fn(&T) -> Date) -> BTreeMap<Date, Vec<&T>> {
    let mut groups: BTreeMap<Date, Vec<&T>> = BTreeMap::new();
    for record in records {
        groups.entry(date(record)).or_default().push(record);
    }
    groups
}

/// Columns of buffered writes, per table and date, each frame with the sequence number of
/// its write.
#[derive(Debug, Default)]
pub(crate) struct Buffer {
    tables: BTreeMap<(Table, Date), Vec<(u64, DataFrame)>>,
    rows: usize,
    writes: usize,
}

/// One part to write: its table, date, sequence range and rows.
pub(crate) struct PendingPart<'a> {
    pub(crate) table: Table,
    pub(crate) date: Date,
    pub(crate) range: (u64, u64),
    frames: &'a [(u64, DataFrame)],
}

/// Rows per Parquet row group. A flush joins the columns of one row group at a time, so
/// this bounds the memory that joined columns take next to the buffer. Encoding a row
/// group also costs time per column however few rows it has (a cardinality estimate over
/// 16,384 registers, and a zstd context per page).
pub(crate) const ROW_GROUP_ROWS: usize = 16_384;

impl PendingPart<'_> {
    /// Returns the number of rows of the part.
    pub(crate) fn rows(&self) -> usize {
        self.frames.iter().map(|(_, frame)| frame.height()).sum()
    }

    /// Joins the part's frames into row groups of at most [`ROW_GROUP_ROWS`] rows, each with
    /// its `seq` column last and each column in one chunk.
    pub(crate) fn row_groups(&self) -> impl Iterator<Item = PolarsResult<DataFrame>> + '_ {
        let mut frames = self.frames.iter();
        // The write being read and the number of its rows already in a row group.
        let mut current: Option<(u64, &DataFrame, usize)> = None;
        std::iter::from_fn(move || {
            let mut group: Option<DataFrame> = None;
            let mut group_rows = 0;
            while group_rows < ROW_GROUP_ROWS {
                let (seq, frame, offset) = match current.take() {
                    Some(in_progress) => in_progress,
                    None => match frames.next() {
                        Some((seq, frame)) => (*seq, frame, 0),
                        None => break,
                    },
                };
                let take = (frame.height() - offset).min(ROW_GROUP_ROWS - group_rows);
                if offset + take < frame.height() {
                    current = Some((seq, frame, offset + take));
                }
                let piece = with_seq(frame.slice(offset as i64, take), seq);
                group_rows += take;
                let joined = match group.take() {
                    None => piece,
                    Some(mut joined) => match joined.vstack_mut_owned(piece) {
                        Ok(_) => joined,
                        Err(error) => return Some(Err(error)),
                    },
                };
                group = Some(joined);
            }
            let mut group = group?;
            group.rechunk_mut();
            Some(Ok(group))
        })
    }
}

/// Appends the `seq` column, `seq` on every row, to `frame`.
fn with_seq(mut frame: DataFrame, seq: u64) -> DataFrame {
    let column = Column::new("seq".into(), vec![seq; frame.height()]);
    frame
        .with_column(column)
        .expect("a column of the frame's height with a new name fits");
    frame
}

impl Buffer {
    /// Adds the columns of write `seq`.
    pub(crate) fn push(&mut self, seq: u64, write: WriteFrames) {
        self.rows += write.rows();
        self.writes += 1;
        for (key, frame) in write.frames {
            self.tables.entry(key).or_default().push((seq, frame));
        }
    }

    /// Builds the columns of write `seq` from its records and adds them, as for a write
    /// read back from the log.
    pub(crate) fn push_records(&mut self, seq: u64, records: &Records) -> PolarsResult<()> {
        self.push(seq, WriteFrames::build(records)?);
        Ok(())
    }

    /// Moves every write of `other` into this buffer, after the writes it has.
    pub(crate) fn append(&mut self, other: Self) {
        self.rows += other.rows;
        self.writes += other.writes;
        for (key, frames) in other.tables {
            self.tables.entry(key).or_default().extend(frames);
        }
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Returns true when no write was added, not even one without records.
    pub(crate) fn is_empty(&self) -> bool {
        self.writes == 0
    }

    /// Returns one part per table and date.
    pub(crate) fn parts(&self) -> Vec<PendingPart<'_>> {
        self.tables
            .iter()
            .map(|(&(table, date), frames)| PendingPart {
                table,
                date,
                range: range(frames),
                frames,
            })
            .collect()
    }
}

/// Returns the first and last sequence number of non-empty `frames`.
fn range<T>(frames: &[(u64, T)]) -> (u64, u64) {
    let first = frames.iter().map(|(seq, _)| *seq).min().unwrap_or(0);
    let last = frames.iter().map(|(seq, _)| *seq).max().unwrap_or(0);
    (first, last)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::{SpanId, SpanKind, StatusCode, TraceId};

    const DAY_NS: u64 = 1_717_000_000_000_000_000;

    fn span(index: usize, start_ns: u64) -> Span {
        Span {
            trace_id: TraceId::from_bytes(&[7; 16]).unwrap(),
            span_id: SpanId::from_bytes(&(index as u64 + 1).to_le_bytes()).unwrap(),
            parent_span_id: None,
            trace_state: None,
            flags: 1,
            name: format!("span {index}"),
            kind: SpanKind::Server,
            start_ns,
            end_ns: start_ns + 5,
            status: StatusCode::Unset,
            status_message: None,
            service_name: None,
            service_version: None,
            faas_name: None,
            faas_invocation_id: None,
            faas_coldstart: None,
            faas_trigger: None,
            links: Vec::new(),
            events: Vec::new(),
            attributes: Vec::new(),
            resource_attributes: Arc::default(),
            scope_name: None,
            scope_version: None,
        }
    }

    fn spans(count: usize, first: usize) -> Records {
        Records {
            spans: (first..first + count)
                .map(|index| span(index, DAY_NS))
                .collect(),
            ..Records::default()
        }
    }

    #[test]
    fn rows_of_one_resource_share_its_text() {
        use crate::model::{AttributeValue, KeyValue, attributes_to_json_text};
        let attribute = |key: &str, value: &str| KeyValue {
            key: key.to_owned(),
            value: AttributeValue::String(value.to_owned()),
        };
        let long = Arc::new(vec![
            attribute("service.name", "orders-api"),
            attribute("cloud.region", "eu-west-1"),
        ]);
        let short = Arc::new(vec![attribute("a", "b")]);
        let empty = Arc::new(Vec::new());

        let resources = [&long, &long, &short, &short, &long, &empty, &long];
        let spans = resources
            .iter()
            .enumerate()
            .map(|(index, resource)| Span {
                resource_attributes: Arc::clone(resource),
                ..span(index, DAY_NS)
            })
            .collect();
        let records = Records {
            spans,
            ..Records::default()
        };

        let frames = WriteFrames::build(&records).unwrap();
        let column = frames.frames[0].1.column("resource_attributes").unwrap();
        let texts: Vec<Option<&str>> = column.str().unwrap().iter().collect();
        let expected: Vec<String> = resources
            .iter()
            .map(|resource| attributes_to_json_text(resource))
            .collect();
        assert_eq!(
            texts,
            expected
                .iter()
                .map(|text| Some(text.as_str()))
                .collect::<Vec<_>>()
        );
        assert_eq!(expected[2], r#"{"a":"b"}"#);
        assert_eq!(expected[5], "{}");
    }

    #[test]
    fn row_groups_split_writes_at_the_row_limit() {
        // Writes of 3/4, 3/4 and 5/8 of a row group: two full groups and the rest.
        let first = ROW_GROUP_ROWS * 3 / 4;
        let last = ROW_GROUP_ROWS * 5 / 8;
        let total = 2 * first + last;
        let mut buffer = Buffer::default();
        buffer.push_records(1, &spans(first, 0)).unwrap();
        buffer.push_records(2, &spans(first, first)).unwrap();
        buffer.push_records(3, &spans(last, 2 * first)).unwrap();
        assert_eq!(buffer.rows(), total);
        let parts = buffer.parts();
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].range, (1, 3));

        let groups: Vec<DataFrame> = parts[0].row_groups().map(Result::unwrap).collect();
        let heights: Vec<usize> = groups.iter().map(DataFrame::height).collect();
        assert_eq!(
            heights,
            [ROW_GROUP_ROWS, ROW_GROUP_ROWS, total - 2 * ROW_GROUP_ROWS]
        );
        let mut names = Vec::new();
        let mut seqs = Vec::new();
        for group in &groups {
            assert_eq!(group.get_column_names().last().unwrap().as_str(), "seq");
            for column in group.columns() {
                assert_eq!(column.n_chunks(), 1, "column {}", column.name());
            }
            let name = group.column("name").unwrap().str().unwrap();
            names.extend((0..group.height()).map(|row| name.get(row).unwrap().to_owned()));
            seqs.extend(
                group
                    .column("seq")
                    .unwrap()
                    .u64()
                    .unwrap()
                    .into_no_null_iter(),
            );
        }
        let expected_names: Vec<String> = (0..total).map(|index| format!("span {index}")).collect();
        assert_eq!(names, expected_names);
        assert_eq!(seqs[0], 1);
        assert_eq!(seqs[first - 1], 1);
        assert_eq!(seqs[first], 2);
        assert_eq!(seqs[2 * first - 1], 2);
        assert_eq!(seqs[2 * first], 3);
        assert_eq!(seqs[total - 1], 3);
    }

    #[test]
    fn writes_split_into_parts_by_date() {
        let mut records = spans(2, 0);
        records.spans[1].start_ns += 86_400_000_000_000;
        records.spans[1].end_ns += 86_400_000_000_000;
        let mut buffer = Buffer::default();
        buffer.push_records(4, &records).unwrap();
        let parts = buffer.parts();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].date, time::macros::date!(2024 - 05 - 29));
        assert_eq!(parts[1].date, time::macros::date!(2024 - 05 - 30));
        for part in &parts {
            assert_eq!(part.range, (4, 4));
            let heights: Vec<usize> = part
                .row_groups()
                .map(|group| group.unwrap().height())
                .collect();
            assert_eq!(heights, [1]);
        }
    }

    #[test]
    fn write_without_records_counts_as_a_write() {
        let mut buffer = Buffer::default();
        buffer.push_records(1, &Records::default()).unwrap();
        assert!(!buffer.is_empty());
        assert_eq!(buffer.rows(), 0);
        assert!(buffer.parts().is_empty());

        let mut merged = Buffer::default();
        merged.append(buffer);
        assert!(!merged.is_empty());
    }
}
