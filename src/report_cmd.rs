//! The `spanbill report` command: cost, latency and findings over a window of the dataset,
//! with an exit code that gates a CI job.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use rust_decimal::Decimal;
use spanbill_collector::store::DateRange;
use spanbill_reports::dataset::load_invocations;
use spanbill_reports::pricing::PriceBook;
use spanbill_reports::report::{self, Format, ReportSettings};
use time::{Date, OffsetDateTime};

use crate::data_dir;

/// Exit code when a gate in `--fail-on` found something.
const EXIT_FINDINGS: u8 = 1;

/// Flags of `spanbill report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// Dataset directory (default: `$XDG_DATA_HOME/spanbill`).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Report the last DURATION, in days (`7d`) or hours (`36h`), up to today.
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["from", "to"])]
    since: Option<String>,
    /// First date of the window, `YYYY-MM-DD`.
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// Last date of the window, `YYYY-MM-DD`.
    #[arg(long, value_name = "DATE")]
    to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
    format: ReportFormat,
    /// Write the report to PATH instead of stdout.
    #[arg(long, value_name = "PATH")]
    output: Option<PathBuf>,
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

/// Output format of `spanbill report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    /// Aligned text; colored on a terminal unless `NO_COLOR` is set.
    Table,
    /// Markdown for a pull-request comment or `$GITHUB_STEP_SUMMARY`.
    Markdown,
    /// JSON with a versioned schema.
    Json,
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
    let data_dir = data_dir::resolve(args.data_dir.clone())?;
    let dates = window(args)?;
    let budget = args
        .budget
        .as_deref()
        .map(|text| {
            Decimal::from_str(text.trim_start_matches('$')).with_context(|| {
                format!("invalid budget `{text}`: pass an amount in USD, such as `250` or `99.50`")
            })
        })
        .transpose()?;
    if args.fail_on.contains(&Gate::Budget) && budget.is_none() {
        bail!("`--fail-on budget` needs `--budget USD`");
    }
    let book = match &args.pricing {
        Some(path) => PriceBook::with_user_file(path)?,
        None => PriceBook::built_in(),
    };

    let invocations = load_invocations(&data_dir, dates)?;
    if invocations.is_empty() {
        bail!(
            "no invocations in `{}` for {}: run `spanbill ingest` or `spanbill collect` first, or widen the window",
            data_dir.display(),
            describe(dates)
        );
    }
    let settings = ReportSettings {
        budget,
        free_tier: args.free_tier,
        ..ReportSettings::default()
    };
    let report = report::build(&invocations, &[], &book, &settings);

    let format = match args.format {
        ReportFormat::Table => {
            let color = args.output.is_none()
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none();
            Format::Table { color }
        }
        ReportFormat::Markdown => Format::Markdown,
        ReportFormat::Json => Format::Json,
    };
    let text = report::render(&report, format);
    match &args.output {
        Some(path) => std::fs::write(path, &text)
            .with_context(|| format!("failed to write the report to `{}`", path.display()))?,
        None => std::io::stdout().lock().write_all(text.as_bytes())?,
    }

    let failed = args.fail_on.iter().any(|gate| match gate {
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

fn window(args: &ReportArgs) -> anyhow::Result<DateRange> {
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
