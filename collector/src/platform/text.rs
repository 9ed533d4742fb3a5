//! Reading of text platform logs: bare lines, `aws logs tail` output in its detailed
//! (`<timestamp> <log stream> <message>`) and short (`<timestamp> <message>`) formats,
//! captures that print only a time of day (`HH:MM:SS <message>`), and `sam logs` output
//! (`<log stream> <timestamp> <message>`).

use std::borrow::Cow;
use std::sync::Arc;

use time::{Date, Duration, OffsetDateTime, Time};

use super::assemble::Assembler;
use super::error::{Location, ReadError};
use super::event::EventContext;
use super::fields::is_error_type;
use super::names::{LogStreamName, parse_time_of_day, parse_timestamp};
use super::summary::{DateSource, SkipReason};
use super::{ReadOptions, dispatch_text_message};

/// Time printed before a message.
#[derive(Debug, Clone, Copy)]
enum LineTime {
    None,
    Full(OffsetDateTime),
    /// Only the time of day is printed, so the date comes from elsewhere.
    TimeOfDay(Time),
}

/// A physical line split into its prefix parts and message.
#[derive(Debug)]
struct Line<'a> {
    stream: Option<&'a str>,
    time: LineTime,
    message: &'a str,
}

fn split_prefix(line: &str) -> Line<'_> {
    let bare = Line {
        stream: None,
        time: LineTime::None,
        message: line,
    };
    let Some((first, rest)) = line.split_once(' ') else {
        return bare;
    };

    if LogStreamName::parse(first).is_some() {
        if let Some((timestamp, message)) = rest.split_once(' ')
            && let Some(time) = parse_timestamp(timestamp)
        {
            return Line {
                stream: Some(first),
                time: LineTime::Full(time),
                message,
            };
        }
        return Line {
            stream: Some(first),
            time: LineTime::None,
            message: rest,
        };
    }
    if let Some(time) = parse_timestamp(first) {
        if let Some((stream, message)) = rest.split_once(' ')
            && LogStreamName::parse(stream).is_some()
        {
            return Line {
                stream: Some(stream),
                time: LineTime::Full(time),
                message,
            };
        }
        return Line {
            stream: None,
            time: LineTime::Full(time),
            message: rest,
        };
    }
    if let Some(time) = parse_time_of_day(first) {
        return Line {
            stream: None,
            time: LineTime::TimeOfDay(time),
            message: rest,
        };
    }
    bare
}

/// Returns true for the lines Lambda prints as the second line of one log event: the XRAY
/// part of a REPORT and the error type under a runtime error.
fn is_continuation(message: &str) -> bool {
    let message = message.trim();
    message.starts_with("XRAY TraceId:") || is_error_type(message)
}

/// Iterates over the physical lines of `input` with their 1-based numbers, without the line
/// break and a trailing `\r`.
fn physical_lines(input: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    input
        .split(|byte| *byte == b'\n')
        .enumerate()
        .map(|(index, line)| (index + 1, line.strip_suffix(b"\r").unwrap_or(line)))
}

/// Tracks the date of `HH:MM:SS` lines. A time more than 12 hours earlier than the previous
/// one means the log crossed midnight; smaller steps back are interleaved environments.
#[derive(Debug)]
struct DayCounter {
    previous: Option<Time>,
}

impl DayCounter {
    /// Returns true when `time` starts a new day.
    fn crosses_midnight(&mut self, time: Time) -> bool {
        let crossed = self
            .previous
            .is_some_and(|previous| previous - time > Duration::hours(12));
        self.previous = Some(time);
        crossed
    }
}

/// One log message being collected from a line and its continuation lines.
#[derive(Debug)]
struct Pending {
    context: EventContext,
    text: String,
}

/// Reads a text log into `assembler`. Returns the origin of the dates of time-of-day lines,
/// or [`DateSource::Timestamps`] when the log has none.
pub(crate) fn read_text(
    input: &[u8],
    name: &Arc<str>,
    file_modified: Option<Date>,
    options: &ReadOptions,
    assembler: &mut Assembler<'_>,
) -> Result<DateSource, ReadError> {
    let max_line = options.limits.max_line_bytes;

    // `HH:MM:SS` lines carry no date. A date from the caller is the first line's date; the
    // file's modification date is the last line's, so count the midnights in between.
    let mut midnights = 0u16;
    let mut counter = DayCounter { previous: None };
    for (_, raw) in physical_lines(input) {
        if raw.len() <= max_line
            && let LineTime::TimeOfDay(time) = split_prefix(&String::from_utf8_lossy(raw)).time
            && counter.crosses_midnight(time)
        {
            midnights = midnights.saturating_add(1);
        }
    }
    let (first_date, time_of_day_source) = match (options.date, file_modified) {
        (Some(date), _) => (Some(date), DateSource::Option(date)),
        (None, Some(modified)) => (
            modified.checked_sub(Duration::days(i64::from(midnights))),
            DateSource::FileModified(modified),
        ),
        (None, None) => (None, DateSource::Unknown),
    };

    let mut date = first_date;
    let mut counter = DayCounter { previous: None };
    let mut saw_time_of_day = false;
    let mut stream_cache: Option<Arc<str>> = None;
    let mut pending: Option<Pending> = None;

    for (number, raw) in physical_lines(input) {
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        assembler.summary.records_read += 1;
        if raw.len() > max_line {
            assembler.skip(SkipReason::TooLong);
            continue;
        }
        let decoded: Cow<'_, str> = String::from_utf8_lossy(raw);
        let line = split_prefix(&decoded);

        if let Some(collecting) = pending.as_mut()
            && is_continuation(line.message)
        {
            collecting.text.push('\n');
            collecting.text.push_str(line.message);
            continue;
        }
        if let Some(done) = pending.take() {
            dispatch_text_message(assembler, &done.context, &done.text)?;
        }

        if matches!(line.time, LineTime::None) && line.message.trim_start().starts_with('#') {
            assembler.skip(SkipReason::Annotation);
            continue;
        }

        let time = match line.time {
            LineTime::None => None,
            LineTime::Full(time) => Some(time),
            LineTime::TimeOfDay(time) => {
                saw_time_of_day = true;
                if counter.crosses_midnight(time) {
                    date = date.and_then(Date::next_day);
                }
                // NOTE: a time of day is read as UTC, as `aws logs tail` prints its dated
                // timestamps. A capture printed in local time comes out shifted by its offset.
                date.map(|date| date.with_time(time).assume_utc())
            }
        };
        let stream = line.stream.map(|stream| match &stream_cache {
            Some(cached) if **cached == *stream => Arc::clone(cached),
            _ => {
                let shared: Arc<str> = Arc::from(stream);
                stream_cache = Some(Arc::clone(&shared));
                shared
            }
        });
        pending = Some(Pending {
            context: EventContext {
                location: Location::line(name, number),
                time,
                stream,
                log_group: None,
                owner: None,
            },
            text: line.message.to_owned(),
        });
    }
    if let Some(done) = pending.take() {
        dispatch_text_message(assembler, &done.context, &done.text)?;
    }

    if saw_time_of_day {
        Ok(time_of_day_source)
    } else {
        Ok(DateSource::Timestamps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sam_logs_prefix() {
        let line = split_prefix(
            "2024/07/05/[56]5bfcd8021b5fff1aae05d94a99b8aba3 2024-07-05T10:16:43.928000 START \
             RequestId: bac72d63-e151-4001-a439-b2c7e2b56c1e Version: 56",
        );
        assert_eq!(
            line.stream,
            Some("2024/07/05/[56]5bfcd8021b5fff1aae05d94a99b8aba3")
        );
        assert!(matches!(line.time, LineTime::Full(_)));
        assert!(line.message.starts_with("START RequestId"));
    }

    #[test]
    fn tail_detailed_prefix() {
        let line = split_prefix(
            "2024-05-02T10:15:30.120000+00:00 2024/05/02/[$LATEST]4f1f9d78e29a29f5b08ee91c51b11813 \
             END RequestId: 22646860-521e-4fdd-9344-c4440d5a2c22",
        );
        assert_eq!(
            line.stream,
            Some("2024/05/02/[$LATEST]4f1f9d78e29a29f5b08ee91c51b11813")
        );
        assert!(matches!(line.time, LineTime::Full(_)));
        assert!(line.message.starts_with("END RequestId"));
    }

    #[test]
    fn tail_short_prefix() {
        let line = split_prefix("2024-05-02T10:15:30 END RequestId: x");
        assert!(line.stream.is_none());
        assert!(matches!(line.time, LineTime::Full(_)));
        assert_eq!(line.message, "END RequestId: x");
    }

    #[test]
    fn tail_time_of_day_prefix() {
        let line = split_prefix("17:43:27 START RequestId: x Version: $LATEST");
        assert!(matches!(line.time, LineTime::TimeOfDay(_)));
        assert_eq!(line.message, "START RequestId: x Version: $LATEST");
    }

    #[test]
    fn bare_lines_keep_their_text() {
        for text in [
            "START RequestId: 8e009fe3-c1e3-4a53-b5ad-cdf1adaa0980 Version: $LATEST",
            "2018/03/13 20:31:51 unexpected EOF",
            "2025-01-14T03:25:43.043Z\t18ec9f32-bd20-48e6-bcfd-862ea78242d5\tINFO\tdone",
        ] {
            let line = split_prefix(text);
            assert!(line.stream.is_none(), "{text}");
            assert!(matches!(line.time, LineTime::None), "{text}");
            assert_eq!(line.message, text);
        }
    }

    #[test]
    fn midnight_crossing() {
        let mut counter = DayCounter { previous: None };
        let time = |hour, minute| Time::from_hms(hour, minute, 0).unwrap();
        assert!(!counter.crosses_midnight(time(23, 58)));
        assert!(!counter.crosses_midnight(time(23, 50)));
        assert!(counter.crosses_midnight(time(0, 1)));
        assert!(!counter.crosses_midnight(time(0, 0)));
    }
}
