//! Rollups kept under the data directory, one per day partition, so a report reads each
//! day's rows once.
//!
//! `rollups/date=YYYY-MM-DD/rollup.bin` contains a day's [`Rollup`] with a header: the day's
//! Parquet parts (names, sizes and modification times) it was built from, and a digest of
//! every other day's parts that its shared request ids and traces were checked against.
//! `keys.bin` next to it contains the hashes of the day's request ids and trace ids. A rollup
//! is used while its day's parts are the same. When another day of the report window changed
//! or was not checked yet, the rollup is still used if the ids it shares with that day are
//! among those it kept apart for the merge. Otherwise it is built again. Days that the report
//! window covers only in part are built from their rows in memory. Deleting `rollups/` only
//! makes the next report slower.

use std::collections::{BTreeMap, BinaryHeap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use spanbill_collector::store::{Table, partitions};
use time::Date;

use crate::PriceBook;
use crate::dataset::{DatasetError, Window, read_day};
use crate::lambda::LambdaOptions;
use crate::rollup::Rollup;
use crate::table::Shared;
use crate::usage::{HourEntry, Usage};

/// Version of the file layout; files of another version are built again. Any change to a
/// kept type changes it, because the encoding does not name fields.
const FORMAT: u32 = 9;

/// The Parquet parts of a day: path under the data directory, size in bytes and
/// modification time in ns since the Unix epoch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Stamp(Vec<(String, u64, i128)>);

impl Stamp {
    /// Lists the parts of both tables for `date`.
    fn of(data_dir: &Path, date: Date) -> Self {
        let mut parts = Vec::new();
        for table in [Table::Invocations, Table::Spans] {
            let partition = format!("{}/date={date}", table.name());
            let Ok(entries) = std::fs::read_dir(data_dir.join(&partition)) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else {
                    continue;
                };
                if !(name.starts_with("part-") && name.ends_with(".parquet")) {
                    continue;
                }
                let Ok(metadata) = entry.metadata() else {
                    continue;
                };
                let modified = metadata
                    .modified()
                    .ok()
                    .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |since| since.as_nanos() as i128);
                parts.push((format!("{partition}/{name}"), metadata.len(), modified));
            }
        }
        parts.sort();
        Self(parts)
    }

    fn digest(&self) -> u64 {
        let hasher = foldhash::quality::FixedState::with_seed(0x0073_7461_6d70);
        std::hash::BuildHasher::hash_one(&hasher, self)
    }
}

/// The hashes of a day's request ids and trace ids, sorted, without repeats.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Keys {
    stamp: Stamp,
    requests: Vec<u64>,
    traces: Vec<u64>,
}

/// The header of a rollup file: what the rollup was built from and checked against.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Header {
    stamp: Stamp,
    ids_per_shape: usize,
    /// Digest of each other day's parts, by date, that the shared ids were checked against.
    checked: BTreeMap<String, u64>,
    /// Hashes of the request ids the rollup kept loose, sorted.
    loose_requests: Vec<u64>,
    /// Hashes of the trace ids the rollup kept split, sorted.
    split_traces: Vec<u64>,
}

impl Header {
    /// Returns the ids that the rollup of `day` kept apart for the merge, as they were given
    /// to its build.
    fn shared(&self, day: Date) -> Shared {
        Shared {
            requests: self.loose_requests.iter().copied().collect(),
            traces: self.split_traces.iter().copied().collect(),
            place: i64::from(day.to_julian_day()),
        }
    }
}

/// Loads the rollup of the rows of `data_dir` within `window`, keeping at least
/// `ids_per_shape` trace ids per shape. Builds and keeps the rollups of whole days that have
/// none or an outdated one. A rollup that cannot be written is built again next time.
pub fn load_rollup(
    data_dir: &Path,
    window: Window,
    ids_per_shape: usize,
) -> Result<Rollup, DatasetError> {
    // Only the days of the window count: a trace that other days share is summed as the rows
    // of the window give it.
    let dates = window.dates();
    let mut days = partitions(data_dir, Table::Invocations, dates);
    days.extend(partitions(data_dir, Table::Spans, dates));
    days.sort_unstable();
    days.dedup();
    let stamps: BTreeMap<Date, Stamp> = days
        .iter()
        .map(|&day| (day, Stamp::of(data_dir, day)))
        .collect();
    let digests: BTreeMap<String, u64> = stamps
        .iter()
        .map(|(day, stamp)| (day.to_string(), stamp.digest()))
        .collect();
    let window_days = days.iter().copied();

    // Days whose kept rollup is valid, and the work the others need.
    let mut rollups: Vec<DayRollup> = Vec::new();
    let mut pending = Vec::new();
    let mut stored_days = read_rollups(data_dir, &days, window).into_iter();
    for day in window_days {
        if !window.covers_day(day) {
            pending.push((day, None));
            continue;
        }
        let stored = stored_days.next().flatten();
        let stored = stored.filter(|(header, _)| {
            header.stamp == stamps[&day] && header.ids_per_shape >= ids_per_shape
        });
        match stored {
            Some((header, rollup)) if others_checked(&header, day, &digests) => {
                rollups.push(DayRollup::stored(day, &header, rollup));
            }
            stored => pending.push((day, Some(stored))),
        }
    }

    if !pending.is_empty() {
        let keys = crate::timed("rollup keys", || all_keys(data_dir, &stamps))?;
        let shared = crate::timed("shared keys", || shared_keys(&keys));
        // Days are built on two threads, each reading and rolling up a day of its own.
        let built = on_two_threads(
            pending,
            |(day, stored)| -> Result<DayRollup, DatasetError> {
                let whole = stored.is_some();
                if let Some(Some((mut header, rollup))) = stored
                    && consistent(&header, day, &keys, &digests)
                {
                    header.checked.extend(others(day, &digests));
                    write_rollup(data_dir, day, &header, &rollup);
                    return Ok(DayRollup::stored(day, &header, rollup));
                }
                let day_window = if whole { Window::default() } else { window };
                let (header, mut rollup) = crate::timed("building a day's rollup", || {
                    build(
                        data_dir,
                        day,
                        day_window,
                        &keys[&day],
                        &shared,
                        ids_per_shape,
                    )
                })?;
                let hours = std::mem::take(&mut rollup.usage.hours);
                let shared = header.shared(day);
                if whole {
                    let header = Header {
                        stamp: stamps[&day].clone(),
                        checked: others(day, &digests),
                        ..header
                    };
                    write_hours(data_dir, day, &header.stamp, &hours);
                    write_rollup(data_dir, day, &header, &rollup);
                }
                Ok(DayRollup {
                    day,
                    rollup,
                    hours: Some(hours),
                    shared,
                })
            },
        );
        for day in built {
            rollups.push(day?);
        }
    }

    attach_hours(data_dir, &mut rollups, &stamps)?;
    Ok(crate::timed("merging rollups", || {
        Rollup::merge_all(rollups.into_iter().map(|day| day.rollup).collect())
    }))
}

/// Gives the rollups of the days whose hourly counts the report reads those counts: every
/// day when the timeline is hourly, else the day in which the period's halves meet.
fn attach_hours(
    data_dir: &Path,
    rollups: &mut [DayRollup],
    stamps: &BTreeMap<Date, Stamp>,
) -> Result<(), DatasetError> {
    let period = rollups
        .iter()
        .filter_map(|day| day.rollup.samples.period())
        .reduce(|a, b| (a.0.min(b.0), a.1.max(b.1)));
    let Some((first, last)) = period else {
        return Ok(());
    };
    let seconds = |nanos: i64| nanos.div_euclid(1_000_000_000);
    let every_day = crate::report::hourly((seconds(first), seconds(last)));
    let middle = first + (last - first) / 2;
    let middle = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(middle))
        .ok()
        .map(time::OffsetDateTime::date);
    for day in rollups {
        let hours = day.hours.take();
        if !(every_day || Some(day.day) == middle) {
            continue;
        }
        day.rollup.usage.hours = match hours {
            Some(hours) => hours,
            None => day_hours(data_dir, day.day, &stamps[&day.day], &day.shared)?,
        };
    }
    Ok(())
}

/// A day's rollup, with its hourly counts when they were built in this run.
struct DayRollup {
    day: Date,
    rollup: Rollup,
    hours: Option<Vec<HourEntry>>,
    /// The ids the rollup kept apart for the merge, which its hourly counts must leave out
    /// as well.
    shared: Shared,
}

impl DayRollup {
    fn stored(day: Date, header: &Header, rollup: Rollup) -> Self {
        Self {
            day,
            rollup,
            hours: None,
            shared: header.shared(day),
        }
    }
}

/// Returns a day's hourly counts: the kept ones, else those of its rows, which are then
/// kept. The rows are counted with the rollup's `shared` ids kept apart, as the rollup was,
/// so the counts number functions and usage groups as the rollup does.
fn day_hours(
    data_dir: &Path,
    day: Date,
    stamp: &Stamp,
    shared: &Shared,
) -> Result<Vec<HourEntry>, DatasetError> {
    if let Some(hours) = read_hours(data_dir, day, stamp) {
        return Ok(hours);
    }
    let tables = read_day(data_dir, day, Window::default())?.finish_shared(
        &PriceBook::built_in(),
        LambdaOptions::default(),
        shared.clone(),
    );
    let hours = Usage::of(&tables).hours;
    write_hours(data_dir, day, stamp, &hours);
    Ok(hours)
}

/// Reads the kept rollups of the days that `window` covers whole, in order, on two
/// threads.
fn read_rollups(data_dir: &Path, days: &[Date], window: Window) -> Vec<Option<(Header, Rollup)>> {
    let whole: Vec<Date> = days
        .iter()
        .copied()
        .filter(|&day| window.covers_day(day))
        .collect();
    let (first, second) = whole.split_at(whole.len() / 2);
    let read = |days: &[Date]| -> Vec<Option<(Header, Rollup)>> {
        let mut buffer = Vec::new();
        days.iter()
            .map(|&day| {
                crate::timed("reading a day's rollup", || {
                    read_rollup(data_dir, day, &mut buffer)
                })
            })
            .collect()
    };
    std::thread::scope(|scope| {
        let second = scope.spawn(|| read(second));
        let mut rollups = read(first);
        rollups.extend(second.join().expect("reading rollups does not panic"));
        rollups
    })
}

/// Returns the digest of every day but `day`.
fn others(day: Date, digests: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let day = day.to_string();
    digests
        .iter()
        .filter(|(other, _)| **other != day)
        .map(|(other, digest)| (other.clone(), *digest))
        .collect()
}

/// Returns whether a rollup was checked against every other day of the window as it is now.
fn others_checked(header: &Header, day: Date, digests: &BTreeMap<String, u64>) -> bool {
    others(day, digests)
        .iter()
        .all(|(other, digest)| header.checked.get(other) == Some(digest))
}

/// Returns whether every id that `day` shares with another day is one its rollup kept apart
/// for the merge, so the rollup is right although other days changed.
fn consistent(
    header: &Header,
    day: Date,
    keys: &BTreeMap<Date, Keys>,
    digests: &BTreeMap<String, u64>,
) -> bool {
    let mine = &keys[&day];
    keys.iter()
        .filter(|(other, _)| **other != day)
        .filter(|(other, _)| {
            let name = other.to_string();
            header.checked.get(&name) != digests.get(&name)
        })
        .all(|(_, theirs)| {
            let all_apart = |common: Vec<u64>, apart: &[u64]| {
                common.iter().all(|hash| apart.binary_search(hash).is_ok())
            };
            all_apart(
                common(&mine.requests, &theirs.requests),
                &header.loose_requests,
            ) && all_apart(common(&mine.traces, &theirs.traces), &header.split_traces)
        })
}

/// Returns the values two sorted lists share.
fn common(a: &[u64], b: &[u64]) -> Vec<u64> {
    let (mut i, mut j) = (0, 0);
    let mut both = Vec::new();
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    both
}

/// Builds the rollup of the rows of `day` within `window`.
fn build(
    data_dir: &Path,
    day: Date,
    window: Window,
    keys: &Keys,
    shared: &Shared,
    ids_per_shape: usize,
) -> Result<(Header, Rollup), DatasetError> {
    let builder = read_day(data_dir, day, window)?;
    let mine = Shared {
        place: i64::from(day.to_julian_day()),
        requests: keys
            .requests
            .iter()
            .copied()
            .filter(|hash| shared.requests.contains(hash))
            .collect(),
        traces: keys
            .traces
            .iter()
            .copied()
            .filter(|hash| shared.traces.contains(hash))
            .collect(),
    };
    let tables = builder.finish_shared(
        &PriceBook::built_in(),
        LambdaOptions::default(),
        mine.clone(),
    );
    let rollup = Rollup::of(&tables, &mine, ids_per_shape);
    let sorted = |hashes: &foldhash::HashSet<u64>| {
        let mut sorted: Vec<u64> = hashes.iter().copied().collect();
        sorted.sort_unstable();
        sorted
    };
    let header = Header {
        stamp: Stamp::default(),
        ids_per_shape,
        checked: BTreeMap::new(),
        loose_requests: sorted(&mine.requests),
        split_traces: sorted(&mine.traces),
    };
    Ok((header, rollup))
}

/// Returns the key hashes of every day, reading the rows of days whose kept hashes are
/// missing or outdated.
fn all_keys(
    data_dir: &Path,
    stamps: &BTreeMap<Date, Stamp>,
) -> Result<BTreeMap<Date, Keys>, DatasetError> {
    let days: Vec<(Date, &Stamp)> = stamps.iter().map(|(&day, stamp)| (day, stamp)).collect();
    // Days whose hashes are not kept are read on two threads.
    let keys = on_two_threads(days, |(day, stamp)| -> Result<(Date, Keys), DatasetError> {
        let path = day_dir(data_dir, day).join("keys.bin");
        let mut buffer = Vec::new();
        let stored = read_frame(&path, &mut buffer)
            .and_then(|bytes| decode::<Keys>(bytes).map(|(keys, _)| keys))
            .filter(|keys| keys.stamp == *stamp);
        if let Some(keys) = stored {
            return Ok((day, keys));
        }
        let builder = read_day(data_dir, day, Window::default())?;
        let (mut requests, mut traces) = builder.key_hashes();
        for hashes in [&mut requests, &mut traces] {
            hashes.sort_unstable();
            hashes.dedup();
        }
        let keys = Keys {
            stamp: stamp.clone(),
            requests,
            traces,
        };
        write_file(&path, &encode(&keys));
        Ok((day, keys))
    });
    keys.into_iter().collect()
}

/// Runs `work` on every item on two threads, each taking the next item when it is done, and
/// returns the results in the order of the items.
fn on_two_threads<T: Send, R: Send>(items: Vec<T>, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    let queue = std::sync::Mutex::new(items.into_iter().enumerate());
    let run = || {
        let mut done = Vec::new();
        loop {
            let next = queue
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .next();
            let Some((at, item)) = next else {
                return done;
            };
            done.push((at, work(item)));
        }
    };
    let mut results = std::thread::scope(|scope| {
        let other = scope.spawn(run);
        let mut results = run();
        results.extend(other.join().expect("rollup work does not panic"));
        results
    });
    results.sort_unstable_by_key(|(at, _)| *at);
    results.into_iter().map(|(_, result)| result).collect()
}

/// Returns the hashes that more than one day has.
fn shared_keys(keys: &BTreeMap<Date, Keys>) -> Shared {
    let repeated = |lists: Vec<&[u64]>| {
        // A merge of the sorted lists: a hash that comes up twice is in two days.
        let mut heap: BinaryHeap<std::cmp::Reverse<(u64, usize, usize)>> = lists
            .iter()
            .enumerate()
            .filter_map(|(list, values)| Some(std::cmp::Reverse((*values.first()?, list, 0))))
            .collect();
        let mut repeated = foldhash::HashSet::default();
        let mut last = None;
        while let Some(std::cmp::Reverse((value, list, at))) = heap.pop() {
            if last == Some(value) {
                repeated.insert(value);
            }
            last = Some(value);
            if let Some(&next) = lists[list].get(at + 1) {
                heap.push(std::cmp::Reverse((next, list, at + 1)));
            }
        }
        repeated
    };
    Shared {
        requests: repeated(keys.values().map(|keys| keys.requests.as_slice()).collect()),
        traces: repeated(keys.values().map(|keys| keys.traces.as_slice()).collect()),
        place: 0,
    }
}

fn day_dir(data_dir: &Path, day: Date) -> PathBuf {
    data_dir.join("rollups").join(format!("date={day}"))
}

/// Reads a day's kept rollup through `buffer`, or `None` when it is missing or unreadable.
fn read_rollup(data_dir: &Path, day: Date, buffer: &mut Vec<u8>) -> Option<(Header, Rollup)> {
    let bytes = read_frame(&day_dir(data_dir, day).join("rollup.bin"), buffer)?;
    let (header, read) = decode::<Header>(bytes)?;
    let (rollup, _) = decode::<Rollup>(&bytes[read..])?;
    // The frame's CRC catches damage, and this check catches a file written to pass the CRC
    // whose indexes or counts could make the report panic or overflow.
    if !rollup.is_consistent() {
        return None;
    }
    Some((header, rollup))
}

/// Keeps a day's rollup, without its hourly counts. A failure is logged: the report goes
/// on and the next one builds the rollup again.
fn write_rollup(data_dir: &Path, day: Date, header: &Header, rollup: &Rollup) {
    let mut bytes = encode(header);
    bytes.extend(encode(rollup));
    write_file(&day_dir(data_dir, day).join("rollup.bin"), &bytes);
}

/// Keeps a day's hourly counts, with the digest of the parts they come from.
fn write_hours(data_dir: &Path, day: Date, stamp: &Stamp, hours: &[HourEntry]) {
    let path = day_dir(data_dir, day).join("hours.bin");
    write_file(&path, &encode(&(stamp.digest(), hours)));
}

/// Reads a day's kept hourly counts, or `None` when they are missing or not those of
/// `stamp`.
fn read_hours(data_dir: &Path, day: Date, stamp: &Stamp) -> Option<Vec<HourEntry>> {
    let mut buffer = Vec::new();
    let bytes = read_frame(&day_dir(data_dir, day).join("hours.bin"), &mut buffer)?;
    let ((digest, hours), _) = decode::<(u64, Vec<HourEntry>)>(bytes)?;
    (digest == stamp.digest()).then_some(hours)
}

/// First bytes of every kept file.
const MAGIC: &[u8; 4] = b"SBRU";

/// Bytes before the encoded value: the magic bytes, the format version, the value's length
/// and its CRC-32.
const FRAME_BYTES: usize = 4 + 4 + 8 + 4;

/// Reads a kept file into `buffer`, whose memory is reused, and returns its value bytes.
/// Returns `None` when the file is missing, of another format or damaged, so a damaged file
/// is built again instead of decoded.
fn read_frame<'b>(path: &Path, buffer: &'b mut Vec<u8>) -> Option<&'b [u8]> {
    use std::io::Read as _;
    buffer.clear();
    std::fs::File::open(path).ok()?.read_to_end(buffer).ok()?;
    let bytes = buffer.as_slice();
    if bytes.len() < FRAME_BYTES || &bytes[..4] != MAGIC {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u64> {
        let mut value = [0_u8; 8];
        value[..range.len()].copy_from_slice(bytes.get(range)?);
        Some(u64::from_le_bytes(value))
    };
    let format = number(4..8)?;
    let length = usize::try_from(number(8..16)?).ok()?;
    let crc = number(16..20)?;
    if format != u64::from(FORMAT) || bytes.len() - FRAME_BYTES != length {
        return None;
    }
    let value = &bytes[FRAME_BYTES..];
    (u64::from(crc32fast::hash(value)) == crc).then_some(value)
}

/// Writes `bytes` to `path` in a frame that [`read_frame`] checks, through a temporary file,
/// so a reader never sees half a file.
fn write_file(path: &Path, bytes: &[u8]) {
    let mut framed = Vec::with_capacity(FRAME_BYTES + bytes.len());
    framed.extend_from_slice(MAGIC);
    framed.extend_from_slice(&FORMAT.to_le_bytes());
    framed.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    framed.extend_from_slice(&crc32fast::hash(bytes).to_le_bytes());
    framed.extend_from_slice(bytes);
    // A name of this process's own, so two reports that keep the same file at once do not
    // write into one temporary file.
    let temporary = path.with_extension(format!("bin.{}.tmp", std::process::id()));
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(&temporary, &framed))
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        tracing::warn!(
            path = %path.display(),
            %error,
            "failed to keep a report rollup; the next report builds it again"
        );
    }
}

/// Returns the encoding of kept files: fixed-width integers, which decode faster than
/// varints, and a limit on what a length read from a file can claim.
fn config() -> impl bincode::config::Config {
    bincode::config::standard()
        .with_fixed_int_encoding()
        .with_limit::<{ 1 << 32 }>()
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, config()).expect("rollups encode to memory")
}

/// Decodes a value from the start of `bytes` and returns it with the bytes it took.
fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<(T, usize)> {
    bincode::serde::decode_from_slice(bytes, config()).ok()
}
