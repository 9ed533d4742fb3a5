//! Scalar readers for OTLP/JSON: strings, integers given as numbers or decimal strings,
//! doubles with their special strings, hex ids, base64 bytes and enums by number or name.
//! Each one reads `null` as the field's default.

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, SeqAccess, Visitor};

/// Reads `null` as `None`, anything else through the inner seed.
pub(super) struct NullOr<S>(pub(super) S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for NullOr<S> {
    type Value = Option<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for NullOr<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a value or null")
    }

    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(deserializer).map(Some)
    }
}

/// Implements `DeserializeSeed` for a unit visitor struct that reads with `deserialize_any`.
macro_rules! seed_by_visitor {
    ($($visitor:ident),*) => {$(
        impl<'de> DeserializeSeed<'de> for $visitor {
            type Value = <$visitor as Visitor<'de>>::Value;

            fn deserialize<D: Deserializer<'de>>(
                self,
                deserializer: D,
            ) -> Result<Self::Value, D::Error> {
                deserializer.deserialize_any(self)
            }
        }
    )*};
}

seed_by_visitor!(Text, Double, HexId, Base64);

/// A string, or `null` for the empty string.
pub(super) struct Text;

impl Visitor<'_> for Text {
    type Value = String;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string")
    }

    fn visit_unit<E>(self) -> Result<String, E> {
        Ok(String::new())
    }

    fn visit_str<E>(self, value: &str) -> Result<String, E> {
        Ok(value.to_owned())
    }

    fn visit_string<E>(self, value: String) -> Result<String, E> {
        Ok(value)
    }
}

/// An integer type that OTLP/JSON carries as a number or a decimal string.
pub(super) trait IntegerType:
    Default + FromStr + TryFrom<u64> + TryFrom<i64> + Copy
{
    /// Description of the type, for the error when a value does not fit.
    const DESCRIPTION: &'static str;
}

impl IntegerType for u64 {
    const DESCRIPTION: &'static str = "an unsigned 64-bit integer";
}

impl IntegerType for i64 {
    const DESCRIPTION: &'static str = "a 64-bit integer";
}

impl IntegerType for u32 {
    const DESCRIPTION: &'static str = "an unsigned 32-bit integer";
}

impl IntegerType for i32 {
    const DESCRIPTION: &'static str = "a 32-bit integer";
}

/// An integer of type `T` as a number or a decimal string. `null` reads as 0.
pub(super) struct Integer<T>(PhantomData<fn() -> T>);

impl<T> Integer<T> {
    pub(super) const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Clone for Integer<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Integer<T> {}

impl<'de, T: IntegerType> DeserializeSeed<'de> for Integer<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<T: IntegerType> Visitor<'_> for Integer<T> {
    type Value = T;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "{}, as a number or a decimal string",
            T::DESCRIPTION
        )
    }

    fn visit_unit<E>(self) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        T::try_from(value).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(value), &self))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        T::try_from(value).map_err(|_| E::invalid_value(de::Unexpected::Signed(value), &self))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
        value
            .parse()
            .map_err(|_| E::invalid_value(de::Unexpected::Str(value), &self))
    }
}

/// A double as a number, a numeric string, `"NaN"`, `"Infinity"` or `"-Infinity"`. `null`
/// reads as 0.
#[derive(Clone, Copy)]
pub(super) struct Double;

impl Visitor<'_> for Double {
    type Value = f64;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a number, \"NaN\", \"Infinity\" or \"-Infinity\"")
    }

    fn visit_unit<E>(self) -> Result<f64, E> {
        Ok(0.0)
    }

    fn visit_f64<E>(self, value: f64) -> Result<f64, E> {
        Ok(value)
    }

    fn visit_u64<E>(self, value: u64) -> Result<f64, E> {
        Ok(value as f64)
    }

    fn visit_i64<E>(self, value: i64) -> Result<f64, E> {
        Ok(value as f64)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<f64, E> {
        double_of_text(value).ok_or_else(|| E::invalid_value(de::Unexpected::Str(value), &self))
    }
}

/// Reads a double given as a string: `"NaN"`, `"Infinity"`, `"-Infinity"` or a number's text.
pub(super) fn double_of_text(value: &str) -> Option<f64> {
    match value {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

/// The value of each hex digit in either case, by byte. Other bytes map to 0xff.
const HEX_DIGITS: [u8; 256] = {
    let mut digits = [0xff_u8; 256];
    let mut index = 0;
    while index < 10 {
        digits[b'0' as usize + index] = index as u8;
        index += 1;
    }
    let mut index = 0;
    while index < 6 {
        digits[b'a' as usize + index] = 10 + index as u8;
        digits[b'A' as usize + index] = 10 + index as u8;
        index += 1;
    }
    digits
};

/// Returns the byte that a pair of hex digits in either case spells, or `None` when either
/// is not a hex digit.
pub(super) fn hex_byte(pair: &[u8]) -> Option<u8> {
    let high = HEX_DIGITS[usize::from(pair[0])];
    let low = HEX_DIGITS[usize::from(pair[1])];
    ((high | low) <= 0x0f).then_some(high << 4 | low)
}

/// A trace or span id: hex digits in either case. `null` or `""` is an empty id. An invalid
/// hex string fails the whole request; a valid one of the wrong length is passed on, so that
/// validation rejects only its item.
struct HexId;

impl Visitor<'_> for HexId {
    type Value = Vec<u8>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a hex string")
    }

    fn visit_unit<E>(self) -> Result<Vec<u8>, E> {
        Ok(Vec::new())
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Vec<u8>, E> {
        let invalid = || E::invalid_value(de::Unexpected::Str(value), &self);
        if !value.len().is_multiple_of(2) {
            return Err(invalid());
        }
        value
            .as_bytes()
            .chunks_exact(2)
            .map(hex_byte)
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(invalid)
    }
}

/// Bytes as standard base64.
pub(super) struct Base64;

impl Visitor<'_> for Base64 {
    type Value = Vec<u8>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a base64 string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Vec<u8>, E> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|error| E::custom(format_args!("invalid base64 `{value}`: {error}")))
    }
}

/// Reads an enum given as an integer or by one of `names`, whose position is its number.
pub(super) struct EnumNumber {
    pub(super) names: &'static [&'static str],
}

impl Visitor<'_> for EnumNumber {
    type Value = i32;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "an enum number or one of {}",
            self.names.join(", ")
        )
    }

    fn visit_unit<E>(self) -> Result<i32, E> {
        Ok(0)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<i32, E> {
        i32::try_from(value).map_err(|_| E::invalid_value(de::Unexpected::Signed(value), &self))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<i32, E> {
        i32::try_from(value).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(value), &self))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<i32, E> {
        enum_of_text(self.names, value)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Str(value), &self))
    }
}

/// Reads an enum given as a string: its number in decimal, or one of `names`, whose
/// position is its number.
pub(super) fn enum_of_text(names: &[&str], value: &str) -> Option<i32> {
    if let Ok(number) = value.parse::<i32>() {
        return Some(number);
    }
    names
        .iter()
        .position(|name| *name == value)
        .map(|index| index as i32)
}

pub(super) fn string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    deserializer.deserialize_any(Text)
}

pub(super) fn hex_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    deserializer.deserialize_any(HexId)
}

/// Reads an integer of the field's type, as a number or a decimal string.
pub(super) fn integer<'de, D: Deserializer<'de>, T: IntegerType>(
    deserializer: D,
) -> Result<T, D::Error> {
    Integer::new().deserialize(deserializer)
}

pub(super) fn optional_int64<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    NullOr(Integer::new()).deserialize(deserializer)
}

pub(super) fn double<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    deserializer.deserialize_any(Double)
}

pub(super) fn optional_double<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<f64>, D::Error> {
    NullOr(Double).deserialize(deserializer)
}

pub(super) fn boolean<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(deserializer)?.unwrap_or(false))
}

pub(super) fn uint64_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<u64>, D::Error> {
    deserializer.deserialize_any(ListOf(Integer::<u64>::new()))
}

pub(super) fn double_list<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<f64>, D::Error> {
    deserializer.deserialize_any(ListOf(Double))
}

/// A list (or `null`) whose items are read by one seed each.
#[derive(Clone, Copy)]
pub(super) struct ListOf<S>(pub(super) S);

impl<'de, S: DeserializeSeed<'de> + Copy> DeserializeSeed<'de> for ListOf<S> {
    type Value = Vec<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, S: DeserializeSeed<'de> + Copy> Visitor<'de> for ListOf<S> {
    type Value = Vec<S::Value>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a list")
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(self.0)? {
            items.push(item);
        }
        Ok(items)
    }
}
