//! `ustack capture -r` prints IPv6 packets as `tcpdump -n -r` does, line for line, on a file of
//! every kind it names (written afresh by tests/fixtures/ipv6-lines.py):
//! ICMPv6 errors of each code, echo, Neighbor Discovery, MLD v1/v2, Hop-by-Hop, Destination
//! Options, routing type 0, fragments, TCP (an HTTP request), UDP, an unknown protocol, No Next
//! Header and a truncated packet. tcpdump's hex dump of the messages it cannot decode (the
//! lines that start with a tab) is not printed by ustack and is left out of the comparison.
//!
//! Needs tcpdump and python3 (installed by .ci/run); no root.

use std::path::PathBuf;
use std::process::Command;
use ustack_tests::capture::{assert_same_lines, tcpdump_r, ustack_r};
use ustack_tests::e2e::Scratch;

#[test]
fn ipv6_lines_are_tcpdumps() {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/ipv6-lines.py");
    let scratch = Scratch::new("capv6", "lines");
    let file = scratch.path("ipv6-lines.pcap");
    let made = Command::new("python3")
        .arg(&script)
        .arg(&file)
        .output()
        .expect("python3 (apt-get install python3)");
    assert!(made.status.success(), "{made:?}");
    let theirs = tcpdump_r(&[], &file);
    let ours = ustack_r(&[], &file);
    let theirs: Vec<&str> = theirs.lines().filter(|l| !l.starts_with('\t')).collect();
    let ours: Vec<&str> = ours.lines().collect();
    assert_same_lines(&ours.join("\n"), &theirs.join("\n"), "the IPv6 file");
    assert!(ours.len() >= 45, "{} packets", ours.len());
    assert!(ours
        .iter()
        .any(|l| l.contains("ICMP6, router solicitation")));
    assert!(ours.iter().any(|l| l.contains(": HTTP: GET / HTTP/1.1")));
}
