//! `spanbill collect`: OTLP/gRPC and OTLP/HTTP receivers and the Telemetry API endpoint,
//! storing into the dataset until SIGTERM or Ctrl-C.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use spanbill_collector::otlp;
use spanbill_collector::receiver::{ReceiverLimits, Receivers, serve_grpc, serve_http};
use spanbill_collector::store::{Store, StoreOptions};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Flags of `spanbill collect`.
#[derive(Debug, clap::Args)]
pub(crate) struct CollectArgs {
    /// Dataset directory [default: $XDG_DATA_HOME/spanbill, else ~/.local/share/spanbill].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address of the OTLP/gRPC receiver.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4317", value_parser = listen_address)]
    grpc_listen: SocketAddr,
    /// Address of the OTLP/HTTP receiver and the Telemetry API endpoint (`/telemetry`).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4318", value_parser = listen_address)]
    http_listen: SocketAddr,
    /// Largest request body accepted as sent, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 8 << 20, value_parser = at_least_one)]
    max_body_bytes: usize,
    /// Largest size a compressed request may inflate to, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 32 << 20, value_parser = at_least_one)]
    max_decompressed_bytes: usize,
    /// Maximum length of an attribute key or string value, in bytes; longer ones are cut.
    #[arg(long, value_name = "BYTES", default_value_t = 4096, value_parser = at_least_one)]
    max_attribute_length: usize,
    /// Maximum time a record waits in the write-ahead log before it is written to Parquet,
    /// in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    flush_interval_ms: u64,
    /// Writes that may wait for the store before receivers respond with retry-later.
    #[arg(long, value_name = "WRITES", default_value_t = 64, value_parser = at_least_one)]
    queue_capacity: usize,
}

/// Parses a size or count flag that must be at least 1.
fn at_least_one(text: &str) -> Result<usize, String> {
    let value: usize = text
        .parse()
        .map_err(|error| format!("`{text}` is not a whole number: {error}"))?;
    if value == 0 {
        return Err("0 would reject every request; give at least 1".to_owned());
    }
    Ok(value)
}

/// Parses a listen address, which must be an IP address and a port, because the collector
/// does not resolve host names.
fn listen_address(text: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        let port = text.rsplit_once(':').map_or("4318", |(_, port)| port);
        format!(
            "`{text}` is not an IP address and port; write an address such as \
             127.0.0.1:{port} or [::1]:{port}, because host names are not resolved"
        )
    })
}

/// Runs `spanbill collect` until SIGTERM or Ctrl-C.
pub(crate) fn run(args: &CollectArgs) -> anyhow::Result<()> {
    init_logging("info");
    let data_dir = crate::data_dir::resolve(args.data_dir.clone())?;
    let options = StoreOptions {
        flush_interval: Duration::from_millis(args.flush_interval_ms),
        queue_capacity: args.queue_capacity,
        ..StoreOptions::default()
    };
    let store = Store::open(&data_dir, options)
        .with_context(|| format!("cannot open the dataset at `{}`", data_dir.display()))?;
    let limits = ReceiverLimits {
        max_body_bytes: args.max_body_bytes,
        max_decompressed_bytes: args.max_decompressed_bytes,
        otlp: otlp::Limits {
            max_attribute_len: args.max_attribute_length,
            ..otlp::Limits::default()
        },
    };
    let receivers = Receivers::new(store.clone(), limits);

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime failed")?;
    runtime.block_on(serve(args, &receivers))?;
    drop(runtime);

    let totals = store
        .shutdown_blocking()
        .context("final flush failed; records stay in the write-ahead log for the next start")?;
    let counters = &receivers.counters;
    let load =
        |counter: &std::sync::atomic::AtomicU64| counter.load(std::sync::atomic::Ordering::Relaxed);
    tracing::info!(
        requests = load(&counters.requests),
        spans = load(&counters.spans),
        metric_points = load(&counters.metric_points),
        invocations = load(&counters.invocations),
        rejected_items = load(&counters.rejected_items),
        bad_requests = load(&counters.bad_requests),
        busy = load(&counters.busy),
        parts = totals.parts,
        replayed = totals.replayed,
        "collector stopped"
    );
    Ok(())
}

async fn serve(args: &CollectArgs, receivers: &std::sync::Arc<Receivers>) -> anyhow::Result<()> {
    let grpc = TcpListener::bind(args.grpc_listen)
        .await
        .with_context(|| format!("cannot listen on `{}` for gRPC", args.grpc_listen))?;
    let http = TcpListener::bind(args.http_listen)
        .await
        .with_context(|| format!("cannot listen on `{}` for HTTP", args.http_listen))?;
    tracing::info!(
        grpc = %grpc.local_addr()?,
        http = %http.local_addr()?,
        data_dir = %receivers.store.data_dir().display(),
        "collector listening"
    );

    let (stop, stopped) = watch::channel(false);
    let signal = |mut receiver: watch::Receiver<bool>| async move {
        let _ = receiver.wait_for(|stop| *stop).await;
    };
    let grpc_task = tokio::spawn(serve_grpc(grpc, receivers.clone(), signal(stopped.clone())));
    let http_task = tokio::spawn(serve_http(http, receivers.clone(), signal(stopped)));

    wait_for_signal().await?;
    tracing::info!("stopping: finishing open requests and flushing");
    let _ = stop.send(true);
    grpc_task
        .await
        .context("gRPC receiver panicked")?
        .context("gRPC receiver failed")?;
    http_task
        .await
        .context("HTTP receiver panicked")?
        .context("HTTP receiver failed")?;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler failed")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("waiting for Ctrl-C failed")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

/// Sends log events to stderr, filtered by `SPANBILL_LOG` (`EnvFilter` syntax), else at
/// `default_level`.
pub(crate) fn init_logging(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SPANBILL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
