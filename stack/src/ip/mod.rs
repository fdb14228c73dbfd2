//! The IP layer: reassembly of incoming fragments and fragmentation of outgoing datagrams.
//! Ingress validation of single packets is in [`crate::wire::ipv4`]; address policy in the stack.

pub(crate) mod fragment;
pub(crate) mod ident;
pub mod reassembly;
