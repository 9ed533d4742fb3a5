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
use spanbill_reports::dataset::{Window, load_unit_counts};
use spanbill_reports::pricing::PriceBook;
use spanbill_reports::report::{self, Format, ReportConfig};
use spanbill_reports::rollup::IDS_PER_SHAPE;
use spanbill_reports::rollup_cache::load_rollup;
use spanbill_reports::snapshot::Snapshot;
use time::{Date, OffsetDateTime};

use crate::data_dir;

/// Exit code when a gate in `--fail-on` found something.
const EXIT_FINDINGS: u8 = 1;

/// The window of the dataset a command reads.
#[derive(Debug, Args)]
pub(crate) struct WindowArgs {
    /// Dataset directory [default: $XDG_DATA_HOME/spanbill, else ~/.local/share/spanbill].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Read the last DURATION up to now, in days (`7d`) or hours (`36h`).
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["from", "to"])]
    since: Option<String>,
    /// Start of the window: a UTC date, `YYYY-MM-DD`, or an RFC 3339 time such as
    /// `2026-07-01T09:30:00Z`.
    #[arg(long, value_name = "TIME")]
    from: Option<String>,
    /// End of the window: a UTC date, whose whole day is included, or an RFC 3339 time,
    /// which is not included.
    #[arg(long, value_name = "TIME")]
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
    /// Aligned text; colored on a terminal unless `NO_COLOR` is set to a non-empty value.
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
        let invalid = || {
            format!(
                "invalid budget `{text}`: pass an amount of 0 or more USD, such as `250` or `99.50`"
            )
        };
        let budget = Decimal::from_str(text.trim_start_matches('$')).with_context(invalid)?;
        if budget.is_sign_negative() && !budget.is_zero() {
            bail!(invalid());
        }
        settings.budget = Some(budget);
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

    let (data_dir, window) = resolve(&args.window)?;
    settings.window_ns = projection_window(window, OffsetDateTime::now_utc())?;
    let units = load_unit_counts(&data_dir, window, settings.business_units.as_deref())?;
    for name in settings.business_units.iter().flatten() {
        if !units.iter().any(|count| &count.name == name) {
            eprintln!(
                "warning: business unit `{name}` has no counter points in {}: check the \
                 counter's name in `business_units`, or widen the window",
                describe(window)
            );
        }
    }
    let ids_per_shape = settings.top_traces.max(IDS_PER_SHAPE);
    let rollup = load_rollup(&data_dir, window, ids_per_shape)?;
    if rollup.usage.entries.is_empty() {
        bail!(
            "no invocations in `{}` for {}: run `spanbill ingest` or `spanbill collect` first, or widen the window",
            data_dir.display(),
            describe(window)
        );
    }
    let report = report::build_rollup(&rollup, &units, baseline.as_ref(), &book, &settings);

    let format = match args.format {
        ReportFormat::Table => {
            let color = args.output.is_none()
                && std::io::stdout().is_terminal()
                // Set and not empty turns colour off, as https://no-color.org defines it.
                && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty());
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
    let (data_dir, window) = resolve(&args.window)?;
    let rollup = load_rollup(&data_dir, window, IDS_PER_SHAPE)?;
    let invocations: u64 = rollup
        .usage
        .entries
        .iter()
        .map(|entry| entry.invocations)
        .sum();
    if invocations == 0 {
        bail!(
            "no invocations in `{}` for {}: a baseline needs data; widen the window",
            data_dir.display(),
            describe(window)
        );
    }
    let created = OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .context("failed to format the current time")?;
    let snapshot = Snapshot::from_samples(&rollup.samples, created);
    snapshot.write(&args.output)?;
    let span_series: usize = snapshot
        .spans
        .values()
        .map(std::collections::BTreeMap::len)
        .sum();
    eprintln!(
        "snapshot: {} functions and {span_series} span names from {} invocations written to {}",
        snapshot.functions.len(),
        invocations,
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

fn resolve(args: &WindowArgs) -> anyhow::Result<(PathBuf, Window)> {
    let now = OffsetDateTime::now_utc();
    let data_dir = data_dir::resolve(args.data_dir.clone())?;
    if !data_dir.is_dir() {
        let problem = if data_dir.exists() {
            "is not a directory"
        } else {
            "does not exist"
        };
        bail!(
            "data directory `{}` {problem}: pass the --data-dir that `spanbill collect` or \
             `spanbill ingest` wrote",
            data_dir.display()
        );
    }
    Ok((data_dir, window(args, now)?))
}

/// Returns the window that the flags select, with `--since` counted back from `now`.
fn window(args: &WindowArgs, now: OffsetDateTime) -> anyhow::Result<Window> {
    if let Some(since) = &args.since {
        let back = crate::duration::parse_days_or_hours(since)?;
        return Ok(Window {
            start_ns: Some(unix_ns(now - back)?),
            end_ns: Some(unix_ns(now)?),
        });
    }
    let start = args
        .from
        .as_deref()
        .map(|text| parse_bound("--from", text, false))
        .transpose()?;
    let end = args
        .to
        .as_deref()
        .map(|text| parse_bound("--to", text, true))
        .transpose()?;
    if let (Some(start), Some(end)) = (start, end)
        && start >= end
    {
        bail!(
            "`--from {}` is not before `--to {}`: pass an earlier `--from` or a later `--to`",
            args.from.as_deref().unwrap_or_default(),
            args.to.as_deref().unwrap_or_default()
        );
    }
    Ok(Window {
        start_ns: start,
        end_ns: end,
    })
}

/// Returns the part of `window` up to `now` that the monthly projection scales, or `None`
/// when the window has no start and the projection uses the data's span instead.
fn projection_window(window: Window, now: OffsetDateTime) -> anyhow::Result<Option<(i64, i64)>> {
    let Some(start) = window.start_ns else {
        return Ok(None);
    };
    let now = unix_ns(now)?;
    let end = window.end_ns.map_or(now, |end| end.min(now));
    Ok(Some((start, end.max(start))))
}

/// Parses a `--from` or `--to` value (`flag`) into ns since the Unix epoch: an RFC 3339
/// time as given, or a UTC date as its start, or as the start of the next day when
/// `end_of_day` is set.
fn parse_bound(flag: &str, text: &str, end_of_day: bool) -> anyhow::Result<i64> {
    if let Ok(time) = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return unix_ns(time);
    }
    let date = Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .with_context(|| {
        format!(
            "invalid `{flag} {text}`: expected a date, `YYYY-MM-DD`, or an RFC 3339 time, \
             such as `2026-07-01T09:30:00Z`"
        )
    })?;
    let day = if end_of_day {
        date.next_day()
            .with_context(|| format!("`{flag} {text}` is past the last supported date"))?
    } else {
        date
    };
    unix_ns(day.midnight().assume_utc())
}

/// Returns `time` in ns since the Unix epoch.
fn unix_ns(time: OffsetDateTime) -> anyhow::Result<i64> {
    i64::try_from(time.unix_timestamp_nanos()).with_context(|| {
        format!("time {time} is outside the years 1677 to 2262 that spanbill stores")
    })
}

/// Describes `window` for messages, in RFC 3339.
fn describe(window: Window) -> String {
    let time = |ns: i64| spanbill_reports::table::rfc3339(ns);
    match (window.start_ns, window.end_ns) {
        (None, None) => "any time".to_owned(),
        (Some(start), None) => format!("{} onwards", time(start)),
        (None, Some(end)) => format!("times before {}", time(end)),
        (Some(start), Some(end)) => format!("{} to {}", time(start), time(end)),
    }
}
