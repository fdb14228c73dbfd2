//! The live half of `ustack capture`: attach to the running stack through its control socket.

use crate::capture::CaptureArgs;
use std::io;
use std::process::ExitCode;
use tun_bridge::capture::filter::Filter;

/// Attaches to the stack on `args.tun` and prints what `filter` matches until Ctrl-C or `-c`.
pub fn run(args: &CaptureArgs, filter: Filter) -> io::Result<ExitCode> {
    let _ = filter;
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "attaching to the stack on {} needs the control socket of `ustack up`, which this build does not have yet; use -r FILE",
            args.tun
        ),
    ))
}
