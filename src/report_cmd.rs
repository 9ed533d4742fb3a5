//! The `spanbill report` command: cost, latency and findings over a window of the dataset,
//! with an exit code that gates a CI job; and `spanbill snapshot`, which saves a window's
//! latency distributions as the baseline later reports compare against.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use rust_decimal::Decimal;
use spanbill_collector::store::DateRange;
use spanbill_reports::dataset::{load_tables, load_unit_counts};
use spanbill_reports::lambda::LambdaOptions;
use spanbill_reports::pricing::PriceBook;
use spanbill_reports::report::{self, Format, ReportConfig};
use spanbill_reports::snapshot::Snapshot;
use time::{Date, OffsetDateTime};

use crate::data_dir;

/// Exit code when a gate in `--fail-on` found something.
const EXIT_FINDINGS: u8 = 1;

/// The window of the dataset a command reads.
#[derive(Debug, Args)]
pub(crate) struct WindowArgs {
    /// Dataset directory (default: `$XDG_DATA_HOME/spanbill`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Read the last DURATION, in days (`7d`) or hours (`36h`), up to today.
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["from", "to"])]
    since: Option<String>,
    /// First date of the window, `YYYY-MM-DD`.
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// Last date of the window, `YYYY-MM-DD`.
    #[arg(long, value_name = "DATE")]
    to: Option<String>,
}

/// Flags of `spanbill report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    #[command(flatten)]
    window: WindowArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
    /// Write the report to PATH instead of stdout.
    #[arg(long, value_name = "PATH")]
    output: Option<PathBuf>,
    /// TOML file with thresholds, budget, gates and business KPIs; flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Baseline snapshot (from `spanbill snapshot`) to compare latencies against, in place
    /// of the previous version in the window.
    #[arg(long, value_name = "FILE")]
    baseline: Option<PathBuf>,
    /// Monthly budget in USD for the `budget` gate.
    #[arg(long, value_name = "USD")]
    budget: Option<String>,
    /// Gates that make the command exit with 1: `regression`, `spiral`, `budget`, comma
    /// separated.
    #[arg(long, value_name = "GATES", value_delimiter = ',')]
    fail_on: Vec<Gate>,
    /// TOML file whose prices override the built-in ones.
    #[arg(long, value_name = "FILE")]
    pricing: Option<PathBuf>,
    /// Apply the AWS free tier.
    #[arg(long)]
    free_tier: bool,
}

/// Flags of `spanbill snapshot`.
#[derive(Debug, Args)]
pub(crate) struct SnapshotArgs {
    #[command(flatten)]
    window: WindowArgs,
    /// File to write the snapshot to.
    #[arg(long, value_name = "PATH")]
    output: PathBuf,
}

/// Output format of `spanbill report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    /// Aligned text; colored on a terminal unless `NO_COLOR` is set.
    Table,
    /// Markdown for a pull-request comment or `$GITHUB_STEP_SUMMARY`.
    Markdown,
    /// JSON with a versioned schema.
    Json,
    /// A self-contained HTML page with SVG charts.
    Html,
}

/// A CI gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Gate {
    /// A latency regression.
    Regression,
    /// A cost spiral: a recursive loop or cost per invocation rising without traffic.
    Spiral,
    /// Projected monthly spend above `--budget`.
    Budget,
}

/// Runs `spanbill report`; returns 0, or 1 when a gate found something.
pub(crate) fn run(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    crate::collect_cmd::init_logging("warn");
    let config = args
        .config
        .as_deref()
        .map(ReportConfig::read)
        .transpose()?
        .unwrap_or_default();
    let mut settings = config.settings();
    if let Some(text) = &args.budget {
        settings.budget = Some(
            Decimal::from_str(text.trim_start_matches('$')).with_context(|| {
                format!("invalid budget `{text}`: pass an amount in USD, such as `250` or `99.50`")
            })?,
        );
    }
    settings.free_tier |= args.free_tier;
    let gates = if args.fail_on.is_empty() {
        config_gates(&config)?
    } else {
        args.fail_on.clone()
    };
    if gates.contains(&Gate::Budget) && settings.budget.is_none() {
        bail!("`--fail-on budget` needs `--budget USD` or `budget_usd` in the configuration file");
    }
    let book = match &args.pricing {
        Some(path) => PriceBook::with_user_file(path)?,
        None => PriceBook::built_in(),
    };
    let baseline = args.baseline.as_deref().map(Snapshot::read).transpose()?;

    let (data_dir, dates) = resolve(&args.window)?;
    let units = load_unit_counts(&data_dir, dates, settings.business_units.as_deref())?;
    let options = LambdaOptions {
        free_tier: settings.free_tier,
    };
    let tables = load_tables(&data_dir, dates, units, &book, options)?;
    if tables.invocations.is_empty() {
        bail!(
            "no invocations in `{}` for {}: run `spanbill ingest` or `spanbill collect` first, or widen the window",
            data_dir.display(),
            describe(dates)
        );
    }
    let report = report::build_tables(&tables, baseline.as_ref(), &book, &settings);

    let format = match args.format {
        ReportFormat::Table => {
            let color = args.output.is_none()
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none();
            Format::Table { color }
        }
        ReportFormat::Markdown => Format::Markdown,
        ReportFormat::Json => Format::Json,
        ReportFormat::Html => Format::Html,
    };
    let text = report::render(&report, format);
    match &args.output {
        Some(path) => std::fs::write(path, &text)
            .with_context(|| format!("failed to write the report to `{}`", path.display()))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }

    let failed = gates.iter().any(|gate| match gate {
        Gate::Regression => report.has_regression(),
        Gate::Spiral => report.has_spiral(),
        Gate::Budget => report.over_budget(),
    });
    Ok(if failed {
        ExitCode::from(EXIT_FINDINGS)
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs `spanbill snapshot`.
pub(crate) fn run_snapshot(args: &SnapshotArgs) -> anyhow::Result<()> {
    let (data_dir, dates) = resolve(&args.window)?;
    let tables = load_tables(
        &data_dir,
        dates,
        Vec::new(),
        &PriceBook::built_in(),
        LambdaOptions::default(),
    )?;
    if tables.invocations.is_empty() {
        bail!(
            "no invocations in `{}` for {}: a baseline needs data; widen the window",
            data_dir.display(),
            describe(dates)
        );
    }
    let created = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .context("failed to format the current time")?;
    let snapshot = Snapshot::build(&tables, created);
    snapshot.write(&args.output)?;
    let span_series: usize = snapshot
        .spans
        .values()
        .map(std::collections::BTreeMap::len)
        .sum();
    eprintln!(
        "snapshot: {} functions and {span_series} span names from {} invocations written to {}",
        snapshot.functions.len(),
        tables.invocations.len(),
        args.output.display()
    );
    Ok(())
}

/// Reads the gates named in the configuration file.
fn config_gates(config: &ReportConfig) -> anyhow::Result<Vec<Gate>> {
    let Some(names) = &config.report.fail_on else {
        return Ok(Vec::new());
    };
    names
        .iter()
        .map(|name| {
            Gate::from_str(name, true).map_err(|_| {
                anyhow::anyhow!(
                    "invalid gate `{name}` in `fail_on`: use `regression`, `spiral` or `budget`"
                )
            })
        })
        .collect()
}

fn resolve(args: &WindowArgs) -> anyhow::Result<(PathBuf, DateRange)> {
    Ok((data_dir::resolve(args.data_dir.clone())?, window(args)?))
}

fn window(args: &WindowArgs) -> anyhow::Result<DateRange> {
    let parse = |text: &str| {
        Date::parse(
            text,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .with_context(|| format!("invalid date `{text}`: expected `YYYY-MM-DD`"))
    };
    if let Some(since) = &args.since {
        let back = crate::duration::parse_days_or_hours(since)?;
        let today = OffsetDateTime::now_utc().date();
        let from = (OffsetDateTime::now_utc() - back).date();
        return Ok(DateRange {
            from: Some(from),
            to: Some(today),
        });
    }
    let from = args.from.as_deref().map(parse).transpose()?;
    let to = args.to.as_deref().map(parse).transpose()?;
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        bail!("`--from {from}` is after `--to {to}`");
    }
    Ok(DateRange { from, to })
}

fn describe(dates: DateRange) -> String {
    match (dates.from, dates.to) {
        (None, None) => "any date".to_owned(),
        (Some(from), None) => format!("{from} onwards"),
        (None, Some(to)) => format!("dates up to {to}"),
        (Some(from), Some(to)) => format!("{from} to {to}"),
    }
}
