//! `ustack-conformance`: the conformance runner (scripts/conformance.sh calls it).
//!
//! ```text
//! ustack-conformance --repo DIR --shim LIB.so --netns ustack-conf-NAME [options] [SUITE_DIR|SCRIPT]...
//!   --timeout SECS        per-script wall-clock limit (default 30)
//!   --profile auto|none|freebsd   rewrite profile (default auto: freebsd for FreeBSD scripts)
//!   --so_flags K=V,...    extra Config settings for every script
//!   --expect FILE         fail if a script listed there does not pass
//!   --write-expect FILE   write the scripts that passed
//!   --markdown FILE       write the results table
//! ```

use std::path::PathBuf;
use std::time::Duration;
use ustack_conformance::runner::{self, build, Options};

fn usage() -> ! {
    eprintln!(
        "usage: ustack-conformance --repo DIR --shim LIB --netns ustack-conf-NAME [--timeout S] \
         [--profile auto|none|freebsd] [--so_flags K=V,..] [--expect F] [--write-expect F] \
         [--markdown F] [SUITE|SCRIPT]...\nso_flags keys:"
    );
    for (k, v) in ustack_conformance::flags::KEYS {
        eprintln!("  {k:<20} {v}");
    }
    std::process::exit(2)
}

fn parse() -> Options {
    let mut o = Options {
        timeout: Duration::from_secs(30),
        profile: "auto".into(),
        ..Options::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--repo" => o.repo = PathBuf::from(val()),
            "--shim" => o.shim = PathBuf::from(val()),
            "--netns" => o.netns = val(),
            "--timeout" => {
                o.timeout = Duration::from_secs(val().parse().unwrap_or_else(|_| usage()))
            }
            "--profile" => o.profile = val(),
            "--so_flags" => o.so_flags = val(),
            "--expect" => o.expect = Some(PathBuf::from(val())),
            "--write-expect" => o.write_expect = Some(PathBuf::from(val())),
            "--markdown" => o.markdown = Some(PathBuf::from(val())),
            "-h" | "--help" => usage(),
            s if s.starts_with("--") => usage(),
            s => o.targets.push(PathBuf::from(s)),
        }
    }
    if o.repo.as_os_str().is_empty() || o.shim.as_os_str().is_empty() || o.netns.is_empty() {
        usage();
    }
    if o.targets.is_empty() {
        let shared = build::shared_dir(&o.repo);
        o.targets = vec![
            shared.join("freebsd/state-event-engine"),
            shared.join("freebsd/rcv-data-segments"),
            shared.join("linux"),
        ];
    }
    o
}

fn main() {
    let opts = parse();
    match runner::main(opts) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("conformance: {e}");
            std::process::exit(2)
        }
    }
}
