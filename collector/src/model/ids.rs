//! Trace and span ids: fixed-size byte strings written as lowercase hex.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Failure to read a trace or span id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The id has the wrong number of bytes.
    #[error("invalid {kind} `{value}`: expected {expected} bytes, found {found}")]
    Length {
        /// `trace id` or `span id`.
        kind: &'static str,
        /// The id as received, in hex.
        value: String,
        /// Bytes the id must have.
        expected: usize,
        /// Bytes it had.
        found: usize,
    },
    /// The hex form contains a character that is not a hex digit.
    #[error("invalid {kind} `{value}`: not a hex string")]
    NotHex {
        /// `trace id` or `span id`.
        kind: &'static str,
        /// The text as received.
        value: String,
    },
    /// All bytes are zero, which OTLP defines as invalid.
    #[error("invalid {kind}: all bytes are zero")]
    Zero {
        /// `trace id` or `span id`.
        kind: &'static str,
    },
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Writes `bytes` as lowercase hex into `out`, which must be twice as long as `bytes`.
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = HEX_DIGITS[usize::from(byte >> 4)];
        pair[1] = HEX_DIGITS[usize::from(byte & 0x0f)];
    }
}

fn encode_hex<const N: usize>(bytes: &[u8; N], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let mut text = [0_u8; 32];
    let text = &mut text[..N * 2];
    hex_into(bytes, text);
    f.write_str(std::str::from_utf8(text).expect("hex digits are ASCII"))
}

fn decode_hex<const N: usize>(kind: &'static str, text: &str) -> Result<[u8; N], IdError> {
    if !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(IdError::NotHex {
            kind,
            value: text.to_owned(),
        });
    }
    if text.len() != N * 2 {
        return Err(IdError::Length {
            kind,
            value: text.to_owned(),
            expected: N,
            found: text.len() / 2,
        });
    }
    let mut bytes = [0_u8; N];
    for (index, byte) in bytes.iter_mut().enumerate() {
        // The text is ASCII hex, checked above, so every two-character slice parses.
        *byte =
            u8::from_str_radix(&text[index * 2..index * 2 + 2], 16).expect("checked hex digits");
    }
    Ok(bytes)
}

fn from_slice<const N: usize>(kind: &'static str, bytes: &[u8]) -> Result<[u8; N], IdError> {
    let array: [u8; N] = bytes.try_into().map_err(|_| IdError::Length {
        kind,
        value: bytes.iter().fold(String::new(), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        }),
        expected: N,
        found: bytes.len(),
    })?;
    if array.iter().all(|&byte| byte == 0) {
        return Err(IdError::Zero { kind });
    }
    Ok(array)
}

macro_rules! id_type {
    ($name:ident, $len:literal, $kind:literal) => {
        #[doc = concat!("A ", $kind, " of ", $len, " bytes; never all zero.")]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Creates the id from its bytes, rejecting a wrong length or all zeros.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
                from_slice::<$len>($kind, bytes).map(Self)
            }

            /// Returns the id's bytes.
            #[must_use]
            pub fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Returns the lowercase hex form, as `to_string` does but without going
            /// through the formatting machinery.
            #[must_use]
            pub fn to_hex(&self) -> String {
                let mut text = vec![0_u8; $len * 2];
                hex_into(&self.0, &mut text);
                String::from_utf8(text).expect("hex digits are ASCII")
            }

            /// Writes the lowercase hex form into `out` and returns it, for callers that copy
            /// it on and need no `String` of their own.
            pub fn hex_in<'a>(&self, out: &'a mut [u8; 32]) -> &'a str {
                let text = &mut out[..$len * 2];
                hex_into(&self.0, text);
                std::str::from_utf8(text).expect("hex digits are ASCII")
            }
        }

        impl FromStr for $name {
            type Err = IdError;

            /// Parses the hex form, in either case.
            fn from_str(text: &str) -> Result<Self, IdError> {
                let bytes = decode_hex::<$len>($kind, text)?;
                Self::from_bytes(&bytes)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                encode_hex(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(", stringify!($name))?;
                encode_hex(&self.0, f)?;
                f.write_str(")")
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(TraceId, 16, "trace id");
id_type!(SpanId, 8, "span id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_parse_in_either_case() {
        let id: TraceId = "B605723F857A1F38F09C2D99E029D9FF".parse().unwrap();
        assert_eq!(id.to_string(), "b605723f857a1f38f09c2d99e029d9ff");
        let span: SpanId = "79734cada55e979a".parse().unwrap();
        assert_eq!(span.to_string(), "79734cada55e979a");
        assert_eq!(span.to_hex(), "79734cada55e979a");
        assert_eq!(
            format!("{id:?}"),
            "TraceId(b605723f857a1f38f09c2d99e029d9ff)"
        );
    }

    #[test]
    fn wrong_length_zero_and_non_hex_are_rejected() {
        assert!(matches!(
            "79734cada55e97".parse::<SpanId>(),
            Err(IdError::Length { found: 7, .. })
        ));
        assert!(matches!(
            "0000000000000000".parse::<SpanId>(),
            Err(IdError::Zero { .. })
        ));
        assert!(matches!(
            "7973zcada55e979a".parse::<SpanId>(),
            Err(IdError::NotHex { .. })
        ));
        assert!(matches!(
            TraceId::from_bytes(&[1; 8]),
            Err(IdError::Length { expected: 16, .. })
        ));
    }
}
