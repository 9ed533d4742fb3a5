//! Columns of numbers kept as one string of little-endian bytes, for `#[serde(with)]`: a
//! column decodes in one pass over its bytes instead of one decoder call per number.

use serde::de::Visitor;
use serde::{Deserializer, Serializer};

/// A number, or a fixed group of numbers, with a little-endian encoding of `SIZE` bytes.
pub(crate) trait Le: Copy {
    /// Bytes of one value.
    const SIZE: usize;

    /// Appends the value's bytes to `out`.
    fn put(self, out: &mut Vec<u8>);

    /// Reads a value from its `SIZE` bytes.
    fn get(bytes: &[u8]) -> Self;
}

macro_rules! le_number {
    ($($number:ty),*) => {$(
        impl Le for $number {
            const SIZE: usize = std::mem::size_of::<$number>();

            fn put(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }

            fn get(bytes: &[u8]) -> Self {
                Self::from_le_bytes(bytes.try_into().expect("a value's bytes"))
            }
        }
    )*};
}

le_number!(u32, u64, u128, f64);

impl Le for (u32, u32) {
    const SIZE: usize = 8;

    fn put(self, out: &mut Vec<u8>) {
        self.0.put(out);
        self.1.put(out);
    }

    fn get(bytes: &[u8]) -> Self {
        (u32::get(&bytes[..4]), u32::get(&bytes[4..]))
    }
}

impl Le for [u32; 3] {
    const SIZE: usize = 12;

    fn put(self, out: &mut Vec<u8>) {
        for value in self {
            value.put(out);
        }
    }

    fn get(bytes: &[u8]) -> Self {
        [0, 1, 2].map(|at| u32::get(&bytes[at * 4..at * 4 + 4]))
    }
}

pub(crate) fn serialize<T: Le, S: Serializer>(
    values: &[T],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut bytes = Vec::with_capacity(values.len() * T::SIZE);
    for value in values {
        value.put(&mut bytes);
    }
    serializer.serialize_bytes(&bytes)
}

pub(crate) fn deserialize<'de, T: Le, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<T>, D::Error> {
    struct Values<T>(std::marker::PhantomData<T>);

    impl<T: Le> Visitor<'_> for Values<T> {
        type Value = Vec<T>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(formatter, "little-endian values of {} bytes", T::SIZE)
        }

        fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Self::Value, E> {
            if !bytes.len().is_multiple_of(T::SIZE) {
                return Err(E::invalid_length(bytes.len(), &self));
            }
            Ok(bytes.chunks_exact(T::SIZE).map(T::get).collect())
        }
    }

    deserializer.deserialize_bytes(Values(std::marker::PhantomData))
}

#[cfg(test)]
mod tests {
    /// A column of each kind decodes to the values it was encoded from, and a string of
    /// bytes that is not a whole number of values is refused.
    #[test]
    fn columns_round_trip() {
        #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        struct Columns {
            #[serde(with = "super")]
            floats: Vec<f64>,
            #[serde(with = "super")]
            pairs: Vec<(u32, u32)>,
            #[serde(with = "super")]
            ends: Vec<[u32; 3]>,
            #[serde(with = "super")]
            ids: Vec<u128>,
        }
        let columns = Columns {
            floats: vec![1.5, -0.0, f64::INFINITY, 1e-300],
            pairs: vec![(1, u32::MAX), (7, 0)],
            ends: vec![[1, 2, 3], [u32::MAX, 0, 9]],
            ids: vec![u128::MAX, 0x0123_4567_89ab_cdef_0011_2233_4455_6677],
        };
        let config = bincode::config::standard().with_fixed_int_encoding();
        let bytes = bincode::serde::encode_to_vec(&columns, config).unwrap();
        let (decoded, read): (Columns, usize) =
            bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(read, bytes.len());
        assert_eq!(decoded, columns);

        let odd = bincode::serde::encode_to_vec(serde_bytes_of(&[0_u8; 7]), config).unwrap();
        let rejected: Result<(OneColumn, usize), _> =
            bincode::serde::decode_from_slice(&odd, config);
        assert!(rejected.is_err());
    }

    #[derive(serde::Deserialize)]
    struct OneColumn {
        #[serde(with = "super")]
        #[allow(dead_code)]
        values: Vec<f64>,
    }

    /// Bytes that encode as one string of bytes.
    fn serde_bytes_of(bytes: &[u8]) -> impl serde::Serialize + '_ {
        struct Bytes<'a>(&'a [u8]);
        impl serde::Serialize for Bytes<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_bytes(self.0)
            }
        }
        (Bytes(bytes),)
    }
}
