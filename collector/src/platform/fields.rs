//! Lexing of platform text lines: `Label: value` fields, numbers with units and request ids.

use crate::invocation::MemoryUnit;

use super::error::FieldProblem;

/// Field labels Lambda prints in its platform lines. A label is only recognised at the start
/// of a field or after a space, and the longest label at a position wins, so `Billed
/// Duration` is never read as `Duration`.
const LABELS: &[&str] = &[
    "Billed Restore Duration",
    "Runtime Version ARN",
    "Restore Duration",
    "Billed Duration",
    "Max Memory Used",
    "Runtime Version",
    "Init Duration",
    "XRAY TraceId",
    "Memory Size",
    "Error Type",
    "RequestId",
    "SegmentId",
    "Duration",
    "Sampled",
    "TraceId",
    "Version",
    "Events",
    "Status",
    "Phase",
    "State",
    "Types",
    "Name",
];

/// Labelled fields of one platform message, in the order they appear.
#[derive(Debug, Default)]
pub(crate) struct Fields<'a> {
    fields: Vec<(&'a str, &'a str)>,
}

impl<'a> Fields<'a> {
    /// Splits `text` into fields. Tabs and line breaks always separate fields. Inside a
    /// tab-separated chunk, a known label after a space also starts a new field, so copies
    /// that replaced tabs with spaces still read. Chunks that start with no known label are
    /// ignored, so fields added by a later Lambda release do not break the read.
    pub(crate) fn parse(text: &'a str) -> Self {
        let mut fields = Vec::new();
        for chunk in text.split(['\t', '\n']) {
            let chunk = chunk.trim_matches([' ', '\r']);
            let mut labels = label_positions(chunk).into_iter().peekable();
            while let Some((start, label)) = labels.next() {
                let value_start = start + label.len() + 1;
                let value_end = labels.peek().map_or(chunk.len(), |(next, _)| *next);
                let value = chunk.get(value_start..value_end).unwrap_or("").trim();
                fields.push((label, value));
            }
        }
        Self { fields }
    }

    /// Returns the value of the first field labelled `label`.
    pub(crate) fn get(&self, label: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .find(|(name, _)| *name == label)
            .map(|(_, value)| *value)
    }

    pub(crate) fn require(&self, label: &'static str) -> Result<&'a str, FieldProblem> {
        match self.get(label) {
            Some(value) if !value.is_empty() => Ok(value),
            Some(_) | None => Err(FieldProblem::Missing(label)),
        }
    }
}

/// Returns the byte offset and label of every field start in `chunk`.
fn label_positions(chunk: &str) -> Vec<(usize, &'static str)> {
    let bytes = chunk.as_bytes();
    let mut positions = Vec::new();
    let mut index = 0;
    while index < bytes.len() {
        let at_boundary = index == 0 || bytes[index - 1] == b' ';
        let label = if at_boundary {
            chunk.get(index..).and_then(|rest| {
                LABELS.iter().copied().find(|label| {
                    rest.strip_prefix(label)
                        .is_some_and(|after| after.starts_with(':'))
                })
            })
        } else {
            None
        };
        match label {
            Some(label) => {
                positions.push((index, label));
                index += label.len() + 1;
            }
            None => index += 1,
        }
    }
    positions
}

/// Parses a duration such as `693.92 ms` into milliseconds.
pub(crate) fn parse_millis(field: &'static str, value: &str) -> Result<f64, FieldProblem> {
    let expected = "a number of milliseconds such as `693.92 ms`";
    let number = value
        .trim()
        .strip_suffix("ms")
        .map(str::trim_end)
        .ok_or_else(|| FieldProblem::invalid(field, value, expected))?;
    parse_decimal(number).ok_or_else(|| FieldProblem::invalid(field, value, expected))
}

/// Parses a whole number of milliseconds such as `694 ms`.
pub(crate) fn parse_whole_millis(field: &'static str, value: &str) -> Result<u64, FieldProblem> {
    let expected = "a whole number of milliseconds such as `694 ms`";
    value
        .trim()
        .strip_suffix("ms")
        .map(str::trim_end)
        .and_then(parse_unsigned)
        .ok_or_else(|| FieldProblem::invalid(field, value, expected))
}

/// Parses a memory size such as `128 MB`, `128 MiB` or `134217728 bytes` into MB of 2^20
/// bytes, with the unit it was given in.
pub(crate) fn parse_memory(
    field: &'static str,
    value: &str,
) -> Result<(u32, MemoryUnit), FieldProblem> {
    let expected = "a size such as `128 MB`, `128 MiB` or `134217728 bytes`";
    let invalid = || FieldProblem::invalid(field, value, expected);
    let (number, unit) = value.trim().split_once(' ').ok_or_else(invalid)?;
    let number = parse_unsigned(number).ok_or_else(invalid)?;
    let (megabytes, unit) = match unit.trim() {
        "MB" => (Some(number), MemoryUnit::Mb),
        "MiB" => (Some(number), MemoryUnit::Mib),
        "bytes" | "B" => (Some(bytes_to_megabytes(number)), MemoryUnit::Bytes),
        _ => (None, MemoryUnit::Mb),
    };
    let megabytes = megabytes
        .and_then(|megabytes| u32::try_from(megabytes).ok())
        .ok_or_else(invalid)?;
    Ok((megabytes, unit))
}

/// Converts bytes to MB of 2^20 bytes, rounded to the nearest MB.
pub(crate) fn bytes_to_megabytes(bytes: u64) -> u64 {
    const MEGABYTE: u64 = 1 << 20;
    bytes / MEGABYTE + u64::from(bytes % MEGABYTE >= MEGABYTE / 2)
}

/// Parses a non-negative decimal with digits and at most one point; rejects signs,
/// exponents, `inf` and `NaN`, which Lambda never prints.
pub(crate) fn parse_decimal(text: &str) -> Option<f64> {
    let valid = !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte == b'.')
        && text.bytes().filter(|byte| *byte == b'.').count() <= 1
        && text.bytes().any(|byte| byte.is_ascii_digit());
    if !valid {
        return None;
    }
    text.parse::<f64>().ok().filter(|number| number.is_finite())
}

/// Parses a run of ASCII digits; rejects signs and values over `u64::MAX`.
pub(crate) fn parse_unsigned(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Returns the first UUID (`8-4-4-4-12` hex digits) in `text`; Lambda request ids have this
/// form.
pub(crate) fn find_request_id(text: &str) -> Option<&str> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    const LENGTH: usize = 36;
    let bytes = text.as_bytes();
    let is_uuid_at = |start: usize| {
        let mut index = start;
        for (group, length) in GROUPS.iter().enumerate() {
            if group > 0 {
                if bytes.get(index) != Some(&b'-') {
                    return false;
                }
                index += 1;
            }
            let Some(digits) = bytes.get(index..index + length) else {
                return false;
            };
            if !digits.iter().all(u8::is_ascii_hexdigit) {
                return false;
            }
            index += length;
        }
        let clear_before = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        let clear_after = bytes
            .get(index)
            .is_none_or(|byte| !byte.is_ascii_alphanumeric());
        clear_before && clear_after
    };
    (0..bytes.len().saturating_sub(LENGTH - 1))
        .find(|start| is_uuid_at(*start))
        .and_then(|start| text.get(start..start + LENGTH))
}

/// Returns true when `line` is a bare Lambda error type such as `Runtime.ExitError`, the
/// second line of a runtime error message.
pub(crate) fn is_error_type(line: &str) -> bool {
    let Some((namespace, name)) = line.split_once('.') else {
        return false;
    };
    let is_word = |word: &str| {
        word.bytes()
            .next()
            .is_some_and(|byte| byte.is_ascii_uppercase())
            && word.bytes().all(|byte| byte.is_ascii_alphanumeric())
    };
    is_word(namespace) && is_word(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_split_on_tabs() {
        let fields = Fields::parse(
            "REPORT RequestId: 22646860-521e-4fdd-9344-c4440d5a2c22\tDuration: 693.92 ms\t\
             Billed Duration: 694 ms\tMemory Size: 128 MB\tMax Memory Used: 84 MB\t\n\
             XRAY TraceId: 1-663367c2-ad6a0f14a3cdc9d8a02e9f81\tSampled: true\t",
        );
        assert_eq!(
            fields.get("RequestId"),
            Some("22646860-521e-4fdd-9344-c4440d5a2c22")
        );
        assert_eq!(fields.get("Duration"), Some("693.92 ms"));
        assert_eq!(fields.get("Billed Duration"), Some("694 ms"));
        assert_eq!(fields.get("Max Memory Used"), Some("84 MB"));
        assert_eq!(
            fields.get("XRAY TraceId"),
            Some("1-663367c2-ad6a0f14a3cdc9d8a02e9f81")
        );
        assert_eq!(fields.get("Sampled"), Some("true"));
    }

    #[test]
    fn fields_split_on_spaces_by_label() {
        let fields = Fields::parse(
            "REPORT RequestId: 667e8111-795f-4549-a837-d40ce20d734e Duration: 37.39 ms \
             Billed Duration: 100 ms Memory Size: 128 MB Max Memory Used: 12 MB",
        );
        assert_eq!(fields.get("Duration"), Some("37.39 ms"));
        assert_eq!(fields.get("Billed Duration"), Some("100 ms"));
        assert_eq!(fields.get("Memory Size"), Some("128 MB"));
        assert_eq!(fields.get("Max Memory Used"), Some("12 MB"));
    }

    #[test]
    fn fields_ignore_unknown_chunks() {
        let fields = Fields::parse("Duration: 1.00 ms\tFuture Field: 3 ms\tStatus: error");
        assert_eq!(fields.get("Duration"), Some("1.00 ms"));
        assert_eq!(fields.get("Status"), Some("error"));
        assert_eq!(fields.get("Future Field"), None);
    }

    #[test]
    fn runtime_version_arn_is_not_version() {
        let fields = Fields::parse(
            "INIT_START Runtime Version: python:3.12.v21\tRuntime Version ARN: arn:aws:lambda:eu-west-1::runtime:fb",
        );
        assert_eq!(fields.get("Runtime Version"), Some("python:3.12.v21"));
        assert_eq!(
            fields.get("Runtime Version ARN"),
            Some("arn:aws:lambda:eu-west-1::runtime:fb")
        );
        assert_eq!(fields.get("Version"), None);
    }

    #[test]
    fn millis_values() {
        assert_eq!(parse_millis("Duration", "693.92 ms"), Ok(693.92));
        assert_eq!(parse_millis("Duration", "5964.04 ms "), Ok(5964.04));
        assert!(parse_millis("Duration", "693.92").is_err());
        assert!(parse_millis("Duration", "-1 ms").is_err());
        assert!(parse_millis("Duration", "inf ms").is_err());
        assert!(parse_millis("Duration", "1e400 ms").is_err());
        assert!(parse_millis("Duration", ". ms").is_err());
        assert_eq!(parse_whole_millis("Billed Duration", "6000 ms"), Ok(6000));
        assert!(parse_whole_millis("Billed Duration", "60.5 ms").is_err());
        assert!(parse_whole_millis("Billed Duration", "99999999999999999999 ms").is_err());
    }

    #[test]
    fn memory_units() {
        assert_eq!(
            parse_memory("Memory Size", "128 MB"),
            Ok((128, MemoryUnit::Mb))
        );
        assert_eq!(
            parse_memory("Memory Size", "3009 MiB"),
            Ok((3009, MemoryUnit::Mib))
        );
        assert_eq!(
            parse_memory("Memory Size", "268435456 bytes"),
            Ok((256, MemoryUnit::Bytes))
        );
        assert!(parse_memory("Memory Size", "128").is_err());
        assert!(parse_memory("Memory Size", "128 GB").is_err());
        assert!(parse_memory("Memory Size", "99999999999 MB").is_err());
    }

    #[test]
    fn request_id_search() {
        assert_eq!(
            find_request_id("RequestId: 8e009fe3-c1e3-4a53-b5ad-cdf1adaa0980 Process exited"),
            Some("8e009fe3-c1e3-4a53-b5ad-cdf1adaa0980")
        );
        assert_eq!(
            find_request_id("2026-07-01T17:53:27.402Z 09313c83-2360-4236-a1cc-a99e329562ed Task"),
            Some("09313c83-2360-4236-a1cc-a99e329562ed")
        );
        assert_eq!(find_request_id("no id here"), None);
        assert_eq!(
            find_request_id("x8e009fe3-c1e3-4a53-b5ad-cdf1adaa0980"),
            None
        );
        assert_eq!(
            find_request_id("é8e009fe3-c1e3-4a53-b5ad-cdf1adaa098"),
            None
        );
    }

    #[test]
    fn error_type_lines() {
        assert!(is_error_type("Runtime.ExitError"));
        assert!(is_error_type("Sandbox.Timedout"));
        assert!(!is_error_type("35MB consumed"));
        assert!(!is_error_type("Runtime."));
        assert!(!is_error_type("runtime.exitError"));
    }
}
