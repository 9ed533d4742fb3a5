use opentelemetry_proto::tonic::common::v1::any_value;

use super::attributes::MAX_DEPTH;
use super::*;

fn span_of(body: &str) -> Span {
    let mut request = traces_from_json(body.as_bytes()).unwrap_or_else(|error| {
        panic!("{error}");
    });
    request
        .resource_spans
        .remove(0)
        .scope_spans
        .remove(0)
        .spans
        .remove(0)
}

fn one_span(span: &str) -> String {
    format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{span}]}}]}}]}}"#)
}

#[test]
fn span_names_enums_and_hex_in_either_form() {
    let camel = span_of(&one_span(
        r#"{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174",
           "parentSpanId":"","name":"GET /","kind":"SPAN_KIND_SERVER",
           "startTimeUnixNano":"1544712660000000000","endTimeUnixNano":1544712661000000000,
           "status":{"code":"STATUS_CODE_ERROR","message":"boom"}}"#,
    ));
    let snake = span_of(&one_span(
        r#"{"trace_id":"5b8efff798038103d269b633813fc60c","span_id":"EEE19B7EC3C1B174",
           "name":"GET /","kind":2,"start_time_unix_nano":1544712660000000000,
           "end_time_unix_nano":"1544712661000000000","status":{"code":2,"message":"boom"}}"#,
    ));
    assert_eq!(camel, snake);
    assert_eq!(camel.trace_id[0], 0x5b);
    assert_eq!(camel.span_id.len(), 8);
    assert_eq!(camel.kind, 2);
    assert_eq!(camel.start_time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(camel.status.unwrap().code, 2);
}

#[test]
fn integers_keep_64_bit_precision() {
    let span = span_of(&one_span(
        r#"{"startTimeUnixNano":18446744073709551615,
           "attributes":[{"key":"big","value":{"intValue":"9007199254740993"}},
                         {"key":"bare","value":{"intValue":-9223372036854775808}}]}"#,
    ));
    assert_eq!(span.start_time_unix_nano, u64::MAX);
    let ints: Vec<_> = span
        .attributes
        .iter()
        .map(|pair| pair.value.clone().unwrap().value.unwrap())
        .collect();
    assert_eq!(
        ints,
        [
            any_value::Value::IntValue(9_007_199_254_740_993),
            any_value::Value::IntValue(i64::MIN)
        ]
    );
}

#[test]
fn null_and_unknown_fields_read_as_absent() {
    let span = span_of(&one_span(
        r#"{"name":null,"traceId":null,"attributes":null,"status":null,"events":null,
           "futureField":{"nested":[1,2,{"deep":true}]},
           "links":[{"traceId":"0102","attributes":[{"key":"k","value":null,"extra":1}]}]}"#,
    ));
    assert_eq!(span.name, "");
    assert!(span.trace_id.is_empty());
    assert!(span.attributes.is_empty());
    assert!(span.events.is_empty());
    assert_eq!(span.status, None);
    assert_eq!(span.links[0].trace_id, [1, 2]);
    assert_eq!(span.links[0].attributes[0].key, "k");
    assert_eq!(span.links[0].attributes[0].value, None);
}

#[test]
fn attribute_values_of_every_kind() {
    use any_value::Value as V;

    let span = span_of(&one_span(
        r#"{"attributes":[
            {"key":"s","value":{"stringValue":"text"}},
            {"key":"b","value":{"boolValue":true}},
            {"key":"d","value":{"doubleValue":"-Infinity"}},
            {"key":"x","value":{"bytesValue":"AQID"}},
            {"key":"a","value":{"arrayValue":{"values":[{"intValue":1},{}]}}},
            {"key":"m","value":{"kvlist_value":{"values":[{"key":"in","value":{"string_value":"v"}}]}}}
        ]}"#,
    ));
    let values: Vec<_> = span
        .attributes
        .into_iter()
        .map(|pair| pair.value.unwrap().value.unwrap())
        .collect();
    assert_eq!(values[0], V::StringValue("text".into()));
    assert_eq!(values[1], V::BoolValue(true));
    assert_eq!(values[2], V::DoubleValue(f64::NEG_INFINITY));
    assert_eq!(values[3], V::BytesValue(vec![1, 2, 3]));
    let V::ArrayValue(array) = &values[4] else {
        panic!("not an array: {:?}", values[4]);
    };
    assert_eq!(array.values[0].value, Some(V::IntValue(1)));
    assert_eq!(array.values[1].value, None);
    let V::KvlistValue(list) = &values[5] else {
        panic!("not a key-value list: {:?}", values[5]);
    };
    assert_eq!(list.values[0].key, "in");
}

fn nested(depth: usize) -> String {
    let mut value = r#"{"stringValue":"leaf"}"#.to_owned();
    for _ in 0..depth {
        value = format!(r#"{{"arrayValue":{{"values":[{value}]}}}}"#);
    }
    one_span(&format!(
        r#"{{"attributes":[{{"key":"deep","value":{value}}}]}}"#
    ))
}

#[test]
fn attribute_nesting_is_limited() {
    assert!(traces_from_json(nested(MAX_DEPTH).as_bytes()).is_ok());
    let error = traces_from_json(nested(MAX_DEPTH + 1).as_bytes()).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("nested more than 16 levels deep"),
        "{error}"
    );
}

#[test]
fn field_error_names_path_and_value() {
    let body = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"0102"},
        {"traceId":"not-hex"}]}]}]}"#;
    let error = traces_from_json(body.as_bytes()).unwrap_err();
    let DecodeError::JsonField { path, problem } = &error else {
        panic!("not a field error: {error}");
    };
    assert_eq!(path, "resourceSpans[0].scopeSpans[0].spans[1].traceId");
    assert!(problem.contains("string \"not-hex\""), "{problem}");
    assert!(
        error
            .to_string()
            .starts_with("invalid OTLP JSON body: field `resourceSpans[0]"),
        "{error}"
    );

    // A duplicate field is found once its object is read, so the path ends at the object.
    for (body, path, problem) in [
        (
            one_span(r#"{"traceId":"abc"}"#),
            "traceId",
            "string \"abc\"",
        ),
        (
            one_span(r#"{"kind":"SIDEWAYS"}"#),
            "kind",
            "string \"SIDEWAYS\"",
        ),
        (one_span(r#"{"flags":4294967296}"#), "flags", "4294967296"),
        (
            one_span(r#"{"startTimeUnixNano":-1}"#),
            "startTimeUnixNano",
            "-1",
        ),
        (
            one_span(r#"{"startTimeUnixNano":1.5}"#),
            "startTimeUnixNano",
            "1.5",
        ),
        (
            one_span(r#"{"name":"a","name":"b"}"#),
            "spans[0]",
            "duplicate field `name`",
        ),
        (
            one_span(r#"{"traceId":"01","trace_id":"02"}"#),
            "spans[0]",
            "`traceId`",
        ),
        (one_span(r#""GET /""#), "spans[0]", "expected a span object"),
        (
            " []".to_owned(),
            ".",
            "expected an OTLP trace export request object",
        ),
        (
            one_span(r#"["0102"]"#),
            "spans[0]",
            "expected a span object",
        ),
        (
            one_span(r#"{"attributes":[{"key":"a","value":{"arrayValue":[1]}}]}"#),
            "arrayValue",
            "expected an array value object",
        ),
        (
            one_span(r#"{"attributes":[{"key":"a","value":{"kvlistValue":"x"}}]}"#),
            "kvlistValue",
            "expected a key-value list value object",
        ),
        (
            "true".to_owned(),
            ".",
            "expected an OTLP trace export request object",
        ),
    ] {
        let error = traces_from_json(body.as_bytes()).unwrap_err();
        let DecodeError::JsonField {
            path: found,
            problem: found_problem,
        } = &error
        else {
            panic!("not a field error for {body}: {error}");
        };
        assert!(found.ends_with(path), "{found} for {body}");
        assert!(
            found_problem.contains(problem),
            "{found_problem} for {body}"
        );
    }
}

#[test]
fn invalid_json_is_syntax_error() {
    for body in ["{\"resourceSpans\": [", "not json", "{} trailing", ""] {
        let error = traces_from_json(body.as_bytes()).unwrap_err();
        assert!(matches!(error, DecodeError::Json(_)), "{body}: {error}");
    }
    assert!(traces_from_json(b"{}").unwrap().resource_spans.is_empty());
}

#[test]
fn invalid_utf8_names_its_offset() {
    // 0xe9 is `é` in Latin-1, a byte that cannot stand alone in UTF-8.
    let mut body = one_span(r#"{"name":"caf?"}"#).into_bytes();
    let at = body.iter().position(|&byte| byte == b'?').unwrap();
    body[at] = 0xe9;

    let error = traces_from_json(&body).unwrap_err();
    assert!(
        matches!(error, DecodeError::JsonUtf8 { offset } if offset == at),
        "{error}"
    );
}

#[test]
fn metrics_of_every_kind() {
    use pm::metric::Data;
    let body = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
        {"name":"g","gauge":{"dataPoints":[{"asDouble":"NaN","timeUnixNano":"1"}]}},
        {"name":"s","sum":{"dataPoints":[{"as_int":"9007199254740993"}],
            "aggregationTemporality":"AGGREGATION_TEMPORALITY_DELTA","isMonotonic":true}},
        {"name":"h","histogram":{"aggregationTemporality":2,"dataPoints":[{"count":"3",
            "sum":6.5,"bucketCounts":["1",2],"explicitBounds":[1.0],"min":1,"max":"Infinity"}]}},
        {"name":"e","exponentialHistogram":{"dataPoints":[{"scale":-2,"zeroCount":1,
            "positive":{"offset":-1,"bucketCounts":[1,"2"]},"zeroThreshold":0.5}]}},
        {"name":"q","summary":{"dataPoints":[{"sum":3,"quantileValues":[{"quantile":0.5,
            "value":1.5}]}]}},
        {"name":"none"}
    ]}]}]}"#;
    let request = metrics_from_json(body.as_bytes()).unwrap();
    let metrics = &request.resource_metrics[0].scope_metrics[0].metrics;
    let data: Vec<_> = metrics.iter().map(|metric| metric.data.clone()).collect();

    let Some(Data::Gauge(gauge)) = &data[0] else {
        panic!("{:?}", data[0]);
    };
    assert!(matches!(
        gauge.data_points[0].value,
        Some(pm::number_data_point::Value::AsDouble(value)) if value.is_nan()
    ));
    let Some(Data::Sum(sum)) = &data[1] else {
        panic!("{:?}", data[1]);
    };
    assert_eq!(
        sum.data_points[0].value,
        Some(pm::number_data_point::Value::AsInt(9_007_199_254_740_993))
    );
    assert_eq!((sum.aggregation_temporality, sum.is_monotonic), (1, true));
    let Some(Data::Histogram(histogram)) = &data[2] else {
        panic!("{:?}", data[2]);
    };
    let point = &histogram.data_points[0];
    assert_eq!(
        (point.count, point.sum, point.min),
        (3, Some(6.5), Some(1.0))
    );
    assert_eq!(point.bucket_counts, [1, 2]);
    assert_eq!(point.max, Some(f64::INFINITY));
    let Some(Data::ExponentialHistogram(exponential)) = &data[3] else {
        panic!("{:?}", data[3]);
    };
    let point = &exponential.data_points[0];
    assert_eq!(
        (point.scale, point.zero_count, point.zero_threshold),
        (-2, 1, 0.5)
    );
    assert_eq!(point.positive.as_ref().unwrap().bucket_counts, [1, 2]);
    assert_eq!(point.negative, None);
    let Some(Data::Summary(summary)) = &data[4] else {
        panic!("{:?}", data[4]);
    };
    assert!((summary.data_points[0].quantile_values[0].value - 1.5).abs() < f64::EPSILON);
    assert_eq!(data[5], None);
}

#[test]
fn log_records_with_body_and_ids() {
    let body = r#"{"resource_logs":[{"resource":{"attributes":[{"key":"faas.name",
        "value":{"stringValue":"checkout"}}]},"scope_logs":[{"log_records":[
        {"timeUnixNano":"7","severityNumber":"9","body":{"stringValue":"REPORT ..."},
         "traceId":"0102030405060708090a0b0c0d0e0f10","eventName":"e"}]}]}]}"#;
    let request = logs_from_json(body.as_bytes()).unwrap();
    let resource_logs = &request.resource_logs[0];
    assert_eq!(
        resource_logs.resource.as_ref().unwrap().attributes[0].key,
        "faas.name"
    );
    let record = &resource_logs.scope_logs[0].log_records[0];
    assert_eq!((record.time_unix_nano, record.severity_number), (7, 9));
    assert_eq!(record.trace_id.len(), 16);
    assert_eq!(record.event_name, "e");
    assert_eq!(
        record.body.as_ref().unwrap().value,
        Some(any_value::Value::StringValue("REPORT ...".into()))
    );
}

/// Ids of an even length with a character that is not a hex digit fail the request, in
/// either reader of OTLP/JSON.
#[test]
fn even_length_non_hex_id_fails() {
    for id in ["5b8efff798038103d269b633813fc6zz", "0g", "5B8E-FFF7"] {
        let body = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"{id}"}}]}}]}}]}}"#
        );
        assert!(traces_from_json(body.as_bytes()).is_err(), "{id}");
        let arena = bumpalo::Bump::new();
        let read = super::trace_rows_json(body.as_bytes(), &arena, &crate::otlp::Limits::default());
        assert!(read.is_none(), "{id}");
    }
}
