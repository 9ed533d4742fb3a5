//! Attribute values as OpenTelemetry defines them (`AnyValue`), and lists of key-value pairs.

use serde::{Deserialize, Serialize};

/// One attribute value.
///
/// A double is always finite: readers turn NaN and the infinities into their text form
/// (`NaN`, `Infinity`, `-Infinity`), because Parquet statistics and JSON have no use for
/// them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeValue {
    /// A UTF-8 string.
    String(String),
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer, kept exact.
    Int(i64),
    /// A finite double.
    Double(f64),
    /// Raw bytes.
    Bytes(Vec<u8>),
    /// A list of values.
    Array(Vec<AttributeValue>),
    /// A nested list of key-value pairs.
    Map(Vec<KeyValue>),
    /// A value with no field set, which OTLP allows.
    Empty,
}

impl AttributeValue {
    /// Creates a double value, or its text form when the double is not finite.
    #[must_use]
    pub fn double(value: f64) -> Self {
        if value.is_finite() {
            Self::Double(value)
        } else if value.is_nan() {
            Self::String("NaN".to_owned())
        } else if value > 0.0 {
            Self::String("Infinity".to_owned())
        } else {
            Self::String("-Infinity".to_owned())
        }
    }

    /// Returns the string, when the value is one.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(text) => Some(text),
            _ => None,
        }
    }

    /// Returns the integer, when the value is one.
    #[must_use]
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Int(value) => Some(*value),
            _ => None,
        }
    }

    /// Returns the boolean, when the value is one.
    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(value) => Some(*value),
            _ => None,
        }
    }

    /// Converts the value to plain JSON: strings, numbers, booleans, arrays and objects, with
    /// bytes as an array of numbers.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Self::String(text) => Value::String(text.clone()),
            Self::Bool(value) => Value::Bool(*value),
            Self::Int(value) => Value::from(*value),
            Self::Double(value) => Value::from(*value),
            Self::Bytes(bytes) => Value::from(bytes.clone()),
            Self::Array(values) => Value::Array(values.iter().map(Self::to_json).collect()),
            Self::Map(pairs) => attributes_to_json(pairs),
            Self::Empty => Value::Null,
        }
    }
}

/// One attribute: a key and its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    /// Attribute key, for example `faas.coldstart`.
    pub key: String,
    /// Attribute value.
    pub value: AttributeValue,
}

/// Attributes in the order they arrived. Keys are unique in valid OTLP, but a reader keeps
/// duplicates rather than guessing which one counts.
pub type Attributes = Vec<KeyValue>;

/// Finds the first attribute with `key`.
#[must_use]
pub fn find<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AttributeValue> {
    attributes
        .iter()
        .find(|pair| pair.key == key)
        .map(|pair| &pair.value)
}

/// Converts attributes to one JSON object, the form the Parquet tables store. A repeated key
/// keeps its first value.
#[must_use]
pub fn attributes_to_json(attributes: &[KeyValue]) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    for pair in attributes {
        object
            .entry(pair.key.clone())
            .or_insert_with(|| pair.value.to_json());
    }
    serde_json::Value::Object(object)
}

/// Writes attributes as the JSON text of [`attributes_to_json`], without building a
/// `serde_json::Value`: keys in byte order, and a repeated key keeps its first value.
#[must_use]
pub fn attributes_to_json_text(attributes: &[KeyValue]) -> String {
    let mut text = String::new();
    write_json_object(attributes, &mut text);
    text
}

/// One attribute that borrows its key and value, from a [`KeyValue`] or straight from a
/// request body. The column writers take attributes in this form, so both give the same text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AttributeRef<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: ValueRef<'a>,
}

/// A borrowed [`AttributeValue`]. A double is finite, as in [`AttributeValue`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ValueRef<'a> {
    String(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
    Array(Vec<ValueRef<'a>>),
    Map(Vec<AttributeRef<'a>>),
    Empty,
}

impl<'a> ValueRef<'a> {
    /// Borrows an owned value.
    pub(crate) fn of(value: &'a AttributeValue) -> Self {
        match value {
            AttributeValue::String(text) => Self::String(text),
            AttributeValue::Bool(value) => Self::Bool(*value),
            AttributeValue::Int(value) => Self::Int(*value),
            AttributeValue::Double(value) => Self::Double(*value),
            AttributeValue::Bytes(bytes) => Self::Bytes(bytes),
            AttributeValue::Array(values) => Self::Array(values.iter().map(Self::of).collect()),
            AttributeValue::Map(pairs) => Self::Map(borrow_attributes(pairs)),
            AttributeValue::Empty => Self::Empty,
        }
    }

    /// Returns a double value, or its text form when it is not finite, as
    /// [`AttributeValue::double`] does.
    pub(crate) fn double(value: f64) -> Self {
        if value.is_finite() {
            Self::Double(value)
        } else if value.is_nan() {
            Self::String("NaN")
        } else if value > 0.0 {
            Self::String("Infinity")
        } else {
            Self::String("-Infinity")
        }
    }
}

/// Borrows owned attributes.
pub(crate) fn borrow_attributes(attributes: &[KeyValue]) -> Vec<AttributeRef<'_>> {
    attributes
        .iter()
        .map(|pair| AttributeRef {
            key: &pair.key,
            value: ValueRef::of(&pair.value),
        })
        .collect()
}

/// Appends attributes to `out` as the JSON text of [`attributes_to_json`].
pub(crate) fn write_json_object(attributes: &[KeyValue], out: &mut String) {
    write_json_attributes(&borrow_attributes(attributes), out);
}

/// Appends attributes to `out` as one JSON object: keys in byte order, and a repeated key
/// keeps its first value.
///
/// The text is the same, byte for byte, as `serde_json` writes for [`attributes_to_json`]:
/// the same string escapes, integer digits and shortest round-trip doubles. Writing into a
/// `String` needs no UTF-8 check afterwards, which writing through `serde_json` into bytes
/// does.
pub(crate) fn write_json_attributes(attributes: &[AttributeRef<'_>], out: &mut String) {
    out.push('{');
    // Keys that arrive in strictly increasing order need no sorted copy.
    if attributes.windows(2).all(|pair| pair[0].key < pair[1].key) {
        for (index, pair) in attributes.iter().enumerate() {
            write_json_entry(index, pair, out);
        }
    } else if attributes.len() <= SORTED_ON_STACK {
        let mut order = [(0, 0); SORTED_ON_STACK];
        write_sorted_entries(attributes, &mut order[..attributes.len()], out);
    } else {
        let mut order = vec![(0, 0); attributes.len()];
        write_sorted_entries(attributes, &mut order, out);
    }
    out.push('}');
}

/// Number of attributes up to which the order of their keys is sorted in an array on the
/// stack rather than in a vector.
const SORTED_ON_STACK: usize = 32;

/// Writes the entries of `attributes` in the order of their keys, the first of equal keys
/// only, sorting `order` (one slot per attribute) to find it.
fn write_sorted_entries(
    attributes: &[AttributeRef<'_>],
    order: &mut [(u64, usize)],
    out: &mut String,
) {
    for (slot, (index, pair)) in order.iter_mut().zip(attributes.iter().enumerate()) {
        *slot = (key_prefix(pair.key), index);
    }
    // Prefixes order keys as their bytes do, and only equal prefixes need the whole keys.
    // The position breaks ties, so the first of equal keys comes first, as a stable sort
    // would keep it.
    order.sort_unstable_by(|left, right| {
        left.0
            .cmp(&right.0)
            .then_with(|| attributes[left.1].key.cmp(attributes[right.1].key))
            .then(left.1.cmp(&right.1))
    });
    let mut written = 0;
    let mut previous: Option<&str> = None;
    for &(_, index) in order.iter() {
        let pair = &attributes[index];
        if previous == Some(pair.key) {
            continue;
        }
        previous = Some(pair.key);
        write_json_entry(written, pair, out);
        written += 1;
    }
}

/// Returns the first eight bytes of `key` as a big-endian number, zero-padded. Two keys
/// whose numbers differ are ordered as the numbers are.
fn key_prefix(key: &str) -> u64 {
    let mut bytes = [0; 8];
    let length = key.len().min(8);
    bytes[..length].copy_from_slice(&key.as_bytes()[..length]);
    u64::from_be_bytes(bytes)
}

fn write_json_entry(index: usize, pair: &AttributeRef<'_>, out: &mut String) {
    if index > 0 {
        out.push(',');
    }
    write_json_string(pair.key, out);
    out.push(':');
    write_json_value(&pair.value, out);
}

fn write_json_value(value: &ValueRef<'_>, out: &mut String) {
    match value {
        ValueRef::String(text) => write_json_string(text, out),
        ValueRef::Bool(true) => out.push_str("true"),
        ValueRef::Bool(false) => out.push_str("false"),
        ValueRef::Int(value) => out.push_str(itoa::Buffer::new().format(*value)),
        ValueRef::Double(value) if value.is_finite() => {
            out.push_str(zmij::Buffer::new().format_finite(*value));
        }
        ValueRef::Double(_) | ValueRef::Empty => out.push_str("null"),
        ValueRef::Bytes(bytes) => {
            out.push('[');
            let mut digits = itoa::Buffer::new();
            for (index, byte) in bytes.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(digits.format(*byte));
            }
            out.push(']');
        }
        ValueRef::Array(values) => {
            out.push('[');
            for (index, value) in values.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_json_value(value, out);
            }
            out.push(']');
        }
        ValueRef::Map(pairs) => write_json_attributes(pairs, out),
    }
}

/// Appends `text` as a JSON string, escaped as `serde_json` escapes it: quote, backslash
/// and the control characters, with `\b`, `\t`, `\n`, `\f` and `\r` in their short form
/// and the rest as `\u00XX` in lowercase hex.
pub(crate) fn write_json_string(text: &str, out: &mut String) {
    out.push('"');
    // Most texts need no escape. This check has no early exit, so the compiler can test
    // many bytes at once.
    let needs_escape = text.bytes().fold(0_u8, |found, byte| {
        found | u8::from(byte < 0x20) | u8::from(byte == b'"') | u8::from(byte == b'\\')
    }) != 0;
    if !needs_escape {
        out.push_str(text);
        out.push('"');
        return;
    }
    let mut start = 0;
    for (index, byte) in text.bytes().enumerate() {
        let escape = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Every byte that needs an escape is ASCII, so `index` is a character boundary.
        out.push_str(&text[start..index]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        } else {
            out.push_str(escape);
        }
        start = index + 1;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_doubles_become_text() {
        assert_eq!(AttributeValue::double(1.5), AttributeValue::Double(1.5));
        assert_eq!(
            AttributeValue::double(f64::NAN),
            AttributeValue::String("NaN".to_owned())
        );
        assert_eq!(
            AttributeValue::double(f64::NEG_INFINITY),
            AttributeValue::String("-Infinity".to_owned())
        );
    }

    #[test]
    fn json_form_keeps_large_integers_exact() {
        let attributes = vec![KeyValue {
            key: "count".to_owned(),
            value: AttributeValue::Int(9_007_199_254_740_993),
        }];
        assert_eq!(
            attributes_to_json(&attributes).to_string(),
            r#"{"count":9007199254740993}"#
        );
    }

    #[test]
    fn json_text_matches_json_value() {
        let pair = |key: &str, value| KeyValue {
            key: key.to_owned(),
            value,
        };
        let attributes = vec![
            pair(
                "zeta",
                AttributeValue::String("last \"quoted\"\n".to_owned()),
            ),
            pair("alpha", AttributeValue::Int(-9_007_199_254_740_993)),
            pair("alpha", AttributeValue::Int(2)),
            pair("ratio", AttributeValue::Double(0.1)),
            pair("flag", AttributeValue::Bool(true)),
            pair("raw", AttributeValue::Bytes(vec![0, 255])),
            pair("empty", AttributeValue::Empty),
            pair(
                "list",
                AttributeValue::Array(vec![
                    AttributeValue::Double(1e300),
                    AttributeValue::Map(vec![
                        pair("b", AttributeValue::Int(1)),
                        pair("a", AttributeValue::Empty),
                    ]),
                ]),
            ),
            pair("Ünïcode", AttributeValue::String("ü".to_owned())),
        ];
        assert_eq!(
            attributes_to_json_text(&attributes),
            attributes_to_json(&attributes).to_string()
        );
        assert_eq!(attributes_to_json_text(&[]), "{}");
    }

    #[test]
    fn json_text_orders_keys_as_serde_json() {
        // Keys that share long prefixes, contain NUL bytes, are prefixes of one another or
        // repeat, in lists short enough for the array on the stack and longer.
        let parts = ["", "a", "\0", "telemetry.sdk.", "é", "z"];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        for round in 0..200 {
            let count = next(if round % 2 == 0 {
                12
            } else {
                2 * SORTED_ON_STACK
            });
            let attributes: Vec<KeyValue> = (0..count)
                .map(|index| KeyValue {
                    key: (0..next(4)).map(|_| parts[next(parts.len())]).collect(),
                    value: AttributeValue::Int(index as i64),
                })
                .collect();
            assert_eq!(
                attributes_to_json_text(&attributes),
                attributes_to_json(&attributes).to_string(),
                "round {round}"
            );
        }
    }

    #[test]
    fn json_text_escapes_and_numbers_match_serde_json() {
        let mut controls: String = (0_u8..0x20).map(char::from).collect();
        controls.push_str("\u{7f}\\/\"é\u{2028}😀");
        let doubles = [
            0.1,
            -0.0,
            1e-7,
            1e21,
            1e300,
            5e-324,
            123_456.789,
            -2.5,
            1.0,
            9_007_199_254_740_993.0,
        ];
        let mut attributes: Vec<KeyValue> = doubles
            .iter()
            .enumerate()
            .map(|(index, &value)| KeyValue {
                key: format!("double.{index:02}"),
                value: AttributeValue::Double(value),
            })
            .collect();
        for (index, value) in [i64::MIN, i64::MAX, 0, -1].into_iter().enumerate() {
            attributes.push(KeyValue {
                key: format!("int.{index}"),
                value: AttributeValue::Int(value),
            });
        }
        attributes.push(KeyValue {
            key: controls.clone(),
            value: AttributeValue::Array(vec![
                AttributeValue::String(controls.clone()),
                AttributeValue::Bool(false),
                AttributeValue::Bytes(Vec::new()),
                AttributeValue::Array(Vec::new()),
                AttributeValue::Map(Vec::new()),
            ]),
        });
        assert_eq!(
            attributes_to_json_text(&attributes),
            attributes_to_json(&attributes).to_string()
        );
    }
}
