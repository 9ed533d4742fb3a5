//! The `spanbill` command.
//!
//! This binary parses flags and dispatches to the library crates. It owns the exit codes:
//! 0 for success, 1 when a `report --fail-on` gate finds something, 2 for bad usage or
//! input, 3 when `ingest` stored the valid records but rejected some as invalid.

use std::io::Write as _;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};
use spanbill_instrumentation::propagation;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod collect_cmd;
mod data_dir;
mod demo_cmd;
mod duration;
mod ingest_cmd;

mod pricing_cmd;
mod report_cmd;

/// Cost and latency drift for serverless functions.
#[derive(Debug, Parser)]
#[command(name = "spanbill", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a trace id in both its W3C and X-Ray forms.
    ///
    /// Accepts a 32-digit W3C trace id, an X-Ray trace id (`1-5759e988-bd862e3f...`), a W3C
    /// `traceparent` value or an X-Ray trace header (`Root=...;Parent=...;Sampled=1`).
    TraceId {
        /// The id or header to convert.
        value: String,
    },
    /// Read platform logs and OTLP files into the dataset.
    ///
    /// Exits with status 3 when the valid records were stored but some were rejected.
    Ingest(ingest_cmd::IngestArgs),
    /// Receive OTLP over gRPC and HTTP, and Telemetry API batches, into the dataset.
    Collect(collect_cmd::CollectArgs),
    /// Show the prices in force and where each one came from.
    Pricing(pricing_cmd::PricingArgs),
    /// Run the order service on a local Lambda platform with a regressing deploy and a cost
    /// spiral, collect its telemetry and print the report.
    Demo(demo_cmd::DemoArgs),
    /// Report cost, latency regressions and cost spirals; exit 1 when a `--fail-on` gate
    /// finds something.
    ///
    /// The first report over a day builds that day's rollup under `<data dir>/rollups/`,
    /// and later reports read it while the day's Parquet parts stay the same. Deleting the
    /// directory is safe. Set `SPANBILL_LOG=spanbill_reports=debug` to log the wall time of
    /// each phase of the report to stderr.
    Report(report_cmd::ReportArgs),
    /// Save a window's latency distributions as a baseline for `report --baseline`.
    Snapshot(report_cmd::SnapshotArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            // A closed pipe, as when the output goes into `head`, is not an error.
            if error.chain().any(|cause| {
                cause
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::TraceId { value } => trace_id(&value),
        Command::Ingest(args) => return ingest_cmd::run(&args),
        Command::Collect(args) => collect_cmd::run(&args),
        Command::Pricing(args) => pricing_cmd::run(&args),
        Command::Report(args) => return report_cmd::run(&args),
        Command::Snapshot(args) => report_cmd::run_snapshot(&args),
        Command::Demo(args) => demo_cmd::run(&args),
    }
    .map(|()| ExitCode::SUCCESS)
}

/// The parts of a trace reference that the input carried.
struct TraceRef {
    trace_id: String,
    parent: Option<String>,
    sampled: Option<bool>,
}

fn parse_trace_ref(value: &str) -> anyhow::Result<TraceRef> {
    let value = value.trim();
    if value.contains("Root=") {
        if let Some(span_context) = propagation::parse_xray_header(value) {
            return Ok(TraceRef {
                trace_id: format!("{:032x}", span_context.trace_id()),
                parent: Some(format!("{:016x}", span_context.span_id())),
                sampled: Some(span_context.is_sampled()),
            });
        }
        // A header from the edge, such as API Gateway's, can have a root and no parent yet.
        let field = |name: &str| {
            value
                .split(';')
                .find_map(|part| part.trim().strip_prefix(name)?.strip_prefix('='))
        };
        let trace_id = field("Root")
            .and_then(propagation::xray_trace_id_to_w3c)
            .with_context(|| {
                format!(
                    "invalid X-Ray trace header `{value}`: expected \
                     `Root=1-<8 hex>-<24 hex>`, optionally with `;Parent=<16 hex>;Sampled=<0|1>`"
                )
            })?;
        return Ok(TraceRef {
            trace_id: format!("{trace_id:032x}"),
            parent: None,
            sampled: field("Sampled").map(|sampled| sampled == "1"),
        });
    }
    if value.starts_with("1-") {
        let trace_id = propagation::xray_trace_id_to_w3c(value).with_context(|| {
            format!("invalid X-Ray trace id `{value}`: expected `1-<8 hex>-<24 hex>`")
        })?;
        return Ok(TraceRef {
            trace_id: format!("{trace_id:032x}"),
            parent: None,
            sampled: None,
        });
    }
    if value.matches('-').count() == 3 {
        let carrier = std::collections::HashMap::from([(
            propagation::TRACEPARENT.to_owned(),
            value.to_owned(),
        )]);
        let span_context = propagation::extract(&carrier).with_context(|| {
            format!("invalid traceparent `{value}`: expected `00-<32 hex>-<16 hex>-<2 hex>`")
        })?;
        return Ok(TraceRef {
            trace_id: format!("{:032x}", span_context.trace_id()),
            parent: Some(format!("{:016x}", span_context.span_id())),
            sampled: Some(span_context.is_sampled()),
        });
    }
    if value.len() == 32
        && value.chars().all(|c| c.is_ascii_hexdigit())
        && value.chars().any(|c| c != '0')
    {
        return Ok(TraceRef {
            trace_id: value.to_ascii_lowercase(),
            parent: None,
            sampled: None,
        });
    }
    bail!(
        "unrecognised trace reference `{value}`: pass a 32-digit hex trace id, an X-Ray trace id \
         (`1-5759e988-bd862e3fe1be46a994272793`), a traceparent or an X-Ray trace header"
    )
}

fn trace_id(value: &str) -> anyhow::Result<()> {
    let reference = parse_trace_ref(value)?;
    let id = &reference.trace_id;
    let mut out = std::io::stdout().lock();
    writeln!(out, "w3c trace id:   {id}")?;
    writeln!(out, "x-ray trace id: 1-{}-{}", &id[..8], &id[8..])?;
    if let Some(parent) = &reference.parent {
        let sampled = reference.sampled.unwrap_or(false);
        writeln!(out, "parent span id: {parent}")?;
        writeln!(
            out,
            "traceparent:    00-{id}-{parent}-{:02x}",
            u8::from(sampled)
        )?;
        writeln!(
            out,
            "x-ray header:   Root=1-{}-{};Parent={parent};Sampled={}",
            &id[..8],
            &id[8..],
            u8::from(sampled)
        )?;
    }
    Ok(())
}
