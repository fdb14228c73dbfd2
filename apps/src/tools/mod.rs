//! The `ustack` command's tools: [`cli`] parses the command line and dispatches to one module
//! per subcommand. Tools that watch or act on a stack are thin clients of the control protocol
//! (`crate::daemon::proto`): they attach to the stack running on `--tun`, or bring up their own
//! ([`net::NetArgs::attach_or_start`]) and talk to the same daemon code over a socketpair.

pub mod capture;
pub mod capture_live;
pub mod cli;
pub mod connect;
pub mod docs;
pub mod events;
pub mod family;
pub mod filter;
pub mod fuzz;
pub mod lab;
pub mod net;
pub mod ping;
pub mod scan;
pub mod send;
pub mod ss;
pub mod ss_filter;
pub mod ss_format;
pub mod trace;
pub mod tune;
pub mod up;
pub mod up_netns;
