//! Request bodies: bounded decompression of gzip and zstd.

use std::io::Read;

use bytes::Bytes;

/// Failure to decode a request body's content encoding.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The encoding is not gzip, zstd or identity.
    #[error("unsupported content encoding `{0}`: send gzip, zstd or identity")]
    UnsupportedEncoding(String),
    /// The body inflates past the limit; it was not inflated further.
    #[error(
        "body inflates past {limit} bytes, the collector's limit (`spanbill collect \
         --max-decompressed-bytes`); send smaller batches"
    )]
    TooLarge {
        /// Inflated size limit in bytes.
        limit: usize,
    },
    /// The compressed data is corrupt.
    #[error("invalid {encoding} data: {source}")]
    Corrupt {
        /// `gzip` or `zstd`.
        encoding: &'static str,
        /// The decoder's error.
        source: std::io::Error,
    },
}

/// Decodes `body` by its `Content-Encoding`, reading at most `limit` inflated bytes, so a
/// compression bomb costs no more than `limit` bytes of memory.
pub fn decode(encoding: Option<&str>, body: Bytes, limit: usize) -> Result<Bytes, BodyError> {
    let encoding = encoding.map_or("identity", str::trim);
    match encoding.to_ascii_lowercase().as_str() {
        "" | "identity" => {
            if body.len() > limit {
                return Err(BodyError::TooLarge { limit });
            }
            Ok(body)
        }
        "gzip" | "x-gzip" => {
            read_bounded(flate2::read::MultiGzDecoder::new(&body[..]), "gzip", limit)
                .map(Bytes::from)
        }
        "zstd" => {
            let decoder = zstd::stream::read::Decoder::new(&body[..]).map_err(|source| {
                BodyError::Corrupt {
                    encoding: "zstd",
                    source,
                }
            })?;
            read_bounded(decoder, "zstd", limit).map(Bytes::from)
        }
        other => Err(BodyError::UnsupportedEncoding(other.to_owned())),
    }
}

fn read_bounded(
    reader: impl Read,
    encoding: &'static str,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let mut inflated = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|source| BodyError::Corrupt { encoding, source })?;
    if inflated.len() > limit {
        return Err(BodyError::TooLarge { limit });
    }
    Ok(inflated)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn gzip_bomb_stops_at_limit() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        encoder.write_all(&vec![0_u8; 16 << 20]).unwrap();
        let bomb = encoder.finish().unwrap();
        assert!(bomb.len() < 1 << 20);
        assert!(matches!(
            decode(Some("gzip"), bomb.into(), 1 << 20),
            Err(BodyError::TooLarge { .. })
        ));
    }

    #[test]
    fn zstd_round_trip_and_unknown_encoding() {
        let compressed = zstd::encode_all(&b"hello"[..], 3).unwrap();
        assert_eq!(
            decode(Some("zstd"), compressed.into(), 100).unwrap(),
            &b"hello"[..]
        );
        assert!(matches!(
            decode(Some("br"), Bytes::from_static(b"x"), 100),
            Err(BodyError::UnsupportedEncoding(_))
        ));
    }
}
