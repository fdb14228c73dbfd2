//! End to end with hping3 (issue 24, item 6): the stack answers an ICMP echo request with a
//! non-zero code, and ICMP timestamp requests with the time of day (RFC 792: milliseconds since
//! midnight UT), as Linux does. Old main dropped both (`IcmpUnhandledType`): hping3 saw 100%
//! loss. Needs root, /dev/net/tun and hping3 (`.ci/run` installs it); with
//! `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use std::time::Duration;
use ustack_tests::e2e::{counter, run_in, Up};
use ustack_tests::netns::{tun_available, NetNs};

const DAY_MS: i64 = 86_400_000;

/// `KEY=NUMBER` in hping3's timestamp line.
fn field(line: &str, key: &str) -> i64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

#[test]
fn hping3_gets_echo_replies_for_any_code_and_timestamp_replies() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("hping");
    let up = Up::start(&ns, &[]);
    let limit = Duration::from_secs(20);
    let echo = run_in(
        &ns,
        "hping3",
        &["-1", "-K", "9", "-c", "3", "198.18.0.2"],
        limit,
    );
    let echo_out =
        String::from_utf8_lossy(&echo.stdout).into_owned() + &String::from_utf8_lossy(&echo.stderr);
    let ts = run_in(
        &ns,
        "hping3",
        &["-1", "--icmp-ts", "-c", "3", "198.18.0.2"],
        limit,
    );
    let ts_out =
        String::from_utf8_lossy(&ts.stdout).into_owned() + &String::from_utf8_lossy(&ts.stderr);
    let out = up.stop();
    println!("{echo_out}\n{ts_out}");
    assert!(
        echo_out.contains("3 packets received"),
        "echo requests with code 9:\n{echo_out}"
    );
    assert!(ts_out.contains("3 packets received"), "{ts_out}");
    let lines: Vec<&str> = ts_out
        .lines()
        .filter(|l| l.starts_with("ICMP timestamp:"))
        .collect();
    assert_eq!(lines.len(), 3, "{ts_out}");
    for l in lines {
        // hping3 sends its own time of day as Originate; the stack's Receive and Transmit read
        // the same machine's clock (the loop's, read once per batch, so it may be a
        // millisecond behind hping3's): within a second either way, midnight wrap included,
        // and the same instant for both (the stack answers within one call).
        let (o, r, t) = (
            field(l, "Originate"),
            field(l, "Receive"),
            field(l, "Transmit"),
        );
        assert!((0..DAY_MS).contains(&r), "not ms since midnight: {l}");
        assert_eq!(r, t, "{l}");
        let mut apart = (r - o).rem_euclid(DAY_MS);
        if apart > DAY_MS / 2 {
            apart -= DAY_MS;
        }
        assert!(
            apart.abs() < 1_000,
            "receive {r} is not originate {o}'s time: {l}"
        );
    }
    assert_eq!(counter(&out, "icmp_timestamps_replied"), 3, "{out}");
    assert!(counter(&out, "icmp_echo_replied") >= 3, "{out}");
}
