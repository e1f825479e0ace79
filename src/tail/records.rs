//! The framer and the splitter of one input wired together: bytes in, records and skipped spans
//! out. The tailer reads files through it and `preview` reads files or standard input through it,
//! so both frame, cut and split exactly alike.

use std::fs::File;
use std::io;
use std::time::Instant;

use super::framer::{Frame, Framer};
use super::splitter::{SkipReason, Span, SplitSettings, Splitter};

/// Turns the bytes of one input into records (lines, or multi-line records) and skipped spans.
#[derive(Debug)]
pub struct RecordReader {
    framer: Framer,
    splitter: Splitter,
}

/// What one [`RecordReader::drain`] produced, for the tailer's counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Records emitted.
    pub records: u64,
    /// Input bytes framed (records, skipped lines and discarded runaway bytes alike).
    pub bytes: u64,
}

impl RecordReader {
    /// A reader whose next byte is at `offset` of its input (header lines are skipped only from 0).
    pub fn new(settings: SplitSettings, offset: u64) -> RecordReader {
        RecordReader {
            framer: Framer::new(offset, settings.max_record),
            splitter: Splitter::new(settings, offset),
        }
    }

    /// Reads up to `chunk` bytes of `file` at [`Self::read_offset`]; returns how many were read.
    pub fn read_from(&mut self, file: &File, chunk: usize) -> io::Result<usize> {
        self.framer.read_from(file, chunk)
    }

    /// Appends bytes that follow what was pushed or read before (a stream without offsets).
    pub fn push(&mut self, data: &[u8]) {
        self.framer.push(data);
    }

    /// Frames and splits every complete line buffered so far, calling `emit` in input order.
    pub fn drain(&mut self, emit: &mut dyn FnMut(Span<'_>)) -> Drained {
        let splitter = &mut self.splitter;
        let mut drained = Drained::default();
        let mut count = |s: Span<'_>| {
            if matches!(s, Span::Record { .. }) {
                drained.records += 1;
            }
            emit(s);
        };
        let mut bytes = 0;
        self.framer.drain(|f| match f {
            Frame::Record { start, end, data } => {
                bytes += end - start;
                splitter.line(start, end, data, &mut count);
            }
            Frame::Discarded { start, end } => {
                bytes += end - start;
                count(Span::Skip {
                    start,
                    end,
                    reason: SkipReason::Runaway,
                });
            }
        });
        drained.bytes = bytes;
        drained
    }

    /// Emits a held multi-line record whose quiet period has passed; returns whether it did.
    pub fn flush_if_quiet(&mut self, now: Instant, emit: &mut dyn FnMut(Span<'_>)) -> bool {
        let holding = self.splitter.holding();
        self.splitter.flush_if_quiet(now, emit);
        holding && !self.splitter.holding()
    }

    /// Emits a held multi-line record now (end of input, file gone); returns whether it did.
    pub fn flush(&mut self, emit: &mut dyn FnMut(Span<'_>)) -> bool {
        let holding = self.splitter.holding();
        self.splitter.flush(emit);
        holding
    }

    /// True while a multi-line record is held back for more lines.
    pub fn holding(&self) -> bool {
        self.splitter.holding()
    }

    /// When the held record is due (None when nothing is held).
    pub fn deadline(&self) -> Option<Instant> {
        self.splitter.deadline()
    }

    /// True once the file footer was seen: nothing more of this input is read.
    pub fn finished(&self) -> bool {
        self.splitter.finished()
    }

    /// The footer was seen by an earlier run: nothing more of this input is read.
    pub fn finish(&mut self) {
        self.splitter.finish();
    }

    /// Offset of the next byte to read.
    pub fn read_offset(&self) -> u64 {
        self.framer.read_offset()
    }

    /// Offset just past the last framed byte.
    pub fn framed_offset(&self) -> u64 {
        self.framer.framed_offset()
    }

    /// Bytes of an unterminated last line, held until its newline arrives.
    pub fn pending(&self) -> usize {
        self.framer.pending()
    }

    /// Frees the read buffer when nothing is held in it, so idle files cost no memory.
    pub fn release_if_idle(&mut self) {
        self.framer.release_if_idle();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::java::regex::looking_at;
    use std::sync::Arc;
    use std::time::Duration;

    fn settings(multi_line: Option<&str>, max_record: usize) -> SplitSettings {
        SplitSettings {
            skip_header_lines: 1,
            multi_line_start: multi_line.map(|p| Arc::new(looking_at(p).unwrap())),
            multi_line_quiet: Duration::from_secs(3600),
            footer: None,
            max_record,
            aggregate_bytes: 0,
        }
    }

    #[derive(Debug, PartialEq)]
    enum Ev {
        Record(u64, u64, String),
        Skip(u64, u64, SkipReason),
    }

    fn collect(r: &mut RecordReader, events: &mut Vec<Ev>) -> Drained {
        r.drain(&mut |s| events.push(ev(s)))
    }

    fn ev(s: Span<'_>) -> Ev {
        match s {
            Span::Record { start, end, data } => {
                Ev::Record(start, end, String::from_utf8_lossy(data).into_owned())
            }
            Span::Skip { start, end, reason } => Ev::Skip(start, end, reason),
        }
    }

    #[test]
    fn header_lines_records_and_runaway_bytes_cover_the_input() {
        let mut r = RecordReader::new(settings(None, 4), 0);
        r.push(b"h\nab\nabcdefg\nxy");
        let mut events = vec![];
        let d = collect(&mut r, &mut events);
        assert_eq!(
            events,
            vec![
                Ev::Skip(0, 2, SkipReason::Header),
                Ev::Record(2, 5, "ab\n".into()),
                Ev::Record(5, 9, "abcd".into()),
                Ev::Skip(9, 13, SkipReason::Runaway),
            ]
        );
        assert_eq!(
            d,
            Drained {
                records: 2,
                bytes: 13
            }
        );
        assert_eq!(
            (r.framed_offset(), r.read_offset(), r.pending()),
            (13, 15, 2)
        );
    }

    #[test]
    fn multi_line_records_are_held_until_the_next_start_or_a_flush() {
        let mut r = RecordReader::new(settings(Some("S"), 100), 0);
        r.push(b"header\nS1\n more\nS2\n");
        let mut events = vec![];
        collect(&mut r, &mut events);
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[1], Ev::Record(7, 16, "S1\n more\n".into()));
        assert!(r.holding());
        assert!(!r.flush_if_quiet(Instant::now(), &mut |s| events.push(ev(s))));
        assert!(r.flush(&mut |s| events.push(ev(s))));
        assert_eq!(events[2], Ev::Record(16, 19, "S2\n".into()));
        assert!(!r.holding());
        assert!(!r.flush(&mut |_| panic!("nothing is held")));
    }

    #[test]
    fn a_reader_resumed_mid_file_skips_no_header() {
        let mut r = RecordReader::new(settings(None, 100), 10);
        r.push(b"a\n");
        let mut events = vec![];
        collect(&mut r, &mut events);
        assert_eq!(events, vec![Ev::Record(10, 12, "a\n".into())]);
    }
}
