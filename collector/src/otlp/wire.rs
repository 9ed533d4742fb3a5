//! A reader of protobuf trace export requests that builds span rows straight from the body.
//!
//! The message types of `opentelemetry-proto` give every span, attribute key and value its
//! own allocation, and the conversion into [`Span`](crate::model::Span) records moves and
//! frees them again. This reader walks the protobuf wire format instead and borrows names,
//! keys and values from the body. The rows it builds are the rows that decoding with prost,
//! [`convert_traces`](super::convert_traces) and the column writer give, with the same
//! limits and the same rejected spans.
//!
//! It reads what OTLP exporters send. For anything else it returns `None`, and the caller
//! decodes the body with prost, which gives the same rows or the precise error. These cases
//! go to prost: a body that does not decode, a string that is not UTF-8, a field with an
//! unexpected wire type, a group, and a singular message field given twice (which prost
//! merges). So do an `AnyValue` with two values set, entity references on a resource, and
//! values nested deeper than [`MAX_WIRE_DEPTH`].

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue as ProtoKeyValue, any_value};

use crate::model::attribute::{AttributeRef, ValueRef, write_json_attributes};
use crate::model::{SpanId, SpanKind, StatusCode, TraceId};
use crate::store::columns::{EventRef, LinkRef, SpanRow, SpanRows, write_events, write_links};

use super::{Limits, RejectReason, Rejection};

/// Nesting of array and map values past which the reader leaves the body to prost.
const MAX_WIRE_DEPTH: usize = 32;

/// Nesting depth past which arrays and maps become empty values, as in the conversion of
/// decoded messages.
pub(super) const MAX_VALUE_DEPTH: usize = 8;

/// The reader met an encoding it leaves to prost.
#[derive(Debug)]
struct Unsupported;

type Read<T> = Result<T, Unsupported>;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH_DELIMITED: u8 = 2;
const FIXED32: u8 = 5;

/// A cursor over one message's bytes.
struct Fields<'a> {
    bytes: &'a [u8],
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    /// Reads a varint as prost does: at most ten bytes, the tenth at most 1.
    fn varint(&mut self) -> Read<u64> {
        let mut value = 0_u64;
        for (index, &byte) in self.bytes.iter().enumerate().take(10) {
            if index == 9 && byte > 1 {
                return Err(Unsupported);
            }
            value |= u64::from(byte & 0x7f) << (7 * index);
            if byte < 0x80 {
                self.bytes = &self.bytes[index + 1..];
                return Ok(value);
            }
        }
        Err(Unsupported)
    }

    /// Reads the next field's number and wire type; `None` at the end of the message.
    fn next(&mut self) -> Read<Option<(u32, u8)>> {
        if self.bytes.is_empty() {
            return Ok(None);
        }
        let key = u32::try_from(self.varint()?).map_err(|_| Unsupported)?;
        let wire_type = (key & 7) as u8;
        let number = key >> 3;
        if number == 0 || !matches!(wire_type, VARINT | FIXED64 | LENGTH_DELIMITED | FIXED32) {
            return Err(Unsupported);
        }
        Ok(Some((number, wire_type)))
    }

    fn take(&mut self, count: usize) -> Read<&'a [u8]> {
        if count > self.bytes.len() {
            return Err(Unsupported);
        }
        let (taken, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(taken)
    }

    fn fixed64(&mut self, wire_type: u8) -> Read<u64> {
        expect(wire_type, FIXED64)?;
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
    }

    fn fixed32(&mut self, wire_type: u8) -> Read<u32> {
        expect(wire_type, FIXED32)?;
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    }

    fn number(&mut self, wire_type: u8) -> Read<u64> {
        expect(wire_type, VARINT)?;
        self.varint()
    }

    fn bytes(&mut self, wire_type: u8) -> Read<&'a [u8]> {
        expect(wire_type, LENGTH_DELIMITED)?;
        let length = usize::try_from(self.varint()?).map_err(|_| Unsupported)?;
        self.take(length)
    }

    fn text(&mut self, wire_type: u8) -> Read<&'a str> {
        std::str::from_utf8(self.bytes(wire_type)?).map_err(|_| Unsupported)
    }

    /// Skips a field this reader does not use.
    fn skip(&mut self, wire_type: u8) -> Read<()> {
        match wire_type {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LENGTH_DELIMITED => self.bytes(wire_type).map(drop),
            FIXED32 => self.take(4).map(drop),
            _ => Err(Unsupported),
        }
    }
}

fn expect(wire_type: u8, expected: u8) -> Read<()> {
    if wire_type == expected {
        Ok(())
    } else {
        Err(Unsupported)
    }
}

/// Sets a singular message field, which must not be given twice.
fn once<'a>(slot: &mut Option<&'a [u8]>, bytes: &'a [u8]) -> Read<()> {
    if slot.replace(bytes).is_some() {
        return Err(Unsupported);
    }
    Ok(())
}

/// Cuts `text` to at most `max` bytes on a character boundary.
pub(super) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Reads the rows of a protobuf `ExportTraceServiceRequest`, with the reasons of the spans it
/// rejects. `None` when the body needs prost (see the module documentation).
pub(crate) fn trace_rows<'a>(
    body: &'a [u8],
    limits: &Limits,
) -> Option<(SpanRows<'a>, Vec<Rejection>)> {
    let mut reader = TraceReader {
        limits,
        rows: SpanRows::default(),
        rejected: Vec::new(),
    };
    reader.request(body).ok()?;
    Some((reader.rows, reader.rejected))
}

/// Builds the rows of a decoded trace request, borrowing from its messages instead of
/// converting them into records. The rows and rejections are those of [`trace_rows`] for
/// the request's protobuf encoding, and of [`convert_traces`](super::convert_traces).
pub(crate) fn request_rows<'a>(
    request: &'a ExportTraceServiceRequest,
    limits: &Limits,
) -> (SpanRows<'a>, Vec<Rejection>) {
    let mut reader = TraceReader {
        limits,
        rows: SpanRows::default(),
        rejected: Vec::new(),
    };
    let mut scratch = Vec::new();
    for resource_spans in &request.resource_spans {
        let resource = resource_spans
            .resource
            .as_ref()
            .map_or(&[][..], |resource| &resource.attributes);
        let attributes = proto_attributes(resource, limits, 0);
        let conventions = Conventions::of_resource(&attributes);
        reader.push_resource(&attributes);
        for scope_spans in &resource_spans.scope_spans {
            let non_empty = |text: &'a str| (!text.is_empty()).then_some(text);
            let scope = scope_spans.scope.as_ref().map_or((None, None), |scope| {
                (non_empty(&scope.name), non_empty(&scope.version))
            });
            for span in &scope_spans.spans {
                let status = span.status.as_ref();
                // The attribute vector keeps its allocation from span to span.
                let mut attributes = std::mem::take(&mut scratch);
                attributes.clear();
                attributes.extend(borrowed_attributes(&span.attributes, limits, 0));
                let mut fields = SpanFields {
                    trace_id: Id::Borrowed(&span.trace_id),
                    span_id: Id::Borrowed(&span.span_id),
                    parent_span_id: Id::Borrowed(&span.parent_span_id),
                    trace_state: &span.trace_state,
                    flags: span.flags,
                    name: &span.name,
                    kind: span.kind,
                    start_ns: span.start_time_unix_nano,
                    end_ns: span.end_time_unix_nano,
                    status: None,
                    status_code: status.map_or(0, |status| status.code),
                    status_message: status.map_or("", |status| &status.message),
                    attributes,
                    events: span
                        .events
                        .iter()
                        .map(|event| EventRef {
                            name: &event.name,
                            time_ns: event.time_unix_nano,
                            attributes: proto_attributes(&event.attributes, limits, 0),
                        })
                        .collect(),
                    links: span
                        .links
                        .iter()
                        .map(|link| LinkFields {
                            trace_id: Id::Borrowed(&link.trace_id),
                            span_id: Id::Borrowed(&link.span_id),
                            trace_state: &link.trace_state,
                            flags: link.flags,
                            attributes: proto_attributes(&link.attributes, limits, 0),
                        })
                        .collect(),
                };
                reader.finish_span(&mut fields, &conventions, scope);
                scratch = fields.attributes;
            }
        }
    }
    (reader.rows, reader.rejected)
}

/// Borrows decoded attributes with the limits applied, as the conversion into records does.
fn proto_attributes<'a>(
    pairs: &'a [ProtoKeyValue],
    limits: &Limits,
    depth: usize,
) -> Vec<AttributeRef<'a>> {
    borrowed_attributes(pairs, limits, depth).collect()
}

fn borrowed_attributes<'a, 'l>(
    pairs: &'a [ProtoKeyValue],
    limits: &'l Limits,
    depth: usize,
) -> impl Iterator<Item = AttributeRef<'a>> + use<'a, 'l> {
    pairs
        .iter()
        .take(limits.max_attributes)
        .map(move |pair| AttributeRef {
            key: truncate(&pair.key, limits.max_attribute_len),
            value: pair
                .value
                .as_ref()
                .map_or(ValueRef::Empty, |value| proto_value(value, limits, depth)),
        })
}

fn proto_value<'a>(value: &'a AnyValue, limits: &Limits, depth: usize) -> ValueRef<'a> {
    use any_value::Value;
    let max_len = limits.max_attribute_len;
    match &value.value {
        Some(Value::StringValue(text)) => ValueRef::String(truncate(text, max_len)),
        Some(Value::BoolValue(value)) => ValueRef::Bool(*value),
        Some(Value::IntValue(value)) => ValueRef::Int(*value),
        Some(Value::DoubleValue(value)) => ValueRef::double(*value),
        Some(Value::BytesValue(bytes)) => ValueRef::Bytes(&bytes[..bytes.len().min(max_len)]),
        Some(Value::ArrayValue(array)) if depth < MAX_VALUE_DEPTH => ValueRef::Array(
            array
                .values
                .iter()
                .take(limits.max_attributes)
                .map(|value| proto_value(value, limits, depth + 1))
                .collect(),
        ),
        Some(Value::KvlistValue(list)) if depth < MAX_VALUE_DEPTH => {
            ValueRef::Map(proto_attributes(&list.values, limits, depth + 1))
        }
        // String-table references belong to the profiles signal, which has no table here.
        None
        | Some(Value::ArrayValue(_) | Value::KvlistValue(_) | Value::StringValueStrindex(_)) => {
            ValueRef::Empty
        }
    }
}

pub(super) struct TraceReader<'l, 'a> {
    pub(super) limits: &'l Limits,
    rows: SpanRows<'a>,
    rejected: Vec<Rejection>,
}

impl<'l, 'a> TraceReader<'l, 'a> {
    pub(super) fn new(limits: &'l Limits) -> Self {
        Self {
            limits,
            rows: SpanRows::default(),
            rejected: Vec::new(),
        }
    }

    /// Makes room for `rows` rows and `text_bytes` bytes of their JSON texts, so that the
    /// buffers do not move while a request is read.
    pub(super) fn reserve(&mut self, rows: usize, text_bytes: usize) {
        self.rows.rows.reserve(rows);
        self.rows.texts.reserve(text_bytes);
    }

    /// Returns the rows and the reasons of the rejected spans.
    pub(super) fn finish(self) -> (SpanRows<'a>, Vec<Rejection>) {
        (self.rows, self.rejected)
    }
}

/// The service and FaaS conventions of one resource, borrowed from its attributes.
#[derive(Default, Clone, Copy)]
pub(super) struct Conventions<'a> {
    service_name: Option<&'a str>,
    service_version: Option<&'a str>,
    faas_name: Option<&'a str>,
    faas_invocation_id: Option<&'a str>,
    faas_trigger: Option<&'a str>,
    faas_coldstart: Option<bool>,
}

impl<'a> Conventions<'a> {
    /// Reads the conventions from resource attributes.
    pub(super) fn of_resource(attributes: &[AttributeRef<'a>]) -> Self {
        let text = |key| find(attributes, key).and_then(as_str);
        Self {
            service_name: text("service.name"),
            service_version: text("service.version"),
            faas_name: text("faas.name"),
            faas_invocation_id: text("faas.invocation_id"),
            faas_trigger: text("faas.trigger"),
            faas_coldstart: find(attributes, "faas.coldstart").and_then(as_bool),
        }
    }

    /// Returns the conventions of one span. A key that the span's attributes set wins over
    /// the resource, even when its value has another type.
    fn of_span(attributes: &[AttributeRef<'a>], resource: &Self) -> Self {
        let text = |key, shared: Option<&'a str>| match find(attributes, key) {
            Some(value) => as_str(value),
            None => shared,
        };
        Self {
            service_name: text("service.name", resource.service_name),
            service_version: text("service.version", resource.service_version),
            faas_name: text("faas.name", resource.faas_name),
            faas_invocation_id: text("faas.invocation_id", resource.faas_invocation_id),
            faas_trigger: text("faas.trigger", resource.faas_trigger),
            faas_coldstart: match find(attributes, "faas.coldstart") {
                Some(value) => as_bool(value),
                None => resource.faas_coldstart,
            },
        }
    }
}

fn find<'r, 'a>(attributes: &'r [AttributeRef<'a>], key: &str) -> Option<&'r ValueRef<'a>> {
    attributes
        .iter()
        .find(|pair| pair.key == key)
        .map(|pair| &pair.value)
}

fn as_str<'a>(value: &ValueRef<'a>) -> Option<&'a str> {
    match value {
        ValueRef::String(text) => Some(text),
        _ => None,
    }
}

fn as_bool(value: &ValueRef<'_>) -> Option<bool> {
    match value {
        ValueRef::Bool(value) => Some(*value),
        _ => None,
    }
}

/// An id's bytes, borrowed from a request or decoded from hex text.
#[derive(Debug, Clone, Copy, Default)]
pub(super) enum Id<'a> {
    #[default]
    Empty,
    Borrowed(&'a [u8]),
    /// Up to 32 bytes decoded from hex, and how many of them are used. Valid ids have 16
    /// or 8, and a longer one is kept so that its span is rejected for its length.
    Decoded([u8; 32], u8),
}

impl Id<'_> {
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Self::Empty => &[],
            Self::Borrowed(bytes) => bytes,
            Self::Decoded(bytes, length) => &bytes[..usize::from(*length)],
        }
    }
}

/// The fields of one span, as slices of the body until the span is checked.
#[derive(Default)]
pub(super) struct SpanFields<'a> {
    pub(super) trace_id: Id<'a>,
    pub(super) span_id: Id<'a>,
    pub(super) parent_span_id: Id<'a>,
    pub(super) trace_state: &'a str,
    pub(super) flags: u32,
    pub(super) name: &'a str,
    pub(super) kind: i32,
    pub(super) start_ns: u64,
    pub(super) end_ns: u64,
    pub(super) status: Option<&'a [u8]>,
    pub(super) status_code: i32,
    pub(super) status_message: &'a str,
    pub(super) attributes: Vec<AttributeRef<'a>>,
    pub(super) events: Vec<EventRef<'a>>,
    pub(super) links: Vec<LinkFields<'a>>,
}

/// The fields of one link, before its ids are checked.
pub(super) struct LinkFields<'a> {
    pub(super) trace_id: Id<'a>,
    pub(super) span_id: Id<'a>,
    pub(super) trace_state: &'a str,
    pub(super) flags: u32,
    pub(super) attributes: Vec<AttributeRef<'a>>,
}

impl<'a> TraceReader<'_, 'a> {
    fn request(&mut self, body: &'a [u8]) -> Read<()> {
        let mut fields = Fields::new(body);
        while let Some((number, wire_type)) = fields.next()? {
            match number {
                1 => self.resource_spans(fields.bytes(wire_type)?)?,
                _ => fields.skip(wire_type)?,
            }
        }
        Ok(())
    }

    fn resource_spans(&mut self, bytes: &'a [u8]) -> Read<()> {
        let mut resource = None;
        let mut scopes = Vec::new();
        let mut fields = Fields::new(bytes);
        while let Some((number, wire_type)) = fields.next()? {
            match number {
                1 => once(&mut resource, fields.bytes(wire_type)?)?,
                2 => scopes.push(fields.bytes(wire_type)?),
                3 => {
                    fields.text(wire_type)?;
                }
                _ => fields.skip(wire_type)?,
            }
        }
        let attributes = match resource {
            Some(bytes) => self.resource(bytes)?,
            None => Vec::new(),
        };
        let conventions = Conventions::of_resource(&attributes);
        self.push_resource(&attributes);
        for scope in scopes {
            self.scope_spans(scope, &conventions)?;
        }
        Ok(())
    }

    fn resource(&self, bytes: &'a [u8]) -> Read<Vec<AttributeRef<'a>>> {
        let mut attributes = Vec::new();
        let mut fields = Fields::new(bytes);
        while let Some((number, wire_type)) = fields.next()? {
            match number {
                1 => self.push_attribute(&mut attributes, fields.bytes(wire_type)?, 0)?,
                2 => {
                    fields.number(wire_type)?;
                }
                3 => return Err(Unsupported),
                _ => fields.skip(wire_type)?,
            }
        }
        Ok(attributes)
    }

    fn scope_spans(&mut self, bytes: &'a [u8], resource: &Conventions<'a>) -> Read<()> {
        let mut scope = None;
        let mut spans = Vec::new();
        let mut fields = Fields::new(bytes);
        while let Some((number, wire_type)) = fields.next()? {
            match number {
                1 => once(&mut scope, fields.bytes(wire_type)?)?,
                2 => spans.push(fields.bytes(wire_type)?),
                3 => {
                    fields.text(wire_type)?;
                }
                _ => fields.skip(wire_type)?,
            }
        }
        let (scope_name, scope_version) = match scope {
            Some(bytes) => self.scope(bytes)?,
            None => (None, None),
        };
        let mut scratch = SpanFields::default();
        for span in spans {
            self.span(span, &mut scratch)?;
            self.finish_span(&mut scratch, resource, (scope_name, scope_version));
        }
        Ok(())
    }

    /// Starts the rows of a resource: its attributes' JSON text, shared by its rows.
    pub(super) fn push_resource(&mut self, attributes: &[AttributeRef<'a>]) {
        let range = self
            .rows
            .write_text(|out| write_json_attributes(attributes, out));
        self.rows.resources.push(range);
    }

    /// Checks a span and adds its row, or its rejection.
    pub(super) fn finish_span(
        &mut self,
        span: &mut SpanFields<'a>,
        resource: &Conventions<'a>,
        scope: (Option<&'a str>, Option<&'a str>),
    ) {
        let links = check_links(std::mem::take(&mut span.links));
        match check(span).and_then(|checked| Ok((checked, links?))) {
            Ok((checked, links)) => self.push_row(span, &checked, &links, resource, scope),
            Err(reason) => self
                .rejected
                .push(Rejection::span(reason, span.span_id.bytes())),
        }
    }

    fn scope(&self, bytes: &'a [u8]) -> Read<(Option<&'a str>, Option<&'a str>)> {
        let mut name = "";
        let mut version = "";
        let mut fields = Fields::new(bytes);
        while let Some((number, wire_type)) = fields.next()? {
            match number {
                1 => name = fields.text(wire_type)?,
                2 => version = fields.text(wire_type)?,
                3 => self.push_attribute(&mut Vec::new(), fields.bytes(wire_type)?, 0)?,
                4 => {
                    fields.number(wire_type)?;
                }
                _ => fields.skip(wire_type)?,
            }
        }
        let non_empty = |text: &'a str| (!text.is_empty()).then_some(text);
        Ok((non_empty(name), non_empty(version)))
    }

    /// Reads one span's fields into `span`, which keeps its vectors' allocations between
    /// spans.
    fn span(&self, bytes: &'a [u8], span: &mut SpanFields<'a>) -> Read<()> {
        let mut attributes = std::mem::take(&mut span.attributes);
        let mut events = std::mem::take(&mut span.events);
        let mut links = std::mem::take(&mut span.links);
        attributes.clear();
        events.clear();
        links.clear();
        *span = SpanFields::default();

        let mut fields = Fields::new(bytes);
        while let Some((number, wire_type)) = fields.next()? {
            match number {
                1 => span.trace_id = Id::Borrowed(fields.bytes(wire_type)?),
                2 => span.span_id = Id::Borrowed(fields.bytes(wire_type)?),
                3 => span.trace_state = fields.text(wire_type)?,
                4 => span.parent_span_id = Id::Borrowed(fields.bytes(wire_type)?),
                5 => span.name = fields.text(wire_type)?,
                6 => span.kind = fields.number(wire_type)? as i32,
                7 => span.start_ns = fields.fixed64(wire_type)?,
                8 => span.end_ns = fields.fixed64(wire_type)?,
                9 => self.push_attribute(&mut attributes, fields.bytes(wire_type)?, 0)?,
                11 => events.push(self.event(fields.bytes(wire_type)?)?),
                13 => links.push(self.link(fields.bytes(wire_type)?)?),
                15 => once(&mut span.status, fields.bytes(wire_type)?)?,
                16 => span.flags = fields.fixed32(wire_type)?,
                10 | 12 | 14 => {
                    fields.number(wire_type)?;
                }
                _ => fields.skip(wire_type)?,
            }
        }

        if let Some(bytes) = span.status {
            (span.status_code, span.status_message) = status(bytes)?;
        }
        span.attributes = attributes;
        span.events = events;
        span.links = links;
        Ok(())
    }

    fn link(&self, bytes: &'a [u8]) -> Read<LinkFields<'a>> {
        let mut link = LinkFields {
            trace_id: Id::default(),
            span_id: Id::default(),
            trace_state: "",
            flags: 0,
            attributes: Vec::new(),
        };
        let mut fields = Fields::new(bytes);
        while let Some((number, wire_type)) = fields.next()? {
            match number {
                1 => link.trace_id = Id::Borrowed(fields.bytes(wire_type)?),
                2 => link.span_id = Id::Borrowed(fields.bytes(wire_type)?),
                3 => link.trace_state = fields.text(wire_type)?,
                4 => self.push_attribute(&mut link.attributes, fields.bytes(wire_type)?, 0)?,
                5 => {
                    fields.number(wire_type)?;
                }
                6 => link.flags = fields.fixed32(wire_type)?,
                _ => fields.skip(wire_type)?,
            }
        }
        Ok(link)
    }

    fn event(&self, bytes: &'a [u8]) -> Read<EventRef<'a>> {
        let mut event = EventRef {
            name: "",
            time_ns: 0,
            attributes: Vec::new(),
        };
        let mut fields = Fields::new(bytes);
        while let Some((number, wire_type)) = fields.next()? {
            match number {
                1 => event.time_ns = fields.fixed64(wire_type)?,
                2 => event.name = fields.text(wire_type)?,
                3 => self.push_attribute(&mut event.attributes, fields.bytes(wire_type)?, 0)?,
                4 => {
                    fields.number(wire_type)?;
                }
                _ => fields.skip(wire_type)?,
            }
        }
        Ok(event)
    }

    /// Reads one `KeyValue` and appends it to `attributes` unless they are at the limit. It
    /// is read either way, so a malformed one sends the body to prost.
    fn push_attribute(
        &self,
        attributes: &mut Vec<AttributeRef<'a>>,
        bytes: &'a [u8],
        depth: usize,
    ) -> Read<()> {
        let mut key = "";
        let mut value = None;
        let mut fields = Fields::new(bytes);
        while let Some((number, wire_type)) = fields.next()? {
            match number {
                1 => key = fields.text(wire_type)?,
                2 => once(&mut value, fields.bytes(wire_type)?)?,
                3 => {
                    fields.number(wire_type)?;
                }
                _ => fields.skip(wire_type)?,
            }
        }
        let value = match value {
            Some(bytes) => self.any_value(bytes, depth)?,
            None => ValueRef::Empty,
        };
        if attributes.len() < self.limits.max_attributes {
            attributes.push(AttributeRef {
                key: truncate(key, self.limits.max_attribute_len),
                value,
            });
        }
        Ok(())
    }

    /// Reads one `AnyValue` at nesting `depth`, with the limits applied.
    fn any_value(&self, bytes: &'a [u8], depth: usize) -> Read<ValueRef<'a>> {
        if depth > MAX_WIRE_DEPTH {
            return Err(Unsupported);
        }
        let max_len = self.limits.max_attribute_len;
        let mut value = None;
        let mut fields = Fields::new(bytes);
        while let Some((number, wire_type)) = fields.next()? {
            let read = match number {
                1 => ValueRef::String(truncate(fields.text(wire_type)?, max_len)),
                2 => ValueRef::Bool(fields.number(wire_type)? != 0),
                3 => ValueRef::Int(fields.number(wire_type)? as i64),
                4 => ValueRef::double(f64::from_bits(fields.fixed64(wire_type)?)),
                5 => {
                    let bytes = fields.bytes(wire_type)?;
                    let mut values = Vec::new();
                    let mut items = Fields::new(bytes);
                    while let Some((number, wire_type)) = items.next()? {
                        match number {
                            1 => {
                                let item = self.any_value(items.bytes(wire_type)?, depth + 1)?;
                                if values.len() < self.limits.max_attributes {
                                    values.push(item);
                                }
                            }
                            _ => items.skip(wire_type)?,
                        }
                    }
                    if depth < MAX_VALUE_DEPTH {
                        ValueRef::Array(values)
                    } else {
                        ValueRef::Empty
                    }
                }
                6 => {
                    let bytes = fields.bytes(wire_type)?;
                    let mut pairs = Vec::new();
                    let mut items = Fields::new(bytes);
                    while let Some((number, wire_type)) = items.next()? {
                        match number {
                            1 => {
                                self.push_attribute(
                                    &mut pairs,
                                    items.bytes(wire_type)?,
                                    depth + 1,
                                )?;
                            }
                            _ => items.skip(wire_type)?,
                        }
                    }
                    if depth < MAX_VALUE_DEPTH {
                        ValueRef::Map(pairs)
                    } else {
                        ValueRef::Empty
                    }
                }
                7 => {
                    let bytes = fields.bytes(wire_type)?;
                    ValueRef::Bytes(&bytes[..bytes.len().min(max_len)])
                }
                8 => {
                    fields.number(wire_type)?;
                    ValueRef::Empty
                }
                _ => {
                    fields.skip(wire_type)?;
                    continue;
                }
            };
            if value.replace(read).is_some() {
                return Err(Unsupported);
            }
        }
        Ok(value.unwrap_or(ValueRef::Empty))
    }

    fn push_row(
        &mut self,
        span: &SpanFields<'a>,
        checked: &Checked<'a>,
        links: &[LinkRef<'a>],
        resource: &Conventions<'a>,
        (scope_name, scope_version): (Option<&'a str>, Option<&'a str>),
    ) {
        let conventions = Conventions::of_span(&span.attributes, resource);
        let links = self.rows.write_text(|out| write_links(links, out));
        let events = self.rows.write_text(|out| write_events(&span.events, out));
        let attributes = self
            .rows
            .write_text(|out| write_json_attributes(&span.attributes, out));
        let non_empty = |text: &'a str| (!text.is_empty()).then_some(text);
        self.rows.rows.push(SpanRow {
            trace_id: checked.trace_id,
            span_id: checked.span_id,
            parent_span_id: checked.parent_span_id,
            trace_state: non_empty(span.trace_state),
            flags: span.flags,
            name: truncate(span.name, self.limits.max_attribute_len),
            kind: checked.kind,
            start_ns: span.start_ns,
            end_ns: span.end_ns,
            status: checked.status,
            status_message: non_empty(checked.status_message),
            service_name: conventions.service_name,
            service_version: conventions.service_version,
            faas_name: conventions.faas_name,
            faas_invocation_id: conventions.faas_invocation_id,
            faas_coldstart: conventions.faas_coldstart,
            faas_trigger: conventions.faas_trigger,
            links,
            events,
            attributes,
            resource: self.rows.resources.len() - 1,
            scope_name,
            scope_version,
        });
    }
}

/// The checked fields of a span that the rows store.
struct Checked<'a> {
    trace_id: TraceId,
    span_id: SpanId,
    parent_span_id: Option<SpanId>,
    kind: SpanKind,
    status: StatusCode,
    status_message: &'a str,
}

/// Checks a span as the conversion of decoded messages does, in the same order, so a span
/// with several faults is rejected for the same one.
fn check<'a>(span: &SpanFields<'a>) -> Result<Checked<'a>, RejectReason> {
    let trace_id = TraceId::from_bytes(span.trace_id.bytes()).map_err(RejectReason::InvalidId)?;
    let span_id = SpanId::from_bytes(span.span_id.bytes()).map_err(RejectReason::InvalidId)?;
    let parent_span_id = if span.parent_span_id.bytes().is_empty() {
        None
    } else {
        Some(SpanId::from_bytes(span.parent_span_id.bytes()).map_err(RejectReason::InvalidId)?)
    };
    if span.end_ns < span.start_ns {
        return Err(RejectReason::NegativeDuration);
    }
    if span.start_ns == 0 {
        return Err(RejectReason::MissingTime);
    }
    let kind =
        SpanKind::from_otlp(span.kind).ok_or(RejectReason::UnknownEnum("span kind", span.kind))?;
    let status = StatusCode::from_otlp(span.status_code)
        .ok_or(RejectReason::UnknownEnum("status code", span.status_code))?;
    Ok(Checked {
        trace_id,
        span_id,
        parent_span_id,
        kind,
        status,
        status_message: span.status_message,
    })
}

/// Checks the ids of a span's links; the first invalid one rejects the span.
fn check_links(links: Vec<LinkFields<'_>>) -> Result<Vec<LinkRef<'_>>, RejectReason> {
    links
        .into_iter()
        .map(|link| {
            Ok(LinkRef {
                trace_id: TraceId::from_bytes(link.trace_id.bytes())
                    .map_err(RejectReason::InvalidId)?,
                span_id: SpanId::from_bytes(link.span_id.bytes())
                    .map_err(RejectReason::InvalidId)?,
                trace_state: (!link.trace_state.is_empty()).then_some(link.trace_state),
                flags: link.flags,
                attributes: link.attributes,
            })
        })
        .collect()
}

/// Reads a `Status`: its code and message. An error sends the body to prost.
fn status(bytes: &[u8]) -> Read<(i32, &str)> {
    let mut code = 0;
    let mut message = "";
    let mut fields = Fields::new(bytes);
    while let Some((number, wire_type)) = fields.next()? {
        match number {
            2 => message = fields.text(wire_type)?,
            3 => code = fields.number(wire_type)? as i32,
            _ => fields.skip(wire_type)?,
        }
    }
    Ok((code, message))
}

#[cfg(test)]
pub(super) mod tests;
