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

mod matchers;
mod translator;

use std::fmt;

pub use matchers::{
    compile, compile_for_find, full_match, looking_at, FindRegex, FullMatch, LookingAt, MatchError,
};
pub use translator::translate;

/// A Java regular expression that could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexError {
    pub pattern: String,
    /// Character index in `pattern` where the problem was found, when known.
    pub position: Option<usize>,
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

fn char_index(s: &str, byte: usize) -> usize {
    s.char_indices().take_while(|(i, _)| *i < byte).count()
}

#[cfg(test)]
mod tests;
