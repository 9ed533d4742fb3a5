//! Merging of small parts.
//!
//! A flush every few seconds under light load writes a part of a few rows per table and
//! date, up to 8,640 a day at the default interval, and readers open every one of them.
//! The flush thread therefore merges the small parts of each partition into one part:
//! once a partition has [`MERGE_PARTS`] of them, once they reach [`MERGE_ROWS`] rows
//! together, or when a large part follows them.
//!
//! A merged part takes the range from the first sequence number of its parts to the last.
//! Readers leave out every part within a merged part's range, so that range must contain
//! no part that was not merged. The flush thread writes a partition's parts in order. It
//! merges only parts written since the last large part of the partition and since the last
//! failed flush, so no other part lies within their range. When it first writes to a
//! partition, it also takes the small parts at the end of the partition from before the
//! process started, unless another part's range reaches into theirs.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use polars::prelude::{DataFrame, ParquetReader, PolarsResult, SerReader as _};
use time::Date;

use super::buffer::ROW_GROUP_ROWS;
use super::parts::{PartName, Table, live_parts, write_part};
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
    /// Partitions whose parts from before the process started were looked at.
    resumed: BTreeSet<(Table, Date)>,
}

impl Merger {
    /// Records a part that a flush wrote and merges its partition's small parts when they
    /// are due. A failed merge is logged and leaves the parts as they are.
    pub(crate) fn wrote(&mut self, data_dir: &Path, part: WrittenPart) {
        let key = (part.table, part.date);
        if self.resumed.insert(key) {
            // The first part this process writes to a partition follows every part there.
            let earlier = earlier_small_parts(&part);
            if !earlier.is_empty() {
                self.small.insert(key, earlier);
            }
        }
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

/// Returns the small parts at the end of `written`'s partition, apart from `written`
/// itself, that may be merged with the parts written after them.
fn earlier_small_parts(written: &WrittenPart) -> Vec<WrittenPart> {
    let Some(partition_dir) = written.path.parent() else {
        return Vec::new();
    };
    let mut parts: Vec<(PartName, PathBuf)> = live_parts(partition_dir)
        .into_iter()
        .filter(|path| *path != written.path)
        .filter_map(|path| {
            let name = PartName::parse(path.file_name()?.to_str()?)?;
            Some((name, path))
        })
        .collect();
    parts.sort_by_key(|(name, _)| name.range);
    let names: Vec<PartName> = parts.iter().map(|(name, _)| *name).collect();
    let mut rows = vec![0; parts.len()];
    let candidates = small_tail(&names, |index| {
        let count = part_rows(&parts[index].1)?;
        rows[index] = count;
        Some(count)
    });
    candidates
        .map(|index| WrittenPart {
            table: written.table,
            date: written.date,
            name: parts[index].0,
            path: parts[index].1.clone(),
            rows: rows[index],
        })
        .collect()
}

/// Reads the number of rows of a part from its footer.
fn part_rows(path: &Path) -> Option<usize> {
    let file = File::open(path).ok()?;
    ParquetReader::new(file).num_rows().ok()
}

/// Returns the indices of the small parts at the end of `names`, sorted by range, that a
/// merge may take. They are at most [`MERGE_PARTS`] - 1 parts, each with fewer than
/// [`MERGE_ROWS`] rows by `rows_of` (`None` when its rows cannot be read). No other part's
/// range meets theirs.
fn small_tail(names: &[PartName], mut rows_of: impl FnMut(usize) -> Option<usize>) -> Range<usize> {
    let mut start = names.len();
    while start > 0 && names.len() - start < MERGE_PARTS - 1 {
        match rows_of(start - 1) {
            Some(rows) if rows < MERGE_ROWS => start -= 1,
            _ => break,
        }
    }
    // A part before the tail whose range reaches into the tail's range would lie within
    // the merged range without being merged, so the tail starts after it.
    while start < names.len() {
        let first = names[start].range.0;
        if names[..start].iter().all(|other| other.range.1 < first) {
            break;
        }
        start += 1;
    }
    start..names.len()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(first: u64, last: u64) -> PartName {
        PartName {
            range: (first, last),
            merged: false,
        }
    }

    #[test]
    fn small_tail_stops_at_large_part() {
        let names = [plain(1, 1), plain(2, 2), plain(3, 3), plain(4, 4)];
        let rows = [5, MERGE_ROWS, 5, 5];
        assert_eq!(small_tail(&names, |index| Some(rows[index])), 2..4);
        assert_eq!(small_tail(&names, |index| (index != 2).then_some(5)), 3..4);
        assert_eq!(small_tail(&[], |_| Some(1)), 0..0);
    }

    #[test]
    fn small_tail_length_limit() {
        let names: Vec<PartName> = (1..=20).map(|seq| plain(seq, seq)).collect();
        let tail = small_tail(&names, |_| Some(1));
        assert_eq!(tail, 20 - (MERGE_PARTS - 1)..20);
    }

    #[test]
    fn small_tail_leaves_out_overlapped_parts() {
        // A large part whose range reaches past the start of the small parts after it, as
        // a replay after a crash can leave.
        let names = [plain(1, 9), plain(5, 5), plain(8, 8), plain(10, 12)];
        let rows = [MERGE_ROWS, 5, 5, 5];
        assert_eq!(small_tail(&names, |index| Some(rows[index])), 3..4);
        // Overlapping small parts are taken together.
        let names = [plain(1, 1), plain(2, 6), plain(3, 3), plain(7, 7)];
        assert_eq!(small_tail(&names, |_| Some(5)), 0..4);
    }
}
