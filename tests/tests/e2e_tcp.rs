//! End to end against the Linux kernel over TCP: the services of `ustack up` (HTTP on 80, echo
//! on 7, discard on 9, chargen on 19) driven by `curl`, `nc` and kernel sockets, and
//! `ustack connect` against a kernel listener. Each test has its own namespace.
//!
//! Needs root and /dev/net/tun; with `USTACK_REQUIRE_TUN=1` (CI) a missing capability fails.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use ustack_tests::e2e::{
    curl, output_text, pseudo_random, run_in, ustack_bin, Scratch, Up, STACK_ADDR,
};
use ustack_tests::integrity::sha256_hex;
use ustack_tests::netns::{tun_available, NetNs};

const MIB: usize = 1 << 20;

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
fn http_page_head_404_405_and_keep_alive() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("http");
    let up = Up::start(&ns, &[]);
    let (page, all) = curl(&ns, 20, &["-i", "http://198.18.0.2/"]);
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
    assert!(page.contains("served by <b>ustack</b>"), "{all}");
    assert!(page.contains("Content-Length: "), "{all}");
    assert!(page.contains("href=\"/stats\""), "{all}");

    let (head, all) = curl(&ns, 20, &["-I", "http://198.18.0.2/"]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
    assert!(head.contains("Content-Type: text/html"), "{all}");
    assert!(!head.contains("<html"), "{all}");

    let (code, all) = curl(
        &ns,
        20,
        &[
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "http://198.18.0.2/no/such/page",
        ],
    );
    assert_eq!(code, "404", "{all}");

    let (resp, all) = curl(
        &ns,
        20,
        &["-i", "-X", "POST", "-d", "x=1", "http://198.18.0.2/"],
    );
    assert!(resp.starts_with("HTTP/1.1 405 "), "{all}");
    assert!(resp.contains("Allow: GET, HEAD\r\n"), "{all}");

    // Two requests on one connection: curl reports one new connection, then none.
    let (connects, all) = curl(
        &ns,
        20,
        &[
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{num_connects}\n",
            "http://198.18.0.2/",
            "http://198.18.0.2/stats",
        ],
    );
    assert_eq!(connects, "200 1\n200 0\n", "{all}");

    // A malformed request gets a 400 and the connection closes.
    let reply = ns.run(|| {
        let mut s = connect(80);
        s.write_all(b"GET / HTTP/1.1 junk\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).map(|_| out)
    });
    let reply = reply.expect("reading the 400 to the end");
    assert!(reply.starts_with("HTTP/1.1 400 "), "{reply}");
    assert!(reply.contains("Connection: close\r\n"), "{reply}");
    up.stop();
}

#[test]
fn http_stats_lists_an_open_connection() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("stats");
    // Peers are listed only with --public-stats (e2e_http_hardening.rs checks the default).
    let up = Up::start(&ns, &["--public-stats"]);
    // Keep a connection to echo open while asking for /stats.
    let held = ns.run(|| {
        let mut s = connect(7);
        s.write_all(b"ping\n").unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping\n");
        s
    });
    let port = held.local_addr().unwrap().port();
    let (stats, all) = curl(&ns, 20, &["http://198.18.0.2/stats"]);
    let row = stats
        .lines()
        .find(|l| l.contains(&format!("198.18.0.1:{port} ")))
        .unwrap_or_else(|| panic!("no row for port {port}:\n{all}"));
    assert!(row.starts_with("ESTABLISHED "), "{row}\n{all}");
    assert!(row.contains("198.18.0.2:7 "), "{row}");
    assert!(stats.contains("SRTT"), "{all}");
    assert!(stats.contains("ip_rx_packets"), "{all}");
    let (json, all) = curl(&ns, 20, &["http://198.18.0.2/stats.json"]);
    assert!(json.contains("\"state\": \"ESTABLISHED\""), "{all}");
    assert!(
        json.contains(&format!("\"remote\": \"198.18.0.1:{port}\"")),
        "{all}"
    );
    drop(held);
    up.stop();
}

#[test]
fn http_root_serves_files_and_refuses_traversal() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("tcp", "root");
    let root = scratch.path("www");
    std::fs::create_dir_all(root.join("d")).unwrap();
    let blob = pseudo_random(300_000, 7);
    std::fs::write(root.join("d/blob.bin"), &blob).unwrap();
    std::fs::write(root.join("hello.txt"), "hello from a file\n").unwrap();
    std::fs::write(scratch.path("secret.txt"), "outside the root\n").unwrap();
    let ns = NetNs::new("httproot");
    let up = Up::start(&ns, &["--http-root", root.to_str().unwrap()]);
    let (head, all) = curl(&ns, 20, &["-i", "http://198.18.0.2/hello.txt"]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{all}");
    assert!(head.contains("Content-Type: text/plain"), "{all}");
    assert!(head.ends_with("\r\n\r\nhello from a file\n"), "{all}");
    let got = scratch.path("got.bin");
    curl(
        &ns,
        20,
        &["-o", got.to_str().unwrap(), "http://198.18.0.2/d/blob.bin"],
    );
    assert_eq!(sha256_hex(&std::fs::read(&got).unwrap()), sha256_hex(&blob));
    for (path, want) in [
        ("/../secret.txt", "400"),
        ("/d/%2e%2e/%2e%2e/secret.txt", "400"),
        ("/nothing.txt", "404"),
    ] {
        let url = format!("http://198.18.0.2{path}");
        let (code, all) = curl(
            &ns,
            20,
            &[
                "--path-as-is",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &url,
            ],
        );
        assert_eq!(code, want, "{path}: {all}");
    }
    up.stop();
}

#[test]
fn echo_10_mib_with_std_sockets() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("echo");
    let up = Up::start(&ns, &[]);
    let data = pseudo_random(10 * MIB, 0xec40);
    let want = sha256_hex(&data);
    let got = ns.run(move || {
        let s = connect(7);
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            w.write_all(&data)?;
            w.shutdown(Shutdown::Write)
        });
        let mut back = Vec::with_capacity(10 * MIB);
        let r = (&s).read_to_end(&mut back);
        let w = writer.join().unwrap();
        (r.map(|_| back), w)
    });
    let (back, wrote) = got;
    wrote.expect("writing 10 MiB to echo");
    let back = back.expect("reading the echo to the end");
    assert_eq!(back.len(), 10 * MIB);
    assert_eq!(sha256_hex(&back), want);
    up.stop();
}

#[test]
fn echo_10_mib_with_nc() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("tcp", "nc");
    let (input, output) = (scratch.path("in.bin"), scratch.path("out.bin"));
    let data = pseudo_random(10 * MIB, 0x0c0c);
    std::fs::write(&input, &data).unwrap();
    let ns = NetNs::new("echonc");
    let up = Up::start(&ns, &[]);
    let script = format!(
        "exec nc -N -w 20 198.18.0.2 7 < {} > {}",
        input.display(),
        output.display()
    );
    let out = run_in(&ns, "sh", &["-c", &script], Duration::from_secs(50));
    assert!(out.status.success(), "{}", output_text(&out));
    let back = std::fs::read(&output).unwrap();
    assert_eq!(back.len(), data.len());
    assert_eq!(sha256_hex(&back), sha256_hex(&data));
    up.stop();
}

#[test]
fn discard_takes_20_mib_and_closes_cleanly() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("discard");
    let up = Up::start(&ns, &[]);
    let r = ns.run(|| {
        let mut s = connect(9);
        let chunk = pseudo_random(MIB, 9);
        for _ in 0..20 {
            s.write_all(&chunk)?;
        }
        s.shutdown(Shutdown::Write)?;
        // Discard sends nothing; its FIN comes after it read everything.
        let mut rest = Vec::new();
        s.read_to_end(&mut rest)?;
        Ok::<usize, std::io::Error>(rest.len())
    });
    assert_eq!(r.expect("20 MiB to discard, then a clean close"), 0);
    up.stop();
}

/// The chargen stream's repeating cycle (RFC 864), built independently of the server's code.
fn chargen_cycle() -> Vec<u8> {
    let mut out = Vec::new();
    for line in 0..95u8 {
        for k in 0..72u8 {
            out.push(b' ' + (line + k) % 95);
        }
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[test]
fn chargen_20_mib_matches_the_pattern() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("chargen");
    let up = Up::start(&ns, &[]);
    let (checked, tail) = ns.run(|| {
        let cycle = chargen_cycle();
        let mut s = connect(19);
        let mut buf = vec![0u8; 256 << 10];
        let mut pos = 0usize;
        let check = |pos: usize, got: &[u8]| {
            for (i, &b) in got.iter().enumerate() {
                let want = cycle[(pos + i) % cycle.len()];
                assert_eq!(
                    b,
                    want,
                    "chargen byte {} is {b:#x}, want {want:#x}",
                    pos + i
                );
            }
        };
        while pos < 20 * MIB {
            let n = s.read(&mut buf).expect("reading chargen");
            assert!(n > 0, "chargen closed after {pos} bytes");
            check(pos, &buf[..n]);
            pos += n;
        }
        // Close our side; chargen stops and closes its side, the rest still follows the pattern.
        s.shutdown(Shutdown::Write).unwrap();
        let start = pos;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    check(pos, &buf[..n]);
                    pos += n;
                }
                Err(e) => panic!("chargen after our FIN: {e}"),
            }
            assert!(Instant::now() < deadline, "chargen did not close");
        }
        (pos, pos - start)
    });
    assert!(checked >= 20 * MIB);
    assert!(
        tail < 4 * MIB,
        "chargen went on for {tail} bytes after our FIN"
    );
    up.stop();
}

#[test]
fn ustack_connect_talks_both_ways_to_a_kernel_listener() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("tcp", "connect");
    let (input, output) = (scratch.path("in.bin"), scratch.path("out.bin"));
    let upload = pseudo_random(MIB + 12_345, 0xc0);
    std::fs::write(&input, &upload).unwrap();
    let ns = NetNs::new("connect");
    // Bound on the wildcard before ustack creates 198.18.0.1.
    let listener = ns.run(|| TcpListener::bind("0.0.0.0:0").expect("bind"));
    let port = listener.local_addr().unwrap().port();
    let greeting = pseudo_random(300_000, 0x9e);
    let trailer = b"bye\n".to_vec();
    let (g, t) = (greeting.clone(), trailer.clone());
    let server = std::thread::spawn(move || {
        let (mut s, peer) = listener.accept()?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        // Talk first, then read everything the client sends until its FIN, then answer and
        // close.
        s.write_all(&g)?;
        let mut got = Vec::new();
        s.read_to_end(&mut got)?;
        s.write_all(&t)?;
        s.shutdown(Shutdown::Write)?;
        Ok::<_, std::io::Error>((got, peer))
    });
    let bin = ustack_bin();
    let script = format!(
        "exec {} connect -v 198.18.0.1:{port} < {} > {}",
        bin.display(),
        input.display(),
        output.display()
    );
    let out = run_in(&ns, "sh", &["-c", &script], Duration::from_secs(40));
    assert!(out.status.success(), "{}", output_text(&out));
    let (got, peer) = server
        .join()
        .unwrap()
        .expect("kernel side of the connection");
    assert_eq!(peer.ip(), std::net::IpAddr::V4(STACK_ADDR));
    assert_eq!(got.len(), upload.len());
    assert_eq!(sha256_hex(&got), sha256_hex(&upload));
    let mut want = greeting;
    want.extend_from_slice(&trailer);
    let back = std::fs::read(&output).unwrap();
    assert_eq!(back.len(), want.len());
    assert_eq!(sha256_hex(&back), sha256_hex(&want));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("connected to 198.18.0.1"), "{err}");
}

#[test]
fn ustack_connect_reports_refused() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("refused");
    let bin = ustack_bin();
    let out = run_in(
        &ns,
        bin.to_str().unwrap(),
        &["connect", "-v", "198.18.0.1:9"],
        Duration::from_secs(30),
    );
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("refused"), "{}", output_text(&out));
}

#[test]
fn ustack_connect_to_kernel_nc_listen() {
    if !tun_available() {
        return;
    }
    let scratch = Scratch::new("tcp", "nclisten");
    let (from_nc, to_nc) = (scratch.path("from_nc.bin"), scratch.path("to_nc.bin"));
    let (from_stack, got_stack) = (
        scratch.path("from_stack.bin"),
        scratch.path("got_stack.bin"),
    );
    let kernel_data = pseudo_random(200_000, 0x4e);
    let stack_data = pseudo_random(300_000, 0x5f);
    std::fs::write(&from_nc, &kernel_data).unwrap();
    std::fs::write(&from_stack, &stack_data).unwrap();
    let ns = NetNs::new("nclisten");
    // netcat-openbsd listening on the wildcard (198.18.0.1 appears once ustack connect brings
    // its TUN up); -N half-closes after sending its stdin, as ustack connect does.
    let nc_script = format!(
        "exec nc -N -l 8090 < {} > {}",
        from_nc.display(),
        to_nc.display()
    );
    let mut cmd = ns.command("sh");
    cmd.args(["-c", &nc_script]);
    let mut nc = ustack_tests::netns::ChildGuard::spawn(cmd, "nc-listen");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ss = run_in(&ns, "ss", &["-ltn"], Duration::from_secs(5));
        if String::from_utf8_lossy(&ss.stdout).contains(":8090") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nc -l did not start listening"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let script = format!(
        "exec {} connect 198.18.0.1:8090 < {} > {}",
        ustack_bin().display(),
        from_stack.display(),
        got_stack.display()
    );
    let out = run_in(&ns, "sh", &["-c", &script], Duration::from_secs(40));
    assert!(out.status.success(), "{}", output_text(&out));
    let nc_status = loop {
        if let Some(s) = nc.try_wait() {
            break s;
        }
        assert!(
            std::time::Instant::now() < deadline + Duration::from_secs(20),
            "nc did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        nc_status.success(),
        "nc -l exited with {nc_status}: {}",
        nc.stderr()
    );
    let (at_nc, at_stack) = (
        std::fs::read(&to_nc).unwrap(),
        std::fs::read(&got_stack).unwrap(),
    );
    assert_eq!(
        at_nc.len(),
        stack_data.len(),
        "bytes nc received; ustack connect: {}",
        output_text(&out)
    );
    assert_eq!(sha256_hex(&at_nc), sha256_hex(&stack_data));
    assert_eq!(
        at_stack.len(),
        kernel_data.len(),
        "bytes ustack connect received: {}",
        output_text(&out)
    );
    assert_eq!(sha256_hex(&at_stack), sha256_hex(&kernel_data));
}
