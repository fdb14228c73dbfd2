//! `ustack-conformance`: the conformance runner (scripts/conformance.sh calls it).
//!
//! ```text
//! ustack-conformance --repo DIR --shim LIB.so --netns ustack-conf-NAME [options] [SUITE_DIR|SCRIPT]...
//!   --packetdrill DIR     packetdrill's source (default $USTACK_CONFORMANCE_DIR/packetdrill)
//!   --suites DIR          the folder holding freebsd/ and linux/ (default $USTACK_CONFORMANCE_DIR)
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
        "usage: ustack-conformance --repo DIR --shim LIB --netns ustack-conf-NAME \
         [--packetdrill DIR] [--suites DIR] [--timeout S] [--profile auto|none|freebsd] \
         [--so_flags K=V,..] [--expect F] [--write-expect F] [--markdown F] [SUITE|SCRIPT]...\nso_flags keys:"
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
            "--packetdrill" => o.packetdrill_src = Some(PathBuf::from(val())),
            "--suites" => o.suites = Some(PathBuf::from(val())),
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
    let dir = build::conformance_dir();
    o.suites = o.suites.or_else(|| dir.clone());
    o.packetdrill_src = o
        .packetdrill_src
        .or_else(|| dir.map(|d| d.join("packetdrill")));
    if o.targets.is_empty() {
        let Some(suites) = &o.suites else {
            eprintln!("conformance: no suites given; {}", build::HOW_TO_GET);
            std::process::exit(2)
        };
        o.targets = vec![
            suites.join("freebsd/state-event-engine"),
            suites.join("freebsd/rcv-data-segments"),
            suites.join("linux"),
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
