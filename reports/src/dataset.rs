//! Reading invocation records and trace hops back from the collector's Parquet dataset.

use std::path::Path;

use polars::prelude::*;
use spanbill_collector::store::{DateRange, Table, scan};

use crate::detect::spiral::TraceHop;
use spanbill_collector::{
    Architecture, BillingEra, ColdStartSource, Invocation, MemoryUnit, Source, Status, TraceContext,
};

/// Errors while reading the dataset.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The store could not scan the table.
    #[error(transparent)]
    Store(#[from] spanbill_collector::store::StoreError),
    /// A part could not be read or has an unexpected column.
    #[error(
        "failed to read the invocations under `{path}`; a part may be corrupt or from another version of spanbill"
    )]
    Read {
        /// The data directory.
        path: String,
        /// The polars error.
        #[source]
        source: PolarsError,
    },
}

/// Reads the invocations whose partition date is within `dates`. An empty or missing table
/// gives no invocations.
pub fn load_invocations(
    data_dir: &Path,
    dates: DateRange,
) -> Result<Vec<Invocation>, DatasetError> {
    let Some(frame) = scan(data_dir, Table::Invocations, dates)? else {
        return Ok(Vec::new());
    };
    let read_error = |source| DatasetError::Read {
        path: data_dir.display().to_string(),
        source,
    };
    let frame = frame.collect().map_err(read_error)?;
    rows(&frame).map_err(read_error)
}

fn rows(frame: &DataFrame) -> PolarsResult<Vec<Invocation>> {
    let text = |name: &str| text_column(frame, name);
    let float = |name: &str| -> PolarsResult<Vec<Option<f64>>> {
        Ok(frame
            .column(name)?
            .cast(&DataType::Float64)?
            .f64()?
            .iter()
            .collect())
    };
    let integer = |name: &str| -> PolarsResult<Vec<Option<i64>>> {
        Ok(frame
            .column(name)?
            .cast(&DataType::Int64)?
            .i64()?
            .iter()
            .collect())
    };
    let flag = |name: &str| -> PolarsResult<Vec<Option<bool>>> {
        Ok(frame.column(name)?.bool()?.iter().collect())
    };

    let request_id = text("request_id")?;
    let function = text("function")?;
    let version = text("version")?;
    let start_ns = integer("start_ns")?;
    let duration_ms = float("duration_ms")?;
    let billed_ms = integer("billed_ms")?;
    let memory_mb = integer("memory_mb")?;
    let max_memory_used_mb = integer("max_memory_used_mb")?;
    let init_ms = float("init_ms")?;
    let restore_ms = float("restore_ms")?;
    let billed_restore_ms = integer("billed_restore_ms")?;
    let status = text("status")?;
    let error_type = text("error_type")?;
    let out_of_memory = flag("out_of_memory")?;
    let cold_start = flag("cold_start")?;
    let architecture = text("architecture")?;
    let region = text("region")?;
    let account = text("account")?;
    let xray_trace_id = text("xray_trace_id")?;
    let source = text("source")?;
    let billing_era = text("billing_era")?;

    let mut invocations = Vec::with_capacity(frame.height());
    for row in 0..frame.height() {
        let start = start_ns[row].and_then(|nanos| {
            time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)).ok()
        });
        invocations.push(Invocation {
            request_id: request_id[row].clone().unwrap_or_default(),
            function: function[row].clone(),
            version: version[row].clone(),
            start,
            duration_ms: duration_ms[row].unwrap_or_default(),
            billed_ms: billed_ms[row].unwrap_or_default().max(0) as u64,
            memory_mb: memory_mb[row].unwrap_or_default().max(0) as u32,
            memory_unit: MemoryUnit::Mb,
            max_memory_used_mb: max_memory_used_mb[row].unwrap_or_default().max(0) as u32,
            init_ms: init_ms[row],
            restore_ms: restore_ms[row],
            billed_restore_ms: billed_restore_ms[row].map(|ms| ms.max(0) as u64),
            status: match status[row].as_deref() {
                Some("error") => Status::Error,
                Some("timeout") => Status::Timeout,
                _ => Status::Success,
            },
            error_type: error_type[row].clone(),
            out_of_memory: out_of_memory[row].unwrap_or_default(),
            cold_start: cold_start[row].unwrap_or_default(),
            cold_start_source: ColdStartSource::Platform,
            initialization_type: None,
            architecture: architecture[row].as_deref().map(|name| {
                if name == "arm64" {
                    Architecture::Arm64
                } else {
                    Architecture::X86_64
                }
            }),
            region: region[row].clone(),
            account: account[row].clone(),
            trace: xray_trace_id[row]
                .as_deref()
                .map(TraceContext::from_xray_trace_id),
            source: match source[row].as_deref() {
                Some("simulator") => Source::Simulator,
                Some("platform_report") => Source::PlatformReport,
                _ => Source::ReportLine,
            },
            billing_era: billing_era[row].as_deref().and_then(|name| match name {
                "rounded_100ms" => Some(BillingEra::Rounded100Ms),
                "rounded_1ms" => Some(BillingEra::Rounded1Ms),
                "init_billed" => Some(BillingEra::InitBilled),
                _ => None,
            }),
        });
    }
    Ok(invocations)
}

/// Reads, from the spans within `dates`, one [`TraceHop`] per invocation span: the spans
/// that carry `faas.invocation_id`.
pub fn load_trace_hops(data_dir: &Path, dates: DateRange) -> Result<Vec<TraceHop>, DatasetError> {
    let Some(frame) = scan(data_dir, Table::Spans, dates)? else {
        return Ok(Vec::new());
    };
    let read_error = |source| DatasetError::Read {
        path: data_dir.display().to_string(),
        source,
    };
    let frame = frame
        .filter(col("faas_invocation_id").is_not_null())
        .select([
            col("trace_id"),
            col("faas_name"),
            col("service_name"),
            col("faas_trigger"),
        ])
        .collect()
        .map_err(read_error)?;
    let text = |name: &str| text_column(&frame, name);
    let (trace_id, faas_name, service_name, trigger) = (|| {
        Ok::<_, PolarsError>((
            text("trace_id")?,
            text("faas_name")?,
            text("service_name")?,
            text("faas_trigger")?,
        ))
    })()
    .map_err(read_error)?;
    Ok((0..frame.height())
        .filter_map(|row| {
            let function = faas_name[row]
                .clone()
                .or_else(|| service_name[row].clone())?;
            Some(TraceHop {
                trace_id: trace_id[row].clone()?,
                function,
                from_queue: trigger[row].as_deref() == Some("pubsub"),
            })
        })
        .collect())
}

/// Reads a string column as owned values.
fn text_column(frame: &DataFrame, name: &str) -> PolarsResult<Vec<Option<String>>> {
    Ok(frame
        .column(name)?
        .str()?
        .iter()
        .map(|value| value.map(str::to_owned))
        .collect())
}
