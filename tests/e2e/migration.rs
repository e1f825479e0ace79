//! Switching from the Java agent: a checkpoint database with the Java agent's schema and file-id
//! format (`(dev=<hex>,ino=<dec>)`), named by `javaCheckpointFile` (the tests cannot use the
//! Java agent's default path, nor let kinetail's own checkpoints go to /var/lib/kinetail as they
//! do when `checkpointFile` names the database); kinetail imports it at its first start and
//! resumes exactly there.

use crate::common::*;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Lines `from..to` of a file named `name`.
fn lines(name: &str, from: usize, to: usize) -> String {
    (from..to)
        .map(|i| format!("{name} line {i:05}\n"))
        .collect()
}

fn set_mtime(path: &Path, ago: Duration) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - ago).unwrap();
}

/// The Java agent's `FILE_CHECKPOINTS` (SQLiteFileCheckpointStore), with one row per
/// (flow, path, file, offset, how long ago it was updated).
fn java_database(db: &Path, rows: &[(&str, &Path, &Path, u64, u32)]) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "create table if not exists FILE_CHECKPOINTS(
            flow text, path text, fileId text, lastModifiedTime bigint, size bigint, offset bigint,
            lastUpdated datetime, primary key (flow, path))",
    )
    .unwrap();
    for (flow, path, file, offset, minutes_ago) in rows {
        let meta = std::fs::metadata(file).unwrap();
        let file_id = format!("(dev={:x},ino={})", meta.dev(), meta.ino());
        conn.execute(
            "insert into FILE_CHECKPOINTS values (?1, ?2, ?3, ?4, ?5, ?6, strftime('%Y-%m-%d %H:%M:%f', 'now', ?7))",
            rusqlite::params![
                flow,
                path.to_str().unwrap(),
                file_id,
                meta.mtime() * 1000,
                meta.len() as i64,
                *offset as i64,
                format!("-{minutes_ago} minutes"),
            ],
        )
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_java_agents_checkpoints_are_imported_and_resumed_exactly() {
    let k = Kinesalite::start();
    let c = client(&k.endpoint()).await;
    create_stream(&c, "mig", 2).await;
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    // The Java agent was reading app.log at line 600 when it stopped; app.log was then rotated
    // to app.log.1 and a new app.log written. app.log.2 was rotated before: the Java agent had
    // read it all.
    std::fs::write(logs.join("app.log.2"), lines("two", 0, 400)).unwrap();
    std::fs::write(logs.join("app.log"), lines("one", 0, 1000)).unwrap();
    let offset = lines("one", 0, 600).len() as u64;
    let flow_id = format!("kinesis:mig:{}/app.log*", logs.display());
    let db = dir.path().join("java/checkpoints");
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let app = logs.join("app.log");
    java_database(
        &db,
        &[
            // The flow's latest row: the one the Java agent restores.
            (&flow_id, &app, &app, offset, 1),
            // An older row of the same flow: ignored, as by the Java agent.
            (
                &flow_id,
                &logs.join("app.log.2"),
                &logs.join("app.log.2"),
                10,
                90,
            ),
            // A flow that no longer exists.
            ("kinesis:gone:/var/log/x*", &app, &app, 5, 1),
        ],
    );
    std::fs::rename(&app, logs.join("app.log.1")).unwrap();
    std::fs::write(&app, lines("new", 0, 300)).unwrap();
    set_mtime(&logs.join("app.log.2"), Duration::from_secs(3600));
    set_mtime(&logs.join("app.log.1"), Duration::from_secs(600));

    let cfg = write_config(
        dir.path(),
        &k.endpoint(),
        serde_json::json!([{
            "filePattern": format!("{}/app.log*", logs.display()),
            "kinesisStream": "mig",
            "maxBufferAgeMillis": 1000,
        }]),
        serde_json::json!({ "javaCheckpointFile": db }),
    );
    // `check` says what it would import, and imports nothing.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kinetail"))
        .arg("-c")
        .arg(&cfg)
        .arg("check")
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "{flow_id}: {} resumes at offset {offset}; 1 older files recorded as sent",
            logs.join("app.log.1").display()
        )),
        "{said}"
    );
    let ours = dir.path().join("state/checkpoints");
    assert!(!ours.exists());

    let agent = Agent::start(&cfg, &dir.path().join("agent.log"));
    let mut reader = StreamReader::new(&c, "mig").await;
    let expected: Vec<String> = lines("one", 600, 1000)
        .lines()
        .chain(lines("new", 0, 300).lines())
        .map(|l| format!("{l}\n"))
        .collect();
    reader
        .wait_for(expected.len(), Duration::from_secs(30))
        .await;
    reader.settle(Duration::from_secs(2)).await;
    let log = agent.log_text();
    agent.stop(Duration::from_secs(15));
    let mut got: Vec<String> = reader
        .records
        .iter()
        .map(|r| String::from_utf8(r.data.clone()).unwrap())
        .collect();
    got.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(got.len(), want.len(), "{log}");
    assert!(
        got == want,
        "not exactly the lines after the Java agent's offset:\n{log}"
    );
    assert!(
        log.contains("imported the Java agent's checkpoints"),
        "{log}"
    );
    assert!(ours.exists());

    // A second start does not import again, and sends nothing again.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&app)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"new line after restart\n"))
        .unwrap();
    let agent = Agent::start(&cfg, &dir.path().join("agent2.log"));
    reader
        .wait_for(want.len() + 1, Duration::from_secs(30))
        .await;
    reader.settle(Duration::from_secs(2)).await;
    let log = agent.log_text();
    agent.stop(Duration::from_secs(15));
    assert_eq!(reader.records.len(), want.len() + 1, "{log}");
    assert!(
        !log.contains("imported the Java agent's checkpoints"),
        "{log}"
    );
}
