//! `kinetail preview`: run a flow's framing and processing chain over its files (or standard
//! input) and show what would be sent and why anything is skipped, without AWS or checkpoints.

use crate::config::{AgentConfig, FlowConfig};
use crate::pipeline::{split_settings, FlowError};
use crate::process::{Chain, Outcome, ProcessError};
use crate::tail::records::RecordReader;
use crate::tail::{FilePattern, Span};
use std::io::{self, Read, Write};
use std::path::PathBuf;

/// Errors of a preview.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// No such flow.
    #[error("there is no flow {0} (the configuration has {1}; see `kinetail check`)")]
    NoFlow(usize, usize),
    /// The flow's patterns or converters cannot be built.
    #[error(transparent)]
    Flow(#[from] FlowError),
    /// The converter chain cannot be built.
    #[error("{0}")]
    Process(#[from] ProcessError),
    /// The runtime for converters that refresh in the background cannot be started.
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] io::Error),
    /// Reading input or writing output failed.
    #[error("{path}: {source}")]
    Io {
        /// What was being read or written.
        path: String,
        source: io::Error,
    },
}

/// What to preview.
#[derive(Debug, Clone)]
pub struct PreviewOptions {
    /// Index of the flow (as in `check`'s `flows` list).
    pub flow: usize,
    /// Stop after this many records and skipped lines.
    pub limit: usize,
    /// Read standard input instead of the flow's files.
    pub stdin: bool,
}

/// Counts of a preview run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PreviewSummary {
    /// Records that would be sent (converted or raw).
    pub sent: usize,
    /// Records or lines that would not be sent.
    pub skipped: usize,
    /// Records sent raw because a converter failed.
    pub failed: usize,
}

struct Printer<'a> {
    out: &'a mut dyn Write,
    chain: Chain,
    converted: Vec<u8>,
    limit: usize,
    shown: usize,
    summary: PreviewSummary,
    error: Option<io::Error>,
}

/// A line of input shown as text, shortened and with its line ending made visible.
fn shown(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let mut s: String = text.chars().take(300).collect();
    if text.chars().count() > 300 {
        s.push('…');
    }
    s.replace('\r', "\\r").replace('\n', "\\n")
}

impl Printer<'_> {
    fn full(&self) -> bool {
        self.shown >= self.limit
    }

    fn write(&mut self, text: String) {
        if self.error.is_none() {
            if let Err(e) = self.out.write_all(text.as_bytes()) {
                self.error = Some(e);
            }
        }
    }

    fn event(&mut self, s: Span<'_>) {
        if self.full() {
            return;
        }
        self.shown += 1;
        match s {
            Span::Skip { start, end, reason } => {
                self.summary.skipped += 1;
                self.write(format!("@{start}..{end} SKIP {}\n", reason.explain()));
            }
            Span::Record { start, end, data } => {
                self.converted.clear();
                match self.chain.process(data, &mut self.converted) {
                    Outcome::Unchanged => {
                        self.summary.sent += 1;
                        self.write(format!("@{start}..{end} SEND {}\n", shown(data)));
                    }
                    Outcome::Converted => {
                        self.summary.sent += 1;
                        let c = std::mem::take(&mut self.converted);
                        self.write(format!("@{start}..{end} SEND {}\n", shown(&c)));
                        self.converted = c;
                    }
                    Outcome::Skipped(by) => {
                        self.summary.skipped += 1;
                        let why = if by == "LOGTOJSON" {
                            "the line does not match the log pattern"
                        } else {
                            "the converter skipped it"
                        };
                        self.write(format!(
                            "@{start}..{end} SKIP {by}: {why}: {}\n",
                            shown(data)
                        ));
                    }
                    Outcome::Failed(reason) => {
                        self.summary.sent += 1;
                        self.summary.failed += 1;
                        self.write(format!("@{start}..{end} RAW  converter failed ({reason}), the raw record is sent: {}\n", shown(data)));
                    }
                }
            }
        }
    }
}

/// Runs the preview, writing to `out`.
pub fn preview(
    config: &AgentConfig,
    opts: &PreviewOptions,
    out: &mut dyn Write,
) -> Result<PreviewSummary, PreviewError> {
    let flow: &FlowConfig = config
        .flows
        .get(opts.flow)
        .ok_or(PreviewError::NoFlow(opts.flow, config.flows.len()))?;
    let split = split_settings(flow)?;
    // ADDEC2METADATA refreshes on a tokio task: a runtime with one worker thread of its own
    // drives it while this thread reads and prints, and is dropped with the preview.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("preview-runtime")
        .enable_all()
        .build()
        .map_err(PreviewError::Runtime)?;
    let chain = {
        let _in_runtime = runtime.enter();
        Chain::new(&flow.data_processing_options)?
    };
    // As `run` does before the first record, so that records show what would be sent.
    chain.wait_ready(crate::pipeline::CONVERTER_READY_WAIT, &|| false);
    let mut p = Printer {
        out,
        chain,
        converted: Vec::new(),
        limit: opts.limit,
        shown: 0,
        summary: PreviewSummary::default(),
        error: None,
    };
    let io_err = |path: &str| {
        let path = path.to_owned();
        move |source| PreviewError::Io { path, source }
    };
    let mut inputs: Vec<(String, Box<dyn Read>)> = Vec::new();
    if opts.stdin {
        inputs.push(("<stdin>".into(), Box::new(io::stdin())));
    } else {
        let pattern = FilePattern::new(&flow.directory, &flow.file_glob).map_err(|source| {
            PreviewError::Flow(FlowError::Pattern {
                flow: flow.id.clone(),
                source,
            })
        })?;
        let files: Vec<PathBuf> = pattern
            .list()
            .map_err(io_err(&flow.directory.display().to_string()))?
            .files
            .into_iter()
            .map(|f| f.path)
            .collect();
        if files.is_empty() {
            p.write(format!("no file matches {}\n", flow.file_pattern));
        }
        for f in files {
            let name = f.display().to_string();
            let file = std::fs::File::open(&f).map_err(io_err(&name))?;
            inputs.push((name, Box::new(file)));
        }
    }
    p.write(format!("flow {}: {}\n", opts.flow, flow.id));
    for (name, mut input) in inputs {
        if p.full() {
            break;
        }
        p.write(format!("== {name}\n"));
        let mut reader = RecordReader::new(split.clone(), 0);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = input.read(&mut buf).map_err(io_err(&name))?;
            if n == 0 || p.full() || reader.finished() {
                break;
            }
            reader.push(&buf[..n]);
            reader.drain(&mut |s| p.event(s));
        }
        reader.flush(&mut |s| p.event(s));
        if reader.pending() > 0 && !p.full() {
            p.write(format!(
                "@{}..{} HOLD an unterminated last line is held until its newline arrives\n",
                reader.framed_offset(),
                reader.read_offset()
            ));
        }
    }
    let s = p.summary.clone();
    p.write(format!(
        "{} record(s) would be sent ({} of them raw after a converter error), {} skipped{}\n",
        s.sent,
        s.failed,
        s.skipped,
        if p.full() {
            format!(" (stopped after {} entries: --lines)", p.limit)
        } else {
            String::new()
        }
    ));
    if let Some(e) = p.error {
        if e.kind() != io::ErrorKind::BrokenPipe {
            return Err(PreviewError::Io {
                path: "<stdout>".into(),
                source: e,
            });
        }
    }
    Ok(s)
}
