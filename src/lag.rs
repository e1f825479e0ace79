//! `kinetail status`: how far behind each file of each flow is, from the checkpoint file and the
//! files on disk alone (no AWS), whether the agent runs or not.

use crate::checkpoint::store::{self, StoreError, StoredFile};
use crate::config::{AgentConfig, FlowConfig};
use crate::tail::identity::DevIno;
use crate::tail::FilePattern;
use serde::Serialize;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

/// Errors of a status report.
#[derive(Debug, thiserror::Error)]
pub enum LagError {
    /// The checkpoint file cannot be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a file of a flow stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileState {
    /// Checkpointed, and its path (or a matching name it was renamed to) still holds it.
    Tracked,
    /// Checkpointed, but shorter now than its acknowledged offset: it is read again from 0.
    Truncated,
    /// Checkpointed, but no matching file holds it any more (rotated away, deleted).
    Gone,
    /// Matches the pattern, but has no checkpoint yet (not started, or found since).
    New,
}

/// One file of a flow.
#[derive(Debug, Clone, Serialize)]
pub struct FileLag {
    /// Where it is now (or was last seen, when gone).
    pub path: PathBuf,
    /// Where it stands.
    pub state: FileState,
    /// Bytes acknowledged by the destination (everything before this offset).
    pub acknowledged: u64,
    /// Its size now (None when gone).
    pub size: Option<u64>,
    /// Bytes not acknowledged yet.
    pub behind: u64,
    /// Unix time (ms) of its last acknowledgement, when known.
    pub last_ack_millis: Option<u64>,
    /// Unix time (ms) at which a running agent last saw it.
    pub last_seen_millis: Option<u64>,
}

/// One flow.
#[derive(Debug, Clone, Serialize)]
pub struct FlowLag {
    /// The flow's id (destination and file pattern).
    pub flow: String,
    /// Bytes not acknowledged yet, over its files.
    pub behind: u64,
    /// Its files, by path.
    pub files: Vec<FileLag>,
}

/// How far behind every flow of `config` is.
pub fn report(config: &AgentConfig) -> Result<Vec<FlowLag>, LagError> {
    let stored = store::read(&config.checkpoint_file)?;
    Ok(config
        .flows
        .iter()
        .map(|flow| {
            let entries = stored
                .flows
                .get(&flow.id)
                .map(|f| f.files.as_slice())
                .unwrap_or_default();
            flow_lag(flow, entries)
        })
        .collect())
}

fn flow_lag(flow: &FlowConfig, entries: &[StoredFile]) -> FlowLag {
    // The files the pattern matches now, by device and inode (a rotated file is found under its
    // new name). A pattern that cannot be built or listed matches nothing.
    let mut on_disk: HashMap<DevIno, (PathBuf, u64)> = HashMap::new();
    let listing = FilePattern::new(&flow.directory, &flow.file_glob)
        .ok()
        .and_then(|p| p.list().ok());
    if let Some(listing) = listing {
        for f in listing.files {
            on_disk.insert(DevIno::of(&f.meta), (f.path, f.meta.len()));
        }
    }
    let mut files = vec![];
    // Several entries can share an inode (the content it had before a truncation, kept for its
    // copy): the one a running agent saw last describes the file; on a tie, the first (the
    // entries are sorted by offset: the content since the truncation).
    let mut latest: HashMap<DevIno, &StoredFile> = HashMap::new();
    for e in entries {
        let id = DevIno {
            dev: e.identity.dev,
            ino: e.identity.ino,
        };
        let slot = latest.entry(id).or_insert(e);
        if e.last_seen_millis > slot.last_seen_millis {
            *slot = e;
        }
    }
    for (id, e) in &latest {
        let known = |ms: u64| (ms > 0).then_some(ms);
        let (path, size, state) = match on_disk.remove(id) {
            Some((path, size)) if size < e.offset => (path, Some(size), FileState::Truncated),
            Some((path, size)) => (path, Some(size), FileState::Tracked),
            None => (e.path.clone(), None, FileState::Gone),
        };
        let behind = match state {
            FileState::Truncated => size.unwrap_or(0),
            _ => size.map_or(0, |s| s.saturating_sub(e.offset)),
        };
        files.push(FileLag {
            path,
            state,
            acknowledged: e.offset,
            size,
            behind,
            last_ack_millis: known(e.last_ack_millis),
            last_seen_millis: known(e.last_seen_millis),
        });
    }
    for (path, size) in on_disk.into_values() {
        files.push(FileLag {
            path,
            state: FileState::New,
            acknowledged: 0,
            size: Some(size),
            behind: size,
            last_ack_millis: None,
            last_seen_millis: None,
        });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    FlowLag {
        flow: flow.id.clone(),
        behind: files.iter().map(|f| f.behind).sum(),
        files,
    }
}

/// Writes the report as a table for people.
pub fn write_table(flows: &[FlowLag], now_millis: u64, out: &mut dyn Write) -> std::io::Result<()> {
    for f in flows {
        writeln!(
            out,
            "{}: {} bytes behind in {} files",
            f.flow,
            f.behind,
            f.files.iter().filter(|x| x.behind > 0).count()
        )?;
        writeln!(
            out,
            "  {:<9} {:>14} {:>14} {:>12} {:>12}  path",
            "state", "acknowledged", "size", "behind", "last ack"
        )?;
        for x in &f.files {
            writeln!(
                out,
                "  {:<9} {:>14} {:>14} {:>12} {:>12}  {}",
                format!("{:?}", x.state).to_lowercase(),
                x.acknowledged,
                x.size.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                x.behind,
                x.last_ack_millis
                    .map_or_else(|| "-".to_owned(), |t| ago(now_millis.saturating_sub(t))),
                x.path.display()
            )?;
        }
    }
    Ok(())
}

/// "12 s ago", "5 min ago", "3 h ago", "2 d ago".
fn ago(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..120 => format!("{s} s ago"),
        120..7200 => format!("{} min ago", s / 60),
        7200..172_800 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_short_and_readable() {
        assert_eq!(ago(0), "0 s ago");
        assert_eq!(ago(119_999), "119 s ago");
        assert_eq!(ago(120_000), "2 min ago");
        assert_eq!(ago(7_200_000), "2 h ago");
        assert_eq!(ago(3 * 86_400_000), "3 d ago");
    }
}
