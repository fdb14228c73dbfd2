//! Running packetdrill: inside a network namespace the runner creates (and deletes on drop),
//! one script at a time, each with a wall-clock timeout after which its process (by PID, the
//! child we spawned) is killed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A network namespace created for the run, deleted when dropped.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates namespace `name` (which must start with `ustack-conf-`, or with
    /// `$USTACK_NETNS_PREFIX` and `conf-` when that is set, as the test helpers name theirs)
    /// with `lo` up.
    pub fn create(name: &str) -> Result<NetNs, String> {
        let prefix = std::env::var("USTACK_NETNS_PREFIX").ok();
        let own = prefix.is_some_and(|p| !p.is_empty() && name.starts_with(&format!("{p}conf-")));
        if !name.starts_with("ustack-conf-") && !own {
            return Err(format!(
                "namespace {name}: must start with ustack-conf- (or $USTACK_NETNS_PREFIX + conf-)"
            ));
        }
        ip(&["netns", "add", name])?;
        let ns = NetNs {
            name: name.to_string(),
        };
        ip(&["-n", name, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("conformance: {e}");
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// How one packetdrill run ended.
#[derive(Debug)]
pub enum Outcome {
    /// Exit status 0.
    Passed,
    /// Non-zero exit; packetdrill's output.
    Failed(String),
    /// Killed after the timeout.
    TimedOut,
    /// Killed by a signal (a crash).
    Crashed(String),
}

/// What a run needs.
#[derive(Debug)]
pub struct Tools {
    /// The packetdrill binary.
    pub packetdrill: PathBuf,
    /// The shim.
    pub shim: PathBuf,
    /// Per-script wall-clock limit.
    pub timeout: Duration,
}

/// Runs `script` with `so_flags` in `ns`; `local_ip` is packetdrill's `--local_ip`, the
/// shim's stack address of the script's IP version.
pub fn run(
    ns: &NetNs,
    tools: &Tools,
    script: &Path,
    so_flags: &str,
    local_ip: &str,
) -> Result<Outcome, String> {
    let out_path = script.with_extension("out");
    let out = std::fs::File::create(&out_path).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(&tools.packetdrill)
        .arg(format!("--so_filename={}", tools.shim.display()))
        .arg(format!("--so_flags={so_flags}"))
        .arg(format!("--local_ip={local_ip}"))
        .arg(script)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("packetdrill: {e}"))?;
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(s);
        }
        if start.elapsed() > tools.timeout {
            // Our own child (iproute2 execs packetdrill, so this PID is packetdrill's).
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    Ok(match status {
        None => Outcome::TimedOut,
        Some(s) if s.success() => Outcome::Passed,
        Some(s) if s.code().is_none() => Outcome::Crashed(format!("{s}: {}", first_error(&text))),
        Some(_) => Outcome::Failed(text),
    })
}

/// The first mismatch packetdrill printed: its error line and, for packets, the script and
/// actual packet lines after it, joined with " | ".
pub fn first_error(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let Some(at) = lines
        .iter()
        .position(|l| l.contains("error") || l.contains("Timed out") || l.contains("assert"))
    else {
        return lines.first().copied().unwrap_or("no output").to_string();
    };
    let mut parts = vec![strip_path(lines[at])];
    for l in lines.iter().skip(at + 1).take(2) {
        if l.starts_with("script packet") || l.starts_with("actual packet") {
            parts.push(squeeze(l));
        }
    }
    parts.join(" | ")
}

/// Drops the temporary script path packetdrill prefixes errors with (`/tmp/.../x.pkt:42:`).
fn strip_path(line: &str) -> String {
    match line.find(".pkt:") {
        Some(i) => format!("line {}", squeeze(&line[i + 5..])),
        None => squeeze(line),
    }
}

fn squeeze(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_error_keeps_the_mismatch() {
        let out = "/tmp/x/t1.pkt:42: error handling packet: bad outbound TCP options\n\
                   script packet:  0.000023 S. 0:0(0) ack 1 win 65535 <mss 1460>\n\
                   actual packet:  0.000022 S. 0:0(0) ack 1 win 65535 <mss 1460,nop>\n";
        assert_eq!(
            first_error(out),
            "line 42: error handling packet: bad outbound TCP options | script packet: \
             0.000023 S. 0:0(0) ack 1 win 65535 <mss 1460> | actual packet: 0.000022 S. 0:0(0) \
             ack 1 win 65535 <mss 1460,nop>"
        );
        assert_eq!(first_error(""), "no output");
    }
}
