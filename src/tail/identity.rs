//! File identity: device + inode, plus a digest of the first bytes against inode reuse.

use crate::checkpoint::{BytesBefore, FileIdentity};
use md5::{Digest, Md5};
use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};

/// How many leading bytes the fingerprint covers at most.
pub const FINGERPRINT_MAX: u64 = 1024;

/// How many bytes before a checkpoint's offset are digested at most: a few rows of a CSV, the
/// part of a file most likely to differ between two that share their first KiB.
pub const BEFORE_MAX: u64 = 256;

/// Device and inode of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevIno {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl DevIno {
    /// The id of the file a metadata record describes.
    pub fn of(meta: &Metadata) -> DevIno {
        DevIno {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Reads up to `len` bytes from the start of `file`.
fn head(file: &File, len: u64) -> io::Result<Vec<u8>> {
    read_from(file, 0, len)
}

/// Reads up to `len` bytes of `file` from `at` (fewer at its end).
fn read_from(file: &File, at: u64, len: u64) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len as usize];
    let mut got = 0;
    while got < buf.len() {
        match file.read_at(&mut buf[got..], at + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

/// The identity of an open file whose current size is `size`.
pub fn identify(file: &File, id: DevIno, size: u64) -> io::Result<FileIdentity> {
    let bytes = head(file, size.min(FINGERPRINT_MAX))?;
    Ok(FileIdentity {
        dev: id.dev,
        ino: id.ino,
        fingerprint_len: bytes.len() as u32,
        fingerprint: hex::encode(Md5::digest(&bytes)),
    })
}

/// How many first bytes of a file are kept in memory to notice a copy caught while its first
/// KiB is still being written (too short to fingerprint).
pub const HEAD_SAMPLE: u64 = 64;

/// The first bytes of `file` (up to [`HEAD_SAMPLE`]).
pub fn head_sample(file: &File, size: u64) -> io::Result<Vec<u8>> {
    head(file, size.min(HEAD_SAMPLE))
}

/// True when `file` still starts with the bytes `stored` fingerprinted (so it is the same file).
pub fn same_content(file: &File, stored: &FileIdentity) -> io::Result<bool> {
    let bytes = head(file, u64::from(stored.fingerprint_len))?;
    Ok(bytes.len() == stored.fingerprint_len as usize
        && hex::encode(Md5::digest(&bytes)) == stored.fingerprint)
}

/// The digest of the bytes of `file` just before `offset`; `None` at offset 0 or when the file no
/// longer reaches `offset`.
pub fn bytes_before(file: &File, offset: u64) -> io::Result<Option<BytesBefore>> {
    let len = offset.min(BEFORE_MAX);
    if len == 0 {
        return Ok(None);
    }
    let bytes = read_from(file, offset - len, len)?;
    if bytes.len() as u64 != len {
        return Ok(None);
    }
    Ok(Some(BytesBefore {
        offset,
        len: len as u32,
        md5: hex::encode(Md5::digest(&bytes)),
    }))
}

/// True when `file` still holds the bytes `before` digested, at the same place.
pub fn same_before(file: &File, before: &BytesBefore) -> io::Result<bool> {
    let len = u64::from(before.len);
    let Some(at) = before.offset.checked_sub(len) else {
        return Ok(false);
    };
    let bytes = read_from(file, at, len)?;
    Ok(bytes.len() as u64 == len && hex::encode(Md5::digest(&bytes)) == before.md5)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn fingerprint_detects_other_content_on_the_same_inode() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        std::fs::write(&p, b"hello\nworld\n").unwrap();
        let f = File::open(&p).unwrap();
        let meta = f.metadata().unwrap();
        let ident = identify(&f, DevIno::of(&meta), meta.len()).unwrap();
        assert_eq!(ident.fingerprint_len, 12);
        assert!(same_content(&f, &ident).unwrap());
        // Appending keeps the identity.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"more\n")
            .unwrap();
        assert!(same_content(&f, &ident).unwrap());
        // Rewriting the start does not.
        std::fs::write(&p, b"HELLO\nworld\nmore\n").unwrap();
        assert!(!same_content(&f, &ident).unwrap());
        // Shorter than the fingerprint does not either.
        std::fs::write(&p, b"hel").unwrap();
        assert!(!same_content(&f, &ident).unwrap());
    }

    #[test]
    fn bytes_before_an_offset_tell_contents_that_share_their_head() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        let head = "h".repeat(2000);
        std::fs::write(&p, format!("{head}row one\nrow two\n")).unwrap();
        let f = File::open(&p).unwrap();
        assert_eq!(bytes_before(&f, 0).unwrap(), None);
        let short = bytes_before(&f, 10).unwrap().unwrap();
        assert_eq!((short.offset, short.len), (10, 10));
        let at = 2000 + 8;
        let before = bytes_before(&f, at).unwrap().unwrap();
        assert_eq!((before.offset, before.len), (at, BEFORE_MAX as u32));
        assert!(same_before(&f, &before).unwrap());
        assert_eq!(bytes_before(&f, 1 << 20).unwrap(), None, "past the end");
        // Appending keeps it; other rows after the same head do not, nor does a shorter file.
        std::fs::write(&p, format!("{head}row one\nrow two\nrow three\n")).unwrap();
        assert!(same_before(&f, &before).unwrap());
        std::fs::write(&p, format!("{head}row 1!\nrow two\n")).unwrap();
        assert!(!same_before(&f, &before).unwrap());
        std::fs::write(&p, &head).unwrap();
        assert!(!same_before(&f, &before).unwrap());
    }
}
