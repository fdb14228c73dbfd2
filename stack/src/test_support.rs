//! Internals re-exported for tests, with the `test-support` feature (off by default).
//!
//! The protocol modules are crate-private; the crate's integration tests (`stack/tests`), the
//! `ustack-tests` crate, the conformance shim (`tests/conformance`) and the fuzz targets reach
//! the pieces they exercise on their own through here. Not a stable API: applications use
//! [`crate::Stack`] and the public types only.
//!
//! - [`reassembly`]: the IPv4 reassembler and its limits (`stack/tests/reassembly_prop.rs`).
//! - [`RecvBuffer`], [`SendBuffer`], [`Scoreboard`], [`MAX_SACK_RANGES`]: the TCP buffers and
//!   SACK scoreboard (`stack/tests/tcp_buffers_prop.rs`).
//! - [`IsnGenerator`]: RFC 6528 initial sequence numbers (`stack/tests/tcp_seq_wrap.rs`).
//! - [`syncookie`]: SYN-cookie encode/decode (`stack/tests/hardening_syncookies.rs`).
//! - [`scale_for`]: the window-scale shift the stack picks for a buffer (the conformance shim
//!   predicts the SYN's wscale from it).

pub use crate::ip::reassembly;
pub use crate::tcp::assembler::RecvBuffer;
pub use crate::tcp::connection::scale_for;
pub use crate::tcp::isn::IsnGenerator;
pub use crate::tcp::send_buffer::{Scoreboard, SendBuffer, MAX_SACK_RANGES};

/// SYN cookies (RFC 4987 §3.6): the key derived from `Config::secret`, encode and decode.
pub mod syncookie {
    pub use crate::tcp::syncookie::{decode, encode, key};
}
