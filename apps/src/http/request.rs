//! The HTTP/1.x request parser (RFC 9112), reading from any `BufRead` so it is testable without
//! a socket. It enforces the server's limits while reading, so an oversized request is refused
//! before it is buffered.

use std::fmt;
use std::io::{self, BufRead, Read};

/// Longest request line accepted (RFC 9112 §3 recommends supporting at least 8000 octets);
/// longer gives 414.
pub const MAX_REQUEST_LINE: usize = 8 << 10;
/// Largest header section (all field lines with their CRLFs); larger gives 431.
pub const MAX_HEADER_SECTION: usize = 16 << 10;
/// Largest request body accepted (and discarded: GET and HEAD ignore it); larger gives 413.
pub const MAX_BODY: u64 = 64 << 10;
/// Empty lines tolerated before the request line (RFC 9112 §2.2: SHOULD ignore at least one).
const MAX_LEADING_EMPTY_LINES: usize = 4;

/// The HTTP version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: the connection closes after the response unless keep-alive is asked for.
    Http10,
    /// HTTP/1.1 (and any later 1.x, RFC 9110 §6.2): persistent by default.
    Http11,
}

impl Version {
    /// As it appears on the status line.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// A parsed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The method, case-sensitive (RFC 9110 §9.1).
    pub method: String,
    /// The request target as sent (origin-form `/path?query`, or absolute-form).
    pub target: String,
    /// The version.
    pub version: Version,
    /// Field lines in order; names as sent (compare case-insensitively), values trimmed.
    pub headers: Vec<(String, String)>,
    /// The body (at most [`MAX_BODY`] bytes, framed by Content-Length).
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the `Connection` header lists `token` (case-insensitive).
    fn connection_has(&self, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether the connection stays open after the response (RFC 9112 §9.3): HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        match self.version {
            Version::Http11 => !self.connection_has("close"),
            Version::Http10 => self.connection_has("keep-alive") && !self.connection_has("close"),
        }
    }

    /// The path of the target without query or fragment: origin-form as is, absolute-form
    /// (`http://host/path`, RFC 9112 §3.2.2) with scheme and authority removed.
    pub fn path(&self) -> &str {
        let t = self.target.as_str();
        let t = match t.find("://") {
            Some(i) if !t.starts_with('/') => {
                let rest = &t[i + 3..];
                rest.find('/').map_or("/", |j| &rest[j..])
            }
            _ => t,
        };
        let end = t.find(['?', '#']).unwrap_or(t.len());
        &t[..end]
    }
}

/// Why a request could not be read; each maps to the status the server answers with.
#[derive(Debug)]
pub enum ParseError {
    /// Malformed request line, field line or framing: 400.
    BadRequest(&'static str),
    /// The request line is longer than [`MAX_REQUEST_LINE`]: 414.
    UriTooLong,
    /// The header section is larger than [`MAX_HEADER_SECTION`]: 431.
    HeadersTooLarge,
    /// Content-Length above [`MAX_BODY`]: 413.
    BodyTooLarge,
    /// A transfer coding we do not implement (chunked request bodies): 501.
    NotImplemented(&'static str),
    /// An HTTP major version other than 1: 505.
    VersionNotSupported,
    /// The connection failed or timed out.
    Io(io::Error),
}

impl ParseError {
    /// The status code to answer with (None for I/O errors: nothing can be sent).
    pub fn status(&self) -> Option<u16> {
        match self {
            ParseError::BadRequest(_) => Some(400),
            ParseError::UriTooLong => Some(414),
            ParseError::HeadersTooLarge => Some(431),
            ParseError::BodyTooLarge => Some(413),
            ParseError::NotImplemented(_) => Some(501),
            ParseError::VersionNotSupported => Some(505),
            ParseError::Io(_) => None,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::BadRequest(why) => write!(f, "bad request: {why}"),
            ParseError::UriTooLong => write!(f, "request line longer than {MAX_REQUEST_LINE}"),
            ParseError::HeadersTooLarge => {
                write!(f, "header section larger than {MAX_HEADER_SECTION}")
            }
            ParseError::BodyTooLarge => write!(f, "request body larger than {MAX_BODY}"),
            ParseError::NotImplemented(why) => write!(f, "not implemented: {why}"),
            ParseError::VersionNotSupported => f.write_str("HTTP version not supported"),
            ParseError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl From<io::Error> for ParseError {
    fn from(e: io::Error) -> Self {
        ParseError::Io(e)
    }
}

/// tchar of RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Outcome of reading one line.
enum Line {
    /// End of stream before any byte of the line.
    Eof,
    /// The line without its LF (and without a CR before it).
    Text(Vec<u8>),
}

/// Reads one line of at most `limit` bytes (its CRLF included); `too_long` otherwise. A bare LF
/// ends a line too (RFC 9112 §2.2 allows recognising it).
fn read_line<R: BufRead>(
    r: &mut R,
    limit: usize,
    too_long: fn() -> ParseError,
) -> Result<Line, ParseError> {
    let mut line = Vec::new();
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            return if line.is_empty() {
                Ok(Line::Eof)
            } else {
                Err(ParseError::BadRequest("connection closed inside a line"))
            };
        }
        let (take, done) = match avail.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        if line.len() + take > limit {
            return Err(too_long());
        }
        line.extend_from_slice(&avail[..take]);
        r.consume(take);
        if done {
            line.pop(); // LF
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            if line.contains(&b'\r') {
                // RFC 9112 §2.2: a bare CR must be treated as invalid (or replaced).
                return Err(ParseError::BadRequest("bare CR"));
            }
            return Ok(Line::Text(line));
        }
    }
}

fn parse_version(v: &[u8]) -> Result<Version, ParseError> {
    // HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3), case-sensitive.
    match v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                (b'1', _) => Ok(Version::Http11),
                _ => Err(ParseError::VersionNotSupported),
            }
        }
        _ => Err(ParseError::BadRequest("malformed HTTP version")),
    }
}

/// Reads one request (line, header section, body). `Ok(None)`: the peer closed the connection
/// cleanly before sending anything.
pub fn read_request<R: BufRead>(r: &mut R) -> Result<Option<Request>, ParseError> {
    // The request line, after at most a few empty lines.
    let mut empties = 0;
    let line = loop {
        match read_line(r, MAX_REQUEST_LINE + 2, || ParseError::UriTooLong)? {
            Line::Eof if empties == 0 => return Ok(None),
            Line::Eof => return Err(ParseError::BadRequest("no request line")),
            Line::Text(l) if l.is_empty() && empties < MAX_LEADING_EMPTY_LINES => empties += 1,
            Line::Text(l) => break l,
        }
    };
    // request-line = method SP request-target SP HTTP-version (RFC 9112 §3), single spaces.
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::BadRequest("malformed request line"));
    };
    if !is_token(method) {
        return Err(ParseError::BadRequest("malformed method"));
    }
    if target.is_empty() || !target.iter().all(|b| b.is_ascii_graphic()) {
        return Err(ParseError::BadRequest("malformed request target"));
    }
    let version = parse_version(version)?;
    let method = String::from_utf8_lossy(method).into_owned();
    let target = String::from_utf8_lossy(target).into_owned();

    // Field lines (RFC 9112 §5), then an empty line.
    let mut headers = Vec::new();
    let mut budget = MAX_HEADER_SECTION;
    loop {
        let line = match read_line(r, budget, || ParseError::HeadersTooLarge)? {
            Line::Eof => return Err(ParseError::BadRequest("connection closed in the headers")),
            Line::Text(l) => l,
        };
        budget = budget.saturating_sub(line.len() + 2);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            // RFC 9112 §5.2: obsolete line folding may be rejected with 400.
            return Err(ParseError::BadRequest("obsolete line folding"));
        }
        let colon = line
            .iter()
            .position(|&b| b == b':')
            .ok_or(ParseError::BadRequest("field line without a colon"))?;
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        // RFC 9112 §5.1: no whitespace between name and colon (400).
        if !is_token(name) {
            return Err(ParseError::BadRequest("malformed field name"));
        }
        let value = value.trim_ascii();
        if value
            .iter()
            .any(|&b| b == 0 || (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            return Err(ParseError::BadRequest("control character in a field value"));
        }
        headers.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
    }

    let mut req = Request {
        method,
        target,
        version,
        headers,
        body: Vec::new(),
    };
    // RFC 9112 §3.2: a 1.1 request without exactly one Host is a 400.
    let hosts = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("host"))
        .count();
    if hosts > 1 || (hosts == 0 && req.version == Version::Http11) {
        return Err(ParseError::BadRequest("HTTP/1.1 needs exactly one Host"));
    }
    let length = content_length(&req)?;
    if length > MAX_BODY {
        return Err(ParseError::BodyTooLarge);
    }
    if length > 0 {
        let mut body = Vec::with_capacity(length as usize);
        r.take(length).read_to_end(&mut body)?;
        if (body.len() as u64) < length {
            return Err(ParseError::BadRequest("connection closed in the body"));
        }
        req.body = body;
    }
    Ok(Some(req))
}

/// The body length (RFC 9112 §6): Transfer-Encoding is not implemented (501); every
/// Content-Length must be the same non-negative decimal (400 otherwise).
fn content_length(req: &Request) -> Result<u64, ParseError> {
    if req.header("transfer-encoding").is_some() {
        return Err(ParseError::NotImplemented("Transfer-Encoding in requests"));
    }
    let mut length = None;
    for (_, v) in req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        for item in v.split(',') {
            let item = item.trim();
            if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseError::BadRequest("malformed Content-Length"));
            }
            // Too many digits to fit is certainly too large.
            let n = item.parse::<u64>().unwrap_or(u64::MAX);
            if length.is_some_and(|l| l != n) {
                return Err(ParseError::BadRequest("conflicting Content-Length"));
            }
            length = Some(n);
        }
    }
    Ok(length.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn parse(bytes: &[u8]) -> Result<Option<Request>, ParseError> {
        read_request(&mut Cursor::new(bytes.to_vec()))
    }

    fn status(bytes: &[u8]) -> Option<u16> {
        parse(bytes).err().and_then(|e| e.status())
    }

    #[test]
    fn a_simple_get() {
        let r = parse(b"GET /stats?x=1 HTTP/1.1\r\nHost: a\r\nUser-Agent:  curl/8 \r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.target, "/stats?x=1");
        assert_eq!(r.path(), "/stats");
        assert_eq!(r.version, Version::Http11);
        assert_eq!(r.header("user-agent"), Some("curl/8"));
        assert_eq!(r.header("HOST"), Some("a"));
        assert!(r.keep_alive());
        assert!(r.body.is_empty());
    }

    #[test]
    fn pipelined_requests_and_clean_eof() {
        let mut c = Cursor::new(
            b"\r\nGET /a HTTP/1.1\nHost: a\n\nHEAD /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                .to_vec(),
        );
        let a = read_request(&mut c).unwrap().unwrap();
        assert_eq!(a.path(), "/a");
        let b = read_request(&mut c).unwrap().unwrap();
        assert_eq!((b.method.as_str(), b.path()), ("HEAD", "/b"));
        assert!(!b.keep_alive());
        assert!(read_request(&mut c).unwrap().is_none());
    }

    #[test]
    fn keep_alive_rules() {
        let r = |s: &[u8]| parse(s).unwrap().unwrap().keep_alive();
        assert!(!r(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(r(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!r(
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, close\r\n\r\n"
        ));
        assert!(r(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        // A later 1.x minor version is treated as 1.1.
        assert_eq!(
            parse(b"GET / HTTP/1.7\r\nHost: a\r\n\r\n")
                .unwrap()
                .unwrap()
                .version,
            Version::Http11
        );
    }

    #[test]
    fn absolute_form_targets() {
        let r = parse(b"GET http://198.18.0.2/stats?q HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.path(), "/stats");
        let r = parse(b"GET http://198.18.0.2 HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(r.path(), "/");
    }

    #[test]
    fn bodies_are_read_and_limited() {
        let r = parse(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET")
            .unwrap()
            .unwrap();
        assert_eq!(r.body, b"hello");
        let big = format!(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
            65537
        );
        assert_eq!(status(big.as_bytes()), Some(413));
        let huge = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n";
        assert_eq!(status(huge), Some(413));
        // Exactly the limit is fine.
        let mut ok = format!(
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
            65536
        )
        .into_bytes();
        ok.extend(std::iter::repeat_n(b'x', 65536));
        assert_eq!(parse(&ok).unwrap().unwrap().body.len(), 65536);
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nshort"),
            Some(400)
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
            Some(400)
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Some(501)
        );
    }

    #[test]
    fn malformed_requests_are_400() {
        for bad in [
            &b"GET /\r\n\r\n"[..],
            b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n",
            b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTX/1.1\r\nHost: a\r\n\r\n",
            b"GET / http/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n",
            b"GET / HT",
            b"\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
        ] {
            assert_eq!(status(bad), Some(400), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(status(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n"), Some(505));
    }

    #[test]
    fn size_limits() {
        let long = format!(
            "GET /{} HTTP/1.1\r\nHost: a\r\n\r\n",
            "a".repeat(MAX_REQUEST_LINE)
        );
        assert_eq!(status(long.as_bytes()), Some(414));
        // Just under the limit passes.
        let fits = format!(
            "GET /{} HTTP/1.1\r\nHost: a\r\n\r\n",
            "a".repeat(MAX_REQUEST_LINE - 15)
        );
        assert!(parse(fits.as_bytes()).unwrap().is_some());
        let mut many = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..1000 {
            many.push_str(&format!("X-Header-{i}: value\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(status(many.as_bytes()), Some(431));
        let one_big = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
            "v".repeat(20000)
        );
        assert_eq!(status(one_big.as_bytes()), Some(431));
    }

    #[test]
    fn empty_input_is_a_clean_close() {
        assert!(parse(b"").unwrap().is_none());
        assert_eq!(status(b"\r\n"), Some(400));
    }
}
