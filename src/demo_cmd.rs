//! `spanbill demo`: the order service on the local Lambda platform, through a collector of
//! its own, then the report.
//!
//! The demo starts a collector on a free loopback port with a fresh data directory, runs a
//! scenario whose handlers export real OTLP to it, reads the platform's REPORT lines with
//! the same reader `spanbill ingest` uses, and prints the report. The scenario deploys a
//! slower updateInventory release and a handlePayment release that loops declined orders
//! through the queue, so the report has a regression and a cost spiral to find.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use spanbill_collector::model::Records;
use spanbill_collector::platform::{ReadOptions, read_file};
use spanbill_collector::receiver::{ReceiverLimits, Receivers, serve_http};
use spanbill_collector::store::{Store, StoreOptions};
use spanbill_functions::platform::{
    FunctionSpec, Platform, PlatformLog, PlatformSettings, TelemetryFactory,
};
use spanbill_functions::scenario::{Deploy, ScenarioSettings, Simulation};
use spanbill_reports::dataset::{Window, load_tables, load_unit_counts};
use spanbill_reports::lambda::LambdaOptions;
use spanbill_reports::pricing::PriceBook;
use spanbill_reports::report::{self, Format, ReportSettings};

/// The functions of the order service with their configuration.
const FUNCTIONS: [(&str, u32); 3] = [
    ("createOrder", 256),
    ("handlePayment", 512),
    ("updateInventory", 1024),
];

/// Flags of `spanbill demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Virtual time the scenario covers, in days (`3d`) or hours (`36h`).
    #[arg(long, value_name = "DURATION", default_value = "3d")]
    duration: String,
    /// Average orders per hour.
    #[arg(long, value_name = "N", default_value_t = 40.0)]
    orders_per_hour: f64,
    /// Seed of the traffic, request ids and trace ids; the same seed gives the same run.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Keep the dataset in DIR for later `spanbill report --data-dir DIR` runs.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,
    /// Scenario: the defective releases the run deploys.
    #[arg(long, value_enum, default_value_t = Scenario::All)]
    scenario: Scenario,
    /// Also write the report as an HTML page with charts to PATH.
    #[arg(long, value_name = "PATH")]
    html: Option<PathBuf>,
}

/// The releases a demo run deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// The slower updateInventory release at 2/3 of the run and the looping handlePayment
    /// release at 5/6.
    All,
    /// Only the slower updateInventory release.
    Regression,
    /// Only the looping handlePayment release.
    Spiral,
    /// No new release: the report should find no regression and no spiral.
    Steady,
}

impl Scenario {
    fn describe(self) -> &'static str {
        match self {
            Self::All => "updateInventory version 2 deploys at 2/3, handlePayment version 2 at 5/6",
            Self::Regression => "updateInventory version 2 deploys at 2/3",
            Self::Spiral => "handlePayment version 2 deploys at 5/6",
            Self::Steady => "no new release",
        }
    }
}

/// Checks the flags before the run, so a bad value does not cost the whole run, and
/// returns the run's duration.
fn check_args(args: &DemoArgs) -> anyhow::Result<Duration> {
    let duration = crate::duration::parse_days_or_hours(&args.duration)?;
    if duration > Duration::from_hours(31 * 24) {
        bail!(
            "`--duration {}` is longer than the demo runs: pass at most `31d`",
            args.duration
        );
    }
    if !(args.orders_per_hour > 0.0 && args.orders_per_hour <= 10_000.0) {
        bail!(
            "invalid `--orders-per-hour {}`: pass a number above 0 and at most 10000",
            args.orders_per_hour
        );
    }
    if let Some(path) = &args.html {
        let parent = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty());
        if parent.is_some_and(|parent| !parent.is_dir()) || path.is_dir() {
            bail!(
                "invalid `--html {}`: pass a file path in an existing directory",
                path.display()
            );
        }
    }
    Ok(duration)
}

/// Runs `spanbill demo`.
pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<()> {
    let duration = check_args(args)?;
    let temporary = tempfile::tempdir().context("cannot create a temporary data directory")?;
    let data_dir = match &args.keep {
        Some(dir) => prepare_kept_dir(dir)?,
        None => temporary.path().to_owned(),
    };
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;

    let collector = Collector::start(&runtime, &data_dir)?;
    eprintln!(
        "demo: collector on {}, data in {}",
        collector.endpoint,
        data_dir.display()
    );

    let start = SystemTime::now() - duration;
    let simulation = simulation(args, &data_dir, &collector.endpoint, start)?;
    let scenario = scenario(args, start, duration);
    eprintln!(
        "demo: running {} of orders ({} per hour); {}",
        args.duration,
        args.orders_per_hour,
        args.scenario.describe()
    );
    let clock = Instant::now();
    let summary = runtime.block_on(simulation.run_with_progress(&scenario, |progress| {
        let hours = progress.elapsed.as_secs_f64() / 3600.0;
        let invocations: usize = progress.summary.invocations.values().sum();
        match progress.deployed {
            Some(deploy) => eprintln!(
                "demo: {hours:.1} h in: deployed {} version {}",
                deploy.function, deploy.version
            ),
            None => eprintln!(
                "demo: {hours:.1} h of {:.0} h, {} orders, {invocations} invocations ({:.0} s)",
                duration.as_secs_f64() / 3600.0,
                progress.summary.requests,
                clock.elapsed().as_secs_f64()
            ),
        }
    }))?;
    let invocations: usize = summary.invocations.values().sum();
    eprintln!(
        "demo: {} orders, {invocations} invocations, {} throttled, {} messages stopped by loop \
         detection ({:.0} s)",
        summary.requests,
        summary.throttled,
        summary.loops_stopped,
        started.elapsed().as_secs_f64()
    );

    // Dropping the platform shuts every environment's pipeline down, which exports its spans.
    drop(simulation);
    ingest_platform_logs(&collector.store, &data_dir.join("platform-logs"))?;
    collector.stop(&runtime)?;

    let window = Window::default();
    let business_units = vec!["orders.created".to_owned()];
    let units = load_unit_counts(&data_dir, window, Some(&business_units))?;
    // The order service counts orders, payments and stock-outs; the unit that cost is
    // divided by is the order.
    let settings = ReportSettings {
        business_units: Some(business_units),
        ..ReportSettings::default()
    };
    let book = PriceBook::built_in();
    let tables = load_tables(&data_dir, window, units, &book, LambdaOptions::default())?;
    let report = report::build_tables(&tables, None, &book, &settings);
    print!(
        "{}",
        report::render(&report, Format::Table { color: false })
    );
    if let Some(path) = &args.html {
        std::fs::write(path, report::render(&report, Format::Html))
            .with_context(|| format!("failed to write the HTML report to `{}`", path.display()))?;
        eprintln!("demo: HTML report written to {}", path.display());
    }
    eprintln!("demo: finished in {:.0} s", started.elapsed().as_secs_f64());
    if let Some(dir) = &args.keep {
        eprintln!(
            "demo: dataset kept; run `spanbill report --data-dir {}`",
            dir.display()
        );
    }
    Ok(())
}

/// Creates `dir` for `--keep`, which must be new or empty.
fn prepare_kept_dir(dir: &Path) -> anyhow::Result<PathBuf> {
    if dir.exists() && !dir.is_dir() {
        bail!(
            "`{}` is a file: pass a new or empty directory to `--keep`",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    if std::fs::read_dir(dir)?.next().is_some() {
        bail!(
            "`{}` is not empty: pass a new or empty directory to `--keep`",
            dir.display()
        );
    }
    Ok(dir.to_owned())
}

/// The demo's collector: a store and the OTLP/HTTP receiver on a free loopback port.
struct Collector {
    store: Store,
    receivers: Arc<Receivers>,
    endpoint: String,
    stop: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Collector {
    fn start(runtime: &tokio::runtime::Runtime, data_dir: &Path) -> anyhow::Result<Self> {
        let store = Store::open(data_dir, StoreOptions::default())?;
        let receivers = Receivers::new(store.clone(), ReceiverLimits::default());
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let endpoint = format!("http://{}", listener.local_addr()?);
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let server = runtime.spawn(serve_http(listener, receivers.clone(), async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        }));
        Ok(Self {
            store,
            receivers,
            endpoint,
            stop,
            server,
        })
    }

    /// Stops the receiver and flushes the store.
    fn stop(self, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        runtime
            .block_on(self.server)
            .context("the demo's collector panicked")??;
        let totals = self.store.shutdown_blocking()?;
        eprintln!(
            "demo: collector stored {} parts; {}",
            totals.parts,
            self.receivers.counters.summary()
        );
        Ok(())
    }
}

/// Builds the platform with the three functions at version 1, and the order service on it.
fn simulation(
    args: &DemoArgs,
    data_dir: &Path,
    endpoint: &str,
    start: SystemTime,
) -> anyhow::Result<Simulation> {
    let platform = Platform::new(
        PlatformSettings {
            seed: args.seed,
            ..PlatformSettings::default()
        },
        otlp_telemetry(endpoint.to_owned()),
        PlatformLog::create(&data_dir.join("platform-logs"))?,
    );
    for (name, memory_mb) in FUNCTIONS {
        platform.register(FunctionSpec {
            name: name.to_owned(),
            version: "1".to_owned(),
            memory_mb,
            architecture: spanbill_instrumentation::Architecture::Arm64,
            timeout: Duration::from_secs(10),
            concurrency_limit: 10,
            simulated_init: Duration::from_millis(180),
        });
    }
    let orders = spanbill_functions::store::Store::open(data_dir.join("orders.db"))?;
    Ok(Simulation::new(platform, orders, start))
}

/// Builds the scenario: traffic from `start` for `duration`, with the releases `--scenario`
/// selects.
fn scenario(args: &DemoArgs, start: SystemTime, duration: Duration) -> ScenarioSettings {
    ScenarioSettings {
        seed: args.seed,
        start,
        duration,
        orders_per_hour: args.orders_per_hour,
        // Enough rows that a scan of the stock table costs milliseconds.
        catalog_size: 40_000,
        burst_every: Some(Duration::from_hours(6)),
        burst_size: 6,
        deploys: deploys(args.scenario, duration),
    }
}

fn deploys(scenario: Scenario, duration: Duration) -> Vec<Deploy> {
    let slow_inventory = Deploy {
        after: duration * 2 / 3,
        function: "updateInventory".to_owned(),
        version: "2".to_owned(),
    };
    let looping_payment = Deploy {
        after: duration * 5 / 6,
        function: "handlePayment".to_owned(),
        version: "2".to_owned(),
    };
    match scenario {
        Scenario::All => vec![slow_inventory, looping_payment],
        Scenario::Regression => vec![slow_inventory],
        Scenario::Spiral => vec![looping_payment],
        Scenario::Steady => Vec::new(),
    }
}

/// Reads each function's platform log with the reader `spanbill ingest` uses and stores the
/// invocations.
fn ingest_platform_logs(store: &Store, log_dir: &Path) -> anyhow::Result<()> {
    for (name, _) in FUNCTIONS {
        let options = ReadOptions {
            function: Some(name.to_owned()),
            ..ReadOptions::default()
        };
        let read = read_file(&log_dir.join(format!("{name}.jsonl")), &options)?;
        let records = Records {
            invocations: read.invocations,
            ..Records::default()
        };
        store.write_blocking(records)?;
    }
    Ok(())
}

/// Builds each environment's pipeline: spans in batches and KPI metrics over OTLP/HTTP to
/// the collector at `endpoint` (`http://host:port`). Metrics are cumulative and exported
/// when the environment shuts down, as the periodic reader's 60 s interval is real time.
fn otlp_telemetry(endpoint: String) -> TelemetryFactory {
    use opentelemetry_otlp::WithExportConfig as _;
    use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor};

    Arc::new(move |function| {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{endpoint}/v1/traces"))
            .build()
            .expect("an OTLP/HTTP exporter to a loopback address always builds");
        let metric_exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_http()
            .with_endpoint(format!("{endpoint}/v1/metrics"))
            .build()
            .expect("an OTLP/HTTP exporter to a loopback address always builds");
        // A large queue, because a warm environment finishes many invocations between two
        // exports and the SDK drops spans beyond its queue.
        let config = BatchConfigBuilder::default()
            .with_max_queue_size(65_536)
            .with_scheduled_delay(Duration::from_millis(500))
            .build();
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(config)
            .build();
        spanbill_instrumentation::Telemetry::builder()
            .resource(spanbill_instrumentation::function_resource(
                function,
                spanbill_instrumentation::InitType::OnDemand,
            ))
            .span_processor(processor)
            .metric_exporter(metric_exporter)
            .flush_after_invocation(false)
            .build()
    })
}
