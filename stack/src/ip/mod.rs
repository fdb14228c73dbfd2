//! The IP layer: ingress checks (martians, destination kind), reassembly of incoming fragments,
//! identification and fragmentation of outgoing datagrams. Header parsing and validation of
//! single packets is in [`crate::wire::ipv4`].

pub(crate) mod egress;
pub(crate) mod fragment;
pub(crate) mod ident;
pub(crate) mod ingress;
pub(crate) mod pmtu;
pub mod reassembly;
