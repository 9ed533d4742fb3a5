//! The `spanbill` command line.

use assert_cmd::Command;

fn spanbill() -> Command {
    Command::cargo_bin("spanbill").unwrap()
}

#[test]
fn trace_id_from_xray_header() {
    let output = spanbill()
        .args([
            "trace-id",
            "Root=1-663367c2-ad6a0f14a3cdc9d8a02e9f81;Parent=3822071b209cf858;Sampled=1",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        text,
        "w3c trace id:   663367c2ad6a0f14a3cdc9d8a02e9f81\n\
         x-ray trace id: 1-663367c2-ad6a0f14a3cdc9d8a02e9f81\n\
         parent span id: 3822071b209cf858\n\
         traceparent:    00-663367c2ad6a0f14a3cdc9d8a02e9f81-3822071b209cf858-01\n\
         x-ray header:   Root=1-663367c2-ad6a0f14a3cdc9d8a02e9f81;Parent=3822071b209cf858;Sampled=1\n"
    );
}

#[test]
fn trace_id_from_w3c_id() {
    let output = spanbill()
        .args(["trace-id", "B605723F857A1F38F09C2D99E029D9FF"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("x-ray trace id: 1-b605723f-857a1f38f09c2d99e029d9ff\n"),
        "{text}"
    );
}

#[test]
fn trace_id_rejects_garbage_with_exit_2() {
    let output = spanbill().args(["trace-id", "1-abc"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stderr).unwrap();
    assert_eq!(
        text,
        "error: invalid X-Ray trace id `1-abc`: expected `1-<8 hex>-<24 hex>`\n"
    );
}

#[test]
fn collect_rejects_bad_flags_with_exit_2() {
    let cases = [
        (["--max-body-bytes", "0"], "0 would reject every request"),
        (["--queue-capacity", "0"], "0 would reject every request"),
        (["--max-attribute-length", "x"], "`x` is not a whole number"),
        (
            ["--grpc-listen", "localhost:4317"],
            "`localhost:4317` is not an IP address and port",
        ),
        (
            ["--http-listen", "localhost"],
            "127.0.0.1:4318 or [::1]:4318",
        ),
    ];
    for (flags, message) in cases {
        let data_dir = tempfile::tempdir().unwrap();
        let output = spanbill()
            .arg("collect")
            .arg("--data-dir")
            .arg(data_dir.path())
            .args(flags)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        let text = String::from_utf8(output.stderr).unwrap();
        assert!(text.contains(message), "{flags:?}: {text}");
    }
}

#[test]
fn second_collect_on_a_data_dir_exits_2() {
    let data_dir = tempfile::tempdir().unwrap();
    // Ports 0 let the system choose free ones, so the first collector starts on any machine.
    let mut first = std::process::Command::new(assert_cmd::cargo::cargo_bin("spanbill"))
        .arg("collect")
        .arg("--data-dir")
        .arg(data_dir.path())
        .args([
            "--grpc-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lock = data_dir.path().join("spanbill.lock");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_to_string(&lock).map_or(true, |text| text.trim().is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the first collector did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let output = spanbill()
        .args(["ingest", "--data-dir"])
        .arg(data_dir.path())
        .arg("-")
        .write_stdin("")
        .output()
        .unwrap();
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(text.contains("is in use by another spanbill"), "{text}");
    assert!(text.contains(&format!("process {}", first.id())), "{text}");
}

#[test]
fn trace_id_from_header_without_parent() {
    let output = spanbill()
        .args([
            "trace-id",
            "Sampled=1;Root=1-663367c2-ad6a0f14a3cdc9d8a02e9f81",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        text,
        "w3c trace id:   663367c2ad6a0f14a3cdc9d8a02e9f81\n\
         x-ray trace id: 1-663367c2-ad6a0f14a3cdc9d8a02e9f81\n"
    );
    let output = spanbill()
        .args(["trace-id", "Root=1-abc;Sampled=1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let text = String::from_utf8(output.stderr).unwrap();
    assert!(
        text.contains("invalid X-Ray trace header `Root=1-abc;Sampled=1`"),
        "{text}"
    );
}
