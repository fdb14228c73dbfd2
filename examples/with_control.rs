//! A server with the control socket attached: the workbench's tools see it as they see
//! `ustack up` — `ustack ss` lists its connections, `ustack capture` shows its packets,
//! `ustack ping` / `connect` / `trace` run from its stack.
//!
//! The service itself answers every line with the line in capitals (TCP, port 4000).
//!
//! ```sh
//! ip netns add mylab && ip -n mylab link set lo up
//! ip netns exec mylab cargo run -p ustack-examples --example with_control
//! # from another terminal:
//! ip netns exec mylab nc 198.18.0.2 4000          # type lines; Ctrl-D ends
//! ip netns exec mylab target/debug/ustack ss      # its connections, as ss(8) prints them
//! ip netns exec mylab target/debug/ustack capture -c 10 port 4000
//! ```
//!
//! One call makes the difference: `ustack_apps::daemon::start_with_control` instead of
//! `Bridge::start`. The tools find the socket by the TUN name (`--tun`, default `ustack0`) in
//! the same network namespace; they need root, as the socket is root-only (0600).

use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tun_bridge::aio::{TcpListener, TcpStream};
use ustack_examples::{wait_for_stop, LinkArgs};

/// An uppercasing line service on ustack, with the control socket attached.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    link: LinkArgs,
    /// The port to listen on.
    #[arg(long, default_value_t = 4000)]
    port: u16,
}

/// One connection: read lines, answer each in capitals, until the client closes.
async fn shout(stream: TcpStream) -> std::io::Result<()> {
    let (rx, mut tx) = tokio::io::split(stream);
    let mut lines = BufReader::new(rx).lines();
    while let Some(line) = lines.next_line().await? {
        tx.write_all(line.to_uppercase().as_bytes()).await?;
        tx.write_all(b"\n").await?;
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    env_logger::init();
    let args = Args::parse();

    // The stack and its control server: the capture hub goes in as a tap, and the control
    // socket is served on the loop. Keep `control` alive: dropping it removes the socket.
    let (bridge, control) =
        ustack_apps::daemon::start_with_control(args.link.config(), Vec::new())?;

    let port = args.port;
    let (bound_tx, bound_rx) = std::sync::mpsc::sync_channel(1);
    bridge.spawn(move |net| async move {
        let listener = match TcpListener::bind(&net, port, 128) {
            Ok(l) => l,
            Err(e) => return drop(bound_tx.send(Err(e))),
        };
        let _ = bound_tx.send(Ok(()));
        while let Ok((stream, peer)) = listener.accept().await {
            tokio::task::spawn_local(async move {
                if let Err(e) = shout(stream).await {
                    eprintln!("shout: {peer}: {e}");
                }
            });
        }
    })?;
    bound_rx.recv().map_err(std::io::Error::other)??;
    println!(
        "shout on {}:{port}; control socket {} (try: ustack ss --tun {}); Ctrl-C to stop",
        args.link.addr,
        control.path().display(),
        bridge.tun_name()
    );

    wait_for_stop(&bridge)?;
    drop(control); // the socket file goes first, so no tool attaches to a stopping stack
    bridge.shutdown()
}
