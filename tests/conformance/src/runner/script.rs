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
    ("ipv6", "IPv6"),
    ("AF_INET6", "IPv6"),
    ("[ect0]", "ECN (RFC 3168)"),
    ("[ce]", "ECN (RFC 3168)"),
    ("IP_TOS", "IP_TOS"),
    ("SO_MARK", "SO_MARK"),
    ("IP_FREEBIND", "IP_FREEBIND"),
    ("IP_MTU_DISCOVER", "path MTU probing (IP_MTU_DISCOVER)"),
    ("%{", "inline Python assertions (Linux tcp_info internals)"),
    (
        "tcpi_",
        "inline Python assertions (Linux tcp_info internals)",
    ),
];

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

/// Rewrites the backticks of one line; everything outside them is kept.
fn shell_line(line: &str, state_file: &str, p: &mut Prepared) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(a) = rest.find('`') {
        let Some(len) = rest[a + 1..].find('`') else {
            break;
        };
        let cmd = &rest[a + 1..a + 1 + len];
        let replacement = match classify(cmd, state_file) {
            Shell::Flags(f) => {
                p.flags.extend(f);
                "true".to_string()
            }
            Shell::Check(c) => {
                p.checks += 1;
                c
            }
            Shell::Missing(m) => {
                p.missing.push(m);
                p.neutralised += 1;
                "true".to_string()
            }
            Shell::Neutral => {
                p.neutralised += 1;
                "true".to_string()
            }
        };
        out.push_str(&rest[..a]);
        out.push('`');
        out.push_str(&replacement);
        out.push('`');
        rest = &rest[a + 2 + len..];
    }
    out.push_str(rest);
    out
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
    let mut lines = Vec::new();
    for line in &preprocess(text) {
        let l = if line.trim_start().starts_with("//") {
            line.to_string()
        } else {
            shell_line(line, state_file, &mut p)
        };
        lines.push(l);
    }
    // Later settings win, as they would on the machine.
    let rcvbuf = p
        .flags
        .iter()
        .rev()
        .find_map(|f| f.strip_prefix("rcvbuf="))
        .map(str::to_string);
    if profile == Some("freebsd") {
        for l in &mut lines {
            if !l.trim_start().starts_with("//") {
                *l = profile::freebsd_line(l, rcvbuf.as_deref());
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
    fn standard_blocks_are_kept() {
        let t = "a\n#ifdef STANDARD\nb\n#endif\n#ifdef FreeBSD\nc\n#else\nd\n#endif\ne\n";
        assert_eq!(
            preprocess(t),
            vec!["a", "", "b", "", "", "", "", "d", "", "e"]
        );
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
