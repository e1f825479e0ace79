//! `run --once`: ship what the files hold when the agent starts, then stop; how far it got, as a
//! progress bar on a terminal and as log lines otherwise.

use crate::checkpoint::Checkpoints;
use crate::config::FlowConfig;
use crate::metrics::FlowCounters;
use crate::tail::identity::DevIno;
use crate::tail::tailer::last_line_end;
use crate::tail::FilePattern;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often progress is looked at.
const LOOK_EVERY: Duration = Duration::from_millis(250);
/// How often progress is logged when standard error is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Why a one-off load could not finish.
#[derive(Debug, thiserror::Error)]
pub enum OnceError {
    /// Nothing more was acknowledged for too long.
    #[error(
        "--once gave up: nothing more was acknowledged for {secs} s ({done} of {total} bytes \
         shipped); {why}"
    )]
    Stalled {
        /// How long it waited.
        secs: u64,
        /// Bytes acknowledged.
        done: u64,
        /// Bytes to ship.
        total: u64,
        /// What the counters say.
        why: String,
    },
}

/// One file to ship, up to the end of its last complete line when the agent started.
#[derive(Debug, Clone)]
struct Target {
    flow: String,
    id: DevIno,
    path: PathBuf,
    end: u64,
}

/// The files a one-off load ships.
#[derive(Debug, Clone)]
pub struct Once {
    targets: Vec<Target>,
    give_up_after: Duration,
}

impl Once {
    /// The files every flow matches now; `give_up_after`: how long without progress ends the
    /// load with an error.
    pub fn at_start(flows: &[FlowConfig], give_up_after: Duration) -> Once {
        let mut targets = vec![];
        for flow in flows {
            let listing = FilePattern::new(&flow.directory, &flow.file_glob)
                .ok()
                .and_then(|p| p.list().ok());
            for f in listing.map(|l| l.files).unwrap_or_default() {
                let end = std::fs::File::open(&f.path)
                    .and_then(|mut file| last_line_end(&mut file, f.meta.len()))
                    .unwrap_or(0);
                if end > 0 {
                    targets.push(Target {
                        flow: flow.id.clone(),
                        id: DevIno::of(&f.meta),
                        path: f.path,
                        end,
                    });
                }
            }
        }
        Once {
            targets,
            give_up_after,
        }
    }

    /// Bytes to ship.
    pub fn total(&self) -> u64 {
        self.targets.iter().map(|t| t.end).sum()
    }

    /// How many files it ships.
    pub fn files(&self) -> usize {
        self.targets.len()
    }

    /// Bytes acknowledged so far.
    fn done(&self, cp: &Checkpoints) -> u64 {
        self.targets
            .iter()
            .map(|t| {
                cp.acknowledged_of(&t.flow, t.id.dev, t.id.ino)
                    .unwrap_or(0)
                    .min(t.end)
            })
            .sum()
    }

    /// Waits until every file is acknowledged to its end at the start; gives up when nothing
    /// more is acknowledged for `give_up_after`.
    pub async fn wait(
        &self,
        cp: &Checkpoints,
        counters: &[Arc<FlowCounters>],
    ) -> Result<(), OnceError> {
        let total = self.total();
        let bar = progress_bar(total);
        let started = Instant::now();
        let failures = || -> u64 {
            counters
                .iter()
                .map(|c| {
                    FlowCounters::get(&c.put_call_errors) + FlowCounters::get(&c.records_failed)
                })
                .sum()
        };
        let mut best = 0;
        let mut best_at = Instant::now();
        let mut failures_at_best = failures();
        let mut logged = Instant::now();
        loop {
            let done = self.done(cp);
            if let Some(b) = &bar {
                b.set_position(done);
                let sent: u64 = counters
                    .iter()
                    .map(|c| FlowCounters::get(&c.records_sent))
                    .sum();
                let secs = started.elapsed().as_secs_f64().max(0.001);
                b.set_message(format!("{:.0} records/s", sent as f64 / secs));
            } else if logged.elapsed() >= LOG_EVERY {
                logged = Instant::now();
                tracing::info!(
                    "--once: {done} of {total} bytes shipped ({:.1} %)",
                    100.0 * done as f64 / total.max(1) as f64
                );
            }
            if done >= total {
                if let Some(b) = &bar {
                    b.finish();
                }
                return Ok(());
            }
            if done > best {
                best = done;
                best_at = Instant::now();
                failures_at_best = failures();
            } else if best_at.elapsed() >= self.give_up_after {
                if let Some(b) = &bar {
                    b.abandon();
                }
                let failed = failures() - failures_at_best;
                return Err(OnceError::Stalled {
                    secs: self.give_up_after.as_secs(),
                    done,
                    total,
                    why: if failed > 0 {
                        format!(
                            "the destination kept failing ({failed} failed requests or records \
                             meanwhile; see the errors above)"
                        )
                    } else {
                        let left: Vec<String> = self
                            .targets
                            .iter()
                            .filter(|t| {
                                cp.acknowledged_of(&t.flow, t.id.dev, t.id.ino).unwrap_or(0) < t.end
                            })
                            .take(3)
                            .map(|t| t.path.display().to_string())
                            .collect();
                        format!("files not finished: {}", left.join(", "))
                    },
                });
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
    }
}

/// A progress bar on standard error when it is a terminal.
fn progress_bar(total: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} {msg} ETA {eta}",
    )
    .ok()?;
    bar.set_style(style);
    Some(bar)
}
