//! The scapy battery of malformed IPv6 (issue 17, "Bad input"; docs/IPV6.md): against `ustack up
//! --ipv6` in a namespace, tests/fixtures/ipv6-malformed.py builds each case with scapy, writes
//! its bytes onto the TUN from the kernel side, records what the stack sends back and reads the
//! drop counters through the control socket before and after. Every case here has its exact
//! answer — an echo reply, an ICMPv6 Parameter Problem with its code and pointer (quoting the
//! packet), or silence — and its exact drop reasons (RFC 8200 §4, RFC 5095, RFC 7112, RFC 5722,
//! RFC 8021, RFC 2675, RFC 4443 §2.4). tcpdump on the TUN must see the same Parameter Problems,
//! in its own words; afterwards iputils `ping -6` is still answered and no reassembly memory is
//! held.
//!
//! Needs root, /dev/net/tun, tcpdump and Debian's python3-scapy (installed by .ci/run); the
//! first two skipped otherwise unless `USTACK_REQUIRE_TUN=1`.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use ustack_tests::control::control_path;
use ustack_tests::e2e::{kernel_tcpdump, run_in, run_limited, wait_host_addr6, Scratch, Up};
use ustack_tests::netns::{tun_available, NetNs};

const STACK: &str = "2001:2::2";
const HOST: &str = "2001:2::1";

/// What the stack sends back for a case.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Answer {
    /// An echo reply from the stack's address to the host.
    Echo,
    /// A Parameter Problem (RFC 4443 §3.4): code, pointer.
    Problem(u8, u32),
}
use Answer::{Echo, Problem};

/// A case by its name: the answers, and the drops by reason.
type Case = (&'static str, Vec<Answer>, Vec<(&'static str, u64)>);

/// Every case the script sends, in order.
fn expected() -> Vec<Case> {
    let mut t = vec![
        ("sanity: an echo request is answered", vec![Echo], vec![]),
        // RFC 8200 §4.3: Hop-by-Hop only first; elsewhere code 1 at the Next Header naming it.
        (
            "hop-by-hop after destination options",
            vec![Problem(1, 40)],
            vec![("Ipv6HopByHopNotFirst", 1)],
        ),
        (
            "hop-by-hop third",
            vec![Problem(1, 48)],
            vec![("Ipv6HopByHopNotFirst", 1)],
        ),
        // The walk's bound: 8 extension headers pass, more are refused silently.
        (
            "8 destination options headers (the bound)",
            vec![Echo],
            vec![],
        ),
        (
            "9 destination options headers",
            vec![],
            vec![("Ipv6ExtChainTooLong", 1)],
        ),
        (
            "64 destination options headers",
            vec![],
            vec![("Ipv6ExtChainTooLong", 1)],
        ),
        (
            "two fragment headers",
            vec![],
            vec![("Ipv6FragmentTwice", 1)],
        ),
        (
            "extension header past the packet",
            vec![],
            vec![("Ipv6ExtTruncated", 1)],
        ),
        // RFC 5095 §3, RFC 8200 §4.4: code 0 at the Routing Type while segments are left;
        // with none left the header is ignored.
        (
            "routing type 0, segments left 1",
            vec![Problem(0, 42)],
            vec![("Ipv6RoutingHeader", 1)],
        ),
        ("routing type 0, segments left 0", vec![Echo], vec![]),
        (
            "routing type 253, segments left 1",
            vec![Problem(0, 42)],
            vec![("Ipv6RoutingHeader", 1)],
        ),
    ];
    // RFC 8200 §4.2: 00 skip; 01 discard; 10 discard and code 2 (also to multicast); 11
    // discard and code 2 only if the destination is not multicast. The option is at byte 42.
    let unknown = || vec![("Ipv6UnknownOption", 1)];
    t.extend([
        ("option action 00 to the stack", vec![Echo], vec![]),
        ("option action 00 to ff02::1", vec![Echo], vec![]),
        ("option action 01 to the stack", vec![], unknown()),
        ("option action 01 to ff02::1", vec![], unknown()),
        (
            "option action 10 to the stack",
            vec![Problem(2, 42)],
            unknown(),
        ),
        (
            "option action 10 to ff02::1",
            vec![Problem(2, 42)],
            unknown(),
        ),
        (
            "option action 11 to the stack",
            vec![Problem(2, 42)],
            unknown(),
        ),
        ("option action 11 to ff02::1", vec![], unknown()),
        (
            "option action 11 in hop-by-hop",
            vec![Problem(2, 42)],
            unknown(),
        ),
        (
            "option longer than its header",
            vec![Problem(0, 43)],
            vec![("Ipv6BadOption", 1)],
        ),
        // RFC 4443 §2.4 (e.1): never an error about an error.
        ("option action 11 before an ICMPv6 error", vec![], unknown()),
    ]);
    // RFC 8200 §4.5, RFC 7112 §5: a first fragment without its whole header chain (the
    // upper-layer header included) gets code 3 pointing at 0.
    let incomplete = || (vec![Problem(3, 0)], vec![("Ipv6IncompleteChain", 1)]);
    for name in [
        "destination options past the first fragment",
        "ICMPv6 header past the first fragment",
        "tiny first fragment cutting the TCP header",
    ] {
        let (a, d) = incomplete();
        t.push((name, a, d));
    }
    t.extend([
        ("tiny fragments of 8 bytes reassembled", vec![Echo], vec![]),
        // RFC 5722 §4: silently, the whole datagram, its later fragments included.
        (
            "overlapping fragments, and the rest of that datagram",
            vec![],
            vec![("FragOverlap", 1), ("FragAfterOverlap", 1)],
        ),
        (
            "overlapping fragments, the first one last",
            vec![],
            vec![("FragOverlap", 1), ("FragAfterOverlap", 2)],
        ),
        // RFC 8200 §4.5: code 0 at the Payload Length.
        (
            "M set and 13 bytes",
            vec![Problem(0, 4)],
            vec![("Ipv6FragmentLength", 1)],
        ),
        // RFC 8021 / RFC 6946: offset 0 and M clear is a whole packet.
        ("atomic fragment", vec![Echo], vec![]),
        ("hop limit 0", vec![], vec![("Ipv6HopLimitZero", 1)]),
        (
            "multicast source ff02::1",
            vec![],
            vec![("Ipv6MulticastSource", 1)],
        ),
        (
            "unspecified source, echo request",
            vec![],
            vec![("Ipv6UnspecifiedSource", 1)],
        ),
        // DAD's solicitation from :: passes the source check and is ND, ignored on a TUN.
        (
            "unspecified source, DAD neighbor solicitation",
            vec![],
            vec![("Icmpv6LinkLocalIgnored", 1)],
        ),
        (
            "our own address as source",
            vec![],
            vec![("Ipv6OwnSource", 1)],
        ),
        (
            "loopback source ::1",
            vec![],
            vec![("Ipv6MartianSource", 1)],
        ),
        ("IPv4-mapped source", vec![], vec![("Ipv6MartianSource", 1)]),
        ("jumbogram", vec![], vec![("Ipv6Jumbogram", 1)]),
        (
            "truncated header (39 bytes)",
            vec![],
            vec![("Ipv6TooShort", 1)],
        ),
        (
            "payload length 100 past the packet",
            vec![],
            vec![("Ipv6Truncated", 1)],
        ),
        // Without packet information on the TUN the version nibble is all there is: 5 is
        // neither IPv4 nor IPv6; 4 is read as IPv4, whose header length (IHL) is then 0.
        ("version 5", vec![], vec![("Ipv4BadVersion", 1)]),
        ("version 4", vec![], vec![("Ipv4BadHeaderLength", 1)]),
        (
            "sanity: still answered after the battery",
            vec![Echo],
            vec![],
        ),
    ]);
    t
}

/// The script's record of one answer, as an [`Answer`] (panics on anything else).
fn answer(case: &str, a: &Value) -> Answer {
    let from_us = a["src"] == STACK && a["dst"] == HOST;
    match (a["type"].as_u64(), from_us) {
        (Some(129), true) => Echo,
        (Some(4), true) => {
            assert_eq!(a["quotes_sent"], true, "{case}: {a}");
            let code = a["code"].as_u64().unwrap() as u8;
            Problem(code, a["pointer"].as_u64().unwrap() as u32)
        }
        _ => panic!("{case}: unexpected answer {a}"),
    }
}

/// The case's drops, the kernel's own router solicitations and MLD reports left out (they may
/// land in any case) except where the case itself is ND.
fn drops(case: &str, d: &Value) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = d
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .filter(|(k, _)| case.contains("DAD") || k != "Icmpv6LinkLocalIgnored")
        .collect();
    if case.contains("DAD") {
        // Exactly one is ours; a kernel report in the same quarter second may add to it.
        for (k, n) in &mut v {
            if k == "Icmpv6LinkLocalIgnored" && *n > 1 {
                *n = 1;
            }
        }
    }
    v.sort();
    v
}

#[test]
fn malformed_ipv6_gets_the_rfc_answers_and_truthful_drop_reasons() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("ipv6-malformed", "battery");
    let ns = NetNs::new("ipv6-malformed");
    let up = Up::start(&ns, &["--ipv6"]);
    wait_host_addr6(&ns);
    let ping = |count: &str| {
        run_in(
            &ns,
            "ping",
            &["-6", "-c", count, "-i", "0.2", "-w", "10", STACK],
            Duration::from_secs(20),
        )
    };
    let dump_file = scratch.path("k.pcap");
    let mut dump = kernel_tcpdump(&ns, "ustack0", &dump_file, &["icmp6"]);

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/ipv6-malformed.py");
    let control = control_path(&ns, "ustack0");
    let mut cmd = ns.command("/usr/bin/python3");
    cmd.arg(&script).arg("ustack0").arg(&control);
    let out = run_limited(cmd, "ipv6-malformed.py", Duration::from_secs(60));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ipv6-malformed.py (needs Debian's python3-scapy): {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&stdout).expect("the script's JSON");
    let cases = report["cases"].as_array().unwrap();

    let want = expected();
    let names: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    let want_names: Vec<&str> = want.iter().map(|w| w.0).collect();
    assert_eq!(names, want_names, "the script's cases and the table differ");
    let mut problems = 0;
    for (c, (name, answers, reasons)) in cases.iter().zip(&want) {
        let got: Vec<Answer> = c["answers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| answer(name, a))
            .collect();
        assert_eq!(&got, answers, "{name}: answers");
        problems += got.iter().filter(|a| matches!(a, Problem(..))).count();
        let mut reasons: Vec<(String, u64)> =
            reasons.iter().map(|(r, n)| (r.to_string(), *n)).collect();
        reasons.sort();
        assert_eq!(drops(name, &c["drops"]), reasons, "{name}: drops");
    }
    // Nothing held: every fragment case completed or was refused whole.
    let memory = &report["memory"];
    assert_eq!(memory["reassembly_datagrams"], 0, "{memory}");
    assert_eq!(memory["reassembly_bytes"], 0, "{memory}");

    // No stuck state: iputils ping -6 is answered, also in fragments.
    let after = ping("3");
    assert!(after.status.success(), "{after:?}");
    let big = run_in(
        &ns,
        "ping",
        &["-6", "-c", "1", "-s", "3000", "-w", "10", STACK],
        Duration::from_secs(20),
    );
    assert!(big.status.success(), "{big:?}");
    std::thread::sleep(Duration::from_millis(200));
    dump.terminate(Duration::from_secs(5));

    // tcpdump saw the same Parameter Problems, and nothing else from the stack but echo replies
    // (the big one's later fragments too).
    let lines = Command::new("tcpdump")
        .args(["-n", "-r"])
        .arg(&dump_file)
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&lines.stdout);
    // (Not the case that sends from the stack's own address to it.)
    let from_stack: Vec<&str> = lines
        .lines()
        .filter(|l| l.contains(&format!("IP6 {STACK} > ")) && !l.contains(&format!("> {STACK}:")))
        .collect();
    let pp: Vec<&str> = from_stack
        .iter()
        .copied()
        .filter(|l| l.contains("ICMP6, parameter problem"))
        .collect();
    assert_eq!(pp.len(), problems, "{lines}");
    for words in [
        "parameter problem, next header - octet 40",
        "parameter problem, next header - octet 48",
        "parameter problem, erroneous - octet 42",
        "parameter problem, option - octet 42",
        "parameter problem, erroneous - octet 43",
        "parameter problem, erroneous - octet 4,",
        "parameter problem, incomplete header chain - octet 0",
    ] {
        assert!(pp.iter().any(|l| l.contains(words)), "{words}:\n{lines}");
    }
    assert!(
        from_stack.iter().all(|l| l.contains("parameter problem")
            || l.contains("echo reply")
            || (l.contains(": frag (") && !l.contains("ICMP6"))),
        "{lines}"
    );
    let _ = up.stop();
}
