//! Merging of small parts.
//!
//! A flush every few seconds under light load writes a part of a few rows per table and
//! date, up to 8,640 a day at the default interval, and readers open every one of them.
//! The flush thread therefore merges the small parts it wrote into one part of each
//! partition: once a partition has [`MERGE_PARTS`] of them, once they reach
//! [`MERGE_ROWS`] rows together, or when a large part follows them.
//!
//! A merged part takes the range from the first sequence number of its parts to the last.
//! Readers leave out every part within a merged part's range, so that range must contain
//! no part that was not merged. The flush thread writes a partition's parts in order. It
//! merges only parts it wrote itself since the last large part of the partition and since
//! the last failed flush, so no other part lies within their range. Parts written before
//! the process started are not merged.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::{DataFrame, ParquetReader, PolarsResult, SerReader as _};
use time::Date;

use super::buffer::ROW_GROUP_ROWS;
use super::parts::{PartName, Table, write_part};
use super::writer::WrittenPart;
use super::{StoreError, remove_files};

/// Parts with fewer rows than this are small. It is the row group size, so a merged part
/// that reaches it has full row groups from then on.
pub(crate) const MERGE_ROWS: usize = ROW_GROUP_ROWS;

/// Small parts of one partition that are merged as soon as they are all written.
pub(crate) const MERGE_PARTS: usize = 8;

/// The small parts of each partition that the flush thread wrote since its last merge there.
#[derive(Debug, Default)]
pub(crate) struct Merger {
    small: BTreeMap<(Table, Date), Vec<WrittenPart>>,
}

impl Merger {
    /// Records a part that a flush wrote and merges its partition's small parts when they
    /// are due. A failed merge is logged and leaves the parts as they are.
    pub(crate) fn wrote(&mut self, data_dir: &Path, part: WrittenPart) {
        let key = (part.table, part.date);
        let small = self.small.entry(key).or_default();
        let due = if part.rows < MERGE_ROWS {
            small.push(part);
            let rows: usize = small.iter().map(|part| part.rows).sum();
            small.len() >= MERGE_PARTS || (small.len() > 1 && rows >= MERGE_ROWS)
        } else {
            // The large part's range may follow the small parts' ranges. The small parts
            // are merged now, so no later merged range spans the large part.
            true
        };
        if !due {
            return;
        }
        let parts = self.small.remove(&key).unwrap_or_default();
        if parts.len() < 2 {
            return;
        }
        match merge(data_dir, &parts) {
            Ok(merged) => {
                tracing::debug!(
                    table = key.0.name(),
                    date = %key.1,
                    parts = parts.len(),
                    rows = merged.rows,
                    path = %merged.path.display(),
                    "merged small parts"
                );
                if merged.rows < MERGE_ROWS {
                    self.small.insert(key, vec![merged]);
                }
            }
            Err(error) => {
                tracing::error!(
                    %error,
                    table = key.0.name(),
                    date = %key.1,
                    parts = parts.len(),
                    "merging small parts failed; they stay as they are"
                );
            }
        }
    }

    /// Forgets every small part, so that none of them is merged with a part written later.
    pub(crate) fn forget(&mut self) {
        self.small.clear();
    }
}

/// Writes the rows of `parts`, which share a table and date, into one merged part, then
/// deletes them. Returns the merged part.
pub(crate) fn merge(data_dir: &Path, parts: &[WrittenPart]) -> Result<WrittenPart, StoreError> {
    let first = &parts[0];
    let range = (
        parts
            .iter()
            .map(|part| part.name.range.0)
            .min()
            .unwrap_or(0),
        parts
            .iter()
            .map(|part| part.name.range.1)
            .max()
            .unwrap_or(0),
    );
    let name = PartName {
        range,
        merged: true,
    };
    let parquet_error = |path: &PathBuf| {
        let path = path.clone();
        move |source| StoreError::Parquet { path, source }
    };

    let mut frames = Vec::with_capacity(parts.len());
    for part in parts {
        let file = File::open(&part.path).map_err(|source| StoreError::Io {
            path: part.path.clone(),
            source,
        })?;
        let frame = ParquetReader::new(file)
            .finish()
            .map_err(parquet_error(&part.path))?;
        frames.push(frame);
    }
    let rows: usize = frames.iter().map(DataFrame::height).sum();
    let row_groups = row_groups(frames);
    let path = write_part(data_dir, first.table, first.date, name, row_groups)?;

    let sources: Vec<PathBuf> = parts.iter().map(|part| part.path.clone()).collect();
    let partition_dir = path.parent().unwrap_or(data_dir).to_owned();
    remove_files(&partition_dir, &sources)?;
    Ok(WrittenPart {
        table: first.table,
        date: first.date,
        name,
        path,
        rows,
    })
}

/// Joins `frames` and splits them again into row groups of [`ROW_GROUP_ROWS`] rows.
fn row_groups(frames: Vec<DataFrame>) -> impl Iterator<Item = PolarsResult<DataFrame>> {
    let mut frames = frames.into_iter();
    let mut pending: Option<DataFrame> = None;
    std::iter::from_fn(move || {
        loop {
            let height = pending.as_ref().map_or(0, DataFrame::height);
            if height >= ROW_GROUP_ROWS {
                break;
            }
            let Some(next) = frames.next() else {
                break;
            };
            pending = Some(match pending.take() {
                None => next,
                Some(mut joined) => match joined.vstack_mut_owned(next) {
                    Ok(_) => joined,
                    Err(error) => return Some(Err(error)),
                },
            });
        }
        let mut joined = pending.take()?;
        if joined.height() > ROW_GROUP_ROWS {
            let rest = joined.slice(ROW_GROUP_ROWS as i64, joined.height() - ROW_GROUP_ROWS);
            joined = joined.slice(0, ROW_GROUP_ROWS);
            pending = Some(rest);
        }
        if joined.height() == 0 {
            return None;
        }
        joined.rechunk_mut();
        Some(Ok(joined))
    })
}
