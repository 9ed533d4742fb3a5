//! Setting up telemetry opens no network connection; the first export does.
//!
//! The test runs itself again as a child process with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing
//! at a listener of its own, because the set-up reads process-wide environment variables.

use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

use opentelemetry::trace::{Tracer as _, TracerProvider as _};

const CHILD: &str = "SPANBILL_INIT_NETWORK_CHILD";
const READY: &str = "spanbill-init-ready";

#[test]
fn init_opens_no_connection() {
    if std::env::var_os(CHILD).is_some() {
        run_child();
        return;
    }

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "init_opens_no_connection",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "500")
        .env("AWS_LAMBDA_FUNCTION_NAME", "init-probe")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();

    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut saw_ready = false;
    for line in lines.by_ref() {
        // libtest writes the test name on the same line, so look for the marker anywhere.
        if line.unwrap().contains(READY) {
            saw_ready = true;
            break;
        }
    }
    assert!(saw_ready, "the child never reported ready");
    let during_init = listener.accept();
    assert!(
        matches!(&during_init, Err(error) if error.kind() == std::io::ErrorKind::WouldBlock),
        "a connection was opened during init: {during_init:?}"
    );

    // The export after init does connect, which shows the listener would have seen one.
    for _ in lines {}
    assert!(child.wait().unwrap().success());
    assert!(
        listener.accept().is_ok(),
        "the flush after init did not reach the endpoint"
    );
}

fn run_child() {
    let telemetry = spanbill_instrumentation::Telemetry::init().unwrap();
    spanbill_instrumentation::Environment::global().mark_ready();
    std::thread::sleep(Duration::from_millis(300));
    println!("{READY}");

    let tracer = telemetry.tracer_provider().tracer("init-network");
    tracer.in_span("first export", |_| {});
    let _ = telemetry.flush_blocking();
    std::process::exit(0);
}
