//! The `kinetail` command line: run the agent, or check a configuration.

#![forbid(unsafe_code)]

use anyhow::Context;
use clap::Parser;
use kinetail::cli::{Cli, Command};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Where the configuration is looked for when `-c` is not given, in order.
const DEFAULT_CONFIGS: &[&str] = &["/etc/kinetail/agent.json", "/etc/aws-kinesis/agent.json"];

fn config_path(given: Option<PathBuf>) -> PathBuf {
    if let Some(p) = given {
        return p;
    }
    DEFAULT_CONFIGS
        .iter()
        .map(Path::new)
        .find(|p| p.exists())
        .unwrap_or(Path::new(DEFAULT_CONFIGS[0]))
        .to_owned()
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn check(path: &Path) -> anyhow::Result<bool> {
    let config = kinetail::config::load(path)?;
    let resolved = config.resolved_json();
    let text = serde_json::to_string_pretty(&resolved)?;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    if !config.unknown_keys.is_empty() {
        eprintln!(
            "warning: unknown configuration keys (ignored, as the Java agent does): {}",
            config.unknown_keys.join(", ")
        );
    }
    for w in config.credential_warnings() {
        eprintln!("warning: {w}");
    }
    if let Err(e) = kinetail::agent::validate(&config) {
        eprintln!("error: {e}");
        return Ok(false);
    }
    for line in kinetail::migrate::describe(&config)? {
        eprintln!("{line}");
    }
    eprintln!("{}: OK, {} flow(s)", path.display(), config.flows.len());
    Ok(true)
}

fn preview(path: &Path, flow: usize, lines: usize, stdin: bool) -> anyhow::Result<()> {
    let config = kinetail::config::load(path)?;
    let opts = kinetail::preview::PreviewOptions {
        flow,
        limit: lines,
        stdin,
    };
    kinetail::preview::preview(&config, &opts, &mut std::io::stdout().lock())?;
    Ok(())
}

/// Raises the open-file soft limit to the hard limit: every tracked file keeps a descriptor open
/// (so that renamed and deleted files can be read to their end), and the usual soft limit of
/// 1024 is low for a glob over a busy log directory. Here rather than in the library because it
/// changes the whole process.
fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        tracing::debug!("open file limit raised from {soft} to {hard}");
    }
}

fn run(path: &Path, once: Option<std::time::Duration>) -> anyhow::Result<()> {
    // Held back until the agent listens for them (`agent::run` lets them through): a stop asked
    // for while it starts is then a clean stop, not a death by the default action. Every thread
    // started from here on inherits the mask, so the signal waits for the one that lets it in.
    kinetail::agent::stop_signals().thread_block().ok();
    let config = kinetail::config::load(path)?;
    raise_open_file_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(kinetail::agent::run(config, once));
    // A blocking task still running (a tail thread's join that gave up, a stuck disk) must
    // not keep the process from exiting once the agent is done.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(result?)
}

fn status(path: &Path, json: bool) -> anyhow::Result<()> {
    let config = kinetail::config::load(path)?;
    let flows = kinetail::lag::report(&config)?;
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &flows)?;
        writeln!(out)?;
    } else {
        kinetail::lag::write_table(&flows, kinetail::metrics::unix_millis(), &mut out)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let path = config_path(cli.configuration);
    let command = cli.command.unwrap_or(Command::Run {
        once: false,
        give_up_after: 0,
    });
    let logging = matches!(command, Command::Run { .. });
    let result = match command {
        Command::Check => match check(&path) {
            Ok(true) => return ExitCode::SUCCESS,
            Ok(false) => return ExitCode::FAILURE,
            Err(e) => Err(e),
        },
        Command::Preview { flow, lines, stdin } => preview(&path, flow, lines, stdin),
        Command::Status { json } => status(&path, json),
        Command::Run {
            once,
            give_up_after,
        } => {
            init_logging();
            run(
                &path,
                once.then(|| std::time::Duration::from_secs(give_up_after)),
            )
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if logging {
                tracing::error!("{e:#}");
            } else {
                eprintln!("kinetail: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}
