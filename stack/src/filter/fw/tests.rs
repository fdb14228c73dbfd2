use super::*;
use crate::time::{Duration, Instant};
use crate::wire::build::{fragment_v4, Icmp, Ipv4, Ipv6, Tcp, Udp};
use std::net::Ipv4Addr;

const US: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const HOST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const T: Instant = Instant::from_millis(1000);

fn tcp(src: Ipv4Addr, sport: u16, dport: u16, flags: u8) -> Vec<u8> {
    (Ipv4::new().src(src).dst(US) / Tcp::new().sport(sport).dport(dport).flags(flags))
        .build()
        .unwrap()
}

fn tcp_out(dport: u16, sport: u16, flags: u8) -> Vec<u8> {
    (Ipv4::new().src(US).dst(HOST) / Tcp::new().sport(sport).dport(dport).flags(flags))
        .build()
        .unwrap()
}

const SYN: u8 = 0x02;
const SYNACK: u8 = 0x12;
const ACK: u8 = 0x10;

const RULES: &str = r#"
table inet filter {
set blocked { 198.18.0.7, 198.19.0.0/16 }
set web { 80, 443, 8000-8080 }
chain input {
    type filter hook input priority 0; policy drop;
    ct state established,related accept   # replies and errors about them
    ip saddr @blocked drop
    ip saddr 198.18.0.0/24 tcp dport { 22, 7 } ct state new accept
    tcp dport @web limit rate 2/second burst 2 packets accept
    icmp type echo-request accept
    meta l4proto udp reject with icmp type admin-prohibited
}
}
"#;

fn verdict(fw: &mut Firewall, hook: Hook, p: &[u8]) -> (Verdict, Option<u32>) {
    let d = fw.check(T, hook, p);
    (d.verdict, d.rule)
}

#[test]
fn an_nft_shaped_rule_set_decides_as_it_says() {
    let mut fw = Firewall::parse(RULES, 100).unwrap();
    let ids: Vec<u32> = fw.chain(Hook::Input).rules.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 6);
    // New SSH from the prefix: accepted by rule 3; from a blocked source: dropped by rule 2.
    assert_eq!(
        verdict(&mut fw, Hook::Input, &tcp(HOST, 40000, 22, SYN)),
        (Verdict::Accept, Some(ids[2]))
    );
    let blocked = Ipv4Addr::new(198, 18, 0, 7);
    assert_eq!(
        verdict(&mut fw, Hook::Input, &tcp(blocked, 40000, 22, SYN)),
        (Verdict::Drop, Some(ids[1]))
    );
    // Not in any rule: the policy.
    assert_eq!(
        verdict(&mut fw, Hook::Input, &tcp(HOST, 40000, 25, SYN)),
        (Verdict::Drop, None)
    );
    assert_eq!(fw.chain(Hook::Input).policy_drops, 1);
    // The web set with its limit: two pass, the third falls through to the policy.
    let web: Vec<_> = (0..3)
        .map(|i| verdict(&mut fw, Hook::Input, &tcp(HOST, 41000 + i, 8080, SYN)))
        .collect();
    assert_eq!(web[0], (Verdict::Accept, Some(ids[3])));
    assert_eq!(web[1], (Verdict::Accept, Some(ids[3])));
    assert_eq!(web[2], (Verdict::Drop, None));
    // UDP: rejected with code 13.
    let udp = (Ipv4::new().src(HOST).dst(US) / Udp::new().dport(53))
        .build()
        .unwrap();
    assert_eq!(
        verdict(&mut fw, Hook::Input, &udp),
        (Verdict::Reject(RejectWith::Unreachable(13)), Some(ids[5]))
    );
    // Per-rule counters.
    let r = &fw.chain(Hook::Input).rules;
    assert_eq!((r[2].packets, r[3].packets), (1, 2));
    assert_eq!(r[2].bytes, 40);
}

#[test]
fn connection_tracking_lets_replies_in_and_counts_evictions() {
    let mut fw = Firewall::parse(
        "chain input {\n policy drop\n ct state established,related accept\n}\n",
        2,
    )
    .unwrap();
    // Our SYN out makes the flow; the SYN-ACK back is established.
    let d = fw.check(T, Hook::Output, &tcp_out(80, 50000, SYN));
    assert_eq!(d.ct, CtState::New);
    let synack = (Ipv4::new().src(HOST).dst(US) / Tcp::new().sport(80).dport(50000).flags(SYNACK))
        .build()
        .unwrap();
    let d = fw.check(T, Hook::Input, &synack);
    assert_eq!((d.verdict, d.ct), (Verdict::Accept, CtState::Established));
    // An unsolicited SYN-ACK to another port: invalid, dropped by the policy.
    let stray = tcp(HOST, 80, 50001, SYNACK);
    assert_eq!(fw.check(T, Hook::Input, &stray).ct, CtState::Invalid);
    // An ICMP error quoting our flow is related.
    let quote = &tcp_out(80, 50000, ACK)[..28];
    let err = (Ipv4::new().src(HOST).dst(US) / Icmp::error(3, 3) / quote.to_vec())
        .build()
        .unwrap();
    let d = fw.check(T, Hook::Input, &err);
    assert_eq!((d.verdict, d.ct), (Verdict::Accept, CtState::Related));
    // Two more flows in a table of two: the oldest is evicted and counted.
    fw.check(T, Hook::Output, &tcp_out(81, 50002, SYN));
    fw.check(T, Hook::Output, &tcp_out(82, 50003, SYN));
    assert_eq!(fw.conntrack().len(), 2);
    assert_eq!(fw.conntrack().evicted, 1);
    let late = (Ipv4::new().src(HOST).dst(US) / Tcp::new().sport(80).dport(50000).flags(ACK))
        .build()
        .unwrap();
    assert_eq!(fw.check(T, Hook::Input, &late).verdict, Verdict::Drop);
    // Flows expire: a minute after a SYN nobody answered.
    let later = T + Duration::from_secs(61);
    let back = (Ipv4::new().src(HOST).dst(US) / Tcp::new().sport(82).dport(50003).flags(SYNACK))
        .build()
        .unwrap();
    assert_eq!(fw.check(later, Hook::Input, &back).ct, CtState::Invalid);
}

#[test]
fn fragments_see_ip_fields_only_and_large_sets_are_searched_not_scanned() {
    let mut text = String::from("set many {\n");
    for i in 0..10_000u32 {
        let a = Ipv4Addr::from(0x0a00_0000 + i * 4);
        text.push_str(&format!("{a},\n"));
    }
    text.push_str("198.18.0.1 }\nchain fragments {\n ip saddr @many ip frag later drop\n tcp dport 80 drop\n}\n");
    let mut fw = Firewall::parse(&text, 10).unwrap();
    let big = (Ipv4::new().src(HOST).dst(US).ident(3) / Tcp::new().dport(80) / vec![0u8; 3000])
        .build()
        .unwrap();
    let frags = fragment_v4(&big, 1000).unwrap();
    let ids: Vec<u32> = fw
        .chain(Hook::Fragments)
        .rules
        .iter()
        .map(|r| r.id)
        .collect();
    // The first fragment has the TCP header: the port rule sees it; later ones: the frag rule.
    assert_eq!(
        verdict(&mut fw, Hook::Fragments, &frags[0]),
        (Verdict::Drop, Some(ids[1]))
    );
    assert_eq!(
        verdict(&mut fw, Hook::Fragments, &frags[1]),
        (Verdict::Drop, Some(ids[0]))
    );
    let other = Ipv4Addr::new(10, 0, 0, 5); // between two members of the set
    let p = (Ipv4::new().src(other).dst(US).mf(true) / Udp::new())
        .build()
        .unwrap();
    assert_eq!(
        verdict(&mut fw, Hook::Fragments, &p),
        (Verdict::Accept, None)
    );
}

#[test]
fn ipv6_rules_and_tcp_flag_forms() {
    let rules = "chain input {\n ip6 saddr 2001:2::/64 tcp flags & (syn|ack) == syn drop\n tcp flags == fin,psh,urg drop\n ip6 hoplimit < 2 drop\n}\n";
    let mut fw = Firewall::parse(rules, 10).unwrap();
    let ids: Vec<u32> = fw.chain(Hook::Input).rules.iter().map(|r| r.id).collect();
    let me6 = "2001:2::2".parse::<std::net::Ipv6Addr>().unwrap();
    let peer6 = "2001:2::1".parse::<std::net::Ipv6Addr>().unwrap();
    let syn6 = (Ipv6::new().src(peer6).dst(me6) / Tcp::new().dport(80).flags(SYN))
        .build()
        .unwrap();
    assert_eq!(
        verdict(&mut fw, Hook::Input, &syn6),
        (Verdict::Drop, Some(ids[0]))
    );
    let synack6 = (Ipv6::new().src(peer6).dst(me6) / Tcp::new().flags(SYNACK))
        .build()
        .unwrap();
    assert_eq!(
        verdict(&mut fw, Hook::Input, &synack6),
        (Verdict::Accept, None)
    );
    let xmas = tcp(HOST, 1, 2, 0x29);
    assert_eq!(
        verdict(&mut fw, Hook::Input, &xmas),
        (Verdict::Drop, Some(ids[1]))
    );
    let low = (Ipv6::new().src(peer6).dst(me6).hop_limit(1) / Udp::new())
        .build()
        .unwrap();
    assert_eq!(
        verdict(&mut fw, Hook::Input, &low),
        (Verdict::Drop, Some(ids[2]))
    );
}

#[test]
fn errors_name_line_and_column_and_nothing_applies() {
    let cases = [
        (
            "chain input {\n tcp dport 80 acept\n}",
            (2, 15),
            "unknown word `acept`",
        ),
        (
            "chain input {\n ip saddr 300.1.1.1 drop\n}",
            (2, 11),
            "not an IPv4 address",
        ),
        ("chain forward {\n}", (1, 7), "unknown chain `forward`"),
        (
            "chain input {\n ip saddr @nope drop\n}",
            (2, 12),
            "no set named nope",
        ),
        (
            "chain input {\n drop accept\n}",
            (2, 7),
            "nothing may follow",
        ),
        (
            "chain input {\n limit rate 5/fortnight accept\n}",
            (2, 13),
            "is not a rate",
        ),
        ("set s { 1.2.3.4, 80 }", (1, 18), "not an address"),
        ("chain input {\n tcp dport 80 drop\n", (2, 19), "not closed"),
    ];
    for (text, (line, column), msg) in cases {
        let e = Firewall::parse(text, 10).unwrap_err();
        assert_eq!((e.line, e.column), (line, column), "{text:?}: {e}");
        assert!(e.message.contains(msg), "{text:?}: {e}");
    }
    let mut fw = Firewall::new(10);
    assert!(fw.add_rule(Hook::Input, "tcp dport 22 drop", None).is_ok());
    let e = fw
        .add_rule(Hook::Input, "tcp dport 99999 drop", None)
        .unwrap_err();
    assert_eq!((e.line, e.column), (1, 11));
    assert_eq!(fw.chain(Hook::Input).rules.len(), 1);
}

#[test]
fn rules_are_added_inserted_deleted_and_flushed_live() {
    let mut fw = Firewall::new(10);
    let a = fw.add_rule(Hook::Input, "tcp dport 22 drop", None).unwrap();
    let b = fw
        .add_rule(Hook::Input, "tcp dport 22 accept", Some(0))
        .unwrap();
    let ssh = tcp(HOST, 40000, 22, SYN);
    assert_eq!(
        verdict(&mut fw, Hook::Input, &ssh),
        (Verdict::Accept, Some(b))
    );
    assert!(fw.delete_rule(b));
    assert!(!fw.delete_rule(b));
    assert_eq!(
        verdict(&mut fw, Hook::Input, &ssh),
        (Verdict::Drop, Some(a))
    );
    fw.flush();
    assert!(fw.is_empty());
    assert_eq!(verdict(&mut fw, Hook::Input, &ssh), (Verdict::Accept, None));
}

#[test]
fn per_source_limits_are_bounded() {
    let mut fw = Firewall::parse(
        "chain input {\n limit rate over 1/second burst 1 packets per saddr drop\n}\n",
        10,
    )
    .unwrap();
    for i in 0..(rule::MAX_SOURCES as u32 + 100) {
        let src = Ipv4Addr::from(0x0a00_0000 + i);
        // First packet of each source passes (its own bucket), the second is over.
        assert_eq!(
            fw.check(T, Hook::Input, &tcp(src, 1, 2, SYN)).verdict,
            Verdict::Accept
        );
    }
    assert_eq!(
        fw.check(
            T,
            Hook::Input,
            &tcp(Ipv4Addr::from(0x0a00_0000 + 4100), 1, 2, SYN)
        )
        .verdict,
        Verdict::Drop
    );
    let Some(rule::Stmt::Limit(l)) = fw.chain(Hook::Input).rules[0].stmts.first() else {
        panic!("a limit");
    };
    assert_eq!(l.evicted, 100);
}

#[test]
fn the_text_form_reads_back_to_the_same_rules() {
    let fw = Firewall::parse(RULES, 100).unwrap();
    let text = fw.to_text();
    let again = Firewall::parse(&text, 100).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for h in Hook::ALL {
        let a: Vec<_> = fw
            .chain(h)
            .rules
            .iter()
            .map(|r| (&r.matches, &r.verdict))
            .collect();
        let b: Vec<_> = again
            .chain(h)
            .rules
            .iter()
            .map(|r| (&r.matches, &r.verdict))
            .collect();
        assert_eq!(a, b, "{text}");
        assert_eq!(fw.chain(h).policy, again.chain(h).policy);
    }
    assert!(text.contains("set web { 80, 443, 8000-8080 }"), "{text}");
}
