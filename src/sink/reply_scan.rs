//! A single pass over a PutRecords / PutRecordBatch reply of the usual shape, several times
//! cheaper than a general JSON parser: the reply of a 500-record request carries 500 sequence
//! numbers, and reading them was a tenth of the agent's CPU.
//!
//! It accepts only the shape the services send: an object of scalars plus one array of flat
//! objects of scalars, strings of printable ASCII without escapes. Anything else (an escape, a
//! nested value, a duplicate key, a truncation, a byte it does not expect) makes it give up
//! (`None`), and the caller parses the reply with `serde_json`, which then decides. For what it
//! accepts it reads exactly what `serde_json` reads (a property test compares the two).

use std::borrow::Cow;

/// Each entry's error code, and whether it names where the record was stored.
pub type Entries<'a> = Vec<(Option<Cow<'a, str>>, bool)>;

/// The member names of one operation's reply.
#[derive(Debug, Clone, Copy)]
pub struct Names {
    /// `FailedRecordCount` / `FailedPutCount`.
    pub count: &'static str,
    /// `Records` / `RequestResponses`.
    pub entries: &'static str,
    /// `SequenceNumber` / `RecordId`.
    pub id: &'static str,
}

/// The failed count and the entries, or None when the reply is not of the usual shape.
pub fn scan<'a>(body: &'a [u8], names: Names) -> Option<(Option<u64>, Option<Entries<'a>>)> {
    let mut s = Scanner { body, at: 0 };
    let mut count = None;
    let mut entries = None;
    let mut seen_count = false;
    s.expect(b'{')?;
    if !s.try_eat(b'}') {
        loop {
            let key = s.string()?;
            s.expect(b':')?;
            if key == names.count.as_bytes() {
                if seen_count {
                    return None;
                }
                seen_count = true;
                count = Some(s.count()?);
            } else if key == names.entries.as_bytes() {
                if entries.is_some() {
                    return None;
                }
                entries = Some(s.entries(names)?);
            } else {
                s.scalar()?;
            }
            if !s.try_eat(b',') {
                break;
            }
        }
        s.expect(b'}')?;
    }
    s.skip_ws();
    (s.at == body.len()).then_some((count, entries))
}

struct Scanner<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.body.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.body.get(self.at).copied()
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    fn try_eat(&mut self, c: u8) -> bool {
        self.expect(c).is_some()
    }

    /// A string of printable ASCII without escapes; its bytes between the quotes.
    fn string(&mut self) -> Option<&'a [u8]> {
        self.expect(b'"')?;
        let start = self.at;
        let end = self.plain_text_end(start)?;
        self.at = end + 1;
        Some(&self.body[start..end])
    }

    /// The entry of a stored record as the services write it, compact: its id and/or `ShardId`,
    /// each at most once, with plain string values; whether it names its id. None, with nothing
    /// read, for anything else (spaces, an `ErrorCode`, another member), which [`Scanner::entry`]
    /// then reads member by member. Five hundred of these make a usual reply: reading them
    /// without that loop halves the time a reply takes.
    fn usual_entry(&mut self, names: Names) -> Option<bool> {
        let mut at = self.at;
        if self.body.get(at) != Some(&b'{') {
            return None;
        }
        at += 1;
        let (mut id, mut shard) = (false, false);
        loop {
            let seen = if let Some(next) = self.member_start(at, names.id) {
                at = next;
                &mut id
            } else if let Some(next) = self.member_start(at, "ShardId") {
                at = next;
                &mut shard
            } else {
                return None;
            };
            if std::mem::replace(seen, true) {
                return None;
            }
            at = self.plain_text_end(at)? + 1;
            match self.body.get(at)? {
                b',' => at += 1,
                b'}' => break,
                _ => return None,
            }
        }
        self.at = at + 1;
        Some(id)
    }

    /// Just past `"name":"` when the body has it at `at`.
    fn member_start(&self, at: usize, name: &str) -> Option<usize> {
        let rest = self.body.get(at..)?;
        let name = name.as_bytes();
        let n = name.len();
        (rest.len() > n + 4
            && rest[0] == b'"'
            && &rest[1..=n] == name
            && rest[n + 1..n + 4] == *b"\":\"")
            .then_some(at + n + 4)
    }

    /// Where the string whose text starts at `start` ends (its closing quote), when it is
    /// printable ASCII without escapes.
    fn plain_text_end(&self, start: usize) -> Option<usize> {
        let rest = self.body.get(start..)?;
        let end = memchr::memchr2(b'"', b'\\', rest)?;
        // Without an early exit, so that it is compiled to vector instructions.
        let unprintable = rest[..end]
            .iter()
            .fold(false, |bad, &b| bad | !(0x20..0x7f).contains(&b));
        (rest[end] == b'"' && !unprintable).then_some(start + end)
    }

    /// An unsigned integer as JSON writes it (no sign, fraction, exponent or leading zero).
    fn count(&mut self) -> Option<u64> {
        self.skip_ws();
        let digits = self.digits();
        if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') || self.number_goes_on() {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    }

    fn digits(&mut self) -> &'a [u8] {
        let start = self.at;
        while self.body.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        &self.body[start..self.at]
    }

    fn number_goes_on(&self) -> bool {
        matches!(
            self.body.get(self.at),
            Some(b'.' | b'e' | b'E' | b'+' | b'-')
        )
    }

    /// A string, an integer, `true`, `false` or `null`; true when it was `null`.
    fn scalar(&mut self) -> Option<bool> {
        match self.peek()? {
            b'"' => self.string().map(|_| false),
            b'0'..=b'9' => {
                let digits = self.digits();
                let plain = digits.len() == 1 || digits[0] != b'0';
                (plain && !self.number_goes_on()).then_some(false)
            }
            _ => {
                let rest = &self.body[self.at..];
                let (len, null) = if rest.starts_with(b"null") {
                    (4, true)
                } else if rest.starts_with(b"true") {
                    (4, false)
                } else if rest.starts_with(b"false") {
                    (5, false)
                } else {
                    return None;
                };
                self.at += len;
                Some(null)
            }
        }
    }

    fn entries(&mut self, names: Names) -> Option<Entries<'a>> {
        self.expect(b'[')?;
        let mut entries = Entries::with_capacity(500);
        if self.try_eat(b']') {
            return Some(entries);
        }
        loop {
            entries.push(self.entry(names)?);
            if !self.try_eat(b',') {
                break;
            }
        }
        self.expect(b']')?;
        Some(entries)
    }

    fn entry(&mut self, names: Names) -> Option<(Option<Cow<'a, str>>, bool)> {
        if let Some(stored) = self.usual_entry(names) {
            return Some((None, stored));
        }
        self.expect(b'{')?;
        let (mut code, mut stored) = (None, false);
        let (mut seen_code, mut seen_id) = (false, false);
        if self.try_eat(b'}') {
            return Some((None, false));
        }
        loop {
            let key = self.string()?;
            self.expect(b':')?;
            if key == b"ErrorCode" {
                if seen_code {
                    return None;
                }
                seen_code = true;
                code = match self.peek()? {
                    b'"' => Some(Cow::Borrowed(std::str::from_utf8(self.string()?).ok()?)),
                    _ if self.scalar()? => None,
                    // serde_json refuses a number or a boolean where it wants a string.
                    _ => return None,
                };
            } else if key == names.id.as_bytes() {
                if seen_id {
                    return None;
                }
                seen_id = true;
                stored = !self.scalar()?;
            } else {
                self.scalar()?;
            }
            if !self.try_eat(b',') {
                break;
            }
        }
        self.expect(b'}')?;
        Some((code, stored))
    }
}
