//! TCP under load and under attack, end to end against the Linux kernel: 200 concurrent echo
//! connections, 2,000 sequential connect/transfer/close cycles, 10 MiB each way under loss and
//! reordering in both directions (`tc netem` on the kernel side, the stack's fault injector on
//! the other), and a 20,000-SYN flood that must not stop a concurrent `curl`.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpStream};
use std::time::{Duration, Instant};
use ustack_tests::e2e::{
    counter, pseudo_random, raw_send, raw_socket, rss_kib, run_in, Up, STACK_ADDR,
};
use ustack_tests::integrity::sha256_hex;
use ustack_tests::netns::{tun_available, NetNs};

/// Sends `data` to the echo service and reads it back, writing and reading concurrently.
fn echo_roundtrip(data: Vec<u8>, timeout: Duration) -> Vec<u8> {
    let stream = TcpStream::connect_timeout(&SocketAddrV4::new(STACK_ADDR, 7).into(), timeout)
        .expect("connect to echo");
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.set_write_timeout(Some(timeout)).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        writer.write_all(&data).expect("write to echo");
        writer.shutdown(Shutdown::Write).expect("shutdown");
    });
    let mut got = Vec::new();
    (&stream).read_to_end(&mut got).expect("read echo");
    sender.join().unwrap();
    got
}

#[test]
fn two_hundred_concurrent_echo_connections() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("conc200");
    let up = Up::start(&ns, &[]);
    let failures = ns.run(|| {
        let threads: Vec<_> = (0..200u64)
            .map(|i| {
                std::thread::spawn(move || {
                    let data = pseudo_random(16 * 1024 + i as usize * 37, i + 1);
                    let want = sha256_hex(&data);
                    let got = echo_roundtrip(data, Duration::from_secs(60));
                    sha256_hex(&got) == want
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap_or(false))
            .filter(|ok| !ok)
            .count()
    });
    assert_eq!(
        failures, 0,
        "{failures} of 200 concurrent echo connections failed"
    );
    let counters = up.stop();
    assert!(counter(&counters, "tcp_passive_opens") >= 200, "{counters}");
}

#[test]
fn two_thousand_sequential_connections() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("seq2000");
    let up = Up::start(&ns, &[]);
    let (ok, elapsed) = ns.run(|| {
        let start = Instant::now();
        let mut ok = 0;
        for i in 0..2000u64 {
            let data = pseudo_random(1024, i + 1);
            let got = echo_roundtrip(data.clone(), Duration::from_secs(10));
            if got == data {
                ok += 1;
            } else {
                eprintln!("cycle {i}: echo returned {} bytes", got.len());
            }
        }
        (ok, start.elapsed())
    });
    assert_eq!(ok, 2000, "only {ok} of 2000 cycles succeeded");
    eprintln!("2000 connect/transfer/close cycles in {elapsed:?}");
    let counters = up.stop();
    assert!(
        counter(&counters, "tcp_passive_opens") >= 2000,
        "{counters}"
    );
}

/// Whether this kernel can attach a netem qdisc (probed on a scratch TUN in a scratch namespace).
fn netem_available() -> bool {
    let ns = NetNs::new("netemprobe");
    let add = run_in(
        &ns,
        "ip",
        &["tuntap", "add", "dev", "probe0", "mode", "tun"],
        Duration::from_secs(5),
    );
    assert!(
        add.status.success(),
        "ip tuntap add: {}",
        String::from_utf8_lossy(&add.stderr)
    );
    let tc = run_in(
        &ns,
        "tc",
        &[
            "qdisc", "add", "dev", "probe0", "root", "netem", "loss", "1%",
        ],
        Duration::from_secs(5),
    );
    tc.status.success()
}

#[test]
fn ten_mib_each_way_under_loss_and_reordering() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("lossy");
    // Kernel → stack: `tc netem` on the TUN where the kernel has it (CONFIG_NET_SCH_NETEM);
    // otherwise the bridge's inbound fault injector does the same job before the stack sees the
    // packets. Stack → kernel: the bridge's outbound fault injector. 5% loss and reordering.
    let netem = netem_available();
    let mut args = vec![
        "--fault-loss",
        "5",
        "--fault-reorder",
        "5",
        "--fault-seed",
        "7",
    ];
    if !netem {
        eprintln!("note: this kernel has no netem; injecting kernel→stack faults in the bridge");
        args.extend(["--fault-in-loss", "5", "--fault-in-reorder", "5"]);
    }
    let up = Up::start(&ns, &args);
    if netem {
        let out = run_in(
            &ns,
            "tc",
            &[
                "qdisc", "add", "dev", "ustack0", "root", "netem", "delay", "1ms", "loss", "5%",
                "reorder", "25%", "50%",
            ],
            Duration::from_secs(10),
        );
        assert!(
            out.status.success(),
            "tc netem: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (sent, got) = ns.run(|| {
        let data = pseudo_random(10 << 20, 99);
        let got = echo_roundtrip(data.clone(), Duration::from_secs(120));
        (sha256_hex(&data), sha256_hex(&got))
    });
    assert_eq!(sent, got, "10 MiB through echo under loss differ");
    let counters = up.stop();
    assert!(counter(&counters, "ip_rx_packets") > 7000, "{counters}");
}

#[test]
fn syn_flood_does_not_stop_curl() {
    use ustack::wire::tcp::{Control, SeqNumber, TcpOptions, TcpRepr};
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("synflood");
    let up = Up::start(&ns, &[]);
    let pid = up.child.pid();
    let rss_before = rss_kib(pid);
    // 20,000 SYNs over about two seconds from addresses on the link that do not exist (their
    // SYN-ACKs go nowhere, so half-open connections pile up as in a real flood); half a second
    // in, curl fetches the page. Threads and processes started from the namespace thread stay
    // in the namespace.
    let (code, curl_err) = ns.run(|| {
        let flood = std::thread::spawn(|| {
            let fd = raw_socket();
            let mut pkt = [0u8; 60];
            for i in 0..20_000u32 {
                let src = Ipv4Addr::new(198, 18, 0, 100 + (i % 100) as u8);
                let repr = TcpRepr {
                    src_port: 1024 + (i % 60000) as u16,
                    dst_port: 80,
                    seq: SeqNumber(i.wrapping_mul(2_654_435_761)),
                    ack: None,
                    control: Control::Syn,
                    psh: false,
                    window: 64240,
                    options: TcpOptions {
                        mss: Some(1460),
                        ..TcpOptions::default()
                    },
                };
                let tcp_len = repr.emit(&mut pkt[20..], src, STACK_ADDR, 0);
                ustack::wire::ipv4::Ipv4Repr {
                    src,
                    dst: STACK_ADDR,
                    protocol: 6,
                    ttl: 64,
                    ident: i as u16,
                    dont_fragment: true,
                    more_fragments: false,
                    frag_offset: 0,
                    payload_len: tcp_len,
                }
                .emit(&mut pkt);
                raw_send(&fd, STACK_ADDR, &pkt[..20 + tcp_len]);
                if i % 100 == 99 {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        });
        std::thread::sleep(Duration::from_millis(500));
        let curl = std::process::Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "20",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .arg("http://198.18.0.2/")
            .output()
            .expect("curl must be installed");
        let flood_running = !flood.is_finished();
        flood.join().unwrap();
        assert!(
            flood_running,
            "the flood ended before curl finished: not concurrent"
        );
        (
            String::from_utf8_lossy(&curl.stdout).into_owned(),
            String::from_utf8_lossy(&curl.stderr).into_owned(),
        )
    });
    assert_eq!(code, "200", "curl during SYN flood: {code} {curl_err}");
    let rss_after = rss_kib(pid);
    assert!(
        rss_after < rss_before + 64 * 1024,
        "resident memory grew from {rss_before} KiB to {rss_after} KiB under a SYN flood"
    );
    let counters = up.stop();
    assert!(
        counter(&counters, "tcp_syncookies_sent") > 10_000,
        "{counters}"
    );
}
