//! Java's `Matcher` entry points over a translated pattern: `find()`-style searching,
//! `lookingAt()` and `matches()`.

use super::translator::{build, Flags, Translator};
use super::RegexError;

/// Compile a Java regular expression.
pub fn compile(pattern: &str) -> Result<fancy_regex::Regex, RegexError> {
    compile_for_find(pattern).map(|c| c.regex)
}

/// A Java regex compiled for `Matcher.find()`-style repeated searching.
pub struct FindRegex {
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
    let flags = Flags::with_multiline(multiline);
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
