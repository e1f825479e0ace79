//! The checkpoint file on disk: JSON, replaced atomically (temp file, fsync, rename, fsync dir).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Errors reading or writing the checkpoint file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file or its directory could not be read or written.
    #[error("checkpoint file {path}: {source}")]
    Io {
        /// Whichever failed: the checkpoint file, its temporary copy or its directory.
        path: PathBuf,
        source: io::Error,
    },
    /// The file exists but is not a checkpoint file kinetail can read.
    #[error("checkpoint file {path} is corrupt: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

/// Who a file is, independent of its name: device, inode and a digest of its first bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIdentity {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// How many leading bytes the fingerprint covers.
    #[serde(rename = "fingerprintLen")]
    pub fingerprint_len: u32,
    /// Hex MD5 of those leading bytes.
    pub fingerprint: String,
}

/// A digest of the bytes just before an offset: whether a file still holds, up to there, the
/// content a checkpoint was taken on (its first bytes alone cannot tell two exports that share
/// a long header, on an inode reused after a delete or rewritten in place).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BytesBefore {
    /// The offset the digested bytes end at (at most the checkpoint's offset).
    pub offset: u64,
    /// How many bytes before `offset` the digest covers.
    pub len: u32,
    /// Hex MD5 of `[offset - len, offset)`.
    pub md5: String,
}

/// One file's persisted position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFile {
    /// The file's identity when the checkpoint was written.
    #[serde(flatten)]
    pub identity: FileIdentity,
    /// The last path the file was seen under (informational; lookups use the identity).
    pub path: PathBuf,
    /// Everything before this byte offset has been acknowledged by the destination.
    pub offset: u64,
    /// Unix time (ms) at which the file was last seen by a running agent.
    #[serde(rename = "lastSeenMillis")]
    pub last_seen_millis: u64,
    /// Unix time (ms) at which its acknowledged offset last moved (0: not since tracking began).
    #[serde(rename = "lastAckMillis", default, skip_serializing_if = "is_zero")]
    pub last_ack_millis: u64,
    /// Its `fileFooterPattern` line was seen: nothing more of it is sent, after a restart too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub finished: bool,
    /// The bytes before (about) the offset, checked before resuming after a restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<BytesBefore>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// The persisted state of one flow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFlow {
    pub files: Vec<StoredFile>,
}

/// The whole checkpoint file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredState {
    /// Format version, for later migrations.
    pub version: u32,
    /// Keyed by flow id (`FlowConfig::id`, e.g. `kinesis:<stream>:<file pattern>`).
    pub flows: BTreeMap<String, StoredFlow>,
}

/// True when `path`'s directory is on tmpfs (so the checkpoints would not survive a reboot).
pub fn on_tmpfs(path: &Path) -> bool {
    use nix::sys::statfs::{statfs, TMPFS_MAGIC};
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // The directory may not exist yet: look at the nearest existing ancestor.
    let Some(existing) = dir.ancestors().find(|d| d.exists()) else {
        return false;
    };
    statfs(existing).is_ok_and(|st| st.filesystem_type() == TMPFS_MAGIC)
}

/// Reads the checkpoint file; a missing file is an empty state.
pub fn read(path: &Path) -> Result<StoredState, StoreError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(StoredState::default()),
        Err(source) => {
            return Err(StoreError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    serde_json::from_slice(&bytes).map_err(|source| StoreError::Corrupt {
        path: path.to_owned(),
        source,
    })
}

/// Replaces the checkpoint file atomically and durably.
pub fn write(path: &Path, state: &StoredState) -> Result<(), StoreError> {
    let io_err = |p: &Path| {
        let p = p.to_owned();
        move |source| StoreError::Io { path: p, source }
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_owned();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let body = serde_json::to_vec_pretty(state).expect("checkpoint state serializes");
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        f.write_all(&body).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
    }
    fs::rename(&tmp, path).map_err(io_err(path))?;
    // The rename is only durable once the directory entry itself is on disk.
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StoredState {
        let mut s = StoredState {
            version: 1,
            ..Default::default()
        };
        s.flows.insert(
            "kinesis:s:/var/log/*.log".into(),
            StoredFlow {
                files: vec![StoredFile {
                    identity: FileIdentity {
                        dev: 0xfe00,
                        ino: 42,
                        fingerprint_len: 3,
                        fingerprint: "abc".into(),
                    },
                    path: "/var/log/a.log".into(),
                    offset: 1234,
                    last_seen_millis: 99,
                    last_ack_millis: 98,
                    finished: false,
                    before: None,
                }],
            },
        );
        s
    }

    #[test]
    fn round_trips_and_creates_parent_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/er/checkpoints");
        assert_eq!(read(&path).unwrap(), StoredState::default());
        write(&path, &sample()).unwrap();
        assert_eq!(read(&path).unwrap(), sample());
        assert!(!dir.path().join("deep/er/checkpoints.tmp").exists());
    }

    #[test]
    fn tmpfs_is_recognised() {
        if Path::new("/dev/shm").is_dir() {
            assert!(on_tmpfs(Path::new("/dev/shm/kinetail/checkpoints")));
        }
        // /proc is procfs, never tmpfs, even through a missing subdirectory.
        assert!(!on_tmpfs(Path::new("/proc/definitely/not/here")));
    }

    /// The file system type of the mount holding `dir`, from the kernel's mount table: an oracle
    /// independent of statfs.
    fn mount_type(dir: &Path) -> Option<String> {
        let dir = dir.canonicalize().ok()?;
        let mounts = fs::read_to_string("/proc/self/mounts").ok()?;
        mounts
            .lines()
            .filter_map(|l| {
                let mut f = l.split(' ');
                let (_, point, kind) = (f.next()?, f.next()?, f.next()?);
                dir.starts_with(point)
                    .then(|| (point.len(), kind.to_owned()))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, kind)| kind)
    }

    #[test]
    fn the_working_directory_is_judged_by_its_mount() {
        // A bare file name is looked up in the working directory: the checkout, on a disk in
        // CI, but a developer's may be on tmpfs.
        let cwd = std::env::current_dir().unwrap();
        let Some(kind) = mount_type(&cwd) else {
            return;
        };
        assert_eq!(
            on_tmpfs(Path::new("checkpoints")),
            kind == "tmpfs",
            "{kind}"
        );
        let tmp = tempfile::tempdir().unwrap();
        if let Some(kind) = mount_type(tmp.path()) {
            let missing = tmp.path().join("not/yet/checkpoints");
            assert_eq!(on_tmpfs(&missing), kind == "tmpfs", "{kind}");
        }
    }

    #[test]
    fn corrupt_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints");
        fs::write(&path, b"{not json").unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("checkpoints"), "{err}");
        assert!(err.contains("corrupt"), "{err}");
    }
}
