//! Helpers for end-to-end tests of the control socket: where a test namespace's daemon listens,
//! and a raw JSON-lines connection to it (written by hand, independent of the server's types,
//! so the tests also pin the wire format of docs/CONTROL.md).

use crate::netns::NetNs;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// The control socket of `ustack up --tun TUN` in `ns`: /run/ustack/<netns inode>/TUN.sock
/// (the inode of /run/netns/NAME is the namespace's).
pub fn control_path(ns: &NetNs, tun: &str) -> PathBuf {
    let ino = std::fs::metadata(format!("/run/netns/{}", ns.name()))
        .expect("namespace file")
        .ino();
    PathBuf::from(format!("/run/ustack/{ino}/{tun}.sock"))
}

/// A raw connection to a control socket.
#[derive(Debug)]
pub struct RawControl {
    /// The stream (write requests here).
    pub stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl RawControl {
    /// Connects, with a 10 s read timeout.
    pub fn connect(ns: &NetNs) -> RawControl {
        let p = control_path(ns, "ustack0");
        let stream = UnixStream::connect(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        RawControl { stream, reader }
    }

    /// Sends `line` plus a newline.
    pub fn send(&mut self, line: &str) {
        self.stream.write_all(line.as_bytes()).unwrap();
        self.stream.write_all(b"\n").unwrap();
    }

    /// The next reply line as text; None at end of stream or on a reset.
    pub fn line(&mut self) -> Option<String> {
        let mut s = String::new();
        match self.reader.read_line(&mut s) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(s),
        }
    }

    /// The next reply, parsed; panics at end of stream.
    pub fn reply(&mut self) -> serde_json::Value {
        let l = self.line().expect("a reply line");
        serde_json::from_str(&l).unwrap_or_else(|e| panic!("reply {l:?}: {e}"))
    }

    /// Sends a request and returns its reply.
    pub fn call(&mut self, line: &str) -> serde_json::Value {
        self.send(line);
        self.reply()
    }
}
