//! Finding the Java agent's SQLite checkpoint database to import at the first start:
//! `javaCheckpointFile` (kinetail), else `checkpointFile` when an unchanged Java agent.json names
//! the database there, else the Java agent's default path.

use super::agent::{AgentConfig, DEFAULT_CHECKPOINT_FILE};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The Java agent's default `checkpointFile` (on tmpfs: there until the next reboot).
pub const JAVA_CHECKPOINT_FILE: &str = "/var/run/aws-kinesis-agent/checkpoints";

/// True when `path` is an SQLite database (its 16-byte header).
pub fn is_sqlite(path: &Path) -> bool {
    let mut header = [0u8; 16];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .is_ok_and(|()| &header == b"SQLite format 3\0")
}

impl AgentConfig {
    /// Sets [`AgentConfig::java_checkpoint_db`]. When `checkpointFile` is the Java agent's
    /// database, kinetail's own checkpoints go to the default path instead
    /// (`/var/lib/kinetail/checkpoints`: the service's state directory, not a tmpfs, and the only
    /// place the packaged service may write).
    pub fn find_java_checkpoints(&mut self, java_default: &Path) {
        if self.java_checkpoint_db.is_some() {
            return;
        }
        let configured_is_java = is_sqlite(&self.checkpoint_file);
        self.java_checkpoint_db = if let Some(explicit) = &self.java_checkpoint_file {
            Some(explicit.clone())
        } else if configured_is_java {
            Some(self.checkpoint_file.clone())
        } else if is_sqlite(java_default) {
            Some(java_default.to_owned())
        } else {
            None
        };
        if configured_is_java {
            self.checkpoint_file = PathBuf::from(DEFAULT_CHECKPOINT_FILE);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_str;

    fn config(extra: &str) -> AgentConfig {
        let text = format!(
            r#"{{{extra} "flows": [{{"filePattern": "/x/*.log", "kinesisStream": "s"}}]}}"#
        );
        parse_str(Path::new("agent.json"), &text).unwrap()
    }

    fn sqlite(path: &Path) {
        std::fs::write(path, b"SQLite format 3\0rest of the header").unwrap();
    }

    #[test]
    fn a_java_database_as_checkpoint_file_is_imported_and_ours_goes_to_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("checkpoints");
        sqlite(&db);
        let mut c = config(&format!(r#""checkpointFile": "{}","#, db.display()));
        c.find_java_checkpoints(Path::new("/nonexistent"));
        assert_eq!(c.java_checkpoint_db.as_deref(), Some(db.as_path()));
        assert_eq!(c.checkpoint_file, PathBuf::from(DEFAULT_CHECKPOINT_FILE));
    }

    #[test]
    fn the_java_default_is_imported_when_present_and_ours_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let ours = dir.path().join("ours");
        std::fs::write(&ours, "{}").unwrap();
        let java = dir.path().join("java");
        sqlite(&java);
        let extra = format!(r#""checkpointFile": "{}","#, ours.display());
        let mut c = config(&extra);
        c.find_java_checkpoints(&java);
        assert_eq!(c.java_checkpoint_db.as_deref(), Some(java.as_path()));
        assert_eq!(c.checkpoint_file, ours);
        let mut c = config(&extra);
        c.find_java_checkpoints(Path::new("/nonexistent"));
        assert_eq!(c.java_checkpoint_db, None);
    }

    #[test]
    fn java_checkpoint_file_names_the_database_whatever_else_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let (ours, java, default) = (
            dir.path().join("ours"),
            dir.path().join("java"),
            dir.path().join("default"),
        );
        sqlite(&default);
        let mut c = config(&format!(
            r#""checkpointFile": "{}", "javaCheckpointFile": "{}","#,
            ours.display(),
            java.display()
        ));
        c.find_java_checkpoints(&default);
        assert_eq!(c.java_checkpoint_db.as_deref(), Some(java.as_path()));
        assert_eq!(c.checkpoint_file, ours);
        assert_eq!(
            c.resolved_json()["javaCheckpointFile"],
            serde_json::json!(java.to_string_lossy())
        );
    }
}
