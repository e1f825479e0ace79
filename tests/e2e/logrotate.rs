//! End to end: the real `logrotate` (Debian package; `scripts/setup` installs it), forced every
//! 0.6–1.1 s, against a writer appending numbered lines at 3,000 lines/s for 9 s, in four modes:
//! rename + `create`; `create` + `dateext` + `delaycompress` + `compress`; `copytruncate`; and
//! truncation in place (`copytruncate` with `rotate 0`, which skips the copy). In two runs the
//! agent is killed with SIGKILL twice and restarted a rotation later.
//!
//! What must arrive is what is on disk at the end: every whole line of every `app.log*` file, the
//! `.gz` rotations decompressed. Lines that are nowhere on disk were lost by logrotate itself
//! (copytruncate's window between the copy and the truncation) or truncated away (truncate mode):
//! they are counted and printed, not required. Without a kill nothing may arrive twice; with kills
//! the duplicates (what was in flight) are printed and bounded as in `crash.rs`.

use crate::common::*;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const LINES_PER_SEC: f64 = 3_000.0;
const WRITE_FOR: Duration = Duration::from_secs(9);
const MAX_SENDING: usize = 4;
const BATCH: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// logrotate's default: app.log renamed to app.log.1 (older ones shifted), a new app.log created.
    Create,
    /// Renamed to app.log-YYYYMMDD-HHMMSS, compressed to .gz at the next rotation.
    DateextCompress,
    /// app.log copied to app.log.1, then truncated in place.
    CopyTruncate,
    /// app.log truncated in place, no copy kept.
    Truncate,
}

impl Mode {
    fn directives(self) -> &'static str {
        match self {
            Mode::Create => "create 0644\n    rotate 1000",
            Mode::DateextCompress => {
                "create 0644\n    dateext\n    dateformat -%Y%m%d-%H%M%S\n    compress\n    \
                 delaycompress\n    rotate 1000"
            }
            Mode::CopyTruncate => "copytruncate\n    rotate 1000",
            // logrotate: "skip copying app.log to app.log.1", then "truncating app.log".
            Mode::Truncate => "copytruncate\n    rotate 0",
        }
    }

    /// Whether the file is renamed away, so that the writer must reopen it by path.
    fn renames(self) -> bool {
        matches!(self, Mode::Create | Mode::DateextCompress)
    }

    fn interval(self) -> Duration {
        match self {
            // dateformat has seconds: two rotations within one second would collide.
            Mode::DateextCompress => Duration::from_millis(1100),
            _ => Duration::from_millis(600),
        }
    }
}

/// The logrotate binary: on PATH, or in /usr/sbin (not on a normal user's PATH).
fn logrotate_bin() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join("logrotate"))
        .find(|p| p.is_file())
        .expect("logrotate is not installed (scripts/setup installs it: apt-get install logrotate)")
}

/// Writes the logrotate configuration for `live` (mode 0644: logrotate refuses a configuration
/// writable by group or others).
fn logrotate_config(dir: &Path, live: &Path, mode: Mode) -> PathBuf {
    let conf = dir.join("logrotate.conf");
    let text = format!(
        "{} {{\n    {}\n    missingok\n    nomail\n}}\n",
        live.display(),
        mode.directives()
    );
    std::fs::write(&conf, text).unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
    conf
}

/// One forced rotation, `logrotate -s STATE -f CONF`; it must succeed.
fn rotate(bin: &Path, conf: &Path, mode: Mode) {
    let out = Command::new(bin)
        .arg("-s")
        .arg(conf.with_file_name("logrotate.state"))
        .arg("-f")
        .arg(conf)
        .output()
        .expect("run logrotate");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "logrotate failed in {mode:?} mode ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Appends numbered lines to `path` at LINES_PER_SEC for WRITE_FOR, in a batch (one write) every
/// 5 ms, with O_APPEND. With `reopen`, as an application does after a rename + create: before each
/// batch it reopens the path when it names another inode (never creating it: until logrotate has
/// created the new file, the renamed one takes the lines). Returns how many lines it wrote.
fn start_writer(path: &Path, reopen: bool) -> std::thread::JoinHandle<usize> {
    let path = path.to_owned();
    let open = |path: &Path, create| {
        std::fs::OpenOptions::new()
            .create(create)
            .append(true)
            .open(path)
    };
    let mut file = open(&path, true).unwrap();
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut written = 0;
        while start.elapsed() < WRITE_FOR {
            if reopen {
                let ino = file.metadata().unwrap().ino();
                if std::fs::metadata(&path).is_ok_and(|m| m.ino() != ino) {
                    if let Ok(f) = open(&path, false) {
                        file = f;
                    }
                }
            }
            let due = (start.elapsed().as_secs_f64() * LINES_PER_SEC) as usize;
            let text: String = (written..due).map(numbered_line).collect();
            file.write_all(text.as_bytes()).unwrap();
            written = due;
            std::thread::sleep(Duration::from_millis(5));
        }
        written
    })
}

/// Where each of lines 0..n is on disk: the name of an `app.log*` file of `logs` that holds it as
/// a whole line (`.gz` decompressed), or None. Also returns the files' names.
fn lines_on_disk(logs: &Path, n: usize) -> (Vec<Option<String>>, Vec<String>) {
    let mut at = vec![None; n];
    let mut names = vec![];
    for e in std::fs::read_dir(logs).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if !name.starts_with("app.log") {
            continue;
        }
        let mut data = vec![];
        let f = std::fs::File::open(logs.join(&name)).unwrap();
        if name.ends_with(".gz") {
            flate2::read::GzDecoder::new(f).read_to_end(&mut data)
        } else {
            std::io::BufReader::new(f).read_to_end(&mut data)
        }
        .unwrap();
        // A copy taken mid-write may end in part of a line: only whole lines count.
        for line in data.split_inclusive(|&b| b == b'\n') {
            if let Some(i) = numbered_line_index(line).filter(|&i| i < n) {
                at[i] = Some(name.clone());
            }
        }
        names.push(name);
    }
    names.sort();
    (at, names)
}

/// How many times each line 0..n arrived, and the records that are not one of them.
fn arrivals(records: &[ReadRecord], n: usize) -> (Vec<usize>, Vec<String>) {
    let mut count = vec![0; n];
    let mut foreign = vec![];
    for r in records {
        match numbered_line_index(&r.data).filter(|&i| i < n) {
            Some(i) => count[i] += 1,
            None => foreign.push(String::from_utf8_lossy(&r.data).into_owned()),
        }
    }
    (count, foreign)
}

/// The last 30 lines of the agent's log that contain `filter`.
fn log_excerpt(agent_log: &Path, filter: &str) -> String {
    let text = std::fs::read_to_string(agent_log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(filter)).collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Runs the writer for WRITE_FOR under forced rotations every `mode.interval()`, the agent killed
/// `kills` times (each time just before a rotation, restarted after the next one), then checks what
/// arrived against what is on disk.
async fn torture(mode: Mode, kills: usize) {
    // The runs take a core each (writer, agent, kinesalite, logrotate): one heavy test at a time.
    let _heavy = HEAVY.lock().await;
    let bin = logrotate_bin();
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "rot", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let live = logs.join("app.log");
    let conf = logrotate_config(dir.path(), &live, mode);
    let cfg = write_config(
        dir.path(),
        &k.endpoint(),
        serde_json::json!([{
            // The live file and the uncompressed rotations (.gz files are never tailed).
            "filePattern": format!("{}/app.log*", logs.display()),
            "kinesisStream": "rot",
            "initialPosition": "START_OF_FILE",
            "maxBufferAgeMillis": 1000,
            "maxBufferSizeRecords": BATCH,
        }]),
        serde_json::json!({ "maxSendingThreads": MAX_SENDING }),
    );
    let agent_log = dir.path().join("agent.log");

    let writer = start_writer(&live, mode.renames());
    let mut agent = Some(Agent::start(&cfg, &agent_log));
    let started = Instant::now();
    // Rotations while the writer runs, the last one at least a few batches before it stops.
    let ticks = ((WRITE_FOR.as_millis() - 100) / mode.interval().as_millis()) as usize;
    let tick_time = |tick: usize| started + mode.interval() * (tick as u32 + 1);
    let kill_at: Vec<usize> = (1..=kills).map(|j| j * ticks / (kills + 1)).collect();
    let mut rotations = 0;
    for tick in 0..ticks {
        tokio::time::sleep_until(tick_time(tick).into()).await;
        if kill_at.contains(&tick) {
            agent.take().unwrap().kill9();
        }
        rotate(&bin, &conf, mode);
        rotations += 1;
        if agent.is_none() && !kill_at.contains(&tick) {
            agent = Some(Agent::start(&cfg, &agent_log));
        }
    }
    let n = writer.join().unwrap();
    if mode != Mode::Truncate {
        // The writer's last lines end up in a rotation too (in truncate mode they would be gone).
        tokio::time::sleep_until(tick_time(ticks).into()).await;
        rotate(&bin, &conf, mode);
        rotations += 1;
    }
    let agent = agent.unwrap_or_else(|| Agent::start(&cfg, &agent_log));
    let (on_disk, files) = lines_on_disk(&logs, n);
    let required = on_disk.iter().filter(|f| f.is_some()).count();

    let mut reader = StreamReader::new(&c, "rot").await;
    let complete = |records: &[ReadRecord]| {
        let (count, _) = arrivals(records, n);
        (0..n).all(|i| on_disk[i].is_none() || count[i] > 0)
    };
    reader.wait_until(Duration::from_secs(60), complete).await;
    agent.stop(Duration::from_secs(15));
    reader.settle(Duration::from_millis(800)).await;

    let (count, foreign) = arrivals(&reader.records, n);
    let missing: Vec<usize> = (0..n)
        .filter(|&i| on_disk[i].is_some() && count[i] == 0)
        .collect();
    let dups: usize = count.iter().map(|&c| c.saturating_sub(1)).sum();
    // Per file on disk: its lines, how many of them arrived more than once, the extra copies.
    let mut by_file = std::collections::BTreeMap::<&str, [usize; 3]>::new();
    for i in 0..n {
        let e = by_file
            .entry(on_disk[i].as_deref().unwrap_or("(nowhere on disk)"))
            .or_default();
        e[0] += 1;
        e[1] += usize::from(count[i] > 1);
        e[2] += count[i].saturating_sub(1);
    }
    by_file.retain(|_, e| e[2] > 0);
    let resent_whole = by_file.values().filter(|e| e[1] == e[0]).count();
    let gone = n - required;
    let gone_arrived = (0..n)
        .filter(|&i| on_disk[i].is_none() && count[i] > 0)
        .count();
    println!(
        "logrotate {mode:?}, {kills} kill(s): {n} lines written in {:.1} s, {rotations} rotations, \
         {} files at the end; {required} lines on disk, {gone} nowhere on disk (of those {gone_arrived} \
         arrived anyway); {} records read: {} missing, {dups} duplicates{}",
        WRITE_FOR.as_secs_f64(),
        files.len(),
        reader.records.len(),
        missing.len(),
        if dups == 0 {
            String::new()
        } else {
            format!(
                "; {resent_whole} rotated files arrived twice whole; per file (lines, lines \
                 repeated, extra copies): {by_file:?}"
            )
        },
    );
    assert!(
        foreign.is_empty(),
        "logrotate {mode:?}: {} records that are not whole lines arrived, first: {:?}",
        foreign.len(),
        &foreign[..foreign.len().min(5)]
    );
    assert!(
        missing.is_empty(),
        "logrotate {mode:?}, {kills} kill(s): {} of the {required} lines on disk never arrived; \
         first: {:?}; files: {files:?}\nagent log:\n{}",
        missing.len(),
        missing
            .iter()
            .take(10)
            .map(|&i| format!("{i} in {}", on_disk[i].as_deref().unwrap()))
            .collect::<Vec<_>>(),
        log_excerpt(&agent_log, "")
    );
    if mode.renames() {
        // Nothing is ever truncated: a line nowhere on disk is the test's own fault.
        assert_eq!(gone, 0, "the writer lost lines itself in {mode:?} mode");
    }
    if kills == 0 {
        assert!(
            dups == 0,
            "logrotate {mode:?} without a kill: {dups} duplicates, {resent_whole} rotated files \
             sent twice whole; per file on disk (lines, lines repeated, extra copies): \
             {by_file:?}\nthe agent's files:\n{}",
            log_excerpt(&agent_log, "tailing")
        );
    } else {
        let bound = kill_duplicate_bound(kills, MAX_SENDING, BATCH);
        assert!(
            dups <= bound,
            "logrotate {mode:?}: {dups} duplicates after {kills} kills exceed the in-flight bound {bound}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create() {
    torture(Mode::Create, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_with_kill_9() {
    torture(Mode::Create, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dateext_delaycompress_compress() {
    torture(Mode::DateextCompress, 0).await;
}

/// Copies first seen just created (empty), and copies lacking what the writer appended between
/// logrotate's copy and its truncation, are not sent again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate() {
    torture(Mode::CopyTruncate, 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_with_kill_9() {
    torture(Mode::CopyTruncate, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncate_in_place() {
    torture(Mode::Truncate, 0).await;
}
