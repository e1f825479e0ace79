//! Discovery: which files match a flow's pattern, and a wake-up when the directory changes.

use globset::{GlobBuilder, GlobMatcher};
use notify::{EventKind, RecursiveMode, Watcher};
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

/// A literal directory plus a glob on the file name, as the Java agent's `filePattern`.
#[derive(Debug, Clone)]
pub struct FilePattern {
    dir: PathBuf,
    matcher: GlobMatcher,
}

/// A matching file found by a listing.
#[derive(Debug)]
pub struct Found {
    pub path: PathBuf,
    /// Its metadata (symlinks followed).
    pub meta: Metadata,
}

impl FilePattern {
    /// A pattern over the files of `dir` whose names match `glob`.
    pub fn new(dir: &Path, glob: &str) -> Result<FilePattern, PatternError> {
        let matcher = GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|e| PatternError {
                pattern: dir.join(glob).display().to_string(),
                reason: e.to_string(),
            })?
            .compile_matcher();
        Ok(FilePattern {
            dir: dir.to_owned(),
            matcher,
        })
    }

    /// The directory searched.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True when a file name matches (compressed rotations are never tailed, as in the Java agent).
    pub fn matches_name(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".gz") || lower.ends_with(".bz2") || lower.ends_with(".zip") {
            return false;
        }
        self.matcher.is_match(name)
    }

    /// Lists the regular files that match; a missing directory is an empty list.
    pub fn list(&self) -> io::Result<Vec<Found>> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(vec![]),
            Err(e) => return Err(e),
        };
        let mut out = vec![];
        for entry in rd {
            let Ok(entry) = entry else { continue };
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !self.matches_name(name) {
                continue;
            }
            let path = entry.path();
            // Follow symlinks like the Java agent; a file gone since readdir is simply skipped.
            if let Ok(meta) = std::fs::metadata(&path) {
                if meta.is_file() {
                    out.push(Found { path, meta });
                }
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }
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
    state: Mutex<(Changes, bool)>,
    changed: Condvar,
}

impl Pending {
    fn note(&self, ch: Changes, wake: bool) {
        if let Ok(mut s) = self.state.lock() {
            s.0.data |= ch.data;
            s.0.names |= ch.names;
            s.1 |= wake;
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
        self.0.note(Changes::default(), true);
    }
}

/// An inotify watch on the pattern's directory; `None` inside means polling only.
pub struct DirWatch {
    watcher: Option<notify::RecommendedWatcher>,
    /// Device and inode of the watched directory.
    watched: Option<(u64, u64)>,
    pending: Arc<Pending>,
}

impl DirWatch {
    /// Starts watching `dir` if possible; failures (no directory yet, inotify limits) fall back to polling.
    pub fn new(dir: &Path) -> DirWatch {
        let mut w = DirWatch {
            watcher: None,
            watched: None,
            pending: Arc::default(),
        };
        w.ensure(dir);
        w
    }

    /// True while inotify is active.
    pub fn active(&self) -> bool {
        self.watcher.is_some()
    }

    /// (Re)installs the watch: when the directory exists and is not watched yet, or was
    /// removed and created again (the old watch died with it); a missing directory is polled.
    pub fn ensure(&mut self, dir: &Path) {
        let current = std::fs::metadata(dir)
            .ok()
            .filter(Metadata::is_dir)
            .map(|m| (m.dev(), m.ino()));
        if current.is_none() || current != self.watched {
            self.watcher = None;
            self.watched = None;
        }
        let Some(current) = current else {
            return;
        };
        if self.watcher.is_some() {
            return;
        }
        let pending = self.pending.clone();
        let made = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            let ch = match res {
                Ok(ev) => match ev.kind {
                    EventKind::Modify(notify::event::ModifyKind::Data(_)) => Changes {
                        data: true,
                        names: false,
                    },
                    EventKind::Access(_) => return,
                    _ => Changes {
                        data: true,
                        names: true,
                    },
                },
                // An overflowed queue or other error: look at everything again.
                Err(_) => Changes {
                    data: true,
                    names: true,
                },
            };
            pending.note(ch, false);
        });
        match made.and_then(|mut w| w.watch(dir, RecursiveMode::NonRecursive).map(|_| w)) {
            Ok(w) => {
                self.watcher = Some(w);
                self.watched = Some(current);
            }
            Err(e) => {
                tracing::debug!("no inotify watch on {}, polling: {e}", dir.display());
            }
        }
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
        while !(s.0.data || s.0.names || s.1) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Changes::default();
            }
            s = match self.pending.changed.wait_timeout(s, left) {
                Ok((s, _)) => s,
                Err(_) => return Changes::default(),
            };
        }
        let changes = s.0;
        *s = (Changes::default(), false);
        changes
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
        let names: Vec<_> = p
            .list()
            .unwrap()
            .into_iter()
            .map(|f| f.path.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, vec!["a.log", "b.log"]);
        let p = FilePattern::new(&dir.path().join("missing"), "*.log").unwrap();
        assert!(p.list().unwrap().is_empty());
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
        assert_eq!(w.wait(Duration::ZERO), Changes::default());
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
        w.ensure(&dir);
        assert!(!w.active(), "a missing directory is polled, not watched");
        std::fs::create_dir(&dir).unwrap();
        w.ensure(&dir);
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
