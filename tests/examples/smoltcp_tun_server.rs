//! The benchmark rival on a real TUN: a smoltcp `Interface` (Medium::Ip) serving TCP discard
//! (port 9) and a chargen-like source (port 19), as `ustack up` does, so `scripts/bench-tun.sh`
//! can time the same kernel-side transfers against both stacks.
//!
//! Usage (inside a network namespace; the script does the host-side `ip` setup):
//! `smoltcp_tun_server [TUN_NAME] [ADDR]` — defaults `ustack0`, `198.18.0.2`.

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{wait, Device, Medium, TunTapInterface};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use std::os::fd::AsRawFd;

const BUFFER: usize = 256 * 1024;

fn tcp_socket() -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; BUFFER]),
        tcp::SocketBuffer::new(vec![0; BUFFER]),
    );
    s.set_congestion_control(tcp::CongestionControl::Reno);
    // Nagle stays on (both stacks' default) unless SMOLTCP_NODELAY=1, for experiments.
    if std::env::var("SMOLTCP_NODELAY").as_deref() == Ok("1") {
        s.set_nagle_enabled(false);
    }
    s
}

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "ustack0".into());
    let addr: std::net::Ipv4Addr = args
        .next()
        .as_deref()
        .unwrap_or("198.18.0.2")
        .parse()
        .expect("bad address");
    let mut device = TunTapInterface::new(&name, Medium::Ip).expect("open TUN (root needed)");
    let fd = device.as_raw_fd();
    let mut iface = Interface::new(
        Config::new(HardwareAddress::Ip),
        &mut device,
        Instant::now(),
    );
    iface.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::Ipv4(addr), 24)).unwrap();
    });
    let mut sockets = SocketSet::new(vec![]);
    let discard: SocketHandle = sockets.add(tcp_socket());
    let source: SocketHandle = sockets.add(tcp_socket());
    let pattern: Vec<u8> = (0..72usize * 95).map(|i| b' ' + (i % 95) as u8).collect();
    let mut offset = 0usize;
    eprintln!(
        "smoltcp serving discard :9 and source :19 on {name} ({addr}); MTU {}",
        device.capabilities().max_transmission_unit
    );
    loop {
        let now = Instant::now();
        iface.poll(now, &mut device, &mut sockets);
        {
            let s = sockets.get_mut::<tcp::Socket>(discard);
            if !s.is_open() {
                s.listen(9).expect("listen 9");
            }
            while s.can_recv() {
                let _ = s.recv(|b| (b.len(), ()));
            }
            if s.state() == tcp::State::CloseWait {
                s.close();
            }
        }
        {
            let s = sockets.get_mut::<tcp::Socket>(source);
            if !s.is_open() {
                s.listen(19).expect("listen 19");
                offset = 0;
            }
            if !s.may_send() {
                // The peer is gone (RST or our close finished): the socket re-listens above.
            } else {
                while s.can_send() {
                    let sent = s
                        .send(|b| {
                            let n = b.len();
                            for (i, x) in b.iter_mut().enumerate() {
                                *x = pattern[(offset + i) % pattern.len()];
                            }
                            (n, n)
                        })
                        .unwrap_or(0);
                    offset = (offset + sent) % pattern.len();
                    if sent == 0 {
                        break;
                    }
                }
            }
        }
        iface.poll(now, &mut device, &mut sockets);
        let delay = iface.poll_delay(Instant::now(), &sockets);
        wait(fd, delay).expect("wait");
    }
}
