//! The command line's definition, in the library so that the man page and the shell completions
//! (examples/package_assets.rs) are generated from the same clap types the binary parses.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// The `kinetail` command line.
#[derive(Parser, Debug)]
#[command(
    name = "kinetail",
    version,
    about = "Tails files into Amazon Kinesis Data Streams; reads the AWS Kinesis Agent's agent.json",
    long_about = None
)]
pub struct Cli {
    /// The agent configuration file (agent.json); flows in agent.d/*.json beside it are merged.
    #[arg(
        short = 'c',
        long = "configuration",
        global = true,
        value_name = "FILE"
    )]
    pub configuration: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do; `run` when none is given.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the agent (the default).
    Run {
        /// Ship what the matching files hold now, then exit: 0 once all of it is acknowledged
        /// and checkpointed; non-zero with the reason when it cannot finish. A progress bar on a
        /// terminal.
        #[arg(long)]
        once: bool,
        /// With --once: give up (exit non-zero) after this many seconds without progress.
        #[arg(long, value_name = "SECONDS", default_value_t = 120, requires = "once")]
        give_up_after: u64,
    },
    /// Validate a configuration and print the resolved flows, without touching AWS or the files.
    Check,
    /// Show how far behind each file of each flow is, from the checkpoint file and the files on
    /// disk (no AWS; works whether the agent runs or not).
    Status {
        /// Print JSON, for scripts.
        #[arg(long)]
        json: bool,
    },
    /// Show what a flow would send from its files (or standard input), and why lines are skipped,
    /// without AWS and without touching checkpoints.
    Preview {
        /// Index of the flow, as in `check`'s `flows` list.
        #[arg(long, default_value_t = 0)]
        flow: usize,
        /// Stop after this many records and skipped lines.
        #[arg(long, default_value_t = 50)]
        lines: usize,
        /// Read standard input instead of the flow's files.
        #[arg(long)]
        stdin: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn configuration_is_global_and_run_is_optional() {
        // The systemd unit's ExecStart form: -c before the subcommand, its arguments after.
        let cli = Cli::try_parse_from(["kinetail", "-c", "/x.json", "run", "--once"]).unwrap();
        assert_eq!(cli.configuration, Some(PathBuf::from("/x.json")));
        assert!(matches!(
            cli.command,
            Some(Command::Run {
                once: true,
                give_up_after: 120
            })
        ));
        let cli = Cli::try_parse_from(["kinetail", "-c", "/x.json"]).unwrap();
        assert!(cli.command.is_none());
    }
}
