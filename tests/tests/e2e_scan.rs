//! End to end: `ustack scan` against real nmap (issue 18 part 4). A two-link lab (host ⇄ r1 ⇄
//! far, real kernel routers) with the stack in the host namespace; far runs kernel listeners
//! and an nftables table that drops some ports and rejects others (ICMP administratively
//! prohibited, TCP reset). nmap from the host namespace's kernel and `ustack scan` from the
//! stack scan far with `-sS`, `-sU`, `-sF`, `-sX`, `-sA` and `-sT`, over IPv4 and IPv6, and
//! must report the same state for every port — each also checked against what the rules make
//! it.
//!
//! Needs root, /dev/net/tun, nmap and nft; with `USTACK_REQUIRE_TUN=1` (CI) a missing one
//! fails.

use std::collections::BTreeMap;
use std::process::{Command, Output};
use ustack_tests::control::RawControl;
use ustack_tests::e2e::{run_in, run_limited, ustack_bin, Up};
use ustack_tests::lab::{Lab, LIMIT};
use ustack_tests::netns::{tun_available, NetNs};

const FAR4: &str = "198.19.2.2";
const FAR6: &str = "2001:2:0:2::2";

/// TCP: 2222 and 5555 listen; 3333 dropped; 4444 rejected with admin-prohibited; 6666
/// rejected with a TCP reset; 7070 closed.
const TCP_PORTS: &str = "2222,3333,4444,5555,6666,7070";
/// UDP: 6000 echoes; 7777 dropped; 8888 rejected with admin-prohibited; 9999 closed.
const UDP_PORTS: &str = "6000,7777,8888,9999";

/// Far's listeners (both families) and its firewall; ICMP errors without rate limit, so a
/// scan's closed UDP ports all get their port unreachable.
const FAR_SETUP: &str = r#"
sysctl -qw net.ipv4.icmp_ratelimit=0 net.ipv6.icmp.ratelimit=0
nft -f - <<'EOF'
table inet hsscan {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 3333 drop
    tcp dport 4444 reject with icmpx type admin-prohibited
    tcp dport 6666 reject with tcp reset
    udp dport 7777 drop
    udp dport 8888 reject with icmpx type admin-prohibited
  }
}
EOF
nohup python3 -c '
import socket, threading
socks = []
for fam, any in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
    for p in (2222, 5555):
        s = socket.socket(fam, socket.SOCK_STREAM)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((any, p)); s.listen(64); socks.append(s)
    u = socket.socket(fam, socket.SOCK_DGRAM)
    if fam == socket.AF_INET6:
        u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    u.bind((any, 6000))
    def echo(u=u):
        while True:
            d, a = u.recvfrom(2048); u.sendto(d or b"x", a)
    threading.Thread(target=echo, daemon=True).start()
    socks.append(u)
threading.Event().wait()
' >/dev/null 2>&1 &
"#;

/// What the rules make each port, per scan type.
fn expected(scan: &str) -> BTreeMap<u16, &'static str> {
    let list: &[(u16, &str)] = match scan {
        "-sS" | "-sT" => &[
            (2222, "open"),
            (3333, "filtered"),
            (4444, "filtered"),
            (5555, "open"),
            (6666, "closed"),
            (7070, "closed"),
        ],
        "-sF" | "-sX" => &[
            (2222, "open|filtered"),
            (3333, "open|filtered"),
            (4444, "filtered"),
            (5555, "open|filtered"),
            (6666, "closed"),
            (7070, "closed"),
        ],
        "-sA" => &[
            (2222, "unfiltered"),
            (3333, "filtered"),
            (4444, "filtered"),
            (5555, "unfiltered"),
            (6666, "unfiltered"),
            (7070, "unfiltered"),
        ],
        "-sU" => &[
            (6000, "open"),
            (7777, "open|filtered"),
            (8888, "filtered"),
            (9999, "closed"),
        ],
        _ => unreachable!("{scan}"),
    };
    list.iter().copied().collect()
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn text(o: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The value of attribute `name` in an XML tag's text.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let rest = &tag[at..];
    Some(&rest[..rest.find('"')?])
}

/// Port → state from nmap's XML (`<port portid=…><state state=…/>`); every port is listed,
/// since no state has more than 25 of them here.
fn nmap_states(xml: &str) -> BTreeMap<u16, String> {
    let mut out = BTreeMap::new();
    for chunk in xml.split("<port ").skip(1) {
        let port = attr(chunk, "portid").and_then(|p| p.parse().ok());
        let state = chunk.split("<state").nth(1).and_then(|s| attr(s, "state"));
        if let (Some(p), Some(s)) = (port, state) {
            out.insert(p, s.to_string());
        }
    }
    out
}

/// Port → (state, reason) from `ustack scan --json`.
fn our_states(json: &str) -> BTreeMap<u16, (String, String)> {
    let mut out = BTreeMap::new();
    for line in json.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["event"] != "host" {
            continue;
        }
        for p in v["ports"].as_array().into_iter().flatten() {
            let port = p["port"].as_u64().unwrap_or(0) as u16;
            let state = p["state"].as_str().unwrap_or("").to_string();
            let reason = p["reason"].as_str().unwrap_or("").to_string();
            out.insert(port, (state, reason));
        }
    }
    out
}

#[test]
fn scan_reports_what_nmap_reports_port_by_port() {
    if !tun_available() {
        return;
    }
    for tool in ["nmap", "nft", "python3"] {
        if !have(tool) {
            assert!(
                std::env::var("USTACK_REQUIRE_TUN").as_deref() != Ok("1"),
                "USTACK_REQUIRE_TUN=1 but {tool} is missing"
            );
            eprintln!("skipping: {tool} is missing");
            return;
        }
    }
    let lab = Lab::start_with("1500,1500", &["--up", "--no-server"]);
    let setup = lab.at_far(FAR_SETUP);
    assert!(setup.status.success(), "far setup: {}", text(&setup));
    // The listeners are up once far's kernel shows them.
    let mut ready = false;
    for _ in 0..50 {
        let ss = lab.at_far("ss -ltnH '( sport = :2222 or sport = :5555 )' | wc -l");
        if String::from_utf8_lossy(&ss.stdout).trim() == "4" {
            ready = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(ready, "far's listeners did not come up");
    let host = lab.host();
    for far in [FAR4, FAR6] {
        let six = if far.contains(':') { "-6" } else { "" };
        for (scan, ports) in [
            ("-sS", TCP_PORTS),
            ("-sU", UDP_PORTS),
            ("-sF", TCP_PORTS),
            ("-sX", TCP_PORTS),
            ("-sA", TCP_PORTS),
            ("-sT", TCP_PORTS),
        ] {
            // nmap from the host namespace's kernel and ustack from the stack, side by side.
            let (nmap, ours) = std::thread::scope(|s| {
                let nmap = s.spawn(|| {
                    lab.at_host(&format!(
                        "nmap {six} {scan} -Pn -n -T4 --reason -p {ports} -oX - {far}"
                    ))
                });
                let ours = s.spawn(|| {
                    let mut cmd = Command::new("ip");
                    cmd.args(["netns", "exec", &host])
                        .arg(ustack_bin())
                        .args(["scan", scan, "-T4", "--json", "-p", ports, far]);
                    run_limited(cmd, "ustack-scan", LIMIT)
                });
                (
                    nmap.join().expect("nmap"),
                    ours.join().expect("ustack scan"),
                )
            });
            assert!(nmap.status.success(), "nmap {scan} {far}: {}", text(&nmap));
            assert!(
                ours.status.success(),
                "ustack scan {scan} {far}: {}",
                text(&ours)
            );
            let theirs = nmap_states(&String::from_utf8_lossy(&nmap.stdout));
            let mine = our_states(&String::from_utf8_lossy(&ours.stdout));
            let want = expected(scan);
            let mine_states: BTreeMap<u16, String> =
                mine.iter().map(|(p, (s, _))| (*p, s.clone())).collect();
            let want_states: BTreeMap<u16, String> =
                want.iter().map(|(p, s)| (*p, s.to_string())).collect();
            assert_eq!(
                mine_states,
                theirs,
                "{scan} {far}: ustack scan vs nmap\n{}\n{}",
                text(&ours),
                text(&nmap)
            );
            assert_eq!(mine_states, want_states, "{scan} {far}: {}", text(&ours));
            // The reasons of the rules' answers, as nmap words them.
            if scan != "-sA" {
                let admin = if scan == "-sU" { 8888 } else { 4444 };
                assert_eq!(mine[&admin].1, "admin-prohibited", "{scan} {far}");
            }
        }
    }
    lab.stop();
}

/// The `scan` request on the wire (docs/CONTROL.md, "scan"): its events in order against the
/// kernel side of one TUN, host discovery over a prefix, and the refusals — a target outside
/// the allowed ranges, a name, bad ports — as errors, with `ustack scan` exiting 2.
#[test]
fn the_scan_request_on_the_wire_and_its_refusals() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("scan-wire");
    let up = Up::start(&ns, &[]);
    let mut c = RawControl::connect(&ns);
    c.send(r#"{"v":1,"id":9,"req":"scan","targets":["198.18.0.1"],"ports":"1-3,7","timing":4}"#);
    let start = c.reply();
    assert_eq!(
        (&start["id"], &start["reply"], &start["event"]),
        (&9.into(), &"scan".into(), &"start".into()),
        "{start}"
    );
    assert_eq!(
        (&start["scan"], &start["ports"]),
        (&"syn".into(), &4.into())
    );
    let host = c.reply();
    assert_eq!(host["event"], "host", "{host}");
    assert_eq!(
        (&host["addr"], &host["up"]),
        (&"198.18.0.1".into(), &true.into())
    );
    let ports = host["ports"].as_array().expect("ports");
    let got: Vec<(u64, &str, &str)> = ports
        .iter()
        .map(|p| {
            (
                p["port"].as_u64().unwrap(),
                p["state"].as_str().unwrap(),
                p["reason"].as_str().unwrap(),
            )
        })
        .collect();
    // Nothing listens on the kernel side: every port resets.
    assert_eq!(got, [1, 2, 3, 7].map(|p| (p, "closed", "reset")), "{host}");
    assert_eq!(ports[0]["reason_ttl"], 64, "{host}");
    let done = c.reply();
    assert_eq!(
        (&done["event"], &done["up"]),
        (&"done".into(), &1.into()),
        "{done}"
    );
    let end = c.reply();
    assert_eq!(
        (&end["reply"], &end["reason"]),
        (&"end".into(), &"done".into())
    );

    // Host discovery over the TUN's /29: the kernel side answers; the stack itself is left out.
    let mut c = RawControl::connect(&ns);
    c.send(r#"{"v":1,"id":3,"req":"scan","targets":["198.18.0.0/29"],"scan":"ping","timing":5}"#);
    assert_eq!(c.reply()["hosts"], 7);
    let host = c.reply();
    assert_eq!(host["addr"], "198.18.0.1", "{host}");
    // Whichever answer came first: the echo reply, or the RST to the ACK to port 80 (the SYN
    // to 443 gets one too).
    let why = host["reason"].as_str().unwrap_or_default();
    assert!(["echo-reply", "reset"].contains(&why), "{host}");
    let done = c.reply();
    assert_eq!(
        (&done["hosts"], &done["up"]),
        (&7.into(), &1.into()),
        "{done}"
    );

    for (req, says) in [
        (
            r#"{"v":1,"id":4,"req":"scan","targets":["8.8.8.8"]}"#,
            "--i-own-the-network",
        ),
        (
            r#"{"v":1,"id":4,"req":"scan","targets":["example.com"]}"#,
            "resolves no names",
        ),
        (
            r#"{"v":1,"id":4,"req":"scan","targets":["198.18.0.1"],"ports":"9-1"}"#,
            "backwards",
        ),
        (
            r#"{"v":1,"id":4,"req":"scan","targets":["198.18.0.2"]}"#,
            "the stack itself",
        ),
        (
            r#"{"v":1,"id":4,"req":"scan","targets":["198.18.0.0/8"]}"#,
            "bad prefix",
        ),
    ] {
        let mut c = RawControl::connect(&ns);
        let r = c.call(req);
        assert_eq!(
            (&r["reply"], &r["code"]),
            (&"error".into(), &"bad_request".into()),
            "{r}"
        );
        assert!(r["message"].as_str().unwrap().contains(says), "{req}: {r}");
    }
    let out = run_in(
        &ns,
        ustack_bin().to_str().unwrap(),
        &["scan", "8.8.8.8"],
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--i-own-the-network"), "{}", text(&out));
    up.stop();
}
