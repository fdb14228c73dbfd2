//! `scan`: an nmap-like port scanner (and host discovery) from inside the stack.
//!
//! - [`engine`]: the sans-IO scanner — probes out, packets in, states with nmap's reasons,
//!   timing after nmap's (RTT-adaptive timeouts, a window of parallel probes, retries).
//! - [`state`]: nmap's response tables per scan type.
//! - [`timing`]: the `-T0` … `-T5` templates, the RTT estimator, the window.
//! - [`incoming`]: received packets read with ustack's checked parsers.
//! - [`probe`]: what a probe is, and its bytes (the one place they are built).
//! - [`ports`]: `-p` lists, `--top-ports`, service names.
//! - [`report`]: per-host reports (nmap's "Not shown" grouping) from a finished engine.
//! - [`targets`]: addresses and prefixes to scan.
//! - [`run`]: the engine on the stack's loop — a raw socket with a claimed port, or connects.

pub mod engine;
pub mod incoming;
pub mod ports;
pub mod probe;
pub mod report;
pub mod run;
pub mod state;
pub mod targets;
pub mod timing;

pub use engine::{ConnectOutcome, Engine, ScanConfig};
pub use probe::{probe_packet, Probe, ProbeKind};
pub use run::{scan, validate};
pub use timing::Timing;
