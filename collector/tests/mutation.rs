//! Truncated and mutated sample logs: the reader returns a result for every input and never
//! panics. The mutations come from a fixed-seed generator, so every run reads the same inputs.

use std::io::Write as _;
use std::path::PathBuf;

use base64::Engine as _;
use spanbill_collector::platform::{Limits, PlatformRead, ReadOptions, read_bytes};

/// xorshift64: a small deterministic generator, enough to pick positions and bytes.
struct Generator(u64);

impl Generator {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            0
        } else {
            (self.next() % bound as u64) as usize
        }
    }
}

/// Byte strings that steer mutations towards the parser's edge cases.
const FRAGMENTS: &[&[u8]] = &[
    b"\t",
    b"\n",
    b"\r\n",
    b" ms",
    b"99999999999999999999999",
    b"1e400",
    b"-1",
    b"NaN",
    b"REPORT RequestId: ",
    b"XRAY TraceId: ",
    b"Billed Duration: ",
    b"Status: ",
    b"Init Duration: ",
    b"\xff\xfe",
    b"\xc3",
    "é✓".as_bytes(),
    b"{",
    b"}",
    b"[",
    b"\"",
    b"\\",
    b"null",
    b"23:59:59 ",
    b"2024/07/05/[56]5bfcd8021b5fff1aae05d94a99b8aba3 ",
    b"9999-12-31T23:59:59.999999999-23:59 ",
    b"0000-01-01T00:00:00+23:59 ",
    b"RequestId: ",
    b"Process exited before completing request",
    b"\x1f\x8b",
];

fn mutate(input: &[u8], generator: &mut Generator) -> Vec<u8> {
    let mut output = input.to_vec();
    for _ in 0..=generator.below(3) {
        let position = generator.below(output.len() + 1);
        match generator.below(6) {
            0 => output.truncate(position),
            1 if position < output.len() => output[position] = generator.next() as u8,
            2 => {
                let fragment = FRAGMENTS[generator.below(FRAGMENTS.len())];
                output.splice(position..position, fragment.iter().copied());
            }
            3 => {
                let end = (position + generator.below(40)).min(output.len());
                output.drain(position..end);
            }
            4 => {
                let end = (position + generator.below(80)).min(output.len());
                let copy = output[position..end].to_vec();
                output.splice(position..position, copy);
            }
            _ => {
                let digits = position
                    + output[position..]
                        .iter()
                        .take_while(|byte| byte.is_ascii_digit())
                        .count();
                output.splice(position..digits, b"18446744073709551616".iter().copied());
            }
        }
    }
    output
}

fn samples() -> Vec<(String, Vec<u8>)> {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut samples: Vec<(String, Vec<u8>)> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(path).unwrap())
        })
        .collect();
    samples.sort();
    samples
}

/// Reads `input` in a strict and a lenient read and checks what a result must satisfy.
fn read_both_ways(name: &str, input: &[u8]) {
    let lenient = ReadOptions {
        limits: Limits {
            max_decompressed_bytes: 64 * 1024,
            ..Limits::default()
        },
        ..ReadOptions::default()
    };
    let strict = ReadOptions {
        strict: true,
        ..lenient.clone()
    };
    if let Ok(read) = read_bytes(name, input, &lenient) {
        check(name, &read);
    }
    if let Ok(read) = read_bytes(name, input, &strict) {
        check(name, &read);
        assert_eq!(read.summary.problem_count, 0, "{name}");
    }
}

fn check(name: &str, read: &PlatformRead) {
    assert_eq!(read.summary.invocations, read.invocations.len(), "{name}");
    for invocation in &read.invocations {
        let gb_seconds = invocation.gb_seconds();
        assert!(gb_seconds.is_finite(), "{name}");
        assert!(gb_seconds >= 0.0, "{name}");
        assert!(invocation.duration_ms.is_finite(), "{name}");
        assert!(invocation.duration_ms >= 0.0, "{name}");
        assert!(!invocation.request_id.is_empty(), "{name}");
    }
}

#[test]
fn truncated_sample_lines_never_panic() {
    for (name, bytes) in samples() {
        for line in bytes.split(|byte| *byte == b'\n') {
            for end in 0..=line.len() {
                read_both_ways(&name, &line[..end]);
            }
        }
    }
}

#[test]
fn truncated_sample_files_never_panic() {
    for (name, bytes) in samples() {
        let step = (bytes.len() / 400).max(1);
        for end in (0..=bytes.len()).step_by(step) {
            read_both_ways(&name, &bytes[..end]);
        }
    }
}

#[test]
fn mutated_sample_lines_never_panic() {
    let mut generator = Generator(0x5eed_cafe_f00d_beef);
    for (name, bytes) in samples() {
        for line in bytes.split(|byte| *byte == b'\n') {
            for _ in 0..60 {
                read_both_ways(&name, &mutate(line, &mut generator));
            }
        }
    }
}

#[test]
fn mutated_sample_files_never_panic() {
    let mut generator = Generator(0x0dd5_eed5_1234_5678);
    for (name, bytes) in samples() {
        for _ in 0..300 {
            read_both_ways(&name, &mutate(&bytes, &mut generator));
        }
    }
}

#[test]
fn mutated_subscription_payloads_never_panic() {
    let mut generator = Generator(0xfeed_face_0bad_c0de);
    let (_, decoded) = samples()
        .into_iter()
        .find(|(name, _)| name == "cloudwatch_subscription_lambda_event_decoded.json")
        .unwrap();
    let deliveries: Vec<serde_json::Value> = serde_json::from_slice(&decoded).unwrap();
    for delivery in deliveries {
        let json = serde_json::to_vec(&delivery).unwrap();
        for _ in 0..200 {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(&mutate(&json, &mut generator)).unwrap();
            let compressed = encoder.finish().unwrap();
            let data = base64::engine::general_purpose::STANDARD.encode(&compressed);
            let event = format!(r#"{{"awslogs":{{"data":"{data}"}}}}"#);
            read_both_ways("payload.json", event.as_bytes());

            // The compressed bytes themselves, damaged, as a gzip input.
            read_both_ways("payload.gz", &mutate(&compressed, &mut generator));
        }
    }
}
