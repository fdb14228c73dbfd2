//! The benchmark rival on a real TUN: a smoltcp 0.14 `Interface` (Medium::Ip) serving what
//! `ustack up` serves to `scripts/bench-tun.sh` and `loadgen` — TCP echo (port 7), discard (9),
//! chargen (19, the same RFC 864 stream as ustack's) and ping (smoltcp's automatic echo reply) —
//! to many connections at once, so both stacks are measured on the same services.
//!
//! smoltcp has no listen queue: one socket serves one connection. Echo keeps `--spare` sockets
//! listening (the connection-rate and idle tests open many), discard and chargen `--bulk-spare`
//! (one bulk stream each); when one is taken by a connection a new one is added (up to
//! `--max-sockets` in all), and when a connection ends its socket listens again or, beyond the
//! spares, is removed. Spares are kept few on purpose: smoltcp visits every socket on every
//! poll, and 32 listeners per service cost it a third of its bulk throughput. Every socket has `--buffer`-byte receive and send buffers (256 KiB, as
//! ustack's default), Reno, Nagle on (both stacks' default) unless `--nodelay`.
//!
//! Usage (inside a network namespace; the script does the host-side `ip` setup of the TUN):
//! `smoltcp_tun_server [--tun NAME] [--addr A] [--spare N] [--bulk-spare N] [--max-sockets N]
//! [--buffer BYTES] [--nodelay]`.

use clap::Parser;
use smoltcp::iface::{Config, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::{wait, Device, Medium, TunTapInterface};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;

#[derive(Parser, Debug)]
#[command(about = "smoltcp on a TUN serving echo 7, discard 9, chargen 19 and ping")]
struct Args {
    /// Name of the TUN device to create.
    #[arg(long, default_value = "ustack0")]
    tun: String,
    /// The stack's own address.
    #[arg(long, default_value = "198.18.0.2")]
    addr: Ipv4Addr,
    #[arg(long, default_value_t = 24)]
    prefix_len: u8,
    /// Sockets kept listening on echo (4 client threads need no more than 4-8).
    #[arg(long, default_value_t = 8)]
    spare: usize,
    /// Sockets kept listening on discard and on chargen.
    #[arg(long, default_value_t = 1)]
    bulk_spare: usize,
    /// Most TCP sockets at once, all services together.
    #[arg(long, default_value_t = 4096)]
    max_sockets: usize,
    /// Receive and send buffer of every socket, bytes.
    #[arg(long, default_value_t = 256 * 1024)]
    buffer: usize,
    /// Turn Nagle's algorithm off.
    #[arg(long)]
    nodelay: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    Echo,
    Discard,
    Chargen,
}

const SERVICES: [Service; 3] = [Service::Echo, Service::Discard, Service::Chargen];

impl Service {
    fn port(self) -> u16 {
        match self {
            Service::Echo => 7,
            Service::Discard => 9,
            Service::Chargen => 19,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One TCP socket of a service, and where in the chargen stream it is.
#[derive(Debug)]
struct Slot {
    handle: SocketHandle,
    service: Service,
    pos: usize,
}

#[derive(Debug)]
struct Server {
    args: Args,
    slots: Vec<Slot>,
    /// Two chargen cycles back to back: any window of up to one cycle is one slice.
    doubled: Vec<u8>,
    cycle_len: usize,
    scratch: Vec<u8>,
}

impl Server {
    fn new(args: Args) -> Server {
        let cycle = ustack_apps::services::classic::chargen_cycle();
        Server {
            doubled: [cycle.as_slice(), cycle.as_slice()].concat(),
            cycle_len: cycle.len(),
            scratch: vec![0; 64 << 10],
            slots: Vec::new(),
            args,
        }
    }

    fn spare(&self, service: Service) -> usize {
        match service {
            Service::Echo => self.args.spare,
            Service::Discard | Service::Chargen => self.args.bulk_spare,
        }
    }

    fn new_socket(&self) -> tcp::Socket<'static> {
        let mut s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; self.args.buffer]),
            tcp::SocketBuffer::new(vec![0; self.args.buffer]),
        );
        s.set_congestion_control(tcp::CongestionControl::Reno);
        s.set_nagle_enabled(!self.args.nodelay);
        s
    }

    /// One pass over every socket: serve the connected ones, recycle or remove the closed ones,
    /// and top every service up to its spare listening sockets.
    fn serve(&mut self, sockets: &mut SocketSet<'static>) {
        let mut listening = [0usize; SERVICES.len()];
        for slot in &self.slots {
            if sockets.get::<tcp::Socket>(slot.handle).state() == tcp::State::Listen {
                listening[slot.service.index()] += 1;
            }
        }
        let mut i = 0;
        while i < self.slots.len() {
            let (handle, service) = (self.slots[i].handle, self.slots[i].service);
            let s = sockets.get_mut::<tcp::Socket>(handle);
            match s.state() {
                tcp::State::Listen | tcp::State::SynReceived => {}
                tcp::State::Closed if listening[service.index()] < self.spare(service) => {
                    s.listen(service.port()).expect("listen on a closed socket");
                    self.slots[i].pos = 0;
                    listening[service.index()] += 1;
                }
                tcp::State::Closed => {
                    sockets.remove(handle);
                    self.slots.swap_remove(i);
                    continue;
                }
                _ => self.serve_one(i, sockets),
            }
            i += 1;
        }
        for service in SERVICES {
            while listening[service.index()] < self.spare(service)
                && self.slots.len() < self.args.max_sockets
            {
                let mut s = self.new_socket();
                s.listen(service.port()).expect("listen");
                let handle = sockets.add(s);
                self.slots.push(Slot {
                    handle,
                    service,
                    pos: 0,
                });
                listening[service.index()] += 1;
            }
        }
    }

    fn serve_one(&mut self, i: usize, sockets: &mut SocketSet<'static>) {
        let slot = &mut self.slots[i];
        let s = sockets.get_mut::<tcp::Socket>(slot.handle);
        match slot.service {
            Service::Echo => {
                while s.can_recv() && s.can_send() {
                    let space = s.send_capacity() - s.send_queue();
                    let scratch = &mut self.scratch;
                    let n = s
                        .recv(|b| {
                            let n = b.len().min(space).min(scratch.len());
                            scratch[..n].copy_from_slice(&b[..n]);
                            (n, n)
                        })
                        .unwrap_or(0);
                    if n == 0 || s.send_slice(&scratch[..n]) != Ok(n) {
                        break;
                    }
                }
            }
            Service::Discard => {
                while s.can_recv() {
                    if s.recv(|b| (b.len(), ())).is_err() {
                        break;
                    }
                }
            }
            Service::Chargen => {
                let (doubled, len) = (&self.doubled, self.cycle_len);
                while s.can_send() {
                    let pos = &mut slot.pos;
                    let sent = s
                        .send(|b| {
                            let n = b.len().min(len);
                            b[..n].copy_from_slice(&doubled[*pos..*pos + n]);
                            (n, n)
                        })
                        .unwrap_or(0);
                    if sent == 0 {
                        break;
                    }
                    slot.pos = (slot.pos + sent) % len;
                }
                while s.can_recv() {
                    if s.recv(|b| (b.len(), ())).is_err() {
                        break;
                    }
                }
            }
        }
        // The client half-closed: every service closes once nothing it read is left to echo.
        if s.state() == tcp::State::CloseWait && s.recv_queue() == 0 {
            s.close();
        }
    }
}

/// Keeps every socket buffer in its own mapping, so that the pages a connection never touches
/// are not resident (as with ustack, whose buffers grow with use) and freed buffers go back to
/// the system: glibc would otherwise raise its mmap threshold after the first free and serve
/// later buffers from the heap, where `calloc` clears — touches — all 512 KiB of each socket.
fn fixed_mmap_threshold() {
    // SAFETY: mallopt only changes allocator tuning; called before any socket exists.
    let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 10) };
    if ok != 1 {
        eprintln!("smoltcp_tun_server: mallopt(M_MMAP_THRESHOLD) failed; RSS figures will include untouched buffers");
    }
}

fn main() {
    let args = Args::parse();
    fixed_mmap_threshold();
    let mut device = TunTapInterface::new(&args.tun, Medium::Ip).expect("open TUN (root needed)");
    let fd = device.as_raw_fd();
    let mut iface = Interface::new(
        Config::new(HardwareAddress::Ip),
        &mut device,
        Instant::now(),
    );
    let (addr, prefix) = (args.addr, args.prefix_len);
    iface.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::Ipv4(addr), prefix)).unwrap();
    });
    let mut sockets = SocketSet::new(vec![]);
    eprintln!(
        "smoltcp serving echo :7, discard :9, chargen :19 and ping on {} ({addr}); MTU {}, spare listeners: {} on echo, {} on the others; at most {} sockets",
        args.tun,
        device.capabilities().max_transmission_unit,
        args.spare,
        args.bulk_spare,
        args.max_sockets
    );
    let mut server = Server::new(args);
    loop {
        // Serve after every poll that may have changed a socket, and sleep only after a poll that
        // changed nothing: a packet taken in by the poll that follows `serve` (the handshake's
        // last ACK often is, as the kernel answers a SYN-ACK at once) must be served before
        // waiting, or its connection sits idle until the next packet arrives.
        let changed = iface.poll(Instant::now(), &mut device, &mut sockets);
        server.serve(&mut sockets);
        if changed == PollResult::SocketStateChanged {
            continue;
        }
        if iface.poll(Instant::now(), &mut device, &mut sockets) == PollResult::SocketStateChanged {
            continue;
        }
        let delay = iface.poll_delay(Instant::now(), &sockets);
        wait(fd, delay).expect("wait");
    }
}
