//! Compile Java (`java.util.regex.Pattern`) regular expressions with fancy-regex.
//!
//! Agent configs carry Java regexes (`delimiter` of CSVTOJSON, `matchPattern` of LOGTOJSON).
//! fancy-regex accepts most of the same syntax but gives some of it another meaning, which
//! would silently change output. [`translate`] rewrites a Java pattern into an equivalent
//! fancy-regex pattern:
//!
//! * `\d \w \s` (and `\D \W \S`, POSIX `\p{Alpha}` & co.) are ASCII-only in Java unless the
//!   `U` flag is on; fancy-regex's are Unicode.
//! * `.` excludes every Java line terminator (`\n \r \u0085 \u2028 \u2029`), not just `\n`;
//!   `$`, `\Z` and multi-line `^` follow Java's line-terminator rules too (`d` = UNIX_LINES).
//! * `\h` is horizontal whitespace and `\v` vertical whitespace in Java, hex digit and VT in
//!   fancy-regex; `\R` is Java's atomic line break.
//! * Java-only escapes: `\Q...\E`, `\e`, `\a`, `\cX`, `\0oct`, `\uXXXX` (incl. surrogate pairs).
//! * Inline flags `idmsuxU` are Java's (fancy-regex's `U` swaps greediness); only `i` is passed on,
//!   the rest is applied here. Comments mode (`x`) is applied here as well.
//!
//! Known remaining differences: case-insensitive matching is Unicode-aware (Java's `(?i)` folds
//! ASCII only unless `u`), `\b` uses Unicode word characters (as Java 8-18 roughly do), Java's
//! odd nested-class negation rules are not reproduced, and fancy-regex stops a pathological
//! backtracking search (an error) where Java would run forever.

use std::fmt;

/// A Java regular expression that could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexError {
    /// The pattern as configured.
    pub pattern: String,
    /// Character index in `pattern` where the problem was found, when known.
    pub position: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for RegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(p) => write!(
                f,
                "invalid regular expression {:?} at position {}: {}",
                self.pattern, p, self.message
            ),
            None => write!(
                f,
                "invalid regular expression {:?}: {}",
                self.pattern, self.message
            ),
        }
    }
}

impl std::error::Error for RegexError {}

/// Compile a Java regular expression.
pub fn compile(pattern: &str) -> Result<fancy_regex::Regex, RegexError> {
    let t = Translator::run(pattern)?;
    fancy_regex::Regex::new(&t.out).map_err(|e| {
        let (pos, message) = match &e {
            fancy_regex::Error::ParseError(p, inner) => (Some(t.source_pos(*p)), inner.to_string()),
            other => (None, other.to_string()),
        };
        RegexError {
            pattern: pattern.to_string(),
            position: pos.map(|b| char_index(pattern, b)),
            message,
        }
    })
}

/// Rewrite a Java pattern into fancy-regex syntax with the same meaning.
pub fn translate(pattern: &str) -> Result<String, RegexError> {
    Translator::run(pattern).map(|t| t.out)
}

fn char_index(s: &str, byte: usize) -> usize {
    s.char_indices().take_while(|(i, _)| *i < byte).count()
}

/// Java's line terminators, as a class body.
const LINE_TERMINATORS: &str = r"\n\r\x{85}\x{2028}\x{2029}";
const ASCII_SPACE: &str = r"\t\n\x{0B}\f\r ";
const ASCII_WORD: &str = "a-zA-Z_0-9";
const ASCII_DIGIT: &str = "0-9";
const HORIZONTAL_SPACE: &str =
    r" \t\x{A0}\x{1680}\x{180E}\x{2000}-\x{200A}\x{202F}\x{205F}\x{3000}";
const VERTICAL_SPACE: &str = r"\n\x{0B}\f\r\x{85}\x{2028}\x{2029}";

#[derive(Clone, Copy, Default)]
struct Flags {
    case_insensitive: bool,
    unix_lines: bool,
    multiline: bool,
    dotall: bool,
    comments: bool,
    unicode_class: bool,
}

struct Translator<'p> {
    src: &'p str,
    pos: usize,
    out: String,
    /// (output byte offset, source byte offset) at the start of each translated token.
    map: Vec<(usize, usize)>,
    flags: Flags,
    saved: Vec<Flags>,
}

impl<'p> Translator<'p> {
    fn run(src: &'p str) -> Result<Translator<'p>, RegexError> {
        let mut t = Translator {
            src,
            pos: 0,
            out: String::with_capacity(src.len() + 16),
            map: Vec::new(),
            flags: Flags::default(),
            saved: Vec::new(),
        };
        t.sequence()?;
        Ok(t)
    }

    fn source_pos(&self, out_pos: usize) -> usize {
        let i = self.map.partition_point(|&(o, _)| o <= out_pos);
        match i.checked_sub(1) {
            Some(i) => self.map[i].1,
            None => 0,
        }
    }

    fn err(&self, at: usize, message: impl Into<String>) -> RegexError {
        RegexError {
            pattern: self.src.to_string(),
            position: Some(char_index(self.src, at)),
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn mark(&mut self) {
        self.map.push((self.out.len(), self.pos));
    }

    /// In comments mode, skip whitespace and `#` comments; returns whether anything was skipped.
    fn skip_comments(&mut self) -> bool {
        if !self.flags.comments {
            return false;
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            if matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r') {
                self.bump();
            } else if c == '#' {
                while let Some(c) = self.bump() {
                    let end = if self.flags.unix_lines {
                        c == '\n'
                    } else {
                        matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
                    };
                    if end {
                        break;
                    }
                }
            } else {
                break;
            }
        }
        self.pos != start
    }

    fn sequence(&mut self) -> Result<(), RegexError> {
        loop {
            if self.skip_comments() {
                continue;
            }
            let Some(c) = self.peek() else {
                return Ok(());
            };
            self.mark();
            match c {
                '\\' => self.escape(false)?,
                '[' => self.class()?,
                '(' => self.group_open()?,
                ')' => {
                    self.bump();
                    self.out.push(')');
                    if let Some(f) = self.saved.pop() {
                        self.flags = f;
                    }
                }
                '{' => self.bounded_repeat()?,
                '.' => {
                    self.bump();
                    let dot = if self.flags.dotall {
                        "(?s:.)".to_string()
                    } else if self.flags.unix_lines {
                        r"[^\n]".to_string()
                    } else {
                        format!("[^{LINE_TERMINATORS}]")
                    };
                    self.out.push_str(&dot);
                }
                '^' => {
                    self.bump();
                    let caret = match (self.flags.multiline, self.flags.unix_lines) {
                        (false, _) => "^".to_string(),
                        (true, true) => r"(?:(?<![^\n])(?!\z))".to_string(),
                        (true, false) => {
                            format!(r"(?:(?<![^{LINE_TERMINATORS}])(?!\z)(?!(?<=\r)\n))")
                        }
                    };
                    self.out.push_str(&caret);
                }
                '$' => {
                    self.bump();
                    let dollar = self.dollar(self.flags.multiline);
                    self.out.push_str(&dollar);
                }
                ']' | '}' => {
                    self.bump();
                    self.out.push('\\');
                    self.out.push(c);
                }
                _ => {
                    self.bump();
                    self.out.push(c);
                }
            }
        }
    }

    fn dollar(&self, multiline: bool) -> String {
        match (multiline, self.flags.unix_lines) {
            (false, true) => r"(?=\n?\z)".to_string(),
            (true, true) => r"(?=\n|\z)".to_string(),
            // At the end, or before a final terminator (`\r\n` counting as one, and never
            // between its two chars).
            (false, false) => {
                r"(?:(?=(?:\r\n|[\r\x{85}\x{2028}\x{2029}])?\z)|(?<!\r)(?=\n\z))".to_string()
            }
            (true, false) => r"(?:(?=[\r\x{85}\x{2028}\x{2029}]|\z)|(?<!\r)(?=\n))".to_string(),
        }
    }

    /// `{n}`, `{n,}`, `{n,m}`: Java rejects any other `{`.
    fn bounded_repeat(&mut self) -> Result<(), RegexError> {
        let start = self.pos;
        self.bump();
        let mut body = String::from("{");
        let mut digits = 0;
        while let Some(c @ '0'..='9') = self.peek() {
            self.bump();
            body.push(c);
            digits += 1;
        }
        if digits == 0 {
            return Err(self.err(start, "Illegal repetition"));
        }
        if self.peek() == Some(',') {
            self.bump();
            body.push(',');
            while let Some(c @ '0'..='9') = self.peek() {
                self.bump();
                body.push(c);
            }
        }
        if self.peek() != Some('}') {
            return Err(self.err(start, "Unclosed counted closure"));
        }
        self.bump();
        body.push('}');
        self.out.push_str(&body);
        Ok(())
    }

    fn group_open(&mut self) -> Result<(), RegexError> {
        self.bump();
        if self.peek() != Some('?') {
            self.out.push('(');
            self.saved.push(self.flags);
            return Ok(());
        }
        self.bump();
        match (self.peek(), self.peek_at(1)) {
            (Some(c @ (':' | '=' | '!' | '>')), _) => {
                self.bump();
                self.out.push_str("(?");
                self.out.push(c);
                self.saved.push(self.flags);
            }
            (Some('<'), Some(c @ ('=' | '!'))) => {
                self.bump();
                self.bump();
                self.out.push_str("(?<");
                self.out.push(c);
                self.saved.push(self.flags);
            }
            (Some('<'), _) => {
                self.bump();
                let name_start = self.pos;
                while let Some(c) = self.peek() {
                    if c.is_ascii_alphanumeric() {
                        self.bump();
                    } else {
                        break;
                    }
                }
                let name = &self.src[name_start..self.pos];
                let valid = name.starts_with(|c: char| c.is_ascii_alphabetic());
                if !valid || self.peek() != Some('>') {
                    return Err(
                        self.err(name_start, "named capturing group is missing trailing '>'")
                    );
                }
                self.bump();
                self.out.push_str("(?<");
                self.out.push_str(name);
                self.out.push('>');
                self.saved.push(self.flags);
            }
            _ => self.inline_flags()?,
        }
        Ok(())
    }

    fn inline_flags(&mut self) -> Result<(), RegexError> {
        let before = self.flags;
        let mut flags = self.flags;
        let mut on = true;
        loop {
            let at = self.pos;
            match self.bump() {
                Some('i') => flags.case_insensitive = on,
                Some('d') => flags.unix_lines = on,
                Some('m') => flags.multiline = on,
                Some('s') => flags.dotall = on,
                // UNICODE_CASE: fancy-regex folds case with Unicode rules anyway.
                Some('u') => {}
                Some('x') => flags.comments = on,
                Some('U') => flags.unicode_class = on,
                Some('-') if on => on = false,
                Some(')') => {
                    self.flags = flags;
                    if flags.case_insensitive != before.case_insensitive {
                        self.out.push_str(if flags.case_insensitive {
                            "(?i)"
                        } else {
                            "(?-i)"
                        });
                    }
                    return Ok(());
                }
                Some(':') => {
                    self.saved.push(before);
                    self.flags = flags;
                    self.out
                        .push_str(match (before.case_insensitive, flags.case_insensitive) {
                            (false, true) => "(?i:",
                            (true, false) => "(?-i:",
                            _ => "(?:",
                        });
                    return Ok(());
                }
                _ => return Err(self.err(at, "Unknown inline modifier")),
            }
        }
    }

    /// A literal char, escaped as needed for fancy-regex (inside or outside a class).
    fn push_literal(&mut self, c: char) {
        if matches!(
            c,
            '\\' | '.'
                | '+'
                | '*'
                | '?'
                | '('
                | ')'
                | '|'
                | '['
                | ']'
                | '{'
                | '}'
                | '^'
                | '$'
                | '#'
                | '&'
                | '-'
                | '~'
        ) {
            self.out.push('\\');
            self.out.push(c);
        } else if c.is_ascii_control() || c == ' ' {
            self.push_code_point(c as u32);
        } else {
            self.out.push(c);
        }
    }

    fn push_code_point(&mut self, cp: u32) {
        use fmt::Write;
        let _ = write!(self.out, "\\x{{{cp:X}}}");
    }

    fn hex_digits(&mut self, n: usize, at: usize, what: &str) -> Result<u32, RegexError> {
        let mut v = 0u32;
        for _ in 0..n {
            match self.peek().and_then(|c| c.to_digit(16)) {
                Some(d) => {
                    self.bump();
                    v = v * 16 + d;
                }
                None => return Err(self.err(at, what.to_string())),
            }
        }
        Ok(v)
    }

    /// Push a predefined class, negated or not, inside or outside a class.
    fn push_class(&mut self, body: &str, negated: bool, in_class: bool) {
        match (negated, in_class) {
            (false, true) => self.out.push_str(body),
            (false, false) => {
                self.out.push('[');
                self.out.push_str(body);
                self.out.push(']');
            }
            (true, _) => {
                self.out.push_str("[^");
                self.out.push_str(body);
                self.out.push(']');
            }
        }
    }

    /// `self.pos` is at a backslash.
    fn escape(&mut self, in_class: bool) -> Result<(), RegexError> {
        let start = self.pos;
        self.bump();
        let Some(c) = self.bump() else {
            return Err(self.err(start, "Unexpected internal error: trailing backslash"));
        };
        match c {
            't' => self.out.push_str(r"\t"),
            'n' => self.out.push_str(r"\n"),
            'r' => self.out.push_str(r"\r"),
            'f' => self.out.push_str(r"\f"),
            'a' => self.push_code_point(0x07),
            'e' => self.push_code_point(0x1B),
            'c' => match self.bump() {
                Some(x) => self.push_code_point(x as u32 ^ 64),
                None => return Err(self.err(start, "Illegal control escape sequence")),
            },
            '0' => {
                let mut v = 0u32;
                let mut n = 0;
                let max_digits = if matches!(self.peek(), Some('0'..='3')) {
                    3
                } else {
                    2
                };
                while n < max_digits {
                    match self.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            self.bump();
                            v = v * 8 + d;
                            n += 1;
                        }
                        None => break,
                    }
                }
                if n == 0 {
                    return Err(self.err(start, "Illegal octal escape sequence"));
                }
                self.push_code_point(v);
            }
            'x' => {
                let v = if self.peek() == Some('{') {
                    self.bump();
                    let mut v = 0u32;
                    let mut n = 0;
                    while let Some(d) = self.peek().and_then(|c| c.to_digit(16)) {
                        self.bump();
                        v = v.saturating_mul(16).saturating_add(d);
                        n += 1;
                    }
                    if n == 0 || self.bump() != Some('}') {
                        return Err(self.err(start, "Unclosed hexadecimal escape sequence"));
                    }
                    v
                } else {
                    self.hex_digits(2, start, "Illegal hexadecimal escape sequence")?
                };
                if char::from_u32(v).is_none() {
                    return Err(self.err(start, "Hexadecimal codepoint is too big"));
                }
                self.push_code_point(v);
            }
            'u' => {
                let v = self.hex_digits(4, start, "Illegal Unicode escape sequence")?;
                let cp = if (0xD800..0xDC00).contains(&v) && self.src[self.pos..].starts_with("\\u")
                {
                    let save = self.pos;
                    self.pos += 2;
                    match self.hex_digits(4, start, "Illegal Unicode escape sequence") {
                        Ok(lo) if (0xDC00..0xE000).contains(&lo) => {
                            0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                        }
                        _ => {
                            self.pos = save;
                            v
                        }
                    }
                } else {
                    v
                };
                if char::from_u32(cp).is_none() {
                    return Err(self.err(start, "unpaired surrogate escapes are not supported"));
                }
                self.push_code_point(cp);
            }
            'd' | 'D' | 'w' | 'W' | 's' | 'S' if self.flags.unicode_class => {
                self.out.push('\\');
                self.out.push(c);
            }
            'd' | 'D' => self.push_class(ASCII_DIGIT, c == 'D', in_class),
            'w' | 'W' => self.push_class(ASCII_WORD, c == 'W', in_class),
            's' | 'S' => self.push_class(ASCII_SPACE, c == 'S', in_class),
            'h' | 'H' => self.push_class(HORIZONTAL_SPACE, c == 'H', in_class),
            'v' | 'V' => self.push_class(VERTICAL_SPACE, c == 'V', in_class),
            'p' | 'P' => self.property(c == 'P', in_class, start)?,
            'Q' => {
                let end = self.src[self.pos..]
                    .find("\\E")
                    .map_or(self.src.len(), |i| self.pos + i);
                let quoted = &self.src[self.pos..end];
                self.pos = (end + 2).min(self.src.len());
                for q in quoted.chars() {
                    self.push_literal(q);
                }
            }
            'R' if !in_class => self.out.push_str(&format!(r"(?>\r\n|[{VERTICAL_SPACE}])")),
            'Z' if !in_class => {
                let d = self.dollar(false);
                self.out.push_str(&d);
            }
            'b' | 'B' | 'A' | 'z' | 'G' if !in_class => {
                self.out.push('\\');
                self.out.push(c);
            }
            'k' if !in_class => {
                self.out.push_str(r"\k");
            }
            '1'..='9' if !in_class => {
                self.out.push('\\');
                self.out.push(c);
            }
            c if c.is_ascii_alphanumeric() => {
                return Err(self.err(start, "Illegal/unsupported escape sequence"));
            }
            c => self.push_literal(c),
        }
        Ok(())
    }

    /// `\p{Name}` / `\pL`: Java's POSIX names are ASCII classes (unless `U`), the rest is passed on.
    fn property(&mut self, negated: bool, in_class: bool, start: usize) -> Result<(), RegexError> {
        let name = if self.peek() == Some('{') {
            self.bump();
            let name_start = self.pos;
            let Some(len) = self.src[self.pos..].find('}') else {
                return Err(self.err(start, "Unclosed character family"));
            };
            self.pos += len + 1;
            &self.src[name_start..name_start + len]
        } else {
            match self.bump() {
                Some(c) => &self.src[self.pos - c.len_utf8()..self.pos],
                None => return Err(self.err(start, "Illegal character family escape")),
            }
        };
        let posix = match name {
            "Lower" => Some("lower"),
            "Upper" => Some("upper"),
            "ASCII" => Some("ascii"),
            "Alpha" => Some("alpha"),
            "Digit" => Some("digit"),
            "Alnum" => Some("alnum"),
            "Punct" => Some("punct"),
            "Graph" => Some("graph"),
            "Print" => Some("print"),
            "Blank" => Some("blank"),
            "Cntrl" => Some("cntrl"),
            "XDigit" => Some("xdigit"),
            "Space" => Some("space"),
            _ => None,
        };
        match posix {
            Some(p) if !self.flags.unicode_class => {
                let neg = if negated { "^" } else { "" };
                if in_class {
                    self.out.push_str(&format!("[:{neg}{p}:]"));
                } else {
                    self.out.push_str(&format!("[[:{neg}{p}:]]"));
                }
            }
            _ => {
                self.out.push_str(if negated { r"\P{" } else { r"\p{" });
                self.out.push_str(name);
                self.out.push('}');
            }
        }
        Ok(())
    }

    /// `self.pos` is at `[`.
    fn class(&mut self) -> Result<(), RegexError> {
        let start = self.pos;
        self.bump();
        self.out.push('[');
        if self.peek() == Some('^') {
            self.bump();
            self.out.push('^');
        }
        let mut empty = true;
        let mut prev_dash = false;
        loop {
            if self.skip_comments() {
                continue;
            }
            let Some(c) = self.peek() else {
                return Err(self.err(start, "Unclosed character class"));
            };
            let was_dash = prev_dash;
            prev_dash = false;
            match c {
                ']' if !empty => {
                    self.bump();
                    self.out.push(']');
                    return Ok(());
                }
                '[' => self.class()?,
                '\\' => self.escape(true)?,
                '&' if self.src[self.pos..].starts_with("&&") => {
                    self.bump();
                    self.bump();
                    self.out.push_str("&&");
                    continue;
                }
                '-' => {
                    self.bump();
                    // A second `-` would read as fancy-regex's class difference operator `--`.
                    self.out.push_str(if was_dash { r"\-" } else { "-" });
                    prev_dash = true;
                }
                '~' | '^' | ']' | '&' => {
                    self.bump();
                    self.out.push('\\');
                    self.out.push(c);
                }
                _ => {
                    self.bump();
                    self.out.push(c);
                }
            }
            empty = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_match(pattern: &str, text: &str) -> bool {
        compile(pattern).unwrap().is_match(text).unwrap()
    }

    fn full_match(pattern: &str, text: &str) -> bool {
        compile(&format!("^(?:{pattern})\\z"))
            .unwrap()
            .is_match(text)
            .unwrap()
    }

    #[test]
    fn plain_patterns_pass_through() {
        assert_eq!(translate(",").unwrap(), ",");
        assert_eq!(translate(r"\|").unwrap(), r"\|");
        assert_eq!(translate(r"\t").unwrap(), r"\t");
        assert_eq!(translate("a{2,3}b+?").unwrap(), "a{2,3}b+?");
        assert_eq!(
            translate("(?<year>x)(?:y)(?=z)").unwrap(),
            "(?<year>x)(?:y)(?=z)"
        );
    }

    #[test]
    fn java_only_escapes() {
        assert!(full_match(
            r"\e\a\cA\011\0101\u0041\x41\x{1F600}",
            "\u{1b}\u{7}\u{1}\tAAA😀"
        ));
        assert!(full_match(r"\uD83D\uDE00", "😀"));
        assert!(full_match(r"\Q.*+\E!", ".*+!"));
        assert!(full_match(r"[\Q]-\E]+", "]-]"));
        assert!(full_match(r"\Qa|b", "a|b"));
    }

    #[test]
    fn predefined_classes_are_ascii_like_java() {
        assert!(!is_match(r"\d", "٣"));
        assert!(is_match(r"\d", "3"));
        assert!(!is_match(r"\w", "é"));
        assert!(!is_match(r"\s", "\u{a0}"));
        assert!(is_match(r"\s", "\u{b}"));
        assert!(is_match(r"[^\d]", "٣"));
        assert!(is_match(r"[\D]", "٣"));
        assert!(!is_match(r"\p{Alpha}", "é"));
        assert!(is_match(r"\P{Alpha}", "é"));
        assert!(is_match(r"[\p{Digit}x]", "x"));
        assert!(is_match(r"(?U)\w", "é"));
        assert!(is_match(r"\p{L}", "é"));
        assert!(is_match(r"\h", "\u{a0}"));
        assert!(!is_match(r"\h", "a"));
        assert!(is_match(r"\v", "\u{2028}"));
        assert!(full_match(r"\R", "\r\n"));
        assert!(
            !full_match(r"\R\n", "\r\n"),
            "Java's \\R does not backtrack"
        );
    }

    #[test]
    fn dot_excludes_java_line_terminators() {
        assert!(!is_match(".", "\r"));
        assert!(!is_match(".", "\u{85}"));
        assert!(is_match("(?s).", "\r"));
        assert!(is_match("(?d).", "\r"));
        assert!(!is_match("(?d).", "\n"));
        assert!(is_match("(?s:.)", "\n"));
        assert!(!is_match("(?s:x).", "\n"), "flag scoped to its group");
        assert!(
            !is_match("(?:(?s)x).", "x\n"),
            "flag scoped to the enclosing group"
        );
    }

    #[test]
    fn dollar_and_caret_follow_java() {
        assert!(is_match("a$", "a\r\n"));
        assert!(is_match("a$", "a\n"));
        assert!(is_match("a$", "a\u{2028}"));
        assert!(!is_match("a$", "a\n\n"));
        assert!(!is_match(r"a\r$", "a\r\n"), "no match between \\r and \\n");
        assert!(is_match("(?m)a$", "a\r\nb"));
        assert!(is_match("(?m)^b", "a\rb"));
        assert!(
            !is_match("(?m)^", ""),
            "multi-line ^ never matches at the end of input"
        );
        assert!(!is_match("(?m)\n^", "a\n"));
        assert!(is_match(r"a\Z", "a\r\n"));
        assert!(is_match("(?d)a$", "a\n"));
        assert!(!is_match("(?d)a$", "a\r"));
    }

    #[test]
    fn comments_mode() {
        assert!(full_match("(?x) a b # comment\n c", "abc"));
        assert!(full_match(r"(?x) a\ b", "a b"));
        assert!(full_match("(?x)[a b]+", "ab"));
    }

    #[test]
    fn case_insensitive_flag_is_kept() {
        assert!(is_match("(?i)abc", "ABC"));
        assert!(!is_match("(?i:a)b", "AB"));
        assert!(is_match("(?i)a(?-i)b", "Ab"));
        assert!(!is_match("(?i)a(?-i)b", "AB"));
    }

    #[test]
    fn class_operators() {
        assert!(full_match("[a-z&&[^aeiou]]+", "xyz"));
        assert!(!is_match("[a-z&&[^aeiou]]", "a"));
        assert!(
            full_match("[+--]+", "+,-"),
            "`+--` is a range in Java, not a difference"
        );
        assert!(full_match("[~~]", "~"));
        assert!(full_match("[]a]+", "]a"));
        assert!(full_match("a]b}", "a]b}"));
    }

    #[test]
    fn errors_name_the_pattern_and_position() {
        let e = compile("ab(c").unwrap_err();
        assert_eq!(e.pattern, "ab(c");
        assert!(e.to_string().contains("ab(c"), "{e}");
        let e = compile("ab[c").unwrap_err();
        assert_eq!(e.position, Some(2), "{e}");
        let e = compile(r"x\y").unwrap_err();
        assert_eq!(e.position, Some(1));
        let e = compile("a{x}").unwrap_err();
        assert_eq!(e.position, Some(1));
        let e = compile("(?q)").unwrap_err();
        assert_eq!(e.position, Some(2));
        let e = compile("é*+*").unwrap_err();
        assert!(e.position.is_some(), "{e}");
        assert!(compile(r"\").is_err());
        assert!(compile(r"\0").is_err());
        assert!(compile(r"\x{110000}").is_err());
        assert!(compile(r"\uD800").is_err());
    }
}
