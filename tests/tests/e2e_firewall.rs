//! End to end: the firewall (issue 19) — a rule set loaded by `ustack up --rules` blocks and
//! rejects exactly what it says, seen by curl, nc, ping and nmap from the kernel side; rules
//! change live through `ustack filter` without a restart; the counters match the packets sent;
//! a drop policy with connection tracking still lets the stack's own connections work; a rule
//! set with an error is refused with its line and column.
//!
//! Needs root and /dev/net/tun; with `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use std::time::Duration;
use ustack_tests::e2e::{counter, output_text, run_in, ustack_bin, Scratch, Up, STACK_ADDR};
use ustack_tests::netns::{tun_available, NetNs};

const LIMIT: Duration = Duration::from_secs(30);

fn filter(ns: &NetNs, args: &[&str]) -> serde_json::Value {
    let bin = ustack_bin();
    let mut all = vec!["filter", "--json"];
    all.extend_from_slice(args);
    let out = run_in(ns, bin.to_str().unwrap(), &all, LIMIT);
    assert!(
        out.status.success(),
        "ustack filter {args:?}: {}",
        output_text(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (handle, packets) of the rule whose text contains `needle`.
fn rule(v: &serde_json::Value, needle: &str) -> (u64, u64) {
    let r = v["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["text"].as_str().unwrap().contains(needle))
        .unwrap_or_else(|| panic!("no rule with {needle:?} in {v}"));
    (r["id"].as_u64().unwrap(), r["packets"].as_u64().unwrap())
}

fn ping_received(ns: &NetNs, count: &str) -> u64 {
    let out = run_in(
        ns,
        "ping",
        &[
            "-n",
            "-c",
            count,
            "-i",
            "0.2",
            "-W",
            "1",
            &STACK_ADDR.to_string(),
        ],
        LIMIT,
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    ustack_tests::e2e::ping_summary(&text).map_or(0, |(_, received)| received)
}

const RULES: &str = "\
table inet filter {
    chain input {
        type filter hook input priority 0; policy accept;
        tcp dport 9 drop
        tcp dport 19 reject
        icmp type echo-request drop
    }
}
";

#[test]
fn a_rule_set_blocks_and_rejects_what_it_says_and_changes_live() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("fw");
    let scratch = Scratch::new("firewall", "rules");
    let file = scratch.path("rules.nft");
    std::fs::write(&file, RULES).unwrap();
    let up = Up::start(&ns, &["--rules", file.to_str().unwrap()]);
    let addr = STACK_ADDR.to_string();
    // curl to port 80: no rule, accepted.
    let curl = run_in(
        &ns,
        "curl",
        &[
            "-sS",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("http://{addr}/"),
        ],
        LIMIT,
    );
    assert_eq!(
        String::from_utf8_lossy(&curl.stdout),
        "200",
        "{}",
        output_text(&curl)
    );
    // nc to 9: dropped, the connect times out; to 19: rejected, refused at once.
    let nc9 = run_in(&ns, "nc", &["-z", "-w", "1", &addr, "9"], LIMIT);
    assert!(!nc9.status.success());
    let nc19 = run_in(&ns, "nc", &["-v", "-z", "-w", "3", &addr, "19"], LIMIT);
    assert!(
        String::from_utf8_lossy(&nc19.stderr).contains("refused"),
        "{}",
        output_text(&nc19)
    );
    // ping: every request dropped, and the rule counted exactly those.
    assert_eq!(ping_received(&ns, "3"), 0);
    let v = filter(&ns, &["counters"]);
    let (ping_rule, pings) = rule(&v, "echo-request");
    assert_eq!(pings, 3, "{v}");
    assert!(rule(&v, "dport 9").1 >= 1, "{v}");
    assert!(rule(&v, "dport 19").1 >= 1, "{v}");
    // nmap from the kernel side: 9 filtered (no answer), 19 closed (the RST), 80 open.
    let nmap = run_in(
        &ns,
        "nmap",
        &[
            "-n",
            "-Pn",
            "-sS",
            "-p",
            "9,19,80",
            "--max-retries",
            "1",
            &addr,
        ],
        LIMIT,
    );
    let text = String::from_utf8_lossy(&nmap.stdout);
    for line in ["9/tcp  filtered", "19/tcp closed", "80/tcp open"] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    // Live: delete the ping rule and ping works; insert a drop in front and it stops again.
    filter(&ns, &["delete", &ping_rule.to_string()]);
    assert_eq!(ping_received(&ns, "2"), 2);
    let v = filter(
        &ns,
        &[
            "insert",
            "input",
            "ip",
            "saddr",
            "198.18.0.1",
            "icmp",
            "type",
            "echo-request",
            "drop",
        ],
    );
    assert!(v["added"].as_u64().is_some(), "{v}");
    assert_eq!(ping_received(&ns, "2"), 0);
    let out = up.stop();
    assert!(
        counter(&out, "FirewallDrop") >= 5 || out.contains("firewall: dropped"),
        "{out}"
    );
}

#[test]
fn a_drop_policy_with_connection_tracking_keeps_the_stacks_own_connections() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("fwct");
    let scratch = Scratch::new("firewall", "ct");
    let file = scratch.path("rules.nft");
    std::fs::write(&file, "chain input {\n policy drop\n ct state established,related accept\n tcp dport 80 accept\n}\n").unwrap();
    let up = Up::start(&ns, &["--rules", file.to_str().unwrap()]);
    let bin = ustack_bin();
    // Out of the stack: the echo replies come back as established.
    let ping = run_in(
        &ns,
        bin.to_str().unwrap(),
        &["ping", "-c", "2", "-i", "0.2", "198.18.0.1"],
        LIMIT,
    );
    assert!(
        String::from_utf8_lossy(&ping.stdout).contains("2 received"),
        "{}",
        output_text(&ping)
    );
    // Into the stack: 80 is open, the echo port is not.
    let addr = STACK_ADDR.to_string();
    let curl = run_in(
        &ns,
        "curl",
        &[
            "-sS",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            &format!("http://{addr}/"),
        ],
        LIMIT,
    );
    assert!(curl.status.success(), "{}", output_text(&curl));
    assert!(!run_in(&ns, "nc", &["-z", "-w", "1", &addr, "7"], LIMIT)
        .status
        .success());
    assert_eq!(ping_received(&ns, "1"), 0);
    let v = filter(&ns, &["list"]);
    assert_eq!(v["policies"][1][1], "drop", "{v}");
    assert!(v["policies"][1][2].as_u64().unwrap() >= 2, "{v}");
    up.stop();
}

#[test]
fn a_rule_set_with_an_error_is_refused_with_line_and_column() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("fwbad");
    let scratch = Scratch::new("firewall", "bad");
    let file = scratch.path("bad.nft");
    std::fs::write(&file, "chain input {\n tcp dport 80 acept\n}\n").unwrap();
    let bin = ustack_bin();
    let f = file.to_str().unwrap();
    let check = run_in(&ns, bin.to_str().unwrap(), &["filter", "check", f], LIMIT);
    assert_eq!(check.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&check.stderr);
    assert!(
        msg.contains("line 2, column 15: unknown word `acept`"),
        "{msg}"
    );
    let up = run_in(&ns, bin.to_str().unwrap(), &["up", "--rules", f], LIMIT);
    assert_eq!(up.status.code(), Some(2), "{}", output_text(&up));
    assert!(String::from_utf8_lossy(&up.stderr).contains("line 2, column 15"));
    std::fs::write(&file, RULES).unwrap();
    let check = run_in(&ns, bin.to_str().unwrap(), &["filter", "check", f], LIMIT);
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("3 rules, OK"),
        "{}",
        output_text(&check)
    );
}
