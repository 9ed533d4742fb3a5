//! `spanbill ingest`: reads platform logs and OTLP files into the dataset.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use spanbill_collector::ingest::{DetectedFormat, IngestOptions, IngestRead, read_input};
use spanbill_collector::model::Records;
use spanbill_collector::store::{Store, StoreOptions};
use time::Date;
use time::macros::format_description;

/// Inputs larger than this in total show a progress bar (on a terminal).
const PROGRESS_BAR_BYTES: u64 = 16 << 20;

/// Records per store write, so one write-ahead log frame stays small.
const RECORDS_PER_WRITE: usize = 5_000;

/// Exit status when every input was read and its valid records stored, but some records
/// were rejected as invalid.
pub(crate) const EXIT_REJECTED: u8 = 3;

/// Flags of `spanbill ingest`.
#[derive(Debug, clap::Args)]
pub(crate) struct IngestArgs {
    /// Dataset directory [default: $XDG_DATA_HOME/spanbill, else ~/.local/share/spanbill].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Function name for platform logs that do not name their function.
    #[arg(long, value_name = "NAME")]
    function: Option<String>,
    /// Date (UTC) for platform logs that print only times of day, as YYYY-MM-DD.
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<String>,
    /// Files to read: platform logs, OTLP JSON or protobuf; `-` reads standard input.
    #[arg(value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
}

/// Per-run counts.
#[derive(Debug, Default)]
struct Totals {
    files: usize,
    read: usize,
    stored: usize,
    rejected: usize,
}

/// Runs `spanbill ingest`, returning [`EXIT_REJECTED`] when any record was rejected. An
/// input that cannot be read is an error, which the binary reports with exit status 2.
pub(crate) fn run(args: &IngestArgs) -> anyhow::Result<ExitCode> {
    let data_dir = crate::data_dir::resolve(args.data_dir.clone())?;
    let mut options = IngestOptions::default();
    options.platform.function.clone_from(&args.function);
    options.platform.date = args.date.as_deref().map(parse_date).transpose()?;

    let store = Store::open(&data_dir, StoreOptions::default())
        .with_context(|| format!("cannot open the dataset at `{}`", data_dir.display()))?;
    let progress = progress_bar(&args.files);
    let mut totals = Totals::default();
    let mut failed = Vec::new();
    let mut out = std::io::stdout().lock();

    for file in &args.files {
        let result = ingest_one(&store, file, &options, &mut totals);
        progress.inc(file_size(file));
        match result {
            Ok(line) => {
                progress.suspend(|| writeln!(out, "{line}"))?;
            }
            Err(error) => {
                progress.suspend(|| eprintln!("error: {error:#}"));
                failed.push(file.display().to_string());
            }
        }
    }
    progress.finish_and_clear();

    let store_totals = store
        .shutdown_blocking()
        .context("flushing the dataset failed; records stay in its write-ahead log")?;
    writeln!(
        out,
        "total: {} files, {} records read, {} stored, {} rejected ({} Parquet parts written to `{}`)",
        totals.files,
        totals.read,
        totals.stored,
        totals.rejected,
        store_totals.parts,
        data_dir.display()
    )?;
    if !failed.is_empty() {
        bail!(
            "{} of {} inputs could not be read: {}",
            failed.len(),
            args.files.len(),
            failed.join(", ")
        );
    }
    if totals.rejected > 0 {
        return Ok(ExitCode::from(EXIT_REJECTED));
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_date(text: &str) -> anyhow::Result<Date> {
    let format = format_description!("[year]-[month]-[day]");
    Date::parse(text, &format).with_context(|| {
        format!("invalid `--date {text}`: expected YYYY-MM-DD, for example 2024-07-05")
    })
}

fn file_size(path: &Path) -> u64 {
    if path.as_os_str() == "-" {
        return 0;
    }
    std::fs::metadata(path).map_or(0, |metadata| metadata.len())
}

fn progress_bar(files: &[PathBuf]) -> ProgressBar {
    let total: u64 = files.iter().map(|file| file_size(file)).sum();
    if total < PROGRESS_BAR_BYTES {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn ingest_one(
    store: &Store,
    file: &Path,
    options: &IngestOptions,
    totals: &mut Totals,
) -> anyhow::Result<String> {
    let (name, path, bytes) = if file.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("reading standard input failed")?;
        ("-".to_owned(), None, bytes)
    } else {
        let bytes =
            std::fs::read(file).with_context(|| format!("cannot read `{}`", file.display()))?;
        (file.display().to_string(), Some(file), bytes)
    };
    let mut read = read_input(&name, path, &bytes, options)?;
    let stored = store_records(store, std::mem::take(&mut read.records))
        .with_context(|| format!("storing the records of `{name}` failed"))?;

    totals.files += 1;
    totals.read += read.read;
    totals.stored += stored;
    let rejected: usize = read.rejected.values().sum();
    totals.rejected += rejected;
    let mut line = summary_line(&name, &read, stored, rejected);
    if stored == 0 && rejected == 0 && !bytes.is_empty() {
        let _ = write!(
            line,
            "\nwarning: `{name}` holds no records that spanbill reads: expected Lambda \
             platform logs, CloudWatch Logs exports, Telemetry API batches or OTLP traces, \
             metrics or logs"
        );
    }
    Ok(line)
}

fn store_records(store: &Store, records: Records) -> anyhow::Result<usize> {
    let total = records.len();
    let Records {
        spans,
        metrics,
        invocations,
    } = records;
    for chunk in spans.chunks(RECORDS_PER_WRITE) {
        store.write_blocking(Records {
            spans: chunk.to_vec(),
            ..Records::default()
        })?;
    }
    for chunk in metrics.chunks(RECORDS_PER_WRITE) {
        store.write_blocking(Records {
            metrics: chunk.to_vec(),
            ..Records::default()
        })?;
    }
    for chunk in invocations.chunks(RECORDS_PER_WRITE) {
        store.write_blocking(Records {
            invocations: chunk.to_vec(),
            ..Records::default()
        })?;
    }
    Ok(total)
}

fn format_name(format: DetectedFormat) -> String {
    match format {
        DetectedFormat::OtlpJsonTraces => "OTLP JSON traces".to_owned(),
        DetectedFormat::OtlpJsonMetrics => "OTLP JSON metrics".to_owned(),
        DetectedFormat::OtlpJsonLogs => "OTLP JSON logs".to_owned(),
        DetectedFormat::OtlpProtobufTraces => "OTLP protobuf traces".to_owned(),
        DetectedFormat::OtlpProtobufMetrics => "OTLP protobuf metrics".to_owned(),
        DetectedFormat::Platform(format) => format!("platform log, {format}"),
    }
}

fn summary_line(name: &str, read: &IngestRead, stored: usize, rejected: usize) -> String {
    let mut line = format!(
        "{name}: {}, {} records read, {stored} stored, {rejected} rejected",
        format_name(read.format),
        read.read
    );
    if let Some(note) = &read.date_note {
        let _ = write!(line, "; dates from {note}");
    }
    append_reasons(&mut line, "rejected", &read.rejected);
    append_reasons(&mut line, "skipped", &read.skipped);
    line
}

fn append_reasons(line: &mut String, verb: &str, reasons: &BTreeMap<String, usize>) {
    for (reason, count) in reasons {
        let _ = write!(line, "\n  {count} {verb}: {reason}");
    }
}
