//! Records from lines: header skipping, multi-line records (`multiLineStartPattern`) with a quiet
//! period, Firehose line joining (`aggregatedRecordSizeBytes`), and the file footer
//! (`fileFooterPattern`).

use crate::java::regex::{FullMatch, LookingAt};
use crate::java::utf8;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why bytes of a file are not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// One of the first `skipHeaderLines` lines of the file.
    Header,
    /// The part of a record beyond the maximum record size.
    Runaway,
    /// The record matched `fileFooterPattern`: the file is complete.
    Footer,
}

impl SkipReason {
    /// A short human explanation (used by `preview`).
    pub fn explain(self) -> &'static str {
        match self {
            SkipReason::Header => "header line (skipHeaderLines)",
            SkipReason::Runaway => {
                "beyond the maximum record size (discarded, as the Java agent does)"
            }
            SkipReason::Footer => {
                "file footer (fileFooterPattern): the rest of the file is not read"
            }
        }
    }
}

/// What the splitter produces, in file order; consecutive events cover the file without gaps.
#[derive(Debug, PartialEq, Eq)]
pub enum Span<'a> {
    /// A record to process and send.
    Record {
        start: u64,
        end: u64,
        data: &'a [u8],
    },
    /// Bytes deliberately not sent.
    Skip {
        start: u64,
        end: u64,
        reason: SkipReason,
    },
}

/// How lines become records.
#[derive(Clone)]
pub struct SplitSettings {
    /// `skipHeaderLines`.
    pub skip_header_lines: u64,
    /// `multiLineStartPattern`, matched Java `lookingAt` style against each line (with its `\n`).
    pub multi_line_start: Option<Arc<LookingAt>>,
    /// How long a pending multi-line record waits for more lines before it is emitted.
    pub multi_line_quiet: Duration,
    /// `fileFooterPattern`, matched against each record `trim()`ed, Java `matches()` style.
    pub footer: Option<Arc<FullMatch>>,
    /// Records longer than this are cut (the rest up to the next record is discarded).
    pub max_record: usize,
    /// `aggregatedRecordSizeBytes` (Firehose, without `multiLineStartPattern`): consecutive
    /// lines are joined into one record of at most this many bytes; 0 = one record per line.
    pub aggregate_bytes: usize,
}

impl std::fmt::Debug for SplitSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SplitSettings")
            .field("skip_header_lines", &self.skip_header_lines)
            .field("multi_line", &self.multi_line_start.is_some())
            .field("multi_line_quiet", &self.multi_line_quiet)
            .field("footer", &self.footer.is_some())
            .field("max_record", &self.max_record)
            .field("aggregate_bytes", &self.aggregate_bytes)
            .finish()
    }
}

/// The splitter of one file, fed complete lines (or runaway fragments) by the line framer.
#[derive(Debug)]
pub struct Splitter {
    settings: SplitSettings,
    headers_left: u64,
    /// The pending multi-line or joined record and the range it covers.
    pending: Vec<u8>,
    pending_start: u64,
    pending_end: u64,
    /// Bytes of the pending record beyond `max_record` (covered, not kept).
    pending_cut: bool,
    last_line_at: Instant,
    /// The footer was seen: nothing more of this file is a record.
    finished: bool,
}

impl Splitter {
    /// A splitter for a file read from `offset` (header lines are skipped only from offset 0).
    pub fn new(settings: SplitSettings, offset: u64) -> Splitter {
        Splitter {
            headers_left: if offset == 0 {
                settings.skip_header_lines
            } else {
                0
            },
            settings,
            pending: Vec::new(),
            pending_start: offset,
            pending_end: offset,
            pending_cut: false,
            last_line_at: Instant::now(),
            finished: false,
        }
    }

    /// True once the footer was seen.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// The footer was seen before (by an earlier run): nothing more is a record.
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// True while a multi-line or joined record is held back.
    pub fn holding(&self) -> bool {
        self.pending_end > self.pending_start
    }

    /// When the held record is due (None when nothing is held).
    pub fn deadline(&self) -> Option<Instant> {
        self.holding().then(|| self.last_line_at + self.quiet())
    }

    /// How long a held record waits for more lines. A joined record is due as soon as the lines
    /// read so far are used up: the Java agent joins only the lines already in its read buffer
    /// and never waits for more.
    fn quiet(&self) -> Duration {
        if self.joining() {
            Duration::ZERO
        } else {
            self.settings.multi_line_quiet
        }
    }

    fn joining(&self) -> bool {
        self.settings.aggregate_bytes > 0 && self.settings.multi_line_start.is_none()
    }

    /// Takes one framed line (`[start, end)`, its bytes) and emits what it completes.
    pub fn line(&mut self, start: u64, end: u64, data: &[u8], emit: &mut dyn FnMut(Span<'_>)) {
        if self.finished {
            emit(Span::Skip {
                start,
                end,
                reason: SkipReason::Footer,
            });
            return;
        }
        if self.headers_left > 0 {
            self.headers_left -= 1;
            emit(Span::Skip {
                start,
                end,
                reason: SkipReason::Header,
            });
            return;
        }
        if self.joining() {
            self.join(start, end, data, emit);
            return;
        }
        let Some(pattern) = self.settings.multi_line_start.clone() else {
            self.record(start, end, data, emit);
            return;
        };
        self.last_line_at = Instant::now();
        if self.holding() && pattern.is_match(&utf8::decode(data)) {
            self.flush(emit);
        }
        if !self.holding() {
            self.pending_start = start;
            self.pending_cut = false;
        }
        let room = self.settings.max_record.saturating_sub(self.pending.len());
        if data.len() > room {
            self.pending.extend_from_slice(&data[..room]);
            self.pending_cut = true;
        } else {
            self.pending.extend_from_slice(data);
        }
        self.pending_end = end;
    }

    /// The Java agent's `AggregationSplitter`: a line joins the held record while the joined
    /// record stays within `aggregate_bytes`; a line that does not fit starts the next record,
    /// and a longer line is a record of its own. Newlines are kept, so the record is the exact
    /// bytes `[first line start, last line end)` of the file.
    fn join(&mut self, start: u64, end: u64, data: &[u8], emit: &mut dyn FnMut(Span<'_>)) {
        if self.holding() && self.pending.len() + data.len() > self.settings.aggregate_bytes {
            self.flush(emit);
        }
        if !self.holding() {
            self.pending_start = start;
            self.pending_cut = false;
        }
        self.pending.extend_from_slice(data);
        self.pending_end = end;
        self.last_line_at = Instant::now();
    }

    /// Emits a held multi-line record whose quiet period has passed.
    pub fn flush_if_quiet(&mut self, now: Instant, emit: &mut dyn FnMut(Span<'_>)) {
        if self.deadline().is_some_and(|d| now >= d) {
            self.flush(emit);
        }
    }

    /// Emits a held multi-line record now (end of input, file gone, shutdown preview).
    pub fn flush(&mut self, emit: &mut dyn FnMut(Span<'_>)) {
        if !self.holding() {
            return;
        }
        let (start, end) = (self.pending_start, self.pending_end);
        let data = std::mem::take(&mut self.pending);
        if self.pending_cut {
            // Keep the first max_record bytes as the record; what was cut is covered by it.
            tracing::debug!(
                "multi-line record at offset {start} exceeded {} bytes and was cut",
                self.settings.max_record
            );
        }
        self.pending_start = end;
        self.pending_cut = false;
        self.record(start, end, &data, emit);
        // Keep the allocation for the next record unless it grew large.
        if data.capacity() <= 64 * 1024 {
            let mut data = data;
            data.clear();
            self.pending = data;
        }
    }

    fn record(&mut self, start: u64, end: u64, data: &[u8], emit: &mut dyn FnMut(Span<'_>)) {
        if let Some(footer) = &self.settings.footer {
            // Java: `footerPattern.matcher(new String(record, UTF_8).trim()).matches()`.
            let text = utf8::decode(data);
            if footer.is_match(java_trim(&text)) {
                self.finished = true;
                emit(Span::Skip {
                    start,
                    end,
                    reason: SkipReason::Footer,
                });
                return;
            }
        }
        emit(Span::Record { start, end, data });
    }
}

/// Java `String.trim()`: strips chars <= U+0020 from both ends.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= '\u{20}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::java::regex::{full_match, looking_at};

    #[derive(Debug, PartialEq, Eq)]
    enum Ev {
        Rec(u64, u64, String),
        Skip(u64, u64, SkipReason),
    }

    fn settings(
        start: Option<&str>,
        footer: Option<&str>,
        headers: u64,
        max: usize,
    ) -> SplitSettings {
        SplitSettings {
            skip_header_lines: headers,
            multi_line_start: start.map(|p| Arc::new(looking_at(p).unwrap())),
            multi_line_quiet: Duration::from_secs(3600),
            footer: footer.map(|p| Arc::new(full_match(p, true).unwrap())),
            max_record: max,
            aggregate_bytes: 0,
        }
    }

    fn joining(hint: usize, footer: Option<&str>) -> SplitSettings {
        SplitSettings {
            aggregate_bytes: hint,
            ..settings(None, footer, 0, 64)
        }
    }

    /// Feeds `text` line by line from `at`, then flushes what is held, as the tailer does when
    /// it has used up what it read.
    fn feed_all(sp: &mut Splitter, text: &str, at: u64) -> Vec<Ev> {
        let mut ev = feed(sp, text, at);
        sp.flush_if_quiet(Instant::now(), &mut |s| ev.push(to_ev(s)));
        ev
    }

    fn recs(ev: &[Ev]) -> Vec<&str> {
        ev.iter()
            .map(|e| match e {
                Ev::Rec(_, _, d) => d.as_str(),
                Ev::Skip(..) => panic!("unexpected skip {e:?}"),
            })
            .collect()
    }

    // The cases of the Java agent's AggregationSplitterTest (hint 10).
    #[test]
    fn joined_records_follow_the_java_aggregation_splitter() {
        let case = |text: &str| {
            let mut sp = Splitter::new(joining(10, None), 0);
            let ev = feed_all(&mut sp, text, 0);
            recs(&ev).into_iter().map(str::to_owned).collect::<Vec<_>>()
        };
        // Complete lines within the hint: one record, newlines kept.
        assert_eq!(case("AA\n"), ["AA\n"]);
        assert_eq!(case("AA\nBB\nCC\n"), ["AA\nBB\nCC\n"]);
        // A line longer than the hint is a record of its own.
        assert_eq!(case("AAAAAAAAAAAA\n"), ["AAAAAAAAAAAA\n"]);
        assert_eq!(
            case("AAAAAAAAAAAA\nBBBBBBBBBBBB\nCCCCCCCCCCCC\n"),
            ["AAAAAAAAAAAA\n", "BBBBBBBBBBBB\n", "CCCCCCCCCCCC\n"]
        );
        // Exactly the hint fits; one more byte starts the next record.
        assert_eq!(case("AAAA\nBBBB\nCCCC\n"), ["AAAA\nBBBB\n", "CCCC\n"]);
        // A long line after short ones closes their record and goes alone.
        assert_eq!(
            case("A\nB\nCCCCCCCCCCCCCCC\nD\nE\n"),
            ["A\nB\n", "CCCCCCCCCCCCCCC\n", "D\nE\n"]
        );
        // Empty lines are lines.
        assert_eq!(case("\n\nAAAAAAAA\n"), ["\n\n", "AAAAAAAA\n"]);
    }

    #[test]
    fn a_joined_record_covers_its_lines_contiguous_byte_range() {
        let mut sp = Splitter::new(joining(10, None), 100);
        let ev = feed_all(&mut sp, "AAAA\nBBBB\nCCCC\n", 100);
        assert_eq!(
            ev,
            vec![
                Ev::Rec(100, 110, "AAAA\nBBBB\n".into()),
                Ev::Rec(110, 115, "CCCC\n".into())
            ]
        );
    }

    #[test]
    fn a_joined_record_is_held_only_until_the_lines_read_are_used_up() {
        let mut sp = Splitter::new(joining(100, None), 0);
        assert!(feed(&mut sp, "a\nb\n", 0).is_empty());
        assert!(sp.holding());
        // Due at once: the tailer emits it after the read that produced it.
        assert!(sp.deadline().unwrap() <= Instant::now());
        let mut out = vec![];
        sp.flush_if_quiet(Instant::now(), &mut |s| out.push(to_ev(s)));
        assert_eq!(out, vec![Ev::Rec(0, 4, "a\nb\n".into())]);
        assert!(!sp.holding());
        assert_eq!(sp.deadline(), None);
    }

    #[test]
    fn headers_are_skipped_before_joining_and_the_footer_is_matched_on_the_joined_record() {
        let mut sp = Splitter::new(
            SplitSettings {
                skip_header_lines: 1,
                ..joining(100, Some("END"))
            },
            0,
        );
        let ev = feed_all(&mut sp, "h\na\nb\n", 0);
        assert_eq!(
            ev,
            vec![
                Ev::Skip(0, 2, SkipReason::Header),
                Ev::Rec(2, 6, "a\nb\n".into())
            ]
        );
        // As in the Java agent, a footer line joined with others does not match the whole record.
        let mut sp = Splitter::new(joining(100, Some("END")), 0);
        assert_eq!(recs(&feed_all(&mut sp, "a\nEND\n", 0)), ["a\nEND\n"]);
        let mut sp = Splitter::new(joining(100, Some("END")), 0);
        let ev = feed_all(&mut sp, "END\n", 0);
        assert_eq!(ev, vec![Ev::Skip(0, 4, SkipReason::Footer)]);
    }

    #[test]
    fn a_multi_line_start_pattern_turns_joining_off() {
        let mut sp = Splitter::new(
            SplitSettings {
                aggregate_bytes: 1000,
                ..settings(Some("S"), None, 0, 1000)
            },
            0,
        );
        let mut ev = feed(&mut sp, "S1\n x\nS2\n", 0);
        sp.flush(&mut |s| ev.push(to_ev(s)));
        assert_eq!(recs(&ev), ["S1\n x\n", "S2\n"]);
    }

    fn feed(sp: &mut Splitter, text: &str, at: u64) -> Vec<Ev> {
        let mut out = vec![];
        let mut pos = at;
        for line in text.split_inclusive('\n') {
            let end = pos + line.len() as u64;
            sp.line(pos, end, line.as_bytes(), &mut |s| out.push(to_ev(s)));
            pos = end;
        }
        out
    }

    fn to_ev(s: Span<'_>) -> Ev {
        match s {
            Span::Record { start, end, data } => {
                Ev::Rec(start, end, String::from_utf8(data.to_vec()).unwrap())
            }
            Span::Skip { start, end, reason } => Ev::Skip(start, end, reason),
        }
    }

    #[test]
    fn single_line_with_headers() {
        let mut sp = Splitter::new(settings(None, None, 2, 100), 0);
        let ev = feed(&mut sp, "h1\nh2\na\nb\n", 0);
        assert_eq!(
            ev,
            vec![
                Ev::Skip(0, 3, SkipReason::Header),
                Ev::Skip(3, 6, SkipReason::Header),
                Ev::Rec(6, 8, "a\n".into()),
                Ev::Rec(8, 10, "b\n".into()),
            ]
        );
        // Headers are only skipped from offset 0.
        let mut sp = Splitter::new(settings(None, None, 2, 100), 6);
        assert_eq!(feed(&mut sp, "a\n", 6), vec![Ev::Rec(6, 8, "a\n".into())]);
    }

    #[test]
    fn multi_line_records_start_at_matching_lines_and_are_held() {
        let mut sp = Splitter::new(settings(Some(r"\d{4}-\d{2}-\d{2}"), None, 0, 1000), 0);
        let text = "junk before\n2024-01-01 one\n  at a\n  at b\n2024-01-02 two\n";
        let ev = feed(&mut sp, text, 0);
        assert_eq!(
            ev,
            vec![
                Ev::Rec(0, 12, "junk before\n".into()),
                Ev::Rec(12, 41, "2024-01-01 one\n  at a\n  at b\n".into()),
            ]
        );
        assert!(sp.holding());
        let mut out = vec![];
        sp.flush_if_quiet(Instant::now(), &mut |s| out.push(to_ev(s)));
        assert!(out.is_empty(), "flushed before the quiet period");
        sp.flush_if_quiet(Instant::now() + Duration::from_secs(3601), &mut |s| {
            out.push(to_ev(s))
        });
        assert_eq!(out, vec![Ev::Rec(41, 56, "2024-01-02 two\n".into())]);
        assert!(!sp.holding());
    }

    #[test]
    fn a_stack_trace_written_line_by_line_stays_one_record() {
        let mut sp = Splitter::new(settings(Some(r"\["), None, 0, 1000), 0);
        let mut all = feed(&mut sp, "[ERROR] boom\n", 0);
        all.extend(feed(&mut sp, "  at x\n", 13));
        all.extend(feed(&mut sp, "  at y\n", 20));
        assert!(all.is_empty());
        all.extend(feed(&mut sp, "[INFO] next\n", 27));
        assert_eq!(
            all,
            vec![Ev::Rec(0, 27, "[ERROR] boom\n  at x\n  at y\n".into())]
        );
    }

    #[test]
    fn oversized_multi_line_record_is_cut_but_covers_its_bytes() {
        let mut sp = Splitter::new(settings(Some("S"), None, 0, 8), 0);
        let mut ev = feed(&mut sp, "S12345\nabcdef\nS2\n", 0);
        let mut out = vec![];
        sp.flush(&mut |s| out.push(to_ev(s)));
        ev.extend(out);
        assert_eq!(
            ev,
            vec![
                Ev::Rec(0, 14, "S12345\na".into()),
                Ev::Rec(14, 17, "S2\n".into())
            ]
        );
    }

    #[test]
    fn footer_ends_the_file() {
        let mut sp = Splitter::new(settings(None, Some("END OF FILE"), 0, 100), 0);
        let ev = feed(&mut sp, "a\n  END OF FILE \r\nb\n", 0);
        assert_eq!(
            ev,
            vec![
                Ev::Rec(0, 2, "a\n".into()),
                Ev::Skip(2, 18, SkipReason::Footer),
                Ev::Skip(18, 20, SkipReason::Footer),
            ]
        );
        assert!(sp.finished());
    }
}
