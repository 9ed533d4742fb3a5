//! A short scenario on the local platform: traffic through all three functions, a deploy of
//! the slow updateInventory release and of the looping handlePayment release.

// Handler futures in a debug build carry whole events and fixtures; only tests await them.
#![allow(clippy::large_futures)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_sdk::trace::InMemorySpanExporter;
use spanbill_collector::platform::{ReadOptions, read_file};
use spanbill_functions::platform::{FunctionSpec, Platform, PlatformLog, PlatformSettings};
use spanbill_functions::scenario::{
    Deploy, MAX_RECURSIVE_INVOCATIONS, ScenarioSettings, Simulation,
};
use spanbill_functions::store::Store;

/// 2026-11-02T00:00:00Z.
fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_hours(498_720)
}

fn spec(name: &str, memory_mb: u32) -> FunctionSpec {
    FunctionSpec {
        name: name.to_owned(),
        version: "1".to_owned(),
        memory_mb,
        architecture: spanbill::Architecture::Arm64,
        timeout: Duration::from_secs(10),
        concurrency_limit: 5,
        simulated_init: Duration::from_millis(150),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_runs_deploys_and_stops_loops() {
    let dir = tempfile::tempdir().unwrap();
    let spans = InMemorySpanExporter::default();
    let exporter = spans.clone();
    // Shutting a pipeline down empties the shared in-memory exporter, so the test keeps every
    // environment's pipeline alive, including those of reclaimed environments.
    let pipelines = Arc::new(Mutex::new(Vec::new()));
    let alive = Arc::clone(&pipelines);
    let telemetry: spanbill_functions::platform::TelemetryFactory = Arc::new(move |function| {
        let telemetry = spanbill::Telemetry::builder()
            .resource(spanbill::function_resource(
                function,
                spanbill::InitType::OnDemand,
            ))
            .simple_exporter(exporter.clone())
            .build();
        alive.lock().unwrap().push(telemetry.clone());
        telemetry
    });
    let log = PlatformLog::create(&dir.path().join("logs")).unwrap();
    let settings = PlatformSettings {
        seed: 7,
        ..PlatformSettings::default()
    };
    let platform = Platform::new(settings, telemetry, log);
    platform.register(spec("createOrder", 256));
    platform.register(spec("handlePayment", 512));
    platform.register(spec("updateInventory", 512));
    let store = Store::open(dir.path().join("orders.db")).unwrap();
    let simulation = Simulation::new(platform, store, start());

    let scenario = ScenarioSettings {
        seed: 11,
        start: start(),
        duration: Duration::from_hours(12),
        orders_per_hour: 30.0,
        catalog_size: 2_000,
        burst_every: Some(Duration::from_hours(4)),
        burst_size: 4,
        deploys: vec![
            Deploy {
                after: Duration::from_hours(6),
                function: "updateInventory".to_owned(),
                version: "2".to_owned(),
            },
            Deploy {
                after: Duration::from_hours(8),
                function: "handlePayment".to_owned(),
                version: "2".to_owned(),
            },
        ],
    };
    let summary = simulation.run(&scenario).await.unwrap();

    // Traffic reached every function, on both sides of each deploy.
    assert!(summary.requests > 100, "{summary:?}");
    assert!(summary.responses[&201] > 80, "{summary:?}");
    assert!(
        summary.responses.get(&400).copied().unwrap_or(0)
            + summary.responses.get(&422).copied().unwrap_or(0)
            > 0
    );
    assert!(
        summary.responses.get(&409).copied().unwrap_or(0) > 0,
        "duplicates were sent"
    );
    for (function, version) in [
        ("updateInventory", "1"),
        ("updateInventory", "2"),
        ("handlePayment", "1"),
        ("handlePayment", "2"),
    ] {
        let key = (function.to_owned(), version.to_owned());
        assert!(
            summary.invocations.get(&key).copied().unwrap_or(0) > 0,
            "no {function} v{version} invocation: {summary:?}"
        );
    }
    assert_eq!(summary.deployed.len(), 2);

    // Declined orders after the handlePayment deploy loop until loop detection stops them.
    let finished = spans.get_finished_spans().unwrap();
    let mut per_trace: HashMap<_, usize> = HashMap::new();
    for span in finished.iter().filter(|span| span.name == "handlePayment") {
        *per_trace.entry(span.span_context.trace_id()).or_default() += 1;
    }
    let longest = per_trace.values().copied().max().unwrap();
    assert!(summary.loops_stopped > 0, "{summary:?}");
    assert_eq!(longest, MAX_RECURSIVE_INVOCATIONS);

    // The platform log contains one REPORT per invocation of each function.
    let options = ReadOptions {
        function: Some("updateInventory".to_owned()),
        ..ReadOptions::default()
    };
    let read = read_file(
        &simulation.platform().log().path("updateInventory"),
        &options,
    )
    .unwrap();
    let invoked: usize = summary
        .invocations
        .iter()
        .filter(|((function, _), _)| function == "updateInventory")
        .map(|(_, count)| count)
        .sum();
    assert_eq!(read.invocations.len(), invoked);
}
