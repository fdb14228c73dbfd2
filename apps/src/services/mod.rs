//! The services of `ustack up`: each an async task on the stack's event loop, written only
//! against the public async socket API (`tun_bridge::aio`) — a connection costs a task and its
//! buffers, never a thread or a lock. [`serve`] is the accept loop they share.

pub mod classic;
pub mod guard;
pub mod http;
pub mod serve;
pub mod udp_echo;
