//! The writer thread and the flush thread.
//!
//! The writer thread owns the current log segment and the buffer. It takes every write
//! waiting in the queue, appends them all, fsyncs once and only then acknowledges each, so
//! concurrent writers share one fsync (group commit). When the buffer reaches its row limit
//! or the flush interval passes, it hands the buffer and its segment to the flush thread and
//! starts a new segment, so writes go on while Parquet parts are written.
//!
//! The flush thread writes one part per table and date, and deletes the segment once every
//! part is durable. When a flush fails, its segment stays on disk and the writer reads it
//! back into a later flush. A full buffer waits while the flush thread is still busy with
//! the one before: the writer acknowledges nothing until it can hand it over, so the queue
//! fills and receivers respond with retry-later instead of the buffer growing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, oneshot};

use crate::model::Records;

use super::buffer::{Buffer, WriteFrames};
use super::buffer::{invocation_date, metric_date, span_date};
use super::merge::Merger;
use super::parts::{PartIndex, PartName, Table, is_covered, scan_parts, write_part};
use super::wal::{self, Payload, Wal};
use super::{FeedBatch, StoreError, StoreOptions, StoreTotals};

/// Writes taken from the queue for one group commit, at most.
const MAX_GROUP: usize = 1024;

/// The channel that acknowledges one write with its sequence number.
type WriteAck = oneshot::Sender<Result<u64, StoreError>>;

/// The channel that reports the end of a flush.
type FlushAck = oneshot::Sender<Result<(), StoreError>>;

/// A request to the writer thread.
pub(crate) enum Command {
    Write {
        /// The records for the live feed; `None` for rows read straight from a request
        /// body, which are stored only while nothing subscribes to the feed.
        records: Option<Arc<Records>>,
        /// The records' columns, built by the caller.
        frames: WriteFrames,
        /// The records' log payload, encoded by the caller.
        payload: Payload,
        ack: WriteAck,
    },
    Flush {
        ack: FlushAck,
    },
    Shutdown {
        ack: oneshot::Sender<Result<StoreTotals, StoreError>>,
    },
}

/// A write taken from the queue.
struct Write {
    records: Option<Arc<Records>>,
    frames: WriteFrames,
    payload: Payload,
    ack: WriteAck,
}

/// A buffer handed to the flush thread, with the segments that hold its records.
struct FlushJob {
    buffer: Buffer,
    segments: Vec<PathBuf>,
    ack: Option<FlushAck>,
}

/// State the writer and the flush thread share.
#[derive(Debug, Default)]
struct Shared {
    /// Segments of failed flushes, which the writer reads back into its next flush.
    failed_segments: Mutex<Vec<PathBuf>>,
    /// Parts written.
    parts: AtomicU64,
}

pub(crate) struct Writer {
    data_dir: PathBuf,
    wal: Wal,
    buffer: Buffer,
    next_seq: u64,
    options: StoreOptions,
    feed: broadcast::Sender<FeedBatch>,
    totals: StoreTotals,
    shared: Arc<Shared>,
    flusher: Option<(SyncSender<FlushJob>, JoinHandle<()>)>,
}

impl Writer {
    /// Replays the log in `wal_dir`: writes the records that no part contains yet to Parquet,
    /// deletes the old segments and starts a new one. Returns the writer and the number of
    /// records replayed.
    pub(crate) fn open(
        data_dir: &Path,
        wal_dir: &Path,
        options: StoreOptions,
        feed: broadcast::Sender<FeedBatch>,
    ) -> Result<(Self, u64), StoreError> {
        let index = scan_parts(data_dir)?;
        let mut next_seq = index
            .values()
            .flatten()
            .map(|&(_, last)| last + 1)
            .max()
            .unwrap_or(1);
        let segments = wal::list_segments(wal_dir)?;
        let mut buffer = Buffer::default();
        for frame in wal::read_segments(&segments)? {
            next_seq = next_seq.max(frame.seq + 1);
            let records = uncovered(&index, frame.seq, frame.records);
            if !records.is_empty() {
                buffer
                    .push_records(frame.seq, &records)
                    .map_err(|source| StoreError::Parquet {
                        path: wal_dir.to_owned(),
                        source,
                    })?;
            }
        }
        let replayed = buffer.rows() as u64;
        if replayed > 0 {
            tracing::info!(
                records = replayed,
                data_dir = %data_dir.display(),
                "replaying write-ahead log"
            );
        }
        let parts = write_parts(data_dir, &buffer)?.len();
        wal::remove_segments(wal_dir, &segments)?;

        let shared = Arc::new(Shared::default());
        shared.parts.store(parts as u64, Ordering::Relaxed);
        let (jobs, receiver) = sync_channel(0);
        let thread = {
            let dirs = (data_dir.to_owned(), wal_dir.to_owned());
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("spanbill-flush".to_owned())
                .spawn(move || run_flusher(&dirs.0, &dirs.1, &receiver, &shared))
                .map_err(|source| StoreError::Io {
                    path: data_dir.to_owned(),
                    source,
                })?
        };
        let writer = Self {
            data_dir: data_dir.to_owned(),
            wal: Wal::create(wal_dir, next_seq)?,
            buffer: Buffer::default(),
            next_seq,
            options,
            feed,
            totals: StoreTotals {
                replayed,
                ..StoreTotals::default()
            },
            shared,
            flusher: Some((jobs, thread)),
        };
        Ok((writer, replayed))
    }

    pub(crate) fn run(mut self, queue: &Receiver<Command>) {
        let mut next_flush = Instant::now() + self.options.flush_interval;
        loop {
            let timeout = next_flush.saturating_duration_since(Instant::now());
            let first = match queue.recv_timeout(timeout) {
                Ok(command) => command,
                Err(RecvTimeoutError::Timeout) => {
                    self.hand_off(None, true);
                    next_flush = Instant::now() + self.options.flush_interval;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    if let Err(error) = self.finish() {
                        tracing::error!(%error, "final flush to Parquet failed; records stay in the write-ahead log for the next start");
                    }
                    return;
                }
            };

            let mut writes = Vec::new();
            let mut command = Some(first);
            while let Some(current) = command.take() {
                match current {
                    Command::Write {
                        records,
                        frames,
                        payload,
                        ack,
                    } => writes.push(Write {
                        records,
                        frames,
                        payload,
                        ack,
                    }),
                    Command::Flush { ack } => {
                        self.commit(std::mem::take(&mut writes));
                        self.hand_off(Some(ack), true);
                        next_flush = Instant::now() + self.options.flush_interval;
                    }
                    Command::Shutdown { ack } => {
                        self.commit(std::mem::take(&mut writes));
                        let totals = self.totals;
                        let result = self.finish().map(|parts| StoreTotals { parts, ..totals });
                        let _ = ack.send(result);
                        return;
                    }
                }
                if writes.len() < MAX_GROUP {
                    command = queue.try_recv().ok();
                }
            }
            self.commit(writes);

            if self.buffer.rows() >= self.options.max_buffered_rows {
                self.hand_off(None, true);
                next_flush = Instant::now() + self.options.flush_interval;
            }
        }
    }

    /// Appends `writes` to the log, fsyncs once, then acknowledges each write.
    fn commit(&mut self, writes: Vec<Write>) {
        if writes.is_empty() {
            return;
        }
        // A full buffer is handed to the flush thread at once, so a buffer past twice its
        // limit means that flushes cannot start (a new log segment could not be created).
        // The flush is tried again first, and writes are rejected only while it still
        // cannot start, so that memory stays bounded.
        let limit = self.options.max_buffered_rows.saturating_mul(2);
        if self.buffer.rows() >= limit {
            self.hand_off(None, true);
        }
        if self.buffer.rows() >= limit {
            tracing::error!(
                rows = self.buffer.rows(),
                writes = writes.len(),
                "write buffer full because no flush could start; writes rejected"
            );
            self.totals.failed_writes += writes.len() as u64;
            for Write { ack, .. } in writes {
                let _ = ack.send(Err(StoreError::Unavailable {
                    reason: "the write buffer is full because no flush could start; retry later"
                        .to_owned(),
                }));
            }
            return;
        }
        let mut accepted = Vec::with_capacity(writes.len());
        for write in writes {
            let seq = self.next_seq + accepted.len() as u64;
            self.wal.append(seq, &write.payload);
            accepted.push((write.records, write.frames, write.ack));
        }

        if let Err(error) = self.wal.sync() {
            tracing::error!(%error, writes = accepted.len(), "write-ahead log append failed; writes rejected");
            // The sequence numbers of failed writes are not handed out again, so a frame that
            // reached the disk anyway cannot share its number with a later write.
            self.next_seq += accepted.len() as u64;
            self.totals.failed_writes += accepted.len() as u64;
            for (_, _, ack) in accepted {
                let _ = ack.send(Err(StoreError::Unavailable {
                    reason: error.to_string(),
                }));
            }
            return;
        }

        for (records, frames, ack) in accepted {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.totals.writes += 1;
            self.totals.spans += frames.table_rows(Table::Spans) as u64;
            self.totals.metrics += frames.table_rows(Table::Metrics) as u64;
            self.totals.invocations += frames.table_rows(Table::Invocations) as u64;
            self.buffer.push(seq, frames);
            // A send with no subscriber fails, which is fine. A slow subscriber gets a missed
            // count. The feed goes first so that this thread lets go of the records before
            // the caller, which then frees them on its own thread.
            if let Some(records) = records {
                let _ = self.feed.send(FeedBatch { seq, records });
            }
            let _ = ack.send(Ok(seq));
        }
    }

    /// Hands the buffer to the flush thread, waiting until it is idle. With `reopen`, later
    /// writes go to a new segment; without it, the writer must not write again. `ack` learns
    /// when the parts are durable.
    fn hand_off(&mut self, ack: Option<FlushAck>, reopen: bool) {
        let has_writes = !self.buffer.is_empty();
        // The new segment must exist before the old one is handed over, because the flush
        // thread deletes the old one and a write acknowledged from it would be lost.
        let next = if reopen && has_writes {
            match Wal::create(self.wal.dir(), self.next_seq) {
                Ok(next) => Some(next),
                Err(error) => {
                    tracing::error!(%error, "starting a new write-ahead log segment failed; the flush waits");
                    if let Some(ack) = ack {
                        let _ = ack.send(Err(error));
                    }
                    return;
                }
            }
        } else {
            None
        };
        let Some(job) = self.take_job(ack) else {
            return;
        };
        if let Some(next) = next {
            self.wal = next;
        }
        let Some((jobs, _)) = &self.flusher else {
            if let Some(ack) = job.ack {
                let _ = ack.send(Err(shut_down()));
            }
            return;
        };
        // The channel has no room, so this waits until the flush thread is idle.
        if let Err(error) = jobs.send(job)
            && let Some(ack) = error.0.ack
        {
            let _ = ack.send(Err(shut_down()));
        }
    }

    /// Builds a flush job of the buffer, its segment and the segments of failed flushes.
    /// Returns `None` when there is nothing to flush and no `ack` to send. With an `ack` the
    /// job may be empty, and the flush thread sends it once the jobs before it are done.
    fn take_job(&mut self, ack: Option<FlushAck>) -> Option<FlushJob> {
        let mut segments = std::mem::take(
            &mut *self
                .shared
                .failed_segments
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        let mut buffer = Buffer::default();
        if !segments.is_empty() {
            // The failed flush may have written some of its parts before it stopped.
            match reread_failed(&self.data_dir, &segments) {
                Ok(reread) => buffer = reread,
                Err(error) => {
                    tracing::error!(%error, "reading the segments of a failed flush failed; they are replayed at the next start");
                    segments.clear();
                }
            }
        }
        if self.buffer.is_empty() && segments.is_empty() && ack.is_none() {
            return None;
        }

        // A segment is written to only while the buffer contains its records, so a buffer
        // without records means its segment is empty and stays the writer's.
        if !self.buffer.is_empty() {
            segments.push(self.wal.path().to_owned());
        }
        buffer.append(std::mem::take(&mut self.buffer));
        Some(FlushJob {
            buffer,
            segments,
            ack,
        })
    }

    /// Flushes everything, stops the flush thread and deletes the last segment when it is
    /// empty. Returns the number of parts written since the store opened.
    fn finish(&mut self) -> Result<u64, StoreError> {
        let (ack, done) = oneshot::channel();
        self.hand_off(Some(ack), false);
        let result = done.blocking_recv().unwrap_or_else(|_| Err(shut_down()));
        if let Some((jobs, thread)) = self.flusher.take() {
            drop(jobs);
            let _ = thread.join();
        }
        result?;
        if self.wal.is_empty() {
            wal::remove_segments(self.wal.dir(), &[self.wal.path().to_owned()])?;
        }
        Ok(self.shared.parts.load(Ordering::Relaxed))
    }
}

fn shut_down() -> StoreError {
    StoreError::Unavailable {
        reason: "the store is shut down".to_owned(),
    }
}

/// Runs the flush thread until the writer drops its end of `jobs`.
fn run_flusher(data_dir: &Path, wal_dir: &Path, jobs: &Receiver<FlushJob>, shared: &Shared) {
    let mut merger = Merger::default();
    for job in jobs {
        let started = Instant::now();
        let result = write_parts(data_dir, &job.buffer).and_then(|parts| {
            wal::remove_segments(wal_dir, &job.segments)?;
            Ok(parts)
        });
        match result {
            Ok(parts) => {
                shared
                    .parts
                    .fetch_add(parts.len() as u64, Ordering::Relaxed);
                tracing::debug!(
                    rows = job.buffer.rows(),
                    parts = parts.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "flushed to Parquet"
                );
                if let Some(ack) = job.ack {
                    let _ = ack.send(Ok(()));
                }
                drop(job.buffer);
                for part in parts {
                    merger.wrote(data_dir, part);
                }
            }
            Err(error) => {
                tracing::error!(%error, "flush to Parquet failed; records stay in the write-ahead log and the flush is retried");
                // The flush may have written some of its parts, which the merger does not
                // know of, so no part written before it may be merged with a later one.
                merger.forget();
                shared
                    .failed_segments
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(job.segments);
                if let Some(ack) = job.ack {
                    let _ = ack.send(Err(error));
                }
            }
        }
    }
}

/// A part file a flush wrote.
#[derive(Debug)]
pub(crate) struct WrittenPart {
    pub(crate) table: Table,
    pub(crate) date: time::Date,
    pub(crate) name: PartName,
    pub(crate) path: PathBuf,
    pub(crate) rows: usize,
}

/// Writes one part per table and date of `buffer` and returns them.
pub(crate) fn write_parts(
    data_dir: &Path,
    buffer: &Buffer,
) -> Result<Vec<WrittenPart>, StoreError> {
    let mut written = Vec::new();
    for part in buffer.parts() {
        let name = PartName {
            range: part.range,
            merged: false,
        };
        let path = write_part(data_dir, part.table, part.date, name, part.row_groups())?;
        written.push(WrittenPart {
            table: part.table,
            date: part.date,
            name,
            path,
            rows: part.rows(),
        });
    }
    Ok(written)
}

/// Reads the segments of failed flushes back, leaving out records that a part contains.
fn reread_failed(data_dir: &Path, segments: &[PathBuf]) -> Result<Buffer, StoreError> {
    let index = scan_parts(data_dir)?;
    let mut buffer = Buffer::default();
    for frame in wal::read_segments(segments)? {
        let records = uncovered(&index, frame.seq, frame.records);
        if !records.is_empty() {
            buffer
                .push_records(frame.seq, &records)
                .map_err(|source| StoreError::Parquet {
                    path: data_dir.to_owned(),
                    source,
                })?;
        }
    }
    Ok(buffer)
}

/// Returns how long a caller should wait before retrying a write the queue rejected.
#[must_use]
pub(crate) fn retry_after(options: &StoreOptions) -> Duration {
    options
        .flush_interval
        .min(Duration::from_secs(5))
        .max(Duration::from_secs(1))
}

/// Keeps the records of write `seq` that no part contains yet.
fn uncovered(index: &PartIndex, seq: u64, mut records: Records) -> Records {
    let today = time::OffsetDateTime::now_utc().date();
    // NOTE: an invocation without a start time is dated by the day its write was queued,
    // and here by the day of the replay. A replay on a later day than a crashed flush that
    // wrote its part can store it a second time.
    records
        .spans
        .retain(|span| !is_covered(index, Table::Spans, span_date(span), seq));
    records
        .metrics
        .retain(|point| !is_covered(index, Table::Metrics, metric_date(point), seq));
    records.invocations.retain(|invocation| {
        !is_covered(
            index,
            Table::Invocations,
            invocation_date(invocation, today),
            seq,
        )
    });
    records
}
