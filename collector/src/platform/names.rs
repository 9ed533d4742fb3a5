//! Names and times that identify where a record comes from: log stream and log group names,
//! ARNs and the timestamp forms CloudWatch Logs tools print.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A Lambda log stream name: `2024/07/05/[56]5bfcd...` or, in newer streams,
/// `2026/10/08/notifier-fn[$LATEST]5843...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogStreamName<'a> {
    pub(crate) function: Option<&'a str>,
    pub(crate) version: &'a str,
}

impl<'a> LogStreamName<'a> {
    pub(crate) fn parse(name: &'a str) -> Option<Self> {
        let date = name.get(..11)?;
        let date_shaped = date.bytes().enumerate().all(|(index, byte)| match index {
            4 | 7 | 10 => byte == b'/',
            _ => byte.is_ascii_digit(),
        });
        if !date_shaped {
            return None;
        }
        let rest = &name[11..];
        let (function, rest) = rest.split_once('[')?;
        let (version, instance) = rest.split_once(']')?;
        let valid = !version.is_empty()
            && !instance.is_empty()
            && instance.bytes().all(|byte| byte.is_ascii_alphanumeric())
            && !function.contains(char::is_whitespace);
        valid.then_some(Self {
            function: (!function.is_empty()).then_some(function),
            version,
        })
    }
}

/// Function name and, for Lambda@Edge replicas (`/aws/lambda/us-east-1.name`), region of a
/// log group name.
pub(crate) fn parse_log_group(name: &str) -> Option<(&str, Option<&str>)> {
    let function = name.strip_prefix("/aws/lambda/")?;
    if function.is_empty() {
        return None;
    }
    if let Some((region, edge_function)) = function.split_once('.')
        && is_region(region)
        && !edge_function.is_empty()
    {
        return Some((edge_function, Some(region)));
    }
    Some((function, None))
}

/// Returns true for names shaped like an AWS region (`eu-west-1`, `us-gov-west-1`).
fn is_region(text: &str) -> bool {
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() >= 3
        && parts[..parts.len() - 1]
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|byte| byte.is_ascii_lowercase()))
        && parts[parts.len() - 1]
            .bytes()
            .all(|byte| byte.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// The parts of a Lambda ARN this reader uses: a function ARN
/// (`arn:aws:lambda:eu-central-1:123456789012:function:notifier-fn[:qualifier]`) or a runtime
/// version ARN (`arn:aws:lambda:eu-west-1::runtime:fbd5...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LambdaArn<'a> {
    pub(crate) region: Option<&'a str>,
    pub(crate) account: Option<&'a str>,
    pub(crate) function: Option<&'a str>,
    pub(crate) qualifier: Option<&'a str>,
}

impl<'a> LambdaArn<'a> {
    pub(crate) fn parse(arn: &'a str) -> Option<Self> {
        let mut parts = arn.split(':');
        let (Some("arn"), Some(_partition), Some("lambda"), Some(region), Some(account)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return None;
        };
        let non_empty = |text: &'a str| (!text.is_empty()).then_some(text);
        let resource = parts.next();
        let name = parts.next();
        let qualifier = parts.next();
        let function = if resource == Some("function") {
            name.and_then(non_empty)
        } else {
            None
        };
        Some(Self {
            region: non_empty(region).filter(|region| is_region(region)),
            account: non_empty(account)
                .filter(|account| account.bytes().all(|b| b.is_ascii_digit())),
            function,
            qualifier: qualifier.and_then(non_empty).filter(|_| function.is_some()),
        })
    }
}

/// Parses an ISO 8601 timestamp as CloudWatch Logs tools print it: `2024-02-09T08:42:43.512Z`,
/// `2024-07-05T10:16:34.566000` (no offset, read as UTC) or
/// `2024-05-02T10:15:30.120000+00:00`.
pub(crate) fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    let bytes = text.as_bytes();
    if bytes.len() < 19 || !matches!(bytes[10], b'T' | b't') {
        return None;
    }
    let date = parse_date(text.get(..10)?)?;
    let time = parse_time_of_day(text.get(11..19)?)?;
    let mut rest = &text[19..];

    let mut nanosecond = 0u32;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let value: u32 = fraction[..digits].parse().ok()?;
        nanosecond = value * 10u32.pow(9 - digits as u32);
        rest = &fraction[digits..];
    }
    let offset = match rest {
        "" | "Z" | "z" => UtcOffset::UTC,
        _ => parse_offset(rest)?,
    };
    let time = time.replace_nanosecond(nanosecond).ok()?;
    // Dates decide the billing era, so every time is kept in UTC.
    PrimitiveDateTime::new(date, time)
        .assume_offset(offset)
        .checked_to_offset(UtcOffset::UTC)
}

fn parse_offset(text: &str) -> Option<UtcOffset> {
    let sign: i8 = match text.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits = text[1..].replace(':', "");
    if digits.len() != 4 || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let hours: i8 = digits[..2].parse().ok()?;
    let minutes: i8 = digits[2..].parse().ok()?;
    UtcOffset::from_hms(sign * hours, sign * minutes, 0).ok()
}

/// Parses `YYYY-MM-DD`.
pub(crate) fn parse_date(text: &str) -> Option<Date> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            4 | 7 => *byte == b'-',
            _ => byte.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    let year: i32 = text[..4].parse().ok()?;
    let month: u8 = text[5..7].parse().ok()?;
    let day: u8 = text[8..10].parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

/// Parses `HH:MM:SS`, a time-of-day line prefix.
pub(crate) fn parse_time_of_day(text: &str) -> Option<Time> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 8
        && bytes.iter().enumerate().all(|(index, byte)| match index {
            2 | 5 => *byte == b':',
            _ => byte.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    let hour: u8 = text[..2].parse().ok()?;
    let minute: u8 = text[3..5].parse().ok()?;
    let second: u8 = text[6..8].parse().ok()?;
    Time::from_hms(hour, minute, second).ok()
}

/// Converts CloudWatch Logs epoch milliseconds to a UTC time.
pub(crate) fn from_epoch_millis(millis: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        assert_eq!(
            LogStreamName::parse("2024/07/05/[56]5bfcd8021b5fff1aae05d94a99b8aba3"),
            Some(LogStreamName {
                function: None,
                version: "56"
            })
        );
        assert_eq!(
            LogStreamName::parse("2026/10/08/notifier-fn[$LATEST]5843bf9a7199540c216442f1e4af1a15"),
            Some(LogStreamName {
                function: Some("notifier-fn"),
                version: "$LATEST"
            })
        );
        assert_eq!(LogStreamName::parse("2024/07/05/[56]"), None);
        assert_eq!(LogStreamName::parse("2024-07-05T10:16:34.566000"), None);
        assert_eq!(
            LogStreamName::parse("I'm about to use up a lot of RAM..."),
            None
        );
    }

    #[test]
    fn log_groups() {
        assert_eq!(
            parse_log_group("/aws/lambda/image-resizer"),
            Some(("image-resizer", None))
        );
        assert_eq!(
            parse_log_group("/aws/lambda/us-east-1.edge-auth"),
            Some(("edge-auth", Some("us-east-1")))
        );
        assert_eq!(parse_log_group("/aws/lambda/v1.2"), Some(("v1.2", None)));
        assert_eq!(parse_log_group("/ecs/service"), None);
        assert_eq!(parse_log_group(""), None);
    }

    #[test]
    fn arns() {
        let function =
            LambdaArn::parse("arn:aws:lambda:eu-central-1:123456789012:function:notifier-fn:56")
                .unwrap();
        assert_eq!(function.region, Some("eu-central-1"));
        assert_eq!(function.account, Some("123456789012"));
        assert_eq!(function.function, Some("notifier-fn"));
        assert_eq!(function.qualifier, Some("56"));

        let runtime = LambdaArn::parse("arn:aws:lambda:eu-west-1::runtime:fbd5dece").unwrap();
        assert_eq!(runtime.region, Some("eu-west-1"));
        assert_eq!(runtime.account, None);
        assert_eq!(runtime.function, None);
        assert_eq!(LambdaArn::parse("arn:aws:s3:::bucket"), None);
    }

    #[test]
    fn timestamps() {
        let utc = parse_timestamp("2024-02-09T08:42:43.512Z").unwrap();
        assert_eq!(utc.unix_timestamp_nanos(), 1_707_468_163_512_000_000);
        let bare = parse_timestamp("2024-07-05T10:16:34.566000").unwrap();
        assert_eq!(bare.unix_timestamp_nanos(), 1_720_174_594_566_000_000);
        let offset = parse_timestamp("2024-05-02T12:15:30.120000+02:00").unwrap();
        assert_eq!(offset.unix_timestamp_nanos(), 1_714_644_930_120_000_000);
        assert_eq!(offset.offset(), UtcOffset::UTC);
        let previous_day = parse_timestamp("2025-08-01T01:00:00+02:00").unwrap();
        assert_eq!(
            previous_day.date(),
            Date::from_calendar_date(2025, Month::July, 31).unwrap()
        );
        assert_eq!(parse_timestamp("9999-12-31T23:59:59-23:59"), None);
        assert_eq!(parse_timestamp("2024-02-30T08:42:43Z"), None);
        assert_eq!(parse_timestamp("2024-02-09T08:42:43.Z"), None);
        assert_eq!(parse_timestamp("2024-02-09T08:42:43.1234567891Z"), None);
        assert_eq!(parse_timestamp("2024-02-09T08:42:43+2"), None);
        assert_eq!(parse_timestamp("2024-02-09 08:42:43"), None);
    }

    #[test]
    fn times_of_day() {
        assert_eq!(
            parse_time_of_day("17:43:27"),
            Time::from_hms(17, 43, 27).ok()
        );
        assert_eq!(parse_time_of_day("24:00:00"), None);
        assert_eq!(parse_time_of_day("7:43:27"), None);
    }
}
