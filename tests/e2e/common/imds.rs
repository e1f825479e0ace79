//! The local instance-metadata (IMDS) test server, `tests/harness/imds.js` (Node, no npm packages).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Child;

/// `node tests/harness/imds.js ARGS`, stopped when dropped.
pub struct FakeImds {
    child: Child,
    port: u16,
}

impl FakeImds {
    pub fn start(args: &[&str]) -> FakeImds {
        let (child, port) = super::start_node_server("imds.js", args);
        FakeImds { child, port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET /__stats` over plain HTTP/1.0 (not with `ImdsClient`, whose token request would
    /// show in the counts). Keys: `requests` ("METHOD path" → count), `tokensIssued`,
    /// `getsWithToken`, `getsWithoutToken`, `rejected` (401s), `lastToken`.
    pub fn stats(&self) -> serde_json::Value {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .write_all(b"GET /__stats HTTP/1.0\r\nHost: imds\r\n\r\n")
            .unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        serde_json::from_str(body).unwrap()
    }
}

impl Drop for FakeImds {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
