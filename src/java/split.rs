//! Java's `String.split(regex)` (limit 0), lazily, with pieces borrowed from the input.
//!
//! The semantics are those of `java.util.regex.Pattern.split(input, 0)`:
//!
//! * Matches are found like `Matcher.find()`: after an empty match the next search starts one
//!   character further on; after a non-empty match it starts at its end, where an empty match is
//!   allowed (so `"a,b".split(",?")` is `[a, "", b]`).
//! * A zero-width match at the very beginning never yields a leading empty piece; a non-empty
//!   match there does (`",a".split(",")` is `["", "a"]`).
//! * No match at all yields the whole input, even when it is empty (`"".split(",")` is `[""]`).
//! * Otherwise trailing empty pieces are removed (`",".split(",")` is `[]`).
//!
//! Patterns without regex meaning (`,`, `\t`, `\|`, `::`, `\Q...\E`) skip the regex engine and
//! are searched with memchr; `String.split`'s own single-char fast path has the same semantics.
//!
//! After an empty match Java advances ONE UTF-16 unit, so an empty-matching pattern (a bare `|`,
//! `x*`) also matches between the two surrogates of a supplementary character such as an emoji,
//! cutting it into two lone surrogates that `String.getBytes(UTF_8)` later turns into `?` each.
//! That is reproduced: such pieces come out with `?` for the halves. It is exact for patterns
//! without anchors, lookarounds or back-references; for those the emoji is left whole.

use std::borrow::Cow;

use memchr::memmem;

use crate::java::regex::{self, RegexError};

/// A regular-expression search failed while splitting (fancy-regex gave up backtracking).
#[derive(Debug, thiserror::Error)]
#[error("regular expression search failed: {0}")]
pub struct SplitError(#[from] fancy_regex::Error);

enum Finder {
    Byte(u8),
    Literal(Box<memmem::Finder<'static>>),
    Regex(Box<regex::FindRegex>),
}

/// A compiled Java split pattern.
pub struct JavaSplitter {
    finder: Finder,
}

impl std::fmt::Debug for JavaSplitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.finder {
            Finder::Byte(_) => "byte",
            Finder::Literal(_) => "literal",
            Finder::Regex(_) => "regex",
        };
        f.debug_struct("JavaSplitter").field("kind", &kind).finish()
    }
}

impl JavaSplitter {
    /// Compile `pattern` (a Java regex), using the memchr fast path when it is a plain literal.
    pub fn new(pattern: &str) -> Result<Self, RegexError> {
        match literal_of(pattern) {
            Some(lit) => Ok(Self::literal(&lit)),
            None => Self::regex_only(pattern),
        }
    }

    /// Always use the regex engine (the fast path's reference in tests).
    pub fn regex_only(pattern: &str) -> Result<Self, RegexError> {
        Ok(JavaSplitter {
            finder: Finder::Regex(Box::new(regex::compile_for_find(pattern)?)),
        })
    }

    /// Split on a non-empty literal string.
    fn literal(lit: &str) -> Self {
        let finder = match lit.as_bytes() {
            [b] => Finder::Byte(*b),
            bytes => Finder::Literal(Box::new(memmem::Finder::new(bytes).into_owned())),
        };
        JavaSplitter { finder }
    }

    /// Split on `\n`, as `String.split("\n")` does.
    pub fn newline() -> Self {
        JavaSplitter {
            finder: Finder::Byte(b'\n'),
        }
    }

    /// The delimiter when the pattern is one ASCII byte (see [`byte_span`]).
    pub fn single_byte(&self) -> Option<u8> {
        match self.finder {
            Finder::Byte(b) => Some(b),
            _ => None,
        }
    }

    /// Whether the memchr fast path is used.
    pub fn is_literal(&self) -> bool {
        !matches!(self.finder, Finder::Regex(_))
    }

    /// The pieces of `text`, exactly as Java's `text.split(pattern)` returns them.
    pub fn split<'s, 't>(&'s self, text: &'t str) -> Pieces<'s, 't> {
        let inner = match self.finder {
            Finder::Byte(b) => Inner::Byte(BytePieces::new(b, text)),
            _ => Inner::General(GeneralPieces {
                finder: &self.finder,
                text,
                search_from: 0,
                search_mid: false,
                index: 0,
                index_mid: false,
                last_empty: false,
                matched: false,
                raw_done: false,
                pending_empty: 0,
                held: None,
                finished: false,
            }),
        };
        Pieces { inner }
    }

    /// Convenience for tests and diagnostics: all pieces as owned strings.
    pub fn split_to_vec(&self, text: &str) -> Result<Vec<String>, SplitError> {
        self.split(text)
            .map(|p| p.map(Cow::into_owned))
            .collect::<Result<Vec<_>, _>>()
    }
}

/// The literal string a Java pattern matches, if it has no regex meaning at all.
///
/// Accepts plain characters, escaped non-alphanumerics (`\|`, `\.`, `\\`), the control escapes
/// `\t \n \r \f \a \e`, and `\Q...\E` quoting.
pub fn literal_of(pattern: &str) -> Option<String> {
    let mut lit = String::with_capacity(pattern.len());
    let mut rest = pattern;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        match c {
            '\\' => {
                let e = rest.chars().next()?;
                rest = &rest[e.len_utf8()..];
                match e {
                    't' => lit.push('\t'),
                    'n' => lit.push('\n'),
                    'r' => lit.push('\r'),
                    'f' => lit.push('\u{0C}'),
                    'a' => lit.push('\u{07}'),
                    'e' => lit.push('\u{1B}'),
                    'Q' => {
                        let end = rest.find("\\E").unwrap_or(rest.len());
                        lit.push_str(&rest[..end]);
                        rest = &rest[(end + 2).min(rest.len())..];
                    }
                    e if e.is_ascii_alphanumeric() => return None,
                    e => lit.push(e),
                }
            }
            '^' | '$' | '.' | '|' | '?' | '*' | '+' | '(' | ')' | '[' | '{' => return None,
            c => lit.push(c),
        }
    }
    (!lit.is_empty()).then_some(lit)
}

/// Iterator over the pieces of one split; see the module documentation for the rules.
pub struct Pieces<'s, 't> {
    inner: Inner<'s, 't>,
}

enum Inner<'s, 't> {
    Byte(BytePieces<'t>),
    General(GeneralPieces<'s, 't>),
}

impl<'t> Iterator for Pieces<'_, 't> {
    type Item = Result<Cow<'t, str>, SplitError>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.inner {
            Inner::Byte(p) => p.next().map(|s| Ok(Cow::Borrowed(s))),
            Inner::General(p) => p.next(),
        }
    }
}

/// Splitting on one ASCII byte, the common case (`,`, `\t`, `\|`, `\n`), with the rules resolved
/// up front instead of per piece: a byte match is never empty and never inside a multi-byte char,
/// so "trailing empty pieces removed" is "trailing delimiters trimmed", and what is left splits
/// like `str::split`.
struct BytePieces<'t> {
    byte: u8,
    /// What remains to be cut; `None` once the last piece was returned.
    rest: Option<&'t str>,
}

impl<'t> BytePieces<'t> {
    fn new(byte: u8, text: &'t str) -> Self {
        BytePieces {
            byte,
            rest: byte_span(text, byte),
        }
    }

    #[inline]
    fn next(&mut self) -> Option<&'t str> {
        let rest = self.rest?;
        match find_byte(self.byte, rest.as_bytes()) {
            Some(i) => {
                self.rest = rest.get(i + 1..);
                rest.get(..i)
            }
            None => self.rest.take(),
        }
    }
}

/// What splitting `text` on the ASCII byte `b` cuts into pieces: `text` without its trailing
/// `b`s, split like `str::split` gives exactly Java's pieces. `None` when Java returns no piece
/// (`text` is only delimiters); an empty `text` has no match, so it is its own single piece.
pub fn byte_span(text: &str, b: u8) -> Option<&str> {
    match text.as_bytes().iter().rposition(|&c| c != b) {
        // `b` is ASCII, so the cut after a non-delimiter byte is a char boundary.
        Some(last) => text.get(..=last),
        None if text.is_empty() => Some(text),
        None => None,
    }
}

/// First `b` in `hay`. Fields are mostly a few bytes long, where a word-at-a-time scan inlined
/// here beats the call into memchr; long ones go to memchr's vector loop.
#[inline]
fn find_byte(b: u8, hay: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    const SHORT: usize = 32;
    let pattern = ONES * u64::from(b);
    let head = &hay[..hay.len().min(SHORT)];
    let mut words = head.chunks_exact(8);
    let mut at = 0;
    for word in words.by_ref() {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let x = u64::from_le_bytes(w) ^ pattern;
        // Only the lowest flag is reliable (a borrow can flag the byte above a match).
        let flags = x.wrapping_sub(ONES) & !x & HIGHS;
        if flags != 0 {
            return Some(at + (flags.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    if let Some(i) = words.remainder().iter().position(|&c| c == b) {
        return Some(at + i);
    }
    if hay.len() <= SHORT {
        return None;
    }
    memchr::memchr(b, &hay[SHORT..]).map(|i| SHORT + i)
}

/// The general iterator: literals of several bytes, and regexes (`Matcher.find()` semantics).
struct GeneralPieces<'s, 't> {
    finder: &'s Finder,
    text: &'t str,
    /// Where `Matcher.find()` would start its next search.
    search_from: usize,
    /// ...namely between the two surrogates of the (4-byte) char at `search_from`.
    search_mid: bool,
    /// Start of the next piece.
    index: usize,
    /// ...namely at the low-surrogate half of the char at `index`.
    index_mid: bool,
    /// The previous match was empty (the next search starts past its end).
    last_empty: bool,
    /// A piece has been cut by a match (else the whole input is the only piece).
    matched: bool,
    raw_done: bool,
    /// Empty pieces already seen that turned out not to be trailing.
    pending_empty: usize,
    /// The non-empty piece found after `pending_empty` empty ones.
    held: Option<Cow<'t, str>>,
    finished: bool,
}

impl<'t> GeneralPieces<'_, 't> {
    fn find_match(&self, from: usize) -> Result<Option<(usize, usize)>, SplitError> {
        let hay = &self.text.as_bytes()[from..];
        Ok(match self.finder {
            Finder::Byte(b) => memchr::memchr(*b, hay).map(|i| (from + i, from + i + 1)),
            Finder::Literal(f) => f.find(hay).map(|i| (from + i, from + i + f.needle().len())),
            Finder::Regex(re) => {
                let regex = match &re.after_empty_match {
                    Some(variant) if self.last_empty => variant,
                    _ => &re.regex,
                };
                regex
                    .find_from_pos(self.text, from)?
                    .map(|m| (m.start(), m.end()))
            }
        })
    }

    /// `text[index..end]`, with `?` for a lone low surrogate at the start (`index_mid`) and,
    /// if `cut_high`, for the lone high surrogate ending it.
    fn piece(&self, end: usize, cut_high: bool) -> Cow<'t, str> {
        let body_start = if self.index_mid {
            self.index
                + self.text[self.index..]
                    .chars()
                    .next()
                    .map_or(0, char::len_utf8)
        } else {
            self.index
        };
        let body = &self.text[body_start.min(end)..end];
        if !self.index_mid && !cut_high {
            return Cow::Borrowed(body);
        }
        let mut s = String::with_capacity(body.len() + 2);
        if self.index_mid {
            s.push('?');
        }
        s.push_str(body);
        if cut_high {
            s.push('?');
        }
        Cow::Owned(s)
    }

    /// The next piece before trailing-empty removal.
    fn raw_next(&mut self) -> Result<Option<Cow<'t, str>>, SplitError> {
        if self.raw_done {
            return Ok(None);
        }
        loop {
            if self.search_mid {
                // Java matches empty again between the surrogates, then moves past the char.
                self.search_mid = false;
                let at = self.search_from;
                self.search_from = at + self.text[at..].chars().next().map_or(1, char::len_utf8);
                let piece = self.piece(at, true);
                self.index = at;
                self.index_mid = true;
                self.matched = true;
                return Ok(Some(piece));
            }
            let found = if self.search_from > self.text.len() {
                None
            } else {
                self.find_match(self.search_from)?
            };
            let Some((start, end)) = found else {
                self.raw_done = true;
                let piece = self.piece(self.text.len(), false);
                return Ok(Some(piece));
            };
            self.last_empty = start == end;
            if start == end {
                let next = self.text[end..].chars().next();
                let splits_char = matches!(self.finder, Finder::Regex(re) if !re.positional)
                    && next.is_some_and(|c| c.len_utf16() == 2);
                if splits_char {
                    self.search_from = end;
                    self.search_mid = true;
                } else {
                    self.search_from = end + next.map_or(1, char::len_utf8);
                }
            } else {
                self.search_from = end;
            }
            if self.index == 0 && !self.index_mid && start == 0 && end == 0 {
                continue;
            }
            let piece = self.piece(start, false);
            self.index = end;
            self.index_mid = false;
            self.matched = true;
            return Ok(Some(piece));
        }
    }
}

impl<'t> GeneralPieces<'_, 't> {
    fn next(&mut self) -> Option<Result<Cow<'t, str>, SplitError>> {
        if self.pending_empty > 0 {
            self.pending_empty -= 1;
            return Some(Ok(Cow::Borrowed("")));
        }
        if let Some(held) = self.held.take() {
            return Some(Ok(held));
        }
        if self.finished {
            return None;
        }
        let piece = match self.raw_next() {
            Err(e) => {
                self.finished = true;
                return Some(Err(e));
            }
            Ok(None) => {
                self.finished = true;
                return None;
            }
            Ok(Some(p)) => p,
        };
        if !self.matched {
            // No match anywhere: Java returns the input itself, even when it is empty.
            self.finished = true;
            return Some(Ok(piece));
        }
        if !piece.is_empty() {
            return Some(Ok(piece));
        }
        // An empty piece counts only if a non-empty one follows.
        let mut empties = 1usize;
        loop {
            match self.raw_next() {
                Err(e) => {
                    self.finished = true;
                    return Some(Err(e));
                }
                Ok(None) => {
                    self.finished = true;
                    return None;
                }
                Ok(Some(p)) if p.is_empty() => empties += 1,
                Ok(Some(p)) => {
                    self.held = Some(p);
                    self.pending_empty = empties - 1;
                    return Some(Ok(Cow::Borrowed("")));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split(pattern: &str, text: &str) -> Vec<String> {
        JavaSplitter::new(pattern)
            .unwrap()
            .split_to_vec(text)
            .unwrap()
    }

    fn split_regex(pattern: &str, text: &str) -> Vec<String> {
        JavaSplitter::regex_only(pattern)
            .unwrap()
            .split_to_vec(text)
            .unwrap()
    }

    /// Java's `String.split` single-char fast path, transcribed naively over chars.
    fn java_fastpath(ch: char, text: &str) -> Vec<String> {
        let chars: Vec<char> = text.chars().collect();
        let mut list: Vec<String> = Vec::new();
        let mut off = 0;
        let mut found = false;
        while let Some(next) = (off..chars.len()).find(|&i| chars[i] == ch) {
            found = true;
            list.push(chars[off..next].iter().collect());
            off = next + 1;
        }
        if !found {
            return vec![text.to_string()];
        }
        list.push(chars[off..].iter().collect());
        while list.last().is_some_and(String::is_empty) {
            list.pop();
        }
        list
    }

    #[test]
    fn literal_detection() {
        assert_eq!(literal_of(","), Some(",".into()));
        assert_eq!(literal_of(r"\|"), Some("|".into()));
        assert_eq!(literal_of(r"\t"), Some("\t".into()));
        assert_eq!(literal_of(r"\."), Some(".".into()));
        assert_eq!(literal_of(r"\\"), Some("\\".into()));
        assert_eq!(literal_of("::"), Some("::".into()));
        assert_eq!(literal_of(r"\Q|.\E;"), Some("|.;".into()));
        assert_eq!(literal_of(r"\Q|."), Some("|.".into()));
        assert_eq!(literal_of("|"), None);
        assert_eq!(literal_of("."), None);
        assert_eq!(literal_of(r"\s"), None);
        assert_eq!(literal_of(r"\d"), None);
        assert_eq!(literal_of("a+"), None);
        assert_eq!(literal_of(""), None);
        assert_eq!(literal_of(r"\"), None);
        assert_eq!(literal_of(r"\Q\E"), None);
        assert!(JavaSplitter::new(",").unwrap().is_literal());
        assert!(JavaSplitter::new(r"\|").unwrap().is_literal());
        assert!(!JavaSplitter::new("|").unwrap().is_literal());
    }

    #[test]
    fn java_split_edge_cases() {
        assert_eq!(
            split("|", "a|b"),
            ["a", "|", "b"],
            "bare | matches empty everywhere"
        );
        assert_eq!(split("", "abc"), ["a", "b", "c"]);
        assert_eq!(split(r"\|", "a|b"), ["a", "b"]);
        assert_eq!(
            split(",", ",a"),
            ["", "a"],
            "leading delimiter gives a leading empty"
        );
        assert_eq!(split(",", ""), [""], "no match returns the input itself");
        assert_eq!(split("", ""), [""]);
        assert_eq!(split(",", ","), Vec::<String>::new());
        assert_eq!(split(",", ",,,"), Vec::<String>::new());
        assert_eq!(split(",", "a,b,,"), ["a", "b"], "trailing empties dropped");
        assert_eq!(split(",", "a,,b"), ["a", "", "b"], "interior empties kept");
        assert_eq!(split(",", "a,,c,,"), ["a", "", "c"]);
        assert_eq!(split(",", ",,a,,b,,"), ["", "", "a", "", "b"]);
        assert_eq!(split(",", "abc"), ["abc"]);
        assert_eq!(split("\n", "\n"), Vec::<String>::new());
        assert_eq!(split("\n", "\na\n"), ["", "a"]);
        assert_eq!(split("::", "a::b:::c::"), ["a", "b", ":c"]);
        assert_eq!(
            split(r"\t", "v1\t v2\tv3\t    v4"),
            ["v1", " v2", "v3", "    v4"]
        );
    }

    #[test]
    fn regex_split_follows_matcher_find() {
        assert_eq!(split(",?", "a,b"), ["a", "", "b"]);
        assert_eq!(split(r"\s*,\s*", "a , b,c ,"), ["a", "b", "c"]);
        assert_eq!(split(r"\s+", "  a  b "), ["", "a", "b"]);
        assert_eq!(split("(?=b)", "abab"), ["a", "ba", "b"]);
        assert_eq!(
            split("(?=a)", "abab"),
            ["ab", "ab"],
            "zero-width match at 0 is skipped"
        );
        assert_eq!(split("x*", "axxb"), ["a", "", "b"]);
        assert_eq!(split("é|😀", "aé😀b"), ["a", "", "b"]);
        assert_eq!(split("[,;]", "a;b,c"), ["a", "b", "c"]);
        assert_eq!(split(r"\G,", ",,a,"), ["", "", "a,"]);
        assert_eq!(
            split(r"\G", "abc"),
            ["abc"],
            "\\G holds only where the last match ended"
        );
    }

    #[test]
    fn empty_matches_cut_supplementary_chars_like_utf16_java() {
        // Java: "é😀".split("") is ["é", "\uD83D", "\uDE00"]; each lone surrogate encodes as '?'.
        assert_eq!(split("", "é😀"), ["é", "?", "?"]);
        assert_eq!(split("", "😀"), ["?", "?"]);
        assert_eq!(split("|", "a😀b"), ["a", "?", "?", "b"]);
        assert_eq!(split("x*", "😀x😀"), ["?", "?", "", "?", "?"]);
        assert_eq!(split(",?", "😀,"), ["?", "?"]);
        assert_eq!(
            split(",", "😀,😀"),
            ["😀", "😀"],
            "non-empty matches never cut"
        );
        // With assertions the position matters; the emoji is kept whole.
        assert_eq!(split("(?!,)", "a😀"), ["a", "😀"]);
    }

    #[test]
    fn no_match_in_non_empty_text_with_trailing_pattern() {
        assert_eq!(split(",", "a"), ["a"]);
        assert_eq!(split_regex(",", ""), [""]);
    }

    #[test]
    fn lazy_iteration_stops_early() {
        let s = JavaSplitter::new(",").unwrap();
        let mut it = s.split("a,,,b,,");
        assert_eq!(it.next().unwrap().unwrap(), "a");
        assert_eq!(it.next().unwrap().unwrap(), "");
        assert_eq!(it.next().unwrap().unwrap(), "");
        assert_eq!(it.next().unwrap().unwrap(), "b");
        assert!(it.next().is_none());
        assert!(it.next().is_none());
    }

    proptest! {
        #[test]
        fn literal_path_agrees_with_regex_path(
            text in "[ab,|.\\t\\né😀:]{0,24}",
            pattern in prop::sample::select(vec![
                ",", r"\|", r"\.", r"\t", "\n", "\t", "a", "é", "😀", "::", "ab", r"\Q|.\E", r"\\",
            ]),
        ) {
            let fast = JavaSplitter::new(pattern).unwrap();
            prop_assert!(fast.is_literal());
            let slow = JavaSplitter::regex_only(pattern).unwrap();
            prop_assert_eq!(fast.split_to_vec(&text).unwrap(), slow.split_to_vec(&text).unwrap());
        }

        #[test]
        fn single_char_fast_path_agrees_with_regex_path(
            delim in prop_oneof![
                4 => prop::sample::select(vec![
                    ',', '\t', '|', ';', ' ', ':', '.', '\\', '^', '$', '?', '*', '+', '(', ')',
                    '[', ']', '{', '}', '"', '\n', '\r', 'a', '0', 'é', '€', '😀',
                ]),
                1 => any::<char>().prop_filter("a NUL in a pattern is not a case", |&c| c != '\0'),
            ],
            // None stands for the delimiter; long texts reach the memchr tail of the search.
            text in prop::collection::vec(
                prop_oneof![
                    3 => Just(None),
                    4 => prop::sample::select(vec!['a', 'b', ' ', 'é', '😀', '\n', '\\']).prop_map(Some),
                    2 => any::<char>().prop_map(Some),
                ],
                0..90,
            ),
        ) {
            let text: String = text.into_iter().map(|c| c.unwrap_or(delim)).collect();
            // Regex metacharacters (and any ASCII punctuation) are escaped, as a user would.
            let pattern = if delim.is_ascii_punctuation() {
                format!("\\{delim}")
            } else {
                delim.to_string()
            };
            let fast = JavaSplitter::new(&pattern).unwrap();
            prop_assert!(fast.is_literal());
            let slow = JavaSplitter::regex_only(&pattern).unwrap();
            prop_assert_eq!(fast.split_to_vec(&text).unwrap(), slow.split_to_vec(&text).unwrap());
            prop_assert_eq!(fast.split_to_vec(&text).unwrap(), java_fastpath(delim, &text));
        }

        #[test]
        fn single_char_split_matches_javas_fast_path(
            text in "[ab,|\\né]{0,24}",
            ch in prop::sample::select(vec![',', '|', '\n', 'a', 'é']),
        ) {
            let pattern = if ch == '|' { r"\|".to_string() } else { ch.to_string() };
            prop_assert_eq!(split(&pattern, &text), java_fastpath(ch, &text));
            prop_assert_eq!(split_regex(&pattern, &text), java_fastpath(ch, &text));
        }
    }
}
