//! The ping and UDP-echo client app of the smoltcp node (`Role::Ping`, `Role::UdpClient`).

use super::*;

impl ProbeApp {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        handle: SocketHandle,
        udp: bool,
        remote: IpAddr,
        port: u16,
        count: u32,
        size: usize,
        interval: Duration,
        start: Instant,
    ) -> Self {
        ProbeApp {
            handle,
            udp,
            remote,
            port,
            count,
            size,
            interval,
            start,
            next: 0,
            last_send: None,
            answered: vec![false; count as usize],
            answers: 0,
            sent_bytes: 0,
            done: count == 0,
        }
    }

    pub(super) fn send_at(&self, i: u32) -> Instant {
        self.start + Duration::from_micros(self.interval.total_micros() * i as u64)
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        if self.done {
            None
        } else if self.next < self.count {
            Some(self.send_at(self.next))
        } else {
            self.last_send.map(|t| t + REPLY_WAIT)
        }
    }

    pub(super) fn intact(&self, i: u32, data: &[u8]) -> bool {
        data.len() == self.size
            && data
                .iter()
                .enumerate()
                .all(|(p, &b)| b == stream_byte(u64::from(i), p as u64))
    }

    /// Which probe `data` answers: `Ok(Some(i))` for a first answer to probe `i`, `Ok(None)`
    /// for a duplicate, `Err` for a reply that matches nothing sent. `seq` is the ICMP
    /// sequence number; UDP echoes are matched by content.
    pub(super) fn classify(&self, data: &[u8], seq: Option<u32>) -> Result<Option<u32>, String> {
        let n = data.len();
        match seq {
            Some(i) if i >= self.next => Err(format!("reply to seq {i}, never sent")),
            Some(i) if self.intact(i, data) => Ok((!self.answered[i as usize]).then_some(i)),
            Some(i) => Err(format!("reply {i}: wrong data ({n} bytes)")),
            None => {
                match (0..self.next).find(|&i| !self.answered[i as usize] && self.intact(i, data)) {
                    Some(i) => Ok(Some(i)),
                    None if (0..self.next).any(|i| self.intact(i, data)) => Ok(None),
                    None => Err(format!("echo of {n} bytes matches no datagram sent")),
                }
            }
        }
    }

    pub(super) fn pump(
        &mut self,
        now: Instant,
        sockets: &mut SocketSet<'static>,
        receipt: &mut Receipt,
        scratch: &mut [u8],
        errors: &mut Vec<String>,
    ) -> bool {
        let mut acted = false;
        // Send what is due.
        while self.next < self.count && self.send_at(self.next) <= now {
            let seq = self.next;
            let size = self.size;
            let sent = if self.udp {
                let socket = sockets.get_mut::<udp::Socket>(self.handle);
                match socket.send(size, (IpAddress::from(self.remote), self.port)) {
                    Ok(buf) => {
                        fill_stream(seq as u64, 0, buf);
                        true
                    }
                    Err(_) => false,
                }
            } else {
                let mut data = vec![0u8; size];
                fill_stream(seq as u64, 0, &mut data);
                let socket = sockets.get_mut::<icmp::Socket>(self.handle);
                send_echo_request(socket, self.remote, seq as u16, &data)
            };
            if !sent {
                break; // buffer full: retried once the interface has drained it
            }
            self.next += 1;
            self.last_send = Some(now);
            self.sent_bytes += size as u64;
            acted = true;
        }

        // Collect replies.
        loop {
            let reply = if self.udp {
                let socket = sockets.get_mut::<udp::Socket>(self.handle);
                match socket.recv_slice(scratch) {
                    Ok((n, meta))
                        if meta.endpoint == (IpAddress::from(self.remote), self.port).into() =>
                    {
                        Reply::Data(n, None)
                    }
                    Ok((_, meta)) => Reply::Bad(format!(
                        "datagram from {}, expected {}:{}",
                        meta.endpoint, self.remote, self.port
                    )),
                    Err(_) => break,
                }
            } else {
                let socket = sockets.get_mut::<icmp::Socket>(self.handle);
                match socket.recv() {
                    Ok((payload, _)) => match echo_reply(payload, self.remote) {
                        Some((seq_no, data)) => {
                            let n = data.len().min(scratch.len());
                            scratch[..n].copy_from_slice(&data[..n]);
                            Reply::Data(n, Some(u32::from(seq_no)))
                        }
                        // An ident socket sees only echo messages with its ident (smoltcp does
                        // not deliver ICMP errors to it); requests are not replies.
                        None => Reply::Ignore,
                    },
                    Err(_) => break,
                }
            };
            acted = true;
            let (n, hint) = match reply {
                Reply::Data(n, hint) => (n, hint),
                Reply::Ignore => continue,
                Reply::Bad(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let data = &scratch[..n];
            match self.classify(data, hint) {
                Ok(Some(i)) => {
                    self.answered[i as usize] = true;
                    self.answers += 1;
                    receipt.bytes += n as u64;
                    receipt.hasher.update(data);
                }
                Ok(None) => {} // a duplicate of an answer already counted
                Err(e) => {
                    receipt.ok = false;
                    errors.push(e);
                }
            }
        }

        if !self.done
            && self.next == self.count
            && (self.answers == self.count as u64
                || self.last_send.is_some_and(|t| now >= t + REPLY_WAIT))
        {
            self.done = true;
        }
        acted
    }

    pub(super) fn is_duplicate(&self, data: &[u8]) -> bool {
        data.len() == self.size
            && (0..self.next).any(|i| {
                self.answered[i as usize]
                    && data
                        .iter()
                        .enumerate()
                        .all(|(p, &b)| b == stream_byte(i as u64, p as u64))
            })
    }
}

/// Queues an echo request of `PING_IDENT` to `remote`: ICMPv4, or ICMPv6 (whose checksum the
/// socket computes on dispatch, once it has chosen the source address). False if the buffer
/// is full.
fn send_echo_request(
    socket: &mut icmp::Socket<'static>,
    remote: IpAddr,
    seq_no: u16,
    data: &[u8],
) -> bool {
    let caps = ChecksumCapabilities::default();
    match remote {
        IpAddr::V4(_) => {
            let repr = Icmpv4Repr::EchoRequest {
                ident: PING_IDENT,
                seq_no,
                data,
            };
            let Ok(buf) = socket.send(repr.buffer_len(), IpAddress::from(remote)) else {
                return false;
            };
            repr.emit(&mut Icmpv4Packet::new_unchecked(buf), &caps);
        }
        IpAddr::V6(dst) => {
            let repr = Icmpv6Repr::EchoRequest {
                ident: PING_IDENT,
                seq_no,
                data,
            };
            let Ok(buf) = socket.send(repr.buffer_len(), IpAddress::from(remote)) else {
                return false;
            };
            let unspecified = Ipv6Addr::UNSPECIFIED;
            repr.emit(
                &unspecified,
                &dst,
                &mut Icmpv6Packet::new_unchecked(buf),
                &caps,
            );
        }
    }
    true
}

/// The sequence number and data of an echo reply with `PING_IDENT` in `payload` (an ICMPv4 or
/// ICMPv6 message, as the socket delivers it: its checksum was verified on the way in).
fn echo_reply(payload: &[u8], remote: IpAddr) -> Option<(u16, &[u8])> {
    let caps = ChecksumCapabilities::ignored();
    match remote {
        IpAddr::V4(_) => match Icmpv4Packet::new_checked(payload)
            .and_then(|p| Icmpv4Repr::parse(&p, &caps))
            .ok()?
        {
            Icmpv4Repr::EchoReply {
                ident: PING_IDENT,
                seq_no,
                data,
            } => Some((seq_no, data)),
            _ => None,
        },
        IpAddr::V6(src) => {
            let unspecified = Ipv6Addr::UNSPECIFIED;
            match Icmpv6Packet::new_checked(payload)
                .and_then(|p| Icmpv6Repr::parse(&src, &unspecified, &p, &caps))
                .ok()?
            {
                Icmpv6Repr::EchoReply {
                    ident: PING_IDENT,
                    seq_no,
                    data,
                } => Some((seq_no, data)),
                _ => None,
            }
        }
    }
}
