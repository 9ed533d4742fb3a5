//! The writer thread: group commit into the write-ahead log, then Parquet flushes.
//!
//! One thread owns the log and the buffer. It takes every write waiting in the queue,
//! appends them all, fsyncs once and only then acknowledges each, so concurrent writers
//! share one fsync. It flushes the buffer to Parquet parts when it grows past its row limit,
//! when the flush interval passes, on request and at shutdown. The log is emptied only after
//! every part of a flush is durable.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, oneshot};

use crate::model::Records;

use super::buffer::Buffer;
use super::buffer::{invocation_date, metric_date, span_date};
use super::parts::{PartIndex, Table, is_covered, scan_parts, write_part};
use super::wal::Wal;
use super::{FeedBatch, StoreError, StoreOptions, StoreTotals};

/// Writes taken from the queue for one group commit, at most.
const MAX_GROUP: usize = 1024;

/// The channel that acknowledges one write with its sequence number.
type WriteAck = oneshot::Sender<Result<u64, StoreError>>;

/// A request to the writer thread.
pub(crate) enum Command {
    Write {
        records: Arc<Records>,
        ack: WriteAck,
    },
    Flush {
        ack: oneshot::Sender<Result<(), StoreError>>,
    },
    Shutdown {
        ack: oneshot::Sender<Result<StoreTotals, StoreError>>,
    },
}

pub(crate) struct Writer {
    pub(crate) data_dir: PathBuf,
    pub(crate) wal: Wal,
    pub(crate) buffer: Buffer,
    pub(crate) next_seq: u64,
    pub(crate) options: StoreOptions,
    pub(crate) feed: broadcast::Sender<FeedBatch>,
    pub(crate) totals: StoreTotals,
}

impl Writer {
    pub(crate) fn run(mut self, queue: &Receiver<Command>) {
        let mut next_flush = Instant::now() + self.options.flush_interval;
        loop {
            let timeout = next_flush.saturating_duration_since(Instant::now());
            let first = match queue.recv_timeout(timeout) {
                Ok(command) => command,
                Err(RecvTimeoutError::Timeout) => {
                    self.flush_logged();
                    next_flush = Instant::now() + self.options.flush_interval;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.flush_logged();
                    return;
                }
            };

            let mut writes = Vec::new();
            let mut command = Some(first);
            while let Some(current) = command.take() {
                match current {
                    Command::Write { records, ack } => writes.push((records, ack)),
                    Command::Flush { ack } => {
                        self.commit(std::mem::take(&mut writes));
                        let _ = ack.send(self.flush());
                        next_flush = Instant::now() + self.options.flush_interval;
                    }
                    Command::Shutdown { ack } => {
                        self.commit(std::mem::take(&mut writes));
                        let result = self.flush().map(|()| self.totals);
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
                self.flush_logged();
                next_flush = Instant::now() + self.options.flush_interval;
            }
        }
    }

    /// Appends `writes` to the log, fsyncs once, then acknowledges each write.
    fn commit(&mut self, writes: Vec<(Arc<Records>, WriteAck)>) {
        if writes.is_empty() {
            return;
        }
        let first_seq = self.next_seq;
        let mut result = Ok(());
        for (offset, (records, _)) in writes.iter().enumerate() {
            result = self.wal.append(first_seq + offset as u64, records);
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            result = self.wal.sync();
        }

        if let Err(error) = result {
            tracing::error!(%error, writes = writes.len(), "write-ahead log append failed; writes rejected");
            // The frames written before the failure stay in the log, so the sequence numbers
            // they used are not handed out again.
            self.next_seq += writes.len() as u64;
            self.totals.failed_writes += writes.len() as u64;
            for (_, ack) in writes {
                let _ = ack.send(Err(StoreError::Unavailable {
                    reason: error.to_string(),
                }));
            }
            return;
        }

        for (records, ack) in writes {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.totals.writes += 1;
            self.totals.spans += records.spans.len() as u64;
            self.totals.metrics += records.metrics.len() as u64;
            self.totals.invocations += records.invocations.len() as u64;
            self.buffer.push(seq, Arc::clone(&records));
            let _ = ack.send(Ok(seq));
            // A send with no subscriber fails, which is fine. A slow subscriber gets a missed count.
            let _ = self.feed.send(FeedBatch { seq, records });
        }
    }

    fn flush_logged(&mut self) {
        if let Err(error) = self.flush() {
            tracing::error!(%error, "flush to Parquet failed; records stay in the write-ahead log and the flush is retried");
        }
    }

    /// Rebuilds the buffer from the log, leaving out records that a part already holds.
    /// Runs at open and after a failed flush, which may have written some of its parts.
    pub(crate) fn rebuild_buffer(&mut self) -> Result<(), StoreError> {
        let index = scan_parts(&self.data_dir)?;
        let frames = self.wal.reread()?;
        self.buffer.clear();
        for frame in frames {
            self.next_seq = self.next_seq.max(frame.seq + 1);
            let records = uncovered(&index, frame.seq, frame.records);
            if !records.is_empty() {
                self.buffer.push(frame.seq, Arc::new(records));
            }
        }
        Ok(())
    }

    /// Writes the buffer to Parquet parts and empties the log.
    pub(crate) fn flush(&mut self) -> Result<(), StoreError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let parts = self.buffer.parts().map_err(|source| StoreError::Parquet {
            path: self.data_dir.clone(),
            source,
        })?;
        let part_count = parts.len();
        for mut part in parts {
            let written = write_part(
                &self.data_dir,
                part.table,
                part.date,
                part.range,
                &mut part.frame,
            );
            if let Err(error) = written {
                if let Err(rebuild_error) = self.rebuild_buffer() {
                    tracing::error!(error = %rebuild_error, "rebuilding the buffer from the write-ahead log failed");
                }
                return Err(error);
            }
        }
        self.wal.truncate()?;
        tracing::debug!(
            rows = self.buffer.rows(),
            parts = part_count,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "flushed to Parquet"
        );
        self.totals.parts += part_count as u64;
        self.buffer.clear();
        Ok(())
    }
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
    // NOTE: an invocation without a start time is dated by the day of the flush, so a
    // replay on a later day than the crashed flush can store it a second time.
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
