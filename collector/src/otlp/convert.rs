//! Conversion of decoded OTLP messages into spanbill records, with validation.

use std::collections::BTreeMap;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue as ProtoKeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1 as proto_metrics;
use opentelemetry_proto::tonic::trace::v1 as proto_trace;

use crate::model::{
    AttributeValue, Attributes, Event, ExponentialBuckets, ExponentialHistogram, Histogram,
    KeyValue, Link, MetricKind, MetricPoint, PointValue, ResourceConventions, Span, SpanId,
    SpanKind, StatusCode, Summary, Temporality, TraceId, find,
};

use super::{Converted, Limits, RejectReason, Rejection, SpanLabel};

/// Bit 0 of a data point's flags: the producer had no value to report.
const FLAG_NO_RECORDED_VALUE: u32 = 1;

/// Converts a trace export request into spans, rejecting invalid spans one by one.
#[must_use]
pub fn convert_traces(request: ExportTraceServiceRequest, limits: &Limits) -> Converted {
    let mut converted = Converted::default();
    for resource_spans in request.resource_spans {
        let resource = Arc::new(attributes(
            resource_spans
                .resource
                .map(|resource| resource.attributes)
                .unwrap_or_default(),
            limits,
        ));
        let conventions = ResourceConventions::new(&resource);
        for scope_spans in resource_spans.scope_spans {
            let (scope_name, scope_version) = scope_names(scope_spans.scope.as_ref());
            let scope_name = scope_name.map(Arc::<str>::from);
            let scope_version = scope_version.map(Arc::<str>::from);
            for span in scope_spans.spans {
                let label = SpanLabel::new(&span.span_id);
                match convert_span(span, &resource, &conventions, limits) {
                    Ok(mut span) => {
                        span.scope_name.clone_from(&scope_name);
                        span.scope_version.clone_from(&scope_version);
                        converted.records.spans.push(span);
                    }
                    Err(reason) => converted.rejected.push(Rejection {
                        reason,
                        span: Some(label),
                    }),
                }
            }
        }
    }
    converted
}

fn scope_names(
    scope: Option<&opentelemetry_proto::tonic::common::v1::InstrumentationScope>,
) -> (Option<String>, Option<String>) {
    let non_empty = |text: &str| (!text.is_empty()).then(|| text.to_owned());
    scope.map_or((None, None), |scope| {
        (non_empty(&scope.name), non_empty(&scope.version))
    })
}

fn convert_span(
    span: proto_trace::Span,
    resource: &Arc<Attributes>,
    conventions: &ResourceConventions,
    limits: &Limits,
) -> Result<Span, RejectReason> {
    let trace_id = TraceId::from_bytes(&span.trace_id).map_err(RejectReason::InvalidId)?;
    let span_id = SpanId::from_bytes(&span.span_id).map_err(RejectReason::InvalidId)?;
    let parent_span_id = if span.parent_span_id.is_empty() {
        None
    } else {
        Some(SpanId::from_bytes(&span.parent_span_id).map_err(RejectReason::InvalidId)?)
    };
    if span.end_time_unix_nano < span.start_time_unix_nano {
        return Err(RejectReason::NegativeDuration);
    }
    if span.start_time_unix_nano == 0 {
        return Err(RejectReason::MissingTime);
    }
    let kind =
        SpanKind::from_otlp(span.kind).ok_or(RejectReason::UnknownEnum("span kind", span.kind))?;
    let status = span.status.unwrap_or_default();
    let status_code = StatusCode::from_otlp(status.code)
        .ok_or(RejectReason::UnknownEnum("status code", status.code))?;

    let mut links = Vec::with_capacity(span.links.len());
    for link in span.links {
        links.push(Link {
            trace_id: TraceId::from_bytes(&link.trace_id).map_err(RejectReason::InvalidId)?,
            span_id: SpanId::from_bytes(&link.span_id).map_err(RejectReason::InvalidId)?,
            trace_state: non_empty(link.trace_state),
            flags: link.flags,
            attributes: attributes(link.attributes, limits),
        });
    }
    let events = span
        .events
        .into_iter()
        .map(|event| Event {
            name: event.name,
            time_ns: event.time_unix_nano,
            attributes: attributes(event.attributes, limits),
        })
        .collect();

    let mut record = Span {
        trace_id,
        span_id,
        parent_span_id,
        trace_state: non_empty(span.trace_state),
        flags: span.flags,
        name: truncate(span.name, limits.max_attribute_len),
        kind,
        start_ns: span.start_time_unix_nano,
        end_ns: span.end_time_unix_nano,
        status: status_code,
        status_message: non_empty(status.message),
        service_name: None,
        service_version: None,
        faas_name: None,
        faas_invocation_id: None,
        faas_coldstart: None,
        faas_trigger: None,
        links,
        events,
        attributes: attributes(span.attributes, limits),
        resource_attributes: Arc::clone(resource),
        scope_name: None,
        scope_version: None,
    };
    record.fill_conventions_with(conventions);
    Ok(record)
}

/// Converts a metrics export request into metric points, one per data point.
#[must_use]
pub fn convert_metrics(request: ExportMetricsServiceRequest, limits: &Limits) -> Converted {
    let mut converted = Converted::default();
    for resource_metrics in request.resource_metrics {
        let resource = Arc::new(attributes(
            resource_metrics
                .resource
                .map(|resource| resource.attributes)
                .unwrap_or_default(),
            limits,
        ));
        let service_name = find(&resource, "service.name")
            .and_then(AttributeValue::as_str)
            .map(str::to_owned);
        for scope_metrics in resource_metrics.scope_metrics {
            let (scope_name, _) = scope_names(scope_metrics.scope.as_ref());
            for metric in scope_metrics.metrics {
                let template = MetricPoint {
                    name: metric.name,
                    description: non_empty(metric.description),
                    unit: non_empty(metric.unit),
                    kind: MetricKind::Gauge,
                    temporality: None,
                    monotonic: None,
                    start_ns: None,
                    time_ns: 0,
                    value: PointValue::NoRecordedValue,
                    flags: 0,
                    attributes: Vec::new(),
                    resource_attributes: Arc::clone(&resource),
                    service_name: service_name.clone(),
                    scope_name: scope_name.clone(),
                };
                let Some(data) = metric.data else {
                    converted.reject(RejectReason::MissingData);
                    continue;
                };
                convert_data(data, &template, limits, &mut converted);
            }
        }
    }
    converted
}

fn convert_data(
    data: proto_metrics::metric::Data,
    template: &MetricPoint,
    limits: &Limits,
    converted: &mut Converted,
) {
    use proto_metrics::metric::Data;
    let mut push = |point: Result<MetricPoint, RejectReason>| match point {
        Ok(point) => converted.records.metrics.push(point),
        Err(reason) => converted.reject(reason),
    };
    match data {
        Data::Gauge(gauge) => {
            for point in gauge.data_points {
                push(number_point(point, template, MetricKind::Gauge, limits));
            }
        }
        Data::Sum(sum) => {
            let temporality = Temporality::from_otlp(sum.aggregation_temporality);
            for point in sum.data_points {
                push(
                    number_point(point, template, MetricKind::Sum, limits).map(|mut point| {
                        point.temporality = temporality;
                        point.monotonic = Some(sum.is_monotonic);
                        point
                    }),
                );
            }
        }
        Data::Histogram(histogram) => {
            let temporality = Temporality::from_otlp(histogram.aggregation_temporality);
            for point in histogram.data_points {
                push(histogram_point(point, template, temporality, limits));
            }
        }
        Data::ExponentialHistogram(histogram) => {
            let temporality = Temporality::from_otlp(histogram.aggregation_temporality);
            for point in histogram.data_points {
                push(exponential_point(point, template, temporality, limits));
            }
        }
        Data::Summary(summary) => {
            for point in summary.data_points {
                push(summary_point(point, template, limits));
            }
        }
    }
}

fn base_point(
    template: &MetricPoint,
    kind: MetricKind,
    start_ns: u64,
    time_ns: u64,
    flags: u32,
    point_attributes: Vec<ProtoKeyValue>,
    limits: &Limits,
) -> Result<MetricPoint, RejectReason> {
    if time_ns == 0 {
        return Err(RejectReason::MissingTime);
    }
    if start_ns > time_ns {
        return Err(RejectReason::NegativeDuration);
    }
    let mut point = template.clone();
    point.kind = kind;
    point.start_ns = (start_ns != 0).then_some(start_ns);
    point.time_ns = time_ns;
    point.flags = flags;
    point.attributes = attributes(point_attributes, limits);
    Ok(point)
}

fn number_point(
    point: proto_metrics::NumberDataPoint,
    template: &MetricPoint,
    kind: MetricKind,
    limits: &Limits,
) -> Result<MetricPoint, RejectReason> {
    use proto_metrics::number_data_point::Value;
    let mut record = base_point(
        template,
        kind,
        point.start_time_unix_nano,
        point.time_unix_nano,
        point.flags,
        point.attributes,
        limits,
    )?;
    record.value = if point.flags & FLAG_NO_RECORDED_VALUE != 0 {
        PointValue::NoRecordedValue
    } else {
        match point.value {
            Some(Value::AsInt(value)) => PointValue::Int(value),
            Some(Value::AsDouble(value)) => PointValue::double(value),
            None => PointValue::NoRecordedValue,
        }
    };
    Ok(record)
}

fn finite(value: Option<f64>) -> Option<f64> {
    value.filter(|value| value.is_finite())
}

fn histogram_point(
    point: proto_metrics::HistogramDataPoint,
    template: &MetricPoint,
    temporality: Option<Temporality>,
    limits: &Limits,
) -> Result<MetricPoint, RejectReason> {
    if !point.bucket_counts.is_empty()
        && point.bucket_counts.len() != point.explicit_bounds.len() + 1
    {
        return Err(RejectReason::InvalidHistogram);
    }
    let mut record = base_point(
        template,
        MetricKind::Histogram,
        point.start_time_unix_nano,
        point.time_unix_nano,
        point.flags,
        point.attributes,
        limits,
    )?;
    record.temporality = temporality;
    record.value = if point.flags & FLAG_NO_RECORDED_VALUE == 0 {
        PointValue::Histogram(Histogram {
            count: point.count,
            sum: finite(point.sum),
            min: finite(point.min),
            max: finite(point.max),
            explicit_bounds: point.explicit_bounds,
            bucket_counts: point.bucket_counts,
        })
    } else {
        PointValue::NoRecordedValue
    };
    Ok(record)
}

fn exponential_point(
    point: proto_metrics::ExponentialHistogramDataPoint,
    template: &MetricPoint,
    temporality: Option<Temporality>,
    limits: &Limits,
) -> Result<MetricPoint, RejectReason> {
    let mut record = base_point(
        template,
        MetricKind::ExponentialHistogram,
        point.start_time_unix_nano,
        point.time_unix_nano,
        point.flags,
        point.attributes,
        limits,
    )?;
    record.temporality = temporality;
    let buckets = |buckets: Option<proto_metrics::exponential_histogram_data_point::Buckets>| {
        buckets.map_or_else(ExponentialBuckets::default, |buckets| ExponentialBuckets {
            offset: buckets.offset,
            bucket_counts: buckets.bucket_counts,
        })
    };
    record.value = if point.flags & FLAG_NO_RECORDED_VALUE == 0 {
        PointValue::ExponentialHistogram(ExponentialHistogram {
            count: point.count,
            sum: finite(point.sum),
            min: finite(point.min),
            max: finite(point.max),
            scale: point.scale,
            zero_count: point.zero_count,
            zero_threshold: point.zero_threshold,
            positive: buckets(point.positive),
            negative: buckets(point.negative),
        })
    } else {
        PointValue::NoRecordedValue
    };
    Ok(record)
}

fn summary_point(
    point: proto_metrics::SummaryDataPoint,
    template: &MetricPoint,
    limits: &Limits,
) -> Result<MetricPoint, RejectReason> {
    let mut record = base_point(
        template,
        MetricKind::Summary,
        point.start_time_unix_nano,
        point.time_unix_nano,
        point.flags,
        point.attributes,
        limits,
    )?;
    record.value = if point.flags & FLAG_NO_RECORDED_VALUE == 0 {
        PointValue::Summary(Summary {
            count: point.count,
            sum: finite(Some(point.sum)),
            quantiles: point
                .quantile_values
                .iter()
                .map(|quantile| (quantile.quantile, quantile.value))
                .collect(),
        })
    } else {
        PointValue::NoRecordedValue
    };
    Ok(record)
}

/// Collects the string bodies of log records, one per line, for the platform log reader:
/// log pipelines forward Lambda's REPORT lines and `platform.*` records as log bodies.
#[must_use]
pub fn log_bodies(request: &ExportLogsServiceRequest) -> (String, usize) {
    let mut text = String::new();
    let mut records = 0;
    for resource_logs in &request.resource_logs {
        for scope_logs in &resource_logs.scope_logs {
            for record in &scope_logs.log_records {
                records += 1;
                if let Some(any_value::Value::StringValue(body)) =
                    record.body.as_ref().and_then(|body| body.value.as_ref())
                {
                    text.push_str(body);
                    if !body.ends_with('\n') {
                        text.push('\n');
                    }
                }
            }
        }
    }
    (text, records)
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn attributes(pairs: Vec<ProtoKeyValue>, limits: &Limits) -> Attributes {
    attributes_at(pairs, limits, 0)
}

fn attributes_at(pairs: Vec<ProtoKeyValue>, limits: &Limits, depth: usize) -> Attributes {
    pairs
        .into_iter()
        .take(limits.max_attributes)
        .map(|pair| KeyValue {
            key: truncate(pair.key, limits.max_attribute_len),
            value: pair.value.map_or(AttributeValue::Empty, |value| {
                any_value(value, limits, depth)
            }),
        })
        .collect()
}

/// Nesting depth past which arrays and maps are cut, so a hostile payload cannot build a
/// deeply recursive value.
const MAX_VALUE_DEPTH: usize = 8;

fn any_value(value: AnyValue, limits: &Limits, depth: usize) -> AttributeValue {
    use any_value::Value;
    match value.value {
        None => AttributeValue::Empty,
        Some(Value::StringValue(text)) => {
            AttributeValue::String(truncate(text, limits.max_attribute_len))
        }
        Some(Value::BoolValue(value)) => AttributeValue::Bool(value),
        Some(Value::IntValue(value)) => AttributeValue::Int(value),
        Some(Value::DoubleValue(value)) => AttributeValue::double(value),
        Some(Value::BytesValue(mut bytes)) => {
            bytes.truncate(limits.max_attribute_len);
            AttributeValue::Bytes(bytes)
        }
        Some(Value::ArrayValue(array)) if depth < MAX_VALUE_DEPTH => AttributeValue::Array(
            array
                .values
                .into_iter()
                .take(limits.max_attributes)
                .map(|value| any_value(value, limits, depth + 1))
                .collect(),
        ),
        Some(Value::KvlistValue(list)) if depth < MAX_VALUE_DEPTH => {
            AttributeValue::Map(attributes_at(list.values, limits, depth + 1))
        }
        // String-table references belong to the profiles signal, which has no table here.
        Some(Value::ArrayValue(_) | Value::KvlistValue(_) | Value::StringValueStrindex(_)) => {
            AttributeValue::Empty
        }
    }
}

/// Counts rejections by reason, for partial-success messages and summaries.
pub(super) fn count_reasons(rejected: &[Rejection]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for rejection in rejected {
        *counts.entry(rejection.reason.to_string()).or_insert(0) += 1;
    }
    counts
}
