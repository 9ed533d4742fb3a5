//! Measures the init time the instrumentation adds: process start to ready for the first
//! event.
//!
//! `init_probe bare` exits as soon as `main` runs; `init_probe instrumented` first sets up
//! telemetry from the `OTEL_*` environment (OTLP/HTTP exporters, batch span processor,
//! periodic metric reader, `tracing` subscriber) and marks the environment ready. Both exit
//! without shutting telemetry down, so the difference between their wall times, as measured
//! by `hyperfine`, is the added init time. The instrumented run also prints the time from
//! the start of `main` to ready, in microseconds.

use std::time::Instant;

fn main() {
    let started = Instant::now();
    let mode = std::env::args().nth(1).unwrap_or_default();
    match mode.as_str() {
        "bare" => {}
        "instrumented" => {
            let telemetry = spanbill_instrumentation::Telemetry::init().expect("telemetry set-up");
            spanbill_instrumentation::Environment::global().mark_ready();
            println!("init_us {}", started.elapsed().as_micros());
            // Exit without a shutdown, as Lambda freezes a ready process: only init counts.
            std::mem::forget(telemetry);
        }
        other => {
            eprintln!("unknown mode `{other}`: pass `bare` or `instrumented`");
            std::process::exit(2);
        }
    }
    std::process::exit(0);
}
