//! The durable store: three Hive-partitioned Parquet datasets fed through a write-ahead log.
//!
//! Layout: `<data dir>/<table>/date=YYYY-MM-DD/part-<first>-<last>.parquet` for the tables
//! `spans`, `metrics` and `invocations`, and `<data dir>/wal/segment-<first>.log`.
//!
//! - A write is acknowledged once its batch is in the write-ahead log and fsynced. Writes
//!   waiting together share one fsync (group commit). The log stores an OTLP write as its
//!   request, in protobuf or JSON as it arrived ([`OtlpRequest`]), and any other write as
//!   JSON of its records.
//! - Every write gets a sequence number. Parts name the range of writes they hold, and
//!   every row carries its write's number in the `seq` column.
//! - Parquet parts are written by a thread of their own while the writer goes on appending
//!   to a new log segment. Parts are written under a temporary name, fsynced, renamed and
//!   their directory fsynced. A segment is deleted only after all parts that hold its
//!   records are durable.
//! - Opening the store replays the log: records whose part exists are skipped, the rest are
//!   flushed, so a crash at any point neither loses nor duplicates an acknowledged record.
//! - The write queue is bounded, and so is the buffer of records not yet in Parquet: a full
//!   buffer waits for the running flush, and writes wait in the queue meanwhile.
//!   [`Store::try_write`] fails with [`StoreError::Busy`] when the queue is full, which
//!   receivers report as 429/503 or gRPC `UNAVAILABLE`.
//! - [`Store::subscribe`] is the live feed: a broadcast of every acknowledged batch with a
//!   bounded buffer. A slow subscriber misses batches and receives their count instead, so
//!   it never slows writes. Receivers that read trace requests straight into columns
//!   ([`Store::has_subscribers`]) do so only while nothing subscribes, so the feed gets
//!   every batch that is written while it has subscribers.

mod buffer;
pub(crate) mod columns;
mod merge;
mod parts;
mod query;
mod wal;
mod writer;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{broadcast, oneshot};

use crate::model::Records;

pub use parts::live_parts;
pub use query::{DateRange, partitions, scan};

pub use wal::OtlpRequest;

pub(crate) use buffer::WriteFrames;
use writer::{Command, Writer};

/// A table of the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// `spans`.
    Spans,
    /// `metrics`.
    Metrics,
    /// `invocations`.
    Invocations,
}

impl Table {
    /// All tables.
    pub const ALL: [Self; 3] = [Self::Spans, Self::Metrics, Self::Invocations];

    /// Returns the table's directory name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Spans => "spans",
            Self::Metrics => "metrics",
            Self::Invocations => "invocations",
        }
    }
}

/// Settings of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// Writes that may wait for the writer thread; more fail with [`StoreError::Busy`].
    /// Default 64.
    pub queue_capacity: usize,
    /// Buffered rows that trigger a flush to Parquet. Default 16 384. The store keeps at
    /// most about twice this many records in memory: a full buffer and the one being
    /// written, each up to one group commit past the limit. While no flush can start, the
    /// buffer grows to twice the limit and later writes are rejected as unavailable.
    pub max_buffered_rows: usize,
    /// Maximum time a record waits in the log before a flush. Default 10 s.
    pub flush_interval: Duration,
    /// Batches the live feed keeps for a slow subscriber. Default 1024.
    pub feed_capacity: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 64,
            max_buffered_rows: 16_384,
            flush_interval: Duration::from_secs(10),
            feed_capacity: 1024,
        }
    }
}

/// Failure of a store operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file or directory operation failed.
    #[error("store i/o failed at `{path}`: {source}")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Writing or reading Parquet failed.
    #[error("parquet failed at `{path}`: {source}")]
    Parquet {
        /// File or directory.
        path: PathBuf,
        /// The underlying error.
        source: polars::error::PolarsError,
    },
    /// A batch could not be encoded for the log.
    #[error("encoding a batch for the write-ahead log failed: {0}")]
    Encode(serde_json::Error),
    /// A batch is too large for one log frame.
    #[error("batch of {bytes} bytes is too large for the write-ahead log; split it")]
    BatchTooLarge {
        /// Encoded size.
        bytes: usize,
    },
    /// The write queue is full; retry after the given time.
    #[error("store is busy: write queue full, retry after {} s", retry_after.as_secs())]
    Busy {
        /// Suggested wait before a retry.
        retry_after: Duration,
    },
    /// The store cannot take writes now (the log failed, or it is shutting down).
    #[error("store unavailable: {reason}")]
    Unavailable {
        /// What failed.
        reason: String,
    },
    /// Another process has the data directory open for writing.
    #[error(
        "data directory `{}` is in use by another spanbill collect or ingest{}: stop that \
         process first, or give this one another --data-dir",
        path.display(),
        holder.map_or_else(String::new, |pid| format!(" (process {pid})"))
    )]
    InUse {
        /// The data directory.
        path: PathBuf,
        /// Process id that the lock file names, when it names one.
        holder: Option<u32>,
    },
}

/// File in the data directory that an open store holds an exclusive lock on. It contains
/// the process id of the holder, for the error of a second process.
const LOCK_FILE: &str = "spanbill.lock";

/// Takes the exclusive lock of `data_dir`, which lasts until the returned file is closed.
/// The operating system releases it when the process ends, so a crash leaves no stale lock.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File, StoreError> {
    let path = data_dir.join(LOCK_FILE);
    let io_error = |source| StoreError::Io {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_error)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path)
                .ok()
                .and_then(|text| text.trim().parse().ok());
            return Err(StoreError::InUse {
                path: data_dir.to_owned(),
                holder,
            });
        }
        Err(std::fs::TryLockError::Error(source)) => return Err(io_error(source)),
    }
    file.set_len(0).map_err(io_error)?;
    writeln!(file, "{}", std::process::id()).map_err(io_error)?;
    Ok(file)
}

/// Counts of what a store wrote since it opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreTotals {
    /// Acknowledged writes.
    pub writes: u64,
    /// Writes rejected because the log failed.
    pub failed_writes: u64,
    /// Acknowledged spans.
    pub spans: u64,
    /// Acknowledged metric points.
    pub metrics: u64,
    /// Acknowledged invocations.
    pub invocations: u64,
    /// Parquet parts written.
    pub parts: u64,
    /// Records replayed from the log at open.
    pub replayed: u64,
}

/// One acknowledged write, as the live feed delivers it.
#[derive(Debug, Clone)]
pub struct FeedBatch {
    /// Sequence number of the write.
    pub seq: u64,
    /// Its records.
    pub records: Arc<Records>,
}

/// Event delivered to a live feed subscriber.
#[derive(Debug, Clone)]
pub enum FeedEvent {
    /// The next acknowledged write.
    Batch(FeedBatch),
    /// The subscriber fell behind and this many writes were dropped for it.
    Missed(u64),
}

/// A live feed subscription.
#[derive(Debug)]
pub struct FeedReceiver {
    receiver: broadcast::Receiver<FeedBatch>,
}

impl FeedReceiver {
    /// Waits for the next event; `None` once the store has shut down.
    pub async fn recv(&mut self) -> Option<FeedEvent> {
        match self.receiver.recv().await {
            Ok(batch) => Some(FeedEvent::Batch(batch)),
            Err(broadcast::error::RecvError::Lagged(missed)) => Some(FeedEvent::Missed(missed)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

/// A write accepted into the queue; resolves once it is durable in the log.
#[derive(Debug)]
pub struct PendingWrite {
    ack: oneshot::Receiver<Result<u64, StoreError>>,
    /// The write's records, kept so that the caller's thread, which allocated them, is
    /// usually the one that frees them: the writer thread lets go of its reference before
    /// it acknowledges the write.
    _records: Option<Arc<Records>>,
}

impl PendingWrite {
    /// Waits until the write is fsynced and returns its sequence number.
    pub async fn durable(self) -> Result<u64, StoreError> {
        self.ack.await.unwrap_or_else(|_| Err(shut_down()))
    }

    /// Blocks the thread until the write is fsynced; for callers outside a runtime.
    pub fn durable_blocking(self) -> Result<u64, StoreError> {
        self.ack
            .blocking_recv()
            .unwrap_or_else(|_| Err(shut_down()))
    }
}

fn shut_down() -> StoreError {
    StoreError::Unavailable {
        reason: "the store is shut down".to_owned(),
    }
}

/// An open store. Cloning is cheap; every clone writes to the same writer thread.
#[derive(Debug, Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    data_dir: PathBuf,
    queue: SyncSender<Command>,
    feed: broadcast::Sender<FeedBatch>,
    options: StoreOptions,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
    replayed: u64,
}

impl Store {
    /// Opens the store in `data_dir`, creating it when missing, and replays the write-ahead
    /// log left by an earlier run.
    pub fn open(data_dir: &Path, options: StoreOptions) -> Result<Self, StoreError> {
        let wal_dir = data_dir.join("wal");
        std::fs::create_dir_all(&wal_dir).map_err(|source| StoreError::Io {
            path: wal_dir.clone(),
            source,
        })?;
        // Two writers replaying and truncating one log would lose or duplicate records.
        let lock = lock_data_dir(data_dir)?;
        let (feed, _) = broadcast::channel(options.feed_capacity.max(1));
        let (writer, replayed) = Writer::open(data_dir, &wal_dir, options, feed.clone())?;

        let (queue, receiver) = sync_channel(options.queue_capacity.max(1));
        let thread = std::thread::Builder::new()
            .name("spanbill-store".to_owned())
            .spawn(move || {
                // Held until the writer has flushed its last part and stopped.
                let _lock = lock;
                writer.run(&receiver);
            })
            .map_err(|source| StoreError::Io {
                path: data_dir.to_owned(),
                source,
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                data_dir: data_dir.to_owned(),
                queue,
                feed,
                options,
                thread: std::sync::Mutex::new(Some(thread)),
                replayed,
            }),
        })
    }

    /// Returns the data directory.
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    /// Returns the number of records replayed from the log at open.
    #[must_use]
    pub fn replayed(&self) -> u64 {
        self.inner.replayed
    }

    /// Queues a write without waiting; fails with [`StoreError::Busy`] when the queue is
    /// full. Await [`PendingWrite::durable`] before acknowledging the write to a client.
    pub fn try_write(&self, records: Records) -> Result<PendingWrite, StoreError> {
        let payload = wal::records_payload(&records)?;
        let frames = self.build_frames(&records)?;
        self.try_send(Some(records), frames, payload)
    }

    /// Queues the records converted from an OTLP request, as [`Store::try_write`] does. The
    /// log stores `request` instead of the records, so `records` must be what
    /// [`convert_traces`](crate::otlp::convert_traces) or
    /// [`convert_metrics`](crate::otlp::convert_metrics) returns for it with its limits:
    /// replay after a crash converts the request again.
    pub fn try_write_otlp(
        &self,
        records: Records,
        request: &OtlpRequest,
    ) -> Result<PendingWrite, StoreError> {
        let payload = wal::otlp_payload(request)?;
        let frames = self.build_frames(&records)?;
        self.try_send(Some(records), frames, payload)
    }

    /// Stores the `frames` of spans read straight from an OTLP request body, without
    /// records, and logs `request`. The live feed does not see these spans, so readers use
    /// this only while nothing subscribes to it ([`Store::has_subscribers`]).
    pub(crate) fn try_write_frames(
        &self,
        frames: WriteFrames,
        request: &OtlpRequest,
    ) -> Result<PendingWrite, StoreError> {
        let payload = wal::otlp_payload(request)?;
        self.try_send(None, frames, payload)
    }

    /// Returns true while something subscribes to the live feed.
    #[must_use]
    pub fn has_subscribers(&self) -> bool {
        self.inner.feed.receiver_count() > 0
    }

    fn try_send(
        &self,
        records: Option<Records>,
        frames: WriteFrames,
        payload: wal::Payload,
    ) -> Result<PendingWrite, StoreError> {
        let (ack, receiver) = oneshot::channel();
        let records = records.map(Arc::new);
        let command = Command::Write {
            records: records.clone(),
            frames,
            payload,
            ack,
        };
        match self.inner.queue.try_send(command) {
            Ok(()) => Ok(PendingWrite {
                ack: receiver,
                _records: records,
            }),
            Err(TrySendError::Full(_)) => Err(StoreError::Busy {
                retry_after: writer::retry_after(&self.inner.options),
            }),
            Err(TrySendError::Disconnected(_)) => Err(shut_down()),
        }
    }

    /// Queues a write, blocking the thread while the queue is full, and waits until it is
    /// durable. For batch callers such as `spanbill ingest`, not for async tasks.
    pub fn write_blocking(&self, records: Records) -> Result<u64, StoreError> {
        let payload = wal::records_payload(&records)?;
        let (ack, receiver) = oneshot::channel();
        let frames = self.build_frames(&records)?;
        let records = Arc::new(records);
        let command = Command::Write {
            records: Some(Arc::clone(&records)),
            frames,
            payload,
            ack,
        };
        self.inner.queue.send(command).map_err(|_| shut_down())?;
        PendingWrite {
            ack: receiver,
            _records: Some(records),
        }
        .durable_blocking()
    }

    /// Builds the Parquet columns of `records` on the calling thread.
    fn build_frames(&self, records: &Records) -> Result<WriteFrames, StoreError> {
        WriteFrames::build(records).map_err(|source| StoreError::Parquet {
            path: self.inner.data_dir.clone(),
            source,
        })
    }

    /// Writes everything acknowledged so far to Parquet parts and empties the log, blocking
    /// the thread until done.
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        let (ack, receiver) = oneshot::channel();
        self.inner
            .queue
            .send(Command::Flush { ack })
            .map_err(|_| shut_down())?;
        receiver
            .blocking_recv()
            .unwrap_or_else(|_| Err(shut_down()))
    }

    /// Flushes, stops the writer thread and returns the totals. Later writes through any
    /// clone fail with [`StoreError::Unavailable`].
    pub fn shutdown_blocking(&self) -> Result<StoreTotals, StoreError> {
        let (ack, receiver) = oneshot::channel();
        self.inner
            .queue
            .send(Command::Shutdown { ack })
            .map_err(|_| shut_down())?;
        let totals = receiver
            .blocking_recv()
            .unwrap_or_else(|_| Err(shut_down()))?;
        let thread = self
            .inner
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        Ok(totals)
    }

    /// Subscribes to the live feed of acknowledged writes.
    #[must_use]
    pub fn subscribe(&self) -> FeedReceiver {
        FeedReceiver {
            receiver: self.inner.feed.subscribe(),
        }
    }
}

/// Deletes `paths`, files in `dir`, and then fsyncs `dir` so that the deletion is durable.
/// Files that are already gone are skipped.
pub(crate) fn remove_files(dir: &Path, paths: &[PathBuf]) -> Result<(), StoreError> {
    if paths.is_empty() {
        return Ok(());
    }
    for path in paths {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.clone(),
                    source,
                });
            }
        }
    }
    sync_dir(dir)
}

/// Fsyncs the directory `dir`, so that the files created, renamed or deleted in it stay so
/// after a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{MetricKind, MetricPoint, PointValue, Span, SpanKind, StatusCode};

    const DAY_NS: u64 = 1_717_000_000_000_000_000;

    fn span(index: u8) -> Span {
        Span {
            trace_id: crate::model::TraceId::from_bytes(&[7; 16]).unwrap(),
            span_id: crate::model::SpanId::from_bytes(&[index; 8]).unwrap(),
            parent_span_id: None,
            trace_state: None,
            flags: 1,
            name: format!("span {index}"),
            kind: SpanKind::Server,
            start_ns: DAY_NS,
            end_ns: DAY_NS + 5,
            status: StatusCode::Unset,
            status_message: None,
            service_name: None,
            service_version: None,
            faas_name: None,
            faas_invocation_id: None,
            faas_coldstart: None,
            faas_trigger: None,
            links: Vec::new(),
            events: Vec::new(),
            attributes: Vec::new(),
            resource_attributes: Arc::default(),
            scope_name: None,
            scope_version: None,
        }
    }

    fn point(value: i64) -> MetricPoint {
        MetricPoint {
            name: "orders.created".to_owned(),
            description: None,
            unit: None,
            kind: MetricKind::Sum,
            temporality: None,
            monotonic: None,
            start_ns: None,
            time_ns: DAY_NS,
            value: PointValue::Int(value),
            flags: 0,
            attributes: Vec::new(),
            resource_attributes: Arc::default(),
            service_name: None,
            scope_name: None,
        }
    }

    fn batch(index: u8) -> Records {
        Records {
            spans: vec![span(index)],
            metrics: vec![point(i64::from(index))],
            invocations: Vec::new(),
        }
    }

    fn seqs(data_dir: &Path, table: Table) -> Vec<u64> {
        let frame = scan(data_dir, table, DateRange::default())
            .unwrap()
            .unwrap()
            .collect()
            .unwrap();
        let mut seqs: Vec<u64> = frame
            .column("seq")
            .unwrap()
            .u64()
            .unwrap()
            .into_no_null_iter()
            .collect();
        seqs.sort_unstable();
        seqs
    }

    fn wal_files(data_dir: &Path) -> Vec<(String, u64)> {
        let mut files: Vec<(String, u64)> = std::fs::read_dir(data_dir.join("wal"))
            .unwrap()
            .map(|entry| {
                let entry = entry.unwrap();
                let name = entry.file_name().to_string_lossy().into_owned();
                (name, entry.metadata().unwrap().len())
            })
            .collect();
        files.sort();
        files
    }

    /// Writes `batches` to a log segment that starts at `first_seq`, as a writer that
    /// crashed before flushing them leaves it.
    fn write_segment(data_dir: &Path, first_seq: u64, batches: &[(u64, Records)]) {
        let wal_dir = data_dir.join("wal");
        std::fs::create_dir_all(&wal_dir).unwrap();
        let mut segment = wal::Wal::create(&wal_dir, first_seq).unwrap();
        for (seq, records) in batches {
            segment.append(*seq, &wal::records_payload(records).unwrap());
        }
        segment.sync().unwrap();
    }

    /// Writes the part of `table` that a flush of `batches` writes, as a flush that crashed
    /// after that part leaves it.
    fn write_one_part(data_dir: &Path, table: Table, batches: &[(u64, Records)]) {
        let mut buffer = buffer::Buffer::default();
        for (seq, records) in batches {
            buffer.push_records(*seq, records).unwrap();
        }
        let parts = buffer.parts();
        let part = parts.iter().find(|part| part.table == table).unwrap();
        let name = parts::PartName {
            range: part.range,
            merged: false,
        };
        parts::write_part(data_dir, table, part.date, name, part.row_groups()).unwrap();
    }

    #[test]
    fn store_open_twice_fails() {
        let dir = tempfile::tempdir().unwrap();
        let first = Store::open(dir.path(), StoreOptions::default()).unwrap();
        first.write_blocking(batch(1)).unwrap();

        let error = Store::open(dir.path(), StoreOptions::default()).unwrap_err();
        let StoreError::InUse { path, holder } = &error else {
            panic!("expected InUse, got {error}");
        };
        assert_eq!(path, dir.path());
        assert_eq!(*holder, Some(std::process::id()));
        let message = error.to_string();
        assert!(message.contains("--data-dir"), "{message}");
        assert!(
            message.contains(&format!("process {}", std::process::id())),
            "{message}"
        );

        // The lock ends with the writer, so the next run replays nothing twice.
        first.shutdown_blocking().unwrap();
        let second = Store::open(dir.path(), StoreOptions::default()).unwrap();
        assert_eq!(second.replayed(), 0);
        second.shutdown_blocking().unwrap();
        assert_eq!(seqs(dir.path(), Table::Spans), vec![1]);
    }

    #[test]
    fn replay_past_damaged_frame() {
        let dir = tempfile::tempdir().unwrap();
        write_segment(
            dir.path(),
            1,
            &[(1, batch(1)), (2, batch(2)), (3, batch(3))],
        );
        let segment = dir.path().join("wal/segment-00000000000000000001.log");
        let mut data = std::fs::read(&segment).unwrap();
        // Bytes inside the payload of write 1, after its 16-byte frame header.
        data[40..56].fill(0xAB);
        std::fs::write(&segment, &data).unwrap();

        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        store.shutdown_blocking().unwrap();
        assert_eq!(seqs(dir.path(), Table::Spans), vec![2, 3]);
        let copy = (
            "segment-00000000000000000001.log.damaged".to_owned(),
            data.len() as u64,
        );
        assert_eq!(wal_files(dir.path()), vec![copy]);
    }

    #[test]
    fn replay_after_partial_flush_skips_written_parts() {
        let dir = tempfile::tempdir().unwrap();
        write_segment(dir.path(), 1, &[(1, batch(1)), (2, batch(2))]);
        // A flush that crashed after the spans part of write 1 and before anything else.
        write_one_part(dir.path(), Table::Spans, &[(1, batch(1))]);

        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        assert_eq!(store.replayed(), 3);
        assert_eq!(seqs(dir.path(), Table::Spans), vec![1, 2]);
        assert_eq!(seqs(dir.path(), Table::Metrics), vec![1, 2]);

        let seq = store.write_blocking(batch(3)).unwrap();
        assert_eq!(seq, 3);
        store.shutdown_blocking().unwrap();
        assert_eq!(seqs(dir.path(), Table::Spans), vec![1, 2, 3]);
        assert_eq!(wal_files(dir.path()), Vec::new());
    }

    #[test]
    fn replay_after_crash_during_background_flush() {
        let dir = tempfile::tempdir().unwrap();
        // The writer handed writes 1 and 2 to the flush thread and went on with write 3 in a
        // new segment. The flush thread wrote the metrics part of the first segment and
        // crashed while writing its spans part, leaving a temporary file.
        let first = [(1, batch(1)), (2, batch(2))];
        write_segment(dir.path(), 1, &first);
        write_segment(dir.path(), 3, &[(3, batch(3))]);
        write_one_part(dir.path(), Table::Metrics, &first);
        let partition = dir.path().join("spans/date=2024-05-29");
        std::fs::create_dir_all(&partition).unwrap();
        std::fs::write(partition.join(".tmp-part-1-2.parquet"), b"PAR1 torn").unwrap();

        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        assert_eq!(store.replayed(), 4, "spans 1 to 3 and metric point 3");
        assert_eq!(seqs(dir.path(), Table::Spans), vec![1, 2, 3]);
        assert_eq!(seqs(dir.path(), Table::Metrics), vec![1, 2, 3]);
        assert!(!partition.join(".tmp-part-1-2.parquet").exists());
        assert_eq!(store.write_blocking(batch(4)).unwrap(), 4);
        store.shutdown_blocking().unwrap();
        assert_eq!(seqs(dir.path(), Table::Spans), vec![1, 2, 3, 4]);
        assert_eq!(wal_files(dir.path()), Vec::new());
    }

    /// Options under which every write of a [`batch`] (2 rows) fills the buffer and starts
    /// a flush, and no flush starts on a timer.
    fn flush_on_every_write() -> StoreOptions {
        StoreOptions {
            max_buffered_rows: 2,
            flush_interval: Duration::from_hours(1),
            ..StoreOptions::default()
        }
    }

    /// Rows that share a resource share its text in memory; the parts keep each row's text.
    #[test]
    fn parts_keep_shared_resource_text() {
        use crate::model::{AttributeValue, KeyValue, attributes_to_json_text};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let resource = |region: &str| {
            Arc::new(vec![
                KeyValue {
                    key: "service.name".to_owned(),
                    value: AttributeValue::String("orders-api".to_owned()),
                },
                KeyValue {
                    key: "cloud.region".to_owned(),
                    value: AttributeValue::String(region.to_owned()),
                },
            ])
        };
        let (west, east) = (resource("eu-west-1"), resource("us-east-1"));
        let mut expected = Vec::new();
        for (write, shared) in [&west, &east, &west, &west].into_iter().enumerate() {
            let spans: Vec<Span> = (0..5_u8)
                .map(|index| Span {
                    resource_attributes: Arc::clone(shared),
                    ..span(u8::try_from(write).unwrap() * 10 + index + 1)
                })
                .collect();
            for span in &spans {
                expected.push((span.span_id.to_hex(), attributes_to_json_text(shared)));
            }
            store
                .write_blocking(Records {
                    spans,
                    ..Records::default()
                })
                .unwrap();
        }
        store.shutdown_blocking().unwrap();

        let frame = scan(dir.path(), Table::Spans, DateRange::default())
            .unwrap()
            .unwrap()
            .collect()
            .unwrap();
        let column = |name: &str| -> Vec<String> {
            frame
                .column(name)
                .unwrap()
                .str()
                .unwrap()
                .iter()
                .map(|text| text.unwrap().to_owned())
                .collect()
        };
        let mut stored: Vec<(String, String)> = column("span_id")
            .into_iter()
            .zip(column("resource_attributes"))
            .collect();
        stored.sort();
        expected.sort();
        assert_eq!(stored, expected);
    }

    #[test]
    fn full_buffer_rotates_to_new_segment() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), flush_on_every_write()).unwrap();
        for index in 1..=20 {
            store.write_blocking(batch(index)).unwrap();
        }
        store.flush_blocking().unwrap();
        // Every flushed segment is gone; the writer appends to a new, empty one.
        assert_eq!(
            wal_files(dir.path()),
            vec![("segment-00000000000000000021.log".to_owned(), 0)]
        );
        let seqs_written: Vec<u64> = (1..=20).collect();
        assert_eq!(seqs(dir.path(), Table::Spans), seqs_written);
        assert_eq!(seqs(dir.path(), Table::Metrics), seqs_written);

        let totals = store.shutdown_blocking().unwrap();
        assert_eq!(totals.writes, 20);
        assert!(totals.parts >= 2, "{} parts", totals.parts);
        assert_eq!(wal_files(dir.path()), Vec::new());
    }

    #[test]
    fn failed_segment_start_rejects_writes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), flush_on_every_write()).unwrap();
        // The open segment stays writable, but no new segment can be created: the log
        // directory's path now names a file.
        let wal_dir = dir.path().join("wal");
        let moved = dir.path().join("wal-moved");
        std::fs::rename(&wal_dir, &moved).unwrap();
        std::fs::write(&wal_dir, b"").unwrap();

        assert_eq!(store.write_blocking(batch(1)).unwrap(), 1);
        assert_eq!(store.write_blocking(batch(2)).unwrap(), 2);
        let rejected = store.write_blocking(batch(3));
        assert!(
            matches!(rejected, Err(StoreError::Unavailable { .. })),
            "{rejected:?}"
        );

        std::fs::remove_file(&wal_dir).unwrap();
        std::fs::rename(&moved, &wal_dir).unwrap();
        // The waiting flush starts before the next write at the latest, so it is accepted.
        assert_eq!(store.write_blocking(batch(4)).unwrap(), 3);
        assert_eq!(store.write_blocking(batch(5)).unwrap(), 4);
        let totals = store.shutdown_blocking().unwrap();
        assert_eq!(totals.writes, 4);
        assert_eq!(totals.failed_writes, 1);
        assert_eq!(seqs(dir.path(), Table::Spans), vec![1, 2, 3, 4]);
        assert_eq!(wal_files(dir.path()), Vec::new());
    }

    #[test]
    fn acknowledged_otlp_write_replays_after_crash() {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
        use prost::Message as _;

        let live = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            flush_interval: Duration::from_hours(1),
            ..StoreOptions::default()
        };
        let store = Store::open(live.path(), options).unwrap();
        let spans = (1..=3_u8)
            .map(|index| opentelemetry_proto::tonic::trace::v1::Span {
                trace_id: vec![9; 16],
                span_id: vec![index; 8],
                name: format!("span {index}"),
                start_time_unix_nano: DAY_NS,
                end_time_unix_nano: DAY_NS + 10,
                ..Default::default()
            })
            .collect();
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        let limits = crate::otlp::Limits::default();
        let records = crate::otlp::convert_traces(request.clone(), &limits).records;
        let logged = OtlpRequest::Traces {
            body: request.encode_to_vec().into(),
            encoding: crate::otlp::Encoding::Protobuf,
            limits,
        };
        let write = store.try_write_otlp(records.clone(), &logged).unwrap();
        write.durable_blocking().unwrap();

        // A copy of the data directory now is what a SIGKILL would leave: the write is in
        // the log and in no part.
        let crashed = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(crashed.path().join("wal")).unwrap();
        for (name, _) in wal_files(live.path()) {
            std::fs::copy(
                live.path().join("wal").join(&name),
                crashed.path().join("wal").join(&name),
            )
            .unwrap();
        }
        store.shutdown_blocking().unwrap();

        let replayed = Store::open(crashed.path(), StoreOptions::default()).unwrap();
        assert_eq!(replayed.replayed(), 3);
        replayed.shutdown_blocking().unwrap();
        let frame = scan(crashed.path(), Table::Spans, DateRange::default())
            .unwrap()
            .unwrap()
            .collect()
            .unwrap();
        let names_column = frame.column("name").unwrap().str().unwrap();
        let mut names: Vec<&str> = (0..frame.height())
            .map(|row| names_column.get(row).unwrap())
            .collect();
        names.sort_unstable();
        assert_eq!(names, ["span 1", "span 2", "span 3"]);
        assert_eq!(seqs(crashed.path(), Table::Spans), vec![1, 1, 1]);
    }

    #[test]
    fn date_range_prunes_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
        let mut next_day = batch(2);
        next_day.spans[0].start_ns += 86_400_000_000_000;
        next_day.spans[0].end_ns += 86_400_000_000_000;
        store.write_blocking(batch(1)).unwrap();
        store.write_blocking(next_day).unwrap();
        store.shutdown_blocking().unwrap();

        let day = time::macros::date!(2024 - 05 - 30);
        let range = DateRange {
            from: Some(day),
            to: Some(day),
        };
        let frame = scan(dir.path(), Table::Spans, range)
            .unwrap()
            .unwrap()
            .collect()
            .unwrap();
        assert_eq!(frame.height(), 1);
        let date = frame.column("date").unwrap().str().unwrap().get(0);
        assert_eq!(date, Some("2024-05-30"));
        assert!(
            scan(dir.path(), Table::Invocations, range)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn full_queue_reports_busy() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            queue_capacity: 1,
            ..StoreOptions::default()
        };
        let store = Store::open(dir.path(), options).unwrap();
        let mut busy = 0;
        let mut pending = Vec::new();
        for index in 1..=50 {
            match store.try_write(batch(index)) {
                Ok(write) => pending.push(write),
                Err(StoreError::Busy { retry_after }) => {
                    assert!(retry_after >= Duration::from_secs(1));
                    busy += 1;
                }
                Err(error) => panic!("{error}"),
            }
        }
        assert!(busy > 0, "a queue of one never filled");
        for write in pending {
            write.durable_blocking().unwrap();
        }
        store.shutdown_blocking().unwrap();
    }

    #[test]
    fn slow_feed_subscriber_is_told_what_it_missed() {
        let dir = tempfile::tempdir().unwrap();
        let options = StoreOptions {
            feed_capacity: 2,
            ..StoreOptions::default()
        };
        let store = Store::open(dir.path(), options).unwrap();
        let mut feed = store.subscribe();
        for index in 1..=5 {
            store.write_blocking(batch(index)).unwrap();
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let Some(FeedEvent::Missed(missed)) = runtime.block_on(feed.recv()) else {
            panic!("a subscriber behind by 5 writes with room for 2 was not told it missed some");
        };
        assert!(missed >= 1, "missed {missed}");
        let Some(FeedEvent::Batch(next)) = runtime.block_on(feed.recv()) else {
            panic!("no batch after the missed ones");
        };
        assert_eq!(next.seq, 1 + missed);
        store.shutdown_blocking().unwrap();
    }

    /// Returns the partition directory of `table` on the test day.
    fn test_partition(data_dir: &Path, table: Table) -> PathBuf {
        data_dir
            .join(table.name())
            .join(parts::partition_name(buffer::span_date(&span(1))))
    }

    /// Lists the part file names of `table` on the test day, sorted.
    fn part_names(data_dir: &Path, table: Table) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(test_partition(data_dir, table))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn part_name(first: u64, last: u64, merged: bool) -> String {
        let suffix = if merged { "-merged" } else { "" };
        format!("part-{first:020}-{last:020}{suffix}.parquet")
    }

    /// Options under which a flush starts only on request.
    fn flush_on_request() -> StoreOptions {
        StoreOptions {
            flush_interval: Duration::from_hours(1),
            ..StoreOptions::default()
        }
    }

    /// Writes a [`batch`] for each of `indices` and flushes after each, so that each write
    /// has parts of its own.
    fn write_each_flushed(store: &Store, indices: std::ops::RangeInclusive<u8>) {
        for index in indices {
            store.write_blocking(batch(index)).unwrap();
            store.flush_blocking().unwrap();
        }
    }

    #[test]
    fn small_parts_merge_into_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), flush_on_request()).unwrap();
        write_each_flushed(&store, 1..=10);
        // The flush thread merges after it acknowledges a flush, so one more flush waits
        // for the last merge.
        store.flush_blocking().unwrap();
        let expected = vec![
            part_name(1, 8, true),
            part_name(9, 9, false),
            part_name(10, 10, false),
        ];
        assert_eq!(part_names(dir.path(), Table::Spans), expected);
        assert_eq!(part_names(dir.path(), Table::Metrics), expected);
        let written: Vec<u64> = (1..=10).collect();
        assert_eq!(seqs(dir.path(), Table::Spans), written);
        assert_eq!(seqs(dir.path(), Table::Metrics), written);

        store.shutdown_blocking().unwrap();
        let reopened = Store::open(dir.path(), flush_on_request()).unwrap();
        assert_eq!(reopened.replayed(), 0);
        reopened.shutdown_blocking().unwrap();
        assert_eq!(part_names(dir.path(), Table::Spans), expected);
        assert_eq!(seqs(dir.path(), Table::Spans), written);
    }

    #[test]
    fn large_part_merges_small_parts_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), flush_on_request()).unwrap();
        write_each_flushed(&store, 1..=3);
        let spans: Vec<Span> = (0..merge::MERGE_ROWS as u64)
            .map(|index| Span {
                span_id: crate::model::SpanId::from_bytes(&(index + 1000).to_le_bytes()).unwrap(),
                ..span(1)
            })
            .collect();
        store
            .write_blocking(Records {
                spans,
                ..Records::default()
            })
            .unwrap();
        store.flush_blocking().unwrap();
        store.flush_blocking().unwrap();

        assert_eq!(
            part_names(dir.path(), Table::Spans),
            vec![part_name(1, 3, true), part_name(4, 4, false)]
        );
        // The metrics partition has three small parts and no reason to merge them yet.
        assert_eq!(part_names(dir.path(), Table::Metrics).len(), 3);
        let mut expected = vec![1, 2, 3];
        expected.extend(std::iter::repeat_n(4, merge::MERGE_ROWS));
        assert_eq!(seqs(dir.path(), Table::Spans), expected);
        store.shutdown_blocking().unwrap();
    }

    #[test]
    fn parts_from_before_restart_merge() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), flush_on_request()).unwrap();
        write_each_flushed(&store, 1..=3);
        store.shutdown_blocking().unwrap();
        assert_eq!(part_names(dir.path(), Table::Spans).len(), 3);

        let reopened = Store::open(dir.path(), flush_on_request()).unwrap();
        write_each_flushed(&reopened, 4..=8);
        reopened.flush_blocking().unwrap();
        let merged = vec![part_name(1, 8, true)];
        assert_eq!(part_names(dir.path(), Table::Spans), merged);
        assert_eq!(part_names(dir.path(), Table::Metrics), merged);
        reopened.shutdown_blocking().unwrap();
        let written: Vec<u64> = (1..=8).collect();
        assert_eq!(seqs(dir.path(), Table::Spans), written);
    }

    /// A crash after a merged part is durable and before its parts are deleted leaves both.
    /// Readers count each row once, and the next start deletes the parts that were merged.
    #[test]
    fn merged_parts_left_by_crash_read_once() {
        let dir = tempfile::tempdir().unwrap();
        let saved = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), flush_on_request()).unwrap();
        let last = merge::MERGE_PARTS as u8;
        write_each_flushed(&store, 1..=last - 1);
        let partition = test_partition(dir.path(), Table::Spans);
        for name in part_names(dir.path(), Table::Spans) {
            std::fs::copy(partition.join(&name), saved.path().join(&name)).unwrap();
        }
        write_each_flushed(&store, last..=last);
        store.flush_blocking().unwrap();
        store.shutdown_blocking().unwrap();
        let merged = vec![part_name(1, 8, true)];
        assert_eq!(part_names(dir.path(), Table::Spans), merged);

        let partition = test_partition(dir.path(), Table::Spans);
        for entry in std::fs::read_dir(saved.path()).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), partition.join(entry.file_name())).unwrap();
        }
        assert_eq!(part_names(dir.path(), Table::Spans).len(), 8);
        let written: Vec<u64> = (1..=8).collect();
        assert_eq!(seqs(dir.path(), Table::Spans), written);

        let reopened = Store::open(dir.path(), flush_on_request()).unwrap();
        assert_eq!(part_names(dir.path(), Table::Spans), merged);
        reopened.shutdown_blocking().unwrap();
        assert_eq!(seqs(dir.path(), Table::Spans), written);
    }
}
