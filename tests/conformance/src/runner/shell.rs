//! Backtick shell lines never run against the machine. Each is one of:
//! - a setting ustack has (a FreeBSD/Linux sysctl) → a `--so_flags` entry, the line becomes `true`;
//! - a socket-state check (`sockstat ... | grep -c STATE | grep N`) → the same check against the
//!   state file the shim keeps (`statefile=` flag), so it still tests ustack;
//! - a setting ustack does not have, at a value that changes behaviour → noted (the result
//!   carries it), the line becomes `true`;
//! - anything else (cache flushes, host limits, restore scripts) → `true`, noted as neutralised.

/// What became of one shell line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shell {
    /// Mapped to `--so_flags` entries.
    Flags(Vec<String>),
    /// Rewritten into a check against the shim's state file.
    Check(String),
    /// A setting ustack lacks at a value that matters (e.g. `net.inet.tcp.insecure_rst=1`).
    Missing(String),
    /// Neutralised: no effect on what ustack does.
    Neutral,
}

/// FreeBSD / Linux sysctls that map onto ustack's Config; `mss` is the script's MSS (its IP
/// version's, for the default MTU).
fn sysctl(name: &str, value: &str, mss: usize) -> Shell {
    let flags = |f: &[String]| Shell::Flags(f.to_vec());
    match name {
        "net.inet.tcp.sack.enable" | "net.ipv4.tcp_sack" => flags(&[format!("sack={value}")]),
        // FreeBSD rounds the receive buffer up to a multiple of the MSS when the connection is
        // established (65536 → 65700 with IPv4's MSS 1460, 66240 with IPv6's 1440); its
        // windows and edges follow that figure.
        "net.inet.tcp.recvspace" => match value.parse::<usize>() {
            Ok(v) => flags(&[format!("rcvbuf={}", v.div_ceil(mss) * mss)]),
            Err(_) => Shell::Neutral,
        },
        "net.inet.tcp.sendspace" => flags(&[format!("sndbuf={value}")]),
        "net.inet.tcp.rfc1323" => flags(&[format!("ts={value}"), format!("wscale={value}")]),
        "net.ipv4.tcp_timestamps" => flags(&[format!("ts={value}")]),
        "net.ipv4.tcp_window_scaling" => flags(&[format!("wscale={value}")]),
        "net.inet.tcp.rexmit_initial" => flags(&[format!("rto_init_ms={value}")]),
        "net.inet.tcp.delacktime" => flags(&[format!("delack_ms={value}")]),
        "net.ipv4.tcp_congestion_control" if matches!(value, "cubic" | "reno") => {
            flags(&[format!("cc={value}")])
        }
        "net.ipv4.tcp_syncookies" => flags(&[format!("syncookies={}", (value != "0") as u8)]),
        // RFC 5961 is always on in ustack: its "insecure" (RFC 793) modes do not exist.
        "net.inet.tcp.insecure_rst" | "net.inet.tcp.insecure_syn" if value != "0" => {
            Shell::Missing(format!("{name}={value}"))
        }
        // ustack always drops SYN+FIN (DESIGN.md "SYN+FIN dropped").
        "net.inet.tcp.drop_synfin" if value != "1" => Shell::Missing(format!("{name}={value}")),
        _ => Shell::Neutral,
    }
}

/// Classifies `cmd` (the text between the backticks); `state_file` is where the shim writes
/// its connection table, `mss` the script's MSS.
pub fn classify(cmd: &str, state_file: &str, mss: usize) -> Shell {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    if let ["sysctl", rest @ ..] = words.as_slice() {
        // `sysctl -w a=b` or `sysctl -q a=b`.
        if let Some((n, v)) = rest.iter().find_map(|w| w.split_once('=')) {
            return sysctl(n, v, mss);
        }
        return Shell::Neutral;
    }
    // Linux's `set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0 ...`.
    if words.first().is_some_and(|w| w.ends_with("set_sysctls.py")) {
        let mut flags = Vec::new();
        for w in &words[1..] {
            let Some((path, v)) = w.split_once('=') else {
                continue;
            };
            let name = path.trim_start_matches("/proc/sys/").replace('/', ".");
            match sysctl(&name, v, mss) {
                Shell::Flags(f) => flags.extend(f),
                other => return other,
            }
        }
        return if flags.is_empty() {
            Shell::Neutral
        } else {
            Shell::Flags(flags)
        };
    }
    if words.first() == Some(&"sockstat") {
        return sockstat(cmd, state_file).unwrap_or(Shell::Neutral);
    }
    Shell::Neutral
}

/// `sockstat -4|-6 -P tcp [-p PORT] -s | [grep packetdril |] grep -c STATE | grep N` → the
/// same count over the shim's state file (one `STATE LOCALPORT REMOTEPORT FAMILY` line per
/// connection or listener). The count takes both families, whatever `-4`/`-6` says: a script
/// runs in one, and five of the suite's `-ipv6` scripts check with `sockstat -4` after their
/// RST (`rcv-rst{,-ack}-syn-rcvd-via-listen-right-edge-*-insecure-ipv6`) — on FreeBSD a count
/// that is 0 whatever the stack did; counted over both it still tests ustack.
fn sockstat(cmd: &str, state_file: &str) -> Option<Shell> {
    let stages: Vec<&str> = cmd.split('|').map(str::trim).collect();
    let head: Vec<&str> = stages.first()?.split_whitespace().collect();
    let port = head
        .iter()
        .position(|w| *w == "-p")
        .and_then(|i| head.get(i + 1))
        .copied();
    let state = stages
        .iter()
        .find_map(|s| s.strip_prefix("grep -c "))?
        .trim();
    let want = stages.last()?.strip_prefix("grep ")?.trim();
    if !state.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        || !want.chars().all(|c| c.is_ascii_digit())
    {
        return None;
    }
    let filter = port.map_or(String::new(), |p| {
        format!("grep -E ' {p}( |$)' {state_file} | ")
    });
    let source = if port.is_some() {
        String::new()
    } else {
        format!(" {state_file}")
    };
    Some(Shell::Check(format!(
        "{filter}grep -c '^{state} '{source} | grep -x {want}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysctls_map_to_flags_or_are_noted() {
        assert_eq!(
            classify("sysctl -w net.inet.tcp.recvspace=65536", "f", 1460),
            Shell::Flags(vec!["rcvbuf=65700".into()])
        );
        // The -ipv6 twins' comment: "Now the recv buffer is 66240" (46 × 1440).
        assert_eq!(
            classify("sysctl -w net.inet.tcp.recvspace=65536", "f", 1440),
            Shell::Flags(vec!["rcvbuf=66240".into()])
        );
        assert_eq!(
            classify("sysctl -w net.inet.tcp.insecure_rst=1", "f", 1460),
            Shell::Missing("net.inet.tcp.insecure_rst=1".into())
        );
        assert_eq!(
            classify("sysctl -w net.inet.tcp.insecure_rst=0", "f", 1460),
            Shell::Neutral
        );
        assert_eq!(
            classify("tc qdisc add dev tun0 root", "f", 1460),
            Shell::Neutral
        );
        assert_eq!(
            classify("sysctl -q net.ipv4.tcp_congestion_control=cubic", "f", 1460),
            Shell::Flags(vec!["cc=cubic".into()])
        );
        assert_eq!(
            classify(
                "../common/set_sysctls.py /proc/sys/net/ipv4/tcp_timestamps=0",
                "f",
                1460
            ),
            Shell::Flags(vec!["ts=0".into()])
        );
    }

    #[test]
    fn sockstat_checks_become_state_file_checks() {
        assert_eq!(
            classify(
                "sockstat -4 -P tcp -s | grep packetdril | grep -c TIME_WAIT | grep 1",
                "/s",
                1460
            ),
            Shell::Check("grep -c '^TIME_WAIT ' /s | grep -x 1".into())
        );
        assert_eq!(
            classify(
                "sockstat -6 -P tcp -s | grep packetdril | grep -c TIME_WAIT | grep 1",
                "/s",
                1440
            ),
            Shell::Check("grep -c '^TIME_WAIT ' /s | grep -x 1".into())
        );
        assert_eq!(
            classify(
                "sockstat -4 -P tcp -p 8080 -s | grep -c SYN_RCVD | grep 0",
                "/s",
                1460
            ),
            Shell::Check("grep -E ' 8080( |$)' /s | grep -c '^SYN_RCVD ' | grep -x 0".into())
        );
    }
}
