//! Framing: bytes of a file → newline-terminated records with their byte ranges.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// One framing event, in file order; consecutive events cover the file without gaps.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A record: a line with its `\n`, or the first `max_record` bytes of a runaway line.
    Record {
        /// File offset of the first byte.
        start: u64,
        /// File offset just past the last byte covered.
        end: u64,
        /// The record's bytes.
        data: &'a [u8],
    },
    /// Bytes of a runaway line beyond `max_record`, dropped as the Java agent does.
    Discarded {
        /// File offset of the first byte.
        start: u64,
        /// File offset just past the last byte.
        end: u64,
    },
}

/// Splits a byte stream into records at `\n`, holding an unterminated last line until it completes.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Index in `buf` of the first byte not yet framed.
    cursor: usize,
    /// File offset of `buf[0]`.
    buf_start: u64,
    max_record: usize,
    /// Inside a runaway line: bytes are dropped until its `\n`.
    discarding: bool,
}

impl Framer {
    /// A framer whose next byte is at file offset `offset`; lines longer than `max_record` are cut.
    pub fn new(offset: u64, max_record: usize) -> Framer {
        Framer {
            buf: Vec::new(),
            cursor: 0,
            buf_start: offset,
            max_record: max_record.max(1),
            discarding: false,
        }
    }

    /// File offset of the next byte to read.
    pub fn read_offset(&self) -> u64 {
        self.buf_start + self.buf.len() as u64
    }

    /// File offset just past the last framed byte (where a restart would resume).
    pub fn framed_offset(&self) -> u64 {
        self.buf_start + self.cursor as u64
    }

    /// Bytes held back in an unterminated line.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.cursor
    }

    /// Frees the read buffer when nothing is held in it, so idle files cost no memory.
    pub fn release_if_idle(&mut self) {
        if self.pending() == 0 {
            self.compact();
            self.buf = Vec::new();
        }
    }

    /// Appends bytes (as read from the file at `read_offset`).
    pub fn push(&mut self, data: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(data);
    }

    /// Reads up to `chunk` bytes from `file` at `read_offset`; returns how many were read.
    pub fn read_from(&mut self, file: &File, chunk: usize) -> io::Result<usize> {
        self.compact();
        let len = self.buf.len();
        self.buf.resize(len + chunk, 0);
        let at = self.buf_start + len as u64;
        let n = loop {
            match file.read_at(&mut self.buf[len..], at) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.buf.truncate(len);
                    return Err(e);
                }
            }
        };
        self.buf.truncate(len + n);
        Ok(n)
    }

    fn compact(&mut self) {
        if self.cursor > 0 {
            self.buf.drain(..self.cursor);
            self.buf_start += self.cursor as u64;
            self.cursor = 0;
        }
        // Give back a large buffer once a long line has passed, so memory stays flat.
        if self.buf.is_empty() && self.buf.capacity() > 4 << 20 {
            self.buf = Vec::new();
        }
    }

    /// Frames every complete record buffered so far, calling `f` for each event in order.
    pub fn drain(&mut self, mut f: impl FnMut(Frame<'_>)) {
        loop {
            let rest = &self.buf[self.cursor..];
            if rest.is_empty() {
                return;
            }
            let at = self.buf_start + self.cursor as u64;
            let nl = memchr::memchr(b'\n', rest);
            if self.discarding {
                let n = nl.map_or(rest.len(), |i| i + 1);
                self.discarding = nl.is_none();
                self.cursor += n;
                f(Frame::Discarded {
                    start: at,
                    end: at + n as u64,
                });
                continue;
            }
            match nl {
                Some(i) if i < self.max_record => {
                    self.cursor += i + 1;
                    f(Frame::Record {
                        start: at,
                        end: at + i as u64 + 1,
                        data: &rest[..=i],
                    });
                }
                _ if rest.len() > self.max_record || nl.is_some_and(|i| i >= self.max_record) => {
                    // A runaway line: keep its first `max_record` bytes, drop the rest up to its end.
                    let n = self.max_record;
                    self.cursor += n;
                    self.discarding = true;
                    f(Frame::Record {
                        start: at,
                        end: at + n as u64,
                        data: &rest[..n],
                    });
                }
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, PartialEq, Eq, Clone)]
    enum Ev {
        Rec(u64, u64, Vec<u8>),
        Drop(u64, u64),
    }

    fn frame_all(start: u64, max: usize, chunks: &[Vec<u8>]) -> (Vec<Ev>, Framer) {
        let mut fr = Framer::new(start, max);
        let mut out = vec![];
        for c in chunks {
            fr.push(c);
            fr.drain(|f| match f {
                Frame::Record { start, end, data } => out.push(Ev::Rec(start, end, data.to_vec())),
                Frame::Discarded { start, end } => out.push(Ev::Drop(start, end)),
            });
        }
        (out, fr)
    }

    #[test]
    fn lines_and_a_held_partial_line() {
        let (ev, fr) = frame_all(100, 1000, &[b"ab\n\ncd".to_vec(), b"e\nf".to_vec()]);
        assert_eq!(
            ev,
            vec![
                Ev::Rec(100, 103, b"ab\n".to_vec()),
                Ev::Rec(103, 104, b"\n".to_vec()),
                Ev::Rec(104, 108, b"cde\n".to_vec()),
            ]
        );
        assert_eq!(fr.pending(), 1);
        assert_eq!(fr.framed_offset(), 108);
        assert_eq!(fr.read_offset(), 109);
    }

    #[test]
    fn crlf_is_kept() {
        let (ev, _) = frame_all(0, 1000, &[b"a,b\r\n".to_vec()]);
        assert_eq!(ev, vec![Ev::Rec(0, 5, b"a,b\r\n".to_vec())]);
    }

    #[test]
    fn runaway_line_is_cut_and_the_rest_discarded() {
        let (ev, _) = frame_all(0, 4, &[b"abcdefg".to_vec(), b"hi\nxy\n".to_vec()]);
        assert_eq!(
            ev,
            vec![
                Ev::Rec(0, 4, b"abcd".to_vec()),
                Ev::Drop(4, 7),
                Ev::Drop(7, 10),
                Ev::Rec(10, 13, b"xy\n".to_vec()),
            ]
        );
    }

    #[test]
    fn a_line_of_exactly_max_is_whole() {
        let (ev, _) = frame_all(0, 4, &[b"abc\n".to_vec()]);
        assert_eq!(ev, vec![Ev::Rec(0, 4, b"abc\n".to_vec())]);
    }

    proptest! {
        /// However the bytes are chunked, frames are the same, contiguous, and cover every
        /// complete line; only an unterminated tail is held back.
        #[test]
        fn chunking_does_not_matter(
            data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'a'), Just(b'\r'), any::<u8>()], 0..400),
            cuts in proptest::collection::vec(0usize..400, 0..10),
            max in 1usize..40,
            start in 0u64..1000,
        ) {
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort();
            let mut chunks = vec![];
            let mut prev = 0;
            for c in cuts.into_iter().chain(std::iter::once(data.len())) {
                chunks.push(data[prev..c].to_vec());
                prev = c;
            }
            let (chunked, fr) = frame_all(start, max, &chunks);
            let (whole, _) = frame_all(start, max, std::slice::from_ref(&data));
            // Runaway discards may be reported in several pieces; merge them before comparing.
            fn merged(ev: Vec<Ev>) -> Vec<Ev> {
                let mut out: Vec<Ev> = vec![];
                for e in ev {
                    if let (Some(Ev::Drop(_, end)), Ev::Drop(s2, e2)) = (out.last_mut(), &e) {
                        if *end == *s2 { *end = *e2; continue; }
                    }
                    out.push(e);
                }
                out
            }
            let chunked = merged(chunked);
            prop_assert_eq!(&chunked, &merged(whole));
            let mut at = start;
            for e in &chunked {
                let (s, en) = match e { Ev::Rec(s, en, d) => { prop_assert!(d.len() <= max); (*s, *en) } Ev::Drop(s, en) => (*s, *en) };
                prop_assert_eq!(s, at);
                prop_assert!(en > s);
                at = en;
            }
            prop_assert_eq!(at, fr.framed_offset());
            let last_nl = data.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            prop_assert!(fr.framed_offset() >= start + last_nl as u64);
            // Records are exactly the lines when none is longer than max.
            if data.split(|&b| b == b'\n').all(|l| l.len() < max) {
                let lines: Vec<Vec<u8>> = data[..last_nl].split_inclusive(|&b| b == b'\n').map(|l| l.to_vec()).collect();
                let recs: Vec<Vec<u8>> = chunked.iter().filter_map(|e| match e { Ev::Rec(_, _, d) => Some(d.clone()), _ => None }).collect();
                prop_assert_eq!(recs, lines);
            }
        }
    }
}
