//! One test per sample OTLP request in `tests/data`, asserting the values a correct reader
//! must extract from it.

use std::path::PathBuf;

use spanbill_collector::model::{
    AttributeValue, MetricKind, PointValue, Span, SpanKind, StatusCode, Temporality, find,
};
use spanbill_collector::otlp::{
    Converted, Encoding, Limits, convert_metrics, convert_traces, decode_metrics, decode_traces,
};

fn data(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn traces(name: &str, encoding: Encoding) -> Converted {
    let request = decode_traces(&data(name), encoding).unwrap_or_else(|error| panic!("{error}"));
    convert_traces(request, &Limits::default())
}

fn span<'a>(converted: &'a Converted, span_id: &str) -> &'a Span {
    converted
        .records
        .spans
        .iter()
        .find(|span| span.span_id.to_string() == span_id)
        .unwrap_or_else(|| panic!("no span {span_id}"))
}

fn assert_protobuf_sample(converted: &Converted) {
    assert!(converted.rejected.is_empty(), "{:?}", converted.rejected);
    assert_eq!(converted.records.spans.len(), 2);

    let server = span(converted, "b6398f586e9f4fe4");
    assert_eq!(
        server.trace_id.to_string(),
        "449a32fb95cfa56aab9e612ec562c3b3"
    );
    assert_eq!(server.name, "resize-fn");
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(server.duration_ns(), 1_234_567_891);
    assert_eq!(server.status, StatusCode::Ok);
    assert_eq!(server.faas_coldstart, Some(true));
    assert_eq!(
        server.faas_invocation_id.as_deref(),
        Some("ce05dd84-c793-412d-9aa0-78c2a2049141")
    );
    assert_eq!(
        find(&server.resource_attributes, "faas.max_memory").and_then(AttributeValue::as_i64),
        Some(1_073_741_824)
    );

    let client = span(converted, "0ce50fbc716fa05f");
    assert_eq!(client.name, "S3.GetObject");
    assert_eq!(client.kind, SpanKind::Client);
    assert_eq!(
        client.parent_span_id.map(|id| id.to_string()).as_deref(),
        Some("b6398f586e9f4fe4")
    );
    assert_eq!(client.duration_ns(), 400_000_000);
    let status = find(&client.attributes, "http.response.status_code")
        .or_else(|| find(&client.attributes, "http.status_code"))
        .and_then(AttributeValue::as_i64);
    assert_eq!(status, Some(200));
    assert_eq!(client.events.len(), 1);
    assert_eq!(client.events[0].name, "first byte");
    assert_eq!(client.events[0].time_ns - client.start_ns, 190_000_000);
}

#[test]
fn protobuf_sample_decodes() {
    assert_protobuf_sample(&traces(
        "otlp_protobuf_traces_export_request.binpb",
        Encoding::Protobuf,
    ));
}

#[test]
fn json_twin_matches_protobuf_sample() {
    let json = traces(
        "otlp_json_traces_twin_of_protobuf_sample.json",
        Encoding::Json,
    );
    assert_protobuf_sample(&json);
    let protobuf = traces(
        "otlp_protobuf_traces_export_request.binpb",
        Encoding::Protobuf,
    );
    assert_eq!(json.records, protobuf.records);
}

#[test]
fn grpc_frame_is_not_a_plain_protobuf_message() {
    let framed = data("otlp_protobuf_traces_export_request.grpc-frame");
    assert_eq!(framed[0], 0, "uncompressed flag");
    let length = u32::from_be_bytes(framed[1..5].try_into().unwrap()) as usize;
    assert_eq!(length, 481);
    let request = decode_traces(&framed[5..], Encoding::Protobuf).unwrap();
    assert_protobuf_sample(&convert_traces(request, &Limits::default()));
}

#[test]
fn lambda_trace_with_links_and_errors() {
    let converted = traces(
        "otlp_json_traces_lambda_events_links_error_status.json",
        Encoding::Json,
    );
    assert!(converted.rejected.is_empty(), "{:?}", converted.rejected);
    assert_eq!(converted.records.spans.len(), 3);
    for span in &converted.records.spans {
        assert_eq!(
            span.trace_id.to_string(),
            "0254799a0ac90514d1651b11c49e48b8"
        );
    }

    let root = span(&converted, "598c7565f435032e");
    assert_eq!(root.kind, SpanKind::Server);
    assert_eq!(root.duration_ns(), 812_345_678);
    assert_eq!(root.status, StatusCode::Error);
    assert!(
        root.status_message
            .as_deref()
            .is_some_and(|message| message.contains("ConditionalCheckFailedException"))
    );
    assert_eq!(root.faas_coldstart, Some(true));
    assert_eq!(
        root.faas_invocation_id.as_deref(),
        Some("0ceaace2-3bad-455b-b76c-7ae4d84a7414")
    );
    assert_eq!(
        root.parent_span_id.map(|id| id.to_string()).as_deref(),
        Some("872b15eeafe42459")
    );
    assert!(root.parent_is_remote());
    assert_eq!(root.links.len(), 2);
    assert_eq!(root.events.len(), 1);
    assert_eq!(root.events[0].name, "exception");
    assert_eq!(
        find(&root.resource_attributes, "faas.max_memory").and_then(AttributeValue::as_i64),
        Some(134_217_728)
    );

    let client = span(&converted, "4c4eb57d2974fad2");
    assert_eq!(client.kind, SpanKind::Client);
    assert_eq!(client.name, "DynamoDB.UpdateItem");
    assert_eq!(client.duration_ns(), 779_000_000);
    assert_eq!(client.status, StatusCode::Error);

    let producer = span(&converted, "87a1458b4d2f12f7");
    assert_eq!(producer.kind, SpanKind::Producer);
    assert_eq!(producer.duration_ns(), 10_500_000);
    assert_eq!(producer.status, StatusCode::Unset);
}

#[test]
fn uppercase_hex_and_bare_int64_beyond_f64() {
    let converted = traces(
        "otlp_json_traces_uppercase_hex_bare_int64_beyond_2p53.json",
        Encoding::Json,
    );
    assert!(converted.rejected.is_empty(), "{:?}", converted.rejected);
    assert_eq!(converted.records.spans.len(), 1);
    let span = &converted.records.spans[0];
    assert_eq!(
        span.trace_id.to_string(),
        "b605723f857a1f38f09c2d99e029d9ff"
    );
    assert_eq!(span.span_id.to_string(), "79734cada55e979a");
    assert_eq!(
        span.parent_span_id.map(|id| id.to_string()).as_deref(),
        Some("c4f8f6d7c6b4006a")
    );
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!(span.start_ns, 1_544_712_660_123_456_789);
    assert_eq!(span.end_ns, 1_544_712_661_000_000_001);
    assert_eq!(span.duration_ns(), 876_543_212);
    assert_eq!(
        find(&span.attributes, "billing.attempt").and_then(AttributeValue::as_i64),
        Some(3)
    );
}

#[test]
fn metrics_keep_exact_ints_and_missing_values() {
    let request = decode_metrics(
        &data("otlp_json_metrics_exponential_histogram_int64_precision_no_value_flag.json"),
        Encoding::Json,
    )
    .unwrap();
    let converted = convert_metrics(request, &Limits::default());
    assert!(converted.rejected.is_empty(), "{:?}", converted.rejected);
    let points = &converted.records.metrics;
    assert_eq!(points.len(), 5);

    let histogram = points
        .iter()
        .find(|point| point.kind == MetricKind::ExponentialHistogram)
        .unwrap();
    assert_eq!(histogram.temporality, Some(Temporality::Delta));
    assert_eq!(
        histogram.time_ns - histogram.start_ns.unwrap(),
        60_000_000_000
    );
    let PointValue::ExponentialHistogram(exponential) = &histogram.value else {
        panic!("not an exponential histogram: {:?}", histogram.value);
    };
    assert_eq!(exponential.count, 10);
    assert_eq!(
        exponential.zero_count + exponential.positive.bucket_counts.iter().sum::<u64>(),
        10
    );
    assert!((exponential.sum.unwrap() - 1.184).abs() < 1e-12);
    assert_eq!(exponential.min, Some(0.0));
    assert_eq!(exponential.max, Some(0.16));
    assert!((exponential.base() - 1.090_507_7).abs() < 1e-7);
    assert_eq!(exponential.positive.offset, -27);
    assert_eq!(exponential.positive.bucket_counts, vec![1, 0, 2, 3, 2, 1]);
    let expected_bounds = [
        (-27, 0.096_388, 0.105_112),
        (-26, 0.105_112, 0.114_626),
        (-25, 0.114_626, 0.125_000),
        (-24, 0.125_000, 0.136_313),
        (-23, 0.136_313, 0.148_651),
        (-22, 0.148_651, 0.162_105),
    ];
    for (index, lower, upper) in expected_bounds {
        let (actual_lower, actual_upper) = exponential.bucket_bounds(index);
        assert!((actual_lower - lower).abs() < 1e-6, "bucket {index} lower");
        assert!((actual_upper - upper).abs() < 1e-6, "bucket {index} upper");
    }

    let sum = points
        .iter()
        .find(|point| point.kind == MetricKind::Sum)
        .unwrap();
    assert_eq!(sum.value, PointValue::Int(9_007_199_254_740_993));
    assert_eq!(sum.temporality, Some(Temporality::Cumulative));
    assert_eq!(sum.monotonic, Some(true));
    assert_eq!(sum.start_ns, Some(1_716_000_000_000_000_000));

    let gauges: Vec<_> = points
        .iter()
        .filter(|point| point.kind == MetricKind::Gauge)
        .collect();
    assert_eq!(gauges.len(), 3);
    assert_eq!(gauges[0].value, PointValue::Int(97_517_568));
    assert_eq!(gauges[1].value, PointValue::NoRecordedValue);
    assert_eq!(gauges[1].value.as_f64(), None);
    assert_eq!(gauges[2].value, PointValue::NotFinite);
    assert_eq!(
        find(&gauges[0].resource_attributes, "faas.max_memory").and_then(AttributeValue::as_i64),
        Some(536_870_912)
    );
    assert_eq!(gauges[0].service_name.as_deref(), Some("checkout-fn"));
}
