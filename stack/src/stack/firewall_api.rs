//! The firewall's place in [`Stack`]: installing a rule set, and the hooks the receive and
//! transmit paths call (the rules themselves: [`crate::filter::fw`]).

use super::{Arrival, Stack};
use crate::filter::fw::{Firewall, Hook, RejectWith, Verdict, View};
use crate::stats::DropReason;
use crate::wire::build::{Ipv4, Ipv6, Packet, Tcp};
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::{icmp, icmpv6, proto, tcp::flags};
use log::debug;
use std::net::IpAddr;

/// How to answer a packet a rule rejects.
pub(crate) enum Answer<'a, 'b> {
    /// An IPv4 datagram: its arrival and payload (for the ICMP error's quote).
    V4(Arrival<'a>, &'a [u8]),
    /// An IPv6 packet.
    V6(&'a Ipv6Packet<'b>),
}

impl Stack {
    /// Installs `fw` (replacing the rule set in force, atomically between two packets), or
    /// removes the firewall with `None`. An empty rule set costs nothing per packet.
    pub fn set_firewall(&mut self, fw: Option<Firewall>) {
        self.firewall = fw.filter(|f| !f.is_empty()).map(Box::new);
    }

    /// The rule set in force, with its counters and tracker.
    pub fn firewall(&self) -> Option<&Firewall> {
        self.firewall.as_deref()
    }

    /// The rule set in force, to change it live (`add_rule`, `delete_rule`, `flush`); one is
    /// created (accepting everything) if none is installed.
    pub fn firewall_mut(&mut self) -> &mut Firewall {
        self.firewall.get_or_insert_with(|| {
            Box::new(Firewall::new(crate::filter::fw::DEFAULT_CONNTRACK_MAX))
        })
    }

    /// Runs the `hook` chain on an arriving `packet`; true when it must go no further (dropped,
    /// or rejected and answered; counted either way).
    pub(crate) fn firewall_stops(
        &mut self,
        hook: Hook,
        packet: &[u8],
        answer: Answer<'_, '_>,
    ) -> bool {
        let Some(fw) = self.firewall.as_mut() else {
            return false;
        };
        let d = fw.check(self.now, hook, packet);
        let with = match d.verdict {
            Verdict::Accept => return false,
            Verdict::Drop => {
                debug!(
                    "firewall: {} rule {:?} dropped a packet",
                    hook.name(),
                    d.rule
                );
                self.drop_packet(DropReason::FirewallDrop);
                return true;
            }
            Verdict::Reject(with) => with,
        };
        debug!(
            "firewall: {} rule {:?} rejected a packet",
            hook.name(),
            d.rule
        );
        self.drop_packet(DropReason::FirewallReject);
        self.reject(packet, with, answer);
        true
    }

    /// Runs the output chain on a packet about to leave; true when it must not.
    pub(crate) fn firewall_blocks_output(&mut self, packet: &[u8]) -> bool {
        let Some(fw) = self.firewall.as_mut() else {
            return false;
        };
        if fw.check(self.now, Hook::Output, packet).verdict == Verdict::Accept {
            return false;
        }
        self.drop_packet(DropReason::FirewallOutput);
        true
    }

    /// Answers a rejected packet: an RST for TCP (unless asked for an ICMP error, or it is an
    /// RST itself — RFC 9293 §3.10.7.1), else destination unreachable with the rule's code
    /// (port unreachable by default, as nft's `reject`), under the ICMP error rate limit and
    /// RFC 1122 §3.2.2 / RFC 4443 §2.4's rules on when an error may be sent.
    fn reject(&mut self, packet: &[u8], with: RejectWith, answer: Answer<'_, '_>) {
        let Some(v) = View::parse(packet) else {
            return;
        };
        let tcp_rst =
            v.proto == proto::TCP && matches!(with, RejectWith::Default | RejectWith::TcpReset);
        if tcp_rst {
            return self.reject_with_rst(&v, packet);
        }
        match answer {
            Answer::V4(a, payload) => {
                let code = match with {
                    RejectWith::Unreachable(c) => c,
                    _ => icmp::unreach::PORT,
                };
                self.send_icmp_error(a, payload, icmp::types::DEST_UNREACHABLE, code, [0; 4]);
            }
            Answer::V6(p) => {
                let code = match with {
                    RejectWith::Unreachable(c) => c,
                    _ => icmpv6::unreach::PORT,
                };
                self.send_icmp6_error(p, (icmpv6::types::DEST_UNREACHABLE, code, 0), false);
            }
        }
    }

    /// RFC 9293 §3.10.7.1: to a segment with ACK, `<SEQ=SEG.ACK><CTL=RST>`; else
    /// `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`. Never to an RST.
    fn reject_with_rst(&mut self, v: &View, packet: &[u8]) {
        let (Some(seg), Some(f), Some((sport, dport))) =
            (packet.get(v.l4_at..), v.tcp_flags, v.ports)
        else {
            return;
        };
        if f & flags::RST != 0 || seg.len() < 20 {
            return;
        }
        let seq = u32::from_be_bytes([seg[4], seg[5], seg[6], seg[7]]);
        let ack = u32::from_be_bytes([seg[8], seg[9], seg[10], seg[11]]);
        let data = seg.len().saturating_sub(usize::from(seg[12] >> 4) * 4);
        let len = data as u32 + u32::from(f & flags::SYN != 0) + u32::from(f & flags::FIN != 0);
        let tcp = Tcp::new().sport(dport).dport(sport).window(0);
        let tcp = if f & flags::ACK != 0 {
            tcp.seq(ack).flags(flags::RST)
        } else {
            tcp.seq(0)
                .ack(seq.wrapping_add(len))
                .flags(flags::RST | flags::ACK)
        };
        let ttl = self.config.ttl;
        let p: Packet = match (v.dst, v.src) {
            (IpAddr::V4(me), IpAddr::V4(peer)) => {
                Ipv4::new().src(me).dst(peer).ttl(ttl).df(true) / tcp
            }
            (IpAddr::V6(me), IpAddr::V6(peer)) => {
                Ipv6::new().src(me).dst(peer).hop_limit(ttl) / tcp
            }
            _ => return,
        };
        let Ok(bytes) = p.build() else {
            return;
        };
        let mut buf = self.pool.take(bytes.len());
        buf.extend_from_slice(&bytes);
        if let Err((_, buf)) = self.tx.push_raw(buf, self.config.mtu) {
            self.pool.give(buf);
        }
    }
}
