//! Writes the man pages (`kinetail.8` and one `kinetail-<command>.8` per subcommand) and the bash,
//! zsh and fish completions into the directory given as the only argument, from the clap
//! definitions in `kinetail::cli`, so that they cannot drift from what the binary parses.
//! Run by `scripts/package`:  cargo run --release --example package_assets -- DIR

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::roff::{bold, italic, roman, Roff};
use clap_mangen::Man;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// Section 8: kinetail is a daemon run by the system, not a user command.
const SECTION: &str = "8";

/// The paths the packages install or the agent uses, for the FILES section.
const FILES: &[(&str, &str)] = &[
    (
        "/etc/kinetail/agent.json",
        "The agent configuration, in the AWS Kinesis Agent's format; read when -c is not given.",
    ),
    (
        "/etc/kinetail/agent.d/*.json",
        "Further flows, appended to those of agent.json in file name order.",
    ),
    (
        "/etc/aws-kinesis/agent.json",
        "The Java agent's configuration, read when /etc/kinetail/agent.json does not exist.",
    ),
    (
        "/var/lib/kinetail/checkpoints",
        "The default checkpoint file: how far each file has been shipped and acknowledged.",
    ),
    (
        "/etc/default/kinetail, /etc/sysconfig/kinetail",
        "Environment of the systemd service (RUST_LOG, KINETAIL_ARGS, proxy and AWS variables).",
    ),
];

/// Pages in SEE ALSO besides the subcommands' own.
const SEE_ALSO: &[(&str, &str)] = &[
    ("systemctl", "1"),
    ("journalctl", "1"),
    ("systemd.exec", "5"),
];

fn main() -> std::io::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        eprintln!("usage: package_assets DIR");
        std::process::exit(2);
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir)?;
    write_man_pages(dir)?;
    let mut cmd = kinetail::cli::Cli::command();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        let path = clap_complete::generate_to(shell, &mut cmd, "kinetail", dir)?;
        println!("{}", path.display());
    }
    Ok(())
}

fn write_man_pages(dir: &Path) -> std::io::Result<()> {
    // `help` is clap's, not a command worth a page; building fills in the subcommands' display
    // names (kinetail-run), which their pages are named by.
    let mut cmd = kinetail::cli::Cli::command().disable_help_subcommand(true);
    cmd.build();
    let version = cmd.get_version().unwrap_or_default().to_owned();
    let source = format!("kinetail {version}");

    let path = dir.join(format!("kinetail.{SECTION}"));
    let mut out = BufWriter::new(File::create(&path)?);
    let man = Man::new(cmd.clone()).section(SECTION).source(&source);
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    man.render_subcommands_section(&mut out)?;
    files_and_see_also(&cmd).to_writer(&mut out)?;
    man.render_version_section(&mut out)?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    println!("{}", path.display());

    for sub in cmd.get_subcommands() {
        let man = Man::new(sub.clone()).section(SECTION).source(&source);
        let path = man.generate_to(dir)?;
        println!("{}", path.display());
    }
    Ok(())
}

fn files_and_see_also(cmd: &clap::Command) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["FILES"]);
    for (path, what) in FILES {
        roff.control("TP", [])
            .text([bold(*path)])
            .text([roman(*what)]);
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut pages: Vec<(String, &str)> = cmd
        .get_subcommands()
        .map(|sub| (format!("kinetail-{}", sub.get_name()), SECTION))
        .collect();
    pages.extend(SEE_ALSO.iter().map(|(name, s)| (name.to_string(), *s)));
    let last = pages.len() - 1;
    let mut line = Vec::new();
    for (i, (name, section)) in pages.into_iter().enumerate() {
        line.push(bold(name));
        line.push(roman(if i == last {
            format!("({section})")
        } else {
            format!("({section}), ")
        }));
    }
    roff.text(line);
    roff.control("PP", []);
    roff.text([
        roman("The packaged service, "),
        italic("kinetail.service"),
        roman(
            " (in /lib/systemd/system or /usr/lib/systemd/system): its comments say how to \
               read logs that only root may read.",
        ),
    ]);
    roff
}
