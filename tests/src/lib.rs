//! Test support for ustack: the network-namespace harness, integrity helpers, benchmark records
//! and tables, and end-to-end helpers that drive the `ustack` binary against the Linux kernel.

pub mod bench;
pub mod capture;
pub mod control;
pub mod e2e;
pub mod integrity;
pub mod kclient;
pub mod lab;
pub mod netns;
pub mod sim;
