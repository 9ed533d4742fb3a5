//! A cursor over JSON text for the span row reader: whitespace, punctuation, strings,
//! numbers and literals, checked by the grammar serde_json applies.
//!
//! The cursor accepts only text that serde_json accepts too, and reads it to the same
//! values. Where it cannot be sure of that, it gives up ([`Leave`]) and the caller leaves
//! the body to the decoder: an escape that serde_json would reject (a lone surrogate), nesting
//! deeper than [`MAX_NESTING`], and any byte out of place. A body that gets this far is
//! valid UTF-8, so every string slice between two ASCII quotes is valid UTF-8 too.

use bumpalo::Bump;

use super::scalars::hex_byte;

/// Objects and lists open at once past which the cursor gives up. serde_json fails a body
/// nested 128 levels deep, so every body read here is within its limit.
pub(super) const MAX_NESTING: u32 = 100;

/// The reader gives the body up and leaves it to the decoder.
#[derive(Debug)]
pub(super) struct Leave;

pub(super) type Scan<T> = Result<T, Leave>;

/// Returns `Ok` when `condition` holds, else [`Leave`].
pub(super) fn check(condition: bool) -> Scan<()> {
    if condition { Ok(()) } else { Err(Leave) }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Position of the first byte at or after `at` that ends a run of plain string bytes: a
/// quote, a backslash or a control character. `bytes.len()` when there is none.
#[inline]
fn plain_end(bytes: &[u8], mut at: usize) -> usize {
    // Eight bytes at a time: a byte matches when the word with that byte subtracted from
    // each lane borrows at it. Borrows only move towards higher lanes, so the lowest
    // marked lane is always a true match.
    while let Some(chunk) = bytes.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("a chunk of eight bytes"));
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let marked = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (word.wrapping_sub(ONES * 0x20) & !word);
        let marked = marked & HIGH_BITS;
        if marked != 0 {
            return at + (marked.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    while let Some(&byte) = bytes.get(at) {
        if byte == b'"' || byte == b'\\' || byte < 0x20 {
            break;
        }
        at += 1;
    }
    at
}

/// Value of four hex digits in either case.
fn hex4(digits: Option<&[u8]>) -> Option<u32> {
    digits?.iter().try_fold(0_u32, |value, &digit| {
        let digit = char::from(digit).to_digit(16)?;
        Some(value << 4 | digit)
    })
}

pub(super) struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    /// Objects and lists open now.
    nesting: u32,
    arena: &'a Bump,
    /// Reused for strings with escapes before they are copied into the arena.
    unescaped: String,
}

impl<'a> Scanner<'a> {
    pub(super) fn new(text: &'a str, arena: &'a Bump) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            at: 0,
            nesting: 0,
            arena,
            unescaped: String::new(),
        }
    }

    #[inline]
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// Returns the next byte that is not whitespace, and leaves it unread.
    #[inline]
    pub(super) fn peek(&mut self) -> Scan<u8> {
        self.skip_whitespace();
        self.bytes.get(self.at).copied().ok_or(Leave)
    }

    /// Reads `byte` after any whitespace.
    #[inline]
    fn expect(&mut self, byte: u8) -> Scan<()> {
        check(self.peek()? == byte)?;
        self.at += 1;
        Ok(())
    }

    /// Tells whether only whitespace is left.
    pub(super) fn at_end(&mut self) -> bool {
        self.skip_whitespace();
        self.at == self.bytes.len()
    }

    /// Reads `null` if it comes next.
    #[inline]
    pub(super) fn null(&mut self) -> Scan<bool> {
        if self.peek()? != b'n' {
            return Ok(false);
        }
        self.word(b"null")?;
        Ok(true)
    }

    fn word(&mut self, word: &[u8]) -> Scan<()> {
        let end = self.at + word.len();
        check(self.bytes.get(self.at..end) == Some(word))?;
        self.at = end;
        Ok(())
    }

    fn open(&mut self, byte: u8) -> Scan<()> {
        self.expect(byte)?;
        self.nesting += 1;
        check(self.nesting <= MAX_NESTING)
    }

    /// Reads the `{` of an object; `Object::key` then reads its keys.
    pub(super) fn object(&mut self) -> Scan<Object> {
        self.open(b'{')?;
        Ok(Object { first: true })
    }

    /// Reads the `[` of a list; `List::next` then moves to each item.
    pub(super) fn list(&mut self) -> Scan<List> {
        self.open(b'[')?;
        Ok(List { first: true })
    }

    /// Reads a string, borrowed from the text or, with escapes, unescaped into the arena.
    pub(super) fn string(&mut self) -> Scan<&'a str> {
        let (start, end, escaped) = self.string_bounds()?;
        if !escaped {
            return Ok(&self.text[start..end]);
        }
        self.unescaped.clear();
        let mut at = start;
        while at < end {
            let plain = plain_end(self.bytes, at).min(end);
            self.unescaped.push_str(&self.text[at..plain]);
            at = plain;
            if at == end {
                break;
            }
            // `string_bounds` checked every escape.
            let (character, length) = escape(&self.bytes[at..end])?;
            self.unescaped.push(character);
            at += length;
        }
        Ok(self.arena.alloc_str(&self.unescaped))
    }

    /// Reads a string of hex digit pairs in either case, at most 64 digits and without
    /// escapes, into `bytes`, and returns how many bytes it filled. Leaves the text as it is
    /// and returns `None` for any other value.
    pub(super) fn hex_string(&mut self, bytes: &mut [u8; 32]) -> Option<usize> {
        let start = self.at + 1;
        if self.bytes.get(self.at) != Some(&b'"') {
            return None;
        }
        let mut at = start;
        for (filled, byte) in bytes.iter_mut().enumerate() {
            let pair = self.bytes.get(at..at + 2)?;
            if pair[0] == b'"' {
                self.at = at + 1;
                return Some(filled);
            }
            *byte = hex_byte(pair)?;
            at += 2;
        }
        (self.bytes.get(at) == Some(&b'"')).then(|| {
            self.at = at + 1;
            bytes.len()
        })
    }

    /// Reads a string of one to 19 decimal digits without escapes and returns its value.
    /// Leaves the text as it is and returns `None` for any other value.
    pub(super) fn digit_string(&mut self) -> Option<u64> {
        if self.bytes.get(self.at) != Some(&b'"') {
            return None;
        }
        let start = self.at + 1;
        let mut at = start;
        let mut value = 0_u64;
        while let Some(&digit @ b'0'..=b'9') = self.bytes.get(at) {
            value = value.wrapping_mul(10) + u64::from(digit - b'0');
            at += 1;
        }
        let digits = at - start;
        if digits == 0 || digits > 19 || self.bytes.get(at) != Some(&b'"') {
            return None;
        }
        self.at = at + 1;
        Some(value)
    }

    /// Reads a string and returns its content's bounds and whether it has escapes, after
    /// checking every escape.
    #[inline]
    fn string_bounds(&mut self) -> Scan<(usize, usize, bool)> {
        self.expect(b'"')?;
        let start = self.at;
        let mut escaped = false;
        loop {
            self.at = plain_end(self.bytes, self.at);
            match self.bytes.get(self.at) {
                Some(b'"') => {
                    self.at += 1;
                    return Ok((start, self.at - 1, escaped));
                }
                Some(b'\\') => {
                    escaped = true;
                    let (_, length) = escape(&self.bytes[self.at..])?;
                    self.at += length;
                }
                _ => return Err(Leave),
            }
        }
    }

    /// Reads a number and returns its text, checked by JSON's grammar.
    pub(super) fn number(&mut self) -> Scan<&'a str> {
        self.skip_whitespace();
        let start = self.at;
        if self.bytes.get(self.at) == Some(&b'-') {
            self.at += 1;
        }
        match self.bytes.get(self.at) {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Leave),
        }
        if self.bytes.get(self.at) == Some(&b'.') {
            self.at += 1;
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.bytes.get(self.at) {
            self.at += 1;
            if let Some(b'+' | b'-') = self.bytes.get(self.at) {
                self.at += 1;
            }
            self.some_digits()?;
        }
        Ok(&self.text[start..self.at])
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn some_digits(&mut self) -> Scan<()> {
        let start = self.at;
        self.digits();
        check(self.at > start)
    }

    /// Reads `true` or `false`.
    pub(super) fn boolean(&mut self) -> Scan<bool> {
        match self.peek()? {
            b't' => self.word(b"true").map(|()| true),
            b'f' => self.word(b"false").map(|()| false),
            _ => Err(Leave),
        }
    }

    /// Reads any value and drops it, checking it as serde_json does when it ignores a value.
    pub(super) fn skip(&mut self) -> Scan<()> {
        match self.peek()? {
            b'{' => {
                let mut object = self.object()?;
                while object.key(self)?.is_some() {
                    self.skip()?;
                }
            }
            b'[' => {
                let mut list = self.list()?;
                while list.next(self)? {
                    self.skip()?;
                }
            }
            b'"' => {
                self.string_bounds()?;
            }
            b'n' => self.word(b"null")?,
            b't' | b'f' => {
                self.boolean()?;
            }
            _ => {
                self.number()?;
            }
        }
        Ok(())
    }
}

/// Reads one escape at the start of `bytes` (which starts with a backslash) and returns its
/// character and length. [`Leave`] for an escape serde_json rejects or might: an unknown
/// letter, bad hex digits and a surrogate that is not a valid pair.
fn escape(bytes: &[u8]) -> Scan<(char, usize)> {
    let character = match *bytes.get(1).ok_or(Leave)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let unit = hex4(bytes.get(2..6)).ok_or(Leave)?;
            if !(0xd800..0xe000).contains(&unit) {
                return Ok((char::from_u32(unit).ok_or(Leave)?, 6));
            }
            check(unit < 0xdc00 && bytes.get(6..8) == Some(b"\\u"))?;
            let low = hex4(bytes.get(8..12)).ok_or(Leave)?;
            check((0xdc00..0xe000).contains(&low))?;
            let code = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
            return Ok((char::from_u32(code).ok_or(Leave)?, 12));
        }
        _ => return Err(Leave),
    };
    Ok((character, 2))
}

/// The keys of an open object.
pub(super) struct Object {
    first: bool,
}

/// Reads the comma before the next member of an object or list (none before the first),
/// and returns `true`, or reads the `closing` byte and returns `false`.
fn separator(scanner: &mut Scanner<'_>, first: &mut bool, closing: u8) -> Scan<bool> {
    match scanner.peek()? {
        byte if byte == closing => {
            scanner.at += 1;
            scanner.nesting -= 1;
            return Ok(false);
        }
        b',' if !*first => scanner.at += 1,
        _ if *first => {}
        _ => return Err(Leave),
    }
    *first = false;
    Ok(true)
}

impl Object {
    /// Reads the next key and its colon, or the closing `}` (then `None`).
    pub(super) fn key<'a>(&mut self, scanner: &mut Scanner<'a>) -> Scan<Option<&'a str>> {
        if !separator(scanner, &mut self.first, b'}')? {
            return Ok(None);
        }
        let key = scanner.string()?;
        scanner.expect(b':')?;
        Ok(Some(key))
    }

    /// Reads the next key and its colon when they are `quoted`, written as the key in quotes
    /// and a colon with nothing between (`"key":`), the way compact JSON has them. Leaves
    /// the text as it is otherwise, for `key` to read.
    #[inline]
    pub(super) fn literal_key(&mut self, scanner: &mut Scanner<'_>, quoted: &[u8]) -> bool {
        let at = scanner.at + usize::from(!self.first);
        if !self.first && scanner.bytes.get(scanner.at) != Some(&b',') {
            return false;
        }
        if scanner.bytes.get(at..at + quoted.len()) != Some(quoted) {
            return false;
        }
        scanner.at = at + quoted.len();
        self.first = false;
        true
    }
}

/// The items of an open list.
pub(super) struct List {
    first: bool,
}

impl List {
    /// Moves to the next item (`true`), or reads the closing `]` (`false`).
    pub(super) fn next(&mut self, scanner: &mut Scanner<'_>) -> Scan<bool> {
        separator(scanner, &mut self.first, b']')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads one value the way the reader does for a value it ignores, and then the end.
    fn skips(text: &str) -> bool {
        let arena = Bump::new();
        let mut scanner = Scanner::new(text, &arena);
        scanner.skip().is_ok() && scanner.at_end()
    }

    #[test]
    fn plain_runs_end_at_quotes_backslashes_and_controls() {
        let text = "abcdefghijklmnopqrstuvwxyz\u{e9}\u{1f600}0123456789";
        for (position, stop) in [(3, '"'), (9, '\\'), (17, '\n'), (24, '\u{1}'), (30, '"')] {
            let mut bytes = text.as_bytes().to_vec();
            bytes.insert(position, stop as u8);
            assert_eq!(plain_end(&bytes, 0), position, "{stop:?} at {position}");
            assert_eq!(plain_end(&bytes, position + 1), bytes.len());
        }
        // A byte just above each marked value is not marked.
        assert_eq!(plain_end(b"!#]^ \x7f\x80\xff", 0), 8);
    }

    #[test]
    fn strings_unescape_as_serde_json_does() {
        for text in [
            r#""plain""#,
            r#""tab\tquote\"slash\/back\\""#,
            r#""\u00e9\u0000\b\f\n\r""#,
            r#""pair \ud83d\ude00 done""#,
            r#""\uD83D\uDE00""#,
            "\"caf\u{e9} \u{1f600}\"",
            r#""""#,
        ] {
            let arena = Bump::new();
            let mut scanner = Scanner::new(text, &arena);
            let read = scanner.string().expect(text);
            assert!(scanner.at_end());
            assert_eq!(
                read,
                serde_json::from_str::<String>(text).unwrap(),
                "{text}"
            );
        }
        for text in [
            r#""lone \ud83d""#,
            r#""lone \ude00""#,
            r#""\ud83d\u0041""#,
            r#""\x""#,
            r#""\u12g4""#,
            "\"control \u{1f}\"",
            r#""open"#,
        ] {
            let arena = Bump::new();
            assert!(Scanner::new(text, &arena).string().is_err(), "{text}");
        }
    }

    #[test]
    fn skipped_values_follow_serde_jsons_grammar() {
        let cases = [
            "0",
            "-0",
            "12.5e-3",
            "1E+9",
            "-7",
            "01",
            "1.",
            ".5",
            "1e",
            "+1",
            "- 1",
            "true",
            "nul",
            "nulls",
            r#"{"a": [1, {"b": null}], "c": "d"}"#,
            r#"{"a": 1,}"#,
            "[1, 2,]",
            "[,1]",
            r#"{"a" 1}"#,
            "{1: 2}",
            "[1 2]",
            " [ ] ",
            "{}",
            "[",
            "",
        ];
        for text in cases {
            let serde = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
            assert_eq!(skips(text), serde, "{text:?}");
        }
    }

    #[test]
    fn deep_nesting_is_given_up() {
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(skips(&nested(MAX_NESTING as usize)));
        assert!(!skips(&nested(MAX_NESTING as usize + 1)));
        assert!(
            serde_json::from_str::<serde::de::IgnoredAny>(&nested(MAX_NESTING as usize)).is_ok()
        );
    }
}
