//! # tun-bridge — ustack on a real Linux TUN device
//!
//! [`Bridge::start`] opens a TUN device, gives its kernel side an address, and runs the event
//! loop that drives a sans-IO [`ustack::Stack`] with the real clock. Apps use the blocking
//! handles in [`socket`]; packet taps ([`tap`]) see every packet in and out.

pub mod entropy;
pub mod fault;
pub mod host;
pub mod pcap;
pub mod runtime;
pub mod socket;
pub mod tap;
pub mod tcp;
pub mod tun;

pub use fault::{FaultConfig, FaultInjector};
pub use runtime::{Bridge, BridgeConfig};
pub use socket::{PingSocket, UdpSocket};
pub use tap::{Direction, LogTap, PcapTap, Tap};
pub use tcp::{TcpListener, TcpStream};
