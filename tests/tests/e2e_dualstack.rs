//! `ustack up` is dual-stack by default (issue 17, docs/IPV6.md): every service answers the
//! kernel's real clients over IPv6 as over IPv4 — `curl -6` downloads a file whole (SHA-256),
//! `nc -6` echoes over TCP and UDP, `nmap -6 -sS` finds the same open ports as over IPv4 (and
//! as `ustack ss -tl` lists), the stack connects out to a kernel `nc -6 -l` and delivers every
//! byte, a closed UDP port is refused through ICMPv6; `ustack ss` shows an IPv6 connection as the
//! kernel's `ss` shows its mirror. `--no-ipv6` leaves IPv6 off, an MTU below 1280 turns it off
//! (said in the banner) unless `--ipv6` insists (exit 2).
//!
//! Needs root and /dev/net/tun; skipped otherwise unless `USTACK_REQUIRE_TUN=1`.

use std::collections::BTreeSet;
use std::time::Duration;
use ustack_tests::e2e::{
    curl, output_text, pseudo_random, run_in, ustack_bin, wait_host_addr6, Scratch, Up,
};
use ustack_tests::integrity::sha256_hex;
use ustack_tests::netns::{tun_available, ChildGuard, NetNs};

const STACK6: &str = "2001:2::2";
const HOST6: &str = "2001:2::1";

/// The open TCP ports nmap's SYN scan reports for `target` over the family of `flag`.
fn nmap_open(ns: &NetNs, flag: &str, target: &str) -> BTreeSet<u16> {
    let mut args = vec!["-sS", "-n", "-Pn", "-p", "1-1024", target];
    if !flag.is_empty() {
        args.insert(0, flag);
    }
    let out = run_in(ns, "nmap", &args, Duration::from_secs(60));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", output_text(&out));
    text.lines()
        .filter(|l| l.contains("/tcp") && l.contains(" open "))
        .filter_map(|l| l.split('/').next()?.parse().ok())
        .collect()
}

#[test]
fn services_answer_real_clients_over_ipv6() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("dual", "svc");
    let root = scratch.path("www");
    std::fs::create_dir_all(&root).unwrap();
    let big = pseudo_random(3 << 20, 6);
    std::fs::write(root.join("big.bin"), &big).unwrap();
    let ns = NetNs::new("dual-svc");
    let up = Up::start(&ns, &["--http-root", root.to_str().unwrap()]);
    wait_host_addr6(&ns);
    assert!(
        up.child
            .stdout()
            .contains("IPv6         kernel side 2001:2::1/64, stack 2001:2::2"),
        "{}",
        up.child.stdout()
    );
    // HTTP: a 3 MiB file whole over IPv6.
    let got = scratch.path("got.bin");
    let url = format!("http://[{STACK6}]:80/big.bin");
    curl(&ns, 30, &["-6", "-o", got.to_str().unwrap(), &url]);
    assert_eq!(sha256_hex(&std::fs::read(&got).unwrap()), sha256_hex(&big));
    // TCP and UDP echo with netcat over IPv6.
    let tcp = run_in(
        &ns,
        "sh",
        &["-c", "echo hello-tcp6 | nc -6 -N 2001:2::2 7"],
        Duration::from_secs(10),
    );
    assert_eq!(String::from_utf8_lossy(&tcp.stdout), "hello-tcp6\n");
    let udp = run_in(
        &ns,
        "sh",
        &["-c", "echo hello-udp6 | nc -6 -u -w1 2001:2::2 7"],
        Duration::from_secs(10),
    );
    assert_eq!(String::from_utf8_lossy(&udp.stdout), "hello-udp6\n");
    // The same services over both families, as nmap's SYN scan and `ustack ss` see them.
    let open6 = nmap_open(&ns, "-6", STACK6);
    let open4 = nmap_open(&ns, "", "198.18.0.2");
    assert_eq!(open6, open4);
    let ss = run_in(&ns, ustack_bin().to_str().unwrap(), &["ss", "-tln"], T);
    let listening: BTreeSet<u16> = String::from_utf8_lossy(&ss.stdout)
        .lines()
        .filter(|l| l.starts_with("LISTEN"))
        .filter_map(|l| {
            l.split_whitespace()
                .nth(3)?
                .rsplit(':')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(open6, listening, "{}", output_text(&ss));
    assert_eq!(open6, BTreeSet::from([7, 9, 19, 80]));
    let out = up.stop();
    assert!(!out.contains("TcpBadChecksum"), "{out}");
}

const T: Duration = Duration::from_secs(10);

#[test]
fn the_stack_connects_out_over_ipv6_and_ss_mirrors_the_kernel() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("dual", "out");
    let ns = NetNs::new("dual-out");
    let _up = Up::start(&ns, &[]);
    wait_host_addr6(&ns);
    let sent = pseudo_random(1 << 20, 7);
    let (src, dst) = (scratch.path("sent"), scratch.path("got"));
    std::fs::write(&src, &sent).unwrap();
    // The kernel listens; the stack connects out and sends 1 MiB.
    let mut listen = ns.command("sh");
    listen.args(["-c", &format!("nc -6 -l -p 5556 > {}", dst.display())]);
    let mut listener = ChildGuard::spawn(listen, "nc-listen");
    std::thread::sleep(Duration::from_millis(300));
    let send = format!(
        "{} connect -6 {HOST6} 5556 < {}",
        ustack_bin().display(),
        src.display()
    );
    let out = run_in(&ns, "sh", &["-c", &send], Duration::from_secs(20));
    assert!(out.status.success(), "{}", output_text(&out));
    // nc -l ends when the stack's FIN arrives.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while listener.try_wait().is_none() {
        assert!(std::time::Instant::now() < deadline, "nc -6 -l never ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(sha256_hex(&std::fs::read(&dst).unwrap()), sha256_hex(&sent));
    // A closed UDP port: ICMPv6 port unreachable, reported as nc reports it.
    let udp = run_in(
        &ns,
        ustack_bin().to_str().unwrap(),
        &["connect", "-u", "-v", "-z", HOST6, "9999"],
        T,
    );
    assert_eq!(udp.status.code(), Some(1), "{}", output_text(&udp));
    assert!(
        output_text(&udp).contains("Connection refused"),
        "{}",
        output_text(&udp)
    );
    // One IPv6 connection held open: ustack ss shows what the kernel's ss shows, mirrored.
    let mut hold = ns.command("sh");
    hold.args(["-c", "sleep 5 | nc -6 2001:2::2 9"]);
    let _hold = ChildGuard::spawn(hold, "nc-hold");
    std::thread::sleep(Duration::from_millis(500));
    let ours = run_in(&ns, ustack_bin().to_str().unwrap(), &["ss", "-tn"], T);
    let kernel = run_in(&ns, "ss", &["-tn", "dst", "[2001:2::2]:9"], T);
    let row = |out: &std::process::Output| -> Option<(String, String)> {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find(|l| l.starts_with("ESTAB") && l.contains("2001:2::"))
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (w[3].to_string(), w[4].to_string())
            })
    };
    let (our_local, our_peer) = row(&ours).unwrap_or_else(|| panic!("{}", output_text(&ours)));
    let (k_local, k_peer) = row(&kernel).unwrap_or_else(|| panic!("{}", output_text(&kernel)));
    assert_eq!(
        (our_local.as_str(), our_peer.as_str()),
        (k_peer.as_str(), k_local.as_str())
    );
    assert_eq!(our_local, "[2001:2::2]:9");
}

#[test]
fn ipv6_is_on_by_default_off_on_request_and_below_1280() {
    if !tun_available() {
        return;
    }
    let has_v6 = |ns: &NetNs| {
        let out = run_in(ns, "ip", &["-6", "-o", "addr", "show", "dev", "ustack0"], T);
        String::from_utf8_lossy(&out.stdout).contains("2001:2::1/64")
    };
    let ns = NetNs::new("dual-off");
    let up = Up::start(&ns, &["--no-ipv6"]);
    assert!(up.child.stdout().contains("IPv6         off (--no-ipv6)"));
    assert!(!has_v6(&ns));
    let ping = run_in(&ns, "ping", &["-6", "-c", "1", "-W", "1", STACK6], T);
    assert!(!ping.status.success(), "{}", output_text(&ping));
    up.stop();
    // Below 1280 IPv6 cannot run (RFC 8200 §5): off, and the banner says why.
    let up = Up::start(&ns, &["--mtu", "1000"]);
    let banner = up.child.stdout();
    assert!(
        banner.contains("IPv6         off: MTU 1000 is below IPv6's minimum of 1280"),
        "{banner}"
    );
    assert!(!has_v6(&ns));
    up.stop();
    // Insisting on it there is an error before anything starts; so is --no-ipv6 with --addr6.
    for args in [
        vec!["--ipv6", "--mtu", "1000"],
        vec!["--no-ipv6", "--addr6", "2001:2::5"],
        vec!["--no-ipv6", "--ipv6"],
    ] {
        let mut cmd = ns.command(ustack_bin());
        cmd.arg("up").args(&args);
        let out = cmd.output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            output_text(&out)
        );
    }
}
