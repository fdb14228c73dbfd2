//! TCP (RFC 9293): connections, listeners, and the pieces they are built from.

pub mod assembler;
pub mod congestion;
pub mod isn;
pub mod rtt;
pub mod send_buffer;
pub mod syncookie;
