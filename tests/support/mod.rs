//! Helpers shared by the command-line tests: free loopback ports and a running
//! `spanbill collect`.
#![allow(
    dead_code,
    reason = "each test crate uses a different part of this module"
)]

use std::io::Read as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Returns the test virtualenv's Python after checking that it imports `modules` (a
/// comma-separated list), or fails naming the fix.
pub(crate) fn python(modules: &str) -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-test/bin/python");
    let probe = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output();
    match probe {
        Ok(output) if output.status.success() => python,
        _ => panic!(
            "the Python test environment at `{}` is missing or cannot import {modules}: run \
             `scripts/test.sh`, which creates it",
            python.display()
        ),
    }
}

/// Returns a loopback port that was free a moment ago.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Returns two different loopback ports that were free a moment ago. The system can hand
/// the same free port out twice in a row, so the second is drawn until it differs.
pub(crate) fn free_ports() -> (u16, u16) {
    let first = free_port();
    let second = std::iter::repeat_with(free_port)
        .find(|port| *port != first)
        .unwrap();
    (first, second)
}

/// A running `spanbill collect` on loopback ports.
pub(crate) struct Collector {
    child: Child,
    /// Port of the OTLP/HTTP receiver.
    pub(crate) http: u16,
    /// Port of the OTLP/gRPC receiver.
    pub(crate) grpc: u16,
}

impl Collector {
    /// Starts `spanbill collect` on free ports with its data in `data_dir`.
    pub(crate) fn start(data_dir: &Path) -> Self {
        let (http, grpc) = free_ports();
        Self::start_on(data_dir, http, grpc, &[])
    }

    /// Starts `spanbill collect` on the given ports, with `extra` flags, and waits until
    /// both receivers accept connections. The flush interval is 300 ms unless `extra` sets
    /// one.
    pub(crate) fn start_on(data_dir: &Path, http: u16, grpc: u16, extra: &[&str]) -> Self {
        let flush_interval: &[&str] = if extra.contains(&"--flush-interval-ms") {
            &[]
        } else {
            &["--flush-interval-ms", "300"]
        };
        let child = Command::new(env!("CARGO_BIN_EXE_spanbill"))
            .arg("collect")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--http-listen", &format!("127.0.0.1:{http}")])
            .args(["--grpc-listen", &format!("127.0.0.1:{grpc}")])
            .args(flush_interval)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut collector = Self { child, http, grpc };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", http)).is_err()
            || TcpStream::connect(("127.0.0.1", grpc)).is_err()
        {
            if let Some(exit) = collector.child.try_wait().unwrap() {
                let mut log = String::new();
                if let Some(mut stderr) = collector.child.stderr.take() {
                    stderr.read_to_string(&mut log).unwrap();
                }
                panic!("collector exited with {exit} before listening: {log}");
            }
            assert!(
                Instant::now() < deadline,
                "collector did not start listening on ports {http} and {grpc} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        collector
    }

    /// Returns the base address of the OTLP/HTTP receiver.
    pub(crate) fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }

    /// Stops the collector with SIGTERM and returns its log.
    pub(crate) fn terminate(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        let mut log = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        assert!(exit.success(), "collector exited with {exit}: {log}");
        log
    }

    /// Stops the collector with SIGKILL.
    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}
