//! `filePattern` splitting into a literal directory and a file-name glob (`SourceFile.java`).

use std::path::PathBuf;

use globset::{GlobBuilder, GlobMatcher};

/// Characters that make a path component a glob (Java `glob:` syntax).
const GLOB_CHARS: &[char] = &['*', '?', '[', '{'];

/// A validated `filePattern`, split into its literal directory and the glob below it (the tail
/// side matches files with `tail::FilePattern`, built from these parts).
#[derive(Debug, Clone)]
pub(crate) struct PatternParts {
    /// Absolute directory, normalised like `java.nio.file.Path` (no duplicate or trailing
    /// slashes): the whole directory part as in the Java agent, or, when the directory part has
    /// globs (a kinetail extension), the components before the first of them.
    pub(crate) directory: PathBuf,
    /// What `directory` is followed by: the file name as written, or the globbed directory
    /// components and the file name, `/`-separated (`*/app.log`, `**/access.log`).
    pub(crate) glob: String,
    /// `glob` compiled for matching paths relative to `directory` (`*` stays within a component).
    pub(crate) matcher: GlobMatcher,
}

impl PatternParts {
    /// `SourceFile.toString()`: `<dir>/<glob>`; for the root directory this gives `//glob`, as in Java,
    /// which matters because it is part of the checkpoint key.
    pub(crate) fn source_string(&self) -> String {
        format!("{}/{}", self.directory.to_string_lossy(), self.glob)
    }
}

/// Splits and validates `pattern`; a relative directory is resolved against `cwd`.
pub(crate) fn parse(
    pattern: &str,
    cwd: &dyn Fn() -> std::io::Result<PathBuf>,
) -> Result<PatternParts, String> {
    if pattern.contains('\0') {
        return Err(format!("Nul character not allowed: {pattern:?}"));
    }
    if pattern.ends_with('/') {
        return Err("File name component is empty!".to_string());
    }
    let (dir_part, name) = match pattern.rfind('/') {
        Some(i) => (Some(&pattern[..i]), &pattern[i + 1..]),
        None => (None, pattern),
    };
    // Directory components from the first one with a glob on are matched, not looked up.
    let mut literal: Vec<&str> = vec![];
    let mut globbed: Vec<&str> = vec![];
    for part in dir_part.unwrap_or("").split('/').filter(|p| !p.is_empty()) {
        if globbed.is_empty() && !part.contains(GLOB_CHARS) {
            literal.push(part);
        } else {
            globbed.push(part);
        }
    }
    globbed.push(name);
    let glob = globbed.join("/");
    let literal = literal.join("/");
    let directory = if pattern.starts_with('/') {
        normalise(&format!("/{literal}"))
    } else {
        // Java resolves relative paths against the working directory at every access; we do it once.
        let base = cwd().map_err(|e| format!("cannot resolve relative pattern {pattern}: {e}"))?;
        normalise(&base.join(literal).to_string_lossy())
    };
    let glob = glob.as_str();
    let matcher = GlobBuilder::new(glob)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| format!("invalid glob {glob:?}: {e}"))?
        .compile_matcher();
    Ok(PatternParts {
        directory,
        glob: glob.to_string(),
        matcher,
    })
}

/// Removes duplicate and trailing slashes only; `.` and `..` stay, like `java.nio` without `normalize()`.
fn normalise(text: &str) -> PathBuf {
    let parts: Vec<&str> = text.split('/').filter(|p| !p.is_empty()).collect();
    let joined = parts.join("/");
    if text.starts_with('/') {
        PathBuf::from(format!("/{joined}"))
    } else {
        PathBuf::from(joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cwd() -> std::io::Result<PathBuf> {
        Ok(PathBuf::from("/home/me/"))
    }

    fn ok(p: &str) -> PatternParts {
        match parse(p, &cwd) {
            Ok(fp) => fp,
            Err(e) => panic!("{p}: {e}"),
        }
    }

    #[test]
    fn splits_directory_and_glob() {
        let fp = ok("/var/log/app*.log");
        assert_eq!(fp.directory, PathBuf::from("/var/log"));
        assert_eq!(fp.glob, "app*.log");
        assert_eq!(fp.source_string(), "/var/log/app*.log");
    }

    #[test]
    fn globs_in_the_directory_part_start_the_matched_part() {
        let fp = ok("/var/log/*/app.log");
        assert_eq!(fp.directory, PathBuf::from("/var/log"));
        assert_eq!(fp.glob, "*/app.log");
        assert_eq!(fp.source_string(), "/var/log/*/app.log");
        assert!(fp.matcher.is_match("web/app.log"));
        assert!(!fp.matcher.is_match("web/x/app.log"));
        let fp = ok("/srv//**/logs/access*.log");
        assert_eq!(fp.directory, PathBuf::from("/srv"));
        assert_eq!(fp.glob, "**/logs/access*.log");
        assert!(fp.matcher.is_match("logs/access.log"));
        assert!(fp.matcher.is_match("a/b/logs/access-1.log"));
        assert_eq!(
            ok("app-{a,b}/x.log").source_string(),
            "/home/me/app-{a,b}/x.log"
        );
        assert!(parse("/var/[/x.log", &cwd)
            .unwrap_err()
            .contains("invalid glob"));
    }

    #[test]
    fn duplicate_slashes_removed() {
        assert_eq!(ok("//var///log//x.log").source_string(), "/var/log/x.log");
        assert_eq!(
            ok("/var/./log/../x.log").source_string(),
            "/var/./log/../x.log"
        );
    }

    #[test]
    fn root_directory_keeps_java_double_slash() {
        let fp = ok("/prefix2*");
        assert_eq!(fp.directory, PathBuf::from("/"));
        assert_eq!(fp.source_string(), "//prefix2*");
    }

    #[test]
    fn relative_patterns_resolve_against_cwd() {
        assert_eq!(ok("logs//a.log").source_string(), "/home/me/logs/a.log");
        assert_eq!(ok("a.log").source_string(), "/home/me/a.log");
        let failing = || Err(std::io::Error::other("gone"));
        assert!(parse("a.log", &failing).unwrap_err().contains("gone"));
    }

    #[test]
    fn trailing_slash_is_an_empty_file_name() {
        assert_eq!(
            parse("/var/log/", &cwd).unwrap_err(),
            "File name component is empty!"
        );
        assert_eq!(
            parse("/", &cwd).unwrap_err(),
            "File name component is empty!"
        );
    }

    #[test]
    fn any_glob_character_starts_the_matched_part() {
        for (p, dir, glob) in [
            ("/var/lo?/x", "/var", "lo?/x"),
            ("/a/[ab]/x", "/a", "[ab]/x"),
            ("/a/{b,c}/d/x", "/a", "{b,c}/d/x"),
            ("rel*/x", "/home/me", "rel*/x"),
        ] {
            let fp = ok(p);
            assert_eq!(
                (fp.directory.to_str().unwrap(), fp.glob.as_str()),
                (dir, glob),
                "{p}"
            );
        }
    }

    #[test]
    fn glob_is_validated_and_compiled() {
        assert!(parse("/x/[a-", &cwd)
            .unwrap_err()
            .starts_with("invalid glob"));
        assert!(parse("/x/a\0b", &cwd).is_err());
        let fp = ok("/x/{app,web}-[0-9].log*");
        assert!(fp.matcher.is_match("app-1.log"));
        assert!(fp.matcher.is_match("web-2.log.1"));
        assert!(!fp.matcher.is_match("db-1.log"));
        let star2 = ok("/x/a**.log");
        assert!(star2.matcher.is_match("abc.log"));
        assert!(ok("/x/**").matcher.is_match("anything"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(p in ".*") {
            let _ = parse(&p, &cwd);
        }

        #[test]
        fn normalised_directory_has_no_double_or_trailing_slash(p in "(/[a-z]{0,3}){1,5}/[a-z*]{1,4}") {
            let fp = parse(&p, &cwd).map_err(proptest::test_runner::TestCaseError::fail)?;
            let d = fp.directory.to_string_lossy().to_string();
            proptest::prop_assert!(!d.contains("//"));
            proptest::prop_assert!(d == "/" || !d.ends_with('/'));
        }
    }
}
