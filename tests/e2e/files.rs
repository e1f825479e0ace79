//! End to end: several files under one glob, one growing while the agent runs, one appearing
//! later, a partial last line held until completed; `initialPosition` END_OF_FILE; other content
//! on the same inode with the same first KiB read from the start after a restart.

use crate::common::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

fn lines(prefix: &str, from: usize, to: usize) -> String {
    (from..to)
        .map(|i| format!("{prefix}-{i:06} some log text\n"))
        .collect()
}

fn counts(records: &[ReadRecord]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for r in records {
        *m.entry(String::from_utf8(r.data.clone()).unwrap())
            .or_default() += 1;
    }
    m
}

fn flow(dir: &std::path::Path, stream: &str, initial: &str) -> serde_json::Value {
    serde_json::json!([{
        "filePattern": format!("{}/*.log", dir.display()),
        "kinesisStream": stream,
        "initialPosition": initial,
        "maxBufferAgeMillis": "1000",
        "partitionKeyOption": "RANDOM"
    }])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_under_the_glob_is_followed_on_its_own() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "files", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    append(&logs.join("a.log"), &lines("a", 0, 3000));
    append(&logs.join("b.log"), &lines("b", 0, 500));
    append(&logs.join("other.txt"), &lines("x", 0, 50));
    let config = write_config(
        dir.path(),
        &k.endpoint(),
        flow(&logs, "files", "START_OF_FILE"),
        serde_json::json!({}),
    );
    let agent = Agent::start(&config, &dir.path().join("agent.log"));
    let mut reader = StreamReader::new(&c, "files").await;
    assert_eq!(
        reader.wait_for(3500, Duration::from_secs(60)).await,
        3500,
        "{}",
        agent.log_text()
    );

    // a.log grows in pieces, b.log too, while the agent runs.
    for round in 0..10 {
        append(
            &logs.join("a.log"),
            &lines("a", 3000 + round * 100, 3100 + round * 100),
        );
        append(
            &logs.join("b.log"),
            &lines("b", 500 + round * 10, 510 + round * 10),
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A partial line is held until its newline arrives.
    append(&logs.join("b.log"), "b-partial-line");
    // A file that appears later is read from its beginning.
    append(&logs.join("c.log"), &lines("c", 0, 700));
    let want = 3500 + 1000 + 100 + 700;
    assert_eq!(
        reader.wait_for(want, Duration::from_secs(60)).await,
        want,
        "{}",
        agent.log_text()
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    reader.poll().await;
    assert!(
        !counts(&reader.records)
            .keys()
            .any(|k| k.starts_with("b-partial")),
        "an unterminated line was sent"
    );
    append(&logs.join("b.log"), " completed\n");
    assert_eq!(
        reader.wait_for(want + 1, Duration::from_secs(30)).await,
        want + 1
    );

    agent.stop(Duration::from_secs(15));
    reader.settle(Duration::from_millis(600)).await;
    let got = counts(&reader.records);
    let mut expected: Vec<String> = Vec::new();
    expected.extend(lines("a", 0, 4000).lines().map(|l| format!("{l}\n")));
    expected.extend(lines("b", 0, 600).lines().map(|l| format!("{l}\n")));
    expected.extend(lines("c", 0, 700).lines().map(|l| format!("{l}\n")));
    expected.push("b-partial-line completed\n".into());
    for e in &expected {
        assert_eq!(
            got.get(e),
            Some(&1),
            "line {e:?} arrived {:?} times",
            got.get(e)
        );
    }
    assert_eq!(
        got.len(),
        expected.len(),
        "unexpected records arrived (e.g. from other.txt)"
    );
    assert_eq!(reader.records.len(), expected.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_of_file_skips_old_content_only_at_the_first_start() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "eof", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    append(&logs.join("old.log"), &lines("old", 0, 100));
    append(&logs.join("old.log"), "old-partial");
    let config = write_config(
        dir.path(),
        &k.endpoint(),
        flow(&logs, "eof", "END_OF_FILE"),
        serde_json::json!({}),
    );
    let agent = Agent::start(&config, &dir.path().join("agent.log"));
    let mut reader = StreamReader::new(&c, "eof").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The trailing partial line at the start position is sent once completed (as the Java agent).
    append(&logs.join("old.log"), "-done\n");
    append(&logs.join("old.log"), &lines("new", 0, 10));
    append(&logs.join("later.log"), &lines("later", 0, 20));
    assert_eq!(
        reader.wait_for(31, Duration::from_secs(30)).await,
        31,
        "{}",
        agent.log_text()
    );
    agent.stop(Duration::from_secs(15));

    // Written while the agent was down: sent after the restart (END_OF_FILE no longer applies).
    append(&logs.join("old.log"), &lines("down", 0, 5));
    append(&logs.join("created-while-down.log"), &lines("cwd", 0, 5));
    let agent = Agent::start(&config, &dir.path().join("agent.log"));
    assert_eq!(
        reader.wait_for(41, Duration::from_secs(30)).await,
        41,
        "{}",
        agent.log_text()
    );
    agent.stop(Duration::from_secs(15));
    reader.settle(Duration::from_millis(600)).await;
    let got = counts(&reader.records);
    assert!(
        !got.keys().any(|k| k.starts_with("old-0")),
        "old content was sent"
    );
    assert_eq!(got.get("old-partial-done\n"), Some(&1));
    assert_eq!(reader.records.len(), 41);
    assert!(got.values().all(|&n| n == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_files_than_the_default_descriptor_limit_are_all_followed() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "many", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let files = 300;
    for i in 0..files {
        append(
            &logs.join(format!("f{i:03}.log")),
            &format!("file {i} line\n"),
        );
    }
    let config = write_config(
        dir.path(),
        &k.endpoint(),
        flow(&logs, "many", "START_OF_FILE"),
        serde_json::json!({}),
    );
    // Each followed file holds a descriptor; started with a soft limit below the file count,
    // the agent must raise it (to the hard limit) rather than leave files unread.
    let agent = Agent::start_with_fd_limit(&config, &dir.path().join("agent.log"), 128);
    let mut reader = StreamReader::new(&c, "many").await;
    let n = reader.wait_for(files, Duration::from_secs(60)).await;
    agent.signal(libc::SIGTERM);
    let log = agent.log_text();
    assert_eq!(agent.wait(Duration::from_secs(15)), Some(0));
    assert_eq!(n, files, "log:\n{log}");
    let got = counts(&reader.records);
    for i in 0..files {
        assert_eq!(got.get(&format!("file {i} line\n")), Some(&1), "file {i}");
    }
}

/// Two exports that share a header longer than the fingerprint (1 KiB) and the same inode: the
/// second must not be resumed at the first one's offset. `cat new > app.log` while the agent is
/// stopped keeps the inode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_content_on_the_same_inode_with_the_same_head_is_read_from_the_start() {
    same_inode_other_content(false).await;
}

/// As above, the file deleted while the agent is stopped and a new one created that the
/// filesystem gives the freed inode (ext4 reuses it at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inode_reused_after_a_delete_is_a_new_file() {
    same_inode_other_content(true).await;
}

/// Writes `content` at `path` in a file that gets the inode `path` has now, after deleting it.
/// False when the filesystem does not hand the inode out again.
fn recreate_on_the_same_inode(path: &std::path::Path, content: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let inode = std::fs::metadata(path).unwrap().ino();
    std::fs::remove_file(path).unwrap();
    let dir = path.parent().unwrap().join("candidates");
    std::fs::create_dir(&dir).unwrap();
    let mut reused = false;
    for k in 0..64 {
        let candidate = dir.join(format!("c{k}"));
        std::fs::write(&candidate, content).unwrap();
        if std::fs::metadata(&candidate).unwrap().ino() == inode {
            std::fs::rename(&candidate, path).unwrap();
            reused = true;
            break;
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
    if !reused {
        std::fs::write(path, content).unwrap();
    }
    reused
}

async fn same_inode_other_content(delete_first: bool) {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "reuse", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let path = logs.join("export.log");
    let header: String = (0..100)
        .map(|i| format!("column_{i:02}_name,"))
        .collect::<String>()
        + "end\n";
    assert!(header.len() > 1500);
    std::fs::write(&path, header.clone() + &lines("first", 0, 2000)).unwrap();
    let config = write_config(
        dir.path(),
        &k.endpoint(),
        flow(&logs, "reuse", "START_OF_FILE"),
        serde_json::json!({}),
    );
    let agent = Agent::start(&config, &dir.path().join("agent.log"));
    let mut reader = StreamReader::new(&c, "reuse").await;
    assert_eq!(
        reader.wait_for(2001, Duration::from_secs(30)).await,
        2001,
        "{}",
        agent.log_text()
    );
    agent.stop(Duration::from_secs(15));

    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
    let second = header.clone() + &lines("second", 0, 3000);
    if delete_first {
        if !recreate_on_the_same_inode(&path, &second) {
            println!(
                "this filesystem did not hand the freed inode out again: a new inode is tested"
            );
        }
    } else {
        std::fs::write(&path, second).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap()),
            inode
        );
    }
    let agent = Agent::start(&config, &dir.path().join("agent.log"));
    reader.wait_for(5002, Duration::from_secs(30)).await;
    agent.signal(libc::SIGTERM);
    let log = agent.log_text();
    assert_eq!(agent.wait(Duration::from_secs(15)), Some(0));
    reader.settle(Duration::from_millis(600)).await;
    let got = counts(&reader.records);
    let missing: Vec<usize> = (0..3000)
        .filter(|i| !got.contains_key(&format!("second-{i:06} some log text\n")))
        .collect();
    assert!(
        missing.is_empty(),
        "{} rows of the second export never arrived (first: {:?}); log:\n{log}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(got.get(&header), Some(&2));
    assert_eq!(reader.records.len(), 5002);
}

/// A file truncated and written again, shorter than its checkpoint but starting with the same
/// first KiB, while the agent is stopped: it is read from the start (its first lines again, as
/// they are in the file again), not resumed past its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_shrunk_while_the_agent_is_stopped_is_read_from_the_start() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "shrunk", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let path = logs.join("app.log");
    std::fs::write(&path, lines("before", 0, 2000)).unwrap();
    let config = write_config(
        dir.path(),
        &k.endpoint(),
        flow(&logs, "shrunk", "START_OF_FILE"),
        serde_json::json!({}),
    );
    let log = dir.path().join("agent.log");
    let agent = Agent::start(&config, &log);
    let mut reader = StreamReader::new(&c, "shrunk").await;
    assert_eq!(reader.wait_for(2000, Duration::from_secs(30)).await, 2000);
    agent.stop(Duration::from_secs(15));
    // Same inode and first KiB, a sixth of the size.
    std::fs::write(&path, lines("before", 0, 100) + &lines("after", 0, 200)).unwrap();
    let agent = Agent::start(&config, &log);
    reader.wait_for(2300, Duration::from_secs(30)).await;
    let text = agent.log_text();
    agent.stop(Duration::from_secs(15));
    reader.settle(Duration::from_millis(600)).await;
    let got = counts(&reader.records);
    for i in 0..200 {
        let line = format!("after-{i:06} some log text\n");
        assert_eq!(got.get(&line), Some(&1), "{line:?}; log:\n{text}");
    }
    for i in 0..2000 {
        let line = format!("before-{i:06} some log text\n");
        let want = if i < 100 { 2 } else { 1 };
        assert_eq!(got.get(&line), Some(&want), "{line:?}; log:\n{text}");
    }
    assert_eq!(reader.records.len(), 2300, "log:\n{text}");
    assert!(
        text.contains("truncated since its checkpoint"),
        "log:\n{text}"
    );
}

/// Globs in the directory part (a kinetail extension): `*` matches one directory level, `**` any
/// number; a directory created after the start is followed; deeper files do not match `*`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_globs_and_double_star_follow_files_in_new_directories() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "apps", 1).await;
    create_stream(&c, "access", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(logs.join("web")).unwrap();
    append(&logs.join("web/app.log"), &lines("web", 0, 10));
    append(&logs.join("access.log"), &lines("top", 0, 5));
    let flows = serde_json::json!([
        {
            "filePattern": format!("{}/*/app.log", logs.display()),
            "kinesisStream": "apps",
            "initialPosition": "START_OF_FILE",
            "maxBufferAgeMillis": "1000"
        },
        {
            "filePattern": format!("{}/**/access.log", logs.display()),
            "kinesisStream": "access",
            "initialPosition": "START_OF_FILE",
            "maxBufferAgeMillis": "1000"
        }
    ]);
    let config = write_config(dir.path(), &k.endpoint(), flows, serde_json::json!({}));
    let agent = Agent::start(&config, &dir.path().join("agent.log"));
    let mut apps = StreamReader::new(&c, "apps").await;
    let mut access = StreamReader::new(&c, "access").await;
    assert_eq!(
        apps.wait_for(10, Duration::from_secs(30)).await,
        10,
        "{}",
        agent.log_text()
    );
    // Directories made after the start, at several depths.
    std::fs::create_dir_all(logs.join("api/deep/er")).unwrap();
    append(&logs.join("api/app.log"), &lines("api", 0, 7));
    append(&logs.join("api/deep/app.log"), &lines("too-deep", 0, 3));
    append(&logs.join("api/deep/er/access.log"), &lines("deep", 0, 4));
    append(&logs.join("web/app.log"), &lines("web", 10, 12));
    let n = apps.wait_for(19, Duration::from_secs(30)).await;
    let m = access.wait_for(9, Duration::from_secs(30)).await;
    agent.signal(libc::SIGTERM);
    let log = agent.log_text();
    assert_eq!(agent.wait(Duration::from_secs(15)), Some(0));
    assert_eq!((n, m), (19, 9), "log:\n{log}");
    apps.settle(Duration::from_millis(600)).await;
    access.settle(Duration::from_millis(100)).await;
    let got = counts(&apps.records);
    assert!(got.values().all(|&n| n == 1), "{got:?}");
    assert!(!got.keys().any(|l| l.starts_with("too-deep")), "{got:?}");
    assert_eq!(got.len(), 19);
    let got = counts(&access.records);
    assert_eq!(got.len(), 9, "{got:?}");
    assert!(got.values().all(|&n| n == 1));
}

/// A file the agent may not read is reported once and retried; the others flow meanwhile, and it
/// is sent once readable. Run as root, the agent runs as `nobody` (root reads anything).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_cannot_be_opened_is_retried_without_stopping_the_others() {
    use std::os::unix::fs::PermissionsExt;
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "perm", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let mode = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    append(&logs.join("ok.log"), &lines("ok", 0, 10));
    let secret = logs.join("secret.log");
    append(&secret, &lines("secret", 0, 5));
    mode(&secret, 0o000);
    let root = unsafe { libc::geteuid() } == 0;
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    if root {
        mode(dir.path(), 0o755);
        mode(&logs, 0o755);
        mode(&state, 0o777);
    }
    let config = write_config(
        dir.path(),
        &k.endpoint(),
        flow(&logs, "perm", "START_OF_FILE"),
        serde_json::json!({}),
    );
    let log_path = dir.path().join("agent.log");
    let agent = if root {
        Agent::start_as(&config, &log_path, 65534)
    } else {
        Agent::start(&config, &log_path)
    };
    let mut reader = StreamReader::new(&c, "perm").await;
    assert_eq!(
        reader.wait_for(10, Duration::from_secs(30)).await,
        10,
        "{}",
        agent.log_text()
    );
    append(&logs.join("ok.log"), &lines("ok", 10, 15));
    assert_eq!(
        reader.wait_for(15, Duration::from_secs(30)).await,
        15,
        "{}",
        agent.log_text()
    );
    let warned = agent
        .log_text()
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("secret.log"))
        .count();
    assert_eq!(warned, 1, "{}", agent.log_text());
    mode(&secret, 0o644);
    let n = reader.wait_for(20, Duration::from_secs(30)).await;
    agent.signal(libc::SIGTERM);
    let log = agent.log_text();
    assert_eq!(agent.wait(Duration::from_secs(15)), Some(0));
    assert_eq!(n, 20, "log:\n{log}");
    reader.settle(Duration::from_millis(600)).await;
    let got = counts(&reader.records);
    assert_eq!(got.len(), 20);
    assert!(got.values().all(|&n| n == 1), "{got:?}");
}

/// 10,000 files under a cap of 200 descriptors (`maxOpenFiles`): idle files are closed to make
/// room and reopened by path when written again; every line arrives once and the agent never
/// holds more descriptors than the cap allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_files_under_a_descriptor_cap() {
    let _heavy = HEAVY.lock().await;
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "many", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let files = 10_000;
    let cap = 200;
    for i in 0..files {
        std::fs::write(
            logs.join(format!("f{i:05}.log")),
            format!("file {i} first\n"),
        )
        .unwrap();
    }
    let config = write_config(
        dir.path(),
        &k.endpoint(),
        flow(&logs, "many", "START_OF_FILE"),
        serde_json::json!({ "maxOpenFiles": cap }),
    );
    let agent = Agent::start(&config, &dir.path().join("agent.log"));
    let fd_dir = format!("/proc/{}/fd", agent.pid());
    let most_fds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (most, on) = (most_fds.clone(), sampling.clone());
        std::thread::spawn(move || {
            while on.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(rd) = std::fs::read_dir(&fd_dir) {
                    most.fetch_max(rd.count(), std::sync::atomic::Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let mut reader = StreamReader::new(&c, "many").await;
    let n = reader.wait_for(files, Duration::from_secs(120)).await;
    assert_eq!(n, files, "{}", agent.log_text());
    // Closed files written again are reopened by path.
    for i in (0..files).step_by(97) {
        append(
            &logs.join(format!("f{i:05}.log")),
            &format!("file {i} second\n"),
        );
    }
    let again = files + files.div_ceil(97);
    let n = reader.wait_for(again, Duration::from_secs(60)).await;
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    sampler.join().unwrap();
    agent.signal(libc::SIGTERM);
    let log = agent.log_text();
    assert_eq!(agent.wait(Duration::from_secs(30)), Some(0));
    assert_eq!(n, again, "log:\n{}", &log[log.len().saturating_sub(3000)..]);
    reader.settle(Duration::from_millis(600)).await;
    let got = counts(&reader.records);
    assert_eq!(got.len(), again);
    assert!(got.values().all(|&n| n == 1));
    // The cap, plus the process's own (log, sockets, inotify, checkpoint file, runtime).
    let most = most_fds.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("{files} files, maxOpenFiles {cap}: at most {most} descriptors open");
    assert!(
        most <= cap + 64,
        "{most} descriptors open with maxOpenFiles {cap}"
    );
}

/// `kinetail status` on the checkpoint of a real run: one file shipped whole, one half-shipped
/// (grown while the agent is stopped), one not tracked yet; while the agent runs, too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_how_far_behind_each_file_is() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "status", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::write(logs.join("done.log"), lines("done", 0, 300)).unwrap();
    std::fs::write(logs.join("half.log"), lines("half", 0, 300)).unwrap();
    let config = write_config(
        dir.path(),
        &k.endpoint(),
        flow(&logs, "status", "START_OF_FILE"),
        serde_json::json!({}),
    );
    let log = dir.path().join("agent.log");
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let agent = Agent::start(&config, &log);
    let mut reader = StreamReader::new(&c, "status").await;
    assert_eq!(reader.wait_for(600, Duration::from_secs(30)).await, 600);
    let status = |json: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kinetail"));
        cmd.arg("-c").arg(&config).arg("status");
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // While it runs: everything acknowledged (once the group commit wrote it).
    let mut running = serde_json::Value::Null;
    for _ in 0..50 {
        running = serde_json::from_str(&status(true)).unwrap();
        if running[0]["behind"] == 0 && running[0]["files"].as_array().unwrap().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(running[0]["behind"], 0, "{running}");
    assert_eq!(running[0]["files"][0]["state"], "tracked", "{running}");
    agent.stop(Duration::from_secs(15));

    let half = logs.join("half.log");
    let shipped = std::fs::metadata(&half).unwrap().len();
    let more = lines("half", 300, 450);
    append(&half, &more);
    std::fs::write(logs.join("new.log"), lines("new", 0, 10)).unwrap();
    let text = status(true);
    let flows: serde_json::Value = serde_json::from_str(&text).unwrap();
    let files = flows[0]["files"].as_array().unwrap();
    let by_name = |name: &str| {
        files
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} missing from {text}"))
    };
    let done = by_name("done.log");
    let done_size = std::fs::metadata(logs.join("done.log")).unwrap().len();
    assert_eq!(done["state"], "tracked", "{text}");
    assert_eq!(done["acknowledged"], done_size, "{text}");
    assert_eq!(done["behind"], 0, "{text}");
    let h = by_name("half.log");
    assert_eq!(h["state"], "tracked", "{text}");
    assert_eq!(h["acknowledged"], shipped, "{text}");
    assert_eq!(h["size"], shipped + more.len() as u64, "{text}");
    assert_eq!(h["behind"], more.len() as u64, "{text}");
    let acked_at = h["last_ack_millis"].as_u64().unwrap();
    assert!(acked_at >= started, "{text}");
    let n = by_name("new.log");
    assert_eq!(n["state"], "new", "{text}");
    assert_eq!(n["behind"], lines("new", 0, 10).len() as u64, "{text}");
    assert_eq!(
        flows[0]["behind"],
        (more.len() + lines("new", 0, 10).len()) as u64,
        "{text}"
    );
    let table = status(false);
    assert!(
        table.contains(&format!(
            "{} bytes behind in 2 files",
            more.len() + lines("new", 0, 10).len()
        )),
        "{table}"
    );
    assert!(table.contains("half.log"), "{table}");
}

/// Runs `kinetail -c config run --once ...`; returns its exit code and standard error, killing it
/// after `within`.
fn run_once(config: &std::path::Path, extra: &[&str], within: Duration) -> (Option<i32>, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kinetail"))
        .arg("-c")
        .arg(config)
        .args(["run", "--once"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let code = wait_for_exit(&mut child, within);
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (code, err)
}

/// `run --once` ships what the files hold at the start (complete lines), checkpoints it and
/// exits 0 by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_ships_what_the_files_hold_then_exits_0() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "once", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::write(logs.join("a.log"), lines("a", 0, 20_000)).unwrap();
    // A partial last line is not waited for.
    std::fs::write(logs.join("b.log"), lines("b", 0, 5_000) + "partial").unwrap();
    let config = write_config(
        dir.path(),
        &k.endpoint(),
        flow(&logs, "once", "START_OF_FILE"),
        serde_json::json!({}),
    );
    let (code, err) = run_once(&config, &[], Duration::from_secs(60));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("--once: everything shipped"), "{err}");
    // No terminal, no progress bar: log lines only.
    assert!(!err.contains("ETA"), "{err}");
    let mut reader = StreamReader::new(&c, "once").await;
    assert_eq!(
        reader.wait_for(25_000, Duration::from_secs(30)).await,
        25_000
    );
    reader.settle(Duration::from_millis(500)).await;
    assert_eq!(reader.records.len(), 25_000);
    // Checkpointed: `status` shows nothing behind but the partial line.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kinetail"))
        .arg("-c")
        .arg(&config)
        .args(["status", "--json"])
        .output()
        .unwrap();
    let flows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(flows[0]["behind"], "partial".len(), "{flows}");
}

/// `run --once` against a stream that does not exist gives up with the reason and a non-zero
/// exit once nothing moved for `--give-up-after`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_gives_up_with_the_reason_when_it_cannot_finish() {
    let k = Kinesalite::start();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::write(logs.join("a.log"), lines("a", 0, 100)).unwrap();
    let config = write_config(
        dir.path(),
        &k.endpoint(),
        flow(&logs, "missing", "START_OF_FILE"),
        serde_json::json!({}),
    );
    let (code, err) = run_once(&config, &["--give-up-after", "3"], Duration::from_secs(30));
    assert!(matches!(code, Some(c) if c != 0), "exit {code:?}: {err}");
    assert!(err.contains("--once gave up"), "{err}");
    assert!(err.contains("the destination kept failing"), "{err}");
}

/// The paths and offsets of the checkpoint file's entries, over all flows, sorted.
fn checkpoint_entries(path: &std::path::Path) -> Vec<(String, u64)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let state: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let mut entries: Vec<(String, u64)> = state["flows"]
        .as_object()
        .into_iter()
        .flat_map(|flows| flows.values())
        .flat_map(|f| f["files"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| Some((e["path"].as_str()?.to_owned(), e["offset"].as_u64()?)))
        .collect();
    entries.sort();
    entries
}

/// Waits up to 15 s for the checkpoint file to hold exactly `want`; returns what it holds.
async fn checkpoint_becomes(path: &std::path::Path, want: &[(String, u64)]) -> Vec<(String, u64)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now = checkpoint_entries(path);
        if now == want || std::time::Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Files deleted while the agent was down leave no checkpoint entry for a week: the next run
/// drops the entries of files it cannot find once it has looked, and keeps those whose
/// directory is missing (a volume not mounted yet), which resume when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_files_deleted_while_stopped_are_dropped_once_looked_for() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "dropped", 1).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (logs, vol) = (data.join("logs"), data.join("vol"));
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::create_dir(&vol).unwrap();
    std::fs::write(logs.join("app.log"), lines("app", 0, 100)).unwrap();
    std::fs::write(logs.join("old.log"), lines("old", 0, 100)).unwrap();
    std::fs::write(vol.join("v.log"), lines("vol", 0, 100)).unwrap();
    let mut flows = flow(&logs, "dropped", "START_OF_FILE");
    // logs/ and vol/ under one pattern.
    flows[0]["filePattern"] = format!("{}/*/*.log", data.display()).into();
    let config = write_config(dir.path(), &k.endpoint(), flows, serde_json::json!({}));
    let log = dir.path().join("agent.log");
    let checkpoint = dir.path().join("state/checkpoints");
    let agent = Agent::start(&config, &log);
    let mut reader = StreamReader::new(&c, "dropped").await;
    assert_eq!(reader.wait_for(300, Duration::from_secs(30)).await, 300);
    // 100 lines of 25 bytes each.
    let entry = |p: &std::path::Path| (p.display().to_string(), 2500);
    let (app, old, v) = (
        logs.join("app.log"),
        logs.join("old.log"),
        vol.join("v.log"),
    );
    let all = vec![entry(&app), entry(&old), entry(&v)];
    assert_eq!(checkpoint_becomes(&checkpoint, &all).await, all);
    agent.kill9();

    // While it is down: one file deleted, and the other flow's directory unmounted (moved away).
    std::fs::remove_file(logs.join("old.log")).unwrap();
    let away = dir.path().join("vol.away");
    std::fs::rename(&vol, &away).unwrap();
    let agent = Agent::start(&config, &log);
    let want = vec![entry(&app), entry(&v)];
    let now = checkpoint_becomes(&checkpoint, &want).await;
    assert_eq!(now, want, "log:\n{}", agent.log_text());

    // The volume is back: its file resumes from its entry, and nothing is sent again.
    std::fs::rename(&away, &vol).unwrap();
    append(&v, &lines("vol", 100, 150));
    append(&app, &lines("app", 100, 150));
    reader.wait_for(400, Duration::from_secs(30)).await;
    agent.stop(Duration::from_secs(15));
    reader.settle(Duration::from_millis(600)).await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let got = counts(&reader.records);
    assert_eq!(reader.records.len(), 400, "log:\n{text}");
    assert!(got.values().all(|&n| n == 1), "log:\n{text}");
}
