//! The filter language: what iproute2's ss accepts selects the same sockets, what it refuses is
//! refused with a column.

use super::*;
use proptest::prelude::*;

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn services(name: &str) -> Option<u16> {
    match name {
        "http" => Some(80),
        "echo" => Some(7),
        _ => None,
    }
}

fn f(s: &str) -> SsFilter {
    parse(&words(s), &services).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> FilterError {
    parse(&words(s), &services).expect_err(s)
}

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The stack's HTTP connection from the kernel's port 40000.
fn http() -> (SocketAddr, SocketAddr) {
    (sa("198.18.0.2:80"), sa("198.18.0.1:40000"))
}

/// The stack's echo connection from the kernel's port 50000.
fn echo() -> (SocketAddr, SocketAddr) {
    (sa("198.18.0.2:7"), sa("198.18.0.1:50000"))
}

fn keeps(filter: &str, (l, r): (SocketAddr, SocketAddr)) -> bool {
    f(filter).matches(l, r)
}

#[test]
fn ports_with_every_operator_spelling() {
    for eq in [
        "sport = :80",
        "sport == :80",
        "sport eq :80",
        "sport :80",
        "sport 80",
        "sport = :http",
    ] {
        assert!(keeps(eq, http()) && !keeps(eq, echo()), "{eq}");
    }
    for ne in ["sport != :80", "sport ne 80", "sport neq :http"] {
        assert!(!keeps(ne, http()) && keeps(ne, echo()), "{ne}");
    }
    assert!(keeps("dport > :45000", echo()) && !keeps("dport gt 45000", http()));
    assert!(keeps("dport < :45000", http()) && !keeps("dport lt :45000", echo()));
    assert!(keeps("dport >= :40000", http()) && !keeps("dport ge 40001", http()));
    assert!(keeps("dport <= :40000", http()) && !keeps("dport le 39999", http()));
    assert!(keeps("sport = *", http()) && keeps("sport = :*", echo()));
}

#[test]
fn addresses_prefixes_and_ports() {
    assert!(keeps("dst 198.18.0.1", http()));
    assert!(keeps("dst = 198.18.0.0/24", http()));
    assert!(!keeps("dst 198.18.1.0/24", http()));
    assert!(keeps("src 198.18.0.2:80", http()) && !keeps("src 198.18.0.2:80", echo()));
    assert!(keeps("src 198.18.0.0/16:http", http()));
    assert!(keeps("dst :40000", http()) && !keeps("dst :40000", echo()));
    assert!(keeps("src *:7", echo()) && keeps("src [198.18.0.2]:7", echo()));
    assert!(keeps("dst *", echo()) && keeps("dst 0.0.0.0/0", echo()));
    assert!(keeps("dst inet:198.18.0.1", echo()));
}

#[test]
fn ipv6_hosts_prefixes_and_ports_as_ss_writes_them() {
    let v6 = (sa("[2001:2::2]:80"), sa("[2001:2::1]:40000"));
    assert!(keeps("dst [2001:2::1]:40000", v6));
    assert!(keeps("dst 2001:2::1", v6));
    assert!(keeps("dst inet6:[2001:2::1]", v6));
    assert!(keeps("src 2001:2::/64 and sport = :80", v6));
    assert!(!keeps("dst 2001:3::/32", v6));
    // An address of one family never matches a socket of the other.
    assert!(!keeps("dst 198.18.0.0/15", v6));
    assert!(!keeps("dst 2001:2::/48", http()));
    assert!(keeps("dst ::/0", v6) && !keeps("dst ::/0", http()));
}

#[test]
fn and_or_not_group_left_to_right_as_in_ss() {
    assert!(keeps("sport = :80 or sport = :7", echo()));
    assert!(!keeps("sport = :80 and sport = :7", echo()));
    assert!(
        !keeps("sport = :80 sport = :7", http()),
        "side by side means and"
    );
    assert!(keeps("not sport = :80", echo()) && keeps("! sport = :80", echo()));
    assert!(
        keeps("sport = :80 || sport = :7", echo()) && !keeps("sport = :80 && dport = :1", http())
    );
    // ss's grammar has no precedence: `a or b and c` is `(a or b) and c`.
    let e = "sport = :7 or sport = :80 and dport = :40000";
    assert!(!keeps(e, echo()), "(a or b) and c");
    assert!(keeps(
        "sport = :7 or ( sport = :80 and dport = :40000 )",
        echo()
    ));
    // `not` takes one term.
    assert!(keeps("not sport = :80 and dport = :50000", echo()));
}

#[test]
fn parentheses_as_one_word_or_many() {
    let one = parse(&["( sport = :80 or sport = :7 )".to_string()], &services).unwrap();
    let many = f("( sport = :80 or sport = :7 )");
    let tight = f("(sport = :80 or sport = :7)");
    assert_eq!(one, many);
    assert_eq!(one, tight);
    assert!(one.matches(echo().0, echo().1));
    assert!(keeps("( ( dport = :40000 ) )", http()));
}

#[test]
fn state_words_come_first_and_combine_as_in_ss() {
    let est = bit("established");
    assert_eq!(f("state established").states(0), est);
    assert_eq!(
        f("state estab state time-wait").states(0),
        est | bit("time-wait")
    );
    // `state` resets what -a chose; `exclude` starts from all.
    assert_eq!(f("state established").states(ALL), est);
    assert_eq!(f("exclude listening").states(0), ALL & !bit("listen"));
    assert_eq!(
        f("excl time-wait exclude syn-recv").states(0),
        ALL & !bucket()
    );
    assert_eq!(f("").states(0), default_states());
    assert_eq!(f("").states(ALL), ALL);
    assert_eq!(
        f("state Connected").states(0),
        ALL & !(bit("listen") | bit("close"))
    );
    // ss: synchronized leaves out SYN-SENT only (and the unconnected states).
    let sync = f("state synchronized").states(0);
    assert!(sync & bit("syn-recv") != 0 && sync & bit("syn-sent") == 0);
    assert_eq!(f("state bucket").states(0), bucket());
    assert_eq!(f("state closed").states(0), bit("close"));
    let g = f("state established ( dport = :40000 )");
    assert_eq!(g.states(0), est);
    assert!(g.matches(http().0, http().1) && !g.matches(echo().0, echo().1));
}

fn bucket() -> States {
    bit("syn-recv") | bit("time-wait")
}

#[test]
fn malformed_filters_name_their_column() {
    let cases = [
        ("sport = :80 and", 16, "must follow `and`"),
        ("( sport = :80", 1, "never closed"),
        ("sport = :80 )", 13, "without a matching"),
        ("sport = :80 bogus", 13, "a condition was expected"),
        ("sport = bogus", 9, "does not look like a port"),
        ("sport = :70000", 9, "at most 65535"),
        ("dst 300.1.2.3", 5, "IPv4 or IPv6 address"),
        ("dst 2001:2::/129", 5, "0 to 128"),
        ("dst 198.18.0.0/33", 5, "0 to 32"),
        ("dst 10.0.0.0/33", 5, "prefix length"),
        ("dst != 10.0.0.1", 5, "`=` only"),
        ("state bogus", 7, "not a state"),
        ("state", 6, "needs a state name"),
        ("sport = :80 state established", 13, "before the expression"),
        ("sport", 6, "needs an address or port"),
        ("sport > *", 9, "port number"),
        ("sport=:80", 1, "spaces around"),
        ("( )", 3, "empty parentheses"),
        ("not", 4, "must follow `not`"),
        ("dev eth0", 1, "not supported"),
        ("dst unix:/tmp/x", 5, "IPv4 and IPv6 sockets only"),
    ];
    for (text, column, what) in cases {
        let e = err(text);
        assert_eq!(e.column, column, "{text}: {e}");
        assert!(e.message.contains(what), "{text}: {e}");
    }
    let deep = "( ".repeat(100) + "sport = :1" + &" )".repeat(100);
    assert!(err(&deep).message.contains("nested deeper"));
}

fn vocabulary() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "sport",
        "dport",
        "src",
        "dst",
        "=",
        "!=",
        "<",
        ">=",
        "gt",
        "and",
        "or",
        "not",
        "!",
        "(",
        ")",
        ":80",
        "80",
        "*",
        "198.18.0.1",
        "198.18.0.0/24",
        "10.0.0.1:7",
        "state",
        "exclude",
        "established",
        "all",
        "bogus",
        "&&",
        "||",
        ":http",
        "[198.18.0.2]:80",
    ])
    .prop_map(String::from)
}

proptest! {
    /// Any sequence of words parses or is refused with a column inside the text (+1 for "more
    /// expected"); never a panic.
    #[test]
    fn any_words_parse_or_name_a_column(ws in prop::collection::vec(vocabulary(), 0..12)) {
        let len = ws.join(" ").chars().count();
        match parse(&ws, &services) {
            Ok(filter) => {
                let (l, r) = http();
                let _ = filter.matches(l, r);
            }
            Err(e) => prop_assert!(e.column >= 1 && e.column <= len + 1, "{e} in {ws:?}"),
        }
    }

    /// `not not X` keeps what X keeps; `X or Y` what `Y or X` keeps.
    #[test]
    fn not_not_and_or_commute(p in 0u16..100, q in 0u16..100, lp in 0u16..100, rp in 0u16..100) {
        let (l, r) = (SocketAddr::new([198, 18, 0, 2].into(), lp), SocketAddr::new([198, 18, 0, 1].into(), rp));
        let x = format!("sport < :{p}");
        let y = format!("dport = :{q}");
        prop_assert_eq!(f(&format!("not not {x}")).matches(l, r), f(&x).matches(l, r));
        prop_assert_eq!(f(&format!("{x} or {y}")).matches(l, r), f(&format!("{y} or {x}")).matches(l, r));
        prop_assert_eq!(f(&format!("{x} or {y}")).matches(l, r), lp < p || rp == q);
    }
}
