//! ustack under packetdrill: a shared object implementing packetdrill's
//! `struct packetdrill_interface` (packetdrill.h, so_testing.c) over a sans-IO [`ustack::Stack`]
//! in virtual time, and the conformance runner's logic (`runner`, used by the
//! `ustack-conformance` binary that `scripts/conformance.sh` calls).
//!
//! - `netdev_send` feeds a packet to `Stack::receive`; `netdev_receive` hands out the next packet
//!   from `poll_transmit` with the virtual time it left at, moving the clock (and running timers)
//!   while the stack has nothing to send.
//! - `gettimeofday` / `usleep` are the virtual clock: `usleep` advances it, running
//!   `handle_timeout` at each deadline; every `gettimeofday` moves it 1 µs so packetdrill's spin
//!   loops (run.c `wait_for_event`) make progress.
//! - Socket calls follow Linux's errno semantics (`sockets.rs`, `options.rs`); anything else
//!   returns -1 with ENOPROTOOPT / EOPNOTSUPP. Blocking calls wait for the other packetdrill
//!   thread to move packets or time.
//!
//! Every FFI entry point runs under `catch_unwind`: a panic becomes -1/EIO, never an unwind
//! across the C boundary. The `unsafe` in this crate is confined to `ffi.rs` and `ffi/calls.rs`.

pub mod ffi;
pub mod flags;
pub mod options;
pub mod runner;
pub mod shim;
pub mod sockets;
