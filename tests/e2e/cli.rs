//! The command line: `check`, refusals of unsupported features, `--version`, config errors.

use std::path::Path;
use std::process::{Command, Output};

fn kinetail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kinetail"))
        .args(args)
        .output()
        .expect("run kinetail")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn check_prints_resolved_flows_with_defaults() {
    let root = env!("CARGO_MANIFEST_DIR");
    let out = kinetail(&["check", "-c", &format!("{root}/etc/agent.json")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("check prints JSON");
    assert_eq!(v["shutdownTimeoutMillis"], 10000);
    assert_eq!(v["cloudwatch.namespace"], "AWSKinesisAgent");
    let flow = &v["flows"][0];
    assert_eq!(flow["id"], "kinesis:taxi-trips:/var/log/taxi/*.csv");
    assert_eq!(flow["maxBufferSizeBytes"], 5242880);
    assert_eq!(flow["retryMaxBackoffMillis"], 10000);
    assert_eq!(flow["truncatedRecordTerminator"], "\n");
}

#[test]
fn check_prints_firehose_flows_with_their_own_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "agent.json",
        r#"{ "firehose.endpoint": "firehose.eu-west-1.amazonaws.com",
             "flows": [{ "filePattern": "/tmp/x/*.log", "deliveryStream": "fh",
                         "aggregatedRecordSizeBytes": 4096 }] }"#,
    );
    let out = kinetail(&["check", "-c", &cfg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("check prints JSON");
    assert_eq!(v["firehose.endpoint"], "firehose.eu-west-1.amazonaws.com");
    let flow = &v["flows"][0];
    assert_eq!(flow["id"], "fh:fh:/tmp/x/*.log");
    assert_eq!(flow["deliveryStream"], "fh");
    assert_eq!(flow["maxBufferSizeBytes"], 4194304);
    assert_eq!(flow["maxBufferSizeRecords"], 500);
    assert_eq!(flow["aggregatedRecordSizeBytes"], 4096);
    assert!(flow.get("partitionKeyOption").is_none(), "{flow}");
    assert!(flow.get("kinesisStream").is_none(), "{flow}");
}

#[test]
fn check_names_the_file_and_key_of_an_invalid_value() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "agent.json",
        r#"{ // comment
            "flows": [{ "filePattern": "/tmp/x/*.log", "kinesisStream": "s", "maxBufferSizeRecords": "501" }] }"#,
    );
    let out = kinetail(&["check", "-c", &cfg]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&cfg)
            && err.contains("flows[0].maxBufferSizeRecords")
            && err.contains("[1, 500]"),
        "{err}"
    );
}

#[test]
fn syntax_errors_give_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "agent.json",
        "{\n  \"flows\": [\n    { \"filePattern\": \"/x/*.log\" \n  ]\n}\n",
    );
    let out = kinetail(&["check", "-c", &cfg]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{cfg}:4:")), "{err}");
}

#[test]
fn misspelled_keys_are_reported_but_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "agent.json",
        r#"{ "flows": [{ "filePattern": "/tmp/x/*.log", "kinesisStream": "s", "initialPostion": "START_OF_FILE" }] }"#,
    );
    let out = kinetail(&["check", "-c", &cfg]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("flows[0].initialPostion"), "{err}");
}

#[test]
fn unsupported_features_are_refused_by_check_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "agent.json",
        &format!(
            r#"{{ "checkpointFile": "{}/cp", "userDefinedCredentialsProvider.classname": "com.example.Creds",
                "flows": [{{ "filePattern": "/tmp/x/*.log", "deliveryStream": "fh" }}] }}"#,
            dir.path().display()
        ),
    );
    for args in [vec!["check", "-c", &cfg], vec!["-c", &cfg]] {
        let out = kinetail(&args);
        assert!(
            !out.status.success(),
            "{args:?} accepted userDefinedCredentialsProvider"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("userDefinedCredentialsProvider.classname loads Java classes"),
            "{err}"
        );
        assert!(
            !err.contains("Firehose"),
            "Firehose flows are supported: {err}"
        );
    }
    assert!(
        !dir.path().join("cp").exists(),
        "a refused configuration touched the checkpoint file"
    );
}

#[test]
fn version_and_help() {
    let out = kinetail(&["--version"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("kinetail "));
    let out = kinetail(&["--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--configuration"));
}

#[test]
fn agent_d_flows_are_merged() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        dir.path(),
        "agent.json",
        r#"{ "flows": [{ "filePattern": "/tmp/a/*.log", "kinesisStream": "a" }] }"#,
    );
    std::fs::create_dir(dir.path().join("agent.d")).unwrap();
    write(
        &dir.path().join("agent.d"),
        "20-c.json",
        r#"{ "flows": [{ "filePattern": "/tmp/c/*.log", "kinesisStream": "c" }] }"#,
    );
    write(
        &dir.path().join("agent.d"),
        "10-b.json",
        r#"{ "flows": [{ "filePattern": "/tmp/b/*.log", "kinesisStream": "b" }] }"#,
    );
    write(&dir.path().join("agent.d"), "notes.txt", "not json");
    let out = kinetail(&["check", "-c", &cfg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = v["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "kinesis:a:/tmp/a/*.log",
            "kinesis:b:/tmp/b/*.log",
            "kinesis:c:/tmp/c/*.log"
        ]
    );
}

#[test]
fn preview_shows_records_and_why_lines_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    std::fs::copy(
        format!("{root}/tests/fixtures/apache_test_log"),
        logs.join("access.log"),
    )
    .unwrap();
    let cp = dir.path().join("state/checkpoints");
    let cfg = write(
        dir.path(),
        "agent.json",
        &format!(
            r#"{{ "checkpointFile": "{}", "flows": [{{ "filePattern": "{}/*.log", "kinesisStream": "s",
                "dataProcessingOptions": [{{ "optionName": "LOGTOJSON", "logFormat": "COMMONAPACHELOG" }}] }}] }}"#,
            cp.display(),
            logs.display()
        ),
    );
    let out = kinetail(&["preview", "-c", &cfg]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let sent: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" SEND "))
        .map(|l| l.split_once(" SEND ").unwrap().1)
        .collect();
    let expected =
        std::fs::read_to_string(format!("{root}/tests/fixtures/apache_test_log_json")).unwrap();
    let expected: Vec<String> = expected.lines().map(|l| format!("{l}\\n")).collect();
    assert_eq!(sent, expected, "{text}");
    let skipped: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" SKIP LOGTOJSON: the line does not match"))
        .collect();
    assert_eq!(skipped.len(), 2, "{text}");
    assert!(text.contains("7 record(s) would be sent"), "{text}");
    assert!(!cp.exists(), "preview touched the checkpoint file");

    // Standard input, with a header line and a multi-line start pattern.
    let cfg2 = write(
        dir.path(),
        "agent2.json",
        r#"{ "flows": [{ "filePattern": "/nonexistent/*.log", "kinesisStream": "s", "skipHeaderLines": 1,
             "multiLineStartPattern": "\\[\\d{4}" }] }"#,
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_kinetail"))
        .args(["preview", "--stdin", "-c", &cfg2])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"header\n[2024] one\n  at x\n[2025] two\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("@0..7 SKIP header line (skipHeaderLines)"),
        "{text}"
    );
    assert!(
        text.contains("@7..25 SEND [2024] one\\n  at x\\n"),
        "{text}"
    );
    assert!(text.contains("@25..36 SEND [2025] two\\n"), "{text}");
}

#[test]
fn patterns_that_cannot_be_honoured_are_refused_at_startup_with_their_position() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value) in [
        ("multiLineStartPattern", r"^\\p{InGreek}x"),
        ("fileFooterPattern", "(unclosed"),
    ] {
        let cfg = write(
            dir.path(),
            "agent.json",
            &format!(
                r#"{{ "checkpointFile": "{}/cp", "flows": [{{ "filePattern": "/tmp/x/*.log", "kinesisStream": "s", "{key}": "{value}" }}] }}"#,
                dir.path().display()
            ),
        );
        for args in [vec!["check", "-c", &cfg], vec!["-c", &cfg]] {
            let out = kinetail(&args);
            assert!(!out.status.success(), "{args:?} accepted {key} {value}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains(key) && err.contains("position"), "{err}");
        }
    }
    let cfg = write(
        dir.path(),
        "agent.json",
        r#"{ "flows": [{ "filePattern": "/tmp/x/*.log", "kinesisStream": "s",
             "dataProcessingOptions": [{ "optionName": "LOGTOJSON", "logFormat": "SYSLOG", "matchPattern": "(a", "customFieldNames": ["x"] }] }] }"#,
    );
    let out = kinetail(&["check", "-c", &cfg]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("LOGTOJSON") && err.contains("position"),
        "{err}"
    );
}

/// `check` on a world-readable agent.json holding a masked secret key: the value is masked in the
/// printed configuration, and both problems are warned about without showing the secret.
#[test]
fn check_warns_about_keys_that_cannot_be_real_and_never_prints_the_secret() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfi****";
    let cfg = write(
        dir.path(),
        "agent.json",
        &format!(
            r#"{{ "awsAccessKeyId": "AKIAIOSFODNN7EXAMPLE", "awsSecretAccessKey": "{secret}",
                "flows": [{{ "filePattern": "/tmp/x/*.log", "kinesisStream": "s" }}] }}"#
        ),
    );
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = kinetail(&["check", "-c", &cfg]);
    assert!(out.status.success());
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!stdout.contains(secret) && !stderr.contains(secret));
    assert!(!stdout.contains("wJalr") && !stderr.contains("wJalr"));
    assert!(
        stderr.contains("awsSecretAccessKey cannot be a real secret access key: it is masked"),
        "{stderr}"
    );
    assert!(
        stderr.contains("every user can read it (mode 0644)"),
        "{stderr}"
    );
}
