//! # ustack-apps — the workbench around the stack
//!
//! Three rooms, each using only the public APIs of `ustack` (the protocol library) and
//! `tun-bridge` (the runtime: device, event loop, sockets, taps, faults):
//!
//! - [`daemon`]: what `ustack up` runs beside the stack for the tools — the control server and
//!   its protocol (one file per request), the module behind each request, the jobs (ping,
//!   connect, trace) and packet capture (the hub it installs as a tap, the formatter, pcap).
//! - [`services`]: what the stack serves — echo, discard, chargen, UDP echo, HTTP — each an
//!   async task on the loop written against `tun_bridge::aio`.
//! - [`tools`]: the `ustack` command's subcommands — thin clients of the control protocol
//!   (`ping`, `ss`, `capture`, `trace`, `connect`, `events`), `up` itself, and `lab`.
//!
//! The binary (`src/main.rs`) only calls [`tools::cli::main`]; tests import services and helpers
//! from here. How to add a request or a tool: docs/CONTROL.md.

#![warn(missing_docs)]

pub mod daemon;
pub mod services;
pub mod tools;
