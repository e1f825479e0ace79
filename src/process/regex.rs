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
//!   fancy-regex; `\R` is Java 9+'s line break (Java 8 made it atomic).
//! * Java-only escapes: `\Q...\E`, `\e`, `\a`, `\cX`, `\0oct`, `\uXXXX` (incl. surrogate pairs).
//! * Inline flags `idmsuxU` are Java's (fancy-regex's `U` swaps greediness) and are applied here.
//!   Java's `(?i)` folds ASCII letters only (unless `u`): letters become `[xX]` and each class
//!   gains the other case of the ASCII letters it holds (found by test-matching the class at
//!   compile time), instead of fancy-regex's Unicode folding, where `k` would match U+212A.
//!   `(?iu)` is passed on as fancy-regex's Unicode `(?i)`.
//!
//! * Java accepts quantifiers on assertions and lookarounds (`(?=a)?`, `\G*`), on a missing
//!   atom (`{2}a` repeats nothing) and back-references to groups that do not exist (never
//!   match); `*+?` without an atom are errors ("Dangling meta character"), as in Java.
//!
//! [`full_match`] and [`looking_at`] wrap the translation in `\A(?:...)\z` / `\A(?:...)` to get
//! `Matcher.matches()` / `Matcher.lookingAt()`; the backtracking order is kept, so the groups
//! of a match are Java's.
//!
//! Checked against a JVM (OpenJDK 17): random patterns and texts, and the recorded cases of
//! `tests/fixtures/java_regex_oracle.jsonl` (the agent's own patterns, documentation examples
//! and common log patterns, made by `oracle/regex_cases.py`).
//!
//! Refused at compile time, with the position, although Java accepts them: Unicode blocks
//! (`\p{InGreek}`, `\p{block=...}`, `\p{blk=...}`), and the Java 9+ `\X`, `\b{g}` and
//! `\N{name}`. Known remaining differences: `(?iu)` uses fancy-regex's case folding; Java's
//! odd nested-class negation rules are not reproduced; `\R` backtracks as in Java 9+; `\b` is
//! fancy-regex's Unicode word boundary (JDK 8-18 use `isLetterOrDigit` + `_`, which differs
//! for a few non-ASCII categories such as `Nl` and `Mn`; JDK 19+ use ASCII); a repeated group
//! whose body can match empty (`(a?)+`) reports another iteration's text than Java, which
//! keeps the empty last one; JDK 17 property names it does not know but fancy-regex does
//! (`\p{IsEmoji}`) are accepted; and fancy-regex gives up a pathological backtracking search
//! where Java would run on: [`compile`] users get an error (the record is sent raw),
//! [`LookingAt::is_match`] / [`FullMatch::is_match`] answer "no match" (their `try_` forms
//! report it).

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
    compile_for_find(pattern).map(|c| c.regex)
}

/// A Java regex compiled for `Matcher.find()`-style repeated searching.
pub struct FindRegex {
    /// The regex proper.
    pub regex: fancy_regex::Regex,
    /// It has anchors, boundaries, lookarounds or back-references: whether an empty match
    /// succeeds can depend on where it is tried.
    pub positional: bool,
    /// For patterns with `\G`: the variant to use for a search that starts one character after
    /// an empty match. Java's `\G` sits at the previous match's end, before such a search
    /// start, so it can never hold there (fancy-regex would put it at the search start).
    pub after_empty_match: Option<fancy_regex::Regex>,
}

/// Compile a Java regular expression with what repeated searching needs to know about it.
pub fn compile_for_find(pattern: &str) -> Result<FindRegex, RegexError> {
    let t = Translator::run(pattern, false)?;
    let regex = build(pattern, &t)?;
    let after_empty_match = if t.has_g {
        Some(build(pattern, &Translator::run(pattern, true)?)?)
    } else {
        None
    };
    Ok(FindRegex {
        regex,
        positional: t.positional,
        after_empty_match,
    })
}

fn build(pattern: &str, t: &Translator<'_>) -> Result<fancy_regex::Regex, RegexError> {
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

/// A Java regex used like `Matcher.lookingAt()`: it must match at the start of the text but
/// need not reach its end (how `multiLineStartPattern` tests each line).
#[derive(Debug, Clone)]
pub struct LookingAt {
    source: String,
    regex: fancy_regex::Regex,
}

/// A Java regex used like `Matcher.matches()`: it must match the whole text.
#[derive(Debug, Clone)]
pub struct FullMatch {
    source: String,
    regex: fancy_regex::Regex,
    groups: usize,
}

/// A search that fancy-regex gave up (its backtracking limit), where Java would have run on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("regular expression {pattern:?} gave up: {message}")]
pub struct MatchError {
    /// The pattern as configured.
    pub pattern: String,
    /// What fancy-regex reported.
    pub message: String,
}

/// Compile `pattern` for Java's `Matcher.lookingAt()` (anchored at the start only).
pub fn looking_at(pattern: &str) -> Result<LookingAt, RegexError> {
    let regex = compile_anchored(pattern, Flags::default(), false)?;
    Ok(LookingAt {
        source: pattern.to_string(),
        regex,
    })
}

/// Compile `pattern` for Java's `Matcher.matches()`, with `Pattern.MULTILINE` when `multiline`.
pub fn full_match(pattern: &str, multiline: bool) -> Result<FullMatch, RegexError> {
    let flags = Flags {
        multiline,
        ..Flags::default()
    };
    let regex = compile_anchored(pattern, flags, true)?;
    let groups = regex.captures_len().saturating_sub(1);
    Ok(FullMatch {
        source: pattern.to_string(),
        regex,
        groups,
    })
}

/// Wrap the translation in `\A(?:...)` (and `\z` for a full match), keeping error positions.
fn compile_anchored(
    pattern: &str,
    flags: Flags,
    to_end: bool,
) -> Result<fancy_regex::Regex, RegexError> {
    const OPEN: &str = r"\A(?:";
    let mut t = Translator::run_with(pattern, false, flags)?;
    let mut out = String::with_capacity(t.out.len() + OPEN.len() + 3);
    out.push_str(OPEN);
    out.push_str(&t.out);
    out.push_str(if to_end { r")\z" } else { ")" });
    t.out = out;
    for entry in &mut t.map {
        entry.0 += OPEN.len();
    }
    build(pattern, &t)
}

fn run_error(pattern: &str, e: fancy_regex::Error) -> MatchError {
    MatchError {
        pattern: pattern.to_string(),
        message: e.to_string(),
    }
}

impl LookingAt {
    /// Whether a prefix of `text` matches; a search fancy-regex gives up counts as no match.
    pub fn is_match(&self, text: &str) -> bool {
        self.try_is_match(text).unwrap_or(false)
    }

    /// Whether a prefix of `text` matches, or why the search was given up.
    pub fn try_is_match(&self, text: &str) -> Result<bool, MatchError> {
        self.regex
            .is_match(text)
            .map_err(|e| run_error(self.pattern(), e))
    }

    /// The Java pattern as configured.
    pub fn pattern(&self) -> &str {
        &self.source
    }
}

impl FullMatch {
    /// Whether all of `text` matches; a search fancy-regex gives up counts as no match.
    pub fn is_match(&self, text: &str) -> bool {
        self.try_is_match(text).unwrap_or(false)
    }

    /// Whether all of `text` matches, or why the search was given up.
    pub fn try_is_match(&self, text: &str) -> Result<bool, MatchError> {
        self.regex
            .is_match(text)
            .map_err(|e| run_error(self.pattern(), e))
    }

    /// The groups of a whole-text match (group 0 is the text), `None` when it does not match.
    pub fn captures<'t>(
        &self,
        text: &'t str,
    ) -> Result<Option<fancy_regex::Captures<'t, str>>, MatchError> {
        self.regex
            .captures(text)
            .map_err(|e| run_error(self.pattern(), e))
    }

    /// Java's `Matcher.groupCount()`: capturing groups in the pattern, named ones included.
    pub fn group_count(&self) -> usize {
        self.groups
    }

    /// The Java pattern as configured.
    pub fn pattern(&self) -> &str {
        &self.source
    }
}

fn char_index(s: &str, byte: usize) -> usize {
    s.char_indices().take_while(|(i, _)| *i < byte).count()
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

#[derive(Clone, Copy, Default)]
struct Flags {
    case_insensitive: bool,
    unicode_case: bool,
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
    /// The groups currently open.
    saved: Vec<OpenGroup>,
    /// An atom that consumes input was written at the current group level.
    width_seen: bool,
    /// Anchors, boundaries, lookarounds or back-references were seen.
    positional: bool,
    /// `\G` was seen.
    has_g: bool,
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
    fn run(src: &'p str, g_never: bool) -> Result<Translator<'p>, RegexError> {
        Translator::run_with(src, g_never, Flags::default())
    }

    fn run_with(src: &'p str, g_never: bool, flags: Flags) -> Result<Translator<'p>, RegexError> {
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
            use fmt::Write;
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
        assert!(is_match(r"^\Qa|b", "a|b"));
        assert!(!is_match(r"^\Qa|b", "b"));
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
        assert!(is_match(r"\p{javaLowerCase}", "é"));
        assert!(!is_match(r"\p{javaWhitespace}", "\u{a0}"));
        assert!(is_match(r"[\p{javaWhitespace}x]", "\u{1c}"));
        assert!(is_match(r"\P{javaDigit}", "x"));
        assert!(is_match(r"\h", "\u{a0}"));
        assert!(!is_match(r"\h", "a"));
        assert!(is_match(r"\v", "\u{2028}"));
        assert!(full_match(r"\R", "\r\n"));
        assert!(full_match(r"\R\n", "\r\n"), "Java 9+'s \\R may backtrack");
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
    fn case_insensitive_is_ascii_only_like_java() {
        assert!(!is_match("(?i)k", "\u{212A}"));
        assert!(!is_match("(?i)[a-z]", "\u{212A}"));
        assert!(!is_match("(?i)s", "\u{17F}"));
        assert!(!is_match("(?i)é", "É"));
        assert!(!is_match("(?i)[é]", "É"));
        assert!(is_match("(?iu)é", "É"));
        assert!(is_match("(?iu)[é]", "É"));
        assert!(full_match("(?i)[a-c]+", "aBC"));
        assert!(!is_match("(?i)[^a]", "A"));
        assert!(full_match(r"(?i)(a)\1", "aA"));
        assert!(full_match(r"(?i)(?<x>a)\k<x>", "aA"));
        assert!(full_match(r"(?i)\x41\Qb\E", "aB"));
        assert!(full_match(r"(?i)\p{Lower}", "A"));
        assert!(!is_match(r"(?i)\p{Lower}", "É"));
        assert!(!is_match(r"(?i)\P{Lower}", "A"));
        assert!(!is_match(r"(?i)[^\p{Lower}]", "A"));
        assert!(is_match(r"(?i)\p{Lu}", "é"));
        assert!(!is_match(r"(?i)\P{Lu}", "a"));
        assert!(!is_match(r"(?i)\w", "\u{212A}"));
        assert!(
            !is_match(r"(?i)[\p{Alpha}&&[^b]]", "B"),
            "items fold before intersecting"
        );
        assert!(!is_match(r"(?i)[A-Z&&[^k]]", "K"));
        assert!(is_match(r"(?i)[a-z&&[^k]]", "Q"));
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
    fn positional_patterns_are_flagged() {
        for p in [
            "^a", "a$", r"\b", r"\Bx", "(?=a)", "(?!a)", "(?<=a)", "(?<!a)", r"(a)\1", r"\Z", r"\G",
        ] {
            assert!(compile_for_find(p).unwrap().positional, "{p}");
        }
        for p in [
            "", "|", "x*", ",?", "[^a]*", r"\s*", "(?:a|)", "(?>a)", r"\^",
        ] {
            assert!(!compile_for_find(p).unwrap().positional, "{p}");
        }
        assert!(compile_for_find(r"\Ga")
            .unwrap()
            .after_empty_match
            .is_some());
        assert!(compile_for_find("a").unwrap().after_empty_match.is_none());
    }

    #[test]
    fn quantifier_placement_follows_java() {
        for p in [
            "a**", "a*?+", "a?+*", "(?i)*", "{2}*", "a|*", "(*)", r"\Q\E*", "a(?x) *",
        ] {
            assert!(compile(p).is_err(), "{p}");
        }
        assert!(
            full_match("{2}a", "a"),
            "a bounded repeat without an atom repeats nothing"
        );
        assert!(full_match("a*{2}", "aa"));
        assert!(full_match("(?i){2}a", "A"));
        assert!(full_match(r"\Qab\E*", "abbb"));
        assert!(full_match("(?x)a *", "aaa"));
        assert!(full_match("a*?b", "aab"));
        assert!(full_match("a*+b", "aab"));
        assert!(full_match("a{1,2}?a", "aa"));
        assert!(full_match("(?=a)?a", "a"));
        assert!(full_match("(?:)+?a", "a"));
        assert!(full_match("(?:(?=a))*a", "a"));
        assert!(full_match(r"\G*a", "a"));
        assert!(full_match(r"(?d)a$?", "a"));
        assert!(!is_match(r"\1*x", "y"));
        assert!(full_match(r"\1*x", "x"));
    }

    #[test]
    fn back_references_resolve_like_java() {
        assert!(
            !is_match(r"\1", "a"),
            "missing group: never matches, no error"
        );
        assert!(full_match(r"(a)\11", "aa1"), "\\11 is group 1 then '1'");
        assert!(full_match(
            r"(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)(k)\11",
            "abcdefghijkk"
        ));
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

#[cfg(test)]
mod anchored_tests {
    use super::*;

    #[test]
    fn looking_at_is_anchored_at_the_start_only() {
        let la = looking_at(r"\[SEQUENCE=").unwrap();
        assert!(la.is_match("[SEQUENCE=1] started\n"));
        assert!(la.is_match("[SEQUENCE="));
        assert!(!la.is_match(" [SEQUENCE=1]\n"));
        assert!(!la.is_match("x[SEQUENCE=1]"));
        assert!(!la.is_match(""));
        assert_eq!(la.pattern(), r"\[SEQUENCE=");
        // `AbstractParserTest.testConvertingMultiLineDataFromRealLog`.
        let la = looking_at(r"    \{").unwrap();
        assert!(la.is_match("    {\n"));
        assert!(la.is_match("    {\"a\": 1},\n"));
        assert!(!la.is_match("   {\n"));
        assert!(!la.is_match("\t{\n"));
        assert!(!la.is_match("     {\n"), "a fifth space is not the brace");
        let la = looking_at("^[0-9]{4}-[0-9]{2}-[0-9]{2}").unwrap();
        assert!(la.is_match("2024-05-01 10:00:00 INFO x\n"));
        assert!(!la.is_match("\tat com.example.Foo(Foo.java:1)\n"));
        assert!(
            !la.is_match("\u{0663}024-05-01"),
            "\\d-like ranges stay ASCII"
        );
    }

    #[test]
    fn looking_at_follows_java_on_alternation_and_dollar() {
        // Java tries alternatives in order, but any one of them that matches a prefix will do.
        let la = looking_at("ab|a").unwrap();
        assert!(la.is_match("ax"));
        let la = looking_at("a|(?:b|c)d").unwrap();
        assert!(la.is_match("cd"));
        assert!(
            !la.is_match("xa"),
            "the alternation stays inside the anchor"
        );
        // `$` matches before a final line terminator, as the framing lines keep theirs.
        let la = looking_at("abc$").unwrap();
        assert!(la.is_match("abc\n"));
        assert!(la.is_match("abc\r\n"));
        assert!(!la.is_match("abc\nx"));
        let la = looking_at(r"\S").unwrap();
        assert!(la.is_match("x\n"));
        assert!(!la.is_match(" x\n"));
        assert!(!la.is_match("\n"));
    }

    #[test]
    fn full_match_needs_the_whole_text() {
        let fm = full_match(r"(\w+)=(\d+)", false).unwrap();
        assert_eq!(fm.group_count(), 2);
        assert!(fm.is_match("a=1"));
        assert!(!fm.is_match("a=1 "));
        assert!(!fm.is_match(" a=1"));
        assert!(
            !fm.is_match("a=1\n"),
            "unlike `$`, matches() does not skip a final newline"
        );
        let caps = fm.captures("key=42").unwrap().unwrap();
        assert_eq!(caps.get(1).map(|m| m.as_str()), Some("key"));
        assert_eq!(caps.get(2).map(|m| m.as_str()), Some("42"));
        assert!(fm.captures("key=x").unwrap().is_none());
        // Lazy quantifiers still have to reach the end.
        let fm = full_match(r#""(.+?)""#, false).unwrap();
        let caps = fm.captures(r#""a" "b""#).unwrap().unwrap();
        assert_eq!(caps.get(1).map(|m| m.as_str()), Some(r#"a" "b"#));
        let fm = full_match("a|ab", false).unwrap();
        assert!(fm.is_match("ab"), "backtracks into the second alternative");
        let fm = full_match(".*", false).unwrap();
        assert!(!fm.is_match("a\rb"));
        assert!(fm.is_match(""));
        let fm = full_match("(?s).*", false).unwrap();
        assert!(fm.is_match("a\r\nb"));
    }

    #[test]
    fn full_match_multiline_is_java_pattern_multiline() {
        let fm = full_match("^a$\n^b$", true).unwrap();
        assert!(fm.is_match("a\nb"));
        let fm = full_match("^a$\n^b$", false).unwrap();
        assert!(!fm.is_match("a\nb"));
        let fm = full_match("(?-m)^a$\n^b$", true).unwrap();
        assert!(!fm.is_match("a\nb"), "(?-m) turns it off again");
        let fm = full_match(r"(?s).*^ERROR.*", true).unwrap();
        assert!(fm.is_match("INFO ok\nERROR boom\nmore"));
        assert!(!fm.is_match("INFO ok\nWARN ERROR"));
    }

    #[test]
    fn possessive_atomic_lookaround_and_backreferences() {
        assert!(!full_match("a*+a", false).unwrap().is_match("aaa"));
        assert!(full_match("(?>a+)b", false).unwrap().is_match("aab"));
        assert!(!full_match("(?>a|ab)c", false).unwrap().is_match("abc"));
        assert!(full_match(r"\w+(?=:).*", false).unwrap().is_match("key: v"));
        assert!(full_match(r#"(?<!\\)".*"#, false).unwrap().is_match("\"x"));
        assert!(full_match(r"(\w)\1", false).unwrap().is_match("zz"));
        assert!(!full_match(r"(\w)\1", false).unwrap().is_match("zy"));
        assert!(full_match(r"\p{Alpha}+", false).unwrap().is_match("abcXYZ"));
        assert!(!full_match(r"\p{Alpha}+", false)
            .unwrap()
            .is_match("abc\u{e9}"));
        assert!(full_match(r"[\d-\s:-]+", false)
            .unwrap()
            .is_match("2024-05-01 10:00:00"));
        assert!(full_match(r"[\w\s]+", false).unwrap().is_match("a b_1"));
        assert!(!full_match(r"[\w\s]+", false).unwrap().is_match("a-b"));
    }

    #[test]
    fn a_search_that_gives_up_is_no_match_or_an_error() {
        // A back-reference forces the backtracking engine, which has a step limit.
        let fm = full_match(r"(a*)*\1b", false).unwrap();
        let text = "a".repeat(40) + "c";
        assert!(!fm.is_match(&text));
        let e = fm.try_is_match(&text).unwrap_err();
        assert_eq!(e.pattern, r"(a*)*\1b");
        assert!(e.to_string().contains("gave up"), "{e}");
        assert!(fm.captures(&text).is_err());
        let la = looking_at(r"(a*)*\1b").unwrap();
        assert!(!la.is_match(&text));
        assert!(la.try_is_match(&text).is_err());
    }

    #[test]
    fn errors_have_positions_in_the_java_pattern() {
        for (pattern, position, what) in [
            ("ab(", 2, "parenthesis"),
            ("a)b", 1, "Unmatched closing ')'"),
            (r"x\p{Foo}", 1, "Unknown character property name {Foo}"),
            ("x[z-a]", 1, "Illegal character range"),
            ("a{3,2}", 5, "Illegal repetition range"),
            ("a{2147483648}", 1, "Illegal repetition range"),
            ("(?<n>a)(?<n>b)", 10, "already defined"),
            (r"ab\X", 2, "grapheme"),
            (r"a\b{g}", 1, "grapheme"),
            (r"\N{LATIN SMALL LETTER A}", 0, "named character"),
            (r"a\p{InGreek}", 1, "Unicode blocks"),
            (r"a\p{block=Greek}", 1, "Unicode blocks"),
        ] {
            for err in [
                full_match(pattern, false).unwrap_err(),
                looking_at(pattern).unwrap_err(),
                compile(pattern).unwrap_err(),
            ] {
                assert_eq!(err.position, Some(position), "{pattern}: {err}");
                assert!(err.message.contains(what), "{pattern}: {err}");
                assert_eq!(err.pattern, pattern);
            }
        }
    }

    #[test]
    fn p_all_is_any_character() {
        assert!(full_match(r"\p{all}+", false)
            .unwrap()
            .is_match("a\n\u{1f600}"));
        assert!(!full_match(r"\P{all}", false).unwrap().is_match("a"));
        assert!(full_match(r"[\p{all}]", false).unwrap().is_match("\n"));
    }
}

#[cfg(test)]
mod java_oracle {
    //! Every case of `tests/fixtures/java_regex_oracle.jsonl`: a Java pattern, a text and what
    //! `java.util.regex` (OpenJDK 17) answered, recorded by `oracle/regex_cases.py`.
    use super::*;

    const CASES: &str = include_str!("../../tests/fixtures/java_regex_oracle.jsonl");

    /// Java 9+ features and Unicode blocks: refused at start-up (see the module docs).
    const REFUSED: &[&str] = &[
        r"\p{InGreek}+",
        r"\p{block=Greek}",
        r"\p{blk=Greek}",
        r"\N{LATIN SMALL LETTER A}",
        r"\X",
        r"\b{g}",
    ];

    /// JDK 17 does not know this property; fancy-regex does (JDK 21 does too).
    const LENIENT: &[&str] = &[r"\p{IsEmoji}"];

    /// A quantified group whose body can match empty: Java reports the empty last iteration.
    const CAPTURES_DIFFER: &[&str] = &["(a?)+"];

    fn check(case: &serde_json::Value) -> Result<(), String> {
        let pattern = case["pattern"].as_str().unwrap_or_default();
        let text = case["text"].as_str().unwrap_or_default();
        let multiline = case["multiline"].as_bool().unwrap_or(false);
        let full = full_match(pattern, multiline);
        if let Some(java_error) = case["error"].as_str() {
            return match full {
                Err(_) => Ok(()),
                Ok(_) => Err(format!("Java refuses it ({java_error}), we accept it")),
            };
        }
        let full = full.map_err(|e| format!("we refuse it: {e}"))?;
        let mut problems = Vec::new();
        let want_groups = case["groupCount"].as_u64().unwrap_or(0) as usize;
        if full.group_count() != want_groups {
            problems.push(format!(
                "groupCount {} != {want_groups}",
                full.group_count()
            ));
        }
        let matches = case["matches"].as_bool().unwrap_or(false);
        match full.captures(text) {
            Ok(Some(caps)) if matches => {
                let got: Vec<serde_json::Value> = (1..=full.group_count())
                    .map(|i| match caps.get(i) {
                        Some(m) => serde_json::Value::from(m.as_str()),
                        None => serde_json::Value::Null,
                    })
                    .collect();
                if serde_json::Value::from(got.clone()) != case["groups"] {
                    problems.push(format!("groups {got:?} != {}", case["groups"]));
                }
            }
            Ok(got) if got.is_some() != matches => {
                problems.push(format!("matches {} != {matches}", got.is_some()))
            }
            Ok(_) => {}
            Err(e) => problems.push(e.to_string()),
        }
        if !multiline {
            let la = looking_at(pattern).map_err(|e| e.to_string())?;
            let want = case["lookingAt"].as_bool().unwrap_or(false);
            if la.is_match(text) != want {
                problems.push(format!("lookingAt != {want}"));
            }
            let find = compile(pattern).map_err(|e| e.to_string())?;
            let want = case["find"].as_bool().unwrap_or(false);
            if find.is_match(text).ok() != Some(want) {
                problems.push(format!("find != {want}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    #[test]
    fn agrees_with_the_jvm() {
        let mut failures = Vec::new();
        let mut n = 0;
        for line in CASES.lines().filter(|l| !l.is_empty()) {
            let case: serde_json::Value = serde_json::from_str(line).unwrap();
            n += 1;
            let pattern = case["pattern"].as_str().unwrap_or_default();
            let known = REFUSED.contains(&pattern)
                || LENIENT.contains(&pattern)
                || CAPTURES_DIFFER.contains(&pattern);
            let result = check(&case);
            if known {
                // The documented differences must stay real (and of the documented kind).
                let e = result.err().unwrap_or_default();
                let kind_ok = (REFUSED.contains(&pattern) && e.starts_with("we refuse it"))
                    || (LENIENT.contains(&pattern) && e.starts_with("Java refuses it"))
                    || (CAPTURES_DIFFER.contains(&pattern)
                        && (e.is_empty() || e.starts_with("groups")));
                if !kind_ok {
                    failures.push(format!("{pattern:?}: documented difference changed: {e:?}"));
                }
                continue;
            }
            if let Err(e) = result {
                failures.push(format!(
                    "{:?} on {:?}: {e}",
                    case["pattern"].as_str().unwrap_or_default(),
                    case["text"].as_str().unwrap_or_default()
                ));
            }
        }
        assert!(n > 300, "{n} cases");
        assert!(
            failures.is_empty(),
            "{} of {n} cases differ:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
