//! The tailer of one flow: tracks every matching file on its own through renames, truncation
//! and deletion, reads new bytes and frames them into records.

use super::discover::path_key;
use super::discover::{DirWatch, FilePattern, Waker};
use super::identity::{
    bytes_before, head_sample, identify, same_before, same_content, DevIno, FINGERPRINT_MAX,
    HEAD_SAMPLE,
};
use super::open_files::{Held, OpenFiles, Slot};
use super::records::RecordReader;
use super::splitter::{Span, SplitSettings};
use crate::checkpoint::{BytesBefore, Checkpoints, FileIdentity, StoredFile, TrackedFileId};
use crate::log_limit::KeyedLogLimiter;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where to start a file present at a flow's very first start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// From byte 0.
    Beginning,
    /// After the last complete line.
    End,
}

/// Settings of one tailer.
#[derive(Debug, Clone)]
pub struct TailSettings {
    /// The flow id (checkpoint key).
    pub flow_id: String,
    /// Which files to follow.
    pub pattern: FilePattern,
    /// `initialPosition`, for files present at the flow's first start.
    pub start_at: StartAt,
    /// How lines become records (line length limit, headers, multi-line, footer).
    pub split: SplitSettings,
    /// How long to sleep between polls when inotify is unavailable.
    pub poll_interval: Duration,
    /// Re-list the directory at least this often even when inotify is quiet.
    pub refresh_interval: Duration,
    /// Bytes read per `read` call.
    pub read_chunk: usize,
    /// How long a new file whose start matches a followed file that was not truncated waits
    /// before it is taken as a new file rather than a copytruncate copy (see README, "Copies").
    pub copy_wait: Duration,
    /// The descriptors every flow's followed files may hold (`maxOpenFiles`).
    pub open_files: Arc<OpenFiles>,
    /// A rotated (renamed) file read to its end and acknowledged is closed after this long
    /// without growing (`rotatedFileCloseMillis`).
    pub close_rotated_after: Duration,
}

/// Where framed records go; implemented by the pipeline (processing, then the sink).
pub trait TailOutput {
    /// A record of a tracked file covering `[start, end)`.
    fn record(&mut self, fid: TrackedFileId, start: u64, end: u64, data: &[u8]);
    /// Bytes that will never be sent (header lines, the cut part of a runaway line).
    fn skipped(&mut self, fid: TrackedFileId, start: u64, end: u64);
    /// Hands accumulated records downstream, blocking while it is full; false once it is closed.
    fn flush(&mut self) -> bool;
}

/// Live counters of one tailer, read by the status reporter.
#[derive(Debug, Default)]
pub struct TailStats {
    /// Bytes framed so far.
    pub bytes_consumed: AtomicU64,
    /// Records framed so far.
    pub records_parsed: AtomicU64,
    /// Bytes present in tracked files and not read yet.
    pub bytes_behind: AtomicU64,
    /// Files with unread bytes.
    pub files_behind: AtomicU64,
    /// Files tracked now.
    pub files_tracked: AtomicU64,
    /// Bytes in tracked files not acknowledged by the destination yet (read or not).
    pub bytes_unacknowledged: AtomicU64,
    /// How long ago the oldest record read and not yet acknowledged was read, in ms (0: none).
    pub oldest_unacknowledged_millis: AtomicU64,
    /// Looks at a followed file (a stat, and a read when it grew): what wake-ups cost.
    pub file_checks: AtomicU64,
    /// Passes in a row in which a file could not be read (0: the last pass read them all).
    pub consecutive_errors: AtomicU64,
}

struct TrackedFile {
    fid: TrackedFileId,
    path: PathBuf,
    /// `None` while closed (idle under the descriptor cap, or rotated and done): reopened by
    /// path, its identity checked, when it changes.
    file: Option<Held>,
    identity: FileIdentity,
    /// Its first bytes (see [`HEAD_SAMPLE`]).
    head: Vec<u8>,
    /// When what was read up to an offset was read (one entry per [`READ_TIME_STEP`] at most):
    /// the age of the oldest record not acknowledged yet.
    read_times: std::collections::VecDeque<(u64, Instant)>,
    reader: RecordReader,
    /// The checkpoint knows that the footer was seen.
    footer_recorded: bool,
    /// Listings in a row that did not show it under a matching name (deleted or renamed away):
    /// gone from the first. A listing taken while logrotate shifts names may miss a file that
    /// is there under its next name: it is let go only after two.
    misses: u8,
    last_growth: Instant,
    /// The read offset the checkpoint's [`BytesBefore`] was last taken at.
    before_at: u64,
    /// Since when every read of it failed.
    failing_since: Option<Instant>,
    /// Its size at the last look.
    size_seen: u64,
    /// The last look read something: there may be more (a turn ends after a few chunks).
    active: bool,
    /// Reached through a symlink: writes to it raise no event in the watched directories.
    unwatched: bool,
    /// Its modification time at the last look (with `size_seen`: whether a closed file changed).
    mtime_seen: Option<std::time::SystemTime>,
    /// Renamed since it was first followed: a rotation, closed once done.
    renamed: bool,
    /// [`path_key`] of `path`.
    path_key: u64,
}

/// A file that was truncated in place: a copy of its old content may show up (copytruncate).
struct Truncated {
    /// Its checkpoint entry, kept until its records in flight are acknowledged.
    fid: TrackedFileId,
    identity: FileIdentity,
    /// Its first bytes (see [`HEAD_SAMPLE`]).
    head: Vec<u8>,
    offset: u64,
    at: Instant,
}

/// A new file not followed yet because it may be a copy still being written.
struct Deferred {
    /// When it was first seen.
    since: Instant,
    /// Its size at the last look, and since when it has had that size.
    size: u64,
    size_since: Instant,
    /// Where it was last listed, and the file itself, held open: deleted (or renamed away)
    /// while it waits, it is read from there rather than lost.
    path: PathBuf,
    held: Option<Held>,
    /// Missing from the last listing: decided at the next one, once the reads in between have
    /// noticed a truncation of its original, if it was a copy.
    gone: bool,
}

/// The tailer of one flow.
pub struct Tailer {
    settings: TailSettings,
    checkpoints: Arc<Checkpoints>,
    stop: Arc<AtomicBool>,
    stats: Arc<TailStats>,
    watch: DirWatch,
    files: BTreeMap<DevIno, TrackedFile>,
    truncated: Vec<Truncated>,
    /// New files that may be copies not yet decided (see [`CopyCheck::Wait`]): when first seen.
    deferred: HashMap<DevIno, Deferred>,
    /// Since when the pattern's directory is missing while files of it are followed.
    dir_missing_since: Option<Instant>,
    warnings: KeyedLogLimiter<PathBuf>,
    /// Every read fails with this (see [`Tailer::inject_read_errors`]).
    read_fault: Option<io::ErrorKind>,
    /// The files the next pass looks at besides the active ones, by path: those written to
    /// since the last pass; `None`: every file (after a rescan, when polling).
    look: Option<std::collections::HashSet<u64>>,
    /// A file could not be followed for the descriptor cap at the last scan.
    cap_blocked: bool,
    /// The previous run's entries of files that are gone were dropped (see
    /// [`Checkpoints::drop_previous_gone`]): after the first listing that looked at every file.
    previous_settled: bool,
}

/// What a new file is, compared with the files followed or truncated before it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CopyCheck {
    /// A copytruncate copy of a truncated file: resume at the offset read in the original,
    /// under the original's checkpoint entry.
    Of(u64, TrackedFileId),
    /// A copy of content that the previous run followed under an inode since truncated: resume
    /// at that content's checkpoint.
    OfPrevious(crate::checkpoint::StoredFile),
    /// Starts like a file that is not (yet) truncated, or like a truncated one but shorter
    /// than what was read from it (a copy still being written): decide later.
    Wait,
    /// Not a copy.
    No,
}

const WARN_EVERY: Duration = Duration::from_secs(60);
/// How often, while files keep growing, the bytes before their acknowledged offsets are taken
/// (when idle, at every pause): what a kill leaves is at most this old.
const BEFORE_EVERY: Duration = Duration::from_secs(1);
/// How long the files of a directory that went missing are kept, in case it comes back.
const MISSING_DIR_KEPT: Duration = Duration::from_secs(300);
/// How long a truncated file's old content is remembered as the source of a copy to come.
const COPY_SOURCE_KEPT: Duration = Duration::from_secs(300);
/// How often a file waiting to be told from a copy is looked at.
const DEFERRED_LOOK: Duration = Duration::from_millis(100);
/// How far apart in time the read times kept for a file are (and so how coarse the age of the
/// oldest unacknowledged record is), and how many are kept at most.
const READ_TIME_STEP: Duration = Duration::from_millis(100);
const READ_TIMES_MAX: usize = 1024;

/// Chunks read from one file before the others get a turn.
const CHUNKS_PER_TURN: usize = 16;

impl Tailer {
    /// A tailer; `stop` ends `run` (set it, then wake it through `waker`).
    pub fn new(
        settings: TailSettings,
        checkpoints: Arc<Checkpoints>,
        stop: Arc<AtomicBool>,
        stats: Arc<TailStats>,
    ) -> Tailer {
        let watch = DirWatch::new(settings.pattern.dir());
        Tailer {
            settings,
            checkpoints,
            stop,
            stats,
            watch,
            files: BTreeMap::new(),
            truncated: vec![],
            deferred: HashMap::new(),
            previous_settled: false,
            dir_missing_since: None,
            warnings: KeyedLogLimiter::new(WARN_EVERY),
            read_fault: None,
            look: None,
            cap_blocked: false,
        }
    }

    /// Makes every read of a followed file fail with `kind` (`None`: reads work again): the
    /// seam through which tests play a failing disk or a stale NFS handle.
    #[doc(hidden)]
    pub fn inject_read_errors(&mut self, kind: Option<io::ErrorKind>) {
        self.read_fault = kind;
    }

    /// A handle that wakes `run` from its wait (used at shutdown).
    pub fn waker(&self) -> Waker {
        self.watch.waker()
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn warn_rate_limited(&mut self, path: &Path, msg: String) {
        if self.warnings.due(&path.to_owned()) {
            tracing::warn!("{msg}");
        }
    }

    /// The first look at the directory: files present now get `initialPosition` if the flow never ran.
    pub fn start(&mut self) {
        let first_start = !self.checkpoints.flow_started_before(&self.settings.flow_id);
        self.rescan(first_start);
        self.checkpoints.mark_flow_started(&self.settings.flow_id);
    }

    /// One pass without waiting: re-list the directory, then read every file to its current end.
    /// Returns whether anything was read, or None when the output closed.
    pub fn poll(&mut self, out: &mut dyn TailOutput) -> Option<bool> {
        self.rescan(false);
        let progressed = self.read_all(out);
        if progressed == Some(false) {
            // As `run` does at each pause.
            self.refresh_before();
            self.update_behind();
        }
        self.close_idle(false);
        progressed
    }

    /// Follows the files until `stop` is set or the output closes.
    pub fn run(mut self, out: &mut dyn TailOutput) {
        self.start();
        let mut last_rescan = Instant::now();
        let mut last_before = Instant::now();
        loop {
            if self.stopped() {
                break;
            }
            let progressed = match self.read_all(out) {
                Some(p) => p,
                None => break,
            };
            if self.stopped() {
                break;
            }
            let mut rescan = last_rescan.elapsed() >= self.settings.refresh_interval
                // A file waiting to be told from a copy is looked at again soon.
                || ((!self.deferred.is_empty() || self.cap_blocked)
                    && last_rescan.elapsed() >= DEFERRED_LOOK);
            if !progressed || last_before.elapsed() >= BEFORE_EVERY {
                self.refresh_before();
                if progressed {
                    self.update_behind();
                }
                last_before = Instant::now();
            }
            if !progressed {
                self.close_idle(false);
                self.update_behind();
                if self.watch.active() {
                    let mut wait = self
                        .settings
                        .refresh_interval
                        .saturating_sub(last_rescan.elapsed());
                    if !self.deferred.is_empty() || self.cap_blocked {
                        wait = wait.min(DEFERRED_LOOK);
                    }
                    if self.stats.bytes_unacknowledged.load(Ordering::Relaxed) > 0 {
                        // Acks still to come: the lag gauges and digests follow them each second.
                        wait = wait.min(BEFORE_EVERY);
                    }
                    if let Some(due) = self
                        .files
                        .values()
                        .filter_map(|t| t.reader.deadline())
                        .min()
                    {
                        wait = wait.min(due.saturating_duration_since(Instant::now()));
                    }
                    rescan |= self.watch.wait(wait).names;
                } else {
                    // Polling: the Java agent's loop, a directory look at every poll. The wait
                    // (not a sleep) ends at once when the flow is stopped.
                    self.watch.wait(self.settings.poll_interval);
                    rescan = true;
                }
            } else {
                rescan |= self.watch.wait(Duration::ZERO).names;
            }
            self.note_written();
            if rescan {
                self.rescan(false);
                last_rescan = Instant::now();
            }
        }
        self.update_behind();
        self.refresh_before();
    }

    /// Takes, for each file read further, the digest of the bytes before what was read: a
    /// restart resumes only a file that still holds them.
    fn refresh_before(&mut self) {
        for t in self.files.values_mut() {
            // Taken at what was read, not at what is acknowledged yet: acks that arrive later
            // (at a shutdown, after the last look) leave a digest that still holds.
            let read = t.reader.framed_offset();
            if read == t.before_at {
                continue;
            }
            let Some(held) = &t.file else {
                continue; // closed once read to its end: its digest is current
            };
            t.before_at = read;
            // A read error is the read path's to report; the previous digest stays.
            if let Ok(Some(before)) = bytes_before(&held.file, read) {
                self.checkpoints.set_before(t.fid, before);
            }
        }
    }

    /// A place under the descriptor cap; at the cap, this flow's idle files that grew the
    /// longest ago are closed to make room.
    fn slot(&mut self) -> io::Result<Slot> {
        if let Some(slot) = self.settings.open_files.acquire() {
            return Ok(slot);
        }
        if self.close_idle(true) {
            if let Some(slot) = self.settings.open_files.acquire() {
                return Ok(slot);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::QuotaExceeded,
            format!(
                "all {} places of maxOpenFiles are taken by files still being read",
                self.settings.open_files.cap()
            ),
        ))
    }

    /// Closes idle files: rotated ones quiet for `close_rotated_after` and acknowledged, or
    /// (`pressed`, at the descriptor cap) the read ones that grew the longest ago, a quarter of
    /// the cap at most. True when one was closed.
    fn close_idle(&mut self, pressed: bool) -> bool {
        let checkpoints = &self.checkpoints;
        if pressed {
            // A quarter of the cap at once, the longest idle first: one sweep over the files
            // makes room for many, rather than one sweep per file opened.
            let mut idle: Vec<(Instant, DevIno)> = self
                .files
                .iter()
                .filter(|(_, t)| t.idle(None))
                .map(|(id, t)| (t.last_growth, *id))
                .collect();
            idle.sort_unstable();
            idle.truncate((self.settings.open_files.cap() / 4).max(1));
            for (_, id) in &idle {
                if let Some(t) = self.files.get_mut(id) {
                    t.file = None;
                }
            }
            return !idle.is_empty();
        }
        let mut closed = false;
        for t in self.files.values_mut() {
            if t.renamed
                && t.last_growth.elapsed() >= self.settings.close_rotated_after
                && t.idle(Some(checkpoints))
            {
                tracing::debug!(
                    "{}: closing {} (rotated, read and acknowledged)",
                    self.settings.flow_id,
                    t.path.display()
                );
                t.file = None;
                closed = true;
            }
        }
        closed
    }

    /// Reopens a closed file by its path when it changed there; false when it did not or is no
    /// longer under that path (it stays closed until a rescan finds it, or is let go if gone:
    /// it was read to its end before it was closed).
    fn reopen(&mut self, id: DevIno) -> Result<bool, ReadError> {
        let Some(t) = self.files.get(&id) else {
            return Ok(false);
        };
        let meta = match std::fs::metadata(&t.path) {
            Ok(m) => Some(m),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(t.io_err(e)),
        };
        let Some(meta) = meta.filter(|m| DevIno::of(m) == id) else {
            // Renamed (logrotate shifts app.log.1 to app.log.2) or gone: only a listing tells.
            // A gone one was read to its end before it was closed: let go.
            if t.surely_gone() {
                self.stop_tracking_gone(id);
            }
            return Ok(false);
        };
        if meta.len() == t.size_seen && meta.modified().ok() == t.mtime_seen {
            return Ok(false);
        }
        let path = t.path.clone();
        let slot = match self.slot() {
            Ok(slot) => slot,
            Err(e) => {
                // Tried again at the soon rescans that a blocked cap brings (it looks at all).
                self.cap_blocked = true;
                return Err(ReadError::Io(path, e));
            }
        };
        let file = File::open(&path).map_err(|e| ReadError::Io(path.clone(), e))?;
        let same = file.metadata().is_ok_and(|m| DevIno::of(&m) == id);
        let Some(t) = self.files.get_mut(&id) else {
            return Ok(false);
        };
        if !same {
            return Ok(false); // replaced just now: the next rescan sorts it out
        }
        t.file = Some(Held::new(file, slot));
        Ok(true)
    }

    /// Adds the files written to since the last look to the next pass's.
    fn note_written(&mut self) {
        let written = self.watch.take_written();
        match (&mut self.look, written) {
            (Some(look), Some(written)) => look.extend(written),
            (look, _) => *look = None,
        }
    }

    /// Whether the next pass looks at `t`.
    fn to_look_at(&self, t: &TrackedFile) -> bool {
        t.active
            || t.gone()
            || t.unwatched
            || t.reader.deadline().is_some()
            || self
                .look
                .as_ref()
                .is_none_or(|look| look.contains(&t.path_key))
            || !self.watch.active()
    }

    fn update_behind(&mut self) {
        let mut bytes = 0;
        let mut files = 0;
        let mut unacked = 0;
        let mut oldest = Duration::ZERO;
        for t in self.files.values_mut() {
            let behind = t.size_seen.saturating_sub(t.reader.read_offset());
            if behind > 0 {
                bytes += behind;
                files += 1;
            }
            // No read time kept: everything read is acknowledged (an idle file costs no lookup).
            let committed = match t.read_times.is_empty() {
                true => t.reader.framed_offset(),
                false => self
                    .checkpoints
                    .committed(t.fid)
                    .unwrap_or_else(|| t.reader.framed_offset()),
            };
            unacked += t.size_seen.saturating_sub(committed);
            while t
                .read_times
                .front()
                .is_some_and(|&(off, _)| off <= committed)
            {
                t.read_times.pop_front();
            }
            if let Some(&(_, at)) = t.read_times.front() {
                oldest = oldest.max(at.elapsed());
            }
        }
        self.stats.bytes_behind.store(bytes, Ordering::Relaxed);
        self.stats
            .bytes_unacknowledged
            .store(unacked, Ordering::Relaxed);
        self.stats
            .oldest_unacknowledged_millis
            .store(oldest.as_millis() as u64, Ordering::Relaxed);
        self.stats.files_behind.store(files, Ordering::Relaxed);
        self.stats
            .files_tracked
            .store(self.files.len() as u64, Ordering::Relaxed);
    }

    /// Re-lists the directory: new files are tracked, renamed ones followed, vanished ones marked.
    fn rescan(&mut self, first_start: bool) {
        // Names changed: a path written to may now be another file's; every file is looked at.
        self.look = None;
        self.cap_blocked = false;
        let dir = self.settings.pattern.dir().to_owned();
        let listing = match self.settings.pattern.list() {
            Ok(l) => l,
            Err(e) => {
                self.warn_rate_limited(&dir, format!("cannot list {}: {e}", dir.display()));
                return;
            }
        };
        self.watch.ensure(&listing.dirs);
        for (sub, e) in &listing.unreadable {
            self.warn_rate_limited(
                sub,
                format!("cannot list {} (will retry): {e}", sub.display()),
            );
        }
        let found = listing.files;
        // Every file of the listing looked at, none left out: the condition to let go of the
        // previous run's entries that no file took (below).
        let dir_there = dir.is_dir();
        let mut complete = listing.unreadable.is_empty() && dir_there;
        if !dir_there && !self.files.is_empty() {
            // An unmounted volume or a directory moved away and back: its files are kept (and
            // read through their descriptors) rather than taken as gone and sent again from 0
            // when they return; only a directory missing for long gives them up.
            let since = *self.dir_missing_since.get_or_insert_with(Instant::now);
            if since.elapsed() < MISSING_DIR_KEPT {
                self.warn_rate_limited(
                    &dir,
                    format!(
                        "{}: {} is missing; keeping its {} files for up to {:?} in case it returns",
                        self.settings.flow_id,
                        dir.display(),
                        self.files.len(),
                        MISSING_DIR_KEPT
                    ),
                );
                return;
            }
        } else {
            self.dir_missing_since = None;
        }
        let checkpoints = &self.checkpoints;
        self.truncated.retain(|t| {
            let keep = t.at.elapsed() < COPY_SOURCE_KEPT;
            if !keep {
                checkpoints.forget_when_done(t.fid, t.offset);
            }
            keep
        });
        let mut seen = std::collections::HashSet::new();
        for f in found {
            let id = DevIno::of(&f.meta);
            if !seen.insert(id) {
                continue; // a hard link or symlink to a file already followed
            }
            if let Some(t) = self.files.get(&id) {
                // Only a file this agent no longer holds open can have its inode reused: once
                // deleted, by a file created after it (a rotation's copy, say), which a rename
                // it is not, since a rename keeps the content.
                if t.path != f.path
                    && t.file.is_none()
                    && !holds(&f.path, f.meta.len(), &t.identity)
                {
                    tracing::info!(
                        "{}: {} is gone and its inode now holds {}, another file",
                        self.settings.flow_id,
                        t.path.display(),
                        f.path.display()
                    );
                    self.stop_tracking_gone(id);
                }
            }
            if let Some(t) = self.files.get_mut(&id) {
                t.misses = 0;
                if t.path != f.path {
                    tracing::info!(
                        "{}: {} was renamed to {}",
                        self.settings.flow_id,
                        t.path.display(),
                        f.path.display()
                    );
                    t.path = f.path.clone();
                    t.path_key = path_key(&t.path);
                    t.renamed = true;
                    self.checkpoints.update(t.fid, &t.identity, &t.path);
                }
                continue;
            }
            if let Err(e) = self.start_tracking(&f.path, id, first_start) {
                complete = false;
                // Looked at again soon, when a followed file may have become idle.
                self.cap_blocked |= e.kind() == io::ErrorKind::QuotaExceeded;
                self.warn_rate_limited(
                    &f.path,
                    format!("cannot read {} (will retry): {e}", f.path.display()),
                );
            }
        }
        let files = &self.files;
        let gone: Vec<(DevIno, Deferred)> = self
            .deferred
            .extract_if(|id, d| {
                if files.contains_key(id) || d.held.is_none() {
                    return true;
                }
                let missing = !seen.contains(id);
                // Gone from two listings in a row: decided now (see `Deferred::gone`).
                let decide = missing && d.gone;
                d.gone = missing;
                decide
            })
            .filter(|(id, d)| !files.contains_key(id) && d.gone)
            .collect();
        for (id, d) in gone {
            let Some(held) = d.held else { continue };
            if let Err(e) = self.track_open(&d.path, id, held, first_start, true) {
                self.warn_rate_limited(&d.path, format!("cannot read {}: {e}", d.path.display()));
            }
        }
        if complete && !self.previous_settled && self.deferred.is_empty() {
            // Files that may be copies are decided first: one may resume from such an entry.
            self.previous_settled = true;
            let dropped = self.checkpoints.drop_previous_gone(&self.settings.flow_id);
            if dropped > 0 {
                tracing::info!(
                    "{}: dropped the checkpoints of {dropped} files deleted while the agent was \
                     not running",
                    self.settings.flow_id
                );
            }
        }
        for (id, t) in self.files.iter_mut() {
            if seen.contains(id) {
                continue;
            }
            t.misses = t.misses.saturating_add(1);
            if t.misses == 1 {
                t.last_growth = Instant::now();
                tracing::debug!(
                    "{} is no longer listed; reading it to its end",
                    t.path.display()
                );
            }
        }
    }

    fn start_tracking(&mut self, path: &Path, id: DevIno, first_start: bool) -> io::Result<()> {
        let slot = self.slot()?;
        let file = File::open(path)?;
        self.track_open(path, id, Held::new(file, slot), first_start, false)
    }

    /// Follows `held`, the file listed as `path`. `gone_while_waiting`: it went (deleted or
    /// renamed away) while it waited to be told from a copy, and cannot wait longer: a copy of
    /// a truncated file if one shows, else a new file.
    fn track_open(
        &mut self,
        path: &Path,
        id: DevIno,
        mut held: Held,
        first_start: bool,
        gone_while_waiting: bool,
    ) -> io::Result<()> {
        let meta = held.file.metadata()?;
        if DevIno::of(&meta) != id {
            return Ok(()); // replaced between listing and opening: the next rescan sees the new one
        }
        let size = meta.len();
        let flow = self.settings.flow_id.clone();
        let identity = identify(&held.file, id, size)?;
        let head = head_sample(&held.file, size)?;
        let mut copy_of = None;
        let mut footer_seen = false;
        let mut starting_like: Vec<StoredFile> = self
            .checkpoints
            .previous_of(&flow, id.dev, id.ino)
            .into_iter()
            .filter(|p| {
                !gone_while_waiting && same_content(&held.file, &p.identity).unwrap_or(false)
            })
            .collect();
        // Several, after a kill, when the inode was reused by a file with the same first KiB:
        // the one whose bytes before its offset are the file's own, else the first.
        let own = starting_like.iter().position(|p| {
            p.before
                .as_ref()
                .is_some_and(|b| same_before(&held.file, b).unwrap_or(false))
        });
        let previous = match own
            .map(|i| starting_like.swap_remove(i))
            .or_else(|| starting_like.into_iter().next())
        {
            // The entry of a file that was empty says nothing of what its inode holds now (any
            // content starts like nothing), and at offset 0 it adds nothing to what a new file
            // gets, but resuming it would skip the copy check: the inode may be reused by a
            // rotation's copy of a followed file.
            Some(p) if p.identity.fingerprint_len == 0 && p.offset == 0 => {
                self.checkpoints.claim_previous(&flow, &p);
                None
            }
            other => other,
        };
        let (offset, why) = if let Some(prev) = previous {
            self.checkpoints.claim_previous(&flow, &prev);
            let same_before = |b: &BytesBefore| same_before(&held.file, b).unwrap_or(false);
            if size < prev.offset {
                (0, "truncated since its checkpoint; reading from the start")
            } else if !prev.before.as_ref().is_none_or(same_before) {
                (
                    0,
                    "starts like its checkpoint's content but differs before its offset \
                     (rewritten, or a reused inode); reading from the start",
                )
            } else {
                footer_seen = prev.finished;
                (prev.offset, "resuming from checkpoint")
            }
        } else if let Some((off, why)) =
            match self.copied_from(&identity, &held.file, &head, size, id) {
                CopyCheck::Of(off, fid) => {
                    copy_of = Some(fid);
                    Some((off, "a copy of a truncated file; resuming at its offset"))
                }
                CopyCheck::OfPrevious(entry)
                    if entry
                        .before
                        .as_ref()
                        .is_some_and(|b| !same_before(&held.file, b).unwrap_or(false)) =>
                {
                    Some((
                        0,
                        "starts like a file the previous run followed but differs before its \
                         checkpoint; a new file",
                    ))
                }
                CopyCheck::OfPrevious(entry) => {
                    self.checkpoints.claim_previous(&flow, &entry);
                    Some((
                        entry.offset,
                        "a copy of a file truncated before the restart; resuming at its checkpoint",
                    ))
                }
                CopyCheck::Wait | CopyCheck::No if gone_while_waiting => Some((
                    0,
                    "gone while it waited to be told from a copy, and no copy of it showed; \
                     a new file",
                )),
                CopyCheck::Wait => {
                    let now = Instant::now();
                    let d = self.deferred.entry(id).or_insert(Deferred {
                        since: now,
                        size,
                        size_since: now,
                        path: path.to_owned(),
                        held: None,
                        gone: false,
                    });
                    if d.size != size {
                        d.size = size;
                        d.size_since = now;
                    }
                    if d.since.elapsed() < self.settings.copy_wait {
                        // Looked at again at the next scans, and held open meanwhile: deleted
                        // while it waits, it is read from this descriptor.
                        d.path = path.to_owned();
                        d.held.get_or_insert(held);
                        return Ok(());
                    }
                    Some((
                        0,
                        "empty, or starts like a followed file, but no copy of it showed; \
                         a new file",
                    ))
                }
                CopyCheck::No => None,
            }
        {
            (off, why)
        } else if first_start && self.settings.start_at == StartAt::End {
            (
                last_line_end(&mut held.file, size)?,
                "initialPosition END_OF_FILE",
            )
        } else {
            (0, "new file")
        };
        let fid = match copy_of {
            Some(old) => {
                // A copy shorter than what was read of its original ends where it is now.
                let short = self
                    .truncated
                    .iter()
                    .any(|t| t.fid == old && offset < t.offset);
                self.truncated.retain(|t| t.fid != old);
                if self
                    .checkpoints
                    .adopt(old, &identity, path, short.then_some(size))
                {
                    old
                } else {
                    self.checkpoints
                        .track(&flow, identity.clone(), path, offset)
                }
            }
            None => self
                .checkpoints
                .track(&flow, identity.clone(), path, offset),
        };
        let mut reader = RecordReader::new(self.settings.split.clone(), offset);
        if footer_seen {
            reader.finish();
            self.checkpoints.mark_finished(fid);
        }
        tracing::info!(
            "{flow}: tailing {} at offset {offset} ({why})",
            path.display()
        );
        self.files.insert(
            id,
            TrackedFile {
                fid,
                path: path.to_owned(),
                file: Some(held),
                identity,
                head,
                read_times: Default::default(),
                reader,
                footer_recorded: footer_seen,
                misses: 0,
                last_growth: Instant::now(),
                before_at: 0,
                failing_since: None,
                size_seen: size,
                active: true,
                unwatched: std::fs::symlink_metadata(path)
                    .is_ok_and(|m| m.file_type().is_symlink()),
                mtime_seen: meta.modified().ok(),
                renamed: false,
                path_key: path_key(path),
            },
        );
        Ok(())
    }

    /// Whether `file` is a copy of a file that was truncated.
    ///
    /// Only a full-length fingerprint is distinctive enough (CSV files share headers), and only a
    /// file seen truncated can be the source of a copy: a new file that starts like a followed
    /// file that was not truncated is either a copy about to be followed by the truncation, or a
    /// different file with the same first KiB; it waits until the truncation shows or
    /// `copy_wait` passes.
    fn copied_from(
        &self,
        new: &FileIdentity,
        file: &File,
        head: &[u8],
        size: u64,
        id: DevIno,
    ) -> CopyCheck {
        let full = |ident: &FileIdentity| u64::from(ident.fingerprint_len) == FINGERPRINT_MAX;
        if size == 0 && !(self.files.is_empty() && self.truncated.is_empty()) {
            // logrotate creates the copy empty, then fills it: told once it has content.
            return CopyCheck::Wait;
        }
        // A copy shorter than what was read of its truncated original is still being written,
        // or complete but without what the writer appended between the copy and the
        // truncation (read from the original already): the latter once its size holds still.
        let quiet = self.deferred.get(&id).is_some_and(|d| {
            d.size == size && d.size_since.elapsed() >= self.settings.copy_wait / 5
        });
        // Fingerprints are compared, not contents: the new file's first KiB is read once.
        if !full(new) {
            // Caught while logrotate writes its first KiB, a copy starts like its original:
            // it waits to grow, while its original was truncated, or until its size holds
            // still while its original is followed (not truncated yet).
            let shares = |other: &[u8]| {
                let n = other.len().min(head.len());
                n > 0 && other[..n] == head[..n]
            };
            if self.truncated.iter().any(|t| shares(&t.head))
                || (!quiet && self.files.values().any(|t| shares(&t.head)))
            {
                return CopyCheck::Wait;
            }
            return CopyCheck::No;
        }
        let starts_like =
            |ident: &FileIdentity| full(ident) && ident.fingerprint == new.fingerprint;
        let mut answer = CopyCheck::No;
        for t in &self.truncated {
            if starts_like(&t.identity) {
                if size >= t.offset {
                    return CopyCheck::Of(t.offset, t.fid);
                }
                if quiet {
                    return CopyCheck::Of(size, t.fid);
                }
                answer = CopyCheck::Wait;
            }
        }
        // A followed file found truncated now becomes a source once its next read notices
        // it; until then, as one not truncated, it only makes the new file wait. One whose
        // content differs from the new file's soon after the first KiB has no copy there.
        if self
            .files
            .values()
            .any(|t| starts_like(&t.identity) && !differs_soon(file, size, t))
        {
            answer = CopyCheck::Wait;
        }
        if answer != CopyCheck::No {
            return answer;
        }
        // After a restart: content the previous run followed (and checkpointed) under an inode
        // that no longer holds it was truncated, and this is its copy.
        for p in self.checkpoints.previous_unclaimed(&self.settings.flow_id) {
            if starts_like(&p.identity) && !still_holds(&p) {
                return if size >= p.offset {
                    CopyCheck::OfPrevious(p)
                } else {
                    CopyCheck::Wait
                };
            }
        }
        CopyCheck::No
    }

    /// Reads every tracked file up to its current end; None when the output closed.
    fn read_all(&mut self, out: &mut dyn TailOutput) -> Option<bool> {
        let mut progressed = false;
        // A wake-up looks at the files it concerns, not at every followed one.
        let ids: Vec<DevIno> = self
            .files
            .iter()
            .filter(|(_, t)| self.to_look_at(t))
            .map(|(id, _)| *id)
            .collect();
        self.look = Some(Default::default());
        let mut failed = false;
        for id in ids {
            if self.stopped() {
                return Some(progressed);
            }
            match self.read_file(id, out) {
                Ok(p) => progressed |= p,
                Err(ReadError::Closed) => return None,
                Err(ReadError::Io(path, e)) => {
                    failed = true;
                    let refresh = self.settings.refresh_interval;
                    let give_up = self.files.get_mut(&id).is_some_and(|t| {
                        let since = *t.failing_since.get_or_insert_with(Instant::now);
                        t.surely_gone() && since.elapsed() >= refresh
                    });
                    if give_up {
                        // Nothing else will read it: keeping it would hold its descriptor, the
                        // disk space of a deleted file and its checkpoint entry for good.
                        tracing::warn!(
                            "{}: {} is gone and cannot be read ({e}); no longer following it",
                            self.settings.flow_id,
                            path.display()
                        );
                        self.stop_tracking_gone(id);
                    } else {
                        self.warn_rate_limited(
                            &path,
                            format!("error reading {}: {e}", path.display()),
                        )
                    }
                }
            }
        }
        if failed {
            self.stats
                .consecutive_errors
                .fetch_add(1, Ordering::Relaxed);
        } else {
            self.stats.consecutive_errors.store(0, Ordering::Relaxed);
        }
        Some(progressed)
    }

    /// One turn of one file: notices a truncation, reads a bounded number of chunks, emits a
    /// multi-line record whose quiet period passed, and stops following a file that is gone.
    fn read_file(&mut self, id: DevIno, out: &mut dyn TailOutput) -> Result<bool, ReadError> {
        let Some(t) = self.files.get_mut(&id) else {
            return Ok(false);
        };
        self.stats.file_checks.fetch_add(1, Ordering::Relaxed);
        if let Some(kind) = self.read_fault {
            return Err(t.io_err(kind.into()));
        }
        if t.file.is_none() && !self.reopen(id)? {
            return Ok(false);
        }
        let Some(t) = self.files.get_mut(&id) else {
            return Ok(false);
        };
        let meta = t.file()?.metadata().map_err(|e| t.io_err(e))?;
        let size = meta.len();
        t.size_seen = size;
        t.mtime_seen = meta.modified().ok();
        if let Some(how) = t.truncation(size).map_err(|e| t.io_err(e))? {
            // A record held for more lines is complete: nothing follows it in the old content,
            // and a copy of that content is resumed past it.
            t.flush_held(true, &self.stats, out)?;
            self.restart_truncated(id, size, how)?;
        }
        let Some(t) = self.files.get_mut(&id) else {
            return Ok(false);
        };
        let progressed = t.read_chunks(size, &self.settings, &self.stop, &self.stats, out)?;
        t.failing_since = None;
        t.active = progressed;
        if t.reader.finished() && !t.footer_recorded {
            self.checkpoints.mark_finished(t.fid);
            t.footer_recorded = true;
        }
        t.flush_held(t.gone() && !progressed, &self.stats, out)?;
        if t.grow_fingerprint(id, size) {
            self.checkpoints.update(t.fid, &t.identity, &t.path);
        }
        if t.surely_gone()
            && !progressed
            && t.last_growth.elapsed() >= self.settings.refresh_interval
        {
            self.stop_tracking_gone(id);
        }
        Ok(progressed)
    }

    /// A file truncated in place (copytruncate or `> file`): what was read is kept, the rest of
    /// it is a new file read from 0, and a copy of the old content may show up.
    fn restart_truncated(&mut self, id: DevIno, size: u64, how: &str) -> Result<(), ReadError> {
        let Some(t) = self.files.get_mut(&id) else {
            return Ok(());
        };
        tracing::warn!(
            "{}: {} was {how} (size {size}, offset {}); reading it again from the start",
            self.settings.flow_id,
            t.path.display(),
            t.reader.read_offset()
        );
        self.truncated.push(Truncated {
            fid: t.fid,
            identity: t.identity.clone(),
            head: t.head.clone(),
            offset: t.reader.framed_offset(),
            at: Instant::now(),
        });
        // The old content's entry stays (acks of its records in flight still count) for its copy
        // to adopt, across a restart too; dropped once acknowledged if no copy shows up.
        t.identity = identify(t.file()?, id, size).map_err(|e| t.io_err(e))?;
        t.head = head_sample(t.file()?, size).map_err(|e| t.io_err(e))?;
        t.fid = self
            .checkpoints
            .track(&self.settings.flow_id, t.identity.clone(), &t.path, 0);
        t.reader = RecordReader::new(self.settings.split.clone(), 0);
        t.read_times.clear();
        t.footer_recorded = false;
        t.before_at = 0;
        Ok(())
    }

    /// Stops following a file that is no longer listed and has been read to its end.
    fn stop_tracking_gone(&mut self, id: DevIno) {
        let Some(t) = self.files.remove(&id) else {
            return;
        };
        let held = t.reader.pending();
        if held > 0 {
            tracing::warn!(
                "{}: {} is gone with {held} bytes of an unterminated last line, which are not sent",
                self.settings.flow_id,
                t.path.display()
            );
        }
        tracing::info!(
            "{}: stopped tailing {} (gone)",
            self.settings.flow_id,
            t.path.display()
        );
        self.checkpoints
            .forget_when_done(t.fid, t.reader.framed_offset());
    }
}

/// Whether the file at `path`, when it is the inode `identity` names, starts with the content
/// it describes; None when that cannot be told (no such file, another inode, a failed read).
fn content_at(path: &Path, identity: &FileIdentity) -> Option<bool> {
    let file = File::open(path).ok()?;
    let id = DevIno {
        dev: identity.dev,
        ino: identity.ino,
    };
    let meta = file.metadata().ok()?;
    (DevIno::of(&meta) == id).then_some(())?;
    same_content(&file, identity).ok()
}

/// How far past the first KiB a new file is compared with a followed file it starts like.
const COPY_COMPARE: u64 = 64 * 1024;

/// True when `new` (of `size` bytes) cannot be a copy of the followed file `t` taken before
/// `t` was truncated: their bytes differ within the first [`COPY_COMPARE`], or `t` is too short
/// to hold the new file's. False when it cannot tell: `t` not held open, or truncated (shorter
/// than what was read of it) and not noticed yet, or the same bytes up to there.
fn differs_soon(new: &File, size: u64, t: &TrackedFile) -> bool {
    use std::os::unix::fs::FileExt;
    let Some(held) = &t.file else { return false };
    let Ok(meta) = held.file.metadata() else {
        return false;
    };
    if meta.len() < t.reader.read_offset() {
        return false;
    }
    let end = size.min(COPY_COMPARE);
    if meta.len() < end {
        return true;
    }
    let (mut a, mut b) = (vec![0u8; 8192], vec![0u8; 8192]);
    let mut at = FINGERPRINT_MAX.min(end);
    while at < end {
        let n = ((end - at) as usize).min(a.len());
        let (Ok(()), Ok(())) = (
            new.read_exact_at(&mut a[..n], at),
            held.file.read_exact_at(&mut b[..n], at),
        ) else {
            return false;
        };
        if a[..n] != b[..n] {
            return true;
        }
        at += n as u64;
    }
    false
}

/// Whether `path`, `size` bytes long, shows the followed file of `identity`: false when it is
/// that inode with other content, or with content where the followed file had none to compare
/// (it was empty when last read: a file created on its freed inode starts like it too, and an
/// empty file renamed and written again reads from 0 as a new file all the same). When that
/// cannot be told, it is taken as the one followed, as before.
fn holds(path: &Path, size: u64, identity: &FileIdentity) -> bool {
    if identity.fingerprint_len == 0 && size > 0 {
        return false;
    }
    content_at(path, identity) != Some(false)
}

/// Whether the file a checkpoint was written for still holds the content it describes (its
/// inode under its path, starting with its fingerprint).
fn still_holds(entry: &crate::checkpoint::StoredFile) -> bool {
    content_at(&entry.path, &entry.identity) == Some(true)
}

impl TrackedFile {
    /// Remembers that what was framed so far was read by now.
    fn note_read_time(&mut self) {
        let offset = self.reader.framed_offset();
        let full = self.read_times.len() >= READ_TIMES_MAX;
        match self.read_times.back_mut() {
            Some(last) if full || last.1.elapsed() < READ_TIME_STEP => last.0 = offset,
            _ => self.read_times.push_back((offset, Instant::now())),
        }
    }

    /// No longer listed under a matching name (deleted or renamed away).
    fn gone(&self) -> bool {
        self.misses > 0
    }

    /// Missing from more than one listing: it can be let go.
    fn surely_gone(&self) -> bool {
        self.misses >= 2
    }

    fn io_err(&self, e: io::Error) -> ReadError {
        ReadError::Io(self.path.clone(), e)
    }

    /// The open file (the read path reopens a closed one first).
    fn open(&self) -> io::Result<&File> {
        match &self.file {
            Some(held) => Ok(&held.file),
            None => Err(io::Error::other("closed")),
        }
    }

    /// [`TrackedFile::open`], with the error of the read path.
    fn file(&self) -> Result<&File, ReadError> {
        self.open().map_err(|e| self.io_err(e))
    }

    /// Read to its end and nothing held (and, given `acked_in`, everything acknowledged):
    /// closing it loses nothing; acks of its records in flight count all the same.
    fn idle(&self, acked_in: Option<&Checkpoints>) -> bool {
        let read = self.reader.read_offset();
        !self.gone()
            && !self.active
            && !self.reader.holding()
            && acked_in.is_none_or(|c| c.committed(self.fid) == Some(read))
            // Written since the last look: not done (and its event is on its way).
            && self
                .file
                .as_ref()
                .is_some_and(|h| h.file.metadata().is_ok_and(|m| m.len() == read))
    }

    /// Whether the file was truncated in place since the last look, and how it shows.
    fn truncation(&self, size: u64) -> io::Result<Option<&'static str>> {
        let offset = self.reader.read_offset();
        if size < offset {
            return Ok(Some("truncated"));
        }
        // Truncated and written again past the old offset between two looks: the size alone
        // cannot tell, but the first bytes no longer match the fingerprint.
        if size > offset
            && self.identity.fingerprint_len > 0
            && !same_content(self.open()?, &self.identity)?
        {
            return Ok(Some("rewritten from its start"));
        }
        Ok(None)
    }

    /// Reads up to `CHUNKS_PER_TURN` chunks (so that one busy file cannot starve the others)
    /// and hands their records to `out`; returns whether anything was read.
    ///
    /// What was read is handed over once per turn, not once per chunk: full chunks of records
    /// go on their own, and a flush per read chunk made a small one of each chunk's remainder.
    fn read_chunks(
        &mut self,
        size: u64,
        settings: &TailSettings,
        stop: &AtomicBool,
        stats: &TailStats,
        out: &mut dyn TailOutput,
    ) -> Result<bool, ReadError> {
        let mut progressed = false;
        let mut failed = None;
        for _ in 0..CHUNKS_PER_TURN {
            if self.reader.finished()
                || stop.load(Ordering::Relaxed)
                || size <= self.reader.read_offset()
            {
                break;
            }
            let read = match &self.file {
                Some(held) => self.reader.read_from(&held.file, settings.read_chunk),
                None => Err(io::Error::other("closed")),
            };
            let n = match read {
                Ok(n) => n,
                Err(e) => {
                    failed = Some(self.io_err(e));
                    break;
                }
            };
            if n == 0 {
                break;
            }
            progressed = true;
            self.last_growth = Instant::now();
            let fid = self.fid;
            let drained = self.reader.drain(&mut |s| emit(fid, s, out));
            self.note_read_time();
            stats
                .records_parsed
                .fetch_add(drained.records, Ordering::Relaxed);
            stats
                .bytes_consumed
                .fetch_add(drained.bytes, Ordering::Relaxed);
        }
        // Records read before a failed read go downstream all the same.
        if progressed && !out.flush() {
            return Err(ReadError::Closed);
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if !progressed || size <= self.reader.read_offset() {
            self.reader.release_if_idle();
        }
        Ok(progressed)
    }

    /// Emits a held multi-line record now (`now`: the file is gone or was truncated), or once its
    /// quiet period passed.
    fn flush_held(
        &mut self,
        now: bool,
        stats: &TailStats,
        out: &mut dyn TailOutput,
    ) -> Result<(), ReadError> {
        if !self.reader.holding() {
            return Ok(());
        }
        let fid = self.fid;
        let mut emit_to_out = |s: Span<'_>| emit(fid, s, out);
        let emitted = if now {
            self.reader.flush(&mut emit_to_out)
        } else {
            self.reader.flush_if_quiet(Instant::now(), &mut emit_to_out)
        };
        if emitted {
            stats.records_parsed.fetch_add(1, Ordering::Relaxed);
            if !out.flush() {
                return Err(ReadError::Closed);
            }
        }
        Ok(())
    }

    /// The fingerprint grows with a young file until it is full-length, so that a copy of it is
    /// recognised; returns whether the identity changed.
    fn grow_fingerprint(&mut self, id: DevIno, size: u64) -> bool {
        if u64::from(self.identity.fingerprint_len) >= FINGERPRINT_MAX
            || size <= u64::from(self.identity.fingerprint_len)
        {
            return false;
        }
        let Some(held) = &self.file else {
            return false;
        };
        match identify(&held.file, id, size) {
            Ok(ident) => {
                self.identity = ident;
                if (self.head.len() as u64) < HEAD_SAMPLE {
                    if let Ok(head) = head_sample(&held.file, size) {
                        self.head = head;
                    }
                }
                true
            }
            Err(_) => false,
        }
    }
}

/// Hands one span of a tracked file to the output.
fn emit(fid: TrackedFileId, s: Span<'_>, out: &mut dyn TailOutput) {
    match s {
        Span::Record { start, end, data } => out.record(fid, start, end, data),
        Span::Skip { start, end, .. } => out.skipped(fid, start, end),
    }
}

enum ReadError {
    Closed,
    Io(PathBuf, io::Error),
}

/// The offset just past the last `\n` of the first `size` bytes of `file` (0 if there is none).
pub fn last_line_end(file: &mut File, size: u64) -> io::Result<u64> {
    let mut end = size;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let len = (end - start) as usize;
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut buf[..len])?;
        if let Some(i) = memchr::memrchr(b'\n', &buf[..len]) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_line_end_finds_the_last_complete_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"a\nbb\npartial").unwrap();
        let mut f = File::open(&p).unwrap();
        assert_eq!(last_line_end(&mut f, 12).unwrap(), 5);
        assert_eq!(last_line_end(&mut f, 5).unwrap(), 5);
        assert_eq!(last_line_end(&mut f, 1).unwrap(), 0);
        std::fs::write(&p, b"no newline").unwrap();
        assert_eq!(last_line_end(&mut f, 10).unwrap(), 0);
        let big: Vec<u8> = std::iter::repeat_n(b'x', 200_000)
            .chain(*b"\n")
            .chain(std::iter::repeat_n(b'y', 100_000))
            .collect();
        std::fs::write(&p, &big).unwrap();
        assert_eq!(last_line_end(&mut f, big.len() as u64).unwrap(), 200_001);
    }
}
