//! Socket owners (`Net::owned_by`, what `ustack ss -p` shows): the sockets made from an owned
//! `Net` and the connections its listeners accept carry the name while they live, and lose it
//! when dropped; sockets from an unnamed `Net` have none.
//!
//! Needs root and /dev/net/tun; skipped otherwise unless `USTACK_REQUIRE_TUN=1`.

use std::collections::BTreeSet;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;
use tun_bridge::{aio, Bridge, BridgeConfig, SocketId};
use ustack_tests::netns::{tun_available, NetNs};

const STACK: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const T: Duration = Duration::from_secs(10);

type Owners = BTreeSet<(String, String)>;

fn snapshot(net: &tun_bridge::Net) -> Owners {
    net.owners()
        .into_iter()
        .map(|(id, o)| {
            let id = match id {
                SocketId::Tcp { local, .. } => format!("tcp {}", local.port()),
                SocketId::Listener { port } => format!("listen {port}"),
                SocketId::Udp { port } => format!("udp {port}"),
            };
            (id, o)
        })
        .collect()
}

fn set(items: &[(&str, &str)]) -> Owners {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn owned_sockets_carry_their_name_while_they_live() {
    if !tun_available() {
        return;
    }
    let ns = NetNs::new("rt-owner");
    ns.run(|| {
        let mut c = BridgeConfig {
            tun_name: "urt0".into(),
            ..BridgeConfig::default()
        };
        c.stack.addr = STACK;
        let b = Bridge::start(c, Vec::new()).expect("bridge starts");
        let (report, seen) = std::sync::mpsc::channel();
        b.spawn(move |net| async move {
            let svc = net.owned_by("svc");
            assert_eq!((net.owner(), svc.owner()), (None, Some("svc")));
            let l = aio::TcpListener::bind(&svc, 7, 4).unwrap();
            let u = aio::UdpSocket::bind(&svc, 5).unwrap();
            let _anonymous = aio::UdpSocket::bind(&net, 6).unwrap();
            report.send(snapshot(&net)).unwrap();
            let (s, _) = l.accept().await.unwrap();
            report.send(snapshot(&net)).unwrap();
            drop((s, l, u));
            report.send(snapshot(&net)).unwrap();
        })
        .unwrap();
        let bound = seen.recv_timeout(T).expect("bound");
        assert_eq!(bound, set(&[("listen 7", "svc"), ("udp 5", "svc")]));
        let mut k = std::net::TcpStream::connect_timeout(&SocketAddrV4::new(STACK, 7).into(), T)
            .expect("kernel connects");
        let accepted = seen.recv_timeout(T).expect("accepted");
        let want = set(&[("listen 7", "svc"), ("udp 5", "svc"), ("tcp 7", "svc")]);
        assert_eq!(accepted, want);
        let dropped = seen.recv_timeout(T).expect("dropped");
        assert!(dropped.is_empty(), "{dropped:?}");
        k.set_read_timeout(Some(T)).unwrap();
        let _ = k.read(&mut [0u8; 1]);
    });
}
