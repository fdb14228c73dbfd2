#![forbid(unsafe_code)]
pub mod time;
pub mod ip;
