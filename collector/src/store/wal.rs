//! The write-ahead log: numbered record batches appended to one file and fsynced before a
//! write is acknowledged.
//!
//! Frame layout, little-endian: payload length (u32), CRC-32 of sequence number and payload
//! (u32), sequence number (u64), payload (JSON of [`Records`]). A torn or corrupt frame ends
//! the log: replay keeps the frames before it and cuts the file there.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::model::Records;

use super::StoreError;

const HEADER_BYTES: usize = 16;

/// Largest frame payload replay accepts, so a corrupt length cannot make it allocate
/// without bound. Writes are far smaller because receivers cap request sizes.
const MAX_FRAME_BYTES: usize = 1 << 30;

/// An open write-ahead log.
#[derive(Debug)]
pub(crate) struct Wal {
    path: PathBuf,
    file: File,
}

/// One batch read back from the log.
#[derive(Debug)]
pub(crate) struct Frame {
    pub(crate) seq: u64,
    pub(crate) records: Records,
}

impl Wal {
    /// Opens the log at `path`, reads back every intact frame and cuts a torn tail.
    pub(crate) fn open(path: &Path) -> Result<(Self, Vec<Frame>), StoreError> {
        let io_error = |source| StoreError::Io {
            path: path.to_owned(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io_error)?;
        let (frames, intact_bytes) = read_frames(&mut file).map_err(io_error)?;
        let length = file.metadata().map_err(io_error)?.len();
        if intact_bytes < length {
            tracing::warn!(
                path = %path.display(),
                kept_bytes = intact_bytes,
                cut_bytes = length - intact_bytes,
                "write-ahead log ends in a torn or corrupt frame; cutting it there"
            );
            file.set_len(intact_bytes).map_err(io_error)?;
            file.sync_all().map_err(io_error)?;
        }
        Ok((
            Self {
                path: path.to_owned(),
                file,
            },
            frames,
        ))
    }

    fn io_error(&self, source: io::Error) -> StoreError {
        StoreError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Appends one frame without syncing; [`Wal::sync`] makes it durable.
    pub(crate) fn append(&mut self, seq: u64, records: &Records) -> Result<(), StoreError> {
        let payload = serde_json::to_vec(records).map_err(StoreError::Encode)?;
        let length = u32::try_from(payload.len())
            .ok()
            .filter(|&length| length as usize <= MAX_FRAME_BYTES)
            .ok_or(StoreError::BatchTooLarge {
                bytes: payload.len(),
            })?;
        let mut frame = Vec::with_capacity(HEADER_BYTES + payload.len());
        frame.extend_from_slice(&length.to_le_bytes());
        frame.extend_from_slice(&checksum(seq, &payload).to_le_bytes());
        frame.extend_from_slice(&seq.to_le_bytes());
        frame.extend_from_slice(&payload);
        self.file
            .write_all(&frame)
            .map_err(|error| self.io_error(error))
    }

    /// Flushes appended frames to disk (fdatasync).
    pub(crate) fn sync(&mut self) -> Result<(), StoreError> {
        self.file.sync_data().map_err(|error| self.io_error(error))
    }

    /// Empties the log once every record in it is in a durable Parquet part.
    pub(crate) fn truncate(&mut self) -> Result<(), StoreError> {
        self.file.set_len(0).map_err(|error| self.io_error(error))?;
        self.file.sync_all().map_err(|error| self.io_error(error))
    }

    /// Reads every intact frame again, as replay does.
    pub(crate) fn reread(&mut self) -> Result<Vec<Frame>, StoreError> {
        let (frames, _) = read_frames(&mut self.file).map_err(|error| self.io_error(error))?;
        Ok(frames)
    }

    /// Returns the log's size in bytes.
    #[cfg(test)]
    pub(crate) fn len(&self) -> Result<u64, StoreError> {
        Ok(self
            .file
            .metadata()
            .map_err(|error| self.io_error(error))?
            .len())
    }
}

fn checksum(seq: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&seq.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Reads frames from the start of `file` until the end or the first bad frame. Returns the
/// frames and the number of bytes they span.
fn read_frames(file: &mut File) -> io::Result<(Vec<Frame>, u64)> {
    file.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::new(&mut *file);
    let mut frames = Vec::new();
    let mut offset = 0_u64;
    loop {
        let mut header = [0_u8; HEADER_BYTES];
        match reader.read_exact(&mut header) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(error) => return Err(error),
        }
        let length = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
        let expected = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
        let seq = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
        if length > MAX_FRAME_BYTES {
            break;
        }
        let mut payload = vec![0_u8; length];
        match reader.read_exact(&mut payload) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(error) => return Err(error),
        }
        if checksum(seq, &payload) != expected {
            break;
        }
        let Ok(records) = serde_json::from_slice(&payload) else {
            break;
        };
        frames.push(Frame { seq, records });
        offset += (HEADER_BYTES + length) as u64;
    }
    file.seek(SeekFrom::End(0))?;
    Ok((frames, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_tail_is_cut_and_earlier_frames_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal");
        {
            let (mut wal, frames) = Wal::open(&path).unwrap();
            assert!(frames.is_empty());
            wal.append(1, &Records::default()).unwrap();
            wal.append(2, &Records::default()).unwrap();
            wal.sync().unwrap();
        }
        let full = std::fs::metadata(&path).unwrap().len();
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(full - 3).unwrap();

        let (wal, frames) = Wal::open(&path).unwrap();
        assert_eq!(frames.len(), 1);
        assert_eq!(frames[0].seq, 1);
        assert_eq!(wal.len().unwrap(), full / 2);
    }
}
