//! ICMPv6 errors about the stack's TCP connections, true and false (issue 17, "Bad input";
//! docs/IPV6.md "Path MTU"): against `ustack up --ipv6` in a namespace,
//! tests/fixtures/pmtud6-bad.py plays a TCP peer with scapy from the kernel side of the TUN,
//! leaves chargen's first window in flight, and sends errors quoting it. Each case has its exact
//! effect, read from what the stack sends next and from its counters through the control
//! socket:
//! - a Packet Too Big quoting a packet from another source: `IcmpBadQuote` (RFC 4443 §2.4 (d):
//!   an error is about a packet we sent);
//! - quoting a sequence number not in flight: `IcmpTcpSeqNotInFlight` (RFC 5927 §4.1);
//! - an MTU not below the path MTU (1500, then 1280 and 1279 once at 1280):
//!   `IcmpFragNeededNotSmaller` (RFC 5927 §7.2);
//! - an MTU below 1280 (1000, and 0 on a fresh connection): believed as 1280 (RFC 8201 §4), the
//!   window resent at once in 1280-byte packets with MSS 1220, no Fragment header (no atomic
//!   fragments, RFC 8021);
//! - Destination Unreachable (codes 1, 3, 4) and Time Exceeded about an established connection:
//!   delivered, and the connection lives (RFC 5927 §4.2: hard errors as soft; RFC 1122
//!   §4.2.3.9) — acknowledged, it sends on.
//!
//! Needs root, /dev/net/tun and Debian's python3-scapy (installed by .ci/run); the first two
//! skipped otherwise unless `USTACK_REQUIRE_TUN=1`.

use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;
use ustack_tests::control::control_path;
use ustack_tests::e2e::{run_limited, wait_host_addr6, Up};
use ustack_tests::netns::{tun_available, NetNs};

/// What a case must do: the counters that move (drop reasons, and `delivered`:
/// `icmp_errors_delivered`), and the MSS after it.
type Case = (&'static str, &'static [(&'static str, u64)], u64);

const CASES: &[Case] = &[
    (
        "Packet Too Big quoting another source",
        &[("IcmpBadQuote", 1)],
        1440,
    ),
    (
        "Packet Too Big quoting a sequence not in flight",
        &[("IcmpTcpSeqNotInFlight", 1)],
        1440,
    ),
    (
        "Packet Too Big, MTU 1500: not smaller",
        &[("IcmpFragNeededNotSmaller", 1)],
        1440,
    ),
    ("Packet Too Big, MTU 1000: 1280", &[("delivered", 1)], 1220),
    (
        "Packet Too Big, MTU 1280 again: not smaller",
        &[("IcmpFragNeededNotSmaller", 1)],
        1220,
    ),
    (
        "Packet Too Big, MTU 1279: 1280, not smaller",
        &[("IcmpFragNeededNotSmaller", 1)],
        1220,
    ),
    (
        "Destination Unreachable (administratively prohibited), established",
        &[("delivered", 1)],
        1220,
    ),
    (
        "Destination Unreachable (address unreachable), established",
        &[("delivered", 1)],
        1220,
    ),
    (
        "Destination Unreachable (port unreachable), established",
        &[("delivered", 1)],
        1220,
    ),
    ("Time Exceeded, established", &[("delivered", 1)], 1220),
    ("acknowledged: the connection sends on", &[], 1220),
    (
        "Packet Too Big, MTU 0, fresh connection: 1280",
        &[("delivered", 1)],
        1220,
    ),
];

/// A case's counters that moved, without what the kernel itself sends into the TUN now and
/// then (router solicitations, MLD reports: `Icmpv6LinkLocalIgnored`, `Ipv6NotForUs`), which
/// no error to the stack's address can cause.
fn moved(c: &Value) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = c["counts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .filter(|(k, _)| k != "Icmpv6LinkLocalIgnored" && k != "Ipv6NotForUs")
        .collect();
    v.sort();
    v
}

/// The segments the stack sent in a case: (IPv6 length, Next Header, payload, seq).
fn sent(c: &Value) -> Vec<(u64, u64, u64, u64)> {
    c["sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let n = |k: &str| s[k].as_u64().unwrap_or(0);
            (n("len"), n("nh"), n("payload"), n("seq"))
        })
        .collect()
}

#[test]
fn icmpv6_errors_about_tcp_are_believed_only_when_true_and_never_kill_a_connection() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("pmtud6-bad");
    let up = Up::start(&ns, &["--ipv6"]);
    wait_host_addr6(&ns);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/pmtud6-bad.py");
    let mut cmd = ns.command("/usr/bin/python3");
    cmd.arg(&script)
        .arg("ustack0")
        .arg(control_path(&ns, "ustack0"));
    let out = run_limited(cmd, "pmtud6-bad.py", Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pmtud6-bad.py (needs Debian's python3-scapy): {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).expect("the script's JSON");

    // The first window: ten full segments of 1500 bytes (MSS 1440 offered, no timestamps).
    let first: Vec<u64> = report["first_window"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["len"].as_u64().unwrap())
        .collect();
    assert_eq!(first, [1500; 10], "{report}");
    let window_end =
        (report["first_window"][0]["seq"].as_u64().unwrap() as u32).wrapping_add(10 * 1440);

    let cases = report["cases"].as_array().unwrap();
    let names: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    let want: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    assert_eq!(names, want, "the script's cases and the table differ");
    for (c, (name, counts, mss)) in cases.iter().zip(CASES) {
        let counts: Vec<(String, u64)> = counts.iter().map(|(k, n)| (k.to_string(), *n)).collect();
        assert_eq!(moved(c), counts, "{name}: counters\n{c}");
        // The connection lives through every error, with the MSS the case leaves.
        assert_eq!(c["state"], "established", "{name}: {c}");
        assert_eq!(c["mss"].as_u64(), Some(*mss), "{name}: {c}");
        let segments = sent(c);
        // Never a Fragment header (44), never more than the path MTU.
        assert!(segments.iter().all(|s| s.1 == 6), "{name}: {segments:?}");
        assert!(
            segments.iter().all(|s| s.0 <= 40 + 20 + *mss),
            "{name}: {segments:?}"
        );
        // A report believed is acted on at once: the window resent in smaller packets.
        if name.starts_with("Packet Too Big") && counts == [("delivered".to_string(), 1)] {
            assert!(
                !segments.is_empty() && segments.iter().all(|s| s.0 == 1280 && s.2 == 1220),
                "{name}: {segments:?}"
            );
        }
    }
    // Alive: acknowledged, chargen sends past its first window (sequence numbers compared
    // modulo 2^32).
    let alive = sent(&cases[10]);
    assert!(
        alive
            .iter()
            .any(|s| s.2 > 0 && (s.3 as u32).wrapping_sub(window_end) < 1 << 31),
        "{alive:?} (first window ends at {window_end})"
    );
    let counters = up.stop();
    assert!(counters.contains("icmp_errors_delivered"), "{counters}");
}
