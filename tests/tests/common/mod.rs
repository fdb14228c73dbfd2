//! Helpers shared by the integration-test binaries (each includes them with `mod common;`).

// Every test binary compiles all of `common` but uses only part of it, so the rest would warn as
// dead code in that binary.
#![allow(dead_code)]

pub mod smol_node;
pub mod wire_check;
