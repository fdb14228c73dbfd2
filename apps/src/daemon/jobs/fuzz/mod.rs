//! The fuzzer behind `ustack fuzz` (issue 18): scapy's `fuzz()` over a template, sent at a
//! target (or fed into the stack itself) at a bounded rate, with a liveness check between
//! rounds. [`template`] parses the template language (or a captured packet) into a
//! [`ustack::wire::build::Packet`]; [`fields`] is the table of what can be set and fuzzed;
//! [`mutate`] is the seeded, sans-IO engine: packet `n` of seed `s` is always the same packet.

pub mod fields;
pub mod job;
pub mod mutate;
pub mod template;

pub use mutate::{Fuzzer, Target};
pub use template::{from_bytes, parse, TemplateError};
