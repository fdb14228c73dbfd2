//! End to end against the Linux kernel: the HTTP service of `ustack up` (hyper on the loop
//! thread) driven by `curl` and kernel sockets inside a namespace of its own per test — pages,
//! HEAD, `/stats.json`, files from `--http-root` (integrity, traversal), `Range` and `curl -C -`,
//! the directory redirect, the access log, keep-alive, the header limit and a slow reader.
//!
//! Needs root and /dev/net/tun; with `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use ustack_tests::e2e::{curl, pseudo_random, Scratch, Up, STACK_ADDR};
use ustack_tests::integrity::sha256_hex;
use ustack_tests::netns::{tun_available, NetNs};

const MIB: usize = 1 << 20;
const BASE: &str = "http://198.18.0.2";

/// The status code curl saw for `url` (with extra `args`), the body thrown away.
fn code(ns: &NetNs, args: &[&str], url: &str) -> String {
    let mut all = vec!["-o", "/dev/null", "-w", "%{http_code}"];
    all.extend_from_slice(args);
    all.push(url);
    curl(ns, 30, &all).0
}

/// `www/` with `hello.txt`, `d/index.html`, and a `big.bin` of `big` pseudo-random bytes.
fn site(scratch: &Scratch, big: usize) -> (PathBuf, Vec<u8>) {
    let www = scratch.path("www");
    std::fs::create_dir_all(www.join("d")).unwrap();
    std::fs::write(www.join("hello.txt"), "hello from a file\n").unwrap();
    std::fs::write(www.join("d/index.html"), "<p>the d index</p>\n").unwrap();
    let data = pseudo_random(big, 11);
    std::fs::write(www.join("big.bin"), &data).unwrap();
    (www, data)
}

fn up_with_root(ns: &NetNs, root: &Path) -> Up {
    Up::start(ns, &["--http-root", root.to_str().unwrap()])
}

/// Waits up to `limit` for `pred` on the server's stderr; returns whether it came.
fn wait_stderr(up: &Up, limit: Duration, pred: impl Fn(&str) -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if pred(&up.child.stderr()) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect_timeout(
        &SocketAddrV4::new(STACK_ADDR, port).into(),
        Duration::from_secs(5),
    )
    .unwrap_or_else(|e| panic!("connect to port {port}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

#[test]
fn get_head_stats_json_and_the_access_log() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("http-pages");
    let up = Up::start(&ns, &[]);
    let (page, all) = curl(&ns, 30, &["-i", &format!("{BASE}/")]);
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
    assert!(page.contains("Server: ustack\r\n"), "{all}");
    assert!(page.contains("served by <b>ustack</b>"), "{all}");
    let len = page
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap_or_else(|| panic!("no Content-Length: {all}"))
        .trim()
        .to_string();
    let (head, all) = curl(&ns, 30, &["-I", &format!("{BASE}/")]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
    assert!(
        head.contains(&format!("Content-Length: {len}\r\n")),
        "{all}"
    );
    assert!(!head.contains("<html"), "{all}");

    let (json, all) = curl(&ns, 30, &[&format!("{BASE}/stats.json")]);
    let v: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("/stats.json: {e}\n{all}"));
    assert_eq!(v["addr"], "198.18.0.2", "{json}");
    let conns = v["connections"].as_array().expect("connections array");
    // At least the connection asking for it.
    assert!(
        conns.iter().any(|c| c["local"] == "198.18.0.2:80"),
        "{json}"
    );
    assert!(
        v["counters"]["ip_rx_packets"].as_u64().unwrap() > 0,
        "{json}"
    );

    // One Common Log Format line per request, on stderr.
    let want_get = format!("\"GET / HTTP/1.1\" 200 {len}");
    let got = wait_stderr(&up, Duration::from_secs(5), |e| {
        e.contains(&want_get) && e.contains("\"HEAD / HTTP/1.1\" 200 -")
    });
    let stderr = up.child.stderr();
    assert!(got, "no access lines:\n{stderr}");
    let line = stderr.lines().find(|l| l.contains(&want_get)).unwrap();
    let clf = &line[line.find("198.18.0.1 - - [").expect("CLF host field")..];
    // 198.18.0.1 - - [dd/Mon/yyyy:hh:mm:ss +0000] "GET / HTTP/1.1" 200 N
    let date = &clf[16..16 + 26];
    assert!(
        date.ends_with(" +0000") && date.as_bytes()[2] == b'/',
        "{clf}"
    );
    assert_eq!(&clf[16 + 26..], format!("] {want_get}"), "{clf}");
    up.stop();
}

#[test]
fn files_integrity_types_and_traversal() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("http", "files");
    let (www, big) = site(&scratch, 8 * MIB + 12345);
    std::fs::write(scratch.path("secret.txt"), "outside the root\n").unwrap();
    std::os::unix::fs::symlink(scratch.path("secret.txt"), www.join("out")).unwrap();
    let ns = NetNs::new("http-files");
    let up = up_with_root(&ns, &www);
    let got = scratch.path("got.bin");
    let (ctype, all) = curl(
        &ns,
        30,
        &[
            "-o",
            got.to_str().unwrap(),
            "-w",
            "%{content_type}",
            &format!("{BASE}/big.bin"),
        ],
    );
    assert_eq!(ctype, "application/octet-stream", "{all}");
    let got = std::fs::read(&got).unwrap();
    assert_eq!(got.len(), big.len());
    assert_eq!(sha256_hex(&got), sha256_hex(&big));
    let (hello, all) = curl(&ns, 30, &["-i", &format!("{BASE}/hello.txt")]);
    assert!(hello.contains("Content-Type: text/plain"), "{all}");
    assert!(hello.contains("Accept-Ranges: bytes\r\n"), "{all}");
    assert!(hello.ends_with("\r\n\r\nhello from a file\n"), "{all}");
    for (path, want) in [
        ("/../secret.txt", "400"),
        ("/d/%2e%2e/%2e%2e/secret.txt", "400"),
        ("/a%2f..%2fsecret.txt", "400"),
        ("/a%00b", "400"),
        ("/out", "404"),
        ("/nothing.txt", "404"),
    ] {
        let c = code(&ns, &["--path-as-is"], &format!("{BASE}{path}"));
        assert_eq!(c, want, "{path}");
    }
    up.stop();
}

#[test]
fn ranges_and_curl_resume() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("http", "range");
    let (www, big) = site(&scratch, 3 * MIB + 777);
    let ns = NetNs::new("http-range");
    let up = up_with_root(&ns, &www);
    let url = format!("{BASE}/big.bin");
    let (part, all) = curl(&ns, 30, &["-i", "-r", "100-199", &url]);
    assert!(
        part.starts_with("HTTP/1.1 206 Partial Content\r\n"),
        "{all}"
    );
    let range = format!("Content-Range: bytes 100-199/{}\r\n", big.len());
    assert!(part.contains(&range), "{all}");
    assert!(part.contains("Content-Length: 100\r\n"), "{all}");
    let tail = scratch.path("tail.bin");
    let (c, all) = curl(
        &ns,
        30,
        &[
            "-o",
            tail.to_str().unwrap(),
            "-w",
            "%{http_code}",
            "-r",
            "-10",
            &url,
        ],
    );
    assert_eq!(c, "206", "{all}");
    assert_eq!(std::fs::read(&tail).unwrap(), &big[big.len() - 10..]);
    assert_eq!(code(&ns, &["-r", "99999999-"], &url), "416");
    // A download cut off after 1 MiB, resumed with `curl -C -`: the identical file.
    let file = scratch.path("resumed.bin");
    std::fs::write(&file, &big[..MIB]).unwrap();
    let (c, all) = curl(
        &ns,
        30,
        &[
            "-C",
            "-",
            "-o",
            file.to_str().unwrap(),
            "-w",
            "%{http_code} %{size_download}",
            &url,
        ],
    );
    assert_eq!(c, format!("206 {}", big.len() - MIB), "{all}");
    assert_eq!(sha256_hex(&std::fs::read(&file).unwrap()), sha256_hex(&big));
    let ok = wait_stderr(&up, Duration::from_secs(5), |e| {
        e.contains(&format!(
            "\"GET /big.bin HTTP/1.1\" 206 {}",
            big.len() - MIB
        ))
    });
    assert!(ok, "no access line for the resume:\n{}", up.child.stderr());
    up.stop();
}

#[test]
fn directory_redirect_and_keep_alive() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("http", "dir");
    let (www, _) = site(&scratch, 1000);
    let ns = NetNs::new("http-dir");
    let up = up_with_root(&ns, &www);
    let (resp, all) = curl(&ns, 30, &["-i", &format!("{BASE}/d?x=1")]);
    assert!(resp.starts_with("HTTP/1.1 301 "), "{all}");
    assert!(resp.contains("Location: /d/?x=1\r\n"), "{all}");
    let (page, all) = curl(
        &ns,
        30,
        &["-L", "-w", "%{content_type}", &format!("{BASE}/d")],
    );
    assert_eq!(
        page, "<p>the d index</p>\ntext/html; charset=utf-8",
        "{all}"
    );
    // Two requests, one connection: curl reports one new connection, then none.
    let (connects, all) = curl(
        &ns,
        30,
        &[
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{num_connects}\n",
            &format!("{BASE}/hello.txt"),
            &format!("{BASE}/big.bin"),
        ],
    );
    assert_eq!(connects, "200 1\n200 0\n", "{all}");
    up.stop();
}

/// Sends `request` on a fresh connection and reads until the server closes.
fn raw_exchange(request: Vec<u8>) -> String {
    let mut s = connect(80);
    s.write_all(&request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn header_size_limit() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("http-hdr");
    let up = Up::start(&ns, &[]);
    let request = |value_len: usize, close: bool| {
        let c = if close { "Connection: close\r\n" } else { "" };
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\n{c}X-Big: {}\r\n\r\n",
            "v".repeat(value_len)
        )
        .into_bytes()
    };
    let (small, large) = (request(20 << 10, true), request(30 << 10, false));
    let (ok, refused) = ns.run(move || (raw_exchange(small), raw_exchange(large)));
    assert!(
        ok.starts_with("HTTP/1.1 200 OK\r\n"),
        "{}",
        &ok[..ok.len().min(300)]
    );
    assert!(
        refused.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{refused}"
    );
    assert!(refused.contains("Connection: close\r\n"), "{refused}");
    up.stop();
}

/// A kernel TCP client with a tiny receive buffer (set before connecting, so the window it
/// offers stays small).
fn tiny_window_client(port: u16) -> TcpStream {
    use std::os::fd::FromRawFd;
    // SAFETY: socket(2) takes no pointers; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: fd is ours and open; nobody else owns it.
    let s = unsafe { TcpStream::from_raw_fd(fd) };
    let size: libc::c_int = 2048;
    // SAFETY: `size` outlives the call and its length is given.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVBUF: {}", std::io::Error::last_os_error());
    // SAFETY: sockaddr_in is plain old data; all-zero is a valid value.
    let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sa.sin_family = libc::AF_INET as libc::sa_family_t;
    sa.sin_port = port.to_be();
    sa.sin_addr.s_addr = u32::from_ne_bytes(STACK_ADDR.octets());
    // SAFETY: `sa` is valid for the length given for the duration of the call.
    let rc = unsafe {
        libc::connect(
            fd,
            (&sa as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "connect: {}", std::io::Error::last_os_error());
    s
}

#[test]
fn a_reader_that_stops_is_aborted_and_others_are_served_meanwhile() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("http", "slow");
    let (www, big) = site(&scratch, 8 * MIB);
    let ns = NetNs::new("http-slow");
    let up = up_with_root(&ns, &www);
    let started = Instant::now();
    // Ask for 8 MiB, read the first bytes, then stop reading.
    let mut slow = ns.run(|| {
        let mut s = tiny_window_client(80);
        s.write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut first = [0u8; 64];
        s.read_exact(&mut first).unwrap();
        assert!(first.starts_with(b"HTTP/1.1 200 OK\r\n"));
        s
    });
    // The loop is not held up: another client is served while the slow one stalls.
    let (hello, all) = curl(&ns, 30, &[&format!("{BASE}/hello.txt")]);
    assert_eq!(hello, "hello from a file\n", "{all}");
    // Cut by the rate bound (1 KiB/s after a 10 s grace) well before the 30 s stall bound.
    let aborted = wait_stderr(&up, Duration::from_secs(45), |e| {
        e.contains("aborting the response")
    });
    assert!(
        aborted,
        "the slow reader was not cut:\n{}",
        up.child.stderr()
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(10),
        "cut before the grace: {took:?}"
    );
    // What the client can still read ends in a reset (or EOF) long before the whole file.
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut total = 0usize;
    let mut buf = vec![0u8; 64 << 10];
    let end = loop {
        match slow.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => total += n,
            Err(e) => break Some(e.kind()),
        }
    };
    assert!(total < big.len() / 2, "read {total} of {}", big.len());
    assert!(
        matches!(end, None | Some(std::io::ErrorKind::ConnectionReset)),
        "{end:?}"
    );
    // The access line says what was handed over: less than the file.
    let stderr = up.child.stderr();
    let line = stderr
        .lines()
        .find(|l| l.contains("\"GET /big.bin HTTP/1.1\" 200 "))
        .unwrap_or_else(|| panic!("no access line:\n{stderr}"));
    let sent: usize = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(sent < big.len(), "{line}");
    up.stop();
}
