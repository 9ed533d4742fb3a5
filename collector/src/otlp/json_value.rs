//! A JSON document tree for the OTLP/JSON decoder that borrows its strings from the body.
//!
//! `serde_json::Value` allocates every key and string and keeps each object in a
//! `BTreeMap`. OTLP/JSON bodies are mostly short keys and values without escapes, so this
//! tree keeps objects as lists of pairs and borrows every key and string that has no escape.
//! A repeated key keeps its last value, as in `serde_json::Value`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Number;

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Value<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    Object(Object<'a>),
}

/// A JSON object: its members in document order.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Object<'a> {
    members: Vec<(Cow<'a, str>, Value<'a>)>,
}

impl<'a> Object<'a> {
    /// Returns the value of `key`, or its last value when the key repeats.
    pub(super) fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.members
            .iter()
            .rev()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }
}

impl<'a> Value<'a> {
    pub(super) fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    pub(super) fn as_object(&self) -> Option<&Object<'a>> {
        match self {
            Self::Object(object) => Some(object),
            _ => None,
        }
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(text) => Some(text),
            _ => None,
        }
    }
}

/// Parses a JSON document, borrowing from `body`.
pub(super) fn from_slice(body: &[u8]) -> serde_json::Result<Value<'_>> {
    serde_json::from_slice(body)
}

impl<'de> Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value<'de>, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value<'de>, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value<'de>, E> {
        Ok(Value::Number(value.into()))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value<'de>, E> {
        // JSON text has no NaN or infinity, so every parsed double is finite.
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Borrowed(value)))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Owned(value)))
    }

    fn visit_unit<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value<'de>, D::Error> {
        Deserialize::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(Key(key)) = map.next_key()? {
            members.push((key, map.next_value()?));
        }
        Ok(Value::Object(Object { members }))
    }
}

/// An object key, borrowed when it has no escape.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, value: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(value)))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(value.to_owned())))
    }

    fn visit_string<E>(self, value: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_borrow_unless_escaped() {
        let value = from_slice(br#"{"plain": "abc", "escaped": "a\nb"}"#).unwrap();
        let object = value.as_object().unwrap();
        assert!(matches!(
            object.get("plain"),
            Some(Value::String(Cow::Borrowed("abc")))
        ));
        assert!(matches!(
            object.get("escaped"),
            Some(Value::String(Cow::Owned(text))) if text == "a\nb"
        ));
    }

    #[test]
    fn numbers_keep_integer_precision() {
        let value = from_slice(br"[18446744073709551615, -9223372036854775808, 1.5]").unwrap();
        let Value::Array(items) = value else {
            panic!("not an array");
        };
        assert_eq!(items[0], Value::Number(u64::MAX.into()));
        assert_eq!(items[1], Value::Number(i64::MIN.into()));
        assert_eq!(items[2], Value::Number(Number::from_f64(1.5).unwrap()));
    }

    #[test]
    fn repeated_key_keeps_last_value() {
        let value = from_slice(br#"{"key": 1, "key": null, "other": true}"#).unwrap();
        let object = value.as_object().unwrap();
        assert_eq!(object.get("key"), Some(&Value::Null));
        assert_eq!(object.get("other"), Some(&Value::Bool(true)));
        assert_eq!(object.get("missing"), None);
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(from_slice(b"{\"open\": [1, 2").is_err());
        assert!(from_slice(b"{} trailing").is_err());
    }
}
