//! `scan`: an nmap-like port scanner (and host discovery) from inside the stack.
//!
//! - [`engine`]: the sans-IO scanner — probes out, packets in, states with nmap's reasons,
//!   timing after nmap's (RTT-adaptive timeouts, a window of parallel probes, retries).
//! - [`state`]: nmap's response tables per scan type.
//! - [`timing`]: the `-T0` … `-T5` templates, the RTT estimator, the window.
//! - [`incoming`]: received packets read with ustack's checked parsers.
//! - [`probe`]: the bytes of a probe (the one place they are built).
//! - [`ports`]: `-p` lists, `--top-ports`, service names.
//! - [`report`]: per-host reports (nmap's "Not shown" grouping) from a finished engine.

pub mod engine;
pub mod incoming;
pub mod ports;
pub mod probe;
pub mod report;
pub mod state;
pub mod timing;

pub use engine::{ConnectOutcome, Engine, Probe, ProbeKind, ScanConfig};
pub use probe::probe_packet;
pub use timing::Timing;
