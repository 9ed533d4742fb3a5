//! Parquet parts: `<data dir>/<table>/date=YYYY-MM-DD/part-<first seq>-<last seq>.parquet`.
//!
//! A part contains every record of its table and date from the writes numbered `first` to
//! `last`. It is written under a temporary name, fsynced, renamed into place, and its
//! directory fsynced, so a part that exists is complete.
//!
//! A merged part, `part-<first>-<last>-merged.parquet`, contains the rows of the parts it
//! was merged from, all of whose ranges lie within its own. Those parts are deleted once
//! it is durable. Until then, and after a crash in between, readers leave out every part
//! whose range lies within a merged part's range ([`live_parts`]).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use polars::prelude::{DataFrame, ParquetCompression, ParquetWriter, PolarsError, PolarsResult};
use polars_utils::compression::ZstdLevel;
use time::Date;
use time::macros::format_description;

pub(crate) use super::Table;
use super::{StoreError, remove_files, sync_dir};

const TEMPORARY_PREFIX: &str = ".tmp-";

/// Sequence-number ranges of the parts of each table and date.
pub(crate) type PartIndex = BTreeMap<(Table, Date), Vec<(u64, u64)>>;

/// Formats a partition directory name, `date=YYYY-MM-DD`.
pub(crate) fn partition_name(date: Date) -> String {
    let format = format_description!("[year]-[month]-[day]");
    format!(
        "date={}",
        date.format(&format).expect("a calendar date formats")
    )
}

fn parse_partition(name: &str) -> Option<Date> {
    let format = format_description!("[year]-[month]-[day]");
    Date::parse(name.strip_prefix("date=")?, &format).ok()
}

const MERGED_SUFFIX: &str = "-merged";

/// The sequence range of a part file name, and whether the part is a merged one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartName {
    pub(crate) range: (u64, u64),
    pub(crate) merged: bool,
}

impl PartName {
    pub(crate) fn parse(name: &str) -> Option<Self> {
        let stem = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
        let (range, merged) = match stem.strip_suffix(MERGED_SUFFIX) {
            Some(range) => (range, true),
            None => (stem, false),
        };
        let (first, last) = range.split_once('-')?;
        Some(Self {
            range: (first.parse().ok()?, last.parse().ok()?),
            merged,
        })
    }

    fn file_name(self) -> String {
        let (first, last) = self.range;
        let suffix = if self.merged { MERGED_SUFFIX } else { "" };
        format!("part-{first:020}-{last:020}{suffix}.parquet")
    }

    /// Returns true when a merged part other than this one has a range that contains this
    /// part's range, so its rows are in that merged part.
    fn is_covered_by(self, names: &[Self]) -> bool {
        let (first, last) = self.range;
        names.iter().any(|other| {
            other.merged && *other != self && other.range.0 <= first && last <= other.range.1
        })
    }
}

fn is_part_file(name: &str) -> bool {
    name.starts_with("part-") && name.ends_with(".parquet")
}

/// Lists the part files of a partition directory that readers use, sorted by name: every
/// non-empty `part-*.parquet` file except those whose rows a merged part contains. Names
/// that carry no sequence range are kept.
#[must_use]
pub fn live_parts(partition_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(partition_dir) else {
        return Vec::new();
    };
    let mut files: Vec<(PathBuf, Option<PartName>)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let name = name.to_str()?;
            let non_empty = entry.metadata().is_ok_and(|metadata| metadata.len() > 0);
            (is_part_file(name) && non_empty).then(|| (entry.path(), PartName::parse(name)))
        })
        .collect();
    let names: Vec<PartName> = files.iter().filter_map(|(_, name)| *name).collect();
    files.retain(|(_, name)| !name.is_some_and(|name| name.is_covered_by(&names)));
    let mut paths: Vec<PathBuf> = files.into_iter().map(|(path, _)| path).collect();
    paths.sort();
    paths
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Lists the parts under `data_dir` and deletes what a crash left behind: temporary files,
/// and parts whose rows a merged part already contains.
pub(crate) fn scan_parts(data_dir: &Path) -> Result<PartIndex, StoreError> {
    let mut index = PartIndex::new();
    for table in Table::ALL {
        let table_dir = data_dir.join(table.name());
        let Ok(partitions) = fs::read_dir(&table_dir) else {
            continue;
        };
        for partition in partitions {
            let partition = partition.map_err(io_error(&table_dir))?;
            let Some(date) = partition.file_name().to_str().and_then(parse_partition) else {
                continue;
            };
            let partition_dir = partition.path();
            let mut names = Vec::new();
            for entry in fs::read_dir(&partition_dir).map_err(io_error(&partition_dir))? {
                let entry = entry.map_err(io_error(&partition_dir))?;
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    continue;
                };
                if name.starts_with(TEMPORARY_PREFIX) {
                    let path = entry.path();
                    fs::remove_file(&path).map_err(io_error(&path))?;
                } else if let Some(part) = PartName::parse(name) {
                    names.push(part);
                }
            }
            let covered = names.iter().filter(|part| part.is_covered_by(&names));
            let covered: Vec<PathBuf> = covered
                .map(|part| partition_dir.join(part.file_name()))
                .collect();
            remove_files(&partition_dir, &covered)?;
            let ranges = names.iter().map(|part| part.range);
            index.entry((table, date)).or_default().extend(ranges);
        }
    }
    Ok(index)
}

/// Returns true when a part of `table` and `date` already contains the records of write `seq`.
pub(crate) fn is_covered(index: &PartIndex, table: Table, date: Date, seq: u64) -> bool {
    index.get(&(table, date)).is_some_and(|ranges| {
        ranges
            .iter()
            .any(|&(first, last)| (first..=last).contains(&seq))
    })
}

/// Bytes of Parquet gathered before each write to the part file.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// zstd level of the parts' pages. The default of polars 0.55, level 3, sets up larger
/// match tables for every page. Flushing 102,400 spans with distinct ids on a 2-vCPU
/// machine, level 1 took 18% less CPU in the flush thread than level 3, and the parts were
/// 0.1% smaller.
const ZSTD_LEVEL: i32 = 1;

/// Writes one part atomically and returns its path. Each frame of `row_groups` becomes one
/// Parquet row group, so only one group's columns are in memory at a time.
pub(crate) fn write_part(
    data_dir: &Path,
    table: Table,
    date: Date,
    name: PartName,
    row_groups: impl Iterator<Item = PolarsResult<DataFrame>>,
) -> Result<PathBuf, StoreError> {
    let table_dir = data_dir.join(table.name());
    let partition_dir = table_dir.join(partition_name(date));
    let created = !partition_dir.exists();
    fs::create_dir_all(&partition_dir).map_err(io_error(&partition_dir))?;

    let name = name.file_name();
    let temporary = partition_dir.join(format!("{TEMPORARY_PREFIX}{name}"));
    let target = partition_dir.join(&name);
    let file = File::create(&temporary).map_err(io_error(&temporary))?;
    // The Parquet writer writes each page header and page on its own. Unbuffered, each of
    // those small writes was a system call, and together they took a seventh of the
    // collector's CPU time.
    let mut buffered = BufWriter::with_capacity(WRITE_BUFFER_BYTES, &file);
    write_row_groups(&mut buffered, row_groups).map_err(|source| StoreError::Parquet {
        path: temporary.clone(),
        source,
    })?;
    buffered.flush().map_err(io_error(&temporary))?;
    drop(buffered);
    file.sync_all().map_err(io_error(&temporary))?;
    drop(file);
    fs::rename(&temporary, &target).map_err(io_error(&target))?;

    sync_dir(&partition_dir)?;
    if created {
        // A new partition directory is durable only once its parent records it.
        sync_dir(&table_dir)?;
        sync_dir(data_dir)?;
    }
    Ok(target)
}

fn write_row_groups(
    file: &mut BufWriter<&File>,
    mut row_groups: impl Iterator<Item = PolarsResult<DataFrame>>,
) -> PolarsResult<()> {
    let Some(first) = row_groups.next().transpose()? else {
        return Err(PolarsError::NoData("a part needs at least one row".into()));
    };
    // Columns are encoded one after the other: the request threads already keep the other
    // core busy, and parallel encoding keeps every column's pages in memory at once.
    let mut writer = ParquetWriter::new(file)
        .with_compression(ParquetCompression::Zstd(Some(ZstdLevel::try_new(
            ZSTD_LEVEL,
        )?)))
        .set_parallel(false)
        .batched(first.schema())?;
    writer.write_batch(&first)?;
    drop(first);
    for frame in row_groups {
        writer.write_batch(&frame?)?;
    }
    writer.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn part_and_partition_names_round_trip() {
        assert_eq!(partition_name(date!(2024 - 07 - 05)), "date=2024-07-05");
        assert_eq!(
            parse_partition("date=2024-07-05"),
            Some(date!(2024 - 07 - 05))
        );
        assert_eq!(parse_partition("date=2024-7-5x"), None);
        let plain = PartName {
            range: (5, 9),
            merged: false,
        };
        let merged = PartName {
            merged: true,
            ..plain
        };
        assert_eq!(
            plain.file_name(),
            "part-00000000000000000005-00000000000000000009.parquet"
        );
        assert_eq!(PartName::parse(&plain.file_name()), Some(plain));
        assert_eq!(
            merged.file_name(),
            "part-00000000000000000005-00000000000000000009-merged.parquet"
        );
        assert_eq!(PartName::parse(&merged.file_name()), Some(merged));
        assert_eq!(PartName::parse(".tmp-part-1-2.parquet"), None);
        assert_eq!(PartName::parse("part-1-2-other.parquet"), None);
    }

    #[test]
    fn live_parts_leave_out_merged_ones() {
        let dir = tempfile::tempdir().unwrap();
        let name = |first, last, merged| PartName {
            range: (first, last),
            merged,
        };
        let files = [
            (name(1, 2, false), "merged into 1-5"),
            (name(3, 5, false), "merged into 1-5"),
            (name(1, 5, true), "kept"),
            (
                name(4, 9, false),
                "kept: overlaps 1-5 without lying within it",
            ),
            (name(6, 7, false), "kept: within 4-9, which is not merged"),
            (name(10, 20, true), "merged into 10-30"),
            (name(10, 30, true), "kept"),
        ];
        for (part, _) in &files {
            fs::write(dir.path().join(part.file_name()), b"PAR1").unwrap();
        }
        fs::write(dir.path().join("part-a.parquet"), b"PAR1").unwrap();
        fs::write(dir.path().join(name(40, 41, false).file_name()), b"").unwrap();
        fs::write(dir.path().join(".tmp-part-1-60.parquet"), b"PAR1").unwrap();

        let mut expected: Vec<PathBuf> = files
            .iter()
            .filter(|(_, why)| why.starts_with("kept"))
            .map(|(part, _)| dir.path().join(part.file_name()))
            .collect();
        expected.push(dir.path().join("part-a.parquet"));
        expected.sort();
        assert_eq!(live_parts(dir.path()), expected);
    }
}
