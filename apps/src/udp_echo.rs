//! UDP echo (RFC 862): every datagram is sent back to where it came from.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tun_bridge::{Bridge, UdpSocket};

/// Starts the echo service on `port`; it runs until `stop` is set.
pub fn spawn(bridge: &Bridge, port: u16, stop: Arc<AtomicBool>) -> std::io::Result<JoinHandle<()>> {
    let mut sock = UdpSocket::bind(bridge, port)?;
    sock.set_read_timeout(Some(Duration::from_millis(200)));
    std::thread::Builder::new()
        .name(format!("udp-echo-{port}"))
        .spawn(move || {
            let mut buf = vec![0u8; 65536];
            while !stop.load(Ordering::Relaxed) {
                match sock.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        if let Err(e) = sock.send_to(&buf[..n], from) {
                            log::warn!("udp echo: reply to {from} failed: {e}");
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::TimedOut => {}
                    Err(e) if e.kind() == ErrorKind::BrokenPipe => break,
                    Err(e) => log::debug!("udp echo: {e}"),
                }
            }
        })
}
