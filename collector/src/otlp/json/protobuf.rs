//! Protobuf encoding of what the JSON row reader read, for the write-ahead log.
//!
//! The log keeps a trace request so that replay can build its rows again. An OTLP/JSON
//! body is more than twice the size of the same request in protobuf. Under the load
//! generator on a 2-core machine, writing those bytes cost more throughput than encoding
//! them does, so the reader encodes the resources, scopes and spans it read as an
//! `ExportTraceServiceRequest` in protobuf.
//! Replay reads it with the same limits and gets the same rows: keys, strings and lists
//! that the reader cut are cut again to the same length, and a value past the depth limit
//! is already empty.
//!
//! Only what the rows use is written: unknown fields, dropped counts, schema URLs and the
//! scope's attributes are left out.

use super::scalars::double_of_text;
use crate::model::attribute::{AttributeRef, ValueRef};
use crate::otlp::wire::{Id, LinkFields, SpanFields};
use crate::store::columns::EventRef;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH_DELIMITED: u8 = 2;
const FIXED32: u8 = 5;

/// A protobuf message being written, with the nested messages still open.
#[derive(Default)]
pub(super) struct Encoder {
    out: Vec<u8>,
    /// The position of each open nested message's length, innermost last, shifted left by
    /// two bits, with the number of bytes kept for the length, less one, in those bits.
    open: Vec<usize>,
}

impl Encoder {
    /// Returns the encoded bytes. Every nested message must be closed.
    pub(super) fn finish(self) -> Vec<u8> {
        debug_assert!(self.open.is_empty(), "a nested message is still open");
        self.out
    }

    #[inline]
    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.out.push((value as u8) | 0x80);
            value >>= 7;
        }
        self.out.push(value as u8);
    }

    #[inline]
    fn tag(&mut self, field: u32, wire_type: u8) {
        self.varint(u64::from(field << 3 | u32::from(wire_type)));
    }

    fn bytes(&mut self, field: u32, bytes: &[u8]) {
        self.tag(field, LENGTH_DELIMITED);
        self.varint(bytes.len() as u64);
        self.out.extend_from_slice(bytes);
    }

    /// Writes a string or bytes field unless it is empty, which protobuf reads as absent.
    fn non_empty(&mut self, field: u32, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.bytes(field, bytes);
        }
    }

    fn fixed64(&mut self, field: u32, value: u64) {
        self.tag(field, FIXED64);
        self.out.extend_from_slice(&value.to_le_bytes());
    }

    /// Makes room for about `bytes` bytes of output.
    pub(super) fn reserve(&mut self, bytes: usize) {
        self.out.reserve(bytes);
    }

    /// Starts nested message `field`, with `reserved` bytes (1 to 4) kept for its length,
    /// which `close` writes.
    pub(super) fn open(&mut self, field: u32, reserved: usize) {
        self.tag(field, LENGTH_DELIMITED);
        self.open.push(self.out.len() << 2 | (reserved - 1));
        self.out.resize(self.out.len() + reserved, 0);
    }

    /// Ends the innermost open message and writes its length, moving the message when the
    /// length needs another number of bytes than were kept for it.
    pub(super) fn close(&mut self) {
        let open = self.open.pop().expect("a nested message is open");
        let (at, reserved) = (open >> 2, (open & 3) + 1);
        let start = at + reserved;
        let length = self.out.len() - start;
        let mut varint = [0_u8; 10];
        let mut size = 0;
        let mut rest = length as u64;
        loop {
            varint[size] = rest as u8 & 0x7f;
            rest >>= 7;
            size += 1;
            if rest == 0 {
                break;
            }
            varint[size - 1] |= 0x80;
        }
        let end = self.out.len();
        if size > reserved {
            self.out.resize(end + size - reserved, 0);
            self.out.copy_within(start..end, at + size);
        } else if size < reserved {
            self.out.copy_within(start..end, at + size);
            self.out.truncate(end - (reserved - size));
        }
        // Byte by byte: a copy of a length only known here calls `memcpy` for one to three
        // bytes.
        for (slot, byte) in self.out[at..at + size].iter_mut().zip(varint) {
            *slot = byte;
        }
    }

    /// Writes `Resource` (field 1 of `ResourceSpans`) with its attributes.
    pub(super) fn resource(&mut self, attributes: &[AttributeRef<'_>]) {
        self.open(1, 2);
        self.attributes(1, attributes);
        self.close();
    }

    /// Writes `InstrumentationScope` (field 1 of `ScopeSpans`) with its name and version.
    pub(super) fn scope(&mut self, name: &str, version: &str) {
        self.open(1, 1);
        self.non_empty(1, name.as_bytes());
        self.non_empty(2, version.as_bytes());
        self.close();
    }

    /// Writes one `Span` (field 2 of `ScopeSpans`).
    pub(super) fn span(&mut self, span: &SpanFields<'_>) {
        // Most spans take from 128 bytes to 16 KiB, whose lengths take two bytes. `close`
        // moves the others.
        self.open(2, 2);
        self.id(1, &span.trace_id);
        self.id(2, &span.span_id);
        self.non_empty(3, span.trace_state.as_bytes());
        self.id(4, &span.parent_span_id);
        self.non_empty(5, span.name.as_bytes());
        if span.kind != 0 {
            self.tag(6, VARINT);
            // Negative enum numbers are sign-extended to ten bytes, as protobuf has them.
            self.varint(i64::from(span.kind) as u64);
        }
        self.fixed64(7, span.start_ns);
        self.fixed64(8, span.end_ns);

        self.attributes(9, &span.attributes);
        for event in &span.events {
            self.event(event);
        }
        for link in &span.links {
            self.link(link);
        }

        // An empty status reads as an absent one.
        if span.status_code != 0 || !span.status_message.is_empty() {
            self.open(15, 1);
            self.non_empty(2, span.status_message.as_bytes());
            if span.status_code != 0 {
                self.tag(3, VARINT);
                self.varint(i64::from(span.status_code) as u64);
            }
            self.close();
        }
        if span.flags != 0 {
            self.tag(16, FIXED32);
            self.out.extend_from_slice(&span.flags.to_le_bytes());
        }
        self.close();
    }

    /// Writes an id unless it is empty: an absent id and an empty one read alike.
    fn id(&mut self, field: u32, id: &Id<'_>) {
        self.non_empty(field, id.bytes());
    }

    fn event(&mut self, event: &EventRef<'_>) {
        self.open(11, 1);
        self.fixed64(1, event.time_ns);
        self.non_empty(2, event.name.as_bytes());
        self.attributes(3, &event.attributes);
        self.close();
    }

    fn link(&mut self, link: &LinkFields<'_>) {
        self.open(13, 1);
        self.id(1, &link.trace_id);
        self.id(2, &link.span_id);
        self.non_empty(3, link.trace_state.as_bytes());
        self.attributes(4, &link.attributes);
        if link.flags != 0 {
            self.tag(6, FIXED32);
            self.out.extend_from_slice(&link.flags.to_le_bytes());
        }
        self.close();
    }

    /// Writes each pair as a `KeyValue` in repeated field `field`.
    fn attributes(&mut self, field: u32, attributes: &[AttributeRef<'_>]) {
        for pair in attributes {
            if self.short_text_pair(field, pair) {
                continue;
            }
            let key = pair.key.len();
            let key_size = if key == 0 {
                0
            } else {
                1 + varint_size(key as u64) + key
            };
            // Most values are strings, numbers or booleans, whose sizes are known before they
            // are written, and so are the lengths around them. A list's length is filled in
            // once the list is written.
            if let Some(value) = scalar_size(&pair.value) {
                let length = key_size + 1 + varint_size(value as u64) + value;
                self.tag(field, LENGTH_DELIMITED);
                self.varint(length as u64);
                self.non_empty(1, pair.key.as_bytes());
                self.tag(2, LENGTH_DELIMITED);
                self.varint(value as u64);
                self.value(&pair.value);
            } else {
                self.open(field, 1);
                self.non_empty(1, pair.key.as_bytes());
                self.open(2, 1);
                self.value(&pair.value);
                self.close();
                self.close();
            }
        }
    }

    /// Writes `pair` as a `KeyValue` in field `field` when its key is not empty, its value is
    /// a string, and the whole pair takes less than 128 bytes, so that every length takes
    /// one byte. Returns whether it did. Most attributes are such pairs.
    #[inline]
    fn short_text_pair(&mut self, field: u32, pair: &AttributeRef<'_>) -> bool {
        let ValueRef::String(text) = pair.value else {
            return false;
        };
        let (key, text) = (pair.key.as_bytes(), text.as_bytes());
        // `AnyValue` with field 1, then `KeyValue` with fields 1 and 2.
        let value = 2 + text.len();
        let length = 2 + key.len() + 2 + value;
        if key.is_empty() || length >= 0x80 || field >= 16 || is_double_text(text) {
            return false;
        }
        let string = 1 << 3 | LENGTH_DELIMITED;
        let nested = 2 << 3 | LENGTH_DELIMITED;
        self.out.reserve(2 + length);
        self.out.extend_from_slice(&[
            (field as u8) << 3 | LENGTH_DELIMITED,
            length as u8,
            string,
            key.len() as u8,
        ]);
        self.out.extend_from_slice(key);
        self.out
            .extend_from_slice(&[nested, value as u8, string, text.len() as u8]);
        self.out.extend_from_slice(text);
        true
    }

    /// Writes the one field of an `AnyValue` that `value` sets, or none for an empty value.
    fn value(&mut self, value: &ValueRef<'_>) {
        match value {
            // A double that is not finite became one of these texts in the rows, and the text
            // written as a double reads back as the same text, never cut. A string value cut
            // to one of them by the limit would be cut to it again.
            ValueRef::String(text) if is_double_text(text.as_bytes()) => {
                let double = double_of_text(text).expect("the text of a double");
                self.fixed64(4, double.to_bits());
            }
            ValueRef::String(text) => self.bytes(1, text.as_bytes()),
            ValueRef::Bool(value) => {
                self.tag(2, VARINT);
                self.varint(u64::from(*value));
            }
            ValueRef::Int(value) => {
                self.tag(3, VARINT);
                self.varint(*value as u64);
            }
            ValueRef::Double(value) => self.fixed64(4, value.to_bits()),
            ValueRef::Bytes(bytes) => self.bytes(7, bytes),
            ValueRef::Array(items) => {
                self.open(5, 1);
                for item in items {
                    self.open(1, 1);
                    self.value(item);
                    self.close();
                }
                self.close();
            }
            ValueRef::Map(pairs) => {
                self.open(6, 1);
                self.attributes(1, pairs);
                self.close();
            }
            ValueRef::Empty => {}
        }
    }
}

/// Tells whether `text` is one of the texts that a double that is not finite becomes.
fn is_double_text(text: &[u8]) -> bool {
    matches!(text, b"NaN" | b"Infinity" | b"-Infinity")
}

/// Returns the number of bytes of `value` as a varint.
fn varint_size(value: u64) -> usize {
    // Seven bits per byte, and one byte for zero.
    (u64::BITS - (value | 1).leading_zeros()).div_ceil(7) as usize
}

/// Returns the size of the `AnyValue` that `Encoder::value` writes for `value`, unless it
/// is a list, whose size is only known once it is written.
fn scalar_size(value: &ValueRef<'_>) -> Option<usize> {
    Some(match value {
        ValueRef::String(text) if is_double_text(text.as_bytes()) => 9,
        ValueRef::Double(_) => 9,
        ValueRef::String(text) => 1 + varint_size(text.len() as u64) + text.len(),
        ValueRef::Bool(_) => 2,
        ValueRef::Int(value) => 1 + varint_size(*value as u64),
        ValueRef::Bytes(bytes) => 1 + varint_size(bytes.len() as u64) + bytes.len(),
        ValueRef::Empty => 0,
        ValueRef::Array(_) | ValueRef::Map(_) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_take_as_many_bytes_as_they_need() {
        for (length, reserved) in [0, 1, 127, 128, 300, 16_383, 16_384, 70_000]
            .into_iter()
            .flat_map(|length| (1..=4).map(move |reserved| (length, reserved)))
        {
            let mut encoder = Encoder::default();
            encoder.open(2, reserved);
            encoder.out.extend(std::iter::repeat_n(7_u8, length));
            encoder.close();
            let out = encoder.finish();
            assert_eq!(out[0], 2 << 3 | LENGTH_DELIMITED, "length {length}: tag");
            let mut value = 0_usize;
            let mut size = 0;
            for (index, byte) in out[1..].iter().enumerate() {
                value |= usize::from(byte & 0x7f) << (7 * index);
                size += 1;
                if byte & 0x80 == 0 {
                    break;
                }
            }
            assert_eq!(value, length, "length {length}: value");
            assert_eq!(out.len(), 1 + size + length, "length {length}: total");
            assert!(out[1 + size..].iter().all(|&byte| byte == 7));
        }
    }
}
