//! Prepares one script for a run: shell lines handled (see `shell.rs`), a profile applied if
//! asked, and the features it needs that ustack lacks named.

use super::profile;
use super::shell::{classify, Shell};

/// A script ready to hand to packetdrill.
#[derive(Debug, Default)]
pub struct Prepared {
    /// The rewritten text.
    pub text: String,
    /// `--so_flags` entries its shell lines asked for.
    pub flags: Vec<String>,
    /// Settings ustack lacks that the script sets to a value that matters.
    pub missing: Vec<String>,
    /// How many shell lines were neutralised / turned into state checks.
    pub neutralised: usize,
    /// How many `sockstat` checks now check ustack's state file.
    pub checks: usize,
}

/// Inline Python assertions: the shim answers `TCP_INFO` with Linux's layout for the fields
/// ustack tracks, so these count as unsupported only when the Python part is what fails.
pub const PYTHON: &str = "inline Python on Linux tcp_info internals";

/// Features ustack (or the shim) lacks, recognised by what a script uses.
pub const FEATURES: &[(&str, &str)] = &[
    ("TCP_FASTOPEN", "TCP Fast Open (RFC 7413)"),
    ("MSG_FASTOPEN", "TCP Fast Open (RFC 7413)"),
    ("SO_ZEROCOPY", "zerocopy send (SO_ZEROCOPY)"),
    ("MSG_ZEROCOPY", "zerocopy send (SO_ZEROCOPY)"),
    ("md5", "TCP MD5 signatures (RFC 2385)"),
    ("epoll_", "epoll"),
    ("splice(", "splice/pipes"),
    ("pipe(", "splice/pipes"),
    ("sendfile(", "sendfile"),
    ("SO_TIMESTAMPING", "SO_TIMESTAMPING"),
    ("TCP_NOTSENT_LOWAT", "TCP_NOTSENT_LOWAT"),
    ("TCP_INQ", "TCP_INQ"),
    ("ioctl(", "ioctl (SIOCINQ/SIOCOUTQ)"),
    ("TCP_CORK", "TCP_CORK / MSG_MORE"),
    ("MSG_MORE", "TCP_CORK / MSG_MORE"),
    ("SOCK_DGRAM", "UDP sockets in the shim"),
    ("[ect0]", "ECN (RFC 3168)"),
    ("[ce]", "ECN (RFC 3168)"),
    ("IP_TOS", "IP_TOS"),
    ("SO_MARK", "SO_MARK"),
    ("IP_FREEBIND", "IP_FREEBIND"),
    ("IP_MTU_DISCOVER", "path MTU probing (IP_MTU_DISCOVER)"),
    ("%{", PYTHON),
    ("tcpi_", PYTHON),
];

/// The IP version a script runs with: its `--ip_version=` option line (packetdrill's own
/// default, the primary address's family, is IPv4 in the runner's namespace, which has only
/// `lo`). packetdrill's `ipv4-mapped-ipv6` (IPv4 packets, `AF_INET6` sockets) cannot be
/// written in a script — its option lexer stops at the `-` — and the runner does not ask for
/// it; the shim supports it (IPv4-mapped addresses on `AF_INET6` sockets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpVersion {
    /// `ipv4`: IPv4 packets, `AF_INET` sockets.
    V4,
    /// `ipv6`: IPv6 packets and sockets.
    V6,
}

impl IpVersion {
    /// The version `text` asks for (its last `--ip_version=` line wins, as in packetdrill).
    pub fn of(text: &str) -> IpVersion {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix("--ip_version="))
            .next_back()
            .map_or(IpVersion::V4, |v| match v.trim() {
                "ipv6" => IpVersion::V6,
                _ => IpVersion::V4,
            })
    }

    /// packetdrill's `--local_ip` for it: the shim's stack address of that family.
    pub fn local_ip(self) -> String {
        match self {
            IpVersion::V6 => crate::flags::DEFAULT_ADDR6.to_string(),
            IpVersion::V4 => crate::flags::DEFAULT_ADDR.to_string(),
        }
    }

    /// The MSS of the default 1500-byte MTU: 1500 − 40 over IPv4, 1500 − 60 over IPv6
    /// (RFC 9293 §3.7.1, RFC 8200 §8.3).
    pub fn mss(self) -> usize {
        match self {
            IpVersion::V6 => 1440,
            IpVersion::V4 => 1460,
        }
    }
}

/// The IPv6 twin of a FreeBSD IPv4 script, written the way the FreeBSD suite writes its
/// `-ipv6` scripts from their `-ipv4` twins: `--ip_version=ipv6`, the MSS options of the
/// default MTU over IPv6 (`mss 1460` → `mss 1440`, RFC 8200 §8.3: 20 more bytes of IP header)
/// and `sockstat -6` for `sockstat -4`. `None` for a script that is not `--ip_version=ipv4`
/// or reads its receive buffer back (`SO_RCVBUF`: FreeBSD rounds it to the MSS, and the
/// suite rewrites those figures, and the window edges that follow them, by hand). The
/// runner derives twins only for `rcv-data-segments`, whose scripts have no such figures.
pub fn ipv6_twin(text: &str) -> Option<String> {
    if IpVersion::of(text) != IpVersion::V4 || !text.contains("--ip_version=ipv4") {
        return None;
    }
    let code = || text.lines().filter(|l| !l.trim_start().starts_with("//"));
    if code().any(|l| l.contains("SO_RCVBUF")) {
        return None;
    }
    Some(
        text.replace("--ip_version=ipv4", "--ip_version=ipv6")
            .replace("mss 1460", "mss 1440")
            .replace("sockstat -4", "sockstat -6"),
    )
}

/// The named features `text` needs (deduplicated, in table order).
pub fn features(text: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .map(|l| format!("{l}\n"))
        .collect();
    for (pat, name) in FEATURES {
        if code.contains(pat) && !out.contains(name) {
            out.push(name);
        }
    }
    out
}

/// What one backtick command (possibly several lines, `;`-separated) becomes.
fn shell_command(cmd: &str, state_file: &str, mss: usize, p: &mut Prepared) -> String {
    let parts: Vec<&str> = cmd
        .split(['\n', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut checks = Vec::new();
    for part in parts {
        match classify(part, state_file, mss) {
            Shell::Flags(f) => p.flags.extend(f),
            Shell::Check(c) => {
                p.checks += 1;
                checks.push(c);
            }
            Shell::Missing(m) => {
                p.missing.push(m);
                p.neutralised += 1;
            }
            Shell::Neutral => p.neutralised += 1,
        }
    }
    // Keep the command's line count so packetdrill's line numbers stay the file's.
    let newlines = "\n".repeat(cmd.matches('\n').count());
    if checks.is_empty() {
        format!("true{newlines}")
    } else {
        format!("{}{newlines}", checks.join(" && "))
    }
}

/// Rewrites every backtick command of `lines` (commands may span lines); `//` comment lines
/// are left alone.
fn shell_lines(lines: &[String], state_file: &str, mss: usize, p: &mut Prepared) -> Vec<String> {
    let mut out = String::new();
    let mut open: Option<String> = None;
    for line in lines {
        if open.is_none() && line.trim_start().starts_with("//") {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut rest = line.as_str();
        loop {
            match &mut open {
                Some(cmd) => match rest.find('`') {
                    Some(i) => {
                        cmd.push_str(&rest[..i]);
                        let c = std::mem::take(cmd);
                        open = None;
                        out.push_str(&shell_command(&c, state_file, mss, p));
                        out.push('`');
                        rest = &rest[i + 1..];
                    }
                    None => {
                        cmd.push_str(rest);
                        cmd.push('\n');
                        break;
                    }
                },
                None => match rest.find('`') {
                    Some(i) => {
                        out.push_str(&rest[..=i]);
                        open = Some(String::new());
                        rest = &rest[i + 1..];
                    }
                    None => {
                        out.push_str(rest);
                        out.push('\n');
                        break;
                    }
                },
            }
        }
    }
    if let Some(cmd) = open {
        // An unterminated command: leave it for packetdrill to report.
        out.push_str(&cmd);
    }
    out.lines().map(str::to_string).collect()
}

/// The FreeBSD suite's scripts go through the C preprocessor with `-DSTANDARD` (the RFC
/// behaviour) or `-DFreeBSD` (FreeBSD's own): keep `#ifdef STANDARD` blocks, drop the others.
/// A dropped line becomes an empty line so packetdrill's line numbers stay those of the file.
pub fn preprocess(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    // One entry per open #if: whether its lines are kept.
    let mut keep: Vec<bool> = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        let on = keep.iter().all(|k| *k);
        if let Some(sym) = t.strip_prefix("#ifdef ") {
            keep.push(sym.trim() == "STANDARD");
        } else if let Some(sym) = t.strip_prefix("#ifndef ") {
            keep.push(sym.trim() != "STANDARD");
        } else if t == "#else" {
            if let Some(k) = keep.last_mut() {
                *k = !*k;
            }
        } else if t == "#endif" {
            keep.pop();
        } else if on {
            out.push(line.to_string());
            continue;
        }
        out.push(String::new());
    }
    out
}

/// Prepares `text`; `profile` is a name from [`profile::PROFILES`] or None (as written).
pub fn prepare(text: &str, profile: Option<&str>, state_file: &str) -> Prepared {
    let mut p = Prepared::default();
    // ustack's own scripts name the Config they were written for in a header comment.
    for line in text.lines() {
        if let Some(flags) = line.trim().strip_prefix("// so_flags:") {
            p.flags.extend(
                flags
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(str::to_string),
            );
        }
    }
    let mss = IpVersion::of(text).mss();
    let mut lines = shell_lines(&preprocess(text), state_file, mss, &mut p);
    // Later settings win, as they would on the machine.
    let rcvbuf = p
        .flags
        .iter()
        .rev()
        .find_map(|f| f.strip_prefix("rcvbuf="))
        .map(str::to_string);
    if let Some(name) = profile {
        for l in &mut lines {
            if !l.trim_start().starts_with("//") {
                *l = profile::apply(name, l, rcvbuf.as_deref());
            }
        }
    }
    p.text = lines.join("\n") + "\n";
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_lines_become_flags_checks_or_true() {
        let s = "// ``AS IS'' stays\n 0.00 `sysctl -w net.inet.tcp.recvspace=65536`\n\
                 +0 `sockstat -4 -P tcp -s | grep packetdril | grep -c TIME_WAIT | grep 1`\n\
                 +0 `tcpdrop -s TIME_WAIT`\n";
        let p = prepare(s, None, "/st");
        assert_eq!(p.flags, vec!["rcvbuf=65700".to_string()]);
        assert_eq!((p.checks, p.neutralised), (1, 1));
        assert!(p.text.contains("``AS IS''"));
        assert!(p.text.contains(" 0.00 `true`"));
        assert!(p.text.contains("`grep -c '^TIME_WAIT ' /st | grep -x 1`"));
        assert!(!p.text.contains("tcpdrop"));
    }

    #[test]
    fn header_comment_carries_so_flags() {
        let p = prepare(
            "// so_flags: ts=0, synbacklog=1\n0 socket(...)\n",
            None,
            "/st",
        );
        assert_eq!(
            p.flags,
            vec!["ts=0".to_string(), "synbacklog=1".to_string()]
        );
    }

    #[test]
    fn multi_line_commands_keep_line_numbers() {
        let s = "`../common/defaults.sh\nsysctl -q net.ipv4.tcp_timestamps=0\n`\n+0 socket(...)\n";
        let p = prepare(s, None, "/st");
        assert_eq!(p.flags, vec!["ts=0".to_string()]);
        assert_eq!(p.text, "`true\n\n`\n+0 socket(...)\n");
    }

    #[test]
    fn standard_blocks_are_kept() {
        let t = "a\n#ifdef STANDARD\nb\n#endif\n#ifdef FreeBSD\nc\n#else\nd\n#endif\ne\n";
        assert_eq!(
            preprocess(t),
            vec!["a", "", "b", "", "", "", "", "d", "", "e"]
        );
    }

    #[test]
    fn ip_version_comes_from_the_option_line() {
        assert_eq!(
            IpVersion::of("--ip_version=ipv6\n0 socket(...)\n"),
            IpVersion::V6
        );
        assert_eq!(
            IpVersion::of("--ip_version=ipv4\n").local_ip(),
            "192.168.0.2"
        );
        assert_eq!(IpVersion::of("0 socket(...)\n"), IpVersion::V4);
        assert_eq!(IpVersion::V6.local_ip(), "fd3d:fa7b:d17d::2");
        // The -ipv6 twins' recvspace rounds to 1440 (their comment: 66240).
        let p = prepare(
            "--ip_version=ipv6\n0 `sysctl -w net.inet.tcp.recvspace=65536`\n",
            None,
            "/st",
        );
        assert_eq!(p.flags, vec!["rcvbuf=66240".to_string()]);
    }

    #[test]
    fn ipv6_twins_are_written_as_the_suite_writes_them() {
        // As rcv-ack-syn-sent/rcv-ack-with-data-syn-sent-ack-left-edge-ipv{4,6}.pkt differ.
        let v4 = "--ip_version=ipv4\n// mss 1460 in a comment too\n\
                  +0.00 > S 0:0(0) win 65535 <mss 1460,nop,wscale 6,sackOK,TS val 100 ecr 0>\n\
                  +0.10 < . 1:1001(1000) ack 1 win 65535\n\
                  +0.10 `sockstat -4 -P tcp -s | grep -c TIME_WAIT | grep 1`\n";
        let v6 = "--ip_version=ipv6\n// mss 1440 in a comment too\n\
                  +0.00 > S 0:0(0) win 65535 <mss 1440,nop,wscale 6,sackOK,TS val 100 ecr 0>\n\
                  +0.10 < . 1:1001(1000) ack 1 win 65535\n\
                  +0.10 `sockstat -6 -P tcp -s | grep -c TIME_WAIT | grep 1`\n";
        assert_eq!(ipv6_twin(v4).as_deref(), Some(v6));
        assert_eq!(ipv6_twin(v6), None, "already IPv6");
        assert_eq!(
            ipv6_twin("0 socket(...)\n"),
            None,
            "no --ip_version=ipv4 line"
        );
        let rcvbuf =
            "--ip_version=ipv4\n+0 getsockopt(3, SOL_SOCKET, SO_RCVBUF, [65700], [4]) = 0\n";
        assert_eq!(ipv6_twin(rcvbuf), None, "the buffer follows the MSS");
    }

    #[test]
    fn features_are_named_outside_comments() {
        assert_eq!(
            features(
                "// TCP_FASTOPEN in a comment\n+0 socket(..., SOCK_STREAM, IPPROTO_TCP) = 3\n"
            ),
            Vec::<&str>::new()
        );
        assert_eq!(
            features("+0 setsockopt(3, SOL_TCP, TCP_FASTOPEN, [1], 4) = 0\n"),
            vec!["TCP Fast Open (RFC 7413)"]
        );
    }
}
