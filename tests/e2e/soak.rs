//! End to end: a service's months of churn, in 40 seconds. A live file is appended to every
//! 20 ms and rotated (rename, create) every second; rotated files are deleted three rotations
//! later; short-lived files appear twice a second and are deleted 3 s later. Every line arrives
//! exactly once, and once the churn is over, what the agent holds for files comes back to what
//! one file needs: no descriptor of a deleted file, one tracked file, one checkpoint entry, and
//! about the memory it had early in the run.

use crate::common::*;
use crate::status_endpoint::{free_port, get, metric};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long the files churn.
const CHURN: Duration = Duration::from_secs(40);
/// How long a deleted file's descriptor, tracked file and checkpoint entry may outlive the
/// churn: rotated files are closed `rotatedFileCloseMillis` (1 s here) after their last read.
const SETTLE: Duration = Duration::from_secs(30);

/// What the agent holds, sampled from outside.
#[derive(Debug, Clone, Copy, Default)]
struct Held {
    /// Open descriptors.
    fds: usize,
    /// Of which, files deleted from the disk.
    deleted: usize,
    /// Resident memory, KiB.
    rss_kib: u64,
}

fn held(pid: u32) -> Held {
    let mut h = Held::default();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fd")) {
        for e in rd.flatten() {
            h.fds += 1;
            if std::fs::read_link(e.path())
                .is_ok_and(|t| t.to_string_lossy().ends_with(" (deleted)"))
            {
                h.deleted += 1;
            }
        }
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    h.rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    h
}

/// Entries of the checkpoint file, over all flows.
fn checkpoint_entries(path: &Path) -> usize {
    let Ok(text) = std::fs::read_to_string(path) else {
        return 0;
    };
    let state: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    state["flows"].as_object().map_or(0, |flows| {
        flows
            .values()
            .map(|f| f["files"].as_array().map_or(0, Vec::len))
            .sum()
    })
}

/// Appends `n` numbered lines of `kind` to `path`; returns the next number.
fn write_lines(path: &Path, kind: &str, from: usize, n: usize) -> usize {
    let text: String = (from..from + n)
        .map(|i| format!("churn {kind}-{i:08}\n"))
        .collect();
    append(path, &text);
    from + n
}

/// The churn of [`CHURN`]; returns how many lines it wrote in all. Files it deletes were
/// created at least 3 s before, so the agent has had them open long before.
fn churn(logs: &Path) -> usize {
    let live = logs.join("app.log");
    let (mut live_n, mut tmp_n) = (0, 0);
    let mut rotated: Vec<PathBuf> = Vec::new();
    let mut short_lived: Vec<(Instant, PathBuf)> = Vec::new();
    let start = Instant::now();
    let mut tick = 0u64;
    while start.elapsed() < CHURN {
        live_n = write_lines(&live, "live", live_n, 5);
        tick += 1;
        if tick.is_multiple_of(50) {
            let to = logs.join(format!("app.log.{}", tick / 50));
            std::fs::rename(&live, &to).unwrap();
            rotated.push(to);
            if rotated.len() > 3 {
                std::fs::remove_file(rotated.remove(0)).unwrap();
            }
            live_n = write_lines(&live, "live", live_n, 1);
        }
        // Short-lived files, but not in the last 3 s: the end deletes them all at once.
        if tick.is_multiple_of(25) && start.elapsed() + Duration::from_secs(3) < CHURN {
            let path = logs.join(format!("tmp-{tick}.log"));
            tmp_n = write_lines(&path, "tmp", tmp_n, 20);
            short_lived.push((Instant::now(), path));
        }
        while let Some((at, _)) = short_lived.first() {
            if at.elapsed() < Duration::from_secs(3) {
                break;
            }
            std::fs::remove_file(short_lived.remove(0).1).unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The last rotated file was live a second ago: give the agent 3 s to read its end.
    std::thread::sleep(Duration::from_secs(3));
    for path in rotated
        .into_iter()
        .chain(short_lived.into_iter().map(|(_, p)| p))
    {
        std::fs::remove_file(path).unwrap();
    }
    live_n + tmp_n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_leaves_no_descriptor_entry_or_memory_behind() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "churn", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::write(logs.join("app.log"), "").unwrap();
    let port = free_port();
    let config = write_config(
        dir.path(),
        &k.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/*.log*", logs.display()),
            "kinesisStream": "churn",
            "initialPosition": "START_OF_FILE",
            "maxBufferAgeMillis": 1000,
        }]),
        serde_json::json!({ "status.port": port, "rotatedFileCloseMillis": 1000 }),
    );
    let agent = Agent::start(&config, &dir.path().join("agent.log"));
    let pid = agent.pid();
    // What the agent holds over time, from the start of the churn.
    let samples: Arc<Mutex<Vec<(Duration, Held)>>> = Arc::default();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (samples, on) = (samples.clone(), sampling.clone());
        std::thread::spawn(move || {
            let start = Instant::now();
            while on.load(Ordering::Relaxed) {
                let h = held(pid);
                samples.lock().unwrap().push((start.elapsed(), h));
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let writer = {
        let logs = logs.clone();
        std::thread::spawn(move || churn(&logs))
    };
    let mut reader = StreamReader::new(&c, "churn").await;
    while !writer.is_finished() {
        reader.wait_for(usize::MAX, Duration::from_secs(1)).await;
    }
    let written = writer.join().unwrap();
    let n = reader.wait_for(written, Duration::from_secs(60)).await;
    assert_eq!(n, written, "{}", agent.log_text());

    // The churn is over: only app.log is left. What the agent holds for files comes down to it.
    let checkpoint = dir.path().join("state/checkpoints");
    let deadline = Instant::now() + SETTLE;
    let (mut now, mut tracked, mut entries);
    loop {
        now = held(pid);
        tracked = metric(&get(port, "/metrics").await.1, "kinetail_files_tracked");
        entries = checkpoint_entries(&checkpoint);
        if (now.deleted == 0 && tracked == 1.0 && entries == 1) || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    let samples = samples.lock().unwrap().clone();
    // Early in the run: seconds 5 to 15 of the churn, after the first rotations.
    let early = samples
        .iter()
        .filter(|(t, _)| *t >= Duration::from_secs(5) && *t <= Duration::from_secs(15))
        .map(|(_, h)| *h)
        .fold(Held::default(), |a, h| Held {
            fds: a.fds.max(h.fds),
            deleted: a.deleted.max(h.deleted),
            rss_kib: a.rss_kib.max(h.rss_kib),
        });
    let most_deleted = samples.iter().map(|(_, h)| h.deleted).max().unwrap_or(0);
    eprintln!(
        "churn: {written} lines; early at most {early:?}; at the end {now:?}, {tracked} tracked, \
         {entries} checkpoint entries; at most {most_deleted} deleted files open at once"
    );
    agent.signal(libc::SIGTERM);
    let log = agent.log_text();
    assert_eq!(agent.wait(Duration::from_secs(30)), Some(0), "{log}");
    assert_eq!(
        now.deleted, 0,
        "descriptors of deleted files still open: {now:?}"
    );
    assert_eq!(tracked, 1.0, "files still tracked besides app.log");
    assert_eq!(
        entries,
        1,
        "checkpoint entries besides app.log's:\n{}",
        std::fs::read_to_string(&checkpoint).unwrap_or_default()
    );
    assert!(
        now.fds <= early.fds,
        "more descriptors open after the churn than early in it: {now:?} against {early:?}"
    );
    // A leak of a few hundred bytes per rotation does not show in 40 s; one of what a file's
    // reading or a request holds (64 KiB and more) over ~120 files and ~800 requests does.
    assert!(
        now.rss_kib <= early.rss_kib + 4 * 1024,
        "resident memory grew over the churn: {now:?} against {early:?}"
    );
    // Exactly once: nothing was killed or retried.
    reader.settle(Duration::from_millis(600)).await;
    let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
    for r in &reader.records {
        *seen.entry(r.data.clone()).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, &n)| n > 1).collect();
    assert!(
        twice.is_empty(),
        "{} lines arrived more than once",
        twice.len()
    );
    assert_eq!(seen.len(), written);
}
