//! `ustack`: bring up a userspace IPv4 stack behind a TUN device, and the tools that use it.
//! Everything lives in the library (`ustack_apps`): the daemon, the services and the tools.

fn main() -> std::process::ExitCode {
    ustack_apps::tools::cli::main()
}
