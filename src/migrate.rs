//! Switching from the Java agent: its SQLite checkpoint database (`FILE_CHECKPOINTS`) is read
//! once, at the first start, and turned into kinetail's checkpoints, so that the switch neither
//! skips nor re-sends data.
//!
//! The Java agent follows one file per flow and restores only the flow's latest row: that file
//! (found by its `(dev=…,ino=…)` file id, as the Java agent finds it after a rename) is resumed
//! at the row's offset; the flow's files older than it are never read again by the Java agent,
//! so they are recorded as sent; newer ones are read from their start, as the Java agent reads
//! them. A flow whose file is gone or shorter than its offset is left to `initialPosition`, as
//! the Java agent does after its "Failed to start tailing from previous checkpoint".

use crate::checkpoint::store::{StoredFlow, StoredState};
use crate::checkpoint::StoredFile;
use crate::config::FlowConfig;
use crate::tail::discover::FilePattern;
use crate::tail::identity::{bytes_before, identify, DevIno};
use std::path::{Path, PathBuf};

/// Errors reading the Java agent's database.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database cannot be opened or queried.
    #[error("{path}: cannot read the Java agent's checkpoint database: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
}

/// One row of the Java agent's `FILE_CHECKPOINTS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JavaCheckpoint {
    /// Flow id (kinetail's flow ids are the Java agent's).
    pub flow: String,
    /// The path the file was last seen under.
    pub path: PathBuf,
    /// `st_dev`, from the `(dev=<hex>,ino=<dec>)` file id.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// Byte offset after the last record the destination acknowledged.
    pub offset: u64,
    /// `lastUpdated` (UTC text that sorts by time).
    pub last_updated: String,
}

/// `(dev=fe00,ino=10014667)`, the JDK's `fileKey()` on Linux, as (dev, ino).
pub fn parse_file_id(s: &str) -> Option<(u64, u64)> {
    let inner = s.trim().strip_prefix("(dev=")?.strip_suffix(')')?;
    let (dev, ino) = inner.split_once(",ino=")?;
    Some((u64::from_str_radix(dev, 16).ok()?, ino.parse().ok()?))
}

/// Every row of the database whose file id can be read (the others are reported and skipped).
pub fn read(db: &Path) -> Result<(Vec<JavaCheckpoint>, Vec<String>), MigrateError> {
    let err = |source| MigrateError::Database {
        path: db.to_owned(),
        source,
    };
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(err)?;
    let mut stmt = conn
        .prepare("select flow, path, fileId, offset, lastUpdated from FILE_CHECKPOINTS")
        .map_err(err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })
        .map_err(err)?;
    let (mut out, mut skipped) = (vec![], vec![]);
    for row in rows {
        let (flow, path, file_id, offset, last_updated) = row.map_err(err)?;
        match (parse_file_id(&file_id), u64::try_from(offset)) {
            (Some((dev, ino)), Ok(offset)) => out.push(JavaCheckpoint {
                flow,
                path: PathBuf::from(path),
                dev,
                ino,
                offset,
                last_updated: last_updated.unwrap_or_default(),
            }),
            _ => skipped.push(format!(
                "{flow}: {path}: unreadable file id {file_id:?} or offset {offset}: skipped"
            )),
        }
    }
    Ok((out, skipped))
}

/// What the import does for one flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The checkpointed file resumes at `offset`; `older` files are recorded as sent.
    Resumed {
        /// The file as it is found now (possibly renamed since).
        path: PathBuf,
        /// Where it resumes.
        offset: u64,
        /// Files older than it, recorded as sent.
        older: Vec<PathBuf>,
    },
    /// The checkpointed file is not among the flow's files, or is shorter than its offset.
    Lost {
        /// The path in the database.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// One flow's part of the import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowImport {
    /// The flow id.
    pub flow: String,
    /// What happens to it.
    pub outcome: Outcome,
}

impl std::fmt::Display for FlowImport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.outcome {
            Outcome::Resumed {
                path,
                offset,
                older,
            } => {
                write!(
                    f,
                    "{}: {} resumes at offset {offset}",
                    self.flow,
                    path.display()
                )?;
                if !older.is_empty() {
                    write!(f, "; {} older files recorded as sent", older.len())?;
                }
                Ok(())
            }
            Outcome::Lost { path, why } => write!(
                f,
                "{}: {} not imported ({why}): the flow starts at its initialPosition",
                self.flow,
                path.display()
            ),
        }
    }
}

/// kinetail's checkpoints for `flows` from the Java agent's rows, and what was done per flow
/// (flows without a row are not mentioned).
pub fn plan(flows: &[FlowConfig], rows: &[JavaCheckpoint]) -> (StoredState, Vec<FlowImport>) {
    let mut state = StoredState {
        version: 1,
        ..StoredState::default()
    };
    let mut report = vec![];
    let now = crate::metrics::unix_millis();
    for flow in flows {
        // The Java agent restores the flow's latest row only.
        let Some(row) = rows
            .iter()
            .filter(|r| r.flow == flow.id)
            .max_by(|a, b| a.last_updated.cmp(&b.last_updated))
        else {
            continue;
        };
        let listing = FilePattern::new(&flow.directory, &flow.file_glob)
            .ok()
            .and_then(|p| p.list().ok())
            .map(|l| l.files)
            .unwrap_or_default();
        let wanted = DevIno {
            dev: row.dev,
            ino: row.ino,
        };
        let lost = |why: String| FlowImport {
            flow: flow.id.clone(),
            outcome: Outcome::Lost {
                path: row.path.clone(),
                why,
            },
        };
        let Some(current) = listing.iter().find(|f| DevIno::of(&f.meta) == wanted) else {
            report.push(lost(format!(
                "no file of the flow has its file id (dev={:x},ino={})",
                row.dev, row.ino
            )));
            continue;
        };
        if current.meta.len() < row.offset {
            report.push(lost(format!(
                "it holds {} bytes, fewer than the offset {}",
                current.meta.len(),
                row.offset
            )));
            continue;
        }
        let Some(resumed) = entry_for(&current.path, wanted, row.offset, now) else {
            report.push(lost(format!("{} cannot be read", current.path.display())));
            continue;
        };
        let mtime = current.meta.modified().ok();
        let mut files = vec![resumed];
        let mut older = vec![];
        for f in &listing {
            let id = DevIno::of(&f.meta);
            // Same time or newer: read from the start, as the Java agent would (at least once).
            if id == wanted || f.meta.modified().ok() >= mtime {
                continue;
            }
            if let Some(entry) = entry_for(&f.path, id, f.meta.len(), now) {
                older.push(f.path.clone());
                files.push(entry);
            }
        }
        state.flows.insert(flow.id.clone(), StoredFlow { files });
        report.push(FlowImport {
            flow: flow.id.clone(),
            outcome: Outcome::Resumed {
                path: current.path.clone(),
                offset: row.offset,
                older,
            },
        });
    }
    (state, report)
}

/// What the first start imports from the Java agent's database.
#[derive(Debug)]
pub struct Import {
    /// The database.
    pub db: PathBuf,
    /// Rows read from it.
    pub rows: usize,
    /// Rows that could not be read, one message each.
    pub skipped: Vec<String>,
    /// kinetail's checkpoints made of them.
    pub state: StoredState,
    /// What was done for each flow.
    pub report: Vec<FlowImport>,
}

/// The import the start would do: None when there is no Java database, or when kinetail's own
/// checkpoint file exists (the import happened before, or the agent ran without one).
pub fn pending(config: &crate::config::AgentConfig) -> Result<Option<Import>, MigrateError> {
    let Some(db) = &config.java_checkpoint_db else {
        return Ok(None);
    };
    if config.checkpoint_file.exists() {
        return Ok(None);
    }
    let (rows, skipped) = read(db)?;
    let (state, report) = plan(&config.flows, &rows);
    Ok(Some(Import {
        db: db.clone(),
        rows: rows.len(),
        skipped,
        state,
        report,
    }))
}

/// What the first start would import, for `check`: one line per flow, or why nothing is.
pub fn describe(config: &crate::config::AgentConfig) -> Result<Vec<String>, MigrateError> {
    let Some(import) = pending(config)? else {
        return Ok(config
            .java_checkpoint_db
            .iter()
            .map(|db| {
                format!(
                    "the Java agent's checkpoints in {} are not imported: {} exists (imported before)",
                    db.display(),
                    config.checkpoint_file.display()
                )
            })
            .collect());
    };
    let mut out = vec![format!(
        "the first start imports the Java agent's checkpoints from {} ({} rows) into {}:",
        import.db.display(),
        import.rows,
        config.checkpoint_file.display()
    )];
    out.extend(import.skipped);
    out.extend(import.report.iter().map(|r| format!("  {r}")));
    Ok(out)
}

/// A checkpoint entry for `path` at `offset`, with the identity and the bytes-before digest
/// the tailer verifies when it resumes; None when the file cannot be read.
fn entry_for(path: &Path, id: DevIno, offset: u64, now: u64) -> Option<StoredFile> {
    let file = std::fs::File::open(path).ok()?;
    let size = file.metadata().ok()?.len();
    Some(StoredFile {
        identity: identify(&file, id, size).ok()?,
        path: path.to_owned(),
        offset,
        last_seen_millis: now,
        last_ack_millis: 0,
        finished: false,
        before: bytes_before(&file, offset).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_ids_are_read_as_the_jdk_writes_them() {
        assert_eq!(
            parse_file_id("(dev=fe00,ino=10014667)"),
            Some((0xfe00, 10014667))
        );
        assert_eq!(parse_file_id("(dev=803,ino=1)"), Some((0x803, 1)));
        assert_eq!(parse_file_id("dev=803,ino=1"), None);
        assert_eq!(parse_file_id("(dev=xyz,ino=1)"), None);
        assert_eq!(parse_file_id("(dev=803,ino=-1)"), None);
    }
}
