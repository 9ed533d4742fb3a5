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
