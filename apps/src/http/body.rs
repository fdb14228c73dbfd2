//! Response bodies: bytes in memory, or a file region streamed in chunks (never read whole into
//! memory); either way the access line is logged when the body is done with, with the bytes
//! actually handed to the connection.

use super::access::Entry;
use bytes::{Bytes, BytesMut};
use hyper::body::{Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

/// Bytes read from a file per chunk (one read on tokio's blocking pool each).
pub const CHUNK: usize = 64 << 10;

enum Source {
    /// In memory; None once sent.
    Bytes(Option<Bytes>),
    /// `remaining` bytes of `file` from its current position, read `CHUNK` at a time.
    File {
        file: tokio::fs::File,
        remaining: u64,
        /// The chunk being filled (kept while a read is pending).
        chunk: BytesMut,
    },
}

/// A response body.
pub struct Body {
    source: Source,
    /// Body bytes handed to the connection so far.
    sent: u64,
    /// The access line, logged on drop.
    entry: Option<Entry>,
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.source {
            Source::Bytes(b) => format!("bytes({})", b.as_ref().map_or(0, Bytes::len)),
            Source::File { remaining, .. } => format!("file({remaining} left)"),
        };
        f.debug_struct("Body")
            .field("source", &kind)
            .field("sent", &self.sent)
            .finish()
    }
}

impl Body {
    fn new(source: Source) -> Body {
        Body {
            source,
            sent: 0,
            entry: None,
        }
    }

    /// No body.
    pub fn empty() -> Body {
        Body::new(Source::Bytes(None))
    }

    /// A body in memory.
    pub fn bytes(b: impl Into<Bytes>) -> Body {
        let b = b.into();
        Body::new(Source::Bytes((!b.is_empty()).then_some(b)))
    }

    /// `len` bytes of `file` from its current position.
    pub fn file(file: std::fs::File, len: u64) -> Body {
        Body::new(Source::File {
            file: tokio::fs::File::from_std(file),
            remaining: len,
            chunk: BytesMut::new(),
        })
    }

    /// The length this body will have.
    pub fn len(&self) -> u64 {
        match &self.source {
            Source::Bytes(b) => b.as_ref().map_or(0, |b| b.len() as u64),
            Source::File { remaining, .. } => *remaining,
        }
    }

    /// Logs `entry` (with the bytes sent) when the body is dropped.
    pub fn log_on_drop(&mut self, entry: Entry) {
        self.entry = Some(entry);
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        if let Some(e) = self.entry.take() {
            e.log(self.sent);
        }
    }
}

fn poll_file(
    file: &mut tokio::fs::File,
    remaining: &mut u64,
    chunk: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<Option<io::Result<Bytes>>> {
    if *remaining == 0 {
        return Poll::Ready(None);
    }
    let want = (*remaining).min(CHUNK as u64) as usize;
    if chunk.len() != want {
        *chunk = BytesMut::zeroed(want);
    }
    let mut buf = ReadBuf::new(&mut chunk[..]);
    std::task::ready!(Pin::new(file).poll_read(cx, &mut buf))?;
    let n = buf.filled().len();
    if n == 0 {
        // The file shrank under us: the framing announced is broken, so the connection must
        // end (hyper closes it on a body error).
        return Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "file shorter than announced",
        ))));
    }
    let mut data = std::mem::take(chunk);
    data.truncate(n);
    *remaining -= n as u64;
    Poll::Ready(Some(Ok(data.freeze())))
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let data = match &mut this.source {
            Source::Bytes(b) => b.take().map(Ok),
            Source::File {
                file,
                remaining,
                chunk,
            } => std::task::ready!(poll_file(file, remaining, chunk, cx)),
        };
        if let Some(Ok(d)) = &data {
            this.sent += d.len() as u64;
        }
        Poll::Ready(data.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.len() == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use hyper::body::Body as _;

    #[tokio::test]
    async fn a_file_region_streams_in_chunks() {
        use std::io::{Seek, SeekFrom, Write};
        let path = std::env::temp_dir().join(format!("ustack-http-body-{}", std::process::id()));
        let data: Vec<u8> = (0..(3 * CHUNK + 100)).map(|i| (i % 251) as u8).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&data)
            .unwrap();
        let mut f = std::fs::File::open(&path).unwrap();
        f.seek(SeekFrom::Start(10)).unwrap();
        let len = 2 * CHUNK as u64 + 7;
        let mut body = Body::file(f, len);
        assert_eq!(body.size_hint().exact(), Some(len));
        let mut got = Vec::new();
        let mut frames = 0;
        while let Some(frame) = body.frame().await {
            let d = frame.unwrap().into_data().unwrap();
            assert!(d.len() <= CHUNK);
            got.extend_from_slice(&d);
            frames += 1;
        }
        assert_eq!(got, &data[10..10 + len as usize]);
        assert!(frames >= 3, "{frames}");
        assert!(body.is_end_stream());
        assert_eq!(body.sent, len);
        // A file shorter than announced is an error, not a short body.
        let f = std::fs::File::open(&path).unwrap();
        let mut body = Body::file(f, data.len() as u64 + 1);
        let mut err = None;
        while let Some(frame) = body.frame().await {
            if let Err(e) = frame {
                err = Some(e);
                break;
            }
        }
        assert_eq!(err.unwrap().kind(), io::ErrorKind::UnexpectedEof);
        let _ = std::fs::remove_file(&path);
    }

    #[tokio::test]
    async fn bytes_bodies() {
        let mut b = Body::bytes("hello");
        assert_eq!(b.len(), 5);
        let d = b.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(&d[..], b"hello");
        assert!(b.frame().await.is_none());
        assert!(Body::empty().is_end_stream());
        assert!(Body::bytes("").is_end_stream());
    }
}
