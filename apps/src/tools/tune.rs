//! Stack `Config` knobs as flags (congestion control, buffers, limits, SYN cookies, TCP
//! options): what users ask to change without a rebuild. Each maps to one `Config` field
//! (documented there with its RFC and default); `Config::validate` refuses values that
//! cannot work.

use clap::{Args, ValueEnum};
use ustack::tcp::congestion::Algorithm;

/// A congestion-control algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Congestion {
    /// RFC 5681 + RFC 6582 (the default).
    Newreno,
    /// RFC 9438.
    Cubic,
}

/// Stack tuning flags (any command that brings up its own stack).
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Stack tuning")]
pub struct TuneArgs {
    /// TCP congestion control.
    #[arg(long, value_name = "ALGO")]
    pub congestion: Option<Congestion>,
    /// TCP receive buffer per connection, bytes (Config::tcp_rx_buffer).
    #[arg(long, value_name = "BYTES")]
    pub rx_buffer: Option<usize>,
    /// TCP send buffer per connection, bytes (Config::tcp_tx_buffer).
    #[arg(long, value_name = "BYTES")]
    pub tx_buffer: Option<usize>,
    /// Most TCP connections in the stack's table (raise it for many idle connections).
    #[arg(long, value_name = "N")]
    pub max_connections: Option<usize>,
    /// Most connections one remote address may hold through the listeners
    /// (Config::tcp_max_per_source, default 1024).
    #[arg(long, value_name = "N")]
    pub max_per_source: Option<usize>,
    /// A SYN that finds the table full (or its source at its share) gets an RST (on, default)
    /// or no answer (off) (Config::tcp_abort_on_overflow).
    #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
    pub abort_on_overflow: Option<bool>,
    /// Most bytes all TCP buffers may hold together (Config::tcp_mem_max; default 1/16 of the
    /// machine's memory).
    #[arg(long, value_name = "BYTES")]
    pub tcp_mem: Option<usize>,
    /// How long a connection the app closed waits in FIN-WAIT-2 for the peer's FIN
    /// (Config::tcp_fin_timeout, default 60 s as Linux).
    #[arg(long, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    pub fin_timeout: Option<u64>,
    /// Most half-open (SYN-RECEIVED) connections before SYN cookies (Config::tcp_syn_backlog).
    #[arg(long, value_name = "N")]
    pub syn_backlog: Option<usize>,
    /// Most entries in the TIME-WAIT table (Config::tcp_max_time_wait).
    #[arg(long, value_name = "N")]
    pub max_time_wait: Option<usize>,
    /// SYN cookies when the half-open table is full (RFC 4987 §3.6).
    #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
    pub syn_cookies: Option<bool>,
    /// TCP timestamps (RFC 7323).
    #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
    pub timestamps: Option<bool>,
    /// TCP selective acknowledgments (RFC 2018).
    #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
    pub sack: Option<bool>,
    /// TCP window scaling (RFC 7323).
    #[arg(long, value_name = "on|off", value_parser = clap::builder::BoolishValueParser::new())]
    pub window_scaling: Option<bool>,
}

impl TuneArgs {
    /// Applies the flags given to `c`.
    pub fn apply(&self, c: &mut ustack::Config) {
        if let Some(a) = self.congestion {
            c.tcp_congestion = match a {
                Congestion::Newreno => Algorithm::NewReno,
                Congestion::Cubic => Algorithm::Cubic,
            };
        }
        let set = |field: &mut usize, v: Option<usize>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        set(&mut c.tcp_rx_buffer, self.rx_buffer);
        set(&mut c.tcp_tx_buffer, self.tx_buffer);
        set(&mut c.tcp_max_connections, self.max_connections);
        set(&mut c.tcp_max_per_source, self.max_per_source);
        set(&mut c.tcp_mem_max, self.tcp_mem);
        set(&mut c.tcp_syn_backlog, self.syn_backlog);
        set(&mut c.tcp_max_time_wait, self.max_time_wait);
        let flag = |field: &mut bool, v: Option<bool>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        if let Some(secs) = self.fin_timeout {
            c.tcp_fin_timeout = ustack::Duration::from_secs(secs);
        }
        flag(&mut c.tcp_syncookies, self.syn_cookies);
        flag(&mut c.tcp_abort_on_overflow, self.abort_on_overflow);
        flag(&mut c.tcp_timestamps, self.timestamps);
        flag(&mut c.tcp_sack, self.sack);
        flag(&mut c.tcp_window_scaling, self.window_scaling);
    }

    /// Whether any flag was given.
    pub fn any(&self) -> bool {
        let mut c = ustack::Config::default();
        self.apply(&mut c);
        c != ustack::Config::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_reach_the_config() {
        let t = TuneArgs {
            congestion: Some(Congestion::Cubic),
            rx_buffer: Some(65536),
            syn_cookies: Some(false),
            ..TuneArgs::default()
        };
        let mut c = ustack::Config::default();
        t.apply(&mut c);
        assert_eq!(c.tcp_congestion, Algorithm::Cubic);
        assert_eq!(c.tcp_rx_buffer, 65536);
        assert!(!c.tcp_syncookies);
        assert!(t.any() && !TuneArgs::default().any());
    }
}
