//! Redaction of sensitive values before they reach span attributes or logs.
//!
//! Two rules apply, both on by default:
//!
//! - an attribute or a logged `key=value` field whose key names a secret (card number, CVV,
//!   password, token, authorization header, e-mail, ...) has its whole value replaced;
//! - inside any other string, payment card numbers (13 to 19 digits that pass the Luhn check,
//!   optionally grouped by spaces or dashes), e-mail addresses and `Bearer` tokens are replaced.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io;
use std::sync::{Arc, PoisonError, RwLock};

use opentelemetry::{KeyValue, Value};

use crate::keys::{is_spanbill_key, is_trusted_key};

/// The text that replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// Key fragments that mark a value as sensitive, matched case-insensitively with `-` and `.`
/// read as `_`.
const DEFAULT_SENSITIVE_KEYS: &[&str] = &[
    "card_number",
    "cardnumber",
    "card_no",
    "pan",
    "cvv",
    "cvc",
    "cvv2",
    "security_code",
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "set_cookie",
    "email",
    "e_mail",
    "x_api_key",
];

/// Keys remembered by one redactor; beyond this many new keys are checked every time.
const MAX_CACHED_KEYS: usize = 4096;

/// The rules that select the values to redact.
#[derive(Debug, Clone)]
pub struct Redactor {
    enabled: bool,
    sensitive_keys: Vec<String>,
    // Attribute keys repeat on every span, so each one is classified once.
    verdicts: Arc<RwLock<HashMap<Box<str>, bool>>>,
}

impl Default for Redactor {
    fn default() -> Self {
        Self {
            enabled: true,
            sensitive_keys: DEFAULT_SENSITIVE_KEYS
                .iter()
                .map(|key| (*key).to_owned())
                .collect(),
            verdicts: Arc::default(),
        }
    }
}

impl Redactor {
    /// Creates a redactor that leaves every value as it is.
    #[must_use]
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            sensitive_keys: Vec::new(),
            verdicts: Arc::default(),
        }
    }

    /// Adds a key fragment whose values are always redacted.
    #[must_use]
    pub fn with_sensitive_key(mut self, key: &str) -> Self {
        self.sensitive_keys.push(normalise_key(key));
        self.verdicts = Arc::default();
        self
    }

    /// Returns whether redaction is on.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Returns whether values under `key` are always redacted.
    #[must_use]
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        if !self.enabled || is_trusted_key(key) {
            return false;
        }
        if let Some(verdict) = self
            .verdicts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
        {
            return *verdict;
        }
        let verdict = self.classify_key(key);
        let mut verdicts = self
            .verdicts
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if verdicts.len() < MAX_CACHED_KEYS {
            verdicts.insert(Box::from(key), verdict);
        }
        verdict
    }

    fn classify_key(&self, key: &str) -> bool {
        let key = normalise_key(key);
        let last = key.rsplit('_').next().unwrap_or(&key);
        self.sensitive_keys.iter().any(|fragment| {
            // Short fragments such as `pan` must match a whole key segment, so `company`
            // and `span_id` stay readable.
            if fragment.len() <= 3 {
                last == fragment
            } else {
                key.contains(fragment.as_str())
            }
        })
    }

    /// Redacts one attribute in place; returns whether it changed.
    ///
    /// Attributes that spanbill sets from trusted sources, such as ids, ARNs and counts, are
    /// left as they are. Most attributes on an invocation span are such, and those that
    /// spanbill set itself are recognised without reading their key.
    #[inline]
    pub fn redact_attribute(&self, attribute: &mut KeyValue) -> bool {
        let key = attribute.key.as_str();
        if !self.enabled || is_spanbill_key(key) {
            return false;
        }
        self.redact_untrusted_attribute(attribute)
    }

    fn redact_untrusted_attribute(&self, attribute: &mut KeyValue) -> bool {
        if is_trusted_key(attribute.key.as_str()) {
            return false;
        }
        if self.is_sensitive_key(attribute.key.as_str()) {
            attribute.value = Value::from(REDACTED);
            return true;
        }
        if let Value::String(text) = &attribute.value
            && let Cow::Owned(clean) = self.redact_text(text.as_str())
        {
            attribute.value = Value::from(clean);
            return true;
        }
        false
    }

    /// Redacts card numbers, e-mail addresses, bearer tokens and the values of sensitive
    /// `key=value` or `"key": "value"` pairs inside free text.
    #[must_use]
    pub fn redact_text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if !self.enabled || !self.might_contain_secret(text) {
            return Cow::Borrowed(text);
        }
        let text = redact_card_numbers(text);
        let text = redact_emails(&text);
        let text = redact_bearer(&text);
        let text = self.redact_pairs(&text);
        Cow::Owned(text)
    }

    fn redact_pairs(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(pos) = rest.find(['=', ':']) {
            let (before, after) = rest.split_at(pos);
            let key = trailing_key(before);
            let separator = is_pair_separator(rest, pos);
            out.push_str(before);
            out.push_str(&after[..1]);
            let after = &after[1..];
            if !separator || key.is_empty() || !self.is_sensitive_key(key) {
                rest = after;
                continue;
            }
            let (value_len, quoted) = value_extent(after);
            if value_len == 0 {
                rest = after;
                continue;
            }
            let lead = after.len() - after.trim_start().len();
            out.push_str(&after[..lead]);
            if quoted {
                out.push('"');
                out.push_str(REDACTED);
                out.push('"');
            } else {
                out.push_str(REDACTED);
            }
            rest = &after[lead + value_len..];
        }
        out.push_str(rest);
        out
    }
}

fn normalise_key(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c == '-' || c == '.' || c == ' ' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

impl Redactor {
    /// Checks, without allocating, whether `text` may contain a secret, so that most strings
    /// are returned without a copy.
    fn might_contain_secret(&self, text: &str) -> bool {
        let bytes = text.as_bytes();
        let mut digits = 0;
        let mut separators = false;
        for &byte in bytes {
            match byte {
                b'@' => return true,
                b'0'..=b'9' => {
                    digits += 1;
                    if digits >= 13 {
                        return true;
                    }
                }
                b' ' | b'-' => {}
                b'=' | b':' => {
                    separators = true;
                    digits = 0;
                }
                _ => digits = 0,
            }
        }
        if text.contains("earer ") {
            return true;
        }
        separators && self.has_sensitive_pair(text)
    }

    fn has_sensitive_pair(&self, text: &str) -> bool {
        let mut rest = text;
        while let Some(pos) = rest.find(['=', ':']) {
            let key = trailing_key(&rest[..pos]);
            if is_pair_separator(rest, pos) && !key.is_empty() && self.is_sensitive_key(key) {
                return true;
            }
            rest = &rest[pos + 1..];
        }
        false
    }
}

/// Returns whether the `=` or `:` at `pos` separates a key from its value. A colon counts
/// only when a space or quote follows it (`key: value`, `"key":"value"`), so that ARNs and
/// times are not read as pairs.
fn is_pair_separator(text: &str, pos: usize) -> bool {
    let bytes = text.as_bytes();
    bytes[pos] == b'=' || matches!(bytes.get(pos + 1), Some(b' ' | b'"' | b'\t'))
}

fn trailing_key(before: &str) -> &str {
    let trimmed = before.trim_end().trim_end_matches('"');
    let start = trimmed
        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
        .map_or(0, |i| i + 1);
    &trimmed[start..]
}

/// Returns the byte length of the value after a separator (leading spaces excluded) and
/// whether it was quoted.
fn value_extent(after: &str) -> (usize, bool) {
    let trimmed = after.trim_start();
    if let Some(inner) = trimmed.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in inner.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => return (i + 2, true),
                _ => escaped = false,
            }
        }
        return (trimmed.len(), true);
    }
    // An authorization value is a scheme and a credential: `Bearer <token>`, `Basic <...>`.
    let scheme_len = ["Bearer ", "Basic ", "Digest "]
        .iter()
        .find(|scheme| trimmed.starts_with(**scheme))
        .map_or(0, |scheme| scheme.len());
    let value = &trimmed[scheme_len..];
    let end = value
        .find([' ', ',', ';', '}', '&', '\n', '\t'])
        .unwrap_or(value.len());
    (scheme_len + end, false)
}

fn luhn_valid(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, digit) in digits.iter().rev().enumerate() {
        let mut value = u32::from(*digit);
        if i % 2 == 1 {
            value *= 2;
            if value > 9 {
                value -= 9;
            }
        }
        sum += value;
    }
    sum.is_multiple_of(10)
}

fn redact_card_numbers(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        let starts_run = bytes[i].is_ascii_digit() && (i == 0 || !bytes[i - 1].is_ascii_digit());
        if !starts_run {
            i += 1;
            continue;
        }

        // Take digits with single spaces or dashes between them.
        let mut digits = Vec::with_capacity(19);
        let mut end = i;
        let mut j = i;
        while j < bytes.len() {
            if bytes[j].is_ascii_digit() {
                digits.push(bytes[j] - b'0');
                end = j + 1;
                j += 1;
            } else if (bytes[j] == b' ' || bytes[j] == b'-')
                && j + 1 < bytes.len()
                && bytes[j + 1].is_ascii_digit()
            {
                j += 1;
            } else {
                break;
            }
        }
        if (13..=19).contains(&digits.len()) && luhn_valid(&digits) {
            out.push_str(&text[copied..i]);
            out.push_str(REDACTED);
            copied = end;
        }
        i = end.max(i + 1);
    }
    out.push_str(&text[copied..]);
    out
}

fn redact_emails(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in text.match_indices('@') {
        if at < copied {
            continue;
        }
        let is_local = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
        let is_domain = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
        let start = text[copied..at]
            .rfind(|c: char| !is_local(c))
            .map_or(copied, |p| copied + p + 1);
        let domain = &text[at + 1..];
        let domain_len = domain.find(|c: char| !is_domain(c)).unwrap_or(domain.len());
        let domain = domain[..domain_len].trim_end_matches('.');
        if start == at || !domain.contains('.') {
            continue;
        }
        out.push_str(&text[copied..start]);
        out.push_str(REDACTED);
        copied = at + 1 + domain.len();
    }
    out.push_str(&text[copied..]);
    out
}

fn redact_bearer(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("Bearer ").or_else(|| rest.find("bearer ")) {
        let token_start = pos + "Bearer ".len();
        out.push_str(&rest[..token_start]);
        let token = &rest[token_start..];
        let len = token
            .find([' ', '"', ',', ';', '\n'])
            .unwrap_or(token.len());
        if len > 0 {
            out.push_str(REDACTED);
        }
        rest = &token[len..];
    }
    out.push_str(rest);
    out
}

/// A writer for log output that redacts each write before passing it on.
#[derive(Debug)]
pub struct RedactingWriter<W> {
    inner: W,
    redactor: Redactor,
}

impl<W: io::Write> RedactingWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W, redactor: Redactor) -> Self {
        Self { inner, redactor }
    }
}

impl<W: io::Write> io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => {
                self.inner
                    .write_all(self.redactor.redact_text(text).as_bytes())?;
                Ok(buf.len())
            }
            Err(_) => self.inner.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_in_text() {
        let redactor = Redactor::default();
        let text = "charged 4111 1111 1111 1111 and 4111-1111-1111-1111 and 4111111111111111";
        assert_eq!(
            redactor.redact_text(text),
            "charged [REDACTED] and [REDACTED] and [REDACTED]"
        );
    }

    #[test]
    fn digits_failing_luhn_kept() {
        let redactor = Redactor::default();
        let text = "order 1234567890123 of 2024";
        assert_eq!(redactor.redact_text(text), text);
    }

    #[test]
    fn emails_and_bearer_tokens() {
        let redactor = Redactor::default();
        assert_eq!(
            redactor.redact_text("mail ana.lopez+x@example.com now"),
            "mail [REDACTED] now"
        );
        assert_eq!(
            redactor.redact_text("Authorization: Bearer abc.def.ghi"),
            "Authorization: [REDACTED]"
        );
        assert_eq!(
            redactor.redact_text("got Bearer abc.def end"),
            "got Bearer [REDACTED] end"
        );
    }

    #[test]
    fn sensitive_pairs_in_logs() {
        let redactor = Redactor::default();
        assert_eq!(
            redactor.redact_text("user=7 cvv=123 ok"),
            "user=7 cvv=[REDACTED] ok"
        );
        assert_eq!(
            redactor.redact_text(r#"{"cardNumber": "4000 0000", "amount": 5}"#),
            r#"{"cardNumber": "[REDACTED]", "amount": 5}"#
        );
    }

    #[test]
    fn sensitive_keys() {
        let redactor = Redactor::default();
        assert!(redactor.is_sensitive_key("http.request.header.authorization"));
        assert!(redactor.is_sensitive_key("payment.card_number"));
        assert!(redactor.is_sensitive_key("user.email"));
        assert!(redactor.is_sensitive_key("card.pan"));
        assert!(!redactor.is_sensitive_key("company"));
        assert!(!redactor.is_sensitive_key("faas.invocation_id"));
        assert!(!redactor.is_sensitive_key("order.id"));
    }

    #[test]
    fn attribute_redaction() {
        let redactor = Redactor::default();
        let mut key_hit = KeyValue::new("payment.cvv", "123");
        assert!(redactor.redact_attribute(&mut key_hit));
        assert_eq!(key_hit.value.as_str(), REDACTED);

        let mut value_hit = KeyValue::new("note", "card 5500 0000 0000 0004");
        assert!(redactor.redact_attribute(&mut value_hit));
        assert_eq!(value_hit.value.as_str(), "card [REDACTED]");

        let mut clean = KeyValue::new("order.id", "ord-42");
        assert!(!redactor.redact_attribute(&mut clean));
    }

    #[test]
    fn trusted_keys_skip_checks() {
        let redactor = Redactor::default();
        let mut invocation_id = KeyValue::new("faas.invocation_id", "4111111111111111");
        assert!(!redactor.redact_attribute(&mut invocation_id));
        let mut own_invocation_id =
            KeyValue::new(crate::keys::FAAS_INVOCATION_ID, "4111111111111111");
        assert!(!redactor.redact_attribute(&mut own_invocation_id));
        let mut path = KeyValue::new("url.path", "/users/ana@example.com");
        assert!(redactor.redact_attribute(&mut path));
    }

    #[test]
    fn disabled_keeps_everything() {
        let redactor = Redactor::disabled();
        let text = "cvv=123 4111111111111111";
        assert_eq!(redactor.redact_text(text), text);
    }
}
