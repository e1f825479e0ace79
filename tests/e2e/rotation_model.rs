//! Property test of the tailer against a model: random sequences of writes, rename rotations,
//! copytruncate (seen whole or part-way), plain truncation, deletion, files that share their
//! first KiB, the directory moved away or removed, failing reads, acknowledgements that arrive
//! late and out of order, group commits, clean restarts and kills, on a real directory, for
//! single-line and multi-line flows. Every record written must be delivered at least once, and
//! more than once only where the model says a re-send is allowed: after a kill, what was
//! acknowledged but not yet committed; a copy too short to fingerprint.

use kinetail::checkpoint::{Checkpoints, TrackedFileId};
use kinetail::tail::open_files::OpenFiles;
use kinetail::tail::{
    FilePattern, SplitSettings, StartAt, TailOutput, TailSettings, TailStats, Tailer,
};
use proptest::prelude::*;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    /// Append records (of the given lengths) to app.log.
    Write(Vec<usize>),
    /// logrotate's default: rename app.log to app.log.N; the next write creates a new app.log.
    Rename,
    /// logrotate's copytruncate: copy app.log to app.log.N, then truncate app.log.
    CopyTruncate,
    /// copytruncate seen part-way: the agent looks while the copy holds `percent` % of the file
    /// (0: just created), then logrotate finishes the copy and truncates.
    CopyTruncateSeenPartway(u8),
    /// `> app.log`.
    Truncate,
    /// `> app.log` and at once more lines than it had, before the agent looks again.
    Rewrite(usize),
    /// Remove the oldest rotated file.
    DeleteOldest,
    /// Append to app.log and delete it before the agent looks: the open descriptor still has the data.
    WriteThenDeleteLive(Vec<usize>),
    /// `mv new app.log`: a file written elsewhere replaces the live one.
    ReplaceLive(Vec<usize>),
    /// A new file that starts with app.log's first KiB (all of it when shorter), then records of its own.
    SharedHead(Vec<usize>),
    /// The stream acknowledges the in-flight records this seed picks, in any order.
    Ack(u64),
    /// The checkpoint writer's group commit.
    Commit,
    /// SIGTERM: what is in flight is sent and acknowledged, checkpoints persisted, started again.
    Restart,
    /// kill -9: in-flight records are lost and only the last group commit survives.
    Kill,
    /// The logs directory is moved away between two looks, then back.
    DirAway,
    /// `rm -r` of the logs directory with every file in it, created again empty.
    RemoveDir,
    /// Reads fail (EIO) for a few looks while records are appended; then they work again.
    ReadErrors(Vec<usize>),
}

fn op() -> impl Strategy<Value = Op> {
    let lens = || proptest::collection::vec(1usize..120, 1..20);
    prop_oneof![
        6 => lens().prop_map(Op::Write),
        2 => Just(Op::Rename),
        1 => Just(Op::CopyTruncate),
        1 => (0u8..100).prop_map(Op::CopyTruncateSeenPartway),
        1 => Just(Op::Truncate),
        1 => (1usize..40).prop_map(Op::Rewrite),
        1 => Just(Op::DeleteOldest),
        1 => proptest::collection::vec(1usize..120, 1..5).prop_map(Op::WriteThenDeleteLive),
        1 => proptest::collection::vec(1usize..120, 1..5).prop_map(Op::SharedHead),
        1 => proptest::collection::vec(1usize..120, 1..5).prop_map(Op::ReplaceLive),
        4 => any::<u64>().prop_map(Op::Ack),
        2 => Just(Op::Commit),
        1 => Just(Op::Restart),
        1 => Just(Op::Kill),
        1 => Just(Op::DirAway),
        1 => Just(Op::RemoveDir),
        1 => proptest::collection::vec(1usize..120, 1..5).prop_map(Op::ReadErrors),
    ]
}

/// Collects records and acknowledges them at once, as a sink that always succeeds.
struct Collect {
    cp: Arc<Checkpoints>,
    lines: Vec<String>,
}

impl TailOutput for Collect {
    fn record(&mut self, fid: TrackedFileId, start: u64, end: u64, data: &[u8]) {
        self.lines.push(String::from_utf8(data.to_vec()).unwrap());
        self.cp.ack(fid, start, end);
    }
    fn skipped(&mut self, fid: TrackedFileId, start: u64, end: u64) {
        self.cp.ack(fid, start, end);
    }
    fn flush(&mut self) -> bool {
        true
    }
}

/// How long the tailer of these tests waits to tell a copy from a new file with the same start.
const COPY_WAIT_IN_TESTS: Duration = Duration::from_millis(150);

/// How long a held multi-line record of the model waits for more lines.
const MULTI_LINE_QUIET_IN_MODEL: Duration = Duration::from_millis(300);

fn tailer(dir: &Path, glob: &str, cp: &Arc<Checkpoints>) -> Tailer {
    tailer_with(dir, glob, cp, None, None)
}

/// A tailer whose records start at lines matching `multi_line_start` when given.
fn tailer_with(
    dir: &Path,
    glob: &str,
    cp: &Arc<Checkpoints>,
    multi_line_start: Option<&str>,
    footer: Option<&str>,
) -> Tailer {
    tailer_of(settings_with(dir, glob, multi_line_start, footer), cp)
}

fn tailer_of(settings: TailSettings, cp: &Arc<Checkpoints>) -> Tailer {
    let mut t = Tailer::new(
        settings,
        cp.clone(),
        Arc::new(AtomicBool::new(false)),
        Arc::new(TailStats::default()),
    );
    t.start();
    t
}

/// The settings of the tailers of these tests.
fn settings_with(
    dir: &Path,
    glob: &str,
    multi_line_start: Option<&str>,
    footer: Option<&str>,
) -> TailSettings {
    TailSettings {
        flow_id: format!("kinesis:s:{}/{glob}", dir.display()),
        pattern: FilePattern::new(dir, glob).unwrap(),
        start_at: StartAt::Beginning,
        split: SplitSettings {
            skip_header_lines: 0,
            multi_line_start: multi_line_start
                .map(|p| Arc::new(kinetail::java::regex::looking_at(p).unwrap())),
            // Long enough that a held record is only emitted by what follows it.
            multi_line_quiet: Duration::from_secs(600),
            footer: footer.map(|p| Arc::new(kinetail::java::regex::full_match(p, true).unwrap())),
            max_record: 1 << 20,
            aggregate_bytes: 0,
        },
        poll_interval: Duration::from_millis(1),
        refresh_interval: Duration::ZERO,
        read_chunk: 256,
        copy_wait: COPY_WAIT_IN_TESTS,
        open_files: OpenFiles::new(100_000),
        // Rotated files are closed as soon as they are done: every case reopens them.
        close_rotated_after: Duration::ZERO,
    }
}

/// A record in flight: sent, not yet acknowledged.
struct Sent {
    fid: TrackedFileId,
    start: u64,
    end: u64,
    text: String,
}

/// The stream as the model sees it: records in flight until an `Ack` picks them.
#[derive(Default)]
struct Stream {
    in_flight: Vec<Sent>,
    /// How many times each record was stored and acknowledged.
    delivered: HashMap<String, usize>,
}

impl TailOutput for Stream {
    fn record(&mut self, fid: TrackedFileId, start: u64, end: u64, data: &[u8]) {
        self.in_flight.push(Sent {
            fid,
            start,
            end,
            text: String::from_utf8(data.to_vec()).unwrap(),
        });
    }
    fn skipped(&mut self, _fid: TrackedFileId, _start: u64, _end: u64) {
        panic!("the model writes no lines to skip");
    }
    fn flush(&mut self) -> bool {
        true
    }
}

/// A small deterministic generator (the model must replay from its seed).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// The model: the files on disk, the agent (tailer and checkpoints) and the stream.
struct Model {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    live: PathBuf,
    cp_path: PathBuf,
    settings: TailSettings,
    cp: Arc<Checkpoints>,
    t: Tailer,
    stream: Stream,
    multi_line: bool,
    /// Records written, with how many times each (a shared head is written twice).
    written: HashMap<String, usize>,
    /// Records that may arrive more often than written, and why.
    may_repeat: HashMap<String, &'static str>,
    /// How many of a record's copies may never arrive: gone from disk (removed, truncated)
    /// before they were delivered, and lost in flight or never read.
    may_miss: HashMap<String, usize>,
    /// The records of files too short to fingerprint at the last commit.
    short_at_commit: Vec<String>,
    /// The shared heads of files made since the last commit (see `Op::Kill`).
    shared_uncommitted: Vec<String>,
    /// Every record `SharedHead` wrote into a second file (see `Op::Kill`).
    shared_records: std::collections::HashSet<String>,
    /// Acknowledged records the last group commit may not cover.
    acked_uncommitted: Vec<Sent>,
    rotated: Vec<PathBuf>,
    next_record: usize,
    next_rot: usize,
    next_shared: usize,
    /// Whether rotated names match the glob (`app.log*`), or only app.log does.
    copies_visible: bool,
}

impl Model {
    fn new(glob: &str, multi_line: bool) -> Model {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("logs");
        std::fs::create_dir(&dir).unwrap();
        let cp_path = tmp.path().join("checkpoints");
        let cp = Checkpoints::open(&cp_path, 7).unwrap();
        let mut settings = settings_with(&dir, glob, multi_line.then_some("L"), None);
        settings.split.multi_line_quiet = MULTI_LINE_QUIET_IN_MODEL;
        let t = tailer_of(settings.clone(), &cp);
        Model {
            live: dir.join("app.log"),
            _tmp: tmp,
            dir,
            cp_path,
            settings,
            cp,
            t,
            stream: Stream::default(),
            multi_line,
            written: HashMap::new(),
            may_repeat: HashMap::new(),
            may_miss: HashMap::new(),
            acked_uncommitted: vec![],
            short_at_commit: vec![],
            shared_uncommitted: vec![],
            shared_records: Default::default(),
            rotated: vec![],
            next_record: 0,
            next_rot: 1,
            next_shared: 1,
            copies_visible: glob != "app.log",
        }
    }

    /// A new record: one line, or in a multi-line flow a line and `len % 3` continuation lines.
    fn record(&mut self, len: usize, fill: char) -> String {
        let n = self.next_record;
        self.next_record += 1;
        let mut r = format!("L{n:05}{}\n", fill.to_string().repeat(len));
        if self.multi_line {
            for k in 0..len % 3 {
                r += &format!("  at frame {k} of {n}\n");
            }
        }
        r
    }

    /// Appends new records to `path` (creating it), counting them as written.
    fn append(&mut self, path: &Path, lens: &[usize], fill: char) {
        self.append_counted(path, lens, fill, true);
    }

    /// Appends new records to `path`; `counted`: they are expected to arrive.
    fn append_counted(&mut self, path: &Path, lens: &[usize], fill: char, counted: bool) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for &len in lens {
            let r = self.record(len, fill);
            f.write_all(r.as_bytes()).unwrap();
            if counted {
                *self.written.entry(r).or_default() += 1;
            }
        }
    }

    /// The records of a file's text (a multi-line record runs to the next line starting with L).
    fn records_of(&self, text: &str) -> Vec<String> {
        let mut out: Vec<String> = vec![];
        for line in text.split_inclusive('\n') {
            match out.last_mut() {
                Some(last) if self.multi_line && !line.starts_with('L') => *last += line,
                _ => out.push(line.to_owned()),
            }
        }
        out
    }

    /// The records in the files the glob matches now, with how many copies of each.
    fn on_disk(&self) -> HashMap<String, usize> {
        self.on_disk_in_files(|_| true)
    }

    /// The records in the files the glob matches now whose size `keep` accepts.
    fn on_disk_in_files(&self, keep: impl Fn(u64) -> bool) -> HashMap<String, usize> {
        let mut out = HashMap::new();
        for e in std::fs::read_dir(&self.dir).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let matches = match self.copies_visible {
                true => name.starts_with("app.log"),
                false => name == "app.log",
            };
            if matches && keep(std::fs::metadata(&path).unwrap().len()) {
                for r in self.records_of(&std::fs::read_to_string(&path).unwrap()) {
                    *out.entry(r).or_default() += 1;
                }
            }
        }
        out
    }

    /// Copies of records that can no longer arrive: written, but neither delivered nor in
    /// `still_available` (on disk, or in flight) nor already allowed to miss.
    fn allow_missing_beyond(&mut self, still_available: &HashMap<String, usize>) {
        for (r, &want) in &self.written {
            let have = self.stream.delivered.get(r).copied().unwrap_or(0)
                + still_available.get(r).copied().unwrap_or(0)
                + self.may_miss.get(r).copied().unwrap_or(0);
            if have < want {
                *self.may_miss.entry(r.clone()).or_default() += want - have;
            }
        }
    }

    fn truncate_live(&self) {
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&self.live)
            .unwrap();
    }

    /// A copy's records may arrive again when it is too short to fingerprint.
    fn note_short_copy(&mut self, content: &str) {
        if self.copies_visible && content.len() < 1024 {
            for r in self.records_of(content) {
                self.may_repeat.insert(r, "a copy too short to fingerprint");
            }
        }
    }

    /// The agent looks until a pass reads nothing.
    fn look(&mut self) -> Result<(), TestCaseError> {
        let mut passes = 0;
        while self.t.poll(&mut self.stream) == Some(true) {
            passes += 1;
            prop_assert!(passes < 10_000, "the tailer never stops reading");
        }
        Ok(())
    }

    fn ack(&mut self, picked: impl Fn(usize) -> bool) {
        let mut keep = vec![];
        for (i, s) in std::mem::take(&mut self.stream.in_flight)
            .into_iter()
            .enumerate()
        {
            if picked(i) {
                self.cp.ack(s.fid, s.start, s.end);
                *self.stream.delivered.entry(s.text.clone()).or_default() += 1;
                self.acked_uncommitted.push(s);
            } else {
                keep.push(s);
            }
        }
        self.stream.in_flight = keep;
    }

    fn commit(&mut self) {
        self.cp.persist(false).unwrap();
        self.note_short_files();
        let cp = &self.cp;
        self.acked_uncommitted
            .retain(|s| cp.committed(s.fid).is_none_or(|c| c < s.end));
    }

    /// The checkpoint of a file too short to fingerprint cannot be told apart from another
    /// file's: if it is copied and the agent killed, a restart reads the copy from 0.
    fn note_short_files(&mut self) {
        self.shared_uncommitted.clear();
        self.short_at_commit = self
            .on_disk_in_files(|size| size < 1024)
            .into_keys()
            .collect();
    }

    /// A new agent on what the checkpoint file holds.
    fn start_again(&mut self) {
        let cp = Checkpoints::open(&self.cp_path, 7).unwrap();
        self.t = tailer_of(self.settings.clone(), &cp);
        self.cp = cp;
        self.acked_uncommitted.clear();
    }

    fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
        let live = self.live.clone();
        match op {
            Op::Write(lens) => self.append(&live, &lens, 'x'),
            Op::Rename => {
                if live.exists() {
                    let to = self.dir.join(format!("app.log.{}", self.next_rot));
                    self.next_rot += 1;
                    std::fs::rename(&live, &to).unwrap();
                    self.rotated.push(to);
                }
            }
            Op::CopyTruncate => {
                if live.exists() {
                    let to = self.dir.join(format!("app.log.{}", self.next_rot));
                    self.next_rot += 1;
                    std::fs::copy(&live, &to).unwrap();
                    let content = std::fs::read_to_string(&to).unwrap();
                    self.note_short_copy(&content);
                    self.truncate_live();
                    self.rotated.push(to);
                }
            }
            Op::CopyTruncateSeenPartway(percent) => {
                if live.exists() {
                    let to = self.dir.join(format!("app.log.{}", self.next_rot));
                    self.next_rot += 1;
                    let content = std::fs::read(&live).unwrap();
                    let cut = content.len() * usize::from(percent) / 100;
                    std::fs::write(&to, &content[..cut]).unwrap();
                    self.look()?;
                    let mut f = std::fs::OpenOptions::new().append(true).open(&to).unwrap();
                    f.write_all(&content[cut..]).unwrap();
                    self.note_short_copy(&String::from_utf8(content).unwrap());
                    self.truncate_live();
                    self.rotated.push(to);
                }
            }
            Op::Truncate => {
                if live.exists() {
                    self.truncate_live();
                }
            }
            Op::Rewrite(extra) => {
                if live.exists() {
                    let old = std::fs::metadata(&live).unwrap().len() as usize;
                    self.truncate_live();
                    let mut lens = vec![];
                    let mut len = 0;
                    while len <= old || lens.len() < extra {
                        lens.push(lens.len() % 50 + 1);
                        len += 7 + lens.len() % 50;
                    }
                    self.append(&live, &lens, 'y');
                }
            }
            Op::WriteThenDeleteLive(lens) => {
                // Only a file the agent already follows can be read after its deletion.
                if live.exists() {
                    self.append(&live, &lens, 'z');
                    std::fs::remove_file(&live).unwrap();
                }
            }
            Op::ReplaceLive(lens) => {
                let new = self.dir.join("replacement.tmp");
                self.append(&new, &lens, 'r');
                std::fs::rename(&new, &live).unwrap();
            }
            Op::DeleteOldest => {
                if !self.rotated.is_empty() {
                    std::fs::remove_file(self.rotated.remove(0)).unwrap();
                }
            }
            Op::SharedHead(lens) => {
                if let Ok(text) = std::fs::read_to_string(&live) {
                    let mut head = String::new();
                    for r in self.records_of(&text) {
                        if head.len() >= 1024 || !r.ends_with('\n') {
                            break;
                        }
                        head += &r;
                    }
                    let path = self.dir.join(format!("app.log.shared{}", self.next_shared));
                    self.next_shared += 1;
                    std::fs::write(&path, &head).unwrap();
                    // Without copies visible, the glob does not match it: never sent.
                    let visible = self.copies_visible;
                    self.append_counted(&path, &lens, 's', visible);
                    if visible {
                        for r in self.records_of(&head) {
                            *self.written.entry(r.clone()).or_default() += 1;
                            self.shared_records.insert(r.clone());
                            self.shared_uncommitted.push(r);
                        }
                        // Its own lines after the shared part too (see `Op::Kill`).
                        let whole = std::fs::read_to_string(&path).unwrap();
                        let own = self.records_of(&whole[head.len()..]);
                        self.shared_uncommitted.extend(own);
                    }
                    // Told from a copy only after copy_wait: decided before the next rotation,
                    // which could make a copy of it.
                    self.look()?;
                    std::thread::sleep(COPY_WAIT_IN_TESTS + Duration::from_millis(20));
                    self.look()?;
                }
            }
            Op::Ack(seed) => {
                let mut rng = SplitMix(seed);
                let picks: Vec<bool> = (0..self.stream.in_flight.len())
                    .map(|_| !rng.next().is_multiple_of(3))
                    .collect();
                self.ack(|i| picks[i]);
            }
            Op::Commit => self.commit(),
            Op::Restart => {
                self.ack(|_| true);
                self.cp.persist(true).unwrap();
                self.note_short_files();
                self.start_again();
            }
            Op::Kill => {
                // What was read but not delivered is read again after the restart, from the
                // files that still hold it; records no file the glob matches holds are gone.
                let mut on_disk = self.on_disk();
                // Records are counted, not told apart by file: a record SharedHead put in two
                // files may have been delivered from the one still on disk (and be behind its
                // checkpoint), while the other copy, read and lost in flight, left the disk.
                for r in &self.shared_records {
                    if let Some(n) = on_disk.get_mut(r) {
                        *n = n.saturating_sub(self.stream.delivered.get(r).copied().unwrap_or(0));
                    }
                }
                self.allow_missing_beyond(&on_disk);
                // A file that shares app.log's first KiB and was never committed, app.log
                // truncated since (before or after the restart): after the restart it is what a
                // copytruncate made while the agent was down looks like, and is resumed at
                // app.log's offset, or at its own end when shorter: any of its records, the
                // shared ones and its own after them, may be missing.
                for r in std::mem::take(&mut self.shared_uncommitted) {
                    *self.may_miss.entry(r).or_default() += 1;
                }
                for r in &self.short_at_commit {
                    self.may_repeat.insert(
                        r.clone(),
                        "in a file too short to fingerprint at the last commit, then a kill",
                    );
                }
                for s in &self.acked_uncommitted {
                    self.may_repeat.insert(
                        s.text.clone(),
                        "acknowledged after the last commit, then a kill",
                    );
                }
                self.stream.in_flight.clear();
                self.start_again();
            }
            Op::DirAway => {
                let away = self.dir.with_extension("away");
                std::fs::rename(&self.dir, &away).unwrap();
                self.look()?;
                std::fs::rename(&away, &self.dir).unwrap();
            }
            Op::RemoveDir => {
                // What was read is in flight and still arrives; the rest may be lost.
                let mut in_flight: HashMap<String, usize> = HashMap::new();
                for s in &self.stream.in_flight {
                    *in_flight.entry(s.text.clone()).or_default() += 1;
                }
                self.allow_missing_beyond(&in_flight);
                std::fs::remove_dir_all(&self.dir).unwrap();
                std::fs::create_dir(&self.dir).unwrap();
                self.rotated.clear();
            }
            Op::ReadErrors(lens) => {
                self.t.inject_read_errors(Some(std::io::ErrorKind::Other));
                self.look()?;
                if live.exists() {
                    self.append(&live, &lens, 'e');
                }
                self.look()?;
                self.t.inject_read_errors(None);
            }
        }
        // The agent looks after every step and reads until nothing is left (a pass reads at
        // most CHUNKS_PER_TURN chunks per file, as in production, where the loop goes on while it
        // progresses).
        self.look()
    }

    /// Everything in flight is acknowledged and every decision that waits is taken, until the
    /// agent has nothing left to send.
    fn settle(&mut self) -> Result<(), TestCaseError> {
        let wait = COPY_WAIT_IN_TESTS.max(MULTI_LINE_QUIET_IN_MODEL) + Duration::from_millis(20);
        for _ in 0..20 {
            self.ack(|_| true);
            std::thread::sleep(wait);
            self.look()?;
            if self.stream.in_flight.is_empty() {
                return Ok(());
            }
        }
        prop_assert!(false, "the agent kept sending");
        Ok(())
    }

    fn check(&self) -> Result<(), TestCaseError> {
        for (r, &want) in &self.written {
            let got = self.stream.delivered.get(r).copied().unwrap_or(0);
            prop_assert!(
                got + self.may_miss.get(r).copied().unwrap_or(0) >= want,
                "record {:?} arrived {got} times of {want}",
                r.trim_end()
            );
            prop_assert!(
                got <= want || self.may_repeat.contains_key(r),
                "record {:?} arrived {got} times of {want}",
                r.trim_end()
            );
        }
        for r in self.stream.delivered.keys() {
            prop_assert!(
                self.written.get(r).is_some_and(|&n| n > 0),
                "record {:?} was never written",
                r.trim_end()
            );
        }
        Ok(())
    }
}

fn run_model(ops: Vec<Op>, glob: &str, multi_line: bool) -> Result<(), TestCaseError> {
    let mut m = Model::new(glob, multi_line);
    for op in ops {
        m.apply(op)?;
    }
    m.settle()?;
    m.check()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Rotated files keep matching the glob (`app.log*`): they are followed under their new names.
    #[test]
    fn nothing_lost_when_rotations_match(ops in proptest::collection::vec(op(), 1..40)) {
        run_model(ops, "app.log*", false)?;
    }

    /// Only the live name matches (`app.log`): a renamed file is read to its end, then dropped.
    #[test]
    fn nothing_lost_when_only_the_live_name_matches(ops in proptest::collection::vec(op(), 1..40)) {
        run_model(ops, "app.log", false)?;
    }

    /// Records of several lines (`multiLineStartPattern`), held until the next one starts.
    #[test]
    fn nothing_lost_with_multi_line_records(ops in proptest::collection::vec(op(), 1..40)) {
        run_model(ops, "app.log*", true)?;
    }
}

/// Found by the model: a rotated file is read, closed and deleted; the copy of the next
/// copytruncate gets its inode (file systems hand a freed inode out again), and was taken for
/// the deleted file renamed and rewritten: read from 0 as new, while its records were sent from
/// the live file already.
#[test]
fn a_copy_on_the_inode_of_a_deleted_rotated_file_is_not_read_again() {
    let ops = vec![
        Op::Write(vec![1]),
        Op::Rename,
        Op::WriteThenDeleteLive(vec![1]),
        // Acknowledged, the rotated file is done with and closed.
        Op::Ack(1913304582015199782),
        Op::Write(vec![115, 30, 68, 116, 69, 85, 44, 65, 108, 50, 79, 111]),
        Op::DeleteOldest,
        Op::CopyTruncateSeenPartway(48),
    ];
    run_model(ops, "app.log*", false).unwrap();
}

/// Found by the model: the live file was empty at the last commit (just truncated); after a
/// kill, a rotation's copy gets its inode, and the empty entry (which any content starts like)
/// made it "resume" at 0 without the copy check: its records were sent again.
#[test]
fn a_copy_on_the_inode_of_a_file_empty_at_the_last_commit_is_not_read_again() {
    let ops = vec![
        Op::Write(vec![1]),
        Op::CopyTruncate,
        Op::Commit,
        Op::ReplaceLive(vec![104, 47]),
        Op::Write(vec![11, 86, 19, 1, 91, 38, 13, 44, 65, 17, 19]),
        Op::Kill,
        Op::CopyTruncate,
    ];
    run_model(ops, "app.log*", true).unwrap();
}

/// Found by the model: the live file is truncated to nothing, rotated, and deleted once closed;
/// the copy of the next copytruncate gets its inode. With no first bytes to compare (the file was
/// empty when last read), it was taken for the deleted file renamed and read from 0, while its
/// records were sent from the live file already.
#[test]
fn a_copy_on_the_inode_of_a_deleted_file_empty_when_last_read_is_not_read_again() {
    let ops = vec![
        Op::Write(vec![1]),
        Op::Truncate,
        Op::Rename,
        Op::Write(vec![
            112, 31, 42, 3, 107, 8, 108, 72, 29, 56, 21, 24, 94, 102, 40, 63,
        ]),
        Op::DeleteOldest,
        Op::CopyTruncate,
    ];
    run_model(ops, "app.log*", false).unwrap();
}

/// Polls until a pass reads nothing, then once more after `quiet` (for decisions that wait).
fn drain(t: &mut Tailer, out: &mut Collect, quiet: Duration) {
    for _ in 0..2 {
        let mut passes = 0;
        while t.poll(out) == Some(true) {
            passes += 1;
            assert!(passes < 10_000, "the tailer never stops reading");
        }
        std::thread::sleep(quiet);
    }
}

/// A logs directory and a checkpoint file in a temporary directory.
struct Fixture {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    cp_path: PathBuf,
    cp: Arc<Checkpoints>,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("logs");
        std::fs::create_dir(&dir).unwrap();
        let cp_path = tmp.path().join("checkpoints");
        let cp = Checkpoints::open(&cp_path, 7).unwrap();
        Fixture {
            _tmp: tmp,
            dir,
            cp_path,
            cp,
        }
    }

    /// An output that acknowledges every record at once.
    fn collect(&self) -> Collect {
        Collect {
            cp: self.cp.clone(),
            lines: vec![],
        }
    }
}

/// The first line of the CSV files of the next tests (~1.5 KiB): longer than the fingerprint.
fn long_header() -> String {
    (0..150)
        .map(|i| format!("column_{i:03},"))
        .collect::<String>()
        + "\n"
}

/// Rows `from..to` of a CSV file tagged `tag`.
fn tagged_rows(tag: &str, from: usize, to: usize) -> Vec<String> {
    (from..to)
        .map(|i| format!("{tag}-{i:05},{}\n", "v".repeat(i % 40)))
        .collect()
}

/// Writes the CSV export `name` into `dir`: the long header, then `rows`.
fn write_export(dir: &Path, name: &str, rows: &[String]) {
    std::fs::write(dir.join(name), long_header() + &rows.concat()).unwrap();
}

impl Collect {
    /// How many times `line` arrived.
    fn times(&self, line: &str) -> usize {
        self.lines.iter().filter(|l| *l == line).count()
    }

    /// Each of `rows` arrived exactly once, and the long header `headers` times.
    fn assert_once_each(&self, rows: &[String], headers: usize) {
        for line in rows {
            let n = self.times(line);
            assert_eq!(n, 1, "{} arrived {n} times", line.trim_end());
        }
        assert_eq!(self.times(&long_header()), headers);
    }
}

/// Two different CSV exports with the same 1.5 KiB header: the second one, dropped into the
/// directory after the first was read, is a new file, not a copy of the first; all of it arrives.
#[test]
fn files_sharing_their_first_kib_are_different_files() {
    let f = Fixture::new();
    let dir = &f.dir;
    let mut t = tailer(dir, "*.csv", &f.cp);
    let mut out = f.collect();
    assert!(long_header().len() > 1536);
    let (a, b) = (tagged_rows("a", 0, 400), tagged_rows("b", 0, 600));
    write_export(dir, "a.csv", &a);
    drain(&mut t, &mut out, COPY_WAIT_IN_TESTS);
    write_export(dir, "b.csv", &b);
    drain(&mut t, &mut out, COPY_WAIT_IN_TESTS);
    out.assert_once_each(&[a, b].concat(), 2);
}

/// A file that starts like a followed one but differs from it soon after is no copy of it: it
/// is read at once, not after the copy wait. Short-lived exports with one long header were read
/// only once the wait was over, and a kill in that while lost those deleted meanwhile (found by
/// the soak test, `tests/e2e/soak.rs`).
#[test]
fn a_file_that_starts_like_a_followed_one_but_differs_is_read_at_once() {
    let f = Fixture::new();
    let dir = &f.dir;
    let mut t = tailer(dir, "*.csv", &f.cp);
    let mut out = f.collect();
    let (a, b) = (tagged_rows("a", 0, 300), tagged_rows("b", 0, 300));
    write_export(dir, "a.csv", &a);
    drain(&mut t, &mut out, COPY_WAIT_IN_TESTS);
    write_export(dir, "b.csv", &b);
    let seen = std::time::Instant::now();
    while !out.lines.iter().any(|l| l.starts_with("b-")) {
        assert!(
            seen.elapsed() < COPY_WAIT_IN_TESTS / 2,
            "b.csv waited as if it could be a copy of a.csv"
        );
        t.poll(&mut out);
        std::thread::sleep(Duration::from_millis(2));
    }
    std::fs::remove_file(dir.join("b.csv")).unwrap();
    drain(&mut t, &mut out, COPY_WAIT_IN_TESTS);
    out.assert_once_each(&[a, b].concat(), 2);
}

/// After a kill, the checkpoint file may hold two entries for one inode that both start like
/// the file on it: a stale one, of a file deleted before (its inode reused, the same first KiB),
/// and the file's own. The one whose bytes before its offset are the file's is resumed; taking
/// the stale one first re-read the whole file (found by the soak test's kill variant, which
/// ended with dozens of such entries).
#[test]
fn of_two_checkpoints_on_one_inode_the_one_whose_bytes_match_is_resumed() {
    let f = Fixture::new();
    let dir = &f.dir;
    let mut t = tailer(dir, "*.csv", &f.cp);
    let mut out = f.collect();
    write_export(dir, "b.csv", &tagged_rows("b", 0, 300));
    drain(&mut t, &mut out, COPY_WAIT_IN_TESTS);
    assert_eq!(out.lines.len(), 301);
    f.cp.persist(true).unwrap();
    drop(t);
    // The stale entry: another path, the same device, inode and first KiB, other bytes before
    // its offset; listed first (the file is sorted by path).
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&f.cp_path).unwrap()).unwrap();
    let flow = state["flows"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .next()
        .unwrap();
    let files = flow["files"].as_array_mut().unwrap();
    assert_eq!(files.len(), 1);
    let mut stale = files[0].clone();
    stale["path"] = "/a-deleted-export.csv".into();
    stale["before"]["md5"] = "00000000000000000000000000000000".into();
    files.insert(0, stale);
    std::fs::write(&f.cp_path, serde_json::to_string(&state).unwrap()).unwrap();
    // The next run, as after a kill.
    let cp = Checkpoints::open(&f.cp_path, 7).unwrap();
    let mut t = tailer(dir, "*.csv", &cp);
    let mut out = Collect {
        cp: cp.clone(),
        lines: vec![],
    };
    drain(&mut t, &mut out, COPY_WAIT_IN_TESTS);
    assert_eq!(
        out.lines.len(),
        0,
        "b.csv was read again: {:?}",
        &out.lines[..3.min(out.lines.len())]
    );
}

/// A file that could be a copy of a followed one (the same first 64 KiB) waits to be told from
/// one; deleted during that wait, it is read from the descriptor held meanwhile, whole: what it
/// shares with the followed file may arrive twice, what it does not arrives.
#[test]
fn a_file_deleted_while_it_waits_to_be_told_from_a_copy_is_read() {
    let f = Fixture::new();
    let dir = &f.dir;
    let mut t = tailer(dir, "*.csv", &f.cp);
    let mut out = f.collect();
    let shared = tagged_rows("a", 0, 3000);
    assert!(shared.concat().len() > 64 * 1024);
    write_export(dir, "a.csv", &shared);
    drain(&mut t, &mut out, COPY_WAIT_IN_TESTS);
    let own = tagged_rows("b", 0, 300);
    write_export(dir, "b.csv", &[shared.clone(), own.clone()].concat());
    // Seen, and waiting: its first 64 KiB are a.csv's, which is followed and not truncated.
    for _ in 0..3 {
        t.poll(&mut out);
        std::thread::sleep(COPY_WAIT_IN_TESTS / 10);
    }
    assert!(
        !out.lines.iter().any(|l| l.starts_with("b-")),
        "b.csv was read before its wait was over"
    );
    std::fs::remove_file(dir.join("b.csv")).unwrap();
    drain(&mut t, &mut out, COPY_WAIT_IN_TESTS);
    for line in &shared {
        let n = out.times(line);
        assert!(n >= 1, "{} arrived {n} times", line.trim_end());
    }
    for line in &own {
        let n = out.times(line);
        assert_eq!(n, 1, "{} arrived {n} times", line.trim_end());
    }
}

/// logrotate's copytruncate seen part-way: the copy appears (even half written) before the live
/// file is truncated. The copy is waited for, recognised once the truncation shows, and resumed
/// where the original was read: every line arrives exactly once.
#[test]
fn a_copy_seen_before_the_truncation_or_half_written_is_not_read_again() {
    for half_written in [false, true] {
        let f = Fixture::new();
        let dir = &f.dir;
        let mut t = tailer(dir, "app.log*", &f.cp);
        let mut out = f.collect();
        let live = dir.join("app.log");
        let lines: Vec<String> = (0..200)
            .map(|i| format!("line {i:04} {}\n", "p".repeat(i % 30)))
            .collect();
        std::fs::write(&live, lines[..150].concat()).unwrap();
        drain(&mut t, &mut out, Duration::ZERO);
        let content = std::fs::read(&live).unwrap();
        let copy = dir.join("app.log.1");
        let first = if half_written {
            content.len() / 2
        } else {
            content.len()
        };
        std::fs::write(&copy, &content[..first]).unwrap();
        t.poll(&mut out);
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&live)
            .unwrap();
        t.poll(&mut out);
        std::fs::write(&copy, &content).unwrap();
        std::fs::write(&live, lines[150..].concat()).unwrap();
        drain(&mut t, &mut out, COPY_WAIT_IN_TESTS);
        for line in &lines {
            let n = out.lines.iter().filter(|l| *l == line).count();
            assert_eq!(
                n,
                1,
                "half written {half_written}: {} arrived {n} times",
                line.trim_end()
            );
        }
    }
}

/// A multi-line record held (waiting for the next start line) when the file is copytruncated is
/// sent, once: it is complete, and the copy is resumed past it.
#[test]
fn a_held_multi_line_record_survives_copytruncate() {
    for copies_visible in [true, false] {
        let f = Fixture::new();
        let dir = &f.dir;
        let glob = if copies_visible {
            "app.log*"
        } else {
            "app.log"
        };
        let mut t = tailer_with(dir, glob, &f.cp, Some("START"), None);
        let mut out = f.collect();
        let live = dir.join("app.log");
        let record = |i: usize| {
            format!(
                "START {i:04} {}
  at frame one
  at frame two
",
                "s".repeat(i % 50)
            )
        };
        let first: String = (0..60).map(record).collect();
        std::fs::write(&live, &first).unwrap();
        drain(&mut t, &mut out, Duration::ZERO);
        std::fs::copy(&live, dir.join("app.log.1")).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&live)
            .unwrap();
        drain(&mut t, &mut out, COPY_WAIT_IN_TESTS);
        let second: String = (60..80).map(record).collect();
        std::fs::write(&live, &second).unwrap();
        drain(&mut t, &mut out, Duration::ZERO);
        // The last record is held by design (nothing follows it yet); every other one arrives once.
        for i in 0..79 {
            let n = out.lines.iter().filter(|l| **l == record(i)).count();
            assert_eq!(
                n, 1,
                "copies visible {copies_visible}: record {i} arrived {n} times"
            );
        }
    }
}

/// Collects records without acknowledging them: they are in flight until `ack_first` says so.
struct InFlight {
    cp: Arc<Checkpoints>,
    records: Vec<(TrackedFileId, u64, u64, String)>,
}

impl InFlight {
    fn ack_first(&mut self, n: usize) {
        for (fid, start, end, _) in self.records.drain(..n) {
            self.cp.ack(fid, start, end);
        }
    }
}

impl TailOutput for InFlight {
    fn record(&mut self, fid: TrackedFileId, start: u64, end: u64, data: &[u8]) {
        self.records
            .push((fid, start, end, String::from_utf8(data.to_vec()).unwrap()));
    }
    fn skipped(&mut self, fid: TrackedFileId, start: u64, end: u64) {
        self.cp.ack(fid, start, end);
    }
    fn flush(&mut self) -> bool {
        true
    }
}

/// Records in flight when the file is copytruncated, then a kill: the copy's checkpoint is what
/// the stream acknowledged, not what was read, so after the restart every unacknowledged line is
/// sent again; acknowledgements that arrive after the truncation still count.
#[test]
fn records_in_flight_at_a_copytruncate_survive_a_kill() {
    for acked_before_kill in [0usize, 40] {
        let f = Fixture::new();
        let dir = &f.dir;
        let cp = f.cp.clone();
        let mut t = tailer(dir, "app.log*", &cp);
        let mut in_flight = InFlight {
            cp: cp.clone(),
            records: vec![],
        };
        let live = dir.join("app.log");
        let lines: Vec<String> = (0..100)
            .map(|i| format!("line {i:04} {}\n", "q".repeat(i % 30)))
            .collect();
        std::fs::write(&live, lines.concat()).unwrap();
        while t.poll(&mut in_flight) == Some(true) {}
        assert_eq!(in_flight.records.len(), 100);
        std::fs::copy(&live, dir.join("app.log.1")).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&live)
            .unwrap();
        for _ in 0..3 {
            while t.poll(&mut in_flight) == Some(true) {}
            std::thread::sleep(COPY_WAIT_IN_TESTS);
        }
        // Some acks arrive late, after the truncation and the copy were seen.
        in_flight.ack_first(acked_before_kill);
        // Killed: only what the group commit wrote survives, and the rest is never acknowledged.
        cp.persist(true).unwrap();
        drop(t);
        let cp = Checkpoints::open(&f.cp_path, 7).unwrap();
        let mut t = tailer(dir, "app.log*", &cp);
        let mut out = Collect {
            cp: cp.clone(),
            lines: vec![],
        };
        drain(&mut t, &mut out, COPY_WAIT_IN_TESTS);
        for (i, line) in lines.iter().enumerate() {
            let n = out.lines.iter().filter(|l| *l == line).count();
            let want = usize::from(i >= acked_before_kill);
            assert_eq!(
                n, want,
                "acked {acked_before_kill}: line {i} arrived {n} times after the restart"
            );
        }
    }
}

/// The directory disappears for a moment (an unmounted volume, a directory moved away and
/// back): its files are not taken as gone, and nothing is sent again when it returns.
#[test]
fn a_briefly_missing_directory_does_not_resend_its_files() {
    let f = Fixture::new();
    let dir = &f.dir;
    let mut t = tailer(dir, "*.log", &f.cp);
    let mut out = f.collect();
    let lines = |tag: &str, n: usize| -> Vec<String> {
        (0..n)
            .map(|i| format!("{tag} {i:04} {}\n", "m".repeat(i % 20)))
            .collect()
    };
    let first = lines("first", 80);
    std::fs::write(dir.join("a.log"), first.concat()).unwrap();
    std::fs::write(dir.join("b.log"), lines("other", 30).concat()).unwrap();
    drain(&mut t, &mut out, Duration::ZERO);
    let away = dir.with_extension("away");
    std::fs::rename(dir, &away).unwrap();
    drain(&mut t, &mut out, Duration::from_millis(20));
    std::fs::rename(&away, dir).unwrap();
    let second = lines("second", 40);
    let mut a = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("a.log"))
        .unwrap();
    a.write_all(second.concat().as_bytes()).unwrap();
    drain(&mut t, &mut out, COPY_WAIT_IN_TESTS);
    for line in first.iter().chain(&second).chain(&lines("other", 30)) {
        let n = out.lines.iter().filter(|l| *l == line).count();
        assert_eq!(n, 1, "{} arrived {n} times", line.trim_end());
    }
}

/// A listing taken while logrotate shifts app.log.9 to app.log.10 may show neither name (seen in
/// a run of `tests/e2e/logrotate.rs`: a rotated file sent twice whole). A file missing from one
/// listing and back under another name at the next is the same file, open or closed.
#[test]
fn a_file_missing_from_one_listing_is_not_sent_again() {
    for closed in [false, true] {
        let f = Fixture::new();
        let dir = &f.dir;
        let mut settings = settings_with(dir, "app.log*", None, None);
        if !closed {
            settings.close_rotated_after = Duration::from_secs(600);
        }
        let mut t = tailer_of(settings, &f.cp);
        let mut out = f.collect();
        let lines: Vec<String> = (0..50).map(|i| format!("rotated {i:04}\n")).collect();
        std::fs::write(dir.join("app.log.9"), lines.concat()).unwrap();
        drain(&mut t, &mut out, Duration::ZERO);
        // Out of the listing for one look (a name the glob does not match), then back.
        std::fs::rename(dir.join("app.log.9"), dir.join("shifting")).unwrap();
        t.poll(&mut out);
        std::fs::rename(dir.join("shifting"), dir.join("app.log.10")).unwrap();
        drain(&mut t, &mut out, COPY_WAIT_IN_TESTS);
        for line in &lines {
            let n = out.lines.iter().filter(|l| *l == line).count();
            assert_eq!(
                n,
                1,
                "closed {closed}: {} arrived {n} times",
                line.trim_end()
            );
        }
    }
}

/// After its `fileFooterPattern` line nothing more of a file is sent, also after a restart.
#[test]
fn the_footer_still_ends_the_file_after_a_restart() {
    let f = Fixture::new();
    let dir = &f.dir;
    let mut t = tailer_with(dir, "*.log", &f.cp, None, Some("END OF REPORT"));
    let mut out = f.collect();
    let path = dir.join("report.log");
    std::fs::write(&path, "row 1\nrow 2\nEND OF REPORT\nafter 1\n").unwrap();
    drain(&mut t, &mut out, Duration::ZERO);
    f.cp.persist(true).unwrap();
    drop(t);
    let cp = Checkpoints::open(&f.cp_path, 7).unwrap();
    let mut t = tailer_with(dir, "*.log", &cp, None, Some("END OF REPORT"));
    out.cp = cp.clone();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    file.write_all(b"after 2\n").unwrap();
    drain(&mut t, &mut out, Duration::ZERO);
    assert_eq!(out.lines, vec!["row 1\n", "row 2\n"]);
}

/// How many descriptors of this process are open on `p` (`deleted`: on `p` once deleted).
fn descriptors_on(p: &Path, deleted: bool) -> usize {
    let want = match deleted {
        true => PathBuf::from(format!("{} (deleted)", p.display())),
        false => p.to_owned(),
    };
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| *target == want)
        .count()
}

/// A followed file that is gone (deleted) and can no longer be read (EIO, a stale NFS handle)
/// is let go: its descriptor, and so the deleted file's disk space, and its checkpoint entry.
#[test]
fn a_gone_file_that_cannot_be_read_is_let_go() {
    let f = Fixture::new();
    let dir = &f.dir;
    let mut t = tailer(dir, "*.log", &f.cp);
    let mut out = f.collect();
    let path = dir.join("app.log");
    std::fs::write(&path, "one\ntwo\n").unwrap();
    std::fs::write(dir.join("other.log"), "three\n").unwrap();
    drain(&mut t, &mut out, Duration::ZERO);
    assert_eq!(out.lines.len(), 3);
    assert_eq!(descriptors_on(&path, false), 1);
    std::fs::remove_file(&path).unwrap();
    t.inject_read_errors(Some(std::io::ErrorKind::Other));
    drain(&mut t, &mut out, Duration::from_millis(20));
    assert_eq!(
        descriptors_on(&path, true),
        0,
        "the deleted file is still open"
    );
    f.cp.persist(true).unwrap();
    let stored = kinetail::checkpoint::store::read(&f.cp_path).unwrap();
    let paths: Vec<&Path> = stored
        .flows
        .values()
        .flat_map(|fl| fl.files.iter().map(|s| s.path.as_path()))
        .collect();
    assert_eq!(paths, [dir.join("other.log").as_path()]);
    // A file still listed is kept however its reads fail, and read again once they work.
    std::fs::write(dir.join("other.log"), "three\nfour\n").unwrap();
    drain(&mut t, &mut out, Duration::from_millis(20));
    t.inject_read_errors(None);
    drain(&mut t, &mut out, Duration::ZERO);
    assert_eq!(out.lines.last().map(String::as_str), Some("four\n"));
}

/// logrotate's copytruncate as the real one shows itself (found by `tests/e2e/logrotate.rs`):
/// the copy is first seen empty, just created; or it lacks lines that the writer appended after
/// it was made and before the truncation, which were read from the original. Neither copy is
/// read again from the start.
#[test]
fn a_copy_seen_empty_or_missing_the_last_lines_is_not_read_again() {
    for missing_last_lines in [false, true] {
        let f = Fixture::new();
        let dir = &f.dir;
        let mut t = tailer(dir, "app.log*", &f.cp);
        let mut out = f.collect();
        let live = dir.join("app.log");
        let lines: Vec<String> = (0..260)
            .map(|i| format!("line {i:04} {}\n", "q".repeat(i % 30)))
            .collect();
        std::fs::write(&live, lines[..150].concat()).unwrap();
        drain(&mut t, &mut out, Duration::ZERO);
        let copy = dir.join("app.log.1");
        let copied = std::fs::read(&live).unwrap();
        std::fs::write(&copy, b"").unwrap();
        t.poll(&mut out);
        std::fs::write(&copy, &copied).unwrap();
        if missing_last_lines {
            // Appended between the copy and the truncation: read from the original only.
            let mut a = std::fs::OpenOptions::new()
                .append(true)
                .open(&live)
                .unwrap();
            a.write_all(lines[150..160].concat().as_bytes()).unwrap();
            drain(&mut t, &mut out, Duration::ZERO);
        }
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&live)
            .unwrap();
        std::fs::write(&live, lines[160..].concat()).unwrap();
        drain(&mut t, &mut out, COPY_WAIT_IN_TESTS * 2);
        for (i, line) in lines.iter().enumerate() {
            let n = out.lines.iter().filter(|l| *l == line).count();
            let want = usize::from(missing_last_lines || !(150..160).contains(&i));
            assert_eq!(
                n,
                want,
                "missing last lines {missing_last_lines}: {} arrived {n} times",
                line.trim_end()
            );
        }
        // After a restart nothing is read again, the short copy included.
        f.cp.persist(true).unwrap();
        drop(t);
        let cp = Checkpoints::open(&f.cp_path, 7).unwrap();
        let mut t = tailer(dir, "app.log*", &cp);
        out.cp = cp.clone();
        let before = out.lines.len();
        drain(&mut t, &mut out, COPY_WAIT_IN_TESTS * 2);
        assert_eq!(
            &out.lines[before..],
            &[] as &[String],
            "missing last lines {missing_last_lines}: read again after a restart"
        );
    }
}

/// Counts the records of a running tailer and acknowledges them at once.
struct Count {
    cp: Arc<Checkpoints>,
    records: Arc<std::sync::atomic::AtomicUsize>,
}

impl TailOutput for Count {
    fn record(&mut self, fid: TrackedFileId, start: u64, end: u64, _data: &[u8]) {
        self.records
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.cp.ack(fid, start, end);
    }
    fn skipped(&mut self, fid: TrackedFileId, start: u64, end: u64) {
        self.cp.ack(fid, start, end);
    }
    fn flush(&mut self) -> bool {
        true
    }
}

/// With many files followed, a write to one wakes the tailer to look at that one (and the few
/// it was busy with), not to stat every followed file: idle files cost nothing per wake-up.
#[test]
fn a_write_to_one_of_many_files_looks_at_that_file_only() {
    use std::sync::atomic::Ordering;
    let f = Fixture::new();
    if !kinetail::tail::discover::DirWatch::new(&f.dir).active() {
        return; // no inotify here: polling looks at every file by design
    }
    let files = 2000;
    for i in 0..files {
        std::fs::write(f.dir.join(format!("f{i:04}.log")), format!("first {i}\n")).unwrap();
    }
    let mut settings = settings_with(&f.dir, "*.log", None, None);
    settings.refresh_interval = Duration::from_secs(600);
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(TailStats::default());
    let t = Tailer::new(settings, f.cp.clone(), stop.clone(), stats.clone());
    let waker = t.waker();
    let records = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut out = Count {
        cp: f.cp.clone(),
        records: records.clone(),
    };
    let running = std::thread::spawn(move || t.run(&mut out));
    let wait_for = |n: usize| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while records.load(Ordering::Relaxed) < n {
            assert!(
                std::time::Instant::now() < deadline,
                "only {records:?} of {n} records"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for(files);
    std::thread::sleep(Duration::from_millis(100));
    let before = stats.file_checks.load(Ordering::Relaxed);
    let writes = 20;
    let busy = f.dir.join("f0007.log");
    for w in 0..writes {
        let mut a = std::fs::OpenOptions::new()
            .append(true)
            .open(&busy)
            .unwrap();
        a.write_all(format!("more {w}\n").as_bytes()).unwrap();
        drop(a);
        wait_for(files + w + 1);
    }
    let checks = stats.file_checks.load(Ordering::Relaxed) - before;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    waker.wake();
    running.join().unwrap();
    // Each write: a look at the written file, and one more at it while it is active.
    assert!(
        checks <= writes as u64 * 10,
        "{checks} file checks for {writes} writes to one of {files} files"
    );
}

/// A rotated file read to its end and acknowledged is closed (here at once; by default after
/// `rotatedFileCloseMillis`), and reopened by path when it is written again.
#[test]
fn a_rotated_file_is_closed_once_done_and_reopened_when_written() {
    let f = Fixture::new();
    let dir = &f.dir;
    let mut t = tailer(dir, "app.log*", &f.cp);
    let mut out = f.collect();
    let live = dir.join("app.log");
    let rotated = dir.join("app.log.1");
    std::fs::write(&live, "one\ntwo\n").unwrap();
    drain(&mut t, &mut out, Duration::ZERO);
    std::fs::rename(&live, &rotated).unwrap();
    std::fs::write(&live, "three\n").unwrap();
    drain(&mut t, &mut out, Duration::ZERO);
    assert_eq!(
        descriptors_on(&rotated, false),
        0,
        "the rotated file is still open"
    );
    assert_eq!(
        descriptors_on(&live, false),
        1,
        "the live file is not rotated: it stays open"
    );
    // A writer that kept the old descriptor appends to the rotated file.
    let mut a = std::fs::OpenOptions::new()
        .append(true)
        .open(&rotated)
        .unwrap();
    a.write_all(b"late\n").unwrap();
    drain(&mut t, &mut out, Duration::ZERO);
    assert_eq!(out.lines, ["one\n", "two\n", "three\n", "late\n"]);
}

/// One fast file cannot starve the others: a pass reads a bounded share of each file, so a line
/// written to a quiet file is read in the same pass as the first part of a large backlog.
#[test]
fn a_large_backlog_does_not_hold_up_another_file() {
    let f = Fixture::new();
    let dir = &f.dir;
    let mut t = tailer(dir, "*.log", &f.cp);
    let mut out = f.collect();
    let backlog: String = (0..5_000).map(|i| format!("backlog {i:06}\n")).collect();
    std::fs::write(dir.join("busy.log"), &backlog).unwrap();
    std::fs::write(dir.join("quiet.log"), "quiet one\n").unwrap();
    assert_eq!(t.poll(&mut out), Some(true));
    assert!(
        out.lines.iter().any(|l| l == "quiet one\n"),
        "the quiet file's line waited for the backlog"
    );
    let busy_read = out
        .lines
        .iter()
        .filter(|l| l.starts_with("backlog"))
        .count();
    assert!(
        busy_read > 0 && busy_read < 5_000,
        "one pass read {busy_read} of the 5,000 backlog lines"
    );
    drain(&mut t, &mut out, Duration::ZERO);
    assert_eq!(out.lines.len(), 5_001);
}

/// How far behind the destination a flow is: bytes not acknowledged (read or not) and the age of
/// the oldest record read and not acknowledged, for the status endpoint.
#[test]
fn unacknowledged_bytes_and_the_oldest_record_age_follow_the_acks() {
    let f = Fixture::new();
    let stats = Arc::new(TailStats::default());
    let mut t = Tailer::new(
        settings_with(&f.dir, "*.log", None, None),
        f.cp.clone(),
        Arc::new(AtomicBool::new(false)),
        stats.clone(),
    );
    t.start();
    let mut in_flight = InFlight {
        cp: f.cp.clone(),
        records: vec![],
    };
    let text: String = (0..100).map(|i| format!("line {i:04}\n")).collect();
    std::fs::write(f.dir.join("a.log"), &text).unwrap();
    while t.poll(&mut in_flight) == Some(true) {}
    let load = |v: &std::sync::atomic::AtomicU64| v.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(load(&stats.bytes_unacknowledged), text.len() as u64);
    std::thread::sleep(Duration::from_millis(300));
    t.poll(&mut in_flight);
    let age = load(&stats.oldest_unacknowledged_millis);
    assert!(
        (300..5_000).contains(&age),
        "oldest unacknowledged: {age} ms"
    );
    in_flight.ack_first(50);
    t.poll(&mut in_flight);
    assert_eq!(load(&stats.bytes_unacknowledged), 50 * 10);
    in_flight.ack_first(50);
    t.poll(&mut in_flight);
    assert_eq!(load(&stats.bytes_unacknowledged), 0);
    assert_eq!(load(&stats.oldest_unacknowledged_millis), 0);
}
