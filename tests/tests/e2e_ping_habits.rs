//! `ustack ping` against iputils ping on the same link (issue 24, item 1): the stack pings
//! the kernel side (198.18.0.1), iputils pings the stack (198.18.0.2), and their outputs must
//! have the same layout — a flood paced by replies with `ipg/ewma` on its summary (and no
//! `ipg/ewma` without `-f`), `-p` filling the payload on the wire and printing `PATTERN: 0x…`,
//! `-M do` above the MTU failing locally with "message too long, mtu=1500" counted in
//! `+N errors` — and bad input must exit 2 with nothing started. Needs root, /dev/net/tun and
//! tcpdump; with `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use std::time::Duration;
use ustack_tests::e2e::{kernel_tcpdump, output_text, run_in, ustack_bin, Scratch, Up};
use ustack_tests::netns::{tun_available, NetNs};

const LIMIT: Duration = Duration::from_secs(60);

/// `ustack ping ARGS` inside `ns` (attached to the stack `Up` runs there).
fn ustack_ping(ns: &NetNs, args: &[&str]) -> std::process::Output {
    let bin = ustack_bin();
    let mut all = vec!["--log-level", "warn", "ping"];
    all.extend_from_slice(args);
    run_in(ns, bin.to_str().unwrap(), &all, LIMIT)
}

/// The summary's rtt line, if any.
fn rtt_line(stdout: &str) -> Option<String> {
    stdout
        .lines()
        .find(|l| l.starts_with("rtt "))
        .map(str::to_string)
}

/// `rtt min/avg/max/mdev = a/b/c/d ms[, pipe N][, ipg/ewma x/y ms]` with every time `N.NNN`:
/// the ipg/ewma pair if present, or None if the line has not that form.
fn rtt_form(line: &str) -> Option<Option<(f64, f64)>> {
    let three = |s: &str| {
        let (i, f) = s.split_once('.')?;
        let ok = !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()) && f.len() == 3;
        ok.then(|| s.parse::<f64>().ok()).flatten()
    };
    let rest = line.strip_prefix("rtt min/avg/max/mdev = ")?;
    // iputils adds `, pipe N` when more than one request was out at a reply.
    let unpiped;
    let rest = match rest.split_once(" ms, pipe ") {
        Some((rtt, after)) => {
            let (n, tail) = after.split_once(", ").unwrap_or((after, ""));
            n.parse::<u32>().ok().filter(|&n| n > 1)?;
            unpiped = if tail.is_empty() {
                format!("{rtt} ms")
            } else {
                format!("{rtt} ms, {tail}")
            };
            unpiped.as_str()
        }
        None => rest,
    };
    let (rtt, ipg) = match rest.split_once(" ms, ipg/ewma ") {
        Some((rtt, ipg)) => (rtt, Some(ipg.strip_suffix(" ms")?)),
        None => (rest.strip_suffix(" ms")?, None),
    };
    let n = rtt.split('/').map(three).collect::<Option<Vec<_>>>()?;
    if n.len() != 4 {
        return None;
    }
    match ipg.map(|p| p.split_once('/')) {
        None => Some(None),
        Some(Some((a, b))) => Some(Some((three(a)?, three(b)?))),
        Some(None) => None,
    }
}

#[test]
fn flood_and_summaries_as_iputils() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("pingflood");
    let up = Up::start(&ns, &[]);
    let ours = ustack_ping(&ns, &["-f", "-c", "2000", "198.18.0.1"]);
    let theirs = run_in(&ns, "ping", &["-f", "-c", "2000", "198.18.0.2"], LIMIT);
    for (who, out) in [("ustack ping", &ours), ("iputils ping", &theirs)] {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{who}: {}", output_text(out));
        assert!(
            text.contains("2000 packets transmitted, 2000 received, 0% packet loss"),
            "{who}: {text}"
        );
        // The dots line: dots each erased by `\b \b`, then one newline before the statistics.
        let dots = text
            .split_once(" bytes of data.\n")
            .and_then(|(_, rest)| rest.split_once("\n--- "))
            .map_or("?", |d| d.0);
        assert!(
            dots.chars().all(|c| ".\u{8} ".contains(c)) && dots.contains(".\u{8} \u{8}"),
            "{who}: the dots line ends {:?}",
            &dots[dots.len().saturating_sub(24)..]
        );
        let line = rtt_line(&text).unwrap_or_default();
        // (How fast the flood goes is a benchmark's business, not a test's: README, ping.)
        let Some(Some((ipg, _ewma))) = rtt_form(&line) else {
            panic!("{who}: no iputils rtt line with ipg/ewma: {line:?}");
        };
        assert!(ipg > 0.0, "{who}: ipg {ipg} ms: {line}");
        assert!(
            String::from_utf8_lossy(&out.stderr).is_empty(),
            "{who} said something on stderr (lost events?): {}",
            output_text(out)
        );
    }
    // Without -f, neither prints ipg/ewma.
    let ours = ustack_ping(&ns, &["-c", "2", "-i", "0.2", "198.18.0.1"]);
    let theirs = run_in(&ns, "ping", &["-c", "2", "-i", "0.2", "198.18.0.2"], LIMIT);
    for (who, out) in [("ustack ping", &ours), ("iputils ping", &theirs)] {
        let line = rtt_line(&String::from_utf8_lossy(&out.stdout)).unwrap_or_default();
        assert_eq!(rtt_form(&line), Some(None), "{who}: {line:?}");
    }
    // -l: eight unanswered at a time, still every request answered.
    let ours = ustack_ping(&ns, &["-f", "-l", "8", "-c", "2000", "198.18.0.1"]);
    assert!(
        String::from_utf8_lossy(&ours.stdout).contains("2000 received, 0% packet loss"),
        "{}",
        output_text(&ours)
    );
    up.stop();
}

/// The ICMP payloads of the echo requests from `src` in a pcap file of raw IPv4 packets.
fn echo_payloads(pcap: &[u8], src: [u8; 4]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 24; // the global header
    while at + 16 <= pcap.len() {
        let caplen = u32::from_le_bytes(pcap[at + 8..at + 12].try_into().unwrap()) as usize;
        let pkt = &pcap[(at + 16).min(pcap.len())..(at + 16 + caplen).min(pcap.len())];
        at += 16 + caplen;
        let ihl = usize::from(pkt.first().map_or(0, |b| b & 0x0f)) * 4;
        if pkt.len() > ihl + 8 && pkt[9] == 1 && pkt[12..16] == src && pkt[ihl] == 8 {
            out.push(pkt[ihl + 8..].to_vec());
        }
    }
    out
}

#[test]
fn pattern_fills_the_payload_as_iputils() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("pingpat");
    let up = Up::start(&ns, &[]);
    let scratch = Scratch::new("ustack-pingpat", "pcap");
    let file = scratch.path("echo.pcap");
    let mut dump = kernel_tcpdump(&ns, "ustack0", &file, &["icmp"]);
    let args = ["-c", "2", "-i", "0.2", "-s", "20", "-p", "abc"];
    let ours = ustack_ping(&ns, &[&args[..], &["198.18.0.1"]].concat());
    let theirs = run_in(&ns, "ping", &[&args[..], &["198.18.0.2"]].concat(), LIMIT);
    std::thread::sleep(Duration::from_millis(300));
    dump.terminate(Duration::from_secs(5));
    for (who, out) in [("ustack ping", &ours), ("iputils ping", &theirs)] {
        let text = String::from_utf8_lossy(&out.stdout);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.first(), Some(&"PATTERN: 0xab0c"), "{who}: {text}");
        assert!(lines[1].starts_with("PING ") && lines[1].ends_with(" 20(48) bytes of data."));
        assert!(lines[2].starts_with("28 bytes from "), "{who}: {text}");
        assert!(!text.contains("BAD DATA"), "{who}: {text}");
    }
    // On the wire: ustack's payload is the pattern throughout; iputils' after its 16-byte
    // time stamp.
    let pcap = std::fs::read(&file).expect("the capture");
    let pattern = |n: usize| -> Vec<u8> { [0xab, 0x0c].into_iter().cycle().take(n).collect() };
    let ours = echo_payloads(&pcap, [198, 18, 0, 2]);
    let theirs = echo_payloads(&pcap, [198, 18, 0, 1]);
    assert_eq!(ours.len(), 2, "requests from the stack in the capture");
    assert_eq!(theirs.len(), 2, "requests from the kernel in the capture");
    assert!(ours.iter().all(|p| *p == pattern(20)), "{ours:02x?}");
    assert!(
        theirs.iter().all(|p| p[16..] == pattern(4)),
        "{theirs:02x?}"
    );
    up.stop();
}

#[test]
fn dont_fragment_above_the_mtu_is_a_local_error_as_iputils() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("pingMdo");
    let up = Up::start(&ns, &[]);
    let args = ["-M", "do", "-s", "2000", "-c", "2", "-i", "0.2"];
    let ours = ustack_ping(&ns, &[&args[..], &["198.18.0.1"]].concat());
    let theirs = run_in(&ns, "ping", &[&args[..], &["198.18.0.2"]].concat(), LIMIT);
    for (who, out) in [("ustack ping", &ours), ("iputils ping", &theirs)] {
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(1), "{who}: {}", output_text(out));
        let errors: Vec<&str> = stderr.lines().collect();
        assert_eq!(
            errors, ["ping: local error: message too long, mtu=1500"; 2],
            "{who}: {stderr}"
        );
        assert!(
            stdout.contains("2 packets transmitted, 0 received, +2 errors, 100% packet loss"),
            "{who}: {stdout}"
        );
    }
    // `want`: the stack fragments what does not fit, and the kernel answers.
    let want = ustack_ping(&ns, &["-M", "want", "-s", "2000", "-c", "1", "198.18.0.1"]);
    assert!(want.status.success(), "{}", output_text(&want));
    up.stop();
}

/// Bad -p, -M, -I, -l: exit 2, a reason, and no stack brought up (no TUN opened).
#[test]
fn bad_options_exit_2_with_nothing_started() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("pingbad");
    let bin = ustack_bin();
    let cases: [(&[&str], &str); 6] = [
        (
            &["-p", "xyz"],
            "patterns must be specified as hex digits: xyz",
        ),
        (
            &["-p", "12g4"],
            "patterns must be specified as hex digits: g4",
        ),
        (
            &["-M", "maybe"],
            "invalid value 'maybe' for '-M <PMTUDISC>'",
        ),
        (&["-I", "10.9.9.9"], "Cannot assign requested address"),
        (&["-I", "eth9"], "-I eth9: unknown interface"),
        (&["-l", "0"], "invalid value '0' for '-l <PRELOAD>'"),
    ];
    for (bad, reason) in cases {
        let mut args = vec!["--log-level", "info", "ping", "-c", "1"];
        args.extend_from_slice(bad);
        args.push("198.18.0.1");
        let out = run_in(&ns, bin.to_str().unwrap(), &args, LIMIT);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", output_text(&out));
        assert!(err.contains(reason), "{bad:?}: {err}");
        assert!(
            !err.contains("opened TUN"),
            "{bad:?} started a stack: {err}"
        );
        assert!(out.stdout.is_empty(), "{bad:?}: {}", output_text(&out));
    }
    // iputils refuses the same pattern, -M value and address with exit 2 as well.
    for bad in [&["-p", "xyz"][..], &["-M", "maybe"], &["-I", "10.9.9.9"]] {
        let mut args = vec!["-c", "1"];
        args.extend_from_slice(bad);
        args.push("127.0.0.1");
        let out = run_in(&ns, "ping", &args, LIMIT);
        assert_eq!(
            out.status.code(),
            Some(2),
            "iputils {bad:?}: {}",
            output_text(&out)
        );
    }
}
