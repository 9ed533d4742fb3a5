//! Trace context across queues and HTTP: W3C `traceparent`/`tracestate` and the X-Ray
//! `AWSTraceHeader`.
//!
//! Producers write both W3C fields into message attributes, and SQS adds the X-Ray header as
//! the `AWSTraceHeader` system attribute. Consumers read `traceparent` first and fall back to
//! `AWSTraceHeader`, so a message sent by an X-Ray-only producer still joins its trace.

use std::collections::HashMap;

use aws_lambda_events::sqs::SqsMessage;
use opentelemetry::Context;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
};
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// Message attribute and HTTP header that carries the W3C trace parent.
pub const TRACEPARENT: &str = "traceparent";
/// Message attribute and HTTP header that carries the W3C trace state.
pub const TRACESTATE: &str = "tracestate";
/// SQS system attribute that carries the X-Ray trace header.
pub const AWS_TRACE_HEADER: &str = "AWSTraceHeader";

/// Writes the W3C `traceparent` and `tracestate` of `cx`'s span into `carrier`.
///
/// Nothing is written when `cx` has no valid span context, and `tracestate` is left out when
/// the trace state is empty, because SQS rejects message attributes with empty values.
pub fn inject(cx: &Context, carrier: &mut HashMap<String, String>) {
    TraceContextPropagator::new().inject_context(cx, &mut MapCarrier(carrier));
    if carrier.get(TRACESTATE).is_some_and(String::is_empty) {
        carrier.remove(TRACESTATE);
    }
}

/// Reads a remote span context from W3C fields in `carrier`; `None` when they are missing
/// or invalid.
#[must_use]
pub fn extract(carrier: &HashMap<String, String>) -> Option<SpanContext> {
    let cx = TraceContextPropagator::new().extract(&MapReader(carrier));
    let span_context = cx.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}

/// Reads the producer's span context from an SQS message: the `traceparent` message attribute
/// first, then the `AWSTraceHeader` system attribute.
#[must_use]
pub fn extract_sqs_message(message: &SqsMessage) -> Option<SpanContext> {
    let string_attribute = |name: &str| {
        message
            .message_attributes
            .get(name)
            .and_then(|attribute| attribute.string_value.clone())
    };
    if let Some(traceparent) = string_attribute(TRACEPARENT) {
        let mut carrier = HashMap::from([(TRACEPARENT.to_owned(), traceparent)]);
        if let Some(tracestate) = string_attribute(TRACESTATE) {
            carrier.insert(TRACESTATE.to_owned(), tracestate);
        }
        if let Some(span_context) = extract(&carrier) {
            return Some(span_context);
        }
    }
    message
        .attributes
        .get(AWS_TRACE_HEADER)
        .and_then(|header| parse_xray_header(header))
}

/// Formats `span_context` as an X-Ray trace header:
/// `Root=1-<8 hex epoch>-<24 hex>;Parent=<16 hex>;Sampled=<0|1>`.
#[must_use]
pub fn xray_header(span_context: &SpanContext) -> Option<String> {
    if !span_context.is_valid() {
        return None;
    }
    let trace = format!("{:032x}", span_context.trace_id());
    let sampled = u8::from(span_context.is_sampled());
    Some(format!(
        "Root=1-{}-{};Parent={:016x};Sampled={sampled}",
        &trace[..8],
        &trace[8..],
        span_context.span_id()
    ))
}

/// Converts an X-Ray trace id (`1-5759e988-bd862e3fe1be46a994272793`) to the 32-digit W3C
/// form.
#[must_use]
pub fn xray_trace_id_to_w3c(xray: &str) -> Option<TraceId> {
    let mut parts = xray.split('-');
    let (Some("1"), Some(epoch), Some(unique), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if epoch.len() != 8 || unique.len() != 24 {
        return None;
    }
    let id = TraceId::from_hex(&format!("{epoch}{unique}")).ok()?;
    (id != TraceId::INVALID).then_some(id)
}

/// Parses an X-Ray trace header (`Root=...;Parent=...;Sampled=...`, fields in any order,
/// extra fields such as `Lineage` ignored) into a remote span context.
///
/// `None` when the root or parent is missing or malformed, as in a header of a segment that
/// has no parent yet.
#[must_use]
pub fn parse_xray_header(header: &str) -> Option<SpanContext> {
    let mut trace_id = None;
    let mut span_id = None;
    let mut sampled = false;
    for field in header.split(';') {
        let (key, value) = field.trim().split_once('=')?;
        match key {
            "Root" => trace_id = xray_trace_id_to_w3c(value),
            "Parent" if value.len() == 16 => span_id = SpanId::from_hex(value).ok(),
            "Sampled" => sampled = value == "1",
            _ => {}
        }
    }
    let span_id = span_id.filter(|id| *id != SpanId::INVALID)?;
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    Some(SpanContext::new(
        trace_id?,
        span_id,
        flags,
        true,
        TraceState::default(),
    ))
}

struct MapCarrier<'a>(&'a mut HashMap<String, String>);

impl Injector for MapCarrier<'_> {
    fn set(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }
}

struct MapReader<'a>(&'a HashMap<String, String>);

impl Extractor for MapReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(String::as_str).collect()
    }
}

/// Reads headers case-insensitively, as HTTP header names are.
pub(crate) struct HeaderReader<'a>(pub(crate) &'a http::HeaderMap);

impl Extractor for HeaderReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Reads a remote span context from HTTP headers.
pub(crate) fn extract_headers(headers: &http::HeaderMap) -> Option<SpanContext> {
    let cx = TraceContextPropagator::new().extract(&HeaderReader(headers));
    let span_context = cx.span().span_context().clone();
    span_context.is_valid().then_some(span_context)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xray_header_round_trip() {
        let header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let span_context = parse_xray_header(header).unwrap();
        assert_eq!(
            format!("{:032x}", span_context.trace_id()),
            "5759e988bd862e3fe1be46a994272793"
        );
        assert_eq!(
            format!("{:016x}", span_context.span_id()),
            "53995c3f42cd8ad8"
        );
        assert!(span_context.is_sampled());
        assert!(span_context.is_remote());
        assert_eq!(xray_header(&span_context).unwrap(), header);
    }

    #[test]
    fn xray_header_any_order_with_lineage() {
        let header = "Sampled=0;Lineage=a87bd80c:1|68fd508a:5;Parent=53995c3f42cd8ad8;Root=1-5759e988-bd862e3fe1be46a994272793";
        let span_context = parse_xray_header(header).unwrap();
        assert!(!span_context.is_sampled());
    }

    #[test]
    fn xray_header_without_parent_is_none() {
        assert!(parse_xray_header("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1").is_none());
        assert!(parse_xray_header("Root=1-5759e988-bd86;Parent=53995c3f42cd8ad8").is_none());
        assert!(parse_xray_header("garbage").is_none());
    }

    #[test]
    fn w3c_round_trip_through_a_map() {
        let span_context = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::from_key_value([("vendor", "v1")]).unwrap(),
        );
        let cx = Context::new().with_remote_span_context(span_context.clone());
        let mut carrier = HashMap::new();
        inject(&cx, &mut carrier);

        assert_eq!(
            carrier[TRACEPARENT],
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        assert_eq!(carrier[TRACESTATE], "vendor=v1");
        let extracted = extract(&carrier).unwrap();
        assert_eq!(extracted.trace_flags(), TraceFlags::SAMPLED);
        assert_eq!(extracted.trace_id(), span_context.trace_id());
        assert_eq!(extracted.span_id(), span_context.span_id());
        assert_eq!(extracted.trace_state().header(), "vendor=v1");
    }

    #[test]
    fn empty_tracestate_is_left_out() {
        let span_context = SpanContext::new(
            TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap(),
            SpanId::from_hex("b7ad6b7169203331").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        let cx = Context::new().with_remote_span_context(span_context);
        let mut carrier = HashMap::new();
        inject(&cx, &mut carrier);

        assert!(carrier.contains_key(TRACEPARENT));
        assert!(!carrier.contains_key(TRACESTATE), "{carrier:?}");
    }

    #[test]
    fn sqs_message_falls_back_to_xray() {
        let mut message = SqsMessage::default();
        message.attributes.insert(
            AWS_TRACE_HEADER.to_owned(),
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1".to_owned(),
        );
        let span_context = extract_sqs_message(&message).unwrap();
        assert_eq!(
            format!("{:016x}", span_context.span_id()),
            "53995c3f42cd8ad8"
        );
    }
}
