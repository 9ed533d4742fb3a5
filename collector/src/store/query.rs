//! Queries over the dataset: polars lazy scans of one table with Hive partition pruning.

use std::path::Path;

use polars::prelude::*;
use time::Date;

use super::parts::partition_name;
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
/// string column `date` (`YYYY-MM-DD`). The date filter prunes whole partitions before any
/// file is read. Returns `None` when the table has no parts yet.
pub fn scan(
    data_dir: &Path,
    table: Table,
    dates: DateRange,
) -> Result<Option<LazyFrame>, StoreError> {
    let table_dir = data_dir.join(table.name());
    let has_parts = std::fs::read_dir(&table_dir)
        .map(|partitions| {
            partitions.flatten().any(|partition| {
                std::fs::read_dir(partition.path()).is_ok_and(|mut entries| {
                    entries.any(|entry| {
                        entry.is_ok_and(|entry| {
                            entry.file_name().to_str().is_some_and(|name| {
                                name.starts_with("part-") && name.ends_with(".parquet")
                            })
                        })
                    })
                })
            })
        })
        .is_ok_and(|found| found);
    if !has_parts {
        return Ok(None);
    }

    let pattern = table_dir.join("date=*").join("part-*.parquet");
    let hive_schema = Schema::from_iter([Field::new("date".into(), DataType::String)]);
    let args = ScanArgsParquet {
        hive_options: HiveOptions {
            enabled: Some(true),
            hive_start_idx: 0,
            schema: Some(Arc::new(hive_schema)),
            try_parse_dates: false,
        },
        glob: true,
        ..ScanArgsParquet::default()
    };
    let path = PlRefPath::new(pattern.to_string_lossy().into_owned());
    let mut frame = LazyFrame::scan_parquet(path, args).map_err(|source| StoreError::Parquet {
        path: table_dir.clone(),
        source,
    })?;
    // `date=YYYY-MM-DD` values compare correctly as strings.
    let value = |date: Date| partition_name(date)["date=".len()..].to_owned();
    if let Some(from) = dates.from {
        frame = frame.filter(col("date").gt_eq(lit(value(from))));
    }
    if let Some(to) = dates.to {
        frame = frame.filter(col("date").lt_eq(lit(value(to))));
    }
    Ok(Some(frame))
}
