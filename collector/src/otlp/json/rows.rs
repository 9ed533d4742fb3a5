//! A reader of OTLP/JSON trace requests that builds span rows borrowing names, keys and
//! values from the body, the way the protobuf wire reader does, without message types.
//!
//! It walks the text with a cursor of its own ([`Scanner`]) and gives the rows that this
//! module's decoder and `request_rows` give. Any error sends the body back to that decoder,
//! which then gives the same rows or the precise error. Strings with escapes are unescaped
//! into an arena that lives as long as the rows. Besides malformed requests, some valid ones
//! go back too. These are a non-null `bytesValue` (base64 needs decoding), an id longer than
//! 32 bytes, and a number the decoder does not take for an integer (one with a fraction,
//! `-0`). So are a resource or scope that comes after the spans it applies to, and the rare
//! escapes and nesting depths the scanner leaves alone.

use bumpalo::Bump;

use super::attributes::MAX_DEPTH;
use super::protobuf::Encoder;
use super::scalars::{IntegerType, double_of_text, enum_of_text, hex_byte};
use super::scan::{Leave, Object, Scan, Scanner, check};
use super::{SPAN_KINDS, STATUS_CODES};
use crate::model::attribute::{AttributeRef, ValueRef};
use crate::otlp::wire::{
    Conventions, Id, LinkFields, MAX_VALUE_DEPTH, SpanFields, TraceReader, truncate,
};
use crate::otlp::{Limits, Rejection};
use crate::store::columns::{EventRef, SpanRows};

/// The rows, rejections and protobuf encoding that the JSON row reader gives for one
/// request.
pub(crate) struct JsonRows<'a> {
    pub(crate) rows: SpanRows<'a>,
    /// The rejected spans.
    pub(crate) rejected: Vec<Rejection>,
    /// The request in protobuf, as much of it as the rows use: read with the same limits,
    /// it gives the same rows (see [`super::protobuf`]).
    pub(crate) protobuf: Vec<u8>,
}

/// Reads the rows of an OTLP/JSON `ExportTraceServiceRequest`, with the reasons of the spans
/// it rejects and the request in protobuf. Strings with escapes are unescaped into `arena`.
/// `None` when the body needs this module's decoder.
pub(crate) fn trace_rows_json<'a>(
    body: &'a [u8],
    arena: &'a Bump,
    limits: &Limits,
) -> Option<JsonRows<'a>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut reader = Reader {
        scanner: Scanner::new(text, arena),
        rows: TraceReader::new(limits),
        span: SpanFields::default(),
        span_order: [u8::MAX; SPAN_START + 1],
        encoder: Encoder::default(),
    };
    // Room for the rows, their JSON texts and the protobuf, estimated from the body: spans
    // with a few attributes take 400 to 700 bytes of OTLP/JSON, and their texts and
    // protobuf less than half of that. Smaller spans only make the buffers grow, which
    // moves them: that took 2.5% of the collector's CPU per span under the load generator.
    reader.rows.reserve(body.len() / 400, body.len() / 2);
    reader.encoder.reserve(body.len() / 2);
    reader.request().ok()?;
    if !reader.scanner.at_end() {
        return None;
    }
    let (rows, rejected) = reader.rows.finish();
    Some(JsonRows {
        rows,
        rejected,
        protobuf: reader.encoder.finish(),
    })
}

/// Numbers the fields of each message that the reader reads, by their lowerCamelCase or
/// proto name, in the order of these lists. Other keys are unknown fields, skipped.
fn request_field(key: &str) -> Option<u32> {
    match key {
        "resourceSpans" | "resource_spans" => Some(0),
        _ => None,
    }
}

fn resource_spans_field(key: &str) -> Option<u32> {
    Some(match key {
        "resource" => 0,
        "scopeSpans" | "scope_spans" => 1,
        "schemaUrl" | "schema_url" => 2,
        _ => return None,
    })
}

fn resource_field(key: &str) -> Option<u32> {
    Some(match key {
        "attributes" => 0,
        "droppedAttributesCount" | "dropped_attributes_count" => 1,
        _ => return None,
    })
}

fn scope_spans_field(key: &str) -> Option<u32> {
    Some(match key {
        "scope" => 0,
        "spans" => 1,
        "schemaUrl" | "schema_url" => 2,
        _ => return None,
    })
}

fn scope_field(key: &str) -> Option<u32> {
    Some(match key {
        "name" => 0,
        "version" => 1,
        "attributes" => 2,
        "droppedAttributesCount" | "dropped_attributes_count" => 3,
        _ => return None,
    })
}

fn span_field(key: &str) -> Option<u32> {
    Some(match key {
        "traceId" | "trace_id" => 0,
        "spanId" | "span_id" => 1,
        "traceState" | "trace_state" => 2,
        "parentSpanId" | "parent_span_id" => 3,
        "flags" => 4,
        "name" => 5,
        "kind" => 6,
        "startTimeUnixNano" | "start_time_unix_nano" => 7,
        "endTimeUnixNano" | "end_time_unix_nano" => 8,
        "attributes" => 9,
        "droppedAttributesCount" | "dropped_attributes_count" => 10,
        "events" => 11,
        "droppedEventsCount" | "dropped_events_count" => 12,
        "links" => 13,
        "droppedLinksCount" | "dropped_links_count" => 14,
        "status" => 15,
        _ => return None,
    })
}

/// The keys of the span fields by number, as compact JSON writes them: the lowerCamelCase
/// name in quotes and a colon.
const SPAN_KEYS: [&[u8]; 16] = [
    br#""traceId":"#,
    br#""spanId":"#,
    br#""traceState":"#,
    br#""parentSpanId":"#,
    br#""flags":"#,
    br#""name":"#,
    br#""kind":"#,
    br#""startTimeUnixNano":"#,
    br#""endTimeUnixNano":"#,
    br#""attributes":"#,
    br#""droppedAttributesCount":"#,
    br#""events":"#,
    br#""droppedEventsCount":"#,
    br#""links":"#,
    br#""droppedLinksCount":"#,
    br#""status":"#,
];

/// The place of the span field order before a span's first field.
const SPAN_START: usize = SPAN_KEYS.len();

fn event_field(key: &str) -> Option<u32> {
    Some(match key {
        "timeUnixNano" | "time_unix_nano" => 0,
        "name" => 1,
        "attributes" => 2,
        "droppedAttributesCount" | "dropped_attributes_count" => 3,
        _ => return None,
    })
}

fn link_field(key: &str) -> Option<u32> {
    Some(match key {
        "traceId" | "trace_id" => 0,
        "spanId" | "span_id" => 1,
        "traceState" | "trace_state" => 2,
        "attributes" => 3,
        "droppedAttributesCount" | "dropped_attributes_count" => 4,
        "flags" => 5,
        _ => return None,
    })
}

fn status_field(key: &str) -> Option<u32> {
    Some(match key {
        "message" => 0,
        "code" => 1,
        _ => return None,
    })
}

/// The fields of one message object: `number` numbers its keys, values of unknown keys are
/// skipped, and a field given twice (also once by each name) gives up, as the decoder fails
/// such a message.
struct Fields {
    object: Object,
    number: fn(&str) -> Option<u32>,
    seen: u32,
}

impl Fields {
    /// Reads the `{` of a message.
    fn open(scanner: &mut Scanner<'_>, number: fn(&str) -> Option<u32>) -> Scan<Self> {
        Ok(Self {
            object: scanner.object()?,
            number,
            seen: 0,
        })
    }

    /// Reads the key of field `number` when it comes next written as `quoted` (see
    /// `Object::literal_key`), and returns whether it did.
    fn literal(&mut self, scanner: &mut Scanner<'_>, number: u32, quoted: &[u8]) -> Scan<bool> {
        if !self.object.literal_key(scanner, quoted) {
            return Ok(false);
        }
        check(self.seen & (1 << number) == 0)?;
        self.seen |= 1 << number;
        Ok(true)
    }

    /// Reads keys up to the next known field and returns its number, or `None` at the
    /// closing `}`.
    fn next(&mut self, scanner: &mut Scanner<'_>) -> Scan<Option<u32>> {
        while let Some(key) = self.object.key(scanner)? {
            let Some(field) = (self.number)(key) else {
                scanner.skip()?;
                continue;
            };
            check(self.seen & (1 << field) == 0)?;
            self.seen |= 1 << field;
            return Ok(Some(field));
        }
        Ok(None)
    }
}

/// Decodes a trace or span id in hex, either case, into at most 32 bytes. `""` is an empty
/// id.
fn hex_id(text: &str) -> Option<Id<'static>> {
    if !text.len().is_multiple_of(2) || text.len() > 64 {
        return None;
    }
    let mut bytes = [0_u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(text.as_bytes().chunks_exact(2)) {
        *byte = hex_byte(pair)?;
    }
    let length = u8::try_from(text.len() / 2).expect("at most 32 bytes");
    Some(Id::Decoded(bytes, length))
}

struct Reader<'l, 'a> {
    scanner: Scanner<'a>,
    rows: TraceReader<'l, 'a>,
    /// The fields of the span being read, which keep their vectors' allocations between
    /// spans.
    span: SpanFields<'a>,
    /// The field that followed each span field (and the first one, at `SPAN_START`) in the
    /// last span that had it. An exporter writes its fields in one order, so the key that
    /// followed last time is tried first, as a literal.
    span_order: [u8; SPAN_START + 1],
    /// The request in protobuf, written as it is read.
    encoder: Encoder,
}

impl<'a> Reader<'_, 'a> {
    /// Reads a string, or `null` for the empty string.
    fn text(&mut self) -> Scan<&'a str> {
        if self.scanner.null()? {
            return Ok("");
        }
        self.scanner.string()
    }

    /// Reads an integer as a number or a decimal string, and `null` as 0. A bare number is
    /// read as serde_json reads it: a fraction or exponent makes it a double, which the
    /// decoder does not take for an integer, and so does `-0`.
    fn integer<T: IntegerType>(&mut self) -> Scan<T> {
        match self.scanner.peek()? {
            b'n' => {
                self.scanner.null()?;
                Ok(T::default())
            }
            b'"' => match self.scanner.digit_string() {
                Some(value) => T::try_from(value).map_err(|_| Leave),
                None => self.scanner.string()?.parse().map_err(|_| Leave),
            },
            _ => bare_integer(self.scanner.number()?).ok_or(Leave),
        }
    }

    /// Reads a double as a number or one of the strings `double_of_text` takes, or `None`
    /// for `null`.
    fn double(&mut self) -> Scan<Option<f64>> {
        match self.scanner.peek()? {
            b'n' => self.scanner.null().map(|_| None),
            b'"' => double_of_text(self.scanner.string()?)
                .map(Some)
                .ok_or(Leave),
            // The number's text through serde_json, so that every digit rounds as it does
            // in the decoder.
            _ => serde_json::from_str(self.scanner.number()?)
                .map(Some)
                .map_err(|_| Leave),
        }
    }

    /// Reads an enum by number or by one of `names`, and `null` as 0.
    fn enumeration(&mut self, names: &[&str]) -> Scan<i32> {
        match self.scanner.peek()? {
            b'n' => self.scanner.null().map(|_| 0),
            b'"' => enum_of_text(names, self.scanner.string()?).ok_or(Leave),
            _ => bare_integer(self.scanner.number()?).ok_or(Leave),
        }
    }

    /// Reads a hex id, or `null` for an empty id.
    fn id(&mut self) -> Scan<Id<'static>> {
        if self.scanner.null()? {
            return Ok(Id::Empty);
        }
        let mut bytes = [0; 32];
        if let Some(length) = self.scanner.hex_string(&mut bytes) {
            let length = u8::try_from(length).expect("at most 32 bytes");
            return Ok(Id::Decoded(bytes, length));
        }
        hex_id(self.scanner.string()?).ok_or(Leave)
    }

    /// Runs `item` on each object of a list, or on none for `null`.
    fn objects(&mut self, mut item: impl FnMut(&mut Self) -> Scan<()>) -> Scan<()> {
        if self.scanner.null()? {
            return Ok(());
        }
        let mut list = self.scanner.list()?;
        while list.next(&mut self.scanner)? {
            item(self)?;
        }
        Ok(())
    }

    fn request(&mut self) -> Scan<()> {
        let mut fields = Fields::open(&mut self.scanner, request_field)?;
        while fields.next(&mut self.scanner)?.is_some() {
            self.objects(Self::resource_spans)?;
        }
        Ok(())
    }

    /// Reads one `resourceSpans` object. Its resource must come before its scopes.
    fn resource_spans(&mut self) -> Scan<()> {
        let mut attributes = Vec::new();
        let mut conventions: Option<Conventions<'a>> = None;
        let mut fields = Fields::open(&mut self.scanner, resource_spans_field)?;
        // A resource's spans take up to 2 MiB in protobuf, whose length takes three bytes.
        self.encoder.open(1, 3);
        while let Some(field) = fields.next(&mut self.scanner)? {
            match field {
                0 => {
                    // A resource after its spans is left to the decoder.
                    if conventions.is_some() {
                        return Err(Leave);
                    }
                    if !self.scanner.null()? {
                        attributes = self.resource()?;
                    }
                }
                1 => {
                    let conventions = *conventions.get_or_insert_with(|| {
                        self.rows.push_resource(&attributes);
                        self.encoder.resource(&attributes);
                        Conventions::of_resource(&attributes)
                    });
                    self.objects(|reader| reader.scope_spans(conventions))?;
                }
                _ => {
                    self.text()?;
                }
            }
        }
        self.encoder.close();
        Ok(())
    }

    fn resource(&mut self) -> Scan<Vec<AttributeRef<'a>>> {
        let mut attributes = Vec::new();
        let mut fields = Fields::open(&mut self.scanner, resource_field)?;
        while let Some(field) = fields.next(&mut self.scanner)? {
            match field {
                0 => self.attributes(0, &mut attributes)?,
                _ => {
                    self.integer::<u32>()?;
                }
            }
        }
        Ok(attributes)
    }

    /// Reads one `scopeSpans` object. Its scope must come before its spans.
    fn scope_spans(&mut self, resource: Conventions<'a>) -> Scan<()> {
        let mut scope = ("", "");
        let mut spans_read = false;
        let mut fields = Fields::open(&mut self.scanner, scope_spans_field)?;
        self.encoder.open(2, 3);
        while let Some(field) = fields.next(&mut self.scanner)? {
            match field {
                0 => {
                    if spans_read {
                        return Err(Leave);
                    }
                    if !self.scanner.null()? {
                        scope = self.scope()?;
                    }
                }
                1 => {
                    spans_read = true;
                    self.encoder.scope(scope.0, scope.1);
                    let non_empty = |text: &'a str| (!text.is_empty()).then_some(text);
                    let scope = (non_empty(scope.0), non_empty(scope.1));
                    self.objects(|reader| reader.span(&resource, scope))?;
                }
                _ => {
                    self.text()?;
                }
            }
        }
        self.encoder.close();
        Ok(())
    }

    /// Reads a scope's name and version. Its attributes are read and not kept.
    fn scope(&mut self) -> Scan<(&'a str, &'a str)> {
        let mut scope = ("", "");
        let mut fields = Fields::open(&mut self.scanner, scope_field)?;
        while let Some(field) = fields.next(&mut self.scanner)? {
            match field {
                0 => scope.0 = self.text()?,
                1 => scope.1 = self.text()?,
                2 => {
                    self.attributes(0, &mut Vec::new())?;
                }
                _ => {
                    self.integer::<u32>()?;
                }
            }
        }
        Ok(scope)
    }

    /// Reads one span and adds it to the rows.
    fn span(
        &mut self,
        resource: &Conventions<'a>,
        scope: (Option<&'a str>, Option<&'a str>),
    ) -> Scan<()> {
        let mut attributes = std::mem::take(&mut self.span.attributes);
        let mut events = std::mem::take(&mut self.span.events);
        attributes.clear();
        events.clear();
        self.span = SpanFields {
            attributes,
            events,
            ..SpanFields::default()
        };
        let mut fields = Fields::open(&mut self.scanner, span_field)?;
        let mut previous = SPAN_START;
        loop {
            let guess = self.span_order[previous];
            let guessed = match SPAN_KEYS.get(usize::from(guess)) {
                Some(quoted) => fields.literal(&mut self.scanner, u32::from(guess), quoted)?,
                None => false,
            };
            let field = if guessed {
                u32::from(guess)
            } else {
                match fields.next(&mut self.scanner)? {
                    Some(field) => field,
                    None => break,
                }
            };
            self.span_order[previous] = u8::try_from(field).expect("16 span fields");
            previous = field as usize;
            // Fields are read into `self.span` in place: the span is large, and moving it
            // in and out of this function costs a copy each way.
            match field {
                0 => self.span.trace_id = self.id()?,
                1 => self.span.span_id = self.id()?,
                2 => self.span.trace_state = self.text()?,
                3 => self.span.parent_span_id = self.id()?,
                4 => self.span.flags = self.integer()?,
                5 => self.span.name = self.text()?,
                6 => self.span.kind = self.enumeration(SPAN_KINDS)?,
                7 => self.span.start_ns = self.integer()?,
                8 => self.span.end_ns = self.integer()?,
                9 => {
                    let mut attributes = std::mem::take(&mut self.span.attributes);
                    self.attributes(0, &mut attributes)?;
                    self.span.attributes = attributes;
                }
                11 => self.objects(|reader| {
                    let event = reader.event()?;
                    reader.span.events.push(event);
                    Ok(())
                })?,
                13 => self.objects(|reader| {
                    let link = reader.link()?;
                    reader.span.links.push(link);
                    Ok(())
                })?,
                15 => {
                    if !self.scanner.null()? {
                        (self.span.status_code, self.span.status_message) = self.status()?;
                    }
                }
                _ => {
                    self.integer::<u32>()?;
                }
            }
        }
        self.encoder.span(&self.span);
        self.rows.finish_span(&mut self.span, resource, scope);
        Ok(())
    }

    fn event(&mut self) -> Scan<EventRef<'a>> {
        let mut event = EventRef {
            name: "",
            time_ns: 0,
            attributes: Vec::new(),
        };
        let mut fields = Fields::open(&mut self.scanner, event_field)?;
        while let Some(field) = fields.next(&mut self.scanner)? {
            match field {
                0 => event.time_ns = self.integer()?,
                1 => event.name = self.text()?,
                2 => self.attributes(0, &mut event.attributes)?,
                _ => {
                    self.integer::<u32>()?;
                }
            }
        }
        Ok(event)
    }

    fn link(&mut self) -> Scan<LinkFields<'a>> {
        let mut link = LinkFields {
            trace_id: Id::Empty,
            span_id: Id::Empty,
            trace_state: "",
            flags: 0,
            attributes: Vec::new(),
        };
        let mut fields = Fields::open(&mut self.scanner, link_field)?;
        while let Some(field) = fields.next(&mut self.scanner)? {
            match field {
                0 => link.trace_id = self.id()?,
                1 => link.span_id = self.id()?,
                2 => link.trace_state = self.text()?,
                3 => self.attributes(0, &mut link.attributes)?,
                4 => {
                    self.integer::<u32>()?;
                }
                _ => link.flags = self.integer()?,
            }
        }
        Ok(link)
    }

    /// Reads a status's code and message.
    fn status(&mut self) -> Scan<(i32, &'a str)> {
        let mut status = (0, "");
        let mut fields = Fields::open(&mut self.scanner, status_field)?;
        while let Some(field) = fields.next(&mut self.scanner)? {
            match field {
                0 => status.1 = self.text()?,
                _ => status.0 = self.enumeration(STATUS_CODES)?,
            }
        }
        Ok(status)
    }

    /// Reads a list of attributes at a nesting depth, or `null`, into `attributes` in place
    /// of what it held. Every pair is read, and the first `max_attributes` are kept, with
    /// keys and strings cut to `max_attribute_len`.
    fn attributes(&mut self, depth: usize, attributes: &mut Vec<AttributeRef<'a>>) -> Scan<()> {
        attributes.clear();
        let limits = self.rows.limits;
        let mut unkept = AttributeRef {
            key: "",
            value: ValueRef::Empty,
        };
        self.objects(|reader| {
            // Each pair is read where it is kept, rather than moved there.
            let pair = if attributes.len() < limits.max_attributes {
                attributes.push(AttributeRef {
                    key: "",
                    value: ValueRef::Empty,
                });
                attributes.last_mut().expect("a pair was just added")
            } else {
                &mut unkept
            };
            reader.pair(depth, pair)?;
            pair.key = truncate(pair.key, limits.max_attribute_len);
            Ok(())
        })
    }

    /// Reads one `{"key": ..., "value": ...}` pair into `pair`, which is empty. As in the
    /// decoder, a key or value given twice keeps the last one, and other fields are
    /// ignored.
    fn pair(&mut self, depth: usize, pair: &mut AttributeRef<'a>) -> Scan<()> {
        let mut object = self.scanner.object()?;
        // Exporters write the key first, and compact JSON has nothing around the names.
        if object.literal_key(&mut self.scanner, br#""key":"#) {
            pair.key = self.text()?;
            if object.literal_key(&mut self.scanner, br#""value":"#) {
                self.any_value(depth, &mut pair.value)?;
            }
        }
        while let Some(key) = object.key(&mut self.scanner)? {
            match key {
                "key" => pair.key = self.text()?,
                "value" => self.any_value(depth, &mut pair.value)?,
                _ => self.scanner.skip()?,
            }
        }
        Ok(())
    }

    /// Reads an attribute value (or `null`, an empty value) at a nesting depth into
    /// `value` in place of what it held, with the limits and the depth cut of the
    /// conversion applied. As in the decoder, a value field given twice is allowed and the
    /// last one that is not null counts.
    fn any_value(&mut self, depth: usize, value: &mut ValueRef<'a>) -> Scan<()> {
        *value = ValueRef::Empty;
        if self.scanner.null()? {
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(Leave);
        }
        let nested = depth + 1;
        let within_depth = depth < MAX_VALUE_DEPTH;
        let mut object = self.scanner.object()?;
        if object.literal_key(&mut self.scanner, br#""stringValue":"#) && !self.scanner.null()? {
            let text = self.scanner.string()?;
            *value = ValueRef::String(truncate(text, self.rows.limits.max_attribute_len));
        }
        while let Some(key) = object.key(&mut self.scanner)? {
            match key {
                "stringValue" | "string_value" => {
                    if !self.scanner.null()? {
                        let text = self.scanner.string()?;
                        *value =
                            ValueRef::String(truncate(text, self.rows.limits.max_attribute_len));
                    }
                }
                "boolValue" | "bool_value" => {
                    if !self.scanner.null()? {
                        *value = ValueRef::Bool(self.scanner.boolean()?);
                    }
                }
                "intValue" | "int_value" => {
                    if !self.scanner.null()? {
                        *value = ValueRef::Int(self.integer()?);
                    }
                }
                "doubleValue" | "double_value" => {
                    if let Some(double) = self.double()? {
                        *value = ValueRef::double(double);
                    }
                }
                // Base64 is left to the decoder.
                "bytesValue" | "bytes_value" => check(self.scanner.null()?)?,
                "arrayValue" | "array_value" => {
                    if !self.scanner.null()? {
                        let mut items = self.values_of(|reader| {
                            let mut items = Vec::new();
                            reader.value_list(nested, &mut items)?;
                            Ok(items)
                        })?;
                        items.truncate(self.rows.limits.max_attributes);
                        *value = if within_depth {
                            ValueRef::Array(items)
                        } else {
                            ValueRef::Empty
                        };
                    }
                }
                "kvlistValue" | "kvlist_value" => {
                    if !self.scanner.null()? {
                        let pairs = self.values_of(|reader| {
                            let mut pairs = Vec::new();
                            reader.attributes(nested, &mut pairs)?;
                            Ok(pairs)
                        })?;
                        *value = if within_depth {
                            ValueRef::Map(pairs)
                        } else {
                            ValueRef::Empty
                        };
                    }
                }
                _ => self.scanner.skip()?,
            }
        }
        Ok(())
    }

    /// Reads `{"values": ...}` of an array or key-value list value, with `values` read by
    /// `read`. As in the decoder, the last `values` counts, and none is an empty list.
    fn values_of<T: Default>(&mut self, mut read: impl FnMut(&mut Self) -> Scan<T>) -> Scan<T> {
        let mut values = T::default();
        let mut object = self.scanner.object()?;
        while let Some(key) = object.key(&mut self.scanner)? {
            if key == "values" {
                values = read(self)?;
            } else {
                self.scanner.skip()?;
            }
        }
        Ok(values)
    }

    /// Reads the list of an array value, or `null`. Each item is a value or `null`, an
    /// empty value.
    fn value_list(&mut self, depth: usize, items: &mut Vec<ValueRef<'a>>) -> Scan<()> {
        if self.scanner.null()? {
            return Ok(());
        }
        let mut list = self.scanner.list()?;
        while list.next(&mut self.scanner)? {
            items.push(ValueRef::Empty);
            let item = items.last_mut().expect("an item was just added");
            self.any_value(depth, item)?;
        }
        Ok(())
    }
}

/// Reads a bare integer number's text as serde_json reads it into an integer: a fraction,
/// an exponent, `-0` or a value beyond the 64-bit range makes it a double, and a value
/// that does not fit `T` fails.
fn bare_integer<T: TryFrom<u64> + TryFrom<i64>>(text: &str) -> Option<T> {
    if text.contains(['.', 'e', 'E']) {
        return None;
    }
    if text.starts_with('-') {
        let value: i64 = text.parse().ok()?;
        if value == 0 {
            return None;
        }
        T::try_from(value).ok()
    } else {
        T::try_from(text.parse::<u64>().ok()?).ok()
    }
}

#[cfg(test)]
mod tests;
