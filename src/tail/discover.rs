//! Discovery: which files match a flow's pattern, and a wake-up when the directory changes.

use globset::{GlobBuilder, GlobMatcher};
use notify::{EventKind, RecursiveMode, Watcher};
use std::collections::HashMap;
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Errors building a file pattern.
#[derive(Debug, thiserror::Error)]
#[error("invalid file pattern {pattern}: {reason}")]
pub struct PatternError {
    pub pattern: String,
    pub reason: String,
}

/// A literal directory plus a glob below it: on the file name alone as the Java agent's
/// `filePattern`, or over directories too (`*/app.log`, `**/access.log`).
#[derive(Debug, Clone)]
pub struct FilePattern {
    dir: PathBuf,
    /// Matches paths relative to `dir`.
    matcher: GlobMatcher,
    /// One per directory level of the glob: the name a directory at that depth must match, or
    /// `None` from a `**` on (any depth below). Empty when only file names are matched.
    levels: Vec<Option<GlobMatcher>>,
}

/// How deep a `**` pattern looks below its literal directory.
const MAX_DEPTH: usize = 32;

/// What a listing found.
#[derive(Debug, Default)]
pub struct Listing {
    /// The matching regular files, by path.
    pub files: Vec<Found>,
    /// The directories looked into (to be watched): the pattern's directory and, for a
    /// pattern with directory globs, every directory below it that may hold matches.
    pub dirs: Vec<PathBuf>,
    /// Directories below the pattern's directory that could not be read, with why.
    pub unreadable: Vec<(PathBuf, io::Error)>,
}

/// A matching file found by a listing.
#[derive(Debug)]
pub struct Found {
    pub path: PathBuf,
    /// Its metadata (symlinks followed).
    pub meta: Metadata,
}

impl FilePattern {
    /// A pattern over the files below `dir` whose relative paths match `glob` (`*` does not
    /// cross a `/`; `**` as a whole component crosses any number).
    pub fn new(dir: &Path, glob: &str) -> Result<FilePattern, PatternError> {
        let compile = |glob: &str| {
            GlobBuilder::new(glob)
                .literal_separator(true)
                .build()
                .map(|g| g.compile_matcher())
                .map_err(|e| PatternError {
                    pattern: dir.join(glob).display().to_string(),
                    reason: e.to_string(),
                })
        };
        let matcher = compile(glob)?;
        let mut levels = vec![];
        if let Some((dirs, _name)) = glob.rsplit_once('/') {
            for part in dirs.split('/') {
                levels.push(if part == "**" {
                    None
                } else {
                    Some(compile(part)?)
                });
            }
        }
        Ok(FilePattern {
            dir: dir.to_owned(),
            matcher,
            levels,
        })
    }

    /// The directory searched.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True when a file name matches (compressed rotations are never tailed, as in the Java agent).
    pub fn matches_name(&self, name: &str) -> bool {
        self.levels.is_empty() && self.matches(name, name)
    }

    fn matches(&self, relative: &str, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".gz") || lower.ends_with(".bz2") || lower.ends_with(".zip") {
            return false;
        }
        self.matcher.is_match(relative)
    }

    /// Lists the regular files that match (symlinks followed); a missing directory is an
    /// empty listing, an unreadable one an error.
    pub fn list(&self) -> io::Result<Listing> {
        let mut out = Listing::default();
        let mut visited = std::collections::HashSet::new();
        match self.visit(&self.dir, &mut vec![], &mut visited, &mut out) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Listing::default()),
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        out.files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// Lists `dir`, `rel` below the pattern's directory, and the subdirectories that may hold
    /// matches.
    fn visit(
        &self,
        dir: &Path,
        rel: &mut Vec<String>,
        visited: &mut std::collections::HashSet<(u64, u64)>,
        out: &mut Listing,
    ) -> io::Result<()> {
        let rd = std::fs::read_dir(dir)?;
        // A symlink loop (or two links to one directory) is looked into once.
        if let Ok(m) = std::fs::metadata(dir) {
            if !visited.insert((m.dev(), m.ino())) {
                return Ok(());
            }
        }
        out.dirs.push(dir.to_owned());
        for entry in rd {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let path = entry.path();
            // Follow symlinks like the Java agent; an entry gone since readdir is skipped.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            rel.push(name.to_owned());
            if meta.is_file() {
                if self.matches(&rel.join("/"), name) {
                    out.files.push(Found { path, meta });
                }
            } else if meta.is_dir() && self.may_hold_matches(rel) {
                if let Err(e) = self.visit(&path, rel, visited, out) {
                    if e.kind() != io::ErrorKind::NotFound {
                        out.unreadable.push((path, e));
                    }
                }
            }
            rel.pop();
        }
        Ok(())
    }

    /// Whether a directory at `rel` below the pattern's directory may hold matching files.
    fn may_hold_matches(&self, rel: &[String]) -> bool {
        if rel.len() > MAX_DEPTH {
            return false;
        }
        for (i, part) in rel.iter().enumerate() {
            match self.levels.get(i) {
                None => return false,
                Some(None) => return true,
                Some(Some(m)) if !m.is_match(part) => return false,
                Some(Some(_)) => {}
            }
        }
        true
    }
}

/// A digest of a path, to tell cheaply whether a followed file is among the files written to
/// (a collision only costs one more look).
pub fn path_key(path: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).hash(&mut h);
    h.finish()
}

/// What a directory watch reported since the last look.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Changes {
    /// Some file was written.
    pub data: bool,
    /// Files were created, renamed or removed: the listing must be refreshed.
    pub names: bool,
}

/// What the watch noticed since the last `wait`, folded into one slot: however many events
/// arrive while the tailer does not look (the sink blocked for an hour), they take no more room.
#[derive(Debug, Default)]
struct Pending {
    state: Mutex<PendingState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct PendingState {
    changes: Changes,
    woken: bool,
    /// Files written to since the last look, up to [`WRITTEN_MAX`].
    written: std::collections::HashSet<PathBuf>,
    /// More files were written to than listed.
    overflow: bool,
}

/// How many written files a watch lists before it answers "look at all of them".
const WRITTEN_MAX: usize = 1024;

impl Pending {
    fn note(&self, ch: Changes, wake: bool, written: &[PathBuf]) {
        if let Ok(mut s) = self.state.lock() {
            s.changes.data |= ch.data;
            s.changes.names |= ch.names;
            s.woken |= wake;
            for p in written {
                if s.written.len() >= WRITTEN_MAX {
                    s.overflow = true;
                    break;
                }
                if !s.written.contains(p) {
                    s.written.insert(p.clone());
                }
            }
            self.changed.notify_one();
        }
    }
}

/// Wakes a tailer's wait (used to stop it promptly).
#[derive(Debug, Clone)]
pub struct Waker(Arc<Pending>);

impl Waker {
    /// Ends the current or next wait of the tailer.
    pub fn wake(&self) {
        self.0.note(Changes::default(), true, &[]);
    }
}

/// inotify watches on the directories a pattern looks into; without any, polling only.
pub struct DirWatch {
    watcher: Option<notify::RecommendedWatcher>,
    /// The directories watched, with the device and inode each had when its watch was added.
    watched: HashMap<PathBuf, (u64, u64)>,
    /// Some directory could not be watched (inotify limits): its changes are only polled.
    incomplete: bool,
    pending: Arc<Pending>,
}

impl DirWatch {
    /// Starts watching `dir` if possible; failures (no directory yet, inotify limits) fall back to polling.
    pub fn new(dir: &Path) -> DirWatch {
        let mut w = DirWatch {
            watcher: None,
            watched: HashMap::new(),
            incomplete: false,
            pending: Arc::default(),
        };
        w.ensure(&[dir.to_owned()]);
        w
    }

    /// True while inotify reports every change.
    pub fn active(&self) -> bool {
        self.watcher.is_some() && !self.watched.is_empty() && !self.incomplete
    }

    /// Watches exactly `dirs`: new ones get a watch, ones gone or no longer wanted lose theirs,
    /// and one removed and created again gets a new one (the old watch died with it).
    pub fn ensure(&mut self, dirs: &[PathBuf]) {
        let wanted: HashMap<PathBuf, (u64, u64)> = dirs
            .iter()
            .filter_map(|d| {
                let m = std::fs::metadata(d).ok().filter(Metadata::is_dir)?;
                Some((d.clone(), (m.dev(), m.ino())))
            })
            .collect();
        let stale: Vec<PathBuf> = self
            .watched
            .iter()
            .filter(|(dir, id)| wanted.get(*dir) != Some(id))
            .map(|(dir, _)| dir.clone())
            .collect();
        for dir in stale {
            self.watched.remove(&dir);
            if let Some(w) = self.watcher.as_mut() {
                // Fails when the watch died with its directory: nothing left to remove.
                let _ = w.unwatch(&dir);
            }
        }
        if wanted.is_empty() {
            return;
        }
        if self.watcher.is_none() {
            match self.make_watcher() {
                Ok(w) => self.watcher = Some(w),
                Err(e) => {
                    tracing::debug!("no inotify, polling: {e}");
                    return;
                }
            }
        }
        let Some(w) = self.watcher.as_mut() else {
            return;
        };
        self.incomplete = false;
        for (dir, id) in wanted {
            if self.watched.contains_key(&dir) {
                continue;
            }
            match w.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(dir, id);
                }
                Err(e) => {
                    tracing::debug!("no inotify watch on {}, polling: {e}", dir.display());
                    self.incomplete = true;
                }
            }
        }
    }

    fn make_watcher(&self) -> notify::Result<notify::RecommendedWatcher> {
        let pending = self.pending.clone();
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let (ch, written) = match &res {
                Ok(ev) => match ev.kind {
                    EventKind::Modify(notify::event::ModifyKind::Data(_)) => (
                        Changes {
                            data: true,
                            names: false,
                        },
                        ev.paths.as_slice(),
                    ),
                    EventKind::Access(_) => return,
                    _ => (
                        Changes {
                            data: true,
                            names: true,
                        },
                        &[][..],
                    ),
                },
                // An overflowed queue or other error: look at everything again.
                Err(_) => (
                    Changes {
                        data: true,
                        names: true,
                    },
                    &[][..],
                ),
            };
            pending.note(ch, false, written);
        })
    }

    /// A handle that wakes `wait` (used to stop a tailer promptly).
    pub fn waker(&self) -> Waker {
        Waker(self.pending.clone())
    }

    /// Waits up to `timeout` for changes; returns what changed (nothing on timeout).
    pub fn wait(&self, timeout: Duration) -> Changes {
        let Ok(mut s) = self.pending.state.lock() else {
            return Changes::default();
        };
        let until = Instant::now() + timeout;
        while !(s.changes.data || s.changes.names || s.woken) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Changes::default();
            }
            s = match self.pending.changed.wait_timeout(s, left) {
                Ok((s, _)) => s,
                Err(_) => return Changes::default(),
            };
        }
        let changes = s.changes;
        s.changes = Changes::default();
        s.woken = false;
        changes
    }

    /// The files written to since the last call, by [`path_key`]; `None` when too many to
    /// list: look at every file.
    pub fn take_written(&self) -> Option<std::collections::HashSet<u64>> {
        let mut s = self.pending.state.lock().ok()?;
        let written = std::mem::take(&mut s.written);
        if std::mem::take(&mut s.overflow) {
            return None;
        }
        Some(written.iter().map(|p| path_key(p)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lists_matching_regular_files_only() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["a.log", "b.log", "c.txt", "d.log.gz", "E.LOG.ZIP"] {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub.log")).unwrap();
        let p = FilePattern::new(dir.path(), "*.log").unwrap();
        let listing = p.list().unwrap();
        assert_eq!(names(dir.path(), &listing), ["a.log", "b.log"]);
        assert_eq!(listing.dirs, [dir.path()]);
        let p = FilePattern::new(&dir.path().join("missing"), "*.log").unwrap();
        let listing = p.list().unwrap();
        assert!(listing.files.is_empty() && listing.dirs.is_empty());
    }

    /// The found files' paths relative to `base`.
    fn names(base: &Path, listing: &Listing) -> Vec<String> {
        listing
            .files
            .iter()
            .map(|f| {
                f.path
                    .strip_prefix(base)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn directory_globs_match_each_level_and_double_star_any_depth() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path();
        for f in [
            "app.log",
            "web/app.log",
            "web/other.log",
            "api/app.log",
            "api/deep/app.log",
            "api/deep/er/app.log",
            "api/deep/er/app.log.gz",
        ] {
            let path = base.join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x\n").unwrap();
        }
        std::fs::create_dir_all(base.join("web/app.log.d")).unwrap();
        let one_level = FilePattern::new(base, "*/app.log").unwrap();
        let listing = one_level.list().unwrap();
        assert_eq!(names(base, &listing), ["api/app.log", "web/app.log"]);
        // Only the directories that may hold matches are looked into (and watched).
        let mut dirs = listing.dirs.clone();
        dirs.sort();
        assert_eq!(dirs, [base.to_owned(), base.join("api"), base.join("web")]);
        let any_depth = FilePattern::new(base, "**/app.log").unwrap();
        assert_eq!(
            names(base, &any_depth.list().unwrap()),
            [
                "api/app.log",
                "api/deep/app.log",
                "api/deep/er/app.log",
                "app.log",
                "web/app.log"
            ]
        );
        let below_api = FilePattern::new(base, "api/**/*.log").unwrap();
        assert_eq!(
            names(base, &below_api.list().unwrap()),
            ["api/app.log", "api/deep/app.log", "api/deep/er/app.log"]
        );
        // A symlink loop is looked into once; a symlinked file is followed.
        std::os::unix::fs::symlink(base, base.join("api/deep/loop")).unwrap();
        std::os::unix::fs::symlink(base.join("web/app.log"), base.join("web/link.log")).unwrap();
        let all = FilePattern::new(base, "**/*.log").unwrap().list().unwrap();
        assert_eq!(all.files.len(), 7, "{:?}", names(base, &all));
    }

    #[test]
    fn brace_and_class_globs() {
        let p = FilePattern::new(Path::new("/x"), "app-{a,b}[0-9].log").unwrap();
        assert!(p.matches_name("app-a1.log"));
        assert!(!p.matches_name("app-c1.log"));
        assert!(FilePattern::new(Path::new("/x"), "a[.log").is_err());
    }

    /// However many events arrive unread, they are one pending answer; a wake-up ends a wait.
    #[test]
    fn events_fold_into_one_slot_and_wakers_end_waits() {
        let dir = tempfile::tempdir().unwrap();
        let w = DirWatch::new(dir.path());
        for i in 0..10_000 {
            w.pending.note(
                Changes {
                    data: true,
                    names: i % 100 == 0,
                },
                false,
                &[PathBuf::from(format!("/x/{}.log", i % 7))],
            );
        }
        let got = w.wait(Duration::ZERO);
        assert_eq!(
            got,
            Changes {
                data: true,
                names: true
            }
        );
        assert_eq!(w.take_written().map(|set| set.len()), Some(7));
        assert_eq!(w.wait(Duration::ZERO), Changes::default());
        assert_eq!(w.take_written().map(|set| set.len()), Some(0));
        // Written files beyond what is listed: look at all of them.
        for i in 0..WRITTEN_MAX + 1 {
            w.pending.note(
                Changes::default(),
                false,
                &[PathBuf::from(format!("/x/{i}"))],
            );
        }
        assert_eq!(w.take_written(), None);
        let waker = w.waker();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            waker.wake();
        });
        let started = Instant::now();
        assert_eq!(w.wait(Duration::from_secs(30)), Changes::default());
        assert!(started.elapsed() < Duration::from_secs(10));
        t.join().unwrap();
    }

    /// A directory removed and created again is watched again (the old watch died with it).
    #[test]
    fn a_recreated_directory_is_watched_again() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("logs");
        std::fs::create_dir(&dir).unwrap();
        let mut w = DirWatch::new(&dir);
        if !w.active() {
            return; // no inotify in this sandbox: polling covers it
        }
        std::fs::remove_dir(&dir).unwrap();
        w.ensure(std::slice::from_ref(&dir));
        assert!(!w.active(), "a missing directory is polled, not watched");
        std::fs::create_dir(&dir).unwrap();
        w.ensure(std::slice::from_ref(&dir));
        w.wait(Duration::from_millis(50));
        std::fs::write(dir.join("new.log"), b"x\n").unwrap();
        let mut names = false;
        for _ in 0..50 {
            names |= w.wait(Duration::from_millis(100)).names;
            if names {
                break;
            }
        }
        assert!(names, "no event from the re-created directory");
    }

    #[test]
    fn inotify_reports_writes_and_creations() {
        let dir = tempfile::tempdir().unwrap();
        let w = DirWatch::new(dir.path());
        if !w.active() {
            return; // no inotify in this sandbox: polling covers it
        }
        std::fs::write(dir.path().join("new.log"), b"x\n").unwrap();
        let mut seen = Changes::default();
        for _ in 0..50 {
            let c = w.wait(Duration::from_millis(100));
            seen.data |= c.data;
            seen.names |= c.names;
            if seen.names {
                break;
            }
        }
        assert!(seen.names);
    }
}
