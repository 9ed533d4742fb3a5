//! Queries over the dataset: polars lazy scans of one table with Hive partition pruning.

use std::path::Path;

use polars::prelude::*;
use time::Date;

use super::parts::{live_parts, partition_name};
use super::{StoreError, Table};

/// An inclusive range of partition dates; `None` leaves that end open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DateRange {
    /// First date included.
    pub from: Option<Date>,
    /// Last date included.
    pub to: Option<Date>,
}

/// Returns a lazy scan of `table` restricted to `dates`, with the partition date as a
/// string column `date` (`YYYY-MM-DD`). Only the partitions within `dates` are listed and
/// read, so a damaged part outside them does not fail the scan. Returns `None` when no
/// partition within `dates` has a part.
pub fn scan(
    data_dir: &Path,
    table: Table,
    dates: DateRange,
) -> Result<Option<LazyFrame>, StoreError> {
    let table_dir = data_dir.join(table.name());
    // The part files are listed here rather than matched by a glob, because the parts
    // whose rows a merged part contains must be left out.
    let files: Vec<PlRefPath> = partition_dates(&table_dir, dates)
        .into_iter()
        .flat_map(|date| live_parts(&table_dir.join(partition_name(date))))
        .map(|path| PlRefPath::new(path.to_string_lossy().into_owned()))
        .collect();
    if files.is_empty() {
        return Ok(None);
    }
    let hive_schema = Schema::from_iter([Field::new("date".into(), DataType::String)]);
    let args = ScanArgsParquet {
        hive_options: HiveOptions {
            enabled: Some(true),
            hive_start_idx: 0,
            schema: Some(Arc::new(hive_schema)),
            try_parse_dates: false,
        },
        glob: false,
        ..ScanArgsParquet::default()
    };
    let frame = LazyFrame::scan_parquet_files(files.into(), args).map_err(|source| {
        StoreError::Parquet {
            path: table_dir.clone(),
            source,
        }
    })?;
    Ok(Some(frame))
}

/// Returns the dates of the partitions of `table` within `dates` that have a part, in
/// order. Directories whose name is not `date=YYYY-MM-DD` are left out.
#[must_use]
pub fn partitions(data_dir: &Path, table: Table, dates: DateRange) -> Vec<Date> {
    let table_dir = data_dir.join(table.name());
    partition_dates(&table_dir, dates)
        .into_iter()
        .filter(|&date| !live_parts(&table_dir.join(partition_name(date))).is_empty())
        .collect()
}

/// Returns the dates of the partition directories under `table_dir` within `dates`, in
/// order, whether or not they have a part.
fn partition_dates(table_dir: &Path, dates: DateRange) -> Vec<Date> {
    let Ok(entries) = std::fs::read_dir(table_dir) else {
        return Vec::new();
    };
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let mut found: Vec<Date> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let date = Date::parse(name.to_str()?.strip_prefix("date=")?, &format).ok()?;
            let within =
                dates.from.is_none_or(|from| date >= from) && dates.to.is_none_or(|to| date <= to);
            within.then_some(date)
        })
        .collect();
    found.sort_unstable();
    found
}
