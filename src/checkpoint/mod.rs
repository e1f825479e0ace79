//! Durable per-file checkpoints: what the destination acknowledged, contiguously, persisted by group commit.

pub mod store;
pub mod watermark;

pub use store::{BytesBefore, FileIdentity, StoreError, StoredFile};
pub use watermark::Watermark;

use crate::metrics::unix_millis;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::{StoredFlow, StoredState};
use tokio::sync::{watch, Notify};

/// Process-unique handle of one tracked file (a truncation starts a new one).
pub type TrackedFileId = u64;

/// How long acknowledgements are gathered before one write: bounds the re-send window after a kill.
const GROUP_COMMIT_DELAY: Duration = Duration::from_millis(100);

/// Rewrite at least this often so that live files' `lastSeenMillis` never reaches the TTL.
const REFRESH_INTERVAL: Duration = Duration::from_secs(3600);

#[derive(Debug)]
struct Tracked {
    flow: String,
    identity: FileIdentity,
    path: PathBuf,
    watermark: Watermark,
    /// Set when the file is gone: the entry is dropped once the watermark reaches this offset.
    forget_at: Option<u64>,
    /// Its footer was seen.
    finished: bool,
    /// The bytes before an acknowledged offset, as the tailer last read them.
    before: Option<BytesBefore>,
    /// The file ends here for good (a copy holding less than was read of its original): the
    /// offset recorded is never past it.
    end: Option<u64>,
    /// Unix time (ms) at which the acknowledged offset last moved (0: never).
    last_ack_millis: u64,
}

impl Tracked {
    /// What is acknowledged of the file as it is now.
    fn committed(&self) -> u64 {
        let c = self.watermark.committed();
        self.end.map_or(c, |end| c.min(end))
    }
}

#[derive(Debug, Default)]
struct State {
    /// What the previous run left, by flow; consulted when a file is first seen.
    previous: HashMap<String, Vec<StoredFile>>,
    files: HashMap<TrackedFileId, Tracked>,
    /// Flows that have started at least once (their files no longer get `initialPosition`).
    started_flows: std::collections::BTreeSet<String>,
    dirty: bool,
    /// When the previous run's entries that were claimed were last acknowledged, by device,
    /// inode and offset: kept for the entry that resumes from them.
    claimed_ack_millis: HashMap<(u64, u64, u64), u64>,
}

/// The checkpoint keeper shared by every flow: takes acknowledgements, persists watermarks.
#[derive(Debug)]
pub struct Checkpoints {
    path: PathBuf,
    ttl: Duration,
    state: Mutex<State>,
    next_fid: AtomicU64,
    wake: Notify,
    writes: AtomicU64,
}

impl Checkpoints {
    /// Loads the checkpoint file, dropping entries not seen for `ttl_days`.
    pub fn open(path: &Path, ttl_days: u32) -> Result<Arc<Checkpoints>, StoreError> {
        let stored = store::read(path)?;
        let ttl = Duration::from_secs(u64::from(ttl_days) * 86_400);
        let cutoff = unix_millis().saturating_sub(ttl.as_millis() as u64);
        let mut state = State::default();
        for (flow, f) in stored.flows {
            state.started_flows.insert(flow.clone());
            let live: Vec<StoredFile> = f
                .files
                .into_iter()
                .filter(|s| s.last_seen_millis >= cutoff)
                .collect();
            state.previous.insert(flow, live);
        }
        Ok(Arc::new(Checkpoints {
            path: path.to_owned(),
            ttl,
            state: Mutex::new(state),
            next_fid: AtomicU64::new(1),
            wake: Notify::new(),
            writes: AtomicU64::new(0),
        }))
    }

    /// The checkpoint file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere must not stop checkpointing: the state itself is always consistent.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the state changed and wakes the writer, which writes it within the group-commit
    /// delay: a change that no ack follows (a deleted file's entry dropped, a footer seen) would
    /// otherwise wait for the hourly refresh.
    fn changed(&self, mut s: std::sync::MutexGuard<'_, State>) {
        s.dirty = true;
        drop(s);
        self.wake.notify_one();
    }

    /// True when the flow ran before (so `initialPosition` no longer applies to its files).
    pub fn flow_started_before(&self, flow: &str) -> bool {
        self.lock().started_flows.contains(flow)
    }

    /// Marks a flow as started, so a restart treats every file it finds as new or resumed.
    pub fn mark_flow_started(&self, flow: &str) {
        let mut s = self.lock();
        if s.started_flows.insert(flow.to_owned()) {
            self.changed(s);
        }
    }

    /// Every checkpoint the previous run left for this device and inode: the file's own, and
    /// possibly one of the content it had before it was truncated (kept for its copy).
    pub fn previous_of(&self, flow: &str, dev: u64, ino: u64) -> Vec<StoredFile> {
        self.lock()
            .previous
            .get(flow)
            .map(|p| {
                p.iter()
                    .filter(|s| s.identity.dev == dev && s.identity.ino == ino)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The previous run's checkpoints of a flow not claimed yet by a file of this run.
    pub fn previous_unclaimed(&self, flow: &str) -> Vec<StoredFile> {
        self.lock().previous.get(flow).cloned().unwrap_or_default()
    }

    /// Drops the previous run's unclaimed entries of `flow` whose file is gone: no file at its
    /// path, in a directory that is there on the file system the file was on. Called once this
    /// run has looked for them (a file found under another name claims its entry by inode, a
    /// copy of it its entry as a copy), so that files deleted while the agent was down do not
    /// stay in the checkpoint file until they expire. A directory that is missing or on another
    /// device (a volume not mounted yet) keeps its entries. Returns how many were dropped.
    pub fn drop_previous_gone(&self, flow: &str) -> usize {
        let gone: Vec<StoredFile> = self
            .previous_unclaimed(flow)
            .into_iter()
            .filter(file_is_gone)
            .collect();
        if gone.is_empty() {
            return 0;
        }
        let mut s = self.lock();
        let Some(prev) = s.previous.get_mut(flow) else {
            return 0;
        };
        let before = prev.len();
        prev.retain(|p| !gone.contains(p));
        let dropped = before - prev.len();
        if dropped > 0 {
            self.changed(s);
        }
        dropped
    }

    /// A file of this run took over `entry` (it resumed from it): it is no longer offered.
    pub fn claim_previous(&self, flow: &str, entry: &StoredFile) {
        let mut s = self.lock();
        if let Some(prev) = s.previous.get_mut(flow) {
            prev.retain(|p| p != entry);
        }
        if entry.last_ack_millis > 0 {
            s.claimed_ack_millis.insert(
                (entry.identity.dev, entry.identity.ino, entry.offset),
                entry.last_ack_millis,
            );
        }
    }

    /// How far the file with this device and inode is acknowledged in `flow` (the furthest of
    /// its entries; `u64::MAX` once its footer was seen: nothing more of it is sent); None while
    /// it is not tracked.
    pub fn acknowledged_of(&self, flow: &str, dev: u64, ino: u64) -> Option<u64> {
        self.lock()
            .files
            .values()
            .filter(|t| t.flow == flow && t.identity.dev == dev && t.identity.ino == ino)
            .map(|t| if t.finished { u64::MAX } else { t.committed() })
            .max()
    }

    /// Starts tracking a file whose bytes before `offset` need no sending; returns its handle.
    pub fn track(
        &self,
        flow: &str,
        identity: FileIdentity,
        path: &Path,
        offset: u64,
    ) -> TrackedFileId {
        let fid = self.next_fid.fetch_add(1, Ordering::Relaxed);
        let mut s = self.lock();
        // The previous run's entry of this very content is superseded (the tailer claims the one
        // it resumed from; this catches one it did not look at). An entry of the content the
        // inode had before a truncation stays, for its copy.
        let mut last_ack_millis = 0;
        if let Some(prev) = s.previous.get_mut(flow) {
            prev.retain(|p| {
                let same = p.identity.dev == identity.dev
                    && p.identity.ino == identity.ino
                    && p.identity.fingerprint == identity.fingerprint;
                if same && p.offset == offset {
                    last_ack_millis = p.last_ack_millis;
                }
                !same
            });
        }
        if last_ack_millis == 0 {
            // Resumed from an entry claimed already (the tailer's usual path).
            last_ack_millis = s
                .claimed_ack_millis
                .remove(&(identity.dev, identity.ino, offset))
                .unwrap_or(0);
        }
        s.files.insert(
            fid,
            Tracked {
                flow: flow.to_owned(),
                identity,
                path: path.to_owned(),
                watermark: Watermark::new(offset),
                forget_at: None,
                finished: false,
                before: None,
                end: None,
                last_ack_millis,
            },
        );
        self.changed(s);
        fid
    }

    /// Records a new name or a longer fingerprint of a tracked file.
    pub fn update(&self, fid: TrackedFileId, identity: &FileIdentity, path: &Path) {
        let mut s = self.lock();
        if let Some(t) = s.files.get_mut(&fid) {
            if t.identity != *identity || t.path != path {
                t.identity = identity.clone();
                t.path = path.to_owned();
                self.changed(s);
            }
        }
    }

    /// Records the bytes before an acknowledged offset of a tracked file (see [`BytesBefore`]).
    pub fn set_before(&self, fid: TrackedFileId, before: BytesBefore) {
        let mut s = self.lock();
        if let Some(t) = s.files.get_mut(&fid) {
            if t.before.as_ref() != Some(&before) {
                t.before = Some(before);
                self.changed(s);
            }
        }
    }

    /// Records that a tracked file's footer was seen, so that a restart does not read on.
    pub fn mark_finished(&self, fid: TrackedFileId) {
        let mut s = self.lock();
        if let Some(t) = s.files.get_mut(&fid) {
            if !t.finished {
                t.finished = true;
                self.changed(s);
            }
        }
    }

    /// Marks `[start, end)` of a tracked file as acknowledged (or deliberately skipped).
    pub fn ack(&self, fid: TrackedFileId, start: u64, end: u64) {
        self.ack_many([(fid, start, end)]);
    }

    /// Marks many ranges acknowledged under one lock and one wake-up (the records of one
    /// request), as `(tracked file, start, end)`.
    pub fn ack_many(&self, acks: impl IntoIterator<Item = (TrackedFileId, u64, u64)>) {
        let mut s = self.lock();
        let mut moved = false;
        let mut now = 0;
        let mut ack_one = |s: &mut State, (fid, start, end): (TrackedFileId, u64, u64)| {
            let Some(t) = s.files.get_mut(&fid) else {
                return;
            };
            if t.watermark.ack(start, end) {
                if now == 0 {
                    now = unix_millis();
                }
                t.last_ack_millis = now;
                if t.forget_at.is_some_and(|at| t.watermark.committed() >= at) {
                    s.files.remove(&fid);
                }
                moved = true;
            }
        };
        // The records of a request are mostly back to back in one file: acknowledging
        // [a, b) and [b, c) is acknowledging [a, c), at one lookup instead of two.
        let mut run: Option<(TrackedFileId, u64, u64)> = None;
        for (fid, start, end) in acks {
            match &mut run {
                Some((f, _, e)) if *f == fid && *e == start => *e = end,
                _ => {
                    if let Some(r) = run.replace((fid, start, end)) {
                        ack_one(&mut s, r);
                    }
                }
            }
        }
        if let Some(r) = run {
            ack_one(&mut s, r);
        }
        if moved {
            self.changed(s);
        }
    }

    /// The file is gone: drop its entry once everything up to `read_end` is acknowledged.
    pub fn forget_when_done(&self, fid: TrackedFileId, read_end: u64) {
        let mut s = self.lock();
        if let Some(t) = s.files.get_mut(&fid) {
            if t.watermark.committed() >= read_end {
                s.files.remove(&fid);
                self.changed(s);
            } else {
                t.forget_at = Some(read_end);
            }
        }
    }

    /// Hands the entry of a file that was truncated (kept until its records in flight were
    /// acknowledged) to the copy of its old content: the copy resumes from what was
    /// *acknowledged*, and acks of records read before the truncation still count. False when
    /// the entry is gone (everything was acknowledged): then track the copy anew.
    ///
    /// A copy that ends at `end`, short of what was read of the original (lines appended
    /// between the copy and the truncation), never has its offset recorded past it.
    pub fn adopt(
        &self,
        fid: TrackedFileId,
        identity: &FileIdentity,
        path: &Path,
        end: Option<u64>,
    ) -> bool {
        let mut s = self.lock();
        let Some(t) = s.files.get_mut(&fid) else {
            return false;
        };
        t.forget_at = None;
        t.end = end;
        if let Some(end) = end {
            if t.before.as_ref().is_some_and(|b| b.offset > end) {
                t.before = None;
            }
        }
        t.identity = identity.clone();
        t.path = path.to_owned();
        let flow = t.flow.clone();
        if let Some(prev) = s.previous.get_mut(&flow) {
            prev.retain(|p| p.identity != *identity);
        }
        self.changed(s);
        true
    }

    /// The acknowledged offset of a tracked file.
    pub fn committed(&self, fid: TrackedFileId) -> Option<u64> {
        self.lock().files.get(&fid).map(Tracked::committed)
    }

    /// How many times the file has been written (for tests and status).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    fn snapshot(&self, force: bool) -> Option<StoredState> {
        let mut s = self.lock();
        if !s.dirty && !force {
            return None;
        }
        s.dirty = false;
        let now = unix_millis();
        let mut out = StoredState {
            version: 1,
            ..Default::default()
        };
        for flow in &s.started_flows {
            out.flows.insert(flow.clone(), StoredFlow::default());
        }
        // Entries of the previous run not seen yet stay until they expire.
        for (flow, prev) in &s.previous {
            let f = out.flows.entry(flow.clone()).or_default();
            f.files.extend(prev.iter().cloned());
        }
        for t in s.files.values() {
            out.flows
                .entry(t.flow.clone())
                .or_default()
                .files
                .push(StoredFile {
                    identity: t.identity.clone(),
                    path: t.path.clone(),
                    offset: t.committed(),
                    last_seen_millis: now,
                    last_ack_millis: t.last_ack_millis,
                    finished: t.finished,
                    before: t.before.clone(),
                });
        }
        for f in out.flows.values_mut() {
            f.files
                .sort_by(|a, b| a.path.cmp(&b.path).then(a.offset.cmp(&b.offset)));
        }
        Some(out)
    }

    /// Writes the checkpoint file now if anything changed (or always, with `force`).
    pub fn persist(&self, force: bool) -> Result<(), StoreError> {
        if let Some(snap) = self.snapshot(force) {
            if let Err(e) = store::write(&self.path, &snap) {
                self.lock().dirty = true;
                return Err(e);
            }
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Group commit: persists changes within ~`GROUP_COMMIT_DELAY` of an ack until `stop` flips.
    pub async fn run_writer(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut last_error_log: Option<std::time::Instant> = None;
        let mut refresh = tokio::time::interval(
            REFRESH_INTERVAL
                .min(self.ttl / 2)
                .max(Duration::from_secs(1)),
        );
        refresh.tick().await;
        loop {
            let mut force = false;
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = refresh.tick() => { force = true; }
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            tokio::time::sleep(GROUP_COMMIT_DELAY).await;
            let me = self.clone();
            let result = tokio::task::spawn_blocking(move || me.persist(force)).await;
            match result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    if last_error_log.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                        tracing::error!("cannot write checkpoints (will retry): {e}");
                        last_error_log = Some(std::time::Instant::now());
                    }
                    // Retry soon without spinning, but not at the cost of a prompt stop.
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        _ = stop.changed() => return,
                    }
                    self.wake.notify_one();
                }
                Err(e) => tracing::error!("checkpoint writer task failed: {e}"),
            }
        }
    }
}

/// Nothing is at the entry's path, and its directory is there, on the entry's device.
fn file_is_gone(entry: &StoredFile) -> bool {
    use std::os::unix::fs::MetadataExt;
    let absent = matches!(
        std::fs::symlink_metadata(&entry.path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound
    );
    absent
        && entry
            .path
            .parent()
            .and_then(|dir| std::fs::metadata(dir).ok())
            .is_some_and(|m| m.is_dir() && m.dev() == entry.identity.dev)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The previous run's first checkpoint of a file by device and inode.
    fn previous(cp: &Checkpoints, flow: &str, dev: u64, ino: u64) -> Option<StoredFile> {
        cp.previous_of(flow, dev, ino).into_iter().next()
    }

    fn ident(ino: u64) -> FileIdentity {
        FileIdentity {
            dev: 1,
            ino,
            fingerprint_len: 0,
            fingerprint: String::new(),
        }
    }

    #[test]
    fn persists_only_the_contiguous_prefix_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        let cp = Checkpoints::open(&path, 7).unwrap();
        assert!(!cp.flow_started_before("f"));
        cp.mark_flow_started("f");
        let fid = cp.track("f", ident(9), Path::new("/x/a.log"), 0);
        cp.ack(fid, 10, 20);
        cp.persist(false).unwrap();
        let again = Checkpoints::open(&path, 7).unwrap();
        assert!(again.flow_started_before("f"));
        assert_eq!(previous(&again, "f", 1, 9).unwrap().offset, 0);
        cp.ack(fid, 0, 10);
        cp.persist(false).unwrap();
        let again = Checkpoints::open(&path, 7).unwrap();
        assert_eq!(previous(&again, "f", 1, 9).unwrap().offset, 20);
        assert!(previous(&again, "f", 1, 10).is_none());
        assert!(previous(&again, "g", 1, 9).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_write_does_not_hold_up_the_stop() {
        let dir = tempfile::tempdir().unwrap();
        let cp = Checkpoints::open(&dir.path().join("not-a-dir/cp"), 7).unwrap();
        // Its directory becomes a regular file: every write fails.
        std::fs::write(dir.path().join("not-a-dir"), "").unwrap();
        let (stop_tx, stop_rx) = watch::channel(false);
        let writer = tokio::spawn(cp.clone().run_writer(stop_rx));
        let fid = cp.track("f", ident(9), Path::new("/x/a.log"), 0);
        cp.ack(fid, 0, 10);
        // The write fails after the group-commit delay; the writer then waits to retry.
        tokio::time::sleep(GROUP_COMMIT_DELAY * 3).await;
        assert_eq!(cp.writes(), 0);
        let stopped_at = tokio::time::Instant::now();
        stop_tx.send(true).unwrap();
        writer.await.unwrap();
        assert!(
            stopped_at.elapsed() < Duration::from_millis(100),
            "the writer outlived the stop by {:?}",
            stopped_at.elapsed()
        );
    }

    /// Every kind of change reaches the disk within the group-commit delay, with no ack after
    /// it: a file deleted after its last ack left its entry on disk until the hourly refresh,
    /// for a restart after a kill to match against a new file on its inode.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn every_change_is_written_without_waiting_for_another_ack() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        let cp = Checkpoints::open(&path, 7).unwrap();
        let (stop_tx, stop_rx) = watch::channel(false);
        let writer = tokio::spawn(cp.clone().run_writer(stop_rx));
        let on_disk = |ino: u64| {
            Checkpoints::open(&path, 7)
                .ok()
                .and_then(|c| previous(&c, "f", 1, ino))
        };
        let eventually = |what: &str, holds: &dyn Fn() -> bool| {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while !holds() {
                assert!(std::time::Instant::now() < deadline, "not on disk: {what}");
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        let a = cp.track("f", ident(9), Path::new("/x/a.log"), 0);
        let b = cp.track("f", ident(10), Path::new("/x/b.log"), 0);
        cp.ack_many([(a, 0, 10), (b, 0, 10)]);
        eventually("the acks", &|| {
            on_disk(9).is_some_and(|e| e.offset == 10) && on_disk(10).is_some()
        });
        cp.update(a, &ident(9), Path::new("/x/a.log.1"));
        eventually("the new name", &|| {
            on_disk(9).is_some_and(|e| e.path == Path::new("/x/a.log.1"))
        });
        let before = BytesBefore {
            offset: 10,
            len: 10,
            md5: "0123456789abcdef0123456789abcdef".into(),
        };
        cp.set_before(a, before.clone());
        eventually("the bytes before", &|| {
            on_disk(9).is_some_and(|e| e.before == Some(before.clone()))
        });
        cp.mark_finished(a);
        eventually("the footer seen", &|| {
            on_disk(9).is_some_and(|e| e.finished)
        });
        // Deleted, everything read already acknowledged: the entry goes at once.
        cp.forget_when_done(b, 10);
        eventually("the deleted file's entry gone", &|| on_disk(10).is_none());
        stop_tx.send(true).unwrap();
        writer.await.unwrap();
    }

    #[test]
    fn the_bytes_before_the_offset_are_persisted_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        let cp = Checkpoints::open(&path, 7).unwrap();
        let fid = cp.track("f", ident(9), Path::new("/x/a.log"), 0);
        cp.ack(fid, 0, 300);
        cp.persist(false).unwrap();
        let before = BytesBefore {
            offset: 300,
            len: 256,
            md5: "00ff".into(),
        };
        cp.set_before(fid, before.clone());
        cp.persist(false).unwrap();
        let again = Checkpoints::open(&path, 7).unwrap();
        let entry = previous(&again, "f", 1, 9).unwrap();
        assert_eq!((entry.offset, entry.before), (300, Some(before)));
    }

    #[test]
    fn the_time_of_the_last_ack_is_persisted_and_kept_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        let cp = Checkpoints::open(&path, 7).unwrap();
        let fid = cp.track("f", ident(9), Path::new("/x/a.log"), 0);
        cp.persist(false).unwrap();
        assert_eq!(previous_after_reopen(&path).last_ack_millis, 0);
        let before = unix_millis();
        cp.ack(fid, 0, 300);
        cp.persist(false).unwrap();
        let acked_at = previous_after_reopen(&path).last_ack_millis;
        assert!(acked_at >= before && acked_at <= unix_millis());
        // A restart that resumes the file keeps the time until the next ack.
        let again = Checkpoints::open(&path, 7).unwrap();
        let entry = previous(&again, "f", 1, 9).unwrap();
        again.claim_previous("f", &entry);
        again.track("f", ident(9), Path::new("/x/a.log"), 300);
        again.persist(true).unwrap();
        assert_eq!(previous_after_reopen(&path).last_ack_millis, acked_at);
    }

    /// The entry of file 9 of flow `f` that a new run on `path` would find.
    fn previous_after_reopen(path: &Path) -> StoredFile {
        previous(&Checkpoints::open(path, 7).unwrap(), "f", 1, 9).unwrap()
    }

    #[test]
    fn forgotten_file_leaves_once_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        let cp = Checkpoints::open(&path, 7).unwrap();
        let fid = cp.track("f", ident(9), Path::new("/x/a.log"), 0);
        cp.forget_when_done(fid, 30);
        cp.ack(fid, 0, 10);
        assert_eq!(cp.committed(fid), Some(10));
        cp.ack(fid, 10, 30);
        assert_eq!(cp.committed(fid), None);
        cp.persist(true).unwrap();
        let again = Checkpoints::open(&path, 7).unwrap();
        assert!(previous(&again, "f", 1, 9).is_none());
    }

    #[test]
    fn one_request_of_acks_moves_every_file_it_covers() {
        let dir = tempfile::tempdir().unwrap();
        let cp = Checkpoints::open(&dir.path().join("cp"), 7).unwrap();
        let a = cp.track("f", ident(1), Path::new("/x/a.log"), 0);
        let b = cp.track("f", ident(2), Path::new("/x/b.log"), 0);
        cp.forget_when_done(b, 5);
        // Out of order within the request, a gap left in `a`, and a handle that is not tracked.
        cp.ack_many([(a, 20, 30), (a, 0, 10), (b, 0, 5), (999, 0, 1)]);
        assert_eq!(cp.committed(a), Some(10));
        assert_eq!(
            cp.committed(b),
            None,
            "b was gone and is now fully acknowledged"
        );
        cp.ack_many([(a, 10, 20)]);
        assert_eq!(cp.committed(a), Some(30));
    }

    proptest::proptest! {
        /// Acknowledging a request's records at once (back-to-back ranges merged) moves every
        /// file exactly as acknowledging them one by one would.
        #[test]
        fn acks_at_once_match_acks_one_by_one(
            acks in proptest::collection::vec((0u64..3, 0u64..12, 1u64..4), 0..40),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let at_once = Checkpoints::open(&dir.path().join("a"), 7).unwrap();
            let one_by_one = Checkpoints::open(&dir.path().join("b"), 7).unwrap();
            let mut fids = Vec::new();
            for ino in 0..3 {
                let p = PathBuf::from(format!("/x/{ino}.log"));
                let f = at_once.track("f", ident(ino), &p, 0);
                proptest::prop_assert_eq!(f, one_by_one.track("f", ident(ino), &p, 0));
                fids.push(f);
            }
            let acks: Vec<_> = acks
                .into_iter()
                .map(|(file, slot, len)| (fids[file as usize], slot * 3, slot * 3 + len))
                .collect();
            at_once.ack_many(acks.iter().copied());
            for &(fid, start, end) in &acks {
                one_by_one.ack(fid, start, end);
            }
            for &fid in &fids {
                proptest::prop_assert_eq!(at_once.committed(fid), one_by_one.committed(fid));
            }
        }
    }

    #[test]
    fn entries_of_files_gone_from_a_directory_still_there_are_dropped() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let dev = std::fs::metadata(dir.path()).unwrap().dev();
        let path = dir.path().join("cp");
        std::fs::write(dir.path().join("here.log"), "x\n").unwrap();
        let cp = Checkpoints::open(&path, 7).unwrap();
        let entry = |name: &str, dev: u64, ino: u64| {
            let fid = cp.track(
                "f",
                FileIdentity { dev, ..ident(ino) },
                &dir.path().join(name),
                0,
            );
            cp.ack(fid, 0, 2);
        };
        entry("gone.log", dev, 1);
        entry("here.log", dev, 2);
        entry("unmounted/v.log", dev, 3);
        // Its directory is on another device than the file was: a volume not mounted.
        entry("elsewhere.log", dev.wrapping_add(1), 4);
        cp.persist(true).unwrap();
        let again = Checkpoints::open(&path, 7).unwrap();
        assert_eq!(again.drop_previous_gone("f"), 1);
        assert_eq!(again.drop_previous_gone("other flow"), 0);
        let left: Vec<u64> = again
            .previous_unclaimed("f")
            .iter()
            .map(|p| p.identity.ino)
            .collect();
        assert_eq!(left, [4, 2, 3]);
        // The drop is written.
        again.persist(false).unwrap();
        assert_eq!(
            Checkpoints::open(&path, 7)
                .unwrap()
                .previous_unclaimed("f")
                .len(),
            3
        );
    }

    #[test]
    fn expired_entries_are_dropped_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cp");
        let mut st = StoredState {
            version: 1,
            ..Default::default()
        };
        st.flows.insert(
            "f".into(),
            StoredFlow {
                files: vec![StoredFile {
                    identity: ident(3),
                    path: "/x/old.log".into(),
                    offset: 5,
                    last_seen_millis: unix_millis() - 8 * 86_400_000,
                    last_ack_millis: 0,
                    finished: false,
                    before: None,
                }],
            },
        );
        store::write(&path, &st).unwrap();
        let cp = Checkpoints::open(&path, 7).unwrap();
        assert!(previous(&cp, "f", 1, 3).is_none());
        assert!(cp.flow_started_before("f"));
    }

    #[test]
    fn late_acks_of_a_truncated_content_do_not_move_its_new_handle() {
        let dir = tempfile::tempdir().unwrap();
        let cp = Checkpoints::open(&dir.path().join("cp"), 7).unwrap();
        let old = cp.track("f", ident(9), Path::new("/x/a.log"), 0);
        cp.forget_when_done(old, 100);
        let new = cp.track("f", ident(9), Path::new("/x/a.log"), 0);
        cp.ack(old, 0, 100);
        assert_eq!(cp.committed(new), Some(0));
    }
}
