//! The borrowing JSON reader must give the rows that the decoder and `request_rows` give,
//! and must leave every body the decoder rejects to the decoder.

use std::fmt::Write as _;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use serde_json::{Map, Value, json};

use super::*;
use crate::otlp::wire::tests::{
    Frames, Random, SMALL_LIMITS, assert_same_frames, request, through_prost,
};
use crate::otlp::{Encoding, decode_traces, request_rows};

/// Writes requests as OTLP/JSON with the choices an exporter may make: either field name,
/// integers as numbers or strings, enums by number or name, ids in either case, and
/// explicit nulls and unknown fields. Without `escapes`, texts lose the characters that
/// JSON escapes, so the reader can borrow them.
struct Writer<'r> {
    random: &'r mut Random,
    escapes: bool,
}

impl Writer<'_> {
    fn name(&mut self, camel: &str, proto: &str) -> String {
        if self.random.chance(20) { proto } else { camel }.to_owned()
    }

    fn text(&mut self, text: &str) -> Value {
        if self.escapes {
            Value::from(text)
        } else {
            Value::from(text.replace(|c: char| c == '"' || c == '\\' || c.is_control(), ""))
        }
    }

    fn integer(&mut self, value: u64) -> Value {
        if self.random.chance(50) {
            Value::from(value.to_string())
        } else {
            Value::from(value)
        }
    }

    fn id(&mut self, bytes: &[u8]) -> Value {
        if bytes.is_empty() && self.random.chance(50) {
            return Value::Null;
        }
        let hex = bytes.iter().fold(String::new(), |mut hex, byte| {
            write!(hex, "{byte:02x}").expect("writing to a String succeeds");
            hex
        });
        Value::from(if self.random.chance(30) {
            hex.to_uppercase()
        } else {
            hex
        })
    }

    fn enumeration(&mut self, value: i32, names: &[&str]) -> Value {
        match usize::try_from(value)
            .ok()
            .and_then(|index| names.get(index))
        {
            Some(name) if self.random.chance(40) => Value::from(*name),
            _ => Value::from(value),
        }
    }

    /// Sets a field under one of its names, and sometimes adds an unknown field next to it.
    fn set(&mut self, object: &mut Map<String, Value>, (camel, proto): (&str, &str), value: Value) {
        let name = self.name(camel, proto);
        object.insert(name, value);
        if self.random.chance(5) {
            object.insert(
                "unknownField".to_owned(),
                json!({"nested": [1, "two", null]}),
            );
        }
    }

    fn attributes(&mut self, pairs: &[KeyValue]) -> Value {
        Value::Array(
            pairs
                .iter()
                .map(|pair| {
                    let mut object = Map::new();
                    object.insert("key".to_owned(), self.text(&pair.key));
                    let value = match &pair.value {
                        Some(value) => self.value(value),
                        None => Value::Null,
                    };
                    if !value.is_null() || self.random.chance(50) {
                        object.insert("value".to_owned(), value);
                    }
                    Value::Object(object)
                })
                .collect(),
        )
    }

    fn value(&mut self, value: &AnyValue) -> Value {
        use any_value::Value as V;
        let mut object = Map::new();
        let (names, written) = match &value.value {
            None => return json!({}),
            Some(V::StringValue(text)) => (("stringValue", "string_value"), self.text(text)),
            Some(V::BoolValue(value)) => (("boolValue", "bool_value"), Value::from(*value)),
            Some(V::IntValue(value)) => (
                ("intValue", "int_value"),
                if self.random.chance(50) {
                    Value::from(value.to_string())
                } else {
                    Value::from(*value)
                },
            ),
            Some(V::DoubleValue(value)) => (
                ("doubleValue", "double_value"),
                if value.is_nan() {
                    Value::from("NaN")
                } else if value.is_infinite() {
                    Value::from(if *value > 0.0 {
                        "Infinity"
                    } else {
                        "-Infinity"
                    })
                } else {
                    Value::from(*value)
                },
            ),
            Some(V::BytesValue(_) | V::StringValueStrindex(_)) => {
                (("bytesValue", "bytes_value"), Value::Null)
            }
            Some(V::ArrayValue(array)) => (
                ("arrayValue", "array_value"),
                json!({"values": array.values.iter().map(|item| self.value(item)).collect::<Vec<_>>()}),
            ),
            Some(V::KvlistValue(list)) => (
                ("kvlistValue", "kvlist_value"),
                json!({"values": self.attributes(&list.values)}),
            ),
        };
        self.set(&mut object, names, written);
        Value::Object(object)
    }

    fn request(&mut self, request: &ExportTraceServiceRequest) -> String {
        let mut resources = Vec::new();
        for resource_spans in &request.resource_spans {
            let mut object = Map::new();
            if let Some(resource) = &resource_spans.resource {
                let mut written = Map::new();
                let attributes = self.attributes(&resource.attributes);
                self.set(&mut written, ("attributes", "attributes"), attributes);
                object.insert("resource".to_owned(), Value::Object(written));
            }
            let mut scopes = Vec::new();
            for scope_spans in &resource_spans.scope_spans {
                let mut scope_object = Map::new();
                if let Some(scope) = &scope_spans.scope {
                    let name = self.text(&scope.name);
                    let version = self.text(&scope.version);
                    scope_object.insert(
                        "scope".to_owned(),
                        json!({"name": name, "version": version}),
                    );
                }
                let spans: Vec<Value> = scope_spans
                    .spans
                    .iter()
                    .map(|span| self.span(span))
                    .collect();
                scope_object.insert("spans".to_owned(), Value::Array(spans));
                let url = self.text(&scope_spans.schema_url);
                self.set(&mut scope_object, ("schemaUrl", "schema_url"), url);
                scopes.push(Value::Object(scope_object));
            }
            self.set(
                &mut object,
                ("scopeSpans", "scope_spans"),
                Value::Array(scopes),
            );
            resources.push(Value::Object(object));
        }
        let mut top = Map::new();
        self.set(
            &mut top,
            ("resourceSpans", "resource_spans"),
            Value::Array(resources),
        );
        Value::Object(top).to_string()
    }

    fn span(&mut self, span: &opentelemetry_proto::tonic::trace::v1::Span) -> Value {
        let mut object = Map::new();

        let trace_id = self.id(&span.trace_id);
        self.set(&mut object, ("traceId", "trace_id"), trace_id);
        let span_id = self.id(&span.span_id);
        self.set(&mut object, ("spanId", "span_id"), span_id);
        let parent = self.id(&span.parent_span_id);
        self.set(&mut object, ("parentSpanId", "parent_span_id"), parent);
        let state = self.text(&span.trace_state);
        self.set(&mut object, ("traceState", "trace_state"), state);
        let flags = self.integer(u64::from(span.flags));
        self.set(&mut object, ("flags", "flags"), flags);
        let name = self.text(&span.name);
        self.set(&mut object, ("name", "name"), name);
        let kind = self.enumeration(span.kind, SPAN_KINDS);
        self.set(&mut object, ("kind", "kind"), kind);
        let start = self.integer(span.start_time_unix_nano);
        self.set(
            &mut object,
            ("startTimeUnixNano", "start_time_unix_nano"),
            start,
        );
        let end = self.integer(span.end_time_unix_nano);
        self.set(&mut object, ("endTimeUnixNano", "end_time_unix_nano"), end);

        let attributes = self.attributes(&span.attributes);
        self.set(&mut object, ("attributes", "attributes"), attributes);
        let dropped = self.integer(u64::from(span.dropped_attributes_count));
        self.set(
            &mut object,
            ("droppedAttributesCount", "dropped_attributes_count"),
            dropped,
        );

        let events: Vec<Value> = span
            .events
            .iter()
            .map(|event| {
                let time = self.integer(event.time_unix_nano);
                let name = self.text(&event.name);
                let attributes = self.attributes(&event.attributes);
                json!({"timeUnixNano": time, "name": name, "attributes": attributes})
            })
            .collect();
        self.set(&mut object, ("events", "events"), Value::Array(events));

        let links: Vec<Value> = span
            .links
            .iter()
            .map(|link| {
                let trace_id = self.id(&link.trace_id);
                let span_id = self.id(&link.span_id);
                let state = self.text(&link.trace_state);
                let attributes = self.attributes(&link.attributes);
                let flags = self.integer(u64::from(link.flags));
                json!({"traceId": trace_id, "spanId": span_id, "traceState": state,
                       "attributes": attributes, "flags": flags})
            })
            .collect();
        self.set(&mut object, ("links", "links"), Value::Array(links));

        let status = match &span.status {
            Some(status) => {
                let message = self.text(&status.message);
                let code = self.enumeration(status.code, STATUS_CODES);
                json!({"message": message, "code": code})
            }
            None => Value::Null,
        };
        self.set(&mut object, ("status", "status"), status);
        Value::Object(object)
    }
}

/// Returns the rows through the decoder and `request_rows`. `None` when the decoder rejects
/// the body.
fn through_decoder(body: &[u8], limits: &Limits) -> Option<(Frames, Vec<Rejection>)> {
    let request = decode_traces(body, Encoding::Json).ok()?;
    let (rows, rejected) = request_rows(&request, limits);
    Some((rows.frames().unwrap(), rejected))
}

/// Returns the rows and rejections of the reader, and the request in protobuf it wrote for
/// the write-ahead log. `None` when it leaves the body to the decoder.
fn through_reader(body: &[u8], limits: &Limits) -> Option<(Frames, Vec<Rejection>, Vec<u8>)> {
    let arena = Bump::new();
    let read = trace_rows_json(body, &arena, limits)?;
    Some((read.rows.frames().unwrap(), read.rejected, read.protobuf))
}

/// Compares the two paths on `body` and returns whether the reader read it. When it did,
/// the protobuf it wrote for the log must give the same rows on replay, which decodes it
/// with prost and converts it with the same limits.
fn compare(body: &str, limits: &Limits, context: &str) -> bool {
    match (
        through_reader(body.as_bytes(), limits),
        through_decoder(body.as_bytes(), limits),
    ) {
        (Some(_), None) => panic!("{context}: the reader read a body the decoder rejects"),
        (Some((frames, rejected, protobuf)), Some((expected, expected_rejected))) => {
            assert_eq!(rejected, expected_rejected, "{context}: rejections");
            assert_same_frames(&frames, &expected, context);

            let (replayed, replay_rejected) = through_prost(&protobuf, limits)
                .unwrap_or_else(|| panic!("{context}: prost cannot decode the logged protobuf"));
            assert_eq!(
                replay_rejected, expected_rejected,
                "{context}: replay rejections"
            );
            assert_same_frames(&replayed, &expected, &format!("{context}, replayed"));
            true
        }
        (None, _) => false,
    }
}

/// Writes every character outside ASCII as a `\u` escape, astral ones as surrogate pairs.
/// Such characters only occur inside strings, so the body stays valid.
fn escape_non_ascii(body: &str) -> String {
    let mut escaped = String::with_capacity(body.len());
    for character in body.chars() {
        if character.is_ascii() {
            escaped.push(character);
        } else {
            for unit in character.encode_utf16(&mut [0; 2]) {
                write!(escaped, "\\u{unit:04X}").expect("writing to a String succeeds");
            }
        }
    }
    escaped
}

/// Rewrites a compact body with whitespace of every kind JSON allows between its tokens.
fn spread_out(body: &str, random: &mut Random) -> String {
    let value: Value = serde_json::from_str(body).expect("the writer writes valid JSON");
    let pretty = serde_json::to_string_pretty(&value).expect("a value serializes");
    let mut spread = String::with_capacity(pretty.len() * 2);
    for line in pretty.lines() {
        spread.push_str(line);
        spread.push_str(random.pick(&["\n", "\r\n", "\t\n", " \n "]));
    }
    spread
}

/// Writes `value` as compact JSON with the keys of each object in a random order, so that
/// the spans of one request come with their fields in different orders.
fn shuffle_keys(value: &Value, random: &mut Random, out: &mut String) {
    match value {
        Value::Object(object) => {
            let mut entries: Vec<_> = object.iter().collect();
            for index in (1..entries.len()).rev() {
                let other = random.below(index as u64 + 1) as usize;
                entries.swap(index, other);
            }
            // A resource or scope after its spans is left to the decoder, so those two stay
            // first.
            entries.sort_by_key(|(key, _)| !matches!(key.as_str(), "resource" | "scope"));
            out.push('{');
            for (position, (key, item)) in entries.into_iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                out.push_str(&Value::from(key.as_str()).to_string());
                out.push(':');
                shuffle_keys(item, random, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                shuffle_keys(item, random, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[test]
fn random_json_requests_give_the_decoders_rows() {
    let mut random = Random(0x5eed_2026_1205_0004);
    let mut read = 0;
    let rounds = 300;
    for round in 0..rounds {
        let request = request(&mut random);
        let escapes = round % 5 == 0;
        let mut body = Writer {
            random: &mut random,
            escapes,
        }
        .request(&request);
        if escapes && round % 2 == 0 {
            body = escape_non_ascii(&body);
        }
        if round % 4 == 1 {
            body = spread_out(&body, &mut random);
        }
        if round % 4 == 2 {
            let value: Value = serde_json::from_str(&body).expect("the writer writes valid JSON");
            body.clear();
            shuffle_keys(&value, &mut random, &mut body);
        }
        let limits = if round % 3 == 0 {
            SMALL_LIMITS
        } else {
            Limits::default()
        };
        if compare(&body, &limits, &format!("request {round}")) {
            read += 1;
        }
    }
    // The writer makes no body that the reader leaves to the decoder.
    assert_eq!(read, rounds);
}

/// A span with the fields a reader needs, in the order of their field numbers.
const PLAIN_SPAN: &str = r#"{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"x","startTimeUnixNano":"1717000000000000000","endTimeUnixNano":"1717000000000000001"}"#;

/// Writes a request with a resource, a scope and `PLAIN_SPAN`.
fn plain_request() -> String {
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"orders"}}}}]}},"scopeSpans":[{{"scope":{{"name":"s"}},"spans":[{PLAIN_SPAN}]}}]}}]}}"#
    )
}

#[test]
fn pairs_in_any_order_read_alike() {
    let plain = plain_request();
    let resource = r#"{"key":"service.name","value":{"stringValue":"orders"}}"#;
    for (name, pair) in [
        (
            "value first",
            r#"{"value":{"stringValue":"orders"},"key":"service.name"}"#,
        ),
        (
            "key and value twice",
            r#"{"key":"x","value":{"intValue":"3"},"key":"service.name","value":{"stringValue":"orders"}}"#,
        ),
        (
            "null after a string",
            r#"{"key":"service.name","value":{"stringValue":"orders","stringValue":null}}"#,
        ),
        (
            "other fields around",
            r#"{"other":1,"key":"service.name","more":[2],"value":{"x":{},"stringValue":"orders"}}"#,
        ),
        (
            "spaces",
            r#"{ "key" : "service.name" , "value" : { "stringValue" : "orders" } }"#,
        ),
    ] {
        assert!(
            compare(&plain.replace(resource, pair), &Limits::default(), name),
            "{name}: left to the decoder"
        );
    }
}

#[test]
fn unusual_json_cases() {
    let span = PLAIN_SPAN;
    let plain = plain_request();
    assert!(compare(&plain, &Limits::default(), "plain"));

    let escaped = plain.replace(r#""name":"x""#, r#""name":"\u0078 \"quoted\"\n""#);
    assert!(compare(&escaped, &Limits::default(), "escaped name"));
    let escaped_key = plain.replace(r#""key":"service.name""#, r#""k\u0065y":"service.name""#);
    assert!(compare(&escaped_key, &Limits::default(), "escaped key"));

    // Values nested past the depth at which the conversion empties them, but within the
    // decoder's limit.
    let mut deep = r#"{"intValue":"7"}"#.to_owned();
    for level in 0..12 {
        deep = if level % 2 == 0 {
            format!(r#"{{"arrayValue":{{"values":[{deep},{{"boolValue":true}}]}}}}"#)
        } else {
            format!(r#"{{"kvlistValue":{{"values":[{{"key":"k{level}","value":{deep}}}]}}}}"#)
        };
    }
    let nested = plain.replace(r#"{"stringValue":"orders"}"#, &deep);
    assert!(compare(&nested, &Limits::default(), "nested values"));
    assert!(compare(
        &nested,
        &SMALL_LIMITS,
        "nested values, small limits"
    ));

    let cases = [
        (
            "bytes value",
            plain.replace(
                r#"{"stringValue":"orders"}"#,
                r#"{"bytesValue":"b3JkZXJz"}"#,
            ),
            true,
        ),
        (
            "resource after its spans",
            format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{span}]}}],"resource":{{"attributes":[]}}}}]}}"#
            ),
            true,
        ),
        (
            "scope after its spans",
            format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{span}],"scope":{{"name":"s"}}}}]}}]}}"#
            ),
            true,
        ),
        (
            "id longer than 32 bytes",
            plain.replace("eee19b7ec3c1b174", &"eee19b7ec3c1b174".repeat(5)),
            true,
        ),
        (
            "field given by both names",
            plain.replace(
                r#""name":"x""#,
                r#""name":"x","trace_id":"5b8efff798038103d269b633813fc60c""#,
            ),
            false,
        ),
        (
            "odd hex digits",
            plain.replace("eee19b7ec3c1b174", "eee19b7ec3c1b17"),
            false,
        ),
        ("trailing text", format!("{plain} x"), false),
        (
            // The first span teaches the reader that `name` follows `traceId`, so the second
            // `name` of the second span is met where the reader looks for it first.
            "field twice where the order predicts it",
            format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{},{}]}}]}}]}}"#,
                r#"{"traceId":"5b8efff798038103d269b633813fc60c","name":"a","spanId":"eee19b7ec3c1b174","startTimeUnixNano":"1","endTimeUnixNano":"2"}"#,
                r#"{"name":"b","traceId":"5b8efff798038103d269b633813fc60c","name":"c","spanId":"eee19b7ec3c1b174","startTimeUnixNano":"1","endTimeUnixNano":"2"}"#,
            ),
            false,
        ),
    ];
    for (name, body, decodes) in cases {
        assert!(
            !compare(&body, &Limits::default(), name),
            "{name}: the reader read it"
        );
        assert_eq!(
            decode_traces(body.as_bytes(), Encoding::Json).is_ok(),
            decodes,
            "{name}: the decoder's outcome"
        );
    }
}

/// Writes a request with one span whose `field` (a placeholder in capitals) is `value`,
/// and every other field in its usual form.
fn span_with(field: &str, value: &str) -> String {
    let span = r#"{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","flags":FLAGS,"name":NAME,"kind":KIND,"startTimeUnixNano":START,"endTimeUnixNano":"1717000000000000001","attributes":[{"key":"v","value":VALUE}],"extra":EXTRA}"#;
    let span = [
        ("FLAGS", "1"),
        ("NAME", r#""x""#),
        ("KIND", "2"),
        ("START", r#""1717000000000000000""#),
        ("VALUE", r#"{"intValue":"7"}"#),
        ("EXTRA", "null"),
    ]
    .iter()
    .fold(span.to_owned(), |span, (name, usual)| {
        span.replace(name, if *name == field { value } else { usual })
    });
    format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{span}]}}]}}]}}"#)
}

/// One field of a span with its value written in another form, read by the reader (`true`)
/// or left to the decoder, and in both cases giving the decoder's rows or error.
#[test]
fn value_forms_read_as_the_decoder_reads_them() {
    let deep = format!("{}1{}", "[".repeat(90), "]".repeat(90));
    let too_deep = format!("{}1{}", "[".repeat(140), "]".repeat(140));
    let cases: &[(&str, &str, bool)] = &[
        ("FLAGS", "1", true),
        ("FLAGS", r#""1""#, true),
        ("FLAGS", r#""+1""#, true),
        ("FLAGS", r#""01""#, true),
        ("FLAGS", "null", true),
        ("FLAGS", "1.0", false),
        ("FLAGS", "1e0", false),
        ("FLAGS", "-0", false),
        ("FLAGS", "-1", false),
        ("FLAGS", "01", false),
        ("FLAGS", "4294967296", false),
        ("FLAGS", r#""0x1""#, false),
        ("FLAGS", "true", false),
        ("START", "1717000000000000000", true),
        ("START", "18446744073709551615", true),
        ("START", "18446744073709551616", false),
        ("START", r#""-5""#, false),
        ("START", r#""\u0031717000000000000000""#, true),
        ("KIND", r#""SPAN_KIND_SERVER""#, true),
        ("KIND", r#""2""#, true),
        ("KIND", "-1", true),
        ("KIND", "2147483648", false),
        ("KIND", r#""SPAN_KIND_NOPE""#, false),
        ("NAME", "null", true),
        ("NAME", r#""a\/b\u00e9\ud83d\ude00""#, true),
        ("NAME", r#""lone \ud83d""#, false),
        ("NAME", "7", false),
        ("VALUE", r#"{"intValue":-9223372036854775808}"#, true),
        ("VALUE", r#"{"intValue":"-9223372036854775808"}"#, true),
        ("VALUE", r#"{"intValue":-9223372036854775809}"#, false),
        ("VALUE", r#"{"intValue":-0}"#, false),
        ("VALUE", r#"{"intValue":"-0"}"#, true),
        ("VALUE", r#"{"doubleValue":-0.0}"#, true),
        ("VALUE", r#"{"doubleValue":-0}"#, true),
        ("VALUE", r#"{"doubleValue":2.2250738585072011e-308}"#, true),
        (
            "VALUE",
            r#"{"doubleValue":0.1000000000000000055511151231257827021181583404541015625}"#,
            true,
        ),
        ("VALUE", r#"{"doubleValue":1e309}"#, false),
        ("VALUE", r#"{"doubleValue":"1e5"}"#, true),
        ("VALUE", r#"{"doubleValue":"-Infinity"}"#, true),
        ("VALUE", r#"{"doubleValue":"inf"}"#, true),
        ("VALUE", r#"{"doubleValue":"one"}"#, false),
        (
            "VALUE",
            r#"{"boolValue":null,"stringValue":"s","intValue":null}"#,
            true,
        ),
        ("VALUE", r#"{"boolValue":1}"#, false),
        ("VALUE", r#"{"string\u0056alue":"escaped key"}"#, true),
        ("VALUE", r#"{"bytesValue":null}"#, true),
        ("VALUE", r#"{"arrayValue":{"values":null}}"#, true),
        (
            "VALUE",
            r#"{"arrayValue":{"values":[null,{"boolValue":true}]}}"#,
            true,
        ),
        ("VALUE", r#"{"arrayValue":[]}"#, false),
        (
            "VALUE",
            r#"{"kvlistValue":{"values":[{"key":"k"}],"other":[1]}}"#,
            true,
        ),
        ("VALUE", r#"{"kvlistValue":{"values":[null]}}"#, false),
        (
            "EXTRA",
            r#"{"a":[1,-2.5e+3,"\"",true,false,null,{}]}"#,
            true,
        ),
        ("EXTRA", &deep, true),
        ("EXTRA", &too_deep, false),
        ("EXTRA", "[1,]", false),
        ("EXTRA", r#"{"a":1,}"#, false),
        ("EXTRA", "nul", false),
        ("EXTRA", "\"\\x\"", false),
    ];
    for (field, value, reads) in cases {
        let context = format!("{field} = {value}");
        assert_eq!(
            compare(&span_with(field, value), &Limits::default(), &context),
            *reads,
            "{context}: read by the reader"
        );
    }
}

#[test]
fn corpus_json_gives_the_decoders_rows() {
    for (name, body) in [
        (
            "links and error status",
            include_str!(
                "../../../../tests/data/otlp_json_traces_lambda_events_links_error_status.json"
            ),
        ),
        (
            "twin of the protobuf sample",
            include_str!("../../../../tests/data/otlp_json_traces_twin_of_protobuf_sample.json"),
        ),
        (
            "uppercase hex and large integers",
            include_str!(
                "../../../../tests/data/otlp_json_traces_uppercase_hex_bare_int64_beyond_2p53.json"
            ),
        ),
    ] {
        assert!(
            compare(body, &Limits::default(), name),
            "{name}: left to the decoder"
        );
        compare(body, &SMALL_LIMITS, name);
    }
}

/// Truncated bodies and bodies with one character changed: the reader reads only bodies the
/// decoder accepts, and gives its rows.
#[test]
fn damaged_json_never_gives_other_rows() {
    let mut random = Random(0x5eed_2026_1205_0005);
    let mut read = 0;
    for round in 0..40 {
        let request = request(&mut random);
        let body = Writer {
            random: &mut random,
            escapes: false,
        }
        .request(&request);
        let bytes = body.as_bytes();
        let mut damaged: Vec<Vec<u8>> = (0..bytes.len())
            .step_by(1 + bytes.len() / 30)
            .map(|end| bytes[..end].to_vec())
            .collect();
        for _ in 0..60 {
            let mut changed = bytes.to_vec();
            let at = random.below(changed.len() as u64) as usize;
            changed[at] = b"{}[]\":,0a9- nultrefxAZ"[random.below(22) as usize];
            damaged.push(changed);
        }
        for (index, body) in damaged.iter().enumerate() {
            let Ok(text) = std::str::from_utf8(body) else {
                continue;
            };
            if compare(
                text,
                &Limits::default(),
                &format!("request {round}, body {index}"),
            ) {
                read += 1;
            }
        }
    }
    assert!(read > 100, "read {read}");
}
