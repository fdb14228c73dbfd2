//! The whole server — hyper, routing, files, ranges — over an in-memory pipe, no TUN needed.

use super::files::tests_support::tree;
use super::*;
use crate::services::guard::{Guarded, Limits, Progress, Transport};
use std::net::{Ipv4Addr, SocketAddrV4};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

impl Transport for DuplexStream {
    fn progress(&self) -> Option<Progress> {
        None
    }
}

/// One parsed response.
#[derive(Debug)]
struct Resp {
    status_line: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Splits what the server sent into responses (framed by Content-Length; `heads` lists which
/// ones answer HEAD, so have no body).
fn parse(mut raw: &[u8], heads: &[usize]) -> Vec<Resp> {
    let mut out = Vec::new();
    while !raw.is_empty() {
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(raw)));
        let head = String::from_utf8(raw[..end].to_vec()).unwrap();
        raw = &raw[end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap().to_string();
        let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(": ").unwrap();
                (n.to_string(), v.to_string())
            })
            .collect();
        let mut r = Resp {
            status_line,
            status,
            headers,
            body: Vec::new(),
        };
        if !heads.contains(&out.len()) {
            let len: usize = r.header("content-length").map_or(0, |v| v.parse().unwrap());
            r.body = raw[..len].to_vec();
            raw = &raw[len..];
        }
        out.push(r);
    }
    out
}

fn snapshot() -> pages::Snapshot {
    pages::Snapshot {
        addr: std::net::IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
        connections: Vec::new(),
        counts: (0, 0),
        stats: ustack::Stats::default(),
    }
}

fn site(root: Option<&Path>) -> Rc<Site> {
    Rc::new(
        Site::with_snapshot(
            root,
            std::net::IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
            Box::new(snapshot),
        )
        .unwrap(),
    )
}

fn peer() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(198, 18, 0, 1), 40000)
}

/// Sends `request` (then half-closes) and returns all the server sent until it closed.
async fn exchange(site: Rc<Site>, request: &[u8]) -> Vec<u8> {
    let (mut client, server) = tokio::io::duplex(1 << 20);
    let (io, _shared) = Guarded::new(
        server,
        std::net::SocketAddr::V4(peer()),
        Limits::default(),
        "http",
    );
    let client = async move {
        client.write_all(request).await.unwrap();
        client.shutdown().await.unwrap();
        let mut out = Vec::new();
        client.read_to_end(&mut out).await.unwrap();
        out
    };
    let ((), out) = tokio::join!(serve_io(io, std::net::SocketAddr::V4(peer()), site), client);
    out
}

async fn one(site: &Rc<Site>, request: &str) -> Resp {
    let heads: &[usize] = if request.starts_with("HEAD ") {
        &[0]
    } else {
        &[]
    };
    let mut rs = parse(&exchange(site.clone(), request.as_bytes()).await, heads);
    assert_eq!(rs.len(), 1, "{request:?}: {rs:?}");
    rs.remove(0)
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n")
}

#[tokio::test]
async fn builtin_pages_and_head() {
    let s = site(None);
    let r = one(&s, &get("/")).await;
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("Server"), Some("ustack"));
    assert!(r.header("Date").is_some());
    assert!(r.text().contains("served by <b>ustack</b>"));
    assert_eq!(
        r.header("Content-Length"),
        Some(r.body.len().to_string().as_str())
    );
    // The exact header names as sent (title case).
    assert!(
        r.headers.iter().any(|(n, _)| n == "Content-Length"),
        "{r:?}"
    );
    let h = one(&s, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n").await;
    assert_eq!(h.status, 200);
    assert_eq!(h.header("Content-Length"), r.header("Content-Length"));
    assert_eq!(h.header("Content-Type"), r.header("Content-Type"));
    let st = one(&s, &get("/stats?x=1")).await;
    assert_eq!(st.status, 200);
    assert!(st.text().contains("ip_rx_packets"), "{}", st.text());
    let js = one(&s, &get("/stats.json")).await;
    assert_eq!(js.header("Content-Type"), Some("application/json"));
    assert!(js.text().contains("\"connections\": []"), "{}", js.text());
    assert_eq!(one(&s, &get("/nope")).await.status, 404);
    // Absolute-form (RFC 9112 §3.2.2).
    let abs = one(
        &s,
        "GET http://198.18.0.2/stats HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(abs.text().contains("ip_rx_packets"));
}

#[tokio::test]
async fn methods_and_the_checks_we_keep() {
    let s = site(None);
    let r = one(
        &s,
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
    )
    .await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("GET, HEAD"));
    assert_eq!(r.header("Connection"), None, "405 keeps the connection");
    assert_eq!(
        one(&s, "FROB / HTTP/1.1\r\nHost: a\r\n\r\n").await.status,
        501
    );
    for bad in [
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    ] {
        let r = one(&s, bad).await;
        assert_eq!(r.status, 400, "{bad:?}");
        assert_eq!(r.header("Connection"), Some("close"), "{bad:?}");
    }
    // HTTP/1.0 needs no Host.
    let r = one(&s, "GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(r.status, 200);
    let long = format!(
        "GET /{} HTTP/1.1\r\nHost: a\r\n\r\n",
        "a".repeat(MAX_TARGET_TEST)
    );
    let r = one(&s, &long).await;
    assert_eq!(r.status, 414);
    assert_eq!(r.header("Connection"), Some("close"));
    let big = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 65537\r\n\r\n";
    let r = one(&s, big).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.header("Connection"), Some("close"));
    // A chunked body over the limit is caught while it is read.
    let mut chunked =
        String::from("PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    for _ in 0..5 {
        chunked.push_str(&format!("4000\r\n{}\r\n", "x".repeat(0x4000)));
    }
    chunked.push_str("0\r\n\r\n");
    assert_eq!(one(&s, &chunked).await.status, 413);
}

const MAX_TARGET_TEST: usize = route::MAX_TARGET;

#[tokio::test]
async fn what_hyper_answers_itself() {
    let s = site(None);
    for (req, want) in [
        ("GET / HTTP/1.1 junk\r\nHost: a\r\n\r\n".to_string(), 400),
        ("GET / HTTP/2.0\r\nHost: a\r\n\r\n".into(), 400),
        ("G(T / HTTP/1.1\r\nHost: a\r\n\r\n".into(), 400),
        ("GET / HTTP/1.1\r\nHost a\r\n\r\n".into(), 400),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
                "v".repeat(MAX_HEAD)
            ),
            431,
        ),
        (
            format!(
                "GET / HTTP/1.1\r\nHost: a\r\n{}\r\n",
                (0..MAX_FIELDS)
                    .map(|i| format!("X-{i}: v\r\n"))
                    .collect::<String>()
            ),
            431,
        ),
    ] {
        let out = exchange(s.clone(), req.as_bytes()).await;
        let rs = parse(&out, &[]);
        assert_eq!(rs.len(), 1, "{req:?}");
        assert_eq!(rs[0].status, want, "{req:?}: {rs:?}");
        assert_eq!(rs[0].header("Connection"), Some("close"), "{req:?}: {rs:?}");
    }
    // Just under the head limit passes.
    let fits = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
        "v".repeat(MAX_HEAD - 100)
    );
    assert_eq!(one(&s, &fits).await.status, 200);
}

#[tokio::test]
async fn keep_alive_and_pipelining() {
    let s = site(None);
    // A body that is read and dropped, a HEAD, then two GETs, all on one connection.
    let reqs = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
                HEAD / HTTP/1.1\r\nHost: a\r\n\r\n\
                GET /stats HTTP/1.1\r\nHost: a\r\n\r\n\
                GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n\
                GET /never HTTP/1.1\r\nHost: a\r\n\r\n";
    let rs = parse(&exchange(s.clone(), reqs.as_bytes()).await, &[1]);
    let statuses: Vec<u16> = rs.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [405, 200, 200, 200], "{rs:?}");
    assert_eq!(rs[3].header("Connection"), Some("close"));
    // HTTP/1.0 keeps the connection only when asked.
    let reqs = "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n";
    let rs = parse(&exchange(s.clone(), reqs.as_bytes()).await, &[]);
    assert_eq!(rs.len(), 2, "{rs:?}");
    assert!(rs[0].status_line.starts_with("HTTP/1."), "{rs:?}");
}

#[tokio::test]
async fn files_ranges_and_redirects() {
    let (base, root) = tree("serve");
    let s = site(Some(&root));
    let r = one(&s, &get("/a.txt")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"hello");
    assert_eq!(r.header("Content-Type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("Accept-Ranges"), Some("bytes"));
    let lm = r.header("Last-Modified").unwrap().to_string();
    assert!(lm.ends_with(" GMT"), "{lm}");
    let r = one(&s, &get("/sub%20dir/pic.PNG")).await;
    assert_eq!(r.header("Content-Type"), Some("image/png"));
    let r = one(&s, &get("/sub%20dir/")).await;
    assert_eq!(r.text(), "<p>sub</p>");
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    // No index.html at the root: the built-in page.
    assert!(one(&s, &get("/")).await.text().contains("served by"));
    let r = one(&s, &get("/sub%20dir?q=1")).await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("Location"), Some("/sub%20dir/?q=1"));
    for (path, want) in [
        ("/../secret", 400),
        ("/%2e%2e/secret", 400),
        ("/sub%20dir/%2E%2E/%2e%2e/secret", 400),
        ("/a%2fb", 400),
        ("/a%00", 400),
        ("/link", 404),
        ("/dirlink/secret", 404),
        ("/missing", 404),
        ("/empty/", 404),
    ] {
        assert_eq!(one(&s, &get(path)).await.status, want, "{path}");
    }
    let ranged = |range: &str| format!("GET /a.txt HTTP/1.1\r\nHost: a\r\nRange: {range}\r\n\r\n");
    let r = one(&s, &ranged("bytes=1-3")).await;
    assert_eq!(r.status, 206);
    assert_eq!(r.body, b"ell");
    assert_eq!(r.header("Content-Range"), Some("bytes 1-3/5"));
    assert_eq!(r.header("Content-Length"), Some("3"));
    assert_eq!(one(&s, &ranged("bytes=-2")).await.body, b"lo");
    assert_eq!(one(&s, &ranged("bytes=3-")).await.body, b"lo");
    let r = one(&s, &ranged("bytes=5-")).await;
    assert_eq!(r.status, 416);
    assert_eq!(r.header("Content-Range"), Some("bytes */5"));
    // Ignored: malformed, several ranges, another unit.
    for v in ["bytes=3-1", "bytes=0-1,3-4", "lines=1-2", "bytes=x"] {
        let r = one(&s, &ranged(v)).await;
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]), "{v}");
    }
    // If-Range: the range only if the file is the one the client has.
    let cond = |v: &str| {
        format!("GET /a.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=1-1\r\nIf-Range: {v}\r\n\r\n")
    };
    assert_eq!(one(&s, &cond(&lm)).await.status, 206);
    assert_eq!(
        one(&s, &cond("Thu, 01 Jan 1970 00:00:00 GMT")).await.status,
        200
    );
    assert_eq!(one(&s, &cond("\"etag\"")).await.status, 200);
    assert_eq!(one(&s, &cond("not a date")).await.status, 200);
    // The same second in asctime form (RFC 9110 §5.6.7) is the same date.
    let f: Vec<&str> = lm.split(' ').collect();
    let day = f[1].trim_start_matches('0');
    let asctime = format!("{} {} {day:>2} {} {}", &f[0][..3], f[2], f[4], f[3]);
    assert_eq!(one(&s, &cond(&asctime)).await.status, 206, "{asctime}");
    // HEAD ignores Range and has the full length.
    let h = one(
        &s,
        "HEAD /a.txt HTTP/1.1\r\nHost: a\r\nRange: bytes=0-0\r\n\r\n",
    )
    .await;
    assert_eq!((h.status, h.header("Content-Length")), (200, Some("5")));
    let _ = std::fs::remove_dir_all(&base);
}

#[tokio::test]
async fn a_large_file_streams_whole_and_in_parts() {
    let (base, root) = tree("large");
    let data: Vec<u8> = (0..(body::CHUNK * 5 + 123))
        .map(|i| (i * 7 % 256) as u8)
        .collect();
    std::fs::write(root.join("big.bin"), &data).unwrap();
    let s = site(Some(&root));
    let r = one(&s, &get("/big.bin")).await;
    assert_eq!(r.status, 200);
    assert!(r.body == data, "the whole file, byte for byte");
    let n = data.len();
    let req = format!(
        "GET /big.bin HTTP/1.1\r\nHost: a\r\nRange: bytes={}-\r\n\r\n",
        n / 3
    );
    let r = one(&s, &req).await;
    assert_eq!(r.status, 206);
    assert!(r.body == data[n / 3..], "the tail from a third on");
    let _ = std::fs::remove_dir_all(&base);
}

/// A connection from `peer` to our port `local_port`, for `/stats` snapshots.
fn conn(local_port: u16, peer: SocketAddrV4, state: ustack::tcp::State) -> ustack::tcp::TcpInfo {
    ustack::tcp::TcpInfo {
        state,
        local: std::net::SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::new(198, 18, 0, 2),
            local_port,
        )),
        remote: std::net::SocketAddr::V4(peer),
        srtt: None,
        rttvar: None,
        rto: ustack::Duration::from_micros(200_000),
        cwnd: 14600,
        ssthresh: usize::MAX,
        bytes_in_flight: 0,
        snd_wnd: 65535,
        rcv_wnd: 65535,
        smss: 1460,
        snd_mss: 1460,
        in_recovery: false,
        send_queue: 0,
        recv_queue: 0,
        stats: ustack::tcp::ConnStats::default(),
        congestion: "newreno",
        last_send: None,
        last_recv: None,
        rcv_mss: 1460,
        snd_wscale: 0,
        rcv_wscale: 0,
        timestamps: false,
        sack: false,
        orphaned: false,
    }
}

/// A table of `n` established connections from 10.x.y.z:5000+i, and one from 203.0.113.7:4242.
fn crowded(n: usize) -> pages::Snapshot {
    use ustack::tcp::State;
    let mut connections: Vec<_> = (0..n)
        .map(|i| {
            let ip = Ipv4Addr::from(0x0a00_0000 + i as u32);
            conn(
                80,
                SocketAddrV4::new(ip, 5000 + i as u16),
                State::Established,
            )
        })
        .collect();
    let peer = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 7), 4242);
    connections.insert(0, conn(7, peer, State::TimeWait));
    pages::Snapshot {
        counts: (connections.len(), 0),
        connections,
        ..snapshot()
    }
}

#[tokio::test]
async fn stats_name_no_peer_unless_public_and_stay_bounded() {
    let quiet = || Box::new(|| crowded(4000)) as Box<dyn Fn() -> pages::Snapshot>;
    let addr = Ipv4Addr::new(198, 18, 0, 2);
    let private = Rc::new(Site::with_snapshot(None, std::net::IpAddr::V4(addr), quiet()).unwrap());
    let text = one(&private, &get("/stats")).await.text();
    let json = one(&private, &get("/stats.json")).await.text();
    for page in [&text, &json] {
        assert!(!page.contains("203.0.113.7"), "{page}");
        assert!(!page.contains("4242"), "{page}");
        assert!(!page.contains("10.0.0.1"), "a peer listed");
        // Our side, the summary and the counters are there.
        assert!(page.contains("198.18.0.2:7"), "{page}");
        assert!(page.contains("ip_rx_packets"), "{page}");
        // 4,001 connections: at most MAX_ROWS rows, the rest counted.
        assert!(page.len() < 100 << 10, "{} bytes", page.len());
    }
    assert!(
        text.contains("by state: ESTABLISHED 4000, TIME-WAIT 1"),
        "{text}"
    );
    assert!(text.contains("peer addresses hidden"), "{text}");
    let left_out = 4001 - pages::MAX_ROWS;
    assert!(
        text.contains(&format!("... and {left_out} more not listed")),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["peer_addresses"], false);
    assert_eq!(v["states"]["ESTABLISHED"], 4000);
    assert_eq!(v["states"]["TIME-WAIT"], 1);
    assert_eq!(v["connections_not_listed"], left_out as u64);
    let rows = v["connections"].as_array().unwrap();
    assert_eq!(rows.len(), pages::MAX_ROWS);
    assert!(rows.iter().all(|r| r.get("remote").is_none()), "{json}");

    let public = Rc::new(
        Site::with_snapshot(None, std::net::IpAddr::V4(addr), quiet())
            .unwrap()
            .public_stats(true),
    );
    let text = one(&public, &get("/stats")).await.text();
    let json = one(&public, &get("/stats.json")).await.text();
    for page in [&text, &json] {
        assert!(page.contains("203.0.113.7:4242"), "{page}");
    }
    assert!(text.contains("REMOTE"), "{text}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["peer_addresses"], true);
    assert_eq!(v["connections"][0]["remote"], "203.0.113.7:4242");
}

/// A site whose `/stats` snapshots are counted.
fn counting_site() -> (Rc<Site>, Rc<std::cell::Cell<u64>>) {
    let taken = Rc::new(std::cell::Cell::new(0u64));
    let t = taken.clone();
    let take = Box::new(move || {
        t.set(t.get() + 1);
        crowded(100)
    });
    let s = Site::with_snapshot(
        None,
        std::net::IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)),
        take,
    )
    .unwrap();
    (Rc::new(s), taken)
}

/// Uses only what the server had before the cache, so it fails on the old code: there, every
/// request took a snapshot and rendered it.
#[tokio::test]
async fn rapid_stats_requests_take_a_snapshot_at_most_once_a_second() {
    let (s, taken) = counting_site();
    let started = std::time::Instant::now();
    for _ in 0..100 {
        assert_eq!(one(&s, &get("/stats")).await.status, 200);
        assert_eq!(one(&s, &get("/stats.json")).await.status, 200);
    }
    // Not a timing assertion: whatever the machine's speed, each format may be rendered
    // once per second that passed (plus the first).
    let periods = started.elapsed().as_secs() + 1;
    assert!(
        taken.get() <= 2 * periods,
        "{} snapshots for 200 requests in {periods} s",
        taken.get()
    );
}

#[tokio::test]
async fn stats_cache_period_on_an_injected_clock() {
    let (s, taken) = counting_site();
    let now = Rc::new(std::cell::Cell::new(std::time::Instant::now()));
    let n = now.clone();
    let s = Rc::new(
        Rc::try_unwrap(s)
            .unwrap()
            .with_clock(Box::new(move || n.get())),
    );
    let body = |r: Resp| r.body;
    let first = body(one(&s, &get("/stats")).await);
    for _ in 0..50 {
        assert_eq!(body(one(&s, &get("/stats")).await), first);
        one(&s, &get("/stats.json")).await;
        one(&s, "HEAD /stats HTTP/1.1\r\nHost: a\r\n\r\n").await;
    }
    assert_eq!((taken.get(), s.stats_renders()), (2, 2));
    now.set(now.get() + cache::STATS_PERIOD - std::time::Duration::from_millis(1));
    one(&s, &get("/stats")).await;
    assert_eq!(taken.get(), 2, "still within the period");
    now.set(now.get() + std::time::Duration::from_millis(1));
    for _ in 0..50 {
        one(&s, &get("/stats")).await;
    }
    assert_eq!((taken.get(), s.stats_renders()), (3, 3));
}
