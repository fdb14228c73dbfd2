//! An HTTP/1.1 client on ustack: fetches one URL from a server on the kernel side of the TUN
//! (or anywhere the kernel routes to) over ustack's TCP, prints the status line and headers to
//! stderr and the body to stdout.
//!
//! ```sh
//! ip netns add mylab && ip -n mylab link set lo up
//! ip netns exec mylab python3 -m http.server 8000 --bind 198.18.0.1 &    # after the TUN exists, or:
//! ip netns exec mylab python3 -m http.server 8000 &                      # on every address
//! ip netns exec mylab cargo run -p ustack-examples --example http_get -- http://198.18.0.1:8000/
//! ```
//!
//! The request is written by hand (HTTP/1.1, `Connection: close`, RFC 9112) to show the
//! socket calls; hyper's client runs on `tun_bridge::aio::TcpStream` unchanged too (it is
//! `AsyncRead + AsyncWrite`). Ctrl-C stops it; `--timeout` bounds the whole fetch.

use clap::Parser;
use std::io::{self, Write};
use std::net::SocketAddrV4;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tun_bridge::aio::TcpStream;
use tun_bridge::{Bridge, Net};
use ustack_examples::LinkArgs;

/// Fetch a URL over ustack's TCP.
#[derive(Parser)]
struct Args {
    #[command(flatten)]
    link: LinkArgs,
    /// The URL: http://ADDRESS[:PORT][/PATH] (an IPv4 address: there is no DNS here).
    #[arg(default_value = "http://198.18.0.1:8000/")]
    url: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

/// `http://198.18.0.1:8000/x` → (198.18.0.1:8000, "/x").
fn parse_url(url: &str) -> io::Result<(SocketAddrV4, String)> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidInput, format!("{url}: {why}"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| bad("only http:// URLs"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let addr = authority
        .parse()
        .map_err(|_| bad("expected an IPv4 address and port"))?;
    Ok((addr, path.to_string()))
}

/// The fetch itself, a task on the loop: connect, send the request, read to the end.
async fn get(net: Net, server: SocketAddrV4, path: String) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(&net, server).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {server}\r\nUser-Agent: ustack-example\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    // `Connection: close`: the server ends the response by closing, so read until EOF.
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    Ok(response)
}

fn main() -> io::Result<()> {
    env_logger::init();
    let args = Args::parse();
    let (server, path) = parse_url(&args.url)?;

    let bridge = Bridge::start(args.link.config(), Vec::new())?;

    // Ctrl-C stops the loop; `block_on` below then returns an error instead of waiting on.
    let handle = bridge.handle();
    ctrlc::set_handler(move || handle.stop()).map_err(io::Error::other)?;

    // `block_on` runs the future on the loop thread and waits for its output here.
    let limit = Duration::from_secs(args.timeout);
    let response = bridge
        .handle()
        .block_on(move |net| async move {
            tokio::time::timeout(limit, get(net, server, path))
                .await
                .unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
        })
        .map_err(|_| io::Error::new(io::ErrorKind::Interrupted, "stopped"))??;
    bridge.shutdown()?;

    // Headers to stderr, body to stdout (so `> file` saves the file).
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no end of headers"))?;
    eprint!("{}", String::from_utf8_lossy(&response[..split + 2]));
    io::stdout().write_all(&response[split + 4..])?;
    let ok = response.starts_with(b"HTTP/1.1 200") || response.starts_with(b"HTTP/1.0 200");
    if ok {
        Ok(())
    } else {
        Err(io::Error::other("the server did not answer 200"))
    }
}
