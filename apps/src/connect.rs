//! `ustack connect HOST:PORT`: a netcat-like TCP client from inside the stack. It brings up its
//! own TUN (like `ustack ping`), connects, copies stdin to the connection and the connection to
//! stdout at the same time; at the end of stdin it half-closes (FIN) and keeps reading until
//! the peer closes.

use crate::net::NetArgs;
use clap::Args;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddrV4};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tun_bridge::TcpStream;
use ustack::tcp::State;

/// Options of `ustack connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Where to connect (normally the kernel side, e.g. 198.18.0.1:8080).
    destination: SocketAddrV4,
    /// Seconds to wait for the handshake.
    #[arg(short = 'w', long = "timeout", default_value_t = 10.0)]
    timeout: f64,
    /// Report the connection and its end on stderr.
    #[arg(short = 'v', long)]
    verbose: bool,
    #[command(flatten)]
    pub net: NetArgs,
}

/// How long blocked reads wait before looking at Ctrl-C.
const TICK: Duration = Duration::from_millis(200);
/// How long to wait, after both sides closed, for our data and FIN to be acknowledged.
const CLOSE_WAIT: Duration = Duration::from_secs(30);

fn fail(what: &str, dest: SocketAddrV4, e: &io::Error) -> ExitCode {
    eprintln!("ustack connect: {what} {dest}: {e}");
    ExitCode::from(1)
}

pub fn run(args: ConnectArgs) -> io::Result<ExitCode> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(io::Error::new(ErrorKind::InvalidInput, "bad -w value"));
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst)).map_err(io::Error::other)?;

    let bridge = args.net.start()?;
    let dest = args.destination;
    let timeout = Duration::from_secs_f64(args.timeout);
    let mut stream = match TcpStream::connect(&bridge, dest, Some(timeout)) {
        Ok(s) => s,
        Err(e) => {
            let code = fail("cannot connect to", dest, &e);
            let _ = bridge.shutdown();
            return Ok(code);
        }
    };
    if args.verbose {
        let local = stream.local_addr()?;
        eprintln!("ustack connect: connected to {dest} from {local}");
    }
    stream.set_read_timeout(Some(TICK))?;
    let stream = Arc::new(stream);

    // stdin → connection, on its own thread; at EOF, FIN.
    let sent_fin = Arc::new(AtomicBool::new(false));
    let writer = {
        let stream = stream.clone();
        let sent_fin = sent_fin.clone();
        std::thread::Builder::new()
            .name("stdin".into())
            .spawn(move || -> io::Result<u64> {
                let mut stdin = io::stdin().lock();
                let mut buf = vec![0u8; 64 << 10];
                let mut total = 0u64;
                loop {
                    let n = match stdin.read(&mut buf) {
                        Ok(n) => n,
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    };
                    if n == 0 {
                        stream.shutdown(Shutdown::Write)?;
                        sent_fin.store(true, Ordering::SeqCst);
                        return Ok(total);
                    }
                    (&*stream).write_all(&buf[..n])?;
                    total += n as u64;
                }
            })?
    };

    // connection → stdout, here, until the peer closes.
    let mut stdout = io::stdout().lock();
    let mut buf = vec![0u8; 64 << 10];
    let result: io::Result<u64> = (|| {
        let mut total = 0u64;
        loop {
            if interrupted.load(Ordering::SeqCst) {
                return Err(io::Error::new(ErrorKind::Interrupted, "interrupted"));
            }
            match (&*stream).read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => {
                    stdout.write_all(&buf[..n])?;
                    stdout.flush()?;
                    total += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    })();

    let code = match result {
        Ok(received) => {
            // The peer's FIN only ends its direction (RFC 9293 §3.6, half-close): keep sending
            // stdin until it ends (or Ctrl-C), then our FIN follows the data, and the closing
            // handshake must finish before the device goes away.
            while !writer.is_finished() && !interrupted.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            if writer.is_finished() {
                if let Ok(Err(e)) = writer.join() {
                    let _ = bridge.shutdown();
                    return Ok(fail("sending to", dest, &e));
                }
            }
            if !sent_fin.load(Ordering::SeqCst) {
                let _ = stream.shutdown(Shutdown::Write);
            }
            wait_closed(&stream, &interrupted);
            if args.verbose {
                eprintln!(
                    "ustack connect: {dest} closed the connection ({received} bytes received)"
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) if e.kind() == ErrorKind::Interrupted => {
            eprintln!("ustack connect: interrupted");
            ExitCode::from(130)
        }
        Err(e) => fail("connection to", dest, &e),
    };
    // The stdin thread may still block in read(2); it ends with the process.
    drop(stream);
    let _ = bridge.shutdown();
    Ok(code)
}

/// Waits until our FIN is acknowledged and the peer's FIN was seen (TIME-WAIT or gone), so the
/// last ACK leaves before the device is removed.
fn wait_closed(stream: &TcpStream, interrupted: &AtomicBool) {
    let deadline = Instant::now() + CLOSE_WAIT;
    while Instant::now() < deadline && !interrupted.load(Ordering::SeqCst) {
        match stream.info() {
            Ok(i) if !matches!(i.state, State::TimeWait | State::Closed) => {
                std::thread::sleep(Duration::from_millis(10));
            }
            _ => return,
        }
    }
}
