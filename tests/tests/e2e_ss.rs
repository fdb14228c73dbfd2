//! `ustack ss` against iproute2's `ss` (issue 24, item 2): one set of nc sessions between the
//! kernel side and the stack (TCP echo and discard without data, an HTTP keep-alive connection
//! that carried a request), then the same filters — mirrored: the kernel's `dport` is the
//! stack's `sport`, its `src` the stack's `dst` — given to `ss` in the namespace and to `ustack
//! ss`, which must select the same connections. Also `-p` (the service's name and the daemon's
//! pid), the handshake RTT of a passive open without data and the effective MSS (as the kernel's
//! own `ss -ti` shows them), `-s` in the kernel's layout with the same established count, and
//! malformed filters refused by both. Needs root and /dev/net/tun; with `USTACK_REQUIRE_TUN=1`
//! (CI) a missing capability fails.

use std::collections::BTreeSet;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};
use ustack_tests::e2e::{output_text, run_in, ustack_bin, Up, STACK_ADDR};
use ustack_tests::netns::{tun_available, ChildGuard, NetNs};

type Conn = (SocketAddrV4, SocketAddrV4);

/// The kernel's established TCP connections that `filter` selects, as the stack sees them
/// (local and peer swapped).
fn kernel_selects(ns: &NetNs, filter: &str) -> BTreeSet<Conn> {
    let mut args = vec!["-tnH", "state", "established"];
    args.extend(filter.split_whitespace());
    let out = run_in(ns, "ss", &args, Duration::from_secs(10));
    assert!(out.status.success(), "ss {args:?}: {}", output_text(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut addrs = l.split_whitespace().filter_map(|w| w.parse().ok());
            let (local, peer) = (addrs.next()?, addrs.next()?);
            Some((peer, local))
        })
        .collect()
}

/// The stack's established TCP connections that `filter` (given as one argument) selects.
fn stack_selects(ns: &NetNs, filter: &str) -> BTreeSet<Conn> {
    let bin = ustack_bin();
    let args = ["ss", "-tn", "--json", "state", "established", filter];
    let out = run_in(ns, bin.to_str().unwrap(), &args, Duration::from_secs(10));
    assert!(
        out.status.success(),
        "ustack {args:?}: {}",
        output_text(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["tcp"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let a = |k: &str| c[k].as_str().unwrap().parse().unwrap();
            (a("local"), a("peer"))
        })
        .collect()
}

/// The kernel's view of a filter written for the stack: each side word swapped.
fn mirrored(filter: &str) -> String {
    filter
        .split_whitespace()
        .map(|w| match w {
            "sport" => "dport",
            "dport" => "sport",
            "src" => "dst",
            "dst" => "src",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Starts the sessions: echo ×1 and discard ×2 without data, HTTP keep-alive after a request.
fn sessions(ns: &NetNs) -> Vec<ChildGuard> {
    let scripts = [
        format!("sleep 30 | nc {STACK_ADDR} 7"),
        format!("sleep 30 | nc {STACK_ADDR} 9"),
        format!("sleep 30 | nc {STACK_ADDR} 9"),
        format!(
            "(printf 'GET / HTTP/1.1\\r\\nHost: s\\r\\n\\r\\n'; sleep 30) | nc {STACK_ADDR} 80 >/dev/null"
        ),
    ];
    scripts
        .iter()
        .map(|s| {
            let mut cmd = ns.command("sh");
            cmd.args(["-c", s]);
            ChildGuard::spawn(cmd, "nc")
        })
        .collect()
}

/// Waits until both sides see the four connections established.
fn wait_established(ns: &NetNs) -> BTreeSet<Conn> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (k, s) = (kernel_selects(ns, ""), stack_selects(ns, ""));
        if k.len() == 4 && k == s {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "the sessions are not all up:\nkernel {k:?}\nstack {s:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Line shapes of `ss -s`: digit runs as `N`, runs of spaces as one, tabs kept.
fn shape(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| {
            let mut out = String::new();
            for c in l.trim_end().chars() {
                let c = if c.is_ascii_digit() { 'N' } else { c };
                let last = out.chars().last();
                if (c == 'N' && last == Some('N')) || (c == ' ' && last == Some(' ')) {
                    continue;
                }
                out.push(c);
            }
            out
        })
        .collect()
}

fn estab_of(summary: &str) -> Option<u64> {
    let rest = summary.split("(estab ").nth(1)?;
    rest.split(',').next()?.parse().ok()
}

#[test]
fn ss_filters_select_what_iproute2_ss_selects() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("ssfilt");
    let up = Up::start(&ns, &[]);
    let mut clients = sessions(&ns);
    let all = wait_established(&ns);
    // A kernel port between the lowest and highest, for the comparisons.
    let mut ports: Vec<u16> = all.iter().map(|(_, peer)| peer.port()).collect();
    ports.sort();
    let mid = ports[1];
    let filters = [
        "sport = :7".to_string(),
        "( sport = :80 or sport = :9 )".into(),
        "( sport == :80 || sport eq :7 )".into(),
        "sport != :9".into(),
        "not ( sport = :7 or sport = :9 )".into(),
        "dst 198.18.0.1".into(),
        "dst = 198.18.0.0/24 and sport > :8".into(),
        "dst 10.0.0.0/8".into(),
        "src 198.18.0.2:9".into(),
        "sport lt :80 && ! sport eq :7".into(),
        format!("dport <= :{mid}"),
        format!("dport gt :{mid}"),
        format!("dport ge :{mid} and dport le :{mid}"),
        format!("dst 198.18.0.1:{mid}"),
        // No precedence in ss: `(a or b) and c`.
        format!("sport = :7 or sport = :9 and dport > :{mid}"),
    ];
    let mut sizes = BTreeSet::new();
    for f in &filters {
        let ours = stack_selects(&ns, f);
        let theirs = kernel_selects(&ns, &mirrored(f));
        assert_eq!(ours, theirs, "`{f}` (kernel: `{}`)", mirrored(f));
        sizes.insert(ours.len());
    }
    // The filters cut the set in different ways (none, some, all).
    assert!(
        sizes.contains(&0) && sizes.contains(&4) && sizes.len() >= 4,
        "{sizes:?}"
    );

    passive_open_info(&ns, up.child.pid());
    summary_and_errors(&ns);
    for c in &mut clients {
        c.terminate(Duration::from_secs(2));
    }
    up.stop();
}

/// `-p`, the handshake RTT and the effective MSS of the echo connection (no data carried), with
/// the kernel's `ss -ti` on the same connection for the MSS.
fn passive_open_info(ns: &NetNs, pid: u32) {
    let bin = ustack_bin();
    let args = ["ss", "-tnpi", "state", "established", "sport = :7"];
    let out = run_in(ns, bin.to_str().unwrap(), &args, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(&format!("users:((\"echo\",pid={pid}))")),
        "{text}"
    );
    // Listeners and the UDP socket carry their service's name.
    let out = run_in(
        ns,
        bin.to_str().unwrap(),
        &["ss", "-lnp"],
        Duration::from_secs(10),
    );
    let listening = String::from_utf8_lossy(&out.stdout).into_owned();
    for (port, name) in [("80", "http"), ("9", "discard"), ("7", "udp-echo")] {
        let row = format!("{STACK_ADDR}:{port} ");
        let users = format!("users:((\"{name}\",pid={pid}))");
        assert!(
            listening
                .lines()
                .any(|l| l.contains(&row) && l.ends_with(&users)),
            "{users} on {row}: {listening}"
        );
    }
    let field = |t: &str, name: &str| -> Option<String> {
        t.split_whitespace()
            .find_map(|w| w.strip_prefix(name).map(String::from))
    };
    let rtt = field(&text, "rtt:").unwrap_or_else(|| panic!("no rtt in {text}"));
    let (srtt, var) = rtt.split_once('/').unwrap();
    let (srtt, var): (f64, f64) = (srtt.parse().unwrap(), var.parse().unwrap());
    assert!(
        srtt > 0.0 && var > 0.0,
        "rtt:{rtt} on a passive open: {text}"
    );
    let kernel = run_in(ns, "ss", &["-tniH", "dport = :7"], Duration::from_secs(10));
    let ktext = String::from_utf8_lossy(&kernel.stdout).into_owned();
    let kmss = field(&ktext, "mss:").unwrap_or_else(|| panic!("no mss in {ktext}"));
    assert_eq!(field(&text, "mss:"), Some(kmss.clone()), "{text}\n{ktext}");
    assert_eq!(kmss, "1448", "{ktext}");
}

/// `-s` has the kernel's layout and the same established count; malformed filters are refused
/// by both, ours with the column and exit code 2.
fn summary_and_errors(ns: &NetNs) {
    let bin = ustack_bin();
    let ours = run_in(
        ns,
        bin.to_str().unwrap(),
        &["ss", "-s"],
        Duration::from_secs(10),
    );
    let theirs = run_in(ns, "ss", &["-s"], Duration::from_secs(10));
    let (ours, theirs) = (
        String::from_utf8_lossy(&ours.stdout).into_owned(),
        String::from_utf8_lossy(&theirs.stdout).into_owned(),
    );
    assert_eq!(shape(&ours), shape(&theirs), "ours:\n{ours}\nss:\n{theirs}");
    assert_eq!(estab_of(&ours), Some(4), "{ours}");
    assert_eq!(estab_of(&ours), estab_of(&theirs), "{ours}\n{theirs}");
    for bad in [
        "sport = :7 and",
        "( sport = :7",
        "sport = bogus",
        "dst 300.1.2.3",
    ] {
        let out = run_in(
            ns,
            bin.to_str().unwrap(),
            &["ss", bad],
            Duration::from_secs(10),
        );
        assert_eq!(out.status.code(), Some(2), "`{bad}`: {}", output_text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("error at column"), "`{bad}`: {err}");
        assert!(out.stdout.is_empty(), "`{bad}`: {}", output_text(&out));
        let k = run_in(ns, "ss", &["-tn", bad], Duration::from_secs(10));
        assert!(
            !k.status.success(),
            "ss accepted `{bad}`: {}",
            output_text(&k)
        );
    }
}
