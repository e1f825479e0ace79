//! The Java agent's progress log lines (its benchmarking scripts parse them).

/// Above this many bytes behind, the "behind" line is a warning.
const WARN_BEHIND: u64 = 41_943_040;
/// Above this many bytes behind, the "behind" line is informational.
const INFO_BEHIND: u64 = 20_971_520;

/// `Agent: Progress: ...` line.
pub fn agent_progress(parsed: u64, bytes: u64, sent: u64, uptime_ms: u64) -> String {
    format!(
        "Agent: Progress: {parsed} records parsed ({bytes} bytes), and {sent} records sent successfully to destinations. Uptime: {uptime_ms}ms"
    )
}

/// `FileTailer[<flow>]: Tailer Progress: ...` line.
pub fn tailer_progress(
    flow: &str,
    parsed: u64,
    bytes: u64,
    transformed: u64,
    skipped: u64,
    sent: u64,
) -> String {
    format!(
        "FileTailer[{flow}]: Tailer Progress: Tailer has parsed {parsed} records ({bytes} bytes), transformed {transformed} records, skipped {skipped} records, and has successfully sent {sent} records to destination."
    )
}

/// How loud a "behind" line should be, or None when there is nothing to say.
pub fn behind_level(bytes: u64) -> Option<tracing::Level> {
    if bytes >= WARN_BEHIND {
        Some(tracing::Level::WARN)
    } else if bytes >= INFO_BEHIND {
        Some(tracing::Level::INFO)
    } else if bytes > 0 {
        Some(tracing::Level::DEBUG)
    } else {
        None
    }
}

/// `Agent: Tailing is ... behind.` line.
pub fn agent_behind(bytes: u64, newer_files: u64) -> String {
    let mut s = format!(
        "Agent: Tailing is {:.2} MB ({bytes} bytes) behind.",
        bytes as f64 / 1024.0 / 1024.0
    );
    if newer_files > 0 {
        s.push_str(&format!(
            " There are {newer_files} file(s) newer than current file(s) being tailed."
        ));
    }
    s
}

/// `FileTailer[<flow>]: Tailer is ... behind.` line.
pub fn tailer_behind(flow: &str, bytes: u64) -> String {
    format!(
        "FileTailer[{flow}]: Tailer is {:.2} MB ({bytes} bytes) behind.",
        bytes as f64 / 1024.0 / 1024.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wording_matches_the_java_agent() {
        assert_eq!(
            agent_progress(10, 200, 9, 3000),
            "Agent: Progress: 10 records parsed (200 bytes), and 9 records sent successfully to destinations. Uptime: 3000ms"
        );
        assert_eq!(
            tailer_progress("kinesis:s:/d/*.log", 5, 50, 5, 0, 5),
            "FileTailer[kinesis:s:/d/*.log]: Tailer Progress: Tailer has parsed 5 records (50 bytes), transformed 5 records, skipped 0 records, and has successfully sent 5 records to destination."
        );
        assert_eq!(
            agent_behind(1_048_576, 0),
            "Agent: Tailing is 1.00 MB (1048576 bytes) behind."
        );
        assert_eq!(behind_level(0), None);
        assert_eq!(behind_level(41_943_040), Some(tracing::Level::WARN));
    }
}
