//! The daemon's control protocol (docs/CONTROL.md, `ustack_apps::daemon::proto`) must never
//! panic, whatever a client sends, and what it parses must survive a round trip.
//!
//! Input: arbitrary bytes, used three ways.
//! 1. As what a client writes to the control socket: cut into lines the way the server's line
//!    reader does (`\n` ends a line, one trailing `\r` is dropped, a line over `MAX_LINE` ends the
//!    connection, blank lines are skipped), each line through `proto::parse_request`, the same
//!    call the server makes. A parsed request re-serialises (`request_line`, the client's
//!    encoder) to one line that parses back to the same id and request; the id is the line's
//!    `"id"` when that is a u64; a `capture` request's filter goes through `Filter::parse` (as
//!    the capture job does). A refused line gets an error reply that `reply_line` writes as
//!    exactly one line, which parses back as a `Reply` with the same id, code and message.
//! 2. Each line as a reply the client reads (`serde_json::from_slice::<Reply>`): a reply that
//!    parses re-serialises to one line and parses back equal.
//! 3. The bytes as a UDP relay stream (`unframe` until it waits for more): every frame is its
//!    2-byte length then that many bytes, and `frame` gives the consumed bytes back; and `frame`
//!    of the whole input (capped at 65,535 bytes) unframes to the same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ustack::filter::Filter;
use ustack_apps::daemon::proto::{
    self, frame, parse_request, reply_line, request_line, Body, Reply, Request, MAX_LINE,
};

/// `line` must be exactly one line: newline-terminated, no other newline.
fn one_line(line: &[u8]) -> &[u8] {
    assert_eq!(line.last(), Some(&b'\n'), "line not newline-terminated");
    let body = &line[..line.len() - 1];
    assert!(
        !body.contains(&b'\n'),
        "a newline inside a line: {:?}",
        String::from_utf8_lossy(line)
    );
    body
}

fn request(line: &[u8]) {
    match parse_request(line) {
        Ok((id, req)) => {
            // The id the server answers with is the line's own (0 when absent or not a u64).
            let value: serde_json::Value = serde_json::from_slice(line).expect("parsed, so JSON");
            let want = value.get("id").and_then(|v| v.as_u64()).unwrap_or(0);
            assert_eq!(id, want);
            let _ = req.is_stream();
            let again = request_line(id, &req);
            let body = one_line(&again);
            match parse_request(body) {
                Ok((id2, req2)) => {
                    assert_eq!(id2, id);
                    assert_eq!(
                        req2,
                        req,
                        "request changed in a round trip: {:?}",
                        String::from_utf8_lossy(body)
                    );
                }
                Err((_, e)) => panic!(
                    "re-serialised request refused: {e:?}\nline: {:?}\nagain: {:?}",
                    String::from_utf8_lossy(line),
                    String::from_utf8_lossy(body)
                ),
            }
            if let Request::Capture(c) = &req {
                if let Ok(f) = Filter::parse(&c.filter) {
                    assert_eq!(f.text(), c.filter);
                    let _ = f.matches(line);
                }
            }
        }
        Err((id, e)) => {
            let code = e.code;
            let message = e.message.clone();
            let out = reply_line(id, Body::Error(e));
            let body = one_line(&out);
            let back: Reply = serde_json::from_slice(body).expect("an error reply parses back");
            assert_eq!(back.v, proto::VERSION);
            assert_eq!(back.id, id);
            match back.body {
                Body::Error(e2) => {
                    assert_eq!(e2.code, code);
                    assert_eq!(e2.message, message);
                }
                other => panic!("error reply came back as {other:?}"),
            }
        }
    }
}

fn reply(line: &[u8]) {
    let Ok(r) = serde_json::from_slice::<Reply>(line) else {
        return;
    };
    let out = reply_line(r.id, r.body.clone());
    let body = one_line(&out);
    let back: Reply = serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!(
            "re-serialised reply refused: {e}\n{:?}",
            String::from_utf8_lossy(body)
        )
    });
    assert_eq!(back.id, r.id);
    assert_eq!(back.v, proto::VERSION);
    assert_eq!(back.body, r.body, "reply changed in a round trip");
}

fn frames(data: &[u8]) {
    let mut rest = data;
    while let Some((f, after)) = proto::unframe(rest) {
        let used = rest.len() - after.len();
        match f {
            proto::Framed::Datagram(d) => {
                assert_eq!(used, 2 + d.len());
                assert_eq!(frame(d), &rest[..used]);
            }
            proto::Framed::IcmpError { icmp_type, code } => {
                assert_eq!(proto::error_frame(icmp_type, code), &rest[..used]);
            }
        }
        rest = after;
    }
    // What is left is an incomplete frame.
    if rest.len() >= 2 {
        let len = u16::from_be_bytes([rest[0], rest[1]]);
        let need = if len == proto::ICMP_ERROR_MARK { 2 } else { usize::from(len) };
        assert!(rest.len() - 2 < need);
    }
    let n = data.len().min(usize::from(proto::ICMP_ERROR_MARK - 1));
    let framed = frame(data);
    let (d, after) = proto::unframe(&framed).expect("a whole frame");
    assert_eq!(d, proto::Framed::Datagram(&data[..n]));
    assert!(after.is_empty());
}

fuzz_target!(|data: &[u8]| {
    // The server's line discipline (apps/src/daemon/conn.rs, LineReader::next).
    let mut rest = data;
    loop {
        let Some(pos) = rest.iter().position(|&b| b == b'\n') else {
            // An unterminated tail is not a request (the server waits, or sees EOF); the
            // parser must still cope with it.
            if rest.len() <= MAX_LINE {
                let _ = parse_request(rest);
            }
            break;
        };
        let mut line = &rest[..pos];
        rest = &rest[pos + 1..];
        if line.len() > MAX_LINE {
            break; // line_too_long; the connection is closed
        }
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        reply(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        request(line);
    }
    frames(data);
});
