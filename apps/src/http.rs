//! HTTP/1.1 server (RFC 9110, RFC 9112) on the stack: GET and HEAD, persistent connections,
//! the built-in home page and `/stats`, and files from `--http-root`.
//!
//! Routes: `/stats` (text/plain) and `/stats.json` always; `/` is `DIR/index.html` when the
//! root has one, else the built-in page; every other path is a file under the root (a
//! directory serves its `index.html`; there are no listings). Error answers:
//!
//! | status | when |
//! |---|---|
//! | 400 | malformed request line or field line, bad framing, missing Host in 1.1, `..` in the path, bad percent-encoding |
//! | 404 | no such route or regular file |
//! | 405 | a method other than GET and HEAD (with `Allow: GET, HEAD`) |
//! | 413 | Content-Length above 64 KiB |
//! | 414 | request line above 8 KiB |
//! | 431 | header section above 16 KiB |
//! | 501 | Transfer-Encoding in a request |
//! | 505 | HTTP major version other than 1 |
//!
//! Every response has Content-Length. After a 4xx/5xx about the request's syntax or size the
//! connection is closed (after a lingering drain, so the answer is not lost to a reset); 404
//! and 405 keep it open. A client gets 30 s to send each request (idle time between requests
//! included) and each read or write must progress within 30 s.

pub mod pages;
pub mod request;

use crate::server::Conn;
use request::{read_request, ParseError, Request, Version};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Time a client has to send a complete request (idle keep-alive time included).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Time any single read or write may go without progress.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long (and how much) a closing connection drains what the client still sends.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// What the server needs besides the connection.
pub struct Site {
    /// Canonical `--http-root`, if any.
    pub root: Option<PathBuf>,
    /// The stack's address (for the home page).
    pub addr: std::net::Ipv4Addr,
    /// Takes a snapshot of the connection table and counters.
    pub snapshot: Box<dyn Fn() -> pages::Snapshot + Send + Sync>,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site")
            .field("root", &self.root)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Site {
    /// A site serving `root` (checked: it must be a directory).
    pub fn new(
        root: Option<&Path>,
        addr: std::net::Ipv4Addr,
        snapshot: Box<dyn Fn() -> pages::Snapshot + Send + Sync>,
    ) -> io::Result<Site> {
        let root = match root {
            Some(r) => {
                let c = r.canonicalize().map_err(|e| {
                    io::Error::new(e.kind(), format!("--http-root {}: {e}", r.display()))
                })?;
                if !c.is_dir() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("--http-root {}: not a directory", r.display()),
                    ));
                }
                Some(c)
            }
            None => None,
        };
        Ok(Site {
            root,
            addr,
            snapshot,
        })
    }
}

/// A response body.
#[derive(Debug)]
pub enum Body {
    /// In memory.
    Bytes(Vec<u8>),
    /// A file of the given length.
    File(File, u64),
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Bytes(b) => b.len() as u64,
            Body::File(_, n) => *n,
        }
    }
}

/// A response.
#[derive(Debug)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Extra header fields (Content-Length, Date, Server, Connection are added when sent).
    pub headers: Vec<(&'static str, String)>,
    /// The body (sent only for GET).
    pub body: Body,
}

impl Response {
    fn bytes(status: u16, content_type: &str, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type", content_type.to_string())],
            body: Body::Bytes(body),
        }
    }

    fn error(status: u16, detail: &str) -> Response {
        let text = format!("{status} {}\n{detail}\n", reason(status));
        Response::bytes(status, "text/plain; charset=utf-8", text.into_bytes())
    }
}

/// The reason phrase of `status`.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// Content-Type by file extension.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(OsStr::to_str)
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("txt") => "text/plain; charset=utf-8",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

/// Decodes `%XX` escapes; a `%` not followed by two hex digits is an error.
pub fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Maps a request path to a file under `root`. Segments are percent-decoded one by one; a
/// decoded segment that is `..` or contains `/` or NUL is refused (400); the result, after
/// symlinks are resolved, must still be under `root` and be a regular file (404 otherwise). A
/// directory means its `index.html`.
pub fn resolve(root: &Path, path: &str) -> Result<PathBuf, u16> {
    let mut p = root.to_path_buf();
    for seg in path.split('/') {
        if seg.is_empty() {
            continue;
        }
        let seg = percent_decode(seg).ok_or(400u16)?;
        match seg.as_slice() {
            b"." => continue,
            b".." => return Err(400),
            s if s.contains(&b'/') || s.contains(&0) => return Err(400),
            s => p.push(OsStr::from_bytes(s)),
        }
    }
    let mut real = p.canonicalize().map_err(|_| 404u16)?;
    if real.is_dir() {
        real = real.join("index.html").canonicalize().map_err(|_| 404u16)?;
    }
    if !real.starts_with(root) || !real.is_file() {
        return Err(404);
    }
    Ok(real)
}

fn file_response(path: &Path) -> Response {
    let opened = File::open(path).and_then(|f| {
        let meta = f.metadata()?;
        Ok((f, meta))
    });
    match opened {
        Ok((f, meta)) if meta.is_file() => Response {
            status: 200,
            headers: vec![("Content-Type", content_type(path).to_string())],
            body: Body::File(f, meta.len()),
        },
        Ok(_) => Response::error(404, "not a regular file"),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            Response::error(404, "not readable")
        }
        Err(_) => Response::error(404, "no such file"),
    }
}

/// The response to a parsed request (before HEAD's body is dropped).
pub fn route(req: &Request, site: &Site) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        let mut r = Response::error(405, "only GET and HEAD are supported");
        r.headers.push(("Allow", "GET, HEAD".into()));
        return r;
    }
    let path = req.path();
    if !path.starts_with('/') {
        return Response::error(400, "the request target must be a path");
    }
    match path {
        "/stats" => {
            let s = (site.snapshot)();
            return Response::bytes(
                200,
                "text/plain; charset=utf-8",
                pages::stats_text(&s).into_bytes(),
            );
        }
        "/stats.json" => {
            let s = (site.snapshot)();
            return Response::bytes(200, "application/json", pages::stats_json(&s).into_bytes());
        }
        _ => {}
    }
    if let Some(root) = &site.root {
        match resolve(root, path) {
            Ok(file) => return file_response(&file),
            Err(400) => return Response::error(400, "bad path"),
            Err(_) if path == "/" => {}
            Err(status) => return Response::error(status, "no such file"),
        }
    }
    if path == "/" || path == "/index.html" {
        let mut r = Response::bytes(
            200,
            "text/html; charset=utf-8",
            pages::index_html(site.addr).into_bytes(),
        );
        r.headers.push(("Cache-Control", "no-cache".into()));
        return r;
    }
    Response::error(404, "no such page")
}

/// An IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Writes `resp` (its body only if `with_body`), announcing `keep_alive`.
pub fn write_response<W: Write>(
    w: &mut W,
    version: Version,
    resp: Response,
    with_body: bool,
    keep_alive: bool,
) -> io::Result<()> {
    let mut head = format!(
        "{} {} {}\r\nDate: {}\r\nServer: ustack\r\nContent-Length: {}\r\n",
        version.as_str(),
        resp.status,
        reason(resp.status),
        http_date(SystemTime::now()),
        resp.body.len()
    );
    for (name, value) in &resp.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match (keep_alive, version) {
        (false, _) => head.push_str("Connection: close\r\n"),
        (true, Version::Http10) => head.push_str("Connection: keep-alive\r\n"),
        (true, Version::Http11) => {}
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    match resp.body {
        Body::Bytes(b) => {
            if with_body {
                out.extend_from_slice(&b);
            }
            w.write_all(&out)
        }
        Body::File(f, len) => {
            w.write_all(&out)?;
            if with_body {
                let sent = io::copy(&mut f.take(len), w)?;
                if sent < len {
                    // The file shrank under us: the framing is broken, so the connection must
                    // close (the caller does on error).
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shorter than announced",
                    ));
                }
            }
            Ok(())
        }
    }
}

/// Serves one connection until it closes, fails, times out, or the server stops.
pub fn serve(conn: Conn, site: &Arc<Site>) {
    let _ = conn.stream().set_nodelay(true); // whole responses are written at once
    let peer = conn.peer();
    let mut reader = BufReader::with_capacity(16 << 10, conn);
    loop {
        reader
            .get_mut()
            .set_deadline(Some(Instant::now() + REQUEST_TIMEOUT));
        let req = match read_request(&mut reader) {
            Ok(Some(req)) => req,
            Ok(None) => return, // the client closed
            Err(ParseError::Io(e)) => {
                log::debug!("http: {peer}: {e}");
                return;
            }
            Err(e) => {
                log::debug!("http: {peer}: {e}");
                let status = e.status().unwrap_or(400);
                let resp = Response::error(status, &e.to_string());
                let conn = reader.get_mut();
                conn.set_deadline(None);
                if write_response(conn, Version::Http11, resp, true, false).is_ok() {
                    reader.into_inner().linger_close(LINGER_BYTES, LINGER_TIME);
                }
                return;
            }
        };
        let resp = route(&req, site);
        log::info!(
            "http: {peer} \"{} {} {}\" {}",
            req.method,
            req.target,
            req.version.as_str(),
            resp.status
        );
        let keep_alive = req.keep_alive() && !reader.get_ref().stopping();
        let conn = reader.get_mut();
        conn.set_deadline(None);
        if let Err(e) = write_response(conn, req.version, resp, req.method != "HEAD", keep_alive) {
            log::debug!("http: {peer}: {e}");
            return;
        }
        if !keep_alive {
            reader.into_inner().linger_close(LINGER_BYTES, LINGER_TIME);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn site(root: Option<&Path>) -> Site {
        Site::new(
            root,
            Ipv4Addr::new(198, 18, 0, 2),
            Box::new(|| pages::Snapshot {
                addr: Ipv4Addr::new(198, 18, 0, 2),
                connections: Vec::new(),
                counts: (0, 0),
                stats: ustack::Stats::default(),
            }),
        )
        .unwrap()
    }

    fn get(site: &Site, raw: &str) -> (u16, Vec<u8>, String) {
        let req = read_request(&mut io::Cursor::new(raw.as_bytes().to_vec()))
            .unwrap()
            .unwrap();
        let keep = req.keep_alive();
        let resp = route(&req, site);
        let status = resp.status;
        let mut out = Vec::new();
        write_response(&mut out, req.version, resp, req.method != "HEAD", keep).unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        (status, out, text)
    }

    #[test]
    fn dates_are_imf_fixdate() {
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(http_date(t), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b").unwrap(), b"a b");
        assert_eq!(percent_decode("%2e%2E").unwrap(), b"..");
        assert!(percent_decode("%2").is_none());
        assert!(percent_decode("%zz").is_none());
        assert!(percent_decode("%+1").is_none());
    }

    #[test]
    fn builtin_routes() {
        let s = site(None);
        let (st, _, text) = get(&s, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(st, 200);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(text.contains("Content-Type: text/html"), "{text}");
        assert!(text.contains("served by <b>ustack</b>"), "{text}");
        assert!(!text.contains("Connection: close"), "{text}");
        let (_, _, text) = get(&s, "HEAD / HTTP/1.0\r\n\r\n");
        assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{text}");
        assert!(text.contains("Connection: close"), "{text}");
        assert!(text.ends_with("\r\n\r\n"), "HEAD has no body: {text}");
        let (st, _, text) = get(&s, "GET /stats HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(st, 200);
        assert!(text.contains("text/plain"), "{text}");
        let (st, _, text) = get(
            &s,
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi",
        );
        assert_eq!(st, 405);
        assert!(text.contains("Allow: GET, HEAD\r\n"), "{text}");
        let (st, _, _) = get(&s, "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(st, 404);
    }

    #[test]
    fn files_from_the_root_and_no_escape() {
        let base = std::env::temp_dir().join(format!("ustack-http-test-{}", std::process::id()));
        let root = base.join("root");
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(root.join("sub dir")).unwrap();
        std::fs::write(root.join("a.txt"), "hello").unwrap();
        std::fs::write(root.join("sub dir/pic.PNG"), [0x89, b'P']).unwrap();
        std::fs::write(root.join("sub dir/index.html"), "<p>sub</p>").unwrap();
        std::fs::write(base.join("secret"), "no").unwrap();
        std::os::unix::fs::symlink(base.join("secret"), root.join("link")).unwrap();
        let s = site(Some(&root));
        let (st, out, text) = get(&s, "GET /a.txt HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(st, 200, "{text}");
        assert!(out.ends_with(b"\r\n\r\nhello"), "{text}");
        assert!(text.contains("Content-Length: 5\r\n"), "{text}");
        assert!(text.contains("Content-Type: text/plain"), "{text}");
        let (st, _, text) = get(&s, "GET /sub%20dir/pic.PNG HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(st, 200);
        assert!(text.contains("Content-Type: image/png"), "{text}");
        let (st, _, text) = get(&s, "GET /sub%20dir/ HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(st, 200);
        assert!(text.ends_with("<p>sub</p>"), "{text}");
        // No index.html at the root: the built-in page.
        let (st, _, text) = get(&s, "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(st, 200);
        assert!(text.contains("served by"), "{text}");
        for (path, want) in [
            ("/../secret", 400),
            ("/%2e%2e/secret", 400),
            ("/sub%20dir/%2E%2E/%2e%2e/secret", 400),
            ("/a%2fb", 400),
            ("/a%00", 400),
            ("/a%zz", 400),
            ("/link", 404),
            ("/missing", 404),
        ] {
            let (st, _, text) = get(&s, &format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n"));
            assert_eq!(st, want, "{path}: {text}");
        }
        assert_eq!(content_type(Path::new("x.JSON")), "application/json");
        assert_eq!(content_type(Path::new("x.jpeg")), "image/jpeg");
        assert_eq!(content_type(Path::new("x")), "application/octet-stream");
        let _ = std::fs::remove_dir_all(&base);
    }
}
