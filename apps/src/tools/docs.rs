//! `ustack completions SHELL` and `ustack man DIR`: generated from the command line definition
//! itself (clap_complete, clap_mangen), so they never drift from the real options.

use clap::{Args, CommandFactory};
use clap_complete::Shell;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `ustack completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    pub shell: Shell,
}

/// Options of `ustack man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Directory to write the pages to (created if needed), e.g. /usr/local/share/man/man1.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// `ustack completions SHELL`: the shell's completion script on stdout.
pub fn completions(args: CompletionsArgs) -> io::Result<ExitCode> {
    let mut cmd = crate::tools::cli::Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "ustack", &mut script);
    // Written here, not by clap_complete (which panics on a closed pipe, e.g. `| head`).
    match io::Write::write_all(&mut io::stdout(), &script) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(ExitCode::SUCCESS),
    }
}

/// `ustack man [DIR]`: a manual page per command written to DIR, each path printed.
pub fn man(args: ManArgs) -> io::Result<ExitCode> {
    std::fs::create_dir_all(&args.dir)?;
    let written = write_pages(&args.dir)?;
    for p in written {
        println!("{}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes ustack.1 and ustack-SUB.1 for every subcommand; returns the paths.
fn write_pages(dir: &std::path::Path) -> io::Result<Vec<PathBuf>> {
    let cmd = crate::tools::cli::Cli::command();
    let mut written = Vec::new();
    let mut page = |c: clap::Command, name: String| -> io::Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut buf = Vec::new();
        let usage_name = name.replacen('-', " ", 1);
        let c = c.name(name.clone()).bin_name(usage_name);
        clap_mangen::Man::new(c).render(&mut buf)?;
        std::fs::write(&path, buf)?;
        written.push(path);
        Ok(())
    };
    for sub in cmd.get_subcommands() {
        let name = format!("ustack-{}", sub.get_name());
        page(sub.clone(), name)?;
    }
    page(cmd, "ustack".into())?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_per_subcommand_naming_its_options() {
        let dir = std::env::temp_dir().join(format!("ustack-man-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let pages = write_pages(&dir).unwrap();
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for n in ["ustack.1", "ustack-up.1", "ustack-ping.1", "ustack-ss.1"] {
            assert!(names.iter().any(|x| x == n), "{n} missing in {names:?}");
        }
        let ss = std::fs::read_to_string(dir.join("ustack-ss.1")).unwrap();
        assert!(ss.contains("listening"), "{ss}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn completions_know_the_subcommands() {
        let mut out = Vec::new();
        clap_complete::generate(
            Shell::Bash,
            &mut crate::tools::cli::Cli::command(),
            "ustack",
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        for sub in ["up", "ping", "connect", "ss", "events"] {
            assert!(text.contains(sub), "{sub}");
        }
    }
}
