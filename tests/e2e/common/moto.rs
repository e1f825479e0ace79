//! A moto server (Firehose delivering into S3) on 127.0.0.1, run by `tests/harness/firehose.py`
//! with the harness venv that `scripts/setup` installs. It exits when its standard input closes,
//! that is when this handle is dropped or the test process dies.

use super::root;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

/// The running server and the pipe that drives it.
pub struct Moto {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    scratch: tempfile::TempDir,
    /// Its TCP port.
    pub port: u16,
}

/// What a delivery stream stored, call by call.
#[derive(Debug, Default, Clone)]
pub struct Delivered {
    /// The records of each PutRecordBatch call, in the order the calls arrived.
    pub calls: Vec<Vec<Vec<u8>>>,
}

impl Delivered {
    /// Every record, in arrival order.
    pub fn records(&self) -> Vec<&[u8]> {
        self.calls.iter().flatten().map(Vec::as_slice).collect()
    }

    /// Everything stored, concatenated in arrival order.
    pub fn bytes(&self) -> Vec<u8> {
        self.calls.iter().flatten().flatten().copied().collect()
    }

    /// Number of records.
    pub fn count(&self) -> usize {
        self.calls.iter().map(Vec::len).sum()
    }
}

impl Moto {
    /// Starts the server (run `scripts/setup` first).
    pub fn start() -> Moto {
        let python = root().join("tests/harness/venv/bin/python");
        assert!(
            python.exists(),
            "moto is not installed: run scripts/setup (it makes tests/harness/venv)"
        );
        let mut child = Command::new(python)
            .arg(root().join("tests/harness/firehose.py"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start tests/harness/firehose.py");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read moto's port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("firehose.py printed {line:?}"));
        Moto {
            child,
            stdin,
            stdout,
            scratch: tempfile::tempdir().unwrap(),
            port,
        }
    }

    /// Its endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn command(&mut self, words: &[&str]) -> serde_json::Value {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{}", words.join(" ")).unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let answer: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("firehose.py answered {line:?} to {words:?}: {e}"));
        assert!(
            answer.get("error").is_none(),
            "firehose.py failed {words:?}: {answer}"
        );
        answer
    }

    /// Creates a DirectPut delivery stream writing into moto's S3.
    pub fn create_delivery_stream(&mut self, name: &str) {
        self.command(&["create", name]);
    }

    /// What `stream` stored so far.
    pub fn delivered(&mut self, stream: &str) -> Delivered {
        let file: PathBuf = self.scratch.path().join(format!("{stream}.bin"));
        let answer = self.command(&["read", stream, file.to_str().unwrap()]);
        let bytes = std::fs::read(&file).unwrap();
        let mut at = 0;
        let mut calls = vec![];
        for call in answer["calls"].as_array().unwrap() {
            let mut records = vec![];
            for size in call.as_array().unwrap() {
                let end = at + size.as_u64().unwrap() as usize;
                records.push(bytes[at..end].to_vec());
                at = end;
            }
            calls.push(records);
        }
        assert_eq!(at, bytes.len(), "S3 holds bytes no call accounts for");
        Delivered { calls }
    }

    /// Polls until `stream` stored at least `n` records or `timeout` passes.
    pub fn wait_for(&mut self, stream: &str, n: usize, timeout: Duration) -> Delivered {
        let deadline = Instant::now() + timeout;
        loop {
            let d = self.delivered(stream);
            if d.count() >= n || Instant::now() >= deadline {
                return d;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Polls until `stream` stored at least `bytes` bytes or `timeout` passes.
    pub fn wait_for_bytes(&mut self, stream: &str, bytes: usize, timeout: Duration) -> Delivered {
        let deadline = Instant::now() + timeout;
        loop {
            let d = self.delivered(stream);
            if d.bytes().len() >= bytes || Instant::now() >= deadline {
                return d;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Closing its standard input ends it; kill in case it hangs.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
