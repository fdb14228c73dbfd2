//! The conformance runner behind `scripts/conformance.sh`: builds packetdrill from a copy of
//! its source (with the receive-timeout patch), runs every script of the given suites
//! against the shim inside a network namespace it creates, and prints one line per script and
//! `conformance: N passed, N failed, N unsupported`.

pub mod build;
pub mod exec;
pub mod profile;
pub mod report;
pub mod script;
pub mod shell;

use exec::{NetNs, Outcome, Tools};
use report::{Result as Verdict, ScriptResult};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Command-line options.
#[derive(Debug, Default)]
pub struct Options {
    /// Suite directories or single scripts.
    pub targets: Vec<PathBuf>,
    /// The repository root (for defaults and the build).
    pub repo: PathBuf,
    /// Namespace name (must start with `ustack-conf-`).
    pub netns: String,
    /// Per-script timeout.
    pub timeout: Duration,
    /// `auto` (by suite), `none`, or a profile name.
    pub profile: String,
    /// Expectations file to check against.
    pub expect: Option<PathBuf>,
    /// Where to write the expectations of this run.
    pub write_expect: Option<PathBuf>,
    /// Where to write the markdown results.
    pub markdown: Option<PathBuf>,
    /// The shim (built by the shell script).
    pub shim: PathBuf,
    /// Extra `--so_flags` for every script.
    pub so_flags: String,
    /// The packetdrill source (`gtests/net/packetdrill`), if known.
    pub packetdrill_src: Option<PathBuf>,
    /// The folder holding the suites (`freebsd/`, `linux/`), if known: scripts under it are
    /// named by their path from it, which picks their profile.
    pub suites: Option<PathBuf>,
}

/// Base `--so_flags` for a suite: ustack configured like the system the scripts were written
/// for, where ustack has the setting (FreeBSD's delayed ACK is 100 ms; Linux's is ustack's
/// default 40 ms).
fn suite_flags(name: &str) -> &'static str {
    if name.starts_with("freebsd/") {
        "delack_ms=100"
    } else {
        ""
    }
}

/// The profile `auto` picks for a script.
fn auto_profile(name: &str) -> Option<&'static str> {
    if name.starts_with("freebsd/") {
        Some("freebsd")
    } else if name.starts_with("linux/") {
        Some("linux")
    } else {
        None
    }
}

/// The FreeBSD suite whose scripts are all IPv4 with no `-ipv6` twin (unlike
/// `state-event-engine`'s): the runner derives each twin ([`script::ipv6_twin`]).
const DERIVED_TWINS: &str = "freebsd/rcv-data-segments/";

/// One script to run: a file, or the IPv6 twin the runner derives from it.
#[derive(Clone, Debug)]
pub struct Job {
    /// The script file.
    pub path: PathBuf,
    /// Run its derived IPv6 twin instead of the file as written.
    pub twin: bool,
}

/// The name of `name`'s IPv6 twin: `x-ipv4.pkt` or `x.pkt` → `x-ipv6.pkt`.
pub fn twin_name(name: &str) -> String {
    let stem = name.strip_suffix(".pkt").unwrap_or(name);
    format!("{}-ipv6.pkt", stem.strip_suffix("-ipv4").unwrap_or(stem))
}

/// The scripts of `targets`, each followed by its derived IPv6 twin where it gets one:
/// the scripts of [`DERIVED_TWINS`] that [`script::ipv6_twin`] can rewrite and whose twin is
/// not a file of the suite already.
fn jobs(targets: &[PathBuf], repo: &Path, suites: Option<&Path>) -> Vec<Job> {
    let mut out = Vec::new();
    for path in targets.iter().flat_map(|t| collect(t)) {
        let name = display_name(&path, repo, suites);
        let twin = name.starts_with(DERIVED_TWINS)
            && !path.with_file_name(twin_name(&file_name(&path))).exists()
            && std::fs::read_to_string(&path).is_ok_and(|t| script::ipv6_twin(&t).is_some());
        out.push(Job {
            path: path.clone(),
            twin: false,
        });
        if twin {
            out.push(Job { path, twin: true });
        }
    }
    out
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Every `.pkt` under `target` (or `target` itself), sorted.
pub fn collect(target: &Path) -> Vec<PathBuf> {
    if target.is_file() {
        return vec![target.to_path_buf()];
    }
    let mut out = Vec::new();
    let mut stack = vec![target.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "pkt") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// A short name: the path from the suites folder (`freebsd/...`, `linux/...`; also when the
/// path runs through a folder named `conformance`), or from the repository for ustack's own
/// scripts.
fn display_name(path: &Path, repo: &Path, suites: Option<&Path>) -> String {
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    if let Some(dir) = suites {
        // Canonical paths for a folder named with `..`; the paths as given for a suite that
        // is a symbolic link inside the folder.
        let tail = canonical(path)
            .strip_prefix(canonical(dir))
            .map(Path::to_path_buf)
            .or_else(|_| path.strip_prefix(dir).map(Path::to_path_buf));
        if let Ok(tail) = tail {
            return tail.to_string_lossy().into_owned();
        }
    }
    let s = path.to_string_lossy();
    if let Some(i) = s.find("/conformance/") {
        let tail = &s[i + "/conformance/".len()..];
        if tail.starts_with("freebsd/") || tail.starts_with("linux/") {
            return tail.to_string();
        }
    }
    path.strip_prefix(repo)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| s.into_owned())
}

/// Runs one prepared variant of a script.
fn run_variant(
    ns: &NetNs,
    tools: &Tools,
    work: &Path,
    text: &str,
    profile: Option<&str>,
    base_flags: &str,
) -> Result<(Outcome, script::Prepared), String> {
    let state = work.join("state");
    let _ = std::fs::remove_file(&state);
    let prepared = script::prepare(text, profile, &state.to_string_lossy());
    let file = work.join("script.pkt");
    std::fs::write(&file, &prepared.text).map_err(|e| e.to_string())?;
    // USTACK_CONF_KEEP=DIR keeps each prepared script (to rerun it by hand with -v).
    if let Some(dir) = std::env::var_os("USTACK_CONF_KEEP") {
        let name = format!("last-{}.pkt", profile.unwrap_or("as-written"));
        let _ = std::fs::copy(&file, Path::new(&dir).join(name));
    }
    let mut flags: Vec<String> = base_flags
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    flags.extend(prepared.flags.iter().cloned());
    flags.push(format!("statefile={}", state.display()));
    let local_ip = script::IpVersion::of(text).local_ip();
    let outcome = exec::run(ns, tools, &file, &flags.join(","), &local_ip)?;
    Ok((outcome, prepared))
}

/// The name a job's result carries.
fn job_name(job: &Job, opts: &Options) -> String {
    let name = display_name(&job.path, &opts.repo, opts.suites.as_deref());
    if job.twin {
        twin_name(&name)
    } else {
        name
    }
}

/// Runs one script (as written, and under its profile when one applies).
fn run_script(
    opts: &Options,
    ns: &NetNs,
    tools: &Tools,
    work: &Path,
    job: &Job,
) -> Result<ScriptResult, String> {
    let name = job_name(job, opts);
    let text = std::fs::read_to_string(&job.path).map_err(|e| format!("{name}: {e}"))?;
    let text = match job.twin {
        true => script::ipv6_twin(&text).ok_or(format!("{name}: no IPv6 twin"))?,
        false => text,
    };
    let profile = match opts.profile.as_str() {
        "auto" => auto_profile(&name),
        "none" => None,
        p => profile::PROFILES
            .iter()
            .find(|(n, _)| *n == p)
            .map(|(n, _)| *n),
    };
    let base = [suite_flags(&name), opts.so_flags.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(",");
    let (written, prepared) = run_variant(ns, tools, work, &text, None, &base)?;
    let profiled = match profile {
        Some(p) if !matches!(written, Outcome::Passed) => {
            Some(run_variant(ns, tools, work, &text, Some(p), &base)?.0)
        }
        Some(_) => Some(Outcome::Passed),
        None => None,
    };
    Ok(report::classify(
        name,
        written,
        profiled.map(|o| (profile.unwrap_or(""), o)),
        script::features(&text),
        prepared,
    ))
}

/// Runs everything; returns the process exit code.
pub fn main(opts: Options) -> Result<i32, String> {
    if let Some(t) = opts.targets.iter().find(|t| !t.exists()) {
        return Err(format!("{}: not found; {}", t.display(), build::HOW_TO_GET));
    }
    let packetdrill = build::packetdrill(&opts.repo, opts.packetdrill_src.as_deref())?;
    let tools = Tools {
        packetdrill,
        shim: opts.shim.clone(),
        timeout: opts.timeout,
    };
    let scripts = jobs(&opts.targets, &opts.repo, opts.suites.as_deref());
    if scripts.is_empty() {
        return Err("no .pkt scripts found".into());
    }
    let work = std::env::temp_dir().join(&opts.netns);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let ns = NetNs::create(&opts.netns)?;
    let mut results = Vec::new();
    for job in &scripts {
        let r = run_script(&opts, &ns, &tools, &work, job).unwrap_or_else(|e| ScriptResult {
            name: job_name(job, &opts),
            verdict: Verdict::Fail(format!("runner: {e}")),
            as_written: false,
            profile: None,
            notes: Vec::new(),
        });
        println!("{}", r.line());
        results.push(r);
    }
    drop(ns);
    let _ = std::fs::remove_dir_all(&work);
    let summary = report::Summary::of(&results);
    println!("{}", summary.line());
    if let Some(p) = &opts.markdown {
        std::fs::write(p, report::markdown(&results)).map_err(|e| e.to_string())?;
    }
    if let Some(p) = &opts.write_expect {
        std::fs::write(p, report::expectations(&results)).map_err(|e| e.to_string())?;
    }
    let mut code = 0;
    if let Some(p) = &opts.expect {
        let want = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        let absent = report::not_run(&want, &results);
        if !absent.is_empty() {
            // Not a failure (a partial run is allowed), but said: CI's suites folder should
            // hold every script the expectations name.
            println!(
                "note: {} script(s) of {} did not run (not in the given suites), e.g. {}",
                absent.len(),
                p.display(),
                absent[0]
            );
        }
        let lost = report::regressions(&want, &results);
        for l in &lost {
            println!("REGRESSION: {l} passed before and does not pass now");
        }
        if !lost.is_empty() {
            code = 1;
        }
    }
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::{display_name, jobs, twin_name};
    use std::path::Path;

    #[test]
    fn rcv_data_segments_scripts_get_a_derived_ipv6_twin() {
        assert_eq!(twin_name("a/x-ipv4.pkt"), "a/x-ipv6.pkt");
        assert_eq!(twin_name("a/y.pkt"), "a/y-ipv6.pkt");
        let dir = std::env::temp_dir().join(format!("conf-twins-{}", std::process::id()));
        let rds = dir.join("freebsd/rcv-data-segments");
        let see = dir.join("freebsd/state-event-engine");
        std::fs::create_dir_all(&rds).unwrap();
        std::fs::create_dir_all(&see).unwrap();
        let v4 = "--ip_version=ipv4\n+0 < S 0:0(0) win 65535 <mss 1460>\n";
        std::fs::write(rds.join("a.pkt"), v4).unwrap();
        std::fs::write(rds.join("b.pkt"), "0 socket(...)\n").unwrap();
        std::fs::write(see.join("c-ipv4.pkt"), v4).unwrap();
        let found = jobs(&[dir.join("freebsd")], Path::new("/r"), Some(&dir));
        let _ = std::fs::remove_dir_all(&dir);
        let got: Vec<(String, bool)> = found
            .iter()
            .map(|j| (j.path.file_name().unwrap().to_string_lossy().into(), j.twin))
            .collect();
        let want = [
            ("a.pkt", false),
            ("a.pkt", true),
            ("b.pkt", false),
            ("c-ipv4.pkt", false),
        ];
        let want: Vec<(String, bool)> = want.iter().map(|(n, t)| (n.to_string(), *t)).collect();
        assert_eq!(
            got, want,
            "a twin for a's IPv4 script only, none for state-event-engine's"
        );
    }

    #[test]
    fn scripts_are_named_from_the_suites_folder() {
        let dir = std::env::temp_dir().join(format!("conf-names-{}", std::process::id()));
        let script = dir.join("freebsd/state-event-engine/x.pkt");
        std::fs::create_dir_all(script.parent().unwrap()).unwrap();
        std::fs::write(&script, "").unwrap();
        let repo = Path::new("/nowhere");
        let named = display_name(&script, repo, Some(&dir));
        // Through a path with `..` in it too, as the suites folder is often given.
        let roundabout = dir.join("linux/../freebsd/state-event-engine/x.pkt");
        std::fs::create_dir_all(dir.join("linux")).unwrap();
        let named_too = display_name(&roundabout, repo, Some(&dir));
        let without = display_name(&script, repo, None);
        // A suite that is a symbolic link to a folder elsewhere keeps its name.
        let elsewhere = std::env::temp_dir().join(format!("conf-linked-{}", std::process::id()));
        std::fs::create_dir_all(elsewhere.join("cubic")).unwrap();
        std::fs::write(elsewhere.join("cubic/a.pkt"), "").unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.join("linux-linked")).unwrap();
        let linked = display_name(&dir.join("linux-linked/cubic/a.pkt"), repo, Some(&dir));
        let _ = std::fs::remove_dir_all(&elsewhere);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(named, "freebsd/state-event-engine/x.pkt");
        assert_eq!(named_too, named);
        assert_eq!(linked, "linux-linked/cubic/a.pkt");
        assert_eq!(without, script.to_string_lossy());
        let shared = Path::new("/a/shared/conformance/linux/cubic/y.pkt");
        assert_eq!(display_name(shared, repo, None), "linux/cubic/y.pkt");
        let own = Path::new("/r/tests/conformance/scripts/z.pkt");
        assert_eq!(
            display_name(own, Path::new("/r"), None),
            "tests/conformance/scripts/z.pkt"
        );
    }
}
