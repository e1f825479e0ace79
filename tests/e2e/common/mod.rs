//! End-to-end test harness: a real kinesalite server on 127.0.0.1, the real `kinetail` binary,
//! and a reader that takes every record back out of the stream with GetRecords.

pub mod imds;
pub mod limits;
pub mod moto;
pub mod proxy;
pub mod stream;
pub use stream::*;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Starts `node tests/harness/<script> <args>`, a server that binds 127.0.0.1, prints its port
/// and exits when its standard input closes; returns the child and the port.
pub fn start_node_server(script: &str, args: &[&str]) -> (Child, u16) {
    let mut child = Command::new("node")
        .arg(root().join("tests/harness").join(script))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start node (is Node.js installed? scripts/setup installs it)");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap_or_else(|e| panic!("read the port of {script}: {e}"));
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{script} printed {line:?}"));
    (child, port)
}

/// A kinesalite server bound to loopback, stopped when dropped.
pub struct Kinesalite {
    child: Child,
    /// Its TCP port.
    pub port: u16,
}

impl Kinesalite {
    /// Starts kinesalite from `tests/harness` (run `npm ci` there first; `.ci/run` does).
    pub fn start() -> Kinesalite {
        let harness = root().join("tests/harness");
        assert!(
            harness.join("node_modules/kinesalite").is_dir(),
            "kinesalite is not installed: run `npm ci --prefix tests/harness`"
        );
        let (child, port) = start_node_server("kinesalite.js", &[]);
        Kinesalite { child, port }
    }

    /// Its endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Kinesalite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Held by the tests that load the machine most (real logrotate, a fast writer for a minute,
/// 10,000 files, kills under a backlog): one at a time, so that none of them slows another
/// past its own bounds on a 2-core machine.
pub static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A running `kinetail` process, its log in a file; killed when dropped.
pub struct Agent {
    child: Option<Child>,
    /// Its log file (stderr).
    pub log: PathBuf,
    /// Secrets it was given (agent.json's secret key, secret and token variables): checked
    /// absent from its log when it is dropped.
    secrets: Vec<String>,
    /// The log's length when it started (tests restart agents on one log).
    log_from: u64,
}

/// Secrets the tests hand the agent other than through agent.json or its environment (profiles,
/// credential providers of their own).
const OTHER_SECRETS: &[&str] = &[
    "profile-secret",
    "first-secret",
    "second-secret",
    "first-token",
    "second-token",
];

impl Agent {
    /// Starts `kinetail -c config`, appending its log to `log`.
    pub fn start(config: &Path, log: &Path) -> Agent {
        Agent::start_with_env(config, log, &[])
    }

    /// Like `start`, with extra environment variables.
    pub fn start_with_env(config: &Path, log: &Path, env: &[(&str, &str)]) -> Agent {
        Agent::spawn(config, log, env, None, None)
    }

    /// Like `start`, with the open-file soft limit lowered to `soft` (the hard limit unchanged).
    pub fn start_with_fd_limit(config: &Path, log: &Path, soft: u64) -> Agent {
        Agent::spawn(config, log, &[], Some(soft), None)
    }

    /// Like `start`, as user and group `id` (the test must run as root to switch).
    pub fn start_as(config: &Path, log: &Path, id: u32) -> Agent {
        Agent::spawn(config, log, &[], None, Some(id))
    }

    fn spawn(
        config: &Path,
        log: &Path,
        env: &[(&str, &str)],
        fd_soft: Option<u64>,
        user: Option<u32>,
    ) -> Agent {
        let logf = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .unwrap();
        let log_from = logf.metadata().map_or(0, |m| m.len());
        let mut program = PathBuf::from(env!("CARGO_BIN_EXE_kinetail"));
        if user.is_some() {
            // The build directory may not be reachable by that user (a home directory of mode
            // 0700): it runs a copy beside its configuration.
            let copy = config.with_file_name("kinetail");
            std::fs::copy(&program, &copy).expect("copy kinetail for another user");
            program = copy;
        }
        let mut cmd = Command::new(&program);
        cmd.arg("-c")
            .arg(config)
            .env(
                "RUST_LOG",
                "info,kinetail::agent=debug,kinetail::pipeline=debug",
            )
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logf);
        if let Some(soft) = fd_soft {
            use std::os::unix::process::CommandExt;
            // SAFETY: only async-signal-safe calls between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let mut lim: libc::rlimit = std::mem::zeroed();
                    libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
                    lim.rlim_cur = soft.min(lim.rlim_max);
                    libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
                    Ok(())
                });
            }
        }
        if let Some(id) = user {
            use std::os::unix::process::CommandExt;
            // std drops the supplementary groups too when root switches.
            cmd.uid(id).gid(id).env("HOME", "/nonexistent");
        }
        let child = cmd.spawn().expect("start kinetail");
        let mut secrets: Vec<String> = OTHER_SECRETS.iter().map(|s| s.to_string()).collect();
        let written: Option<serde_json::Value> = std::fs::read(config)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(secret) = written
            .as_ref()
            .and_then(|v| v["awsSecretAccessKey"].as_str())
        {
            secrets.push(secret.to_owned());
        }
        for (name, value) in env {
            let name = name.to_ascii_uppercase();
            if name.contains("SECRET") || name.contains("TOKEN") {
                secrets.push((*value).to_owned());
            }
        }
        Agent {
            child: Some(child),
            log: log.to_owned(),
            secrets,
            log_from,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Peak resident memory so far (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        status_kib(self.pid(), "VmHWM")
    }

    /// Sends a signal.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.pid() as i32, sig);
        }
    }

    /// SIGKILLs it and reaps it.
    pub fn kill9(mut self) {
        let mut c = self.child.take().unwrap();
        let _ = c.kill();
        let _ = c.wait();
    }

    /// Waits up to `timeout` for exit; returns the exit code (None = killed by a signal or still running).
    pub fn wait(mut self, timeout: Duration) -> Option<i32> {
        wait_for_exit(self.child.as_mut().unwrap(), timeout)
    }

    /// SIGTERMs it and asserts it exits 0 within `within`; a failure shows the log's tail and,
    /// for an agent still running, what each of its threads was waiting in.
    pub fn stop(mut self, within: Duration) {
        // A SIGTERM in the first instants of the process, before its `main` holds the signal
        // back, kills it by the default action (as it would any program): stop what started.
        let started_by = Instant::now() + within;
        let started = |a: &Agent| {
            let log = std::fs::read(&a.log).unwrap_or_default();
            let own = log.get(a.log_from as usize..).unwrap_or_default();
            String::from_utf8_lossy(own).contains("Startup completed")
        };
        while !started(&self) && Instant::now() < started_by {
            if self.child.as_mut().unwrap().try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.signal(libc::SIGTERM);
        let mut c = self.child.take().unwrap();
        let asked = Instant::now();
        let deadline = asked + within;
        // (exited 0, how it ended, its threads when it had to be killed)
        let (clean, how, threads) = loop {
            if let Some(st) = c.try_wait().unwrap() {
                use std::os::unix::process::ExitStatusExt;
                let how = match (st.code(), st.signal()) {
                    (Some(code), _) => format!("exited with {code}"),
                    (None, Some(signal)) => format!("died of signal {signal}"),
                    (None, None) => format!("ended ({st})"),
                };
                break (st.success(), how, String::new());
            }
            if Instant::now() >= deadline {
                let threads = thread_states(c.id());
                let _ = c.kill();
                let _ = c.wait();
                break (false, "was still running (killed)".to_owned(), threads);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if !clean {
            let log = self.log_text();
            let lines: Vec<&str> = log.lines().collect();
            panic!(
                "the agent {how} {:.1} s after SIGTERM (asked to stop within {:.1} s); its threads:\n{threads}\nlast log lines:\n{}",
                asked.elapsed().as_secs_f64(),
                within.as_secs_f64(),
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Each thread of process `pid`: name, state and the kernel function it waits in.
fn thread_states(pid: u32) -> String {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return String::new();
    };
    let mut out = String::new();
    for t in tasks.flatten() {
        let p = t.path();
        let read = |f: &str| std::fs::read_to_string(p.join(f)).unwrap_or_default();
        let stat = read("stat");
        let state = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .next()
            .unwrap_or("?")
            .to_owned();
        out += &format!(
            "  {} {} {} {}\n",
            t.file_name().to_string_lossy(),
            read("comm").trim(),
            state,
            read("wchan")
        );
    }
    out
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Every e2e run of the agent: no secret it was given may appear in its log (issue 11).
        if !std::thread::panicking() {
            let log = self.log_text();
            for secret in &self.secrets {
                if let Some(line) = log.lines().find(|l| l.contains(secret.as_str())) {
                    panic!(
                        "the agent logged a secret it was given ({} characters) in {}: {line}",
                        secret.len(),
                        self.log.display()
                    );
                }
            }
        }
    }
}

/// A shard write limit no test reaches (the largest the keys take).
pub const UNLIMITED: u32 = i32::MAX as u32;

/// Writes an agent.json for one or more flows against a local endpoint.
///
/// kinesalite enforces no shard limits, so stream flows get limits no test reaches
/// (`shardWriteBytesPerSecond`, `shardWriteRecordsPerSecond`) unless they set their own: the
/// shaping tests set Kinesis's, behind a proxy that enforces them.
pub fn write_config(
    dir: &Path,
    endpoint: &str,
    mut flows: serde_json::Value,
    extra: serde_json::Value,
) -> PathBuf {
    for flow in flows.as_array_mut().into_iter().flatten() {
        if flow.get("kinesisStream").is_some() {
            for key in ["shardWriteBytesPerSecond", "shardWriteRecordsPerSecond"] {
                if flow.get(key).is_none() {
                    flow[key] = UNLIMITED.into();
                }
            }
        }
    }
    let mut conf = serde_json::json!({
        "kinesis.endpoint": endpoint,
        "kinesis.region": "us-east-1",
        "awsAccessKeyId": "AKIDLOCALTEST",
        "awsSecretAccessKey": "localtestsecret",
        "cloudwatch.emitMetrics": false,
        "checkpointFile": dir.join("state/checkpoints"),
        "log.statusReportingPeriodSeconds": 5,
        "flows": flows,
    });
    if let serde_json::Value::Object(m) = extra {
        for (k, v) in m {
            conf[k] = v;
        }
    }
    let path = dir.join("agent.json");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(serde_json::to_string_pretty(&conf).unwrap().as_bytes())
        .unwrap();
    path
}

/// The 17 field names of the AWS workshop's CSVTOJSON configuration (the TLC header).
pub const TAXI_FIELDS: [&str; 17] = [
    "VendorID",
    "tpep_pickup_datetime",
    "tpep_dropoff_datetime",
    "passenger_count",
    "trip_distance",
    "RatecodeID",
    "store_and_fwd_flag",
    "PULocationID",
    "DOLocationID",
    "payment_type",
    "fare_amount",
    "extra",
    "mta_tax",
    "tip_amount",
    "tolls_amount",
    "improvement_surcharge",
    "total_amount",
];

/// Decompresses the bundled 120,000-row taxi file into `dir`; returns its path.
pub fn taxi_120k(dir: &Path) -> PathBuf {
    let gz = std::fs::File::open(
        root().join("tests/data/yellow_tripdata_2018_sample_120k_17col.csv.gz"),
    )
    .unwrap();
    let mut dec = flate2::read::GzDecoder::new(gz);
    let path = dir.join("yellow_tripdata_2018_sample_120k_17col.csv");
    let mut out = std::fs::File::create(&path).unwrap();
    std::io::copy(&mut dec, &mut out).unwrap();
    path
}

/// A memory figure of process `pid` in KiB, as `/proc/PID/status` gives it (`VmRSS`, `VmHWM`);
/// 0 when it cannot be read.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Line `i` of the numbered test logs: `line-0000123 xxx…x\n`, 74 bytes.
pub fn numbered_line(i: usize) -> String {
    format!("line-{i:07} {}\n", "x".repeat(60))
}

/// The number of a record that is exactly one `numbered_line`, else None.
pub fn numbered_line_index(data: &[u8]) -> Option<usize> {
    let i: usize = std::str::from_utf8(data.get(5..12)?).ok()?.parse().ok()?;
    (numbered_line(i).as_bytes() == data).then_some(i)
}

/// The most records a run may re-send after `kills` kill -9s of an agent with `max_sending`
/// requests of `batch` records: per kill, what was in flight, plus the acknowledgements of the last
/// group-commit window (~200 ms) not yet in the checkpoint file.
pub fn kill_duplicate_bound(kills: usize, max_sending: usize, batch: usize) -> usize {
    kills * (max_sending * batch + 6_000)
}

/// Waits up to `within` for `child` to exit; returns its exit code (None: killed by a signal,
/// or still running at the deadline and killed then).
pub fn wait_for_exit(child: &mut Child, within: Duration) -> Option<i32> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st.code();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Appends `text` to a file (creating it), flushing it to the page cache at once.
pub fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Writes a backlog of at least `bytes` to a new file at `path`, line `i` being `line(i)`.
pub fn write_backlog(path: &Path, bytes: u64, line: impl Fn(u64) -> String) {
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut written = 0u64;
    let mut i = 0u64;
    while written < bytes {
        let text = line(i);
        f.write_all(text.as_bytes()).unwrap();
        written += text.len() as u64;
        i += 1;
    }
    f.flush().unwrap();
}
