//! The engines behind the longer requests, written once and run either in the daemon (a
//! control request) or on the stack a tool brought up itself: the traceroute job ([`trace`]),
//! the port scanner ([`scan`]); the hping3-like crafter ([`send`]); and the rule every attack
//! tool checks before it sends ([`guard`]).
//! The ping and connect jobs are small enough to live in their request modules.

pub mod fuzz;
pub mod guard;
pub mod scan;
pub mod send;
pub mod trace;
