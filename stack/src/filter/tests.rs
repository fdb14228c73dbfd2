//! Parser and evaluator checks that need no libpcap: error positions, limits, and the shape of
//! what is parsed (the differential test in stack/tests/filter_libpcap.rs covers semantics).

use super::ast::{Dir, Node, Protos};
use super::{Filter, MAX_DEPTH, MAX_EXPR_LEN};

fn err(expr: &str) -> (usize, String) {
    let e = Filter::parse(expr).unwrap_err();
    (e.column(), e.message().to_string())
}

#[test]
fn errors_name_the_column() {
    assert_eq!(err("tcp port"), (9, "expected a port number".into()));
    assert_eq!(
        Filter::parse("tcp port").unwrap_err().to_string(),
        "error at column 9: expected a port number"
    );
    assert_eq!(
        err("port 99999"),
        (6, "illegal port number 99999 > 65535".into())
    );
    assert_eq!(err("tcp)"), (4, "unbalanced ')'".into()));
    assert_eq!(err("net 10.0.0.1/8").0, 5);
    assert_eq!(err("len = 1/0"), (8, "division by zero".into()));
    assert_eq!(err("udp port http"), (10, "port 'http' is tcp".into()));
    assert!(err("1.2.3.4").1.starts_with("expected a qualifier"));
    assert!(err("host foo").1.contains("does not resolve names"));
}

#[test]
fn limits_are_enforced() {
    let deep = format!(
        "{}tcp{}",
        "(".repeat(MAX_DEPTH + 1),
        ")".repeat(MAX_DEPTH + 1)
    );
    assert!(err(&deep).1.contains("nested deeper"));
    let ok = format!(
        "{}tcp{}",
        "(".repeat(MAX_DEPTH / 2),
        ")".repeat(MAX_DEPTH / 2)
    );
    assert!(Filter::parse(&ok).is_ok());
    let nots = "not ".repeat(MAX_DEPTH + 1) + "tcp";
    assert!(err(&nots).1.contains("nested deeper"));
    let long = "tcp or ".repeat(MAX_EXPR_LEN / 7 + 1) + "udp";
    assert!(err(&long).1.contains("longer than"));
    // The column of an over-long expression is the start of the first character past the
    // limit, never a byte inside it (fuzz/filter_parse: a U+FFFD straddling byte 4096).
    let straddle = "x".repeat(MAX_EXPR_LEN - 1) + "\u{fffd}";
    assert_eq!(
        err(&straddle),
        (
            MAX_EXPR_LEN,
            format!("expression longer than {MAX_EXPR_LEN} bytes")
        )
    );
    let at_limit = "x".repeat(MAX_EXPR_LEN) + "\u{fffd}";
    assert_eq!(err(&at_limit).0, MAX_EXPR_LEN + 1);
    // A long flat list is fine and evaluates once per primitive.
    let list = (0..200)
        .map(|i| format!("host 10.0.{}.{}", i / 256, i % 256))
        .collect::<Vec<_>>()
        .join(" or ");
    assert!(list.len() < MAX_EXPR_LEN);
    let f = Filter::parse(&list).unwrap();
    let mut p = vec![
        0x45, 0, 0, 20, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 199, 1, 1, 1, 1,
    ];
    assert!(f.matches(&p));
    p[15] = 200;
    assert!(!f.matches(&p));
}

#[test]
fn the_longest_flat_chains_evaluate_on_a_default_thread_stack() {
    // Left-associative chains do not nest the parser, so only the length bounds them; the
    // loop thread (a default 2 MiB stack) must still evaluate and drop them.
    let sum = "len = 0".to_string() + &" + 1".repeat(20) + &" + 0".repeat((MAX_EXPR_LEN - 90) / 4);
    let ands = "len > 0".to_string() + &" and len > 0".repeat((MAX_EXPR_LEN - 8) / 12);
    for expr in [sum, ands] {
        assert!(expr.len() <= MAX_EXPR_LEN);
        let r = std::thread::spawn(move || {
            let f = Filter::parse(&expr).unwrap();
            f.matches(&[0x45; 20])
        })
        .join();
        assert_eq!(r.ok(), Some(true));
    }
}

#[test]
fn qualifiers_repeat_and_precedence_is_flat() {
    let f = Filter::parse("tcp port 80 or 443").unwrap();
    let port = |lo| Node::Port {
        protos: Protos::TCP,
        dir: Dir::Either,
        lo,
        hi: lo,
    };
    assert_eq!(*f.ast(), Node::Or(Box::new(port(80)), Box::new(port(443))));
    // `a or b and c` is `(a or b) and c`, as in libpcap.
    let f = Filter::parse("icmp or udp and tcp").unwrap();
    assert!(matches!(f.ast(), Node::And(a, _) if matches!(**a, Node::Or(..))));
    assert_eq!(*Filter::parse("").unwrap().ast(), Node::True);
}

#[test]
fn later_fragments_have_no_ports() {
    let f = Filter::parse("udp port 53").unwrap();
    let mut p = vec![
        0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8,
    ];
    p.extend_from_slice(&[0, 53, 0, 53, 0, 8, 0, 0]);
    assert!(f.matches(&p));
    p[6] = 0x20; // first fragment (MF, offset 0): still has the header
    assert!(f.matches(&p));
    p[7] = 1; // offset 8: no ports here
    assert!(!f.matches(&p));
    assert!(Filter::parse("udp").unwrap().matches(&p));
}

#[test]
fn ipv6_errors_name_the_column() {
    assert_eq!(
        err("host 2001:2::zz"),
        (6, "invalid IPv6 address '2001:2::zz'".into())
    );
    assert_eq!(
        err("net 2001:2::/129"),
        (14, "mask length must be <= 128".into())
    );
    assert_eq!(
        err("tcp or net 2001:2::1/64"),
        (12, "non-network bits set in \"2001:2::1/64\"".into())
    );
    assert_eq!(
        err("ip6 proto 300"),
        (11, "protocol number 300 > 255".into())
    );
    assert_eq!(
        err("ip host ::1"),
        (9, "'ip' modifier applied to ip6 host".into())
    );
    assert_eq!(
        err("ip6 host 10.0.0.1"),
        (10, "'ip6' modifier applied to ip host".into())
    );
    assert_eq!(
        err("tcp host ::1"),
        (10, "'tcp' modifier applied to ip6 host".into())
    );
    assert_eq!(
        err("udp net 10.0.0.0/8"),
        (9, "'udp' modifier applied to net".into())
    );
    assert_eq!(
        err("ip6 port 80"),
        (10, "illegal qualifier of 'port'".into())
    );
    assert_eq!(
        err("host 2001:2::/64"),
        (6, "mask syntax for networks only (use 'net')".into())
    );
}

/// An IPv6 packet: `next` in the fixed header, then `rest`.
fn ipv6(next: u8, rest: &[u8]) -> Vec<u8> {
    let mut p = vec![0x60, 0, 0, 0, 0, rest.len() as u8, next, 64];
    p.extend_from_slice(&[0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    p.extend_from_slice(&[0x20, 0x01, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    p.extend_from_slice(rest);
    p
}

#[test]
fn ipv6_follows_libpcaps_rules() {
    let udp53 = [0, 53, 0, 53, 0, 8, 0, 0];
    let plain = ipv6(17, &udp53);
    let mut behind_options = vec![17, 0, 1, 4, 0, 0, 0, 0];
    behind_options.extend_from_slice(&udp53);
    let hbh = ipv6(0, &behind_options);
    let mut first_fragment = vec![17, 0, 0, 1, 0, 0, 0, 7];
    first_fragment.extend_from_slice(&udp53);
    let frag = ipv6(44, &first_fragment);
    let check = |expr: &str, want: [bool; 3]| {
        let f = Filter::parse(expr).unwrap();
        let got = [f.matches(&plain), f.matches(&hbh), f.matches(&frag)];
        assert_eq!(got, want, "{expr}");
    };
    check("ip6", [true; 3]);
    check("ip", [false; 3]);
    // Only the fixed header's Next Header, or a Fragment header's, is looked at.
    check("udp", [true, false, true]);
    check("ip6 proto 0", [false, true, false]);
    // Ports: the fixed header's Next Header only, at 40.
    check("udp port 53", [true, false, false]);
    check("host 2001:2::2 and net 2001:2::/64", [true; 3]);
    check("src host 2001:2::2", [false; 3]);
    check("ip6[6] = 17 and not icmp6", [true, false, false]);
}
