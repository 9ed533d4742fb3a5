//! A reader of OTLP/JSON trace requests that builds span rows borrowing names, keys and
//! values from the body, the way the protobuf wire reader does, without message types.
//!
//! It follows the rules of this module's decoder and gives the rows that decoding and
//! `request_rows` give. Any error sends the body back to that decoder, which then gives the
//! same rows or the precise error. Strings with escapes are unescaped into an arena that
//! lives as long as the rows. Besides malformed requests, these go back too: a non-null
//! `bytesValue` (base64 needs decoding), an id longer than 32 bytes, and a resource or
//! scope that comes after the spans it applies to.

use std::fmt;

use bumpalo::Bump;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::attributes::MAX_DEPTH;
use super::scalars::{Double, EnumNumber, Integer, NullOr, hex_byte};
use super::{SPAN_KINDS, STATUS_CODES};
use crate::model::attribute::{AttributeRef, ValueRef};
use crate::otlp::wire::{
    Conventions, Id, LinkFields, MAX_VALUE_DEPTH, SpanFields, TraceReader, truncate,
};
use crate::otlp::{Limits, RejectReason};
use crate::store::columns::{EventRef, SpanRows};

/// Reads the rows of an OTLP/JSON `ExportTraceServiceRequest`, with the reasons of the spans
/// it rejects. Strings with escapes are unescaped into `arena`. `None` when the body needs
/// this module's decoder.
pub(crate) fn trace_rows_json<'a>(
    body: &'a [u8],
    arena: &'a Bump,
    limits: &Limits,
) -> Option<(SpanRows<'a>, Vec<RejectReason>)> {
    let text = std::str::from_utf8(body).ok()?;
    let mut reader = TraceReader::new(limits);
    let mut deserializer = serde_json::Deserializer::from_str(text);
    OneObject(&mut RequestReader {
        reader: &mut reader,
        arena,
    })
    .deserialize(&mut deserializer)
    .ok()?;
    deserializer.end().ok()?;
    Some(reader.finish())
}

/// Field names of each message: the lowerCamelCase name and the proto name.
type Fields = &'static [(&'static str, &'static str)];

const REQUEST: Fields = &[("resourceSpans", "resource_spans")];
const RESOURCE_SPANS: Fields = &[
    ("resource", "resource"),
    ("scopeSpans", "scope_spans"),
    ("schemaUrl", "schema_url"),
];
const RESOURCE: Fields = &[
    ("attributes", "attributes"),
    ("droppedAttributesCount", "dropped_attributes_count"),
];
const SCOPE_SPANS: Fields = &[
    ("scope", "scope"),
    ("spans", "spans"),
    ("schemaUrl", "schema_url"),
];
const SCOPE: Fields = &[
    ("name", "name"),
    ("version", "version"),
    ("attributes", "attributes"),
    ("droppedAttributesCount", "dropped_attributes_count"),
];
const SPAN: Fields = &[
    ("traceId", "trace_id"),
    ("spanId", "span_id"),
    ("traceState", "trace_state"),
    ("parentSpanId", "parent_span_id"),
    ("flags", "flags"),
    ("name", "name"),
    ("kind", "kind"),
    ("startTimeUnixNano", "start_time_unix_nano"),
    ("endTimeUnixNano", "end_time_unix_nano"),
    ("attributes", "attributes"),
    ("droppedAttributesCount", "dropped_attributes_count"),
    ("events", "events"),
    ("droppedEventsCount", "dropped_events_count"),
    ("links", "links"),
    ("droppedLinksCount", "dropped_links_count"),
    ("status", "status"),
];
const EVENT: Fields = &[
    ("timeUnixNano", "time_unix_nano"),
    ("name", "name"),
    ("attributes", "attributes"),
    ("droppedAttributesCount", "dropped_attributes_count"),
];
const LINK: Fields = &[
    ("traceId", "trace_id"),
    ("spanId", "span_id"),
    ("traceState", "trace_state"),
    ("attributes", "attributes"),
    ("droppedAttributesCount", "dropped_attributes_count"),
    ("flags", "flags"),
];
const STATUS: Fields = &[("message", "message"), ("code", "code")];

/// Reads the next key of a message and returns its field number among `fields`, skipping
/// the values of unknown fields. A field given twice fails, as serde's derive fails the
/// decoder's messages.
fn next_field<'de, A: MapAccess<'de>>(
    map: &mut A,
    arena: &'de Bump,
    fields: Fields,
    seen: &mut u32,
) -> Result<Option<usize>, A::Error> {
    while let Some(key) = map.next_key_seed(Text(arena))? {
        let Some(field) = fields
            .iter()
            .position(|(camel, proto)| key == *camel || key == *proto)
        else {
            map.next_value::<IgnoredAny>()?;
            continue;
        };
        if *seen & (1 << field) != 0 {
            return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
        }
        *seen |= 1 << field;
        return Ok(Some(field));
    }
    Ok(None)
}

/// Reads the fields of one JSON object.
trait ReadObject<'de> {
    fn read<A: MapAccess<'de>>(&mut self, map: A) -> Result<(), A::Error>;
}

/// One object, read by `R`.
struct OneObject<'r, R>(&'r mut R);

impl<'de, R: ReadObject<'de>> DeserializeSeed<'de> for OneObject<'_, R> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, R: ReadObject<'de>> Visitor<'de> for OneObject<'_, R> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.0.read(map)
    }
}

/// An object read by `R`, or `null` for none.
struct MaybeObject<'r, R>(&'r mut R);

impl<'de, R: ReadObject<'de>> DeserializeSeed<'de> for MaybeObject<'_, R> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, R: ReadObject<'de>> Visitor<'de> for MaybeObject<'_, R> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object or null")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.0.read(map)
    }
}

/// A list of objects each read by `R`, or `null` for none.
struct Objects<'r, R>(&'r mut R);

impl<'de, R: ReadObject<'de>> DeserializeSeed<'de> for Objects<'_, R> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, R: ReadObject<'de>> Visitor<'de> for Objects<'_, R> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a list of objects or null")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        while seq.next_element_seed(OneObject(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

/// A string borrowed from the body, or `null` for the empty string. A string with escapes
/// is unescaped into the arena.
#[derive(Clone, Copy)]
struct Text<'de>(&'de Bump);

impl<'de> DeserializeSeed<'de> for Text<'de> {
    type Value = &'de str;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<&'de str, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Text<'de> {
    type Value = &'de str;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string")
    }

    fn visit_unit<E>(self) -> Result<&'de str, E> {
        Ok("")
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<&'de str, E> {
        Ok(value)
    }

    fn visit_str<E>(self, value: &str) -> Result<&'de str, E> {
        Ok(self.0.alloc_str(value))
    }
}

/// A string whose value is not kept, or `null`.
struct SkippedText;

impl<'de> DeserializeSeed<'de> for SkippedText {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Visitor<'_> for SkippedText {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
}

/// A trace or span id in hex, either case, decoded into at most 32 bytes. `null` or `""` is
/// an empty id.
struct HexId;

impl<'de> DeserializeSeed<'de> for HexId {
    type Value = Id<'static>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Visitor<'_> for HexId {
    type Value = Id<'static>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a hex id of at most 32 bytes")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Id::Empty)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        if !value.len().is_multiple_of(2) || value.len() > 64 {
            return Err(E::invalid_value(de::Unexpected::Str(value), &self));
        }
        let mut bytes = [0_u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(value.as_bytes().chunks_exact(2)) {
            *byte = hex_byte(pair)
                .ok_or_else(|| E::invalid_value(de::Unexpected::Str(value), &self))?;
        }
        let length = u8::try_from(value.len() / 2).expect("at most 32 bytes");
        Ok(Id::Decoded(bytes, length))
    }
}

/// An enum by number or name, with the decoder's rules.
struct Enumeration(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Enumeration {
    type Value = i32;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<i32, D::Error> {
        deserializer.deserialize_any(EnumNumber { names: self.0 })
    }
}

/// A value this reader leaves to the decoder: only `null` reads.
struct Unread;

impl<'de> DeserializeSeed<'de> for Unread {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
        Err(de::Error::custom("left to the decoder"))
    }
}

/// A list of attributes at a nesting depth, or `null`. Every pair is read, and the first
/// `max_attributes` are kept, with keys and strings cut to `max_attribute_len`.
#[derive(Clone, Copy)]
struct Attributes<'v, 'de> {
    limits: &'v Limits,
    arena: &'de Bump,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Attributes<'_, 'de> {
    type Value = Vec<AttributeRef<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Attributes<'_, 'de> {
    type Value = Vec<AttributeRef<'de>>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a list of key-value pairs")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let mut attributes = Vec::new();
        let mut pair = PairReader {
            key: "",
            value: ValueRef::Empty,
            limits: self.limits,
            arena: self.arena,
            depth: self.depth,
        };
        while seq.next_element_seed(OneObject(&mut pair))?.is_some() {
            let key = std::mem::take(&mut pair.key);
            let value = std::mem::replace(&mut pair.value, ValueRef::Empty);
            if attributes.len() < self.limits.max_attributes {
                attributes.push(AttributeRef {
                    key: truncate(key, self.limits.max_attribute_len),
                    value,
                });
            }
        }
        Ok(attributes)
    }
}

/// One `{"key": ..., "value": ...}` pair. As in the decoder, a key or value given twice
/// keeps the last one, and other fields are ignored.
struct PairReader<'v, 'de> {
    key: &'de str,
    value: ValueRef<'de>,
    limits: &'v Limits,
    arena: &'de Bump,
    depth: usize,
}

impl<'de> ReadObject<'de> for PairReader<'_, 'de> {
    fn read<A: MapAccess<'de>>(&mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(Text(self.arena))? {
            match key {
                "key" => self.key = map.next_value_seed(Text(self.arena))?,
                "value" => {
                    self.value = map.next_value_seed(AnyValue {
                        limits: self.limits,
                        arena: self.arena,
                        depth: self.depth,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// An attribute value (or `null`, an empty value) at a nesting depth, with the limits and
/// the depth cut of the conversion applied.
#[derive(Clone, Copy)]
struct AnyValue<'v, 'de> {
    limits: &'v Limits,
    arena: &'de Bump,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for AnyValue<'_, 'de> {
    type Value = ValueRef<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AnyValue<'_, 'de> {
    type Value = ValueRef<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an attribute value object")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(ValueRef::Empty)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if self.depth > MAX_DEPTH {
            return Err(de::Error::custom("attribute value nested too deeply"));
        }
        let nested = self.depth + 1;
        let within_depth = self.depth < MAX_VALUE_DEPTH;
        let max_len = self.limits.max_attribute_len;
        // As in the decoder, a value field given twice is allowed and the last one that is
        // not null counts.
        let mut value = ValueRef::Empty;
        while let Some(key) = map.next_key_seed(Text(self.arena))? {
            let field = match key {
                "stringValue" | "string_value" => 0,
                "boolValue" | "bool_value" => 1,
                "intValue" | "int_value" => 2,
                "doubleValue" | "double_value" => 3,
                "bytesValue" | "bytes_value" => 4,
                "arrayValue" | "array_value" => 5,
                "kvlistValue" | "kvlist_value" => 6,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            let read = match field {
                0 => map
                    .next_value_seed(NullOr(Text(self.arena)))?
                    .map(|text| ValueRef::String(truncate(text, max_len))),
                1 => map.next_value::<Option<bool>>()?.map(ValueRef::Bool),
                2 => map
                    .next_value_seed(NullOr(Integer::<i64>::new()))?
                    .map(ValueRef::Int),
                3 => map.next_value_seed(NullOr(Double))?.map(ValueRef::double),
                4 => map
                    .next_value_seed(NullOr(Unread))?
                    .map(|()| ValueRef::Empty),
                5 => map
                    .next_value_seed(NullOr(ArrayValue(AnyValue {
                        limits: self.limits,
                        arena: self.arena,
                        depth: nested,
                    })))?
                    .map(|mut items| {
                        items.truncate(self.limits.max_attributes);
                        if within_depth {
                            ValueRef::Array(items)
                        } else {
                            ValueRef::Empty
                        }
                    }),
                _ => map
                    .next_value_seed(NullOr(KvlistValue(Attributes {
                        limits: self.limits,
                        arena: self.arena,
                        depth: nested,
                    })))?
                    .map(|pairs| {
                        if within_depth {
                            ValueRef::Map(pairs)
                        } else {
                            ValueRef::Empty
                        }
                    }),
            };
            if let Some(read) = read {
                value = read;
            }
        }
        Ok(value)
    }
}

/// `{"values": [...]}` of an array value; a `values` given twice keeps the last list, as in
/// the decoder.
#[derive(Clone, Copy)]
struct ArrayValue<'v, 'de>(AnyValue<'v, 'de>);

impl<'de> DeserializeSeed<'de> for ArrayValue<'_, 'de> {
    type Value = Vec<ValueRef<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ArrayValue<'_, 'de> {
    type Value = Vec<ValueRef<'de>>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an array value object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(key) = map.next_key_seed(Text(self.0.arena))? {
            if key == "values" {
                items = map.next_value_seed(ValueList(self.0))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(items)
    }
}

/// The list of an array value, or `null`.
struct ValueList<'v, 'de>(AnyValue<'v, 'de>);

impl<'de> DeserializeSeed<'de> for ValueList<'_, 'de> {
    type Value = Vec<ValueRef<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueList<'_, 'de> {
    type Value = Vec<ValueRef<'de>>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a list of values")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.0)? {
            items.push(item);
        }
        Ok(items)
    }
}

/// `{"values": [...]}` of a key-value list value; the last `values` counts.
struct KvlistValue<'v, 'de>(Attributes<'v, 'de>);

impl<'de> DeserializeSeed<'de> for KvlistValue<'_, 'de> {
    type Value = Vec<AttributeRef<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for KvlistValue<'_, 'de> {
    type Value = Vec<AttributeRef<'de>>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a key-value list value object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pairs = Vec::new();
        while let Some(key) = map.next_key_seed(Text(self.0.arena))? {
            if key == "values" {
                pairs = map.next_value_seed(self.0)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(pairs)
    }
}

/// The request object.
struct RequestReader<'r, 'l, 'a> {
    reader: &'r mut TraceReader<'l, 'a>,
    arena: &'a Bump,
}

impl<'a> ReadObject<'a> for RequestReader<'_, '_, 'a> {
    fn read<A: MapAccess<'a>>(&mut self, mut map: A) -> Result<(), A::Error> {
        let mut seen = 0;
        while next_field(&mut map, self.arena, REQUEST, &mut seen)?.is_some() {
            map.next_value_seed(Objects(&mut ResourceSpansReader {
                reader: &mut *self.reader,
                arena: self.arena,
            }))?;
        }
        Ok(())
    }
}

/// One `resourceSpans` object. Its resource must come before its scopes.
struct ResourceSpansReader<'r, 'l, 'a> {
    reader: &'r mut TraceReader<'l, 'a>,
    arena: &'a Bump,
}

impl<'a> ReadObject<'a> for ResourceSpansReader<'_, '_, 'a> {
    fn read<A: MapAccess<'a>>(&mut self, mut map: A) -> Result<(), A::Error> {
        let limits = self.reader.limits;
        let mut resource = ResourceReader {
            attributes: Vec::new(),
            limits,
            arena: self.arena,
        };
        let mut conventions: Option<Conventions<'a>> = None;
        let mut seen = 0;
        while let Some(field) = next_field(&mut map, self.arena, RESOURCE_SPANS, &mut seen)? {
            match field {
                0 => {
                    if conventions.is_some() {
                        return Err(de::Error::custom("resource after its spans"));
                    }
                    map.next_value_seed(MaybeObject(&mut resource))?;
                }
                1 => {
                    let conventions = *conventions.get_or_insert_with(|| {
                        self.reader.push_resource(&resource.attributes);
                        Conventions::of_resource(&resource.attributes)
                    });
                    map.next_value_seed(Objects(&mut ScopeSpansReader {
                        reader: &mut *self.reader,
                        arena: self.arena,
                        resource: conventions,
                    }))?;
                }
                _ => map.next_value_seed(SkippedText)?,
            }
        }
        Ok(())
    }
}

struct ResourceReader<'v, 'a> {
    attributes: Vec<AttributeRef<'a>>,
    limits: &'v Limits,
    arena: &'a Bump,
}

impl<'a> ReadObject<'a> for ResourceReader<'_, 'a> {
    fn read<A: MapAccess<'a>>(&mut self, mut map: A) -> Result<(), A::Error> {
        let mut seen = 0;
        while let Some(field) = next_field(&mut map, self.arena, RESOURCE, &mut seen)? {
            match field {
                0 => {
                    self.attributes = map.next_value_seed(Attributes {
                        limits: self.limits,
                        arena: self.arena,
                        depth: 0,
                    })?;
                }
                _ => {
                    map.next_value_seed(Integer::<u32>::new())?;
                }
            }
        }
        Ok(())
    }
}

/// One `scopeSpans` object. Its scope must come before its spans.
struct ScopeSpansReader<'r, 'l, 'a> {
    reader: &'r mut TraceReader<'l, 'a>,
    arena: &'a Bump,
    resource: Conventions<'a>,
}

impl<'a> ReadObject<'a> for ScopeSpansReader<'_, '_, 'a> {
    fn read<A: MapAccess<'a>>(&mut self, mut map: A) -> Result<(), A::Error> {
        let limits = self.reader.limits;
        let mut scope = ScopeReader {
            name: "",
            version: "",
            limits,
            arena: self.arena,
        };
        let mut spans_read = false;
        let mut seen = 0;
        while let Some(field) = next_field(&mut map, self.arena, SCOPE_SPANS, &mut seen)? {
            match field {
                0 => {
                    if spans_read {
                        return Err(de::Error::custom("scope after its spans"));
                    }
                    map.next_value_seed(MaybeObject(&mut scope))?;
                }
                1 => {
                    spans_read = true;
                    let non_empty = |text: &'a str| (!text.is_empty()).then_some(text);
                    map.next_value_seed(Objects(&mut SpanReader {
                        reader: &mut *self.reader,
                        arena: self.arena,
                        resource: self.resource,
                        scope: (non_empty(scope.name), non_empty(scope.version)),
                    }))?;
                }
                _ => map.next_value_seed(SkippedText)?,
            }
        }
        Ok(())
    }
}

struct ScopeReader<'v, 'a> {
    name: &'a str,
    version: &'a str,
    limits: &'v Limits,
    arena: &'a Bump,
}

impl<'a> ReadObject<'a> for ScopeReader<'_, 'a> {
    fn read<A: MapAccess<'a>>(&mut self, mut map: A) -> Result<(), A::Error> {
        let mut seen = 0;
        while let Some(field) = next_field(&mut map, self.arena, SCOPE, &mut seen)? {
            match field {
                0 => self.name = map.next_value_seed(Text(self.arena))?,
                1 => self.version = map.next_value_seed(Text(self.arena))?,
                2 => {
                    map.next_value_seed(Attributes {
                        limits: self.limits,
                        arena: self.arena,
                        depth: 0,
                    })?;
                }
                _ => {
                    map.next_value_seed(Integer::<u32>::new())?;
                }
            }
        }
        Ok(())
    }
}

/// Each span of a `spans` list, added to the rows once it is read.
struct SpanReader<'r, 'l, 'a> {
    reader: &'r mut TraceReader<'l, 'a>,
    arena: &'a Bump,
    resource: Conventions<'a>,
    scope: (Option<&'a str>, Option<&'a str>),
}

impl<'a> ReadObject<'a> for SpanReader<'_, '_, 'a> {
    fn read<A: MapAccess<'a>>(&mut self, mut map: A) -> Result<(), A::Error> {
        let limits = self.reader.limits;
        let attributes = Attributes {
            limits,
            arena: self.arena,
            depth: 0,
        };
        let mut span = SpanFields::default();
        let mut seen = 0;
        while let Some(field) = next_field(&mut map, self.arena, SPAN, &mut seen)? {
            match field {
                0 => span.trace_id = map.next_value_seed(HexId)?,
                1 => span.span_id = map.next_value_seed(HexId)?,
                2 => span.trace_state = map.next_value_seed(Text(self.arena))?,
                3 => span.parent_span_id = map.next_value_seed(HexId)?,
                4 => span.flags = map.next_value_seed(Integer::<u32>::new())?,
                5 => span.name = map.next_value_seed(Text(self.arena))?,
                6 => span.kind = map.next_value_seed(Enumeration(SPAN_KINDS))?,
                7 => span.start_ns = map.next_value_seed(Integer::<u64>::new())?,
                8 => span.end_ns = map.next_value_seed(Integer::<u64>::new())?,
                9 => span.attributes = map.next_value_seed(attributes)?,
                11 => {
                    let mut events = EventReader {
                        events: Vec::new(),
                        limits,
                        arena: self.arena,
                    };
                    map.next_value_seed(Objects(&mut events))?;
                    span.events = events.events;
                }
                13 => {
                    let mut links = LinkReader {
                        links: Vec::new(),
                        limits,
                        arena: self.arena,
                    };
                    map.next_value_seed(Objects(&mut links))?;
                    span.links = links.links;
                }
                15 => {
                    let mut status = StatusReader {
                        code: 0,
                        message: "",
                        arena: self.arena,
                    };
                    map.next_value_seed(MaybeObject(&mut status))?;
                    span.status_code = status.code;
                    span.status_message = status.message;
                }
                _ => {
                    map.next_value_seed(Integer::<u32>::new())?;
                }
            }
        }
        self.reader
            .finish_span(&mut span, &self.resource, self.scope);
        Ok(())
    }
}

/// The events of one span.
struct EventReader<'v, 'a> {
    events: Vec<EventRef<'a>>,
    limits: &'v Limits,
    arena: &'a Bump,
}

impl<'a> ReadObject<'a> for EventReader<'_, 'a> {
    fn read<A: MapAccess<'a>>(&mut self, mut map: A) -> Result<(), A::Error> {
        let mut event = EventRef {
            name: "",
            time_ns: 0,
            attributes: Vec::new(),
        };
        let mut seen = 0;
        while let Some(field) = next_field(&mut map, self.arena, EVENT, &mut seen)? {
            match field {
                0 => event.time_ns = map.next_value_seed(Integer::<u64>::new())?,
                1 => event.name = map.next_value_seed(Text(self.arena))?,
                2 => {
                    event.attributes = map.next_value_seed(Attributes {
                        limits: self.limits,
                        arena: self.arena,
                        depth: 0,
                    })?;
                }
                _ => {
                    map.next_value_seed(Integer::<u32>::new())?;
                }
            }
        }
        self.events.push(event);
        Ok(())
    }
}

/// The links of one span.
struct LinkReader<'v, 'a> {
    links: Vec<LinkFields<'a>>,
    limits: &'v Limits,
    arena: &'a Bump,
}

impl<'a> ReadObject<'a> for LinkReader<'_, 'a> {
    fn read<A: MapAccess<'a>>(&mut self, mut map: A) -> Result<(), A::Error> {
        let mut link = LinkFields {
            trace_id: Id::Empty,
            span_id: Id::Empty,
            trace_state: "",
            flags: 0,
            attributes: Vec::new(),
        };
        let mut seen = 0;
        while let Some(field) = next_field(&mut map, self.arena, LINK, &mut seen)? {
            match field {
                0 => link.trace_id = map.next_value_seed(HexId)?,
                1 => link.span_id = map.next_value_seed(HexId)?,
                2 => link.trace_state = map.next_value_seed(Text(self.arena))?,
                3 => {
                    link.attributes = map.next_value_seed(Attributes {
                        limits: self.limits,
                        arena: self.arena,
                        depth: 0,
                    })?;
                }
                4 => {
                    map.next_value_seed(Integer::<u32>::new())?;
                }
                _ => link.flags = map.next_value_seed(Integer::<u32>::new())?,
            }
        }
        self.links.push(link);
        Ok(())
    }
}

struct StatusReader<'a> {
    code: i32,
    message: &'a str,
    arena: &'a Bump,
}

impl<'a> ReadObject<'a> for StatusReader<'a> {
    fn read<A: MapAccess<'a>>(&mut self, mut map: A) -> Result<(), A::Error> {
        let mut seen = 0;
        while let Some(field) = next_field(&mut map, self.arena, STATUS, &mut seen)? {
            match field {
                0 => self.message = map.next_value_seed(Text(self.arena))?,
                _ => self.code = map.next_value_seed(Enumeration(STATUS_CODES))?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
