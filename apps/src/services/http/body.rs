//! Response bodies: bytes in memory, or a file region streamed in chunks (never read whole into
//! memory); either way the access line is logged when the body is done with, with the bytes
//! actually handed to the connection.

use super::access::Entry;
use super::disk::Disk;
use bytes::{Bytes, BytesMut};
use hyper::body::{Frame, SizeHint};
use std::fs::File;
use std::future::Future;
use std::io;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Bytes read from a file per chunk (one `pread` on the blocking pool each).
pub const CHUNK: usize = 64 << 10;

type Read = Pin<Box<dyn Future<Output = io::Result<Bytes>>>>;

/// A region of a file, read a chunk at a time through the [`Disk`] gate.
struct Region {
    file: Arc<File>,
    offset: u64,
    remaining: u64,
    disk: Disk,
    /// The chunk being read.
    pending: Option<Read>,
}

enum Source {
    /// In memory; None once sent.
    Bytes(Option<Bytes>),
    /// A file region.
    File(Region),
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
            Source::File(r) => format!("file({} left)", r.remaining),
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

    /// `len` bytes of `file` from `offset`, read through `disk`.
    pub fn file(file: File, offset: u64, len: u64, disk: Disk) -> Body {
        Body::new(Source::File(Region {
            file: Arc::new(file),
            offset,
            remaining: len,
            disk,
            pending: None,
        }))
    }

    /// The length this body will have.
    pub fn len(&self) -> u64 {
        match &self.source {
            Source::Bytes(b) => b.as_ref().map_or(0, |b| b.len() as u64),
            Source::File(r) => r.remaining,
        }
    }

    /// Whether the body has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

/// Reads up to `want` bytes at `offset` (fewer only at the end of the file).
fn read_chunk(file: &File, offset: u64, want: usize) -> io::Result<Bytes> {
    let mut buf = BytesMut::zeroed(want);
    let mut filled = 0;
    while filled < want {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf.freeze())
}

impl Region {
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let pending = self.pending.get_or_insert_with(|| {
            let want = self.remaining.min(CHUNK as u64) as usize;
            let (file, offset) = (self.file.clone(), self.offset);
            let read = self.disk.run(move || read_chunk(&file, offset, want));
            Box::pin(async move { read.await? })
        });
        let r = std::task::ready!(pending.as_mut().poll(cx));
        self.pending = None;
        let data = match r {
            Ok(d) if d.is_empty() => {
                // The file shrank under us: the framing announced is broken, so the
                // connection must end (hyper closes it on a body error).
                return Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shorter than announced",
                ))));
            }
            Ok(d) => d,
            Err(e) => return Poll::Ready(Some(Err(e))),
        };
        self.offset += data.len() as u64;
        self.remaining -= data.len() as u64;
        Poll::Ready(Some(Ok(data)))
    }
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
            Source::File(r) => std::task::ready!(r.poll_chunk(cx)),
        };
        if let Some(Ok(d)) = &data {
            this.sent += d.len() as u64;
        }
        Poll::Ready(data.map(|r| r.map(Frame::data)))
    }

    fn is_end_stream(&self) -> bool {
        self.is_empty()
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
        use std::io::Write;
        let path = std::env::temp_dir().join(format!("ustack-http-body-{}", std::process::id()));
        let data: Vec<u8> = (0..(3 * CHUNK + 100)).map(|i| (i % 251) as u8).collect();
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&data)
            .unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let len = 2 * CHUNK as u64 + 7;
        let mut body = Body::file(f, 10, len, Disk::default());
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
        let mut body = Body::file(f, 0, data.len() as u64 + 1, Disk::default());
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
