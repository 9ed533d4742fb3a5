//! The wire reader must give the rows that prost decoding, conversion and the column writer
//! give, for well-formed requests of every shape, and must leave every body prost rejects to
//! prost.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use polars::prelude::DataFrame;
use prost::Message as _;

use super::*;
use crate::model::Span as SpanRecord;
use crate::otlp::{Encoding, convert_traces, decode_traces};
use crate::store::Table;

pub(in crate::otlp) type Frames = Vec<((Table, time::Date), DataFrame)>;

/// Returns the frames and rejections of prost decoding, conversion and the records' column
/// writer.
pub(in crate::otlp) fn through_prost(
    body: &[u8],
    limits: &Limits,
) -> Option<(Frames, Vec<Rejection>)> {
    let request = ExportTraceServiceRequest::decode(body).ok()?;
    let converted = convert_traces(request, limits);
    let spans: Vec<&SpanRecord> = converted.records.spans.iter().collect();
    let frames = SpanRows::from_spans(&spans).frames().unwrap();
    Some((frames, converted.rejected))
}

fn through_wire(body: &[u8], limits: &Limits) -> Option<(Frames, Vec<Rejection>)> {
    let (rows, rejected) = trace_rows(body, limits)?;
    Some((rows.frames().unwrap(), rejected))
}

pub(in crate::otlp) fn assert_same_frames(wire: &Frames, prost: &Frames, context: &str) {
    assert_eq!(wire.len(), prost.len(), "{context}: frame count");
    for ((wire_key, wire_frame), (prost_key, prost_frame)) in wire.iter().zip(prost) {
        assert_eq!(wire_key, prost_key, "{context}");
        if let Some(difference) = first_difference(wire_frame, prost_frame) {
            panic!("{context}: {difference}");
        }
        assert!(
            wire_frame.equals_missing(prost_frame),
            "{context}: frames differ\nwire: {wire_frame}\nprost: {prost_frame}"
        );
    }
}

/// Names the first column and row where `wire` and `prost` hold different values.
fn first_difference(wire: &DataFrame, prost: &DataFrame) -> Option<String> {
    for (ours, theirs) in wire.columns().iter().zip(prost.columns()) {
        for row in 0..ours.len().min(theirs.len()) {
            let (a, b) = (ours.get(row).ok()?, theirs.get(row).ok()?);
            if a != b {
                return Some(format!(
                    "column {} row {row}: {a:?} against {b:?}",
                    ours.name()
                ));
            }
        }
    }
    None
}

/// Checks that the wire reader reads `body` and agrees with prost, and that the rows
/// borrowed from the decoded request agree too.
fn assert_agrees(body: &[u8], limits: &Limits, context: &str) {
    let (prost_frames, prost_rejected) = through_prost(body, limits).expect("prost decodes");
    let (wire_frames, wire_rejected) =
        through_wire(body, limits).unwrap_or_else(|| panic!("{context}: wire reader gave up"));
    assert_eq!(wire_rejected, prost_rejected, "{context}: rejections");
    assert_same_frames(&wire_frames, &prost_frames, context);

    let request = ExportTraceServiceRequest::decode(body).unwrap();
    let (rows, borrowed_rejected) = request_rows(&request, limits);
    assert_eq!(
        borrowed_rejected, prost_rejected,
        "{context}: rejections of request rows"
    );
    assert_same_frames(&rows.frames().unwrap(), &prost_frames, context);
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
pub(in crate::otlp) struct Random(pub(in crate::otlp) u64);

impl Random {
    pub(in crate::otlp) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(in crate::otlp) fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }

    pub(in crate::otlp) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub(in crate::otlp) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    fn bytes(&mut self, length: usize) -> Vec<u8> {
        (0..length).map(|_| self.next() as u8).collect()
    }
}

const TEXTS: &[&str] = &[
    "",
    "orders-api",
    "checkout \"quoted\" \\ path",
    "line\nbreak\ttab\u{1}\u{1f}",
    "ünïcödé ✓ 😀 mixed",
    "a fairly long value that goes past any small attribute length limit",
    "é",
];

const KEYS: &[&str] = &[
    "service.name",
    "service.version",
    "faas.name",
    "faas.invocation_id",
    "faas.trigger",
    "faas.coldstart",
    "http.route",
    "aws.request_id",
    "zeta",
    "alpha",
    "ключ",
];

fn any_value(random: &mut Random, depth: usize) -> AnyValue {
    use any_value::Value;
    let value = match random.below(if depth > 10 { 6 } else { 9 }) {
        0 => Some(Value::StringValue(random.pick(TEXTS).to_owned())),
        1 => Some(Value::BoolValue(random.chance(50))),
        2 => Some(Value::IntValue(random.next() as i64 >> random.below(64))),
        3 => Some(Value::DoubleValue(match random.below(6) {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3 => -0.0,
            _ => (random.next() as i64 as f64) / 1e3,
        })),
        4 => {
            let length = random.below(12) as usize;
            Some(Value::BytesValue(random.bytes(length)))
        }
        5 => None,
        6 => Some(Value::StringValueStrindex(random.below(5) as i32)),
        7 => Some(Value::ArrayValue(ArrayValue {
            values: (0..random.below(5))
                .map(|_| any_value(random, depth + 1))
                .collect(),
        })),
        _ => Some(Value::KvlistValue(KeyValueList {
            values: attributes(random, 4, depth + 1),
        })),
    };
    AnyValue { value }
}

fn attributes(random: &mut Random, max: u64, depth: usize) -> Vec<KeyValue> {
    (0..random.below(max + 1))
        .map(|_| KeyValue {
            key: random.pick(KEYS).to_owned(),
            value: (!random.chance(5)).then(|| match random.below(4) {
                0 => AnyValue {
                    value: Some(any_value::Value::StringValue(random.pick(TEXTS).to_owned())),
                },
                1 => AnyValue {
                    value: Some(any_value::Value::BoolValue(random.chance(50))),
                },
                _ => any_value(random, depth),
            }),
            ..KeyValue::default()
        })
        .collect()
}

/// Returns an id of `length` bytes, sometimes of a wrong length or all zeros.
fn id(random: &mut Random, length: usize) -> Vec<u8> {
    match random.below(40) {
        0 => Vec::new(),
        1 => vec![0; length],
        2 => random.bytes(length + 1),
        _ => random.bytes(length),
    }
}

fn span(random: &mut Random) -> Span {
    let start = if random.chance(3) {
        0
    } else {
        1_717_000_000_000_000_000 + random.below(3 * 86_400_000_000_000)
    };
    let end = if random.chance(3) {
        start.saturating_sub(1)
    } else {
        start + random.below(5_000_000_000)
    };
    Span {
        trace_id: id(random, 16),
        span_id: id(random, 8),
        parent_span_id: if random.chance(30) {
            Vec::new()
        } else {
            id(random, 8)
        },
        trace_state: if random.chance(80) {
            String::new()
        } else {
            "vendor=a,other=\"b\"".to_owned()
        },
        flags: random.below(0x400) as u32,
        name: random.pick(TEXTS).to_owned(),
        kind: random.below(7) as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: attributes(random, 12, 0),
        dropped_attributes_count: random.below(3) as u32,
        events: (0..random.below(3))
            .map(|_| Event {
                time_unix_nano: start + random.below(1000),
                name: random.pick(TEXTS).to_owned(),
                attributes: attributes(random, 3, 0),
                dropped_attributes_count: 0,
            })
            .collect(),
        dropped_events_count: 0,
        links: (0..random.below(3))
            .map(|_| Link {
                trace_id: id(random, 16),
                span_id: id(random, 8),
                trace_state: random.pick(&["", "k=v"]).to_owned(),
                attributes: attributes(random, 3, 0),
                dropped_attributes_count: 0,
                flags: random.below(0x300) as u32,
            })
            .collect(),
        dropped_links_count: 0,
        status: random.chance(70).then(|| Status {
            message: random
                .pick(&["", "card declined", "timeout \"x\""])
                .to_owned(),
            code: random.below(4) as i32,
        }),
    }
}

pub(in crate::otlp) fn request(random: &mut Random) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: (0..=random.below(3))
            .map(|_| ResourceSpans {
                resource: random.chance(85).then(|| Resource {
                    attributes: attributes(random, 10, 0),
                    ..Resource::default()
                }),
                scope_spans: (0..=random.below(3))
                    .map(|_| ScopeSpans {
                        scope: random.chance(80).then(|| InstrumentationScope {
                            name: random.pick(&["", "spanbill", "aws-sdk"]).to_owned(),
                            version: random.pick(&["", "1.2.3"]).to_owned(),
                            attributes: attributes(random, 2, 0),
                            dropped_attributes_count: 0,
                        }),
                        spans: (0..random.below(12)).map(|_| span(random)).collect(),
                        schema_url: "https://opentelemetry.io/schemas/1.26.0".to_owned(),
                    })
                    .collect(),
                schema_url: String::new(),
            })
            .collect(),
    }
}

pub(in crate::otlp) const SMALL_LIMITS: Limits = Limits {
    max_attribute_len: 7,
    max_attributes: 3,
};

#[test]
fn random_requests_give_the_rows_prost_gives() {
    let mut random = Random(0x5eed_2026_1205_0001);
    for round in 0..400 {
        let body = request(&mut random).encode_to_vec();
        let limits = if round % 3 == 0 {
            SMALL_LIMITS
        } else {
            Limits::default()
        };
        assert_agrees(&body, &limits, &format!("request {round}"));
    }
}

#[test]
fn corpus_requests_give_the_rows_prost_gives() {
    let protobuf = include_bytes!("../../../tests/data/otlp_protobuf_traces_export_request.binpb");
    assert_agrees(protobuf, &Limits::default(), "protobuf sample");
    assert_agrees(protobuf, &SMALL_LIMITS, "protobuf sample, small limits");
    for (name, json) in [
        (
            "links and error status",
            &include_bytes!(
                "../../../tests/data/otlp_json_traces_lambda_events_links_error_status.json"
            )[..],
        ),
        (
            "twin of the protobuf sample",
            &include_bytes!("../../../tests/data/otlp_json_traces_twin_of_protobuf_sample.json")[..],
        ),
        (
            "uppercase hex and large integers",
            &include_bytes!(
                "../../../tests/data/otlp_json_traces_uppercase_hex_bare_int64_beyond_2p53.json"
            )[..],
        ),
    ] {
        let body = decode_traces(json, Encoding::Json).unwrap().encode_to_vec();
        assert_agrees(&body, &Limits::default(), name);
    }
}

/// Every body prost rejects goes back to prost, and every body the reader reads gives
/// prost's rows: truncated bodies and bodies with one byte changed.
#[test]
fn damaged_bodies_never_give_other_rows() {
    let mut random = Random(0x5eed_2026_1205_0002);
    let mut read = 0;
    let mut left = 0;
    for round in 0..60 {
        let body = request(&mut random).encode_to_vec();
        let mut damaged: Vec<Vec<u8>> = (0..body.len())
            .step_by(1 + body.len() / 40)
            .map(|end| body[..end].to_vec())
            .collect();
        for _ in 0..40 {
            let mut changed = body.clone();
            if !changed.is_empty() {
                let at = random.below(changed.len() as u64) as usize;
                changed[at] = random.next() as u8;
            }
            damaged.push(changed);
        }
        for (index, body) in damaged.iter().enumerate() {
            let context = format!("request {round}, damaged body {index}");
            match (
                through_wire(body, &Limits::default()),
                through_prost(body, &Limits::default()),
            ) {
                (Some(_), None) => panic!("{context}: the reader read a body prost rejects"),
                (Some((wire, wire_rejected)), Some((prost, prost_rejected))) => {
                    assert_eq!(wire_rejected, prost_rejected, "{context}");
                    assert_same_frames(&wire, &prost, &context);
                    read += 1;
                }
                (None, _) => left += 1,
            }
        }
    }
    assert!(
        read > 100 && left > 100,
        "read {read}, left to prost {left}"
    );
}

/// Encodings that prost merges or handles past this reader's depth go back to prost.
#[test]
fn merged_fields_and_deep_values_go_to_prost() {
    let mut random = Random(0x5eed_2026_1205_0003);
    let mut single = request(&mut random);
    single.resource_spans.truncate(1);
    let body = single.encode_to_vec();

    // A resource given twice: prost merges the two.
    let resource = Resource {
        attributes: attributes(&mut random, 3, 0),
        ..Resource::default()
    };
    let mut twice = ResourceSpans {
        resource: Some(resource.clone()),
        ..ResourceSpans::default()
    }
    .encode_to_vec();
    twice.extend(
        ResourceSpans {
            resource: Some(resource),
            scope_spans: vec![ScopeSpans {
                spans: vec![span(&mut random)],
                ..ScopeSpans::default()
            }],
            ..ResourceSpans::default()
        }
        .encode_to_vec(),
    );
    let mut merged = vec![0x0a];
    prost::encoding::encode_varint(twice.len() as u64, &mut merged);
    merged.extend(&twice);
    assert!(through_prost(&merged, &Limits::default()).is_some());
    assert!(through_wire(&merged, &Limits::default()).is_none());

    // Values nested past the reader's depth.
    let mut deep = AnyValue {
        value: Some(any_value::Value::IntValue(1)),
    };
    for _ in 0..40 {
        deep = AnyValue {
            value: Some(any_value::Value::ArrayValue(ArrayValue {
                values: vec![deep],
            })),
        };
    }
    let mut nested = single.clone();
    nested.resource_spans[0].scope_spans = vec![ScopeSpans {
        spans: vec![Span {
            attributes: vec![KeyValue {
                key: "deep".to_owned(),
                value: Some(deep),
                ..KeyValue::default()
            }],
            ..span(&mut random)
        }],
        ..ScopeSpans::default()
    }];
    let nested = nested.encode_to_vec();
    assert!(through_prost(&nested, &Limits::default()).is_some());
    assert!(through_wire(&nested, &Limits::default()).is_none());

    // The request without them reads.
    assert!(through_wire(&body, &Limits::default()).is_some());
}
