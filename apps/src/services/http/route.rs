//! From a parsed request to a response: the checks hyper leaves to the service (Host, target
//! length, method, body size), the built-in pages, and files under the root with `Range`,
//! the directory redirect and Content-Type.

use super::access::{http_date, http_time, Entry};
use super::body::Body;
use super::disk::Disk;
use super::files::{self, Opened, Refused, Resolved};
use super::range::{self, Ranged};
use super::{pages, Site, StatsFormat};
use bytes::Bytes;
use http_body_util::BodyExt;
use httpdate::HttpDate;
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode, Version};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

/// Longest request target accepted; longer gives 414 (RFC 9112 §3 recommends supporting at
/// least 8000 octets).
pub const MAX_TARGET: usize = 8 << 10;
/// Largest request body accepted (read and discarded: GET and HEAD ignore it); larger gives
/// 413 and the connection closes.
pub const MAX_BODY: u64 = 64 << 10;
/// Time a client has to send a request body (bounded as above) before 408.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// What the methods the server serves are (the `Allow` of a 405).
const ALLOW: &str = "GET, HEAD";

/// A response, and whether the connection closes after it.
struct Answer {
    resp: Response<Body>,
    close: bool,
}

impl Answer {
    fn keep(resp: Response<Body>) -> Answer {
        Answer { resp, close: false }
    }

    fn close(resp: Response<Body>) -> Answer {
        Answer { resp, close: true }
    }
}

fn with_type(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A short text/plain answer: `404 Not Found\n<detail>\n`.
fn error(status: StatusCode, detail: &str) -> Response<Body> {
    let text = format!(
        "{} {}\n{detail}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    with_type(status, "text/plain; charset=utf-8", Body::bytes(text))
}

fn version_str(v: Version) -> &'static str {
    match v {
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_09 => "HTTP/0.9",
        _ => "HTTP/1.1",
    }
}

/// The checks of the request head that hyper leaves to the service: Some(answer) refuses it.
fn check_head<B>(req: &Request<B>) -> Option<Answer> {
    // RFC 9112 §3.2: a 1.1 request without exactly one Host, or any with several, is a 400.
    let hosts = req.headers().get_all(header::HOST).iter().count();
    if hosts > 1 || (hosts == 0 && req.version() == Version::HTTP_11) {
        let r = error(StatusCode::BAD_REQUEST, "HTTP/1.1 needs exactly one Host");
        return Some(Answer::close(r));
    }
    if req.uri().to_string().len() > MAX_TARGET {
        let r = error(StatusCode::URI_TOO_LONG, "the request target is too long");
        return Some(Answer::close(r));
    }
    let m = req.method();
    if m == Method::GET || m == Method::HEAD {
        return None;
    }
    // RFC 9110 §15.5.6: a method we know but do not allow is 405 with Allow; §9.1: one we do
    // not recognise at all is 501.
    let known = [
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
        Method::PATCH,
    ];
    if !known.contains(m) {
        let r = error(StatusCode::NOT_IMPLEMENTED, "unknown method");
        return Some(Answer::keep(r));
    }
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "only GET and HEAD are supported",
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(ALLOW));
    Some(Answer::keep(r))
}

/// Reads and drops the request body, at most [`MAX_BODY`] bytes within [`BODY_TIMEOUT`], so
/// the connection can carry on. Some(answer) if it cannot.
async fn drain(body: Incoming) -> Option<Answer> {
    use hyper::body::Body as _;
    let too_large = || {
        let r = error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "the request body is too large",
        );
        Some(Answer::close(r))
    };
    if body.is_end_stream() {
        return None;
    }
    if body.size_hint().lower() > MAX_BODY {
        return too_large();
    }
    let limited = http_body_util::Limited::new(body, MAX_BODY as usize);
    match tokio::time::timeout(BODY_TIMEOUT, limited.collect()).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => too_large(),
        Ok(Err(e)) => {
            log::debug!("http: reading a request body: {e}");
            let r = error(StatusCode::BAD_REQUEST, "bad request body");
            Some(Answer::close(r))
        }
        Err(_) => {
            let r = error(
                StatusCode::REQUEST_TIMEOUT,
                "the request body took too long",
            );
            Some(Answer::close(r))
        }
    }
}

/// Whether a `Range` may be honoured: no `If-Range`, or an HTTP-date equal to the file's
/// Last-Modified (RFC 9110 §13.1.5). The date is compared as a time, as nginx does, so any of the
/// three HTTP-date forms (§5.6.7) matches; we send no ETag, so an entity-tag never matches and
/// the whole representation is sent.
fn if_range_holds(headers: &HeaderMap, modified: Option<SystemTime>) -> bool {
    match headers.get(header::IF_RANGE) {
        None => true,
        Some(v) => modified.is_some_and(|m| {
            let sent = v.to_str().ok().and_then(|s| s.parse::<HttpDate>().ok());
            sent == Some(http_time(m))
        }),
    }
}

/// 200, 206 or 416 for an opened file.
fn file_response(opened: Opened, headers: &HeaderMap, get: bool, disk: &Disk) -> Response<Body> {
    let Opened {
        path: real,
        file,
        len,
        modified,
    } = opened;
    let last_modified = modified.map(http_date);
    let ranged = match headers.get(header::RANGE) {
        // RFC 9110 §14.2: Range is defined for GET only; a server MUST ignore it otherwise.
        Some(v) if get && if_range_holds(headers, modified) => range::evaluate(v.as_bytes(), len),
        _ => Ranged::Full,
    };
    // By the file served: a directory's index.html is HTML.
    let ctype = files::content_type(&real);
    let mut r = match ranged {
        Ranged::Full => {
            let body = Body::file(file, 0, len, disk.clone());
            with_type(StatusCode::OK, ctype, body)
        }
        Ranged::Partial { start, end } => {
            let body = Body::file(file, start, ranged.body_len(len), disk.clone());
            let mut r = with_type(StatusCode::PARTIAL_CONTENT, ctype, body);
            if let Ok(v) = HeaderValue::try_from(format!("bytes {start}-{end}/{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
        Ranged::Unsatisfiable => {
            let mut r = error(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "no such range in the file",
            );
            if let Ok(v) = HeaderValue::try_from(format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
    };
    let h = r.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(v) = last_modified.and_then(|lm| HeaderValue::try_from(lm).ok()) {
        h.insert(header::LAST_MODIFIED, v);
    }
    r
}

/// 301 to `path/` (query kept) for a directory named without its slash.
fn add_slash(req: &Request<()>) -> Response<Body> {
    let mut loc = format!("{}/", req.uri().path());
    if let Some(q) = req.uri().query() {
        loc.push('?');
        loc.push_str(q);
    }
    let Ok(v) = HeaderValue::try_from(loc.as_str()) else {
        return error(StatusCode::BAD_REQUEST, "bad path");
    };
    let mut r = error(StatusCode::MOVED_PERMANENTLY, &format!("see {loc}"));
    r.headers_mut().insert(header::LOCATION, v);
    r
}

fn builtin(status: StatusCode, ctype: &'static str, text: impl Into<Bytes>) -> Response<Body> {
    let mut r = with_type(status, ctype, Body::bytes(text));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The answer to a request whose head passed [`check_head`].
async fn route(req: &Request<()>, site: &Site) -> Response<Body> {
    let path = req.uri().path();
    if !path.starts_with('/') {
        return error(StatusCode::BAD_REQUEST, "the request target must be a path");
    }
    match path {
        "/stats" => {
            let page = site.stats_page(StatsFormat::Text);
            return builtin(StatusCode::OK, "text/plain; charset=utf-8", page);
        }
        "/stats.json" => {
            let page = site.stats_page(StatsFormat::Json);
            return builtin(StatusCode::OK, "application/json", page);
        }
        _ => {}
    }
    if let Some(root) = &site.root {
        let (root, p) = (root.clone(), path.to_owned());
        // Resolving and opening stat the file system: off the loop thread.
        let opened = site.disk.run(move || files::open(&root, &p)).await;
        match opened {
            Ok(Ok(Ok(f))) => {
                let get = req.method() == Method::GET;
                return file_response(f, req.headers(), get, &site.disk);
            }
            Ok(Ok(Err(Resolved::AddSlash))) => return add_slash(req),
            Ok(Ok(Err(Resolved::File(_)))) | Ok(Err(Refused::NotFound)) => {}
            Ok(Err(Refused::BadPath)) => return error(StatusCode::BAD_REQUEST, "bad path"),
            Err(e) => {
                log::warn!("http: opening {path}: {e}");
                return error(StatusCode::INTERNAL_SERVER_ERROR, "cannot open the file");
            }
        }
    }
    if path == "/" || path == "/index.html" {
        let page = pages::index_html(site.addr);
        return builtin(StatusCode::OK, "text/html; charset=utf-8", page);
    }
    error(StatusCode::NOT_FOUND, "no such page or file")
}

/// Adds what every response has: Server, Content-Length (also for HEAD, which then loses its
/// body), `Connection: close` when the connection ends after it; and the access line.
fn finish(answer: Answer, head: bool, mut entry: Entry) -> Response<Body> {
    let Answer { mut resp, close } = answer;
    let len = resp.body().len();
    let h = resp.headers_mut();
    h.insert(header::SERVER, HeaderValue::from_static("ustack"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if close {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    if head {
        *resp.body_mut() = Body::empty();
    }
    entry.status = resp.status().as_u16();
    resp.body_mut().log_on_drop(entry);
    resp
}

/// The response to `req` from the client at `peer`. The access line is logged when its body
/// is done with.
pub async fn respond(req: Request<Incoming>, site: &Site, peer: IpAddr) -> Response<Body> {
    let entry = Entry {
        peer,
        time: SystemTime::now(),
        method: req.method().as_str().to_owned(),
        target: req.uri().to_string(),
        version: version_str(req.version()),
        status: 0,
    };
    let head = req.method() == Method::HEAD;
    let (parts, body) = req.into_parts();
    let req = Request::from_parts(parts, ());
    let answer = match check_head(&req) {
        // Refused before its body: the connection closes, so the body need not be read.
        Some(a) if a.close => a,
        // Otherwise the body is read (and dropped) so the connection can carry on.
        refused => match (drain(body).await, refused) {
            (Some(a), _) | (None, Some(a)) => a,
            (None, None) => Answer::keep(route(&req, site).await),
        },
    };
    finish(answer, head, entry)
}
