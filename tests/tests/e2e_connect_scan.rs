//! `ustack connect -z` against netcat (issue 24, item 4): port lists and ranges, quiet without
//! `-v`, nc's lines with it, nc's exit codes (0 if any port answered, else 1), and 2 with nothing
//! started for a port spec that cannot work. The same kernel listeners are probed by
//! `nc -z` (Debian's netcat-openbsd, on the kernel's loopback) and by `ustack connect -z` (from
//! inside the stack, to the kernel side of the TUN); both must find the same open ports. Needs
//! root, /dev/net/tun and nc; with `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::time::Duration;
use ustack_tests::e2e::{output_text, run_in, ustack_bin};
use ustack_tests::netns::{tun_available, NetNs};

const FIRST: u16 = 20_020;
const LAST: u16 = 20_027;
const OPEN: [u16; 2] = [20_022, 20_025];

/// The ports named in `... <port> port [...] succeeded!` lines.
fn succeeded(stderr: &str) -> BTreeSet<u16> {
    stderr
        .lines()
        .filter(|l| l.ends_with("succeeded!"))
        .filter_map(|l| l.split_whitespace().nth(3)?.parse().ok())
        .collect()
}

fn refused(stderr: &str) -> usize {
    stderr
        .lines()
        .filter(|l| l.ends_with("Connection refused"))
        .count()
}

#[test]
fn a_port_range_scan_finds_what_netcat_finds() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("zscan");
    // Listening on the wildcard, so both the loopback and the TUN's kernel address reach them.
    let listeners: Vec<TcpListener> = ns.run(|| {
        OPEN.iter()
            .map(|p| TcpListener::bind(("0.0.0.0", *p)).expect("bind"))
            .collect()
    });
    let bin = ustack_bin();
    let b = bin.to_str().unwrap();
    let range = format!("{FIRST}-{LAST}");
    let limit = Duration::from_secs(60);
    let nc = run_in(&ns, "nc", &["-zv", "127.0.0.1", &range], limit);
    let ours = run_in(&ns, b, &["connect", "-zv", "198.18.0.1", &range], limit);
    // (--log-level warn: the info lines of the stack this tool brings up are not nc's.)
    let quiet_args = ["--log-level", "warn", "connect", "-z", "198.18.0.1"];
    let quiet = run_in(&ns, b, &[&quiet_args[..], &[&range]].concat(), limit);
    let closed = run_in(&ns, b, &[&quiet_args[..], &["20030,20031"]].concat(), limit);
    let nc_closed = run_in(&ns, "nc", &["-z", "127.0.0.1", "20030", "20031"], limit);
    let reversed = run_in(
        &ns,
        b,
        &["connect", "-z", "198.18.0.1", "20027-20020"],
        limit,
    );
    drop(listeners);

    let nc_err = String::from_utf8_lossy(&nc.stderr);
    let our_err = String::from_utf8_lossy(&ours.stderr);
    println!("nc:\n{nc_err}\nustack connect:\n{our_err}");
    let want: BTreeSet<u16> = OPEN.into_iter().collect();
    assert_eq!(succeeded(&nc_err), want, "nc itself: {}", output_text(&nc));
    assert_eq!(succeeded(&our_err), want, "{}", output_text(&ours));
    let closed_count = usize::from(LAST - FIRST + 1) - OPEN.len();
    assert_eq!(refused(&nc_err), closed_count);
    assert_eq!(refused(&our_err), closed_count);
    assert_eq!(nc.status.code(), Some(0));
    assert_eq!(ours.status.code(), Some(0));
    // Without -v: nothing said, success because some port answered.
    assert_eq!(quiet.status.code(), Some(0), "{}", output_text(&quiet));
    assert!(
        quiet.stderr.is_empty() && quiet.stdout.is_empty(),
        "{}",
        output_text(&quiet)
    );
    // Nothing answered: 1, as nc.
    assert_eq!(nc_closed.status.code(), Some(1));
    assert_eq!(closed.status.code(), Some(1), "{}", output_text(&closed));
    assert!(closed.stderr.is_empty(), "{}", output_text(&closed));
    // A reversed range: 2, said, nothing started.
    assert_eq!(
        reversed.status.code(),
        Some(2),
        "{}",
        output_text(&reversed)
    );
    assert!(String::from_utf8_lossy(&reversed.stderr).contains("reversed range"));
}

/// UDP to a closed port: the ICMP port unreachable ends the relay with exit 1 ("Connection
/// refused" with -v), as `nc -uv` does; old main said "closed the connection" and exited 0.
#[test]
fn udp_to_a_closed_port_reports_the_port_unreachable_and_exits_1() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("udpclosed");
    let bin = ustack_bin();
    let limit = Duration::from_secs(30);
    // stdin stays open a second, so the ICMP error comes back while the relay runs.
    let ours = run_in(
        &ns,
        "sh",
        &[
            "-c",
            &format!(
                "(echo hi; sleep 1) | {} --log-level warn connect -uv 198.18.0.1 9999",
                bin.display()
            ),
        ],
        limit,
    );
    let nc = run_in(
        &ns,
        "sh",
        &["-c", "(echo hi; sleep 1) | nc -uv 127.0.0.1 9999"],
        limit,
    );
    assert_eq!(nc.status.code(), Some(1), "nc itself: {}", output_text(&nc));
    assert_eq!(ours.status.code(), Some(1), "{}", output_text(&ours));
    let err = String::from_utf8_lossy(&ours.stderr);
    assert!(err.contains("Connection refused"), "{err}");
    assert!(err.contains("port unreachable"), "{err}");
}
