//! The translation of Java pattern syntax into fancy-regex syntax with the same meaning.

use super::{char_index, RegexError};

pub(super) fn build(pattern: &str, t: &Translator<'_>) -> Result<fancy_regex::Regex, RegexError> {
    fancy_regex::Regex::new(&t.out).map_err(|e| {
        let (pos, message) = match &e {
            fancy_regex::Error::ParseError(p, inner) => (Some(t.source_pos(*p)), inner.to_string()),
            // Valid syntax that does not fit the engine's size limits: a big `{n}`, as a rule.
            other => match t.big_repeat {
                Some((_, at)) => (
                    Some(at),
                    format!("the repetition makes the pattern too big to compile ({other})"),
                ),
                None => (None, other.to_string()),
            },
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
    Translator::run(pattern, false).map(|t| t.out)
}

/// Java's line terminators, as a class body.
const LINE_TERMINATORS: &str = r"\n\r\x{85}\x{2028}\x{2029}";
const ASCII_SPACE: &str = r"\t\n\x{0B}\f\r ";
const ASCII_WORD: &str = "a-zA-Z_0-9";
const ASCII_DIGIT: &str = "0-9";
/// A class that matches nothing (fancy-regex accepts quantifiers on it, unlike `(?!)`).
const NEVER: &str = r"[^\x{0}-\x{10FFFF}]";
const HORIZONTAL_SPACE: &str =
    r" \t\x{A0}\x{1680}\x{180E}\x{2000}-\x{200A}\x{202F}\x{205F}\x{3000}";
const VERTICAL_SPACE: &str = r"\n\x{0B}\f\r\x{85}\x{2028}\x{2029}";

/// Java's inline and compile flags in force at a point of the pattern.
#[derive(Clone, Copy, Default)]
pub(super) struct Flags {
    case_insensitive: bool,
    unicode_case: bool,
    unix_lines: bool,
    multiline: bool,
    dotall: bool,
    comments: bool,
    unicode_class: bool,
}

/// One pass over a Java pattern, writing its fancy-regex equivalent.
pub(super) struct Translator<'p> {
    src: &'p str,
    pos: usize,
    pub(super) out: String,
    /// (output byte offset, source byte offset) at the start of each translated token.
    pub(super) map: Vec<(usize, usize)>,
    flags: Flags,
    /// The groups currently open.
    saved: Vec<OpenGroup>,
    /// An atom that consumes input was written at the current group level.
    width_seen: bool,
    /// Anchors, boundaries, lookarounds or back-references were seen.
    pub(super) positional: bool,
    /// `\G` was seen.
    pub(super) has_g: bool,
    /// Emit `\G` as a never-matching assertion.
    g_never: bool,
    /// Capturing groups opened so far (Java resolves `\12` against this count).
    groups: usize,
    /// Names of the named groups so far: Java refuses a name defined twice.
    names: Vec<&'p str>,
    /// The biggest counted repetition and where it is in the source.
    big_repeat: Option<(i32, usize)>,
    /// The previous element can take a quantifier (Java: an atom was just parsed).
    can_quantify: bool,
    /// Where the last atom starts in `out`, and whether it is zero-width (an assertion or a
    /// lookaround), which fancy-regex refuses to quantify while Java accepts it.
    atom_start: usize,
    atom_zero_width: bool,
    /// Set by an emitter that just wrote a zero-width atom.
    zero_width: bool,
}

/// What closing a group needs to know.
struct OpenGroup {
    /// Flags to restore: inline flags end with their group.
    flags: Flags,
    /// Where the group starts in the output.
    start: usize,
    lookaround: bool,
    /// `width_seen` of the enclosing level.
    outer_width_seen: bool,
}

impl Flags {
    /// The default flags, with `Pattern.MULTILINE` set as asked.
    pub(super) fn with_multiline(multiline: bool) -> Flags {
        Flags {
            multiline,
            ..Flags::default()
        }
    }

    /// Java's default `(?i)`: ASCII letters only, emulated here.
    fn ascii_ci(self) -> bool {
        self.case_insensitive && !self.unicode_case
    }

    /// `(?iu)`: handed to fancy-regex as its (Unicode) `(?i)`.
    fn unicode_ci(self) -> bool {
        self.case_insensitive && self.unicode_case
    }
}

fn other_case(c: char) -> char {
    if c.is_ascii_lowercase() {
        c.to_ascii_uppercase()
    } else {
        c.to_ascii_lowercase()
    }
}

impl<'p> Translator<'p> {
    pub(super) fn run(src: &'p str, g_never: bool) -> Result<Translator<'p>, RegexError> {
        Translator::run_with(src, g_never, Flags::default())
    }

    pub(super) fn run_with(
        src: &'p str,
        g_never: bool,
        flags: Flags,
    ) -> Result<Translator<'p>, RegexError> {
        let mut t = Translator {
            src,
            pos: 0,
            out: String::with_capacity(src.len() + 16),
            map: Vec::new(),
            flags,
            saved: Vec::new(),
            positional: false,
            has_g: false,
            g_never,
            groups: 0,
            names: Vec::new(),
            big_repeat: None,
            can_quantify: false,
            atom_start: 0,
            atom_zero_width: false,
            zero_width: false,
            width_seen: false,
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
            // Java: every element is an atom plus at most one quantifier; `*+?` anywhere else
            // are "dangling", while a `{n}` without an atom repeats the empty string.
            let mut atom = true;
            let mut atom_start = self.out.len();
            self.zero_width = false;
            match c {
                '\\' => atom = self.escape(false)?,
                '[' => self.class()?,
                '(' => {
                    self.group_open()?;
                    atom = false;
                }
                ')' => {
                    self.bump();
                    self.out.push(')');
                    let Some(g) = self.saved.pop() else {
                        return Err(self.err(self.pos - 1, "Unmatched closing ')'"));
                    };
                    self.flags = g.flags;
                    atom_start = g.start;
                    // Empty or assertion-only groups are zero-width too.
                    self.zero_width = g.lookaround || !self.width_seen;
                    self.width_seen = g.outer_width_seen;
                }
                '|' => {
                    self.bump();
                    self.out.push('|');
                    atom = false;
                }
                '*' | '+' | '?' => {
                    if !self.can_quantify {
                        return Err(self.err(self.pos, format!("Dangling meta character '{c}'")));
                    }
                    self.bump();
                    self.quantifiable();
                    self.out.push(c);
                    self.quantifier_modifier(true);
                    atom = false;
                }
                '{' => {
                    let keep = self.can_quantify;
                    if keep {
                        self.quantifiable();
                    }
                    self.bounded_repeat(keep)?;
                    self.quantifier_modifier(keep);
                    atom = false;
                }
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
                    self.positional = true;
                    self.zero_width = true;
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
                    self.positional = true;
                    self.zero_width = true;
                    let dollar = self.dollar(self.flags.multiline);
                    self.out.push_str(&dollar);
                }
                ']' | '}' => {
                    self.bump();
                    self.out.push('\\');
                    self.out.push(c);
                }
                c if self.flags.ascii_ci() && c.is_ascii_alphabetic() => {
                    self.bump();
                    self.push_char(c, false);
                }
                _ => {
                    self.bump();
                    self.out.push(c);
                }
            }
            self.can_quantify = atom;
            if atom {
                self.atom_start = atom_start;
                self.atom_zero_width = self.zero_width;
                self.width_seen |= !self.zero_width;
            }
        }
    }

    /// Make the last atom acceptable to a quantifier: fancy-regex rejects quantified
    /// assertions and lookarounds, so they get a never-matching alternative that changes nothing.
    fn quantifiable(&mut self) {
        if !self.atom_zero_width {
            return;
        }
        const OPEN: &str = "(?:";
        self.out.insert_str(self.atom_start, OPEN);
        for entry in &mut self.map {
            if entry.0 > self.atom_start {
                entry.0 += OPEN.len();
            }
        }
        self.out.push('|');
        self.out.push_str(NEVER);
        self.out.push(')');
        self.atom_zero_width = false;
    }

    /// A `?` (reluctant) or `+` (possessive) right after a quantifier.
    fn quantifier_modifier(&mut self, keep: bool) {
        self.skip_comments();
        if let Some(m @ ('?' | '+')) = self.peek() {
            self.bump();
            if keep {
                self.out.push(m);
            }
        }
    }

    /// Under Java's ASCII `(?i)`, add to the class items written since `at` (a union, between
    /// `[` / `&&` / `]`) the other case of every ASCII letter they hold. Java folds each item
    /// before intersecting and negating, and folding distributes over the union.
    fn fold_items(&mut self, at: usize) {
        if !self.flags.ascii_ci() || at >= self.out.len() {
            return;
        }
        let Ok(re) = fancy_regex::Regex::new(&format!(r"\A[{}]\z", &self.out[at..])) else {
            // Left as is: compiling the whole pattern reports the problem.
            return;
        };
        let holds = |c: char| re.is_match(c.encode_utf8(&mut [0; 4])).unwrap_or(false);
        let extra: String = ('a'..='z')
            .chain('A'..='Z')
            .filter(|&c| holds(c) && !holds(other_case(c)))
            .map(other_case)
            .collect();
        if !extra.is_empty() {
            self.out.push('[');
            self.out.push_str(&extra);
            self.out.push(']');
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

    /// Remember the biggest counted repetition: the likely culprit when the compiled program
    /// outgrows fancy-regex's size limits (an error that carries no position).
    fn note_repeat(&mut self, count: i32, at: usize) {
        if self.big_repeat.is_none_or(|(c, _)| count > c) {
            self.big_repeat = Some((count, at));
        }
    }

    /// `{n}`, `{n,}`, `{n,m}`: Java rejects any other `{`. Written out only if `keep`.
    fn bounded_repeat(&mut self, keep: bool) -> Result<(), RegexError> {
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
        let min: Option<i32> = body[1..].parse().ok();
        if min.is_none() {
            return Err(self.err(start, "Illegal repetition range"));
        }
        if self.peek() == Some(',') {
            self.bump();
            body.push(',');
            let max_start = body.len();
            while let Some(c @ '0'..='9') = self.peek() {
                self.bump();
                body.push(c);
            }
            if body.len() > max_start {
                let max: Option<i32> = body[max_start..].parse().ok();
                match (min, max) {
                    (Some(lo), Some(hi)) if hi >= lo => self.note_repeat(hi, start),
                    _ => return Err(self.err(self.pos, "Illegal repetition range")),
                }
            }
        }
        if self.peek() != Some('}') {
            return Err(self.err(start, "Unclosed counted closure"));
        }
        if let Some(lo) = min {
            self.note_repeat(lo, start);
        }
        self.bump();
        body.push('}');
        if keep {
            self.out.push_str(&body);
        }
        Ok(())
    }

    fn open_group(&mut self, flags: Flags, start: usize, lookaround: bool) {
        self.saved.push(OpenGroup {
            flags,
            start,
            lookaround,
            outer_width_seen: self.width_seen,
        });
        self.width_seen = false;
    }

    fn group_open(&mut self) -> Result<(), RegexError> {
        self.bump();
        let start = self.out.len();
        if self.peek() != Some('?') {
            self.out.push('(');
            self.open_group(self.flags, start, false);
            self.groups += 1;
            return Ok(());
        }
        self.bump();
        match (self.peek(), self.peek_at(1)) {
            (Some(c @ (':' | '=' | '!' | '>')), _) => {
                self.bump();
                let lookaround = matches!(c, '=' | '!');
                self.positional |= lookaround;
                self.out.push_str("(?");
                self.out.push(c);
                self.open_group(self.flags, start, lookaround);
            }
            (Some('<'), Some(c @ ('=' | '!'))) => {
                self.positional = true;
                self.bump();
                self.bump();
                self.out.push_str("(?<");
                self.out.push(c);
                self.open_group(self.flags, start, true);
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
                if self.names.contains(&name) {
                    return Err(self.err(
                        name_start,
                        format!("Named capturing group <{name}> is already defined"),
                    ));
                }
                self.names.push(name);
                self.bump();
                self.out.push_str("(?<");
                self.out.push_str(name);
                self.out.push('>');
                self.open_group(self.flags, start, false);
                self.groups += 1;
            }
            _ => self.inline_flags(start)?,
        }
        Ok(())
    }

    fn inline_flags(&mut self, start: usize) -> Result<(), RegexError> {
        let before = self.flags;
        let mut flags = self.flags;
        let mut on = true;
        loop {
            let at = self.pos;
            match self.bump() {
                Some('i') => flags.case_insensitive = on,
                Some('u') => flags.unicode_case = on,
                Some('d') => flags.unix_lines = on,
                Some('m') => flags.multiline = on,
                Some('s') => flags.dotall = on,
                Some('x') => flags.comments = on,
                Some('U') => flags.unicode_class = on,
                Some('-') if on => on = false,
                Some(')') => {
                    self.flags = flags;
                    match (before.unicode_ci(), flags.unicode_ci()) {
                        (false, true) => self.out.push_str("(?i)"),
                        (true, false) => self.out.push_str("(?-i)"),
                        _ => {}
                    }
                    return Ok(());
                }
                Some(':') => {
                    self.open_group(before, start, false);
                    self.flags = flags;
                    self.out
                        .push_str(match (before.unicode_ci(), flags.unicode_ci()) {
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

    /// A literal char, escaped as needed for fancy-regex; outside a class it also gets Java's
    /// ASCII case folding when `(?i)` is on.
    fn push_char(&mut self, c: char, in_class: bool) {
        if !in_class && self.flags.ascii_ci() && c.is_ascii_alphabetic() {
            self.out.push('[');
            self.out.push(c);
            self.out.push(other_case(c));
            self.out.push(']');
        } else if matches!(
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
            use std::fmt::Write;
            let _ = write!(self.out, "\\x{{{:X}}}", c as u32);
        } else {
            self.out.push(c);
        }
    }

    /// A literal given by code point (validated by the caller's escape parsing).
    fn push_code_point(&mut self, cp: u32, in_class: bool) -> bool {
        match char::from_u32(cp) {
            Some(c) => {
                self.push_char(c, in_class);
                true
            }
            None => false,
        }
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

    /// `self.pos` is at a backslash. Returns whether it produced an atom (empty `\Q\E` does not).
    fn escape(&mut self, in_class: bool) -> Result<bool, RegexError> {
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
            'a' => self.push_char('\u{07}', in_class),
            'e' => self.push_char('\u{1B}', in_class),
            'c' => match self.bump() {
                Some(x) if self.push_code_point(x as u32 ^ 64, in_class) => {}
                _ => return Err(self.err(start, "Illegal control escape sequence")),
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
                if n == 0 || !self.push_code_point(v, in_class) {
                    return Err(self.err(start, "Illegal octal escape sequence"));
                }
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
                if !self.push_code_point(v, in_class) {
                    return Err(self.err(start, "Hexadecimal codepoint is too big"));
                }
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
                if !self.push_code_point(cp, in_class) {
                    return Err(self.err(start, "unpaired surrogate escapes are not supported"));
                }
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
                    self.push_char(q, in_class);
                }
                if quoted.is_empty() {
                    return Ok(false);
                }
            }
            // Java 9+ (JDK-8176029): a plain alternation that may backtrack into `\r`.
            'R' if !in_class => self.out.push_str(&format!(r"(?:\r\n|[{VERTICAL_SPACE}])")),
            'Z' if !in_class => {
                self.positional = true;
                self.zero_width = true;
                let d = self.dollar(false);
                self.out.push_str(&d);
            }
            'G' if !in_class => {
                self.positional = true;
                self.zero_width = true;
                self.has_g = true;
                self.out.push_str(if self.g_never { "(?!)" } else { r"\G" });
            }
            'b' if !in_class && self.peek() == Some('{') => {
                return Err(self.err(
                    start,
                    "\\b{g} (grapheme cluster boundary, Java 9+) is not supported by kinetail",
                ));
            }
            'X' if !in_class => {
                return Err(self.err(
                    start,
                    "\\X (grapheme cluster, Java 9+) is not supported by kinetail",
                ));
            }
            'N' if self.peek() == Some('{') => {
                return Err(self.err(
                    start,
                    "\\N{name} (named character, Java 9+) is not supported by kinetail; use \\x{hex} or \\uXXXX",
                ));
            }
            'b' | 'B' | 'A' | 'z' if !in_class => {
                self.positional = true;
                self.zero_width = true;
                self.out.push('\\');
                self.out.push(c);
            }
            'k' if !in_class => {
                self.positional = true;
                let Some(len) = self.src[self.pos..]
                    .strip_prefix('<')
                    .and_then(|r| r.find('>'))
                else {
                    return Err(self.err(
                        start,
                        "\\k is not followed by '<' for named capturing group",
                    ));
                };
                let name = &self.src[self.pos..self.pos + len + 2];
                self.pos += len + 2;
                let backref = format!(r"\k{name}");
                self.push_backref(&backref);
            }
            '1'..='9' if !in_class => {
                self.positional = true;
                // Java takes more digits only while they name an existing group.
                let mut num = c as usize - '0' as usize;
                while let Some(d @ '0'..='9') = self.peek() {
                    let next = num * 10 + (d as usize - '0' as usize);
                    if next > self.groups {
                        break;
                    }
                    self.bump();
                    num = next;
                }
                if num > self.groups {
                    // A reference to a group that does not exist never matches in Java.
                    self.out.push_str(NEVER);
                } else {
                    self.push_backref(&format!(r"\{num}"));
                }
            }
            c if c.is_ascii_alphanumeric() => {
                return Err(self.err(start, "Illegal/unsupported escape sequence"));
            }
            c => self.push_char(c, in_class),
        }
        Ok(true)
    }

    /// Grouped so that a following digit stays a literal; Java compares back-references
    /// case-insensitively under `(?i)`.
    fn push_backref(&mut self, backref: &str) {
        self.out
            .push_str(if self.flags.ascii_ci() { "(?i:" } else { "(?:" });
        self.out.push_str(backref);
        self.out.push(')');
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
        // `java*` names are `Character.isXxx` methods; as class bodies.
        let java = match name {
            "javaLowerCase" => Some(r"\p{Lowercase}"),
            "javaUpperCase" => Some(r"\p{Uppercase}"),
            "javaAlphabetic" => Some(r"\p{Alphabetic}"),
            "javaIdeographic" => Some(r"\p{Ideographic}"),
            "javaTitleCase" => Some(r"\p{Lt}"),
            "javaDigit" => Some(r"\p{Nd}"),
            "javaDefined" => Some(r"\P{Cn}"),
            "javaLetter" => Some(r"\p{L}"),
            "javaLetterOrDigit" => Some(r"\p{L}\p{Nd}"),
            "javaISOControl" => Some(r"\x00-\x1F\x7F-\x{9F}"),
            "javaMirrored" => Some(r"\p{Bidi_Mirrored}"),
            "javaSpaceChar" => Some(r"\p{Z}"),
            "javaWhitespace" => Some(r"\t\n\x0B\f\r\x1C-\x1F\p{Z}&&[^\x{A0}\x{2007}\x{202F}]"),
            _ => None,
        };
        if let Some(body) = java {
            self.out.push_str(if negated { "[^" } else { "[" });
            self.out.push_str(body);
            self.out.push(']');
            return Ok(());
        }
        if name == "all" {
            // Any code point; `\P{all}` matches nothing.
            self.out.push_str(if negated {
                NEVER
            } else {
                r"[\x{0}-\x{10FFFF}]"
            });
            return Ok(());
        }
        let block = name
            .strip_prefix("In")
            .filter(|b| !b.is_empty())
            .or_else(|| {
                name.split_once('=')
                    .filter(|(k, _)| matches!(*k, "block" | "blk"))
                    .map(|(_, b)| b)
            });
        if let Some(block) = block {
            return Err(self.err(
                start,
                format!("Unicode blocks (\\p{{{name}}}: block {block}) are not supported by kinetail; use a script (\\p{{Is{block}}}) or an explicit range"),
            ));
        }
        match posix {
            Some(p) if !self.flags.unicode_class => {
                if in_class {
                    let neg = if negated { "^" } else { "" };
                    self.out.push_str(&format!("[:{neg}{p}:]"));
                } else {
                    // `[^...]` rather than `[:^...:]`: Java folds case before negating.
                    self.out.push_str(if negated { "[^" } else { "[" });
                    let at = self.out.len();
                    self.out.push_str(&format!("[:{p}:]"));
                    self.fold_items(at);
                    self.out.push(']');
                }
            }
            _ => {
                // Under `(?i)` Java widens the cased-letter categories to all cased letters.
                let cased = matches!(
                    name,
                    "Lu" | "Ll" | "Lt" | "IsLu" | "IsLl" | "IsLt" | "gc=Lu" | "gc=Ll" | "gc=Lt"
                );
                let name = if self.flags.case_insensitive && cased {
                    "LC"
                } else {
                    name
                };
                let property = format!(r"\p{{{name}}}");
                if fancy_regex::Regex::new(&property).is_err() {
                    return Err(
                        self.err(start, format!("Unknown character property name {{{name}}}"))
                    );
                }
                self.out.push_str(if negated { r"\P{" } else { r"\p{" });
                self.out.push_str(name);
                self.out.push('}');
            }
        }
        Ok(())
    }

    /// `self.pos` is at `[`: a whole class, checked on its own so that a bad range or set
    /// operation is reported at its position rather than somewhere in the whole pattern.
    fn class(&mut self) -> Result<(), RegexError> {
        let start = self.pos;
        let out_start = self.out.len();
        self.class_items()?;
        if fancy_regex::Regex::new(&self.out[out_start..]).is_err() {
            return Err(self.err(start, "Illegal character range or class"));
        }
        Ok(())
    }

    /// `self.pos` is at `[`.
    fn class_items(&mut self) -> Result<(), RegexError> {
        let start = self.pos;
        self.bump();
        self.out.push('[');
        if self.peek() == Some('^') {
            self.bump();
            self.out.push('^');
        }
        let mut empty = true;
        let mut prev_dash = false;
        let mut items_start = self.out.len();
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
                    self.fold_items(items_start);
                    self.out.push(']');
                    return Ok(());
                }
                '[' => self.class_items()?,
                '\\' => {
                    self.escape(true)?;
                }
                '&' if self.src[self.pos..].starts_with("&&") => {
                    self.bump();
                    self.bump();
                    self.fold_items(items_start);
                    self.out.push_str("&&");
                    items_start = self.out.len();
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
