//! Attribute lists and values for OTLP/JSON, read with their nesting depth so that a value
//! nested too deeply is rejected.

use std::fmt;

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value,
};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use super::scalars::{Base64, Double, Integer, ListOf, NullOr, Text};

/// Nesting depth of array and key-value list values past which a value is rejected.
pub(super) const MAX_DEPTH: usize = 16;

pub(super) fn key_values<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<KeyValue>, D::Error> {
    ListOf(Pair { depth: 0 }).deserialize(deserializer)
}

pub(super) fn any_value<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<AnyValue>, D::Error> {
    deserializer.deserialize_any(AnyValueSeed { depth: 0 })
}

/// One `{"key": ..., "value": ...}` pair at a nesting depth.
#[derive(Clone, Copy)]
struct Pair {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Pair {
    type Value = KeyValue;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Pair {
    type Value = KeyValue;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a key-value pair")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut pair = KeyValue::default();
        while let Some(field) = map.next_key::<PairField>()? {
            match field {
                PairField::Key => pair.key = map.next_value_seed(Text)?,
                PairField::Value => {
                    pair.value = map.next_value_seed(AnyValueSeed { depth: self.depth })?;
                }
                PairField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(pair)
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum PairField {
    Key,
    Value,
    #[serde(other)]
    Other,
}

/// An attribute value (or `null`) at a nesting depth.
struct AnyValueSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for AnyValueSeed {
    type Value = Option<AnyValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AnyValueSeed {
    type Value = Option<AnyValue>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an attribute value object")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use any_value::Value as V;

        if self.depth > MAX_DEPTH {
            return Err(de::Error::custom(format!(
                "attribute value nested more than {MAX_DEPTH} levels deep"
            )));
        }
        let nested = self.depth + 1;
        let mut value = None;
        while let Some(field) = map.next_key::<ValueField>()? {
            let read = match field {
                ValueField::StringValue => map.next_value_seed(NullOr(Text))?.map(V::StringValue),
                ValueField::BoolValue => map.next_value::<Option<bool>>()?.map(V::BoolValue),
                ValueField::IntValue => map
                    .next_value_seed(NullOr(Integer::new()))?
                    .map(V::IntValue),
                ValueField::DoubleValue => map.next_value_seed(NullOr(Double))?.map(V::DoubleValue),
                ValueField::BytesValue => map.next_value_seed(NullOr(Base64))?.map(V::BytesValue),
                ValueField::ArrayValue => map
                    .next_value_seed(NullOr(ValuesObject {
                        items: ListOf(ArrayItem { depth: nested }),
                        expecting: "an array value object",
                    }))?
                    .map(|values| V::ArrayValue(ArrayValue { values })),
                ValueField::KvlistValue => map
                    .next_value_seed(NullOr(ValuesObject {
                        items: ListOf(Pair { depth: nested }),
                        expecting: "a key-value list value object",
                    }))?
                    .map(|values| V::KvlistValue(KeyValueList { values })),
                ValueField::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if read.is_some() {
                value = read;
            }
        }
        Ok(Some(AnyValue { value }))
    }
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum ValueField {
    #[serde(alias = "string_value")]
    StringValue,
    #[serde(alias = "bool_value")]
    BoolValue,
    #[serde(alias = "int_value")]
    IntValue,
    #[serde(alias = "double_value")]
    DoubleValue,
    #[serde(alias = "bytes_value")]
    BytesValue,
    #[serde(alias = "array_value")]
    ArrayValue,
    #[serde(alias = "kvlist_value")]
    KvlistValue,
    #[serde(other)]
    Other,
}

/// `{"values": [...]}` of an array value or a key-value list value. `S` reads the list.
#[derive(Clone, Copy)]
struct ValuesObject<S> {
    items: S,
    expecting: &'static str,
}

impl<'de, S: DeserializeSeed<'de, Value = Vec<T>> + Copy, T> DeserializeSeed<'de>
    for ValuesObject<S>
{
    type Value = Vec<T>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, S: DeserializeSeed<'de, Value = Vec<T>> + Copy, T> Visitor<'de> for ValuesObject<S> {
    type Value = Vec<T>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.expecting)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = Vec::new();
        while let Some(key) = map.next_key::<ListField>()? {
            if key == ListField::Values {
                values = map.next_value_seed(self.items)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(values)
    }
}

/// An item of an array value at a nesting depth. An item without a value is kept empty.
#[derive(Clone, Copy)]
struct ArrayItem {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ArrayItem {
    type Value = AnyValue;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        let value = AnyValueSeed { depth: self.depth }.deserialize(deserializer)?;
        Ok(value.unwrap_or_default())
    }
}

#[derive(Deserialize, PartialEq, Eq)]
#[serde(field_identifier, rename_all = "camelCase")]
enum ListField {
    Values,
    #[serde(other)]
    Other,
}
