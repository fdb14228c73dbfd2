//! Verdicts, the one-line-per-script output, the summary line, the markdown table and the
//! expectations file.

use super::exec::{first_error, Outcome};
use super::script::Prepared;
use std::collections::BTreeMap;

/// The verdict on one script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Result {
    /// Passed (under the profile when one applies).
    Pass,
    /// Failed: the first mismatch.
    Fail(String),
    /// Needs a feature ustack lacks (named), and did not pass.
    Unsupported(String),
}

/// One script's result.
#[derive(Clone, Debug)]
pub struct ScriptResult {
    /// Its name (`freebsd/...`, `linux/...`, or a repository path).
    pub name: String,
    /// The verdict.
    pub verdict: Result,
    /// Whether it passed as written (no profile).
    pub as_written: bool,
    /// The profile applied, if any.
    pub profile: Option<&'static str>,
    /// Settings it asked for that ustack lacks; shell lines neutralised.
    pub notes: Vec<String>,
}

fn error_of(o: &Outcome) -> String {
    match o {
        Outcome::Passed => String::new(),
        Outcome::Failed(text) => first_error(text),
        Outcome::TimedOut => "timed out (killed by the runner)".into(),
        Outcome::Crashed(s) => format!("packetdrill crashed: {s}"),
    }
}

/// Errors that mean "the shim does not have this call or option".
fn shim_unsupported(err: &str) -> bool {
    err.contains("Operation not supported") || err.contains("Protocol not available")
}

/// The verdict from the runs.
pub fn classify(
    name: String,
    written: Outcome,
    profiled: Option<(&'static str, Outcome)>,
    features: Vec<&'static str>,
    prepared: Prepared,
) -> ScriptResult {
    let as_written = matches!(written, Outcome::Passed);
    let profile = profiled.as_ref().map(|(p, _)| *p);
    let last = profiled.map_or(written, |(_, o)| o);
    let mut notes: Vec<String> = prepared
        .missing
        .iter()
        .map(|m| format!("needs {m}"))
        .collect();
    if prepared.neutralised > 0 {
        notes.push(format!(
            "{} shell line(s) neutralised",
            prepared.neutralised
        ));
    }
    let verdict = if matches!(last, Outcome::Passed) {
        Result::Pass
    } else {
        let err = error_of(&last);
        let python_failed = err.contains("Python") || err.contains("executing code");
        let features: Vec<&str> = features
            .into_iter()
            .filter(|f| *f != super::script::PYTHON || python_failed)
            .collect();
        if !features.is_empty() {
            Result::Unsupported(format!("{} — {err}", features.join(", ")))
        } else if shim_unsupported(&err) {
            Result::Unsupported(format!("call or option not in the shim — {err}"))
        } else {
            Result::Fail(err)
        }
    };
    ScriptResult {
        name,
        verdict,
        as_written,
        profile,
        notes,
    }
}

impl ScriptResult {
    /// The line printed for it.
    pub fn line(&self) -> String {
        let (word, detail) = match &self.verdict {
            Result::Pass => ("pass", String::new()),
            Result::Fail(e) => ("FAIL", e.clone()),
            Result::Unsupported(f) => ("unsupported", f.clone()),
        };
        let mut tags = Vec::new();
        if let Some(p) = self.profile {
            tags.push(format!(
                "as written: {}; profile {p}",
                if self.as_written { "pass" } else { "fail" }
            ));
        }
        tags.extend(self.notes.iter().cloned());
        let tags = if tags.is_empty() {
            String::new()
        } else {
            format!(" [{}]", tags.join("; "))
        };
        let detail = if detail.is_empty() {
            detail
        } else {
            format!(": {detail}")
        };
        format!("{word:<11} {}{tags}{detail}", self.name)
    }
}

/// Totals for a set of results.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Scripts.
    pub total: usize,
    /// Passed as written.
    pub as_written: usize,
    /// Passed (under the profile where one applies).
    pub passed: usize,
    /// Failed.
    pub failed: usize,
    /// Unsupported.
    pub unsupported: usize,
}

impl Summary {
    /// Totals of `results`.
    pub fn of<'a>(results: impl IntoIterator<Item = &'a ScriptResult>) -> Summary {
        let mut s = Summary::default();
        for r in results {
            s.total += 1;
            s.as_written += r.as_written as usize;
            match r.verdict {
                Result::Pass => s.passed += 1,
                Result::Fail(_) => s.failed += 1,
                Result::Unsupported(_) => s.unsupported += 1,
            }
        }
        s
    }

    /// The closing line.
    pub fn line(&self) -> String {
        format!(
            "conformance: {} passed, {} failed, {} unsupported",
            self.passed, self.failed, self.unsupported
        )
    }
}

/// The suite a script belongs to: its first two path components.
fn suite(name: &str) -> String {
    let dir = name.split('/').take(2).collect::<Vec<_>>().join("/");
    // The FreeBSD suites' IPv6 half on a row of its own, next to its IPv4 twin.
    if name.starts_with("freebsd/") && name.ends_with("-ipv6.pkt") {
        format!("{dir} (IPv6)")
    } else {
        dir
    }
}

/// The markdown results: per-suite totals, then one row per script.
pub fn markdown(results: &[ScriptResult]) -> String {
    let mut by_suite: BTreeMap<String, Vec<&ScriptResult>> = BTreeMap::new();
    for r in results {
        by_suite.entry(suite(&r.name)).or_default().push(r);
    }
    let mut md = String::from(
        "| suite | scripts | pass as written | pass (profile) | fail | unsupported |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for (name, rs) in &by_suite {
        let s = Summary::of(rs.iter().copied());
        md += &format!(
            "| {name} | {} | {} | {} | {} | {} |\n",
            s.total, s.as_written, s.passed, s.failed, s.unsupported
        );
    }
    md += &format!("\n`{}`\n\n", Summary::of(results).line());
    md += "| script | result | as written | first mismatch / feature |\n|---|---|---|---|\n";
    for r in results {
        let (word, detail) = match &r.verdict {
            Result::Pass => ("pass", String::new()),
            Result::Fail(e) => ("fail", e.clone()),
            Result::Unsupported(f) => ("unsupported", f.clone()),
        };
        let detail = detail.replace('|', "\\|");
        let written = if r.as_written { "pass" } else { "fail" };
        md += &format!("| {} | {word} | {written} | {detail} |\n", r.name);
    }
    md
}

/// The expectations file: every script that passed, one per line.
pub fn expectations(results: &[ScriptResult]) -> String {
    let mut s = String::from(
        "# Scripts that pass (scripts/conformance.sh). CI fails when one of them stops passing.\n\
         # Changing this file is a reviewed decision: say why in the commit.\n",
    );
    for r in results.iter().filter(|r| r.verdict == Result::Pass) {
        s += &r.name;
        s.push('\n');
    }
    s
}

/// Scripts `expected` lists that did not run now (not among the given suites: a partial run,
/// or a suites folder without the FreeBSD suite's `-ipv6` half).
pub fn not_run(expected: &str, results: &[ScriptResult]) -> Vec<String> {
    expected
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| !results.iter().any(|r| r.name == *l))
        .map(str::to_string)
        .collect()
}

/// Scripts `expected` lists as passing that ran now and did not pass.
pub fn regressions(expected: &str, results: &[ScriptResult]) -> Vec<String> {
    let now: BTreeMap<&str, &Result> = results
        .iter()
        .map(|r| (r.name.as_str(), &r.verdict))
        .collect();
    expected
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| now.get(l).is_some_and(|v| **v != Result::Pass))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_freebsd_ipv6_half_has_its_own_row() {
        assert_eq!(
            suite("freebsd/rcv-data-segments/a.pkt"),
            "freebsd/rcv-data-segments"
        );
        let v6 = "freebsd/state-event-engine/rcv-x/y-ipv6.pkt";
        assert_eq!(suite(v6), "freebsd/state-event-engine (IPv6)");
        assert_eq!(suite("linux/mtu_probe/basic-ipv6.pkt"), "linux/mtu_probe");
    }

    fn res(name: &str, verdict: Result) -> ScriptResult {
        ScriptResult {
            name: name.into(),
            verdict,
            as_written: false,
            profile: None,
            notes: vec![],
        }
    }

    #[test]
    fn summary_and_regressions() {
        let rs = vec![
            res("a.pkt", Result::Pass),
            res("b.pkt", Result::Fail("x".into())),
            res("c.pkt", Result::Unsupported("epoll".into())),
        ];
        assert_eq!(
            Summary::of(&rs).line(),
            "conformance: 1 passed, 1 failed, 1 unsupported"
        );
        assert_eq!(expectations(&rs).lines().last(), Some("a.pkt"));
        let want = "# comment\na.pkt\nb.pkt\nnot-run.pkt\n";
        assert_eq!(regressions(want, &rs), vec!["b.pkt".to_string()]);
        assert_eq!(not_run(want, &rs), vec!["not-run.pkt".to_string()]);
    }

    #[test]
    fn python_is_unsupported_only_when_python_fails() {
        let py = || vec![crate::runner::script::PYTHON];
        let p = Prepared::default;
        let packet = Outcome::Failed("x.pkt:9: error handling packet: timing error".into());
        let r = classify("n".into(), packet, None, py(), p());
        assert!(matches!(r.verdict, Result::Fail(_)), "{:?}", r.verdict);
        let python = Outcome::Failed("x.pkt:9: error in Python code".into());
        let r = classify("n".into(), python, None, py(), p());
        assert!(
            matches!(r.verdict, Result::Unsupported(_)),
            "{:?}",
            r.verdict
        );
    }

    #[test]
    fn unsupported_needs_a_named_feature_or_a_missing_call() {
        let p = || Prepared::default();
        let failed = Outcome::Failed(
            "x.pkt:3: runtime error in setsockopt call: Operation not supported".into(),
        );
        let r = classify("n".into(), failed, None, vec![], p());
        assert!(matches!(r.verdict, Result::Unsupported(_)));
        let r = classify("n".into(), Outcome::TimedOut, None, vec![], p());
        assert!(matches!(r.verdict, Result::Fail(_)));
        let r = classify(
            "n".into(),
            Outcome::Failed(String::new()),
            Some(("freebsd", Outcome::Passed)),
            vec![],
            p(),
        );
        assert_eq!(r.verdict, Result::Pass);
        assert!(!r.as_written);
    }
}
