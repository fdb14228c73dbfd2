//! A UDP service on ustack: Quote of the Day (RFC 865). Any datagram to the port is answered
//! with the next quote; the datagram's content is ignored, as the RFC says.
//!
//! ```sh
//! ip netns add mylab && ip -n mylab link set lo up
//! ip netns exec mylab cargo run -p ustack-examples --example udp_quote
//! ip netns exec mylab sh -c 'echo | nc -u -w1 198.18.0.2 17'     # from another terminal
//! ```
//!
//! Ctrl-C (or SIGTERM) stops it.

use clap::Parser;
use tun_bridge::aio::UdpSocket;
use tun_bridge::Bridge;
use ustack_examples::{wait_for_stop, LinkArgs};

/// The quotes, served in turn (RFC 865: fewer than 512 characters each).
const QUOTES: [&str; 3] = [
    "Be conservative in what you do, be liberal in what you accept from others. (RFC 793)\n",
    "It Has To Work. (RFC 1925, truth 1)\n",
    "No matter how hard you push and no matter what the priority, you can't increase the \
     speed of light. (RFC 1925, truth 2)\n",
];

/// Quote of the Day over UDP on ustack.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    link: LinkArgs,
    /// The UDP port (RFC 865: 17).
    #[arg(long, default_value_t = 17)]
    port: u16,
}

fn main() -> std::io::Result<()> {
    env_logger::init();
    let args = Args::parse();
    let bridge = Bridge::start(args.link.config(), Vec::new())?;

    // The service is one task on the loop: receive, answer, repeat.
    let port = args.port;
    let (bound_tx, bound_rx) = std::sync::mpsc::sync_channel(1);
    bridge.spawn(move |net| async move {
        let socket = match UdpSocket::bind(&net, port) {
            Ok(s) => s,
            Err(e) => return drop(bound_tx.send(Err(e))),
        };
        let _ = bound_tx.send(Ok(()));
        let mut buf = [0u8; 2048];
        let mut next = 0;
        loop {
            // A datagram's errors (an ICMP unreachable for an earlier answer) are per
            // datagram: note them and keep serving.
            let (_, peer) = match socket.recv_from(&mut buf).await {
                Ok(got) => got,
                Err(e) => {
                    eprintln!("qotd: {e}");
                    continue;
                }
            };
            let quote = QUOTES[next % QUOTES.len()];
            next += 1;
            if let Err(e) = socket.send_to(quote.as_bytes(), peer).await {
                eprintln!("qotd: to {peer}: {e}");
            }
        }
    })?;
    bound_rx.recv().map_err(std::io::Error::other)??;
    println!(
        "quote of the day on udp {}:{port}; Ctrl-C to stop",
        args.link.addr
    );

    wait_for_stop(&bridge)?;
    bridge.shutdown()
}
