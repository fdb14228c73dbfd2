//! A TCP echo server (RFC 862) on ustack: every byte a client sends comes back.
//!
//! ```sh
//! ip netns add mylab && ip -n mylab link set lo up
//! ip netns exec mylab cargo run -p ustack-examples --example echo_server -- --port 7
//! ip netns exec mylab sh -c 'echo hello | nc -N 198.18.0.2 7'     # from another terminal
//! ```
//!
//! Ctrl-C (or SIGTERM) stops it; `--help` lists the address flags.

use clap::Parser;
use tun_bridge::aio::TcpListener;
use tun_bridge::Bridge;
use ustack_examples::{wait_for_stop, LinkArgs};

/// A TCP echo server on ustack.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    link: LinkArgs,
    /// The port to listen on.
    #[arg(long, default_value_t = 7)]
    port: u16,
}

fn main() -> std::io::Result<()> {
    env_logger::init(); // RUST_LOG=debug shows the stack's drops and state changes
    let args = Args::parse();

    // 1. The stack: a TUN device, its kernel side configured, the event loop on its own thread.
    let bridge = Bridge::start(args.link.config(), Vec::new())?;

    // 2. The app: a task on the loop thread. `aio` sockets are !Send and live there; the
    //    closure receives the loop's `Net`, which they are created from.
    //    `bind` runs there too; its result comes back over a channel, so that a port already
    //    taken is an error of `main`, not a silent task.
    let port = args.port;
    let (bound_tx, bound_rx) = std::sync::mpsc::sync_channel(1);
    bridge.spawn(move |net| async move {
        let listener = match TcpListener::bind(&net, port, 128) {
            Ok(l) => l,
            Err(e) => return drop(bound_tx.send(Err(e))),
        };
        let _ = bound_tx.send(Ok(()));
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue; // an aborted connection in the queue: keep accepting
            };
            // One task per connection; tokio's own I/O helpers work on ustack's streams.
            tokio::task::spawn_local(async move {
                let (mut rx, mut tx) = tokio::io::split(stream);
                match tokio::io::copy(&mut rx, &mut tx).await {
                    Ok(n) => eprintln!("echo: {peer}: {n} bytes echoed"),
                    Err(e) => eprintln!("echo: {peer}: {e}"),
                }
                // Dropping the halves closes the connection (FIN after the data).
            });
        }
    })?;
    bound_rx.recv().map_err(std::io::Error::other)??;
    println!(
        "echo server on {}:{} (TUN {}); Ctrl-C to stop",
        args.link.addr,
        port,
        bridge.tun_name()
    );

    // 3. Keep main alive: the loop runs on its own thread, and ends when the Bridge drops.
    wait_for_stop(&bridge)?;
    // 4. Stop: every task is dropped, its connections closed, the device removed.
    bridge.shutdown()
}
