//! The body of a multipart upload as it streams in, before multer reads it:
//! the bytes outside every part's data (what precedes the first boundary,
//! each part's headers, what follows the last) are counted, held against the
//! process's upload bytes and refused past [`MAX_OUTSIDE_BYTES`]. multer
//! buffers those whole and searches all it holds again on every chunk, so an
//! endless header would cost memory no one counts and CPU that grows with its
//! square. Part data is passed through unexamined but for its boundary.

use std::{
    fmt,
    pin::Pin,
    task::{Context, Poll},
};

use axum::{
    body::{Body, Bytes},
    extract::Request,
    http::{StatusCode, header::CONTENT_TYPE},
};
use futures::Stream;

use super::images::{Reserved, Uploads};
use crate::error::ApiError;

/// Most bytes a request may send outside its parts' data: a form's parts
/// take a few hundred bytes of headers each.
pub const MAX_OUTSIDE_BYTES: usize = 16 * 1024;

/// Why a body was cut off; the upload's answer is [`Refusal::answer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over [`MAX_OUTSIDE_BYTES`] outside the parts' data.
    TooLong,
    /// The process's upload bytes are all held.
    Busy,
}

impl Refusal {
    pub fn answer(self) -> ApiError {
        match self {
            Self::TooLong => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "a form's part headers, and whatever comes before its first part, are at most 16 KiB",
            ),
            Self::Busy => super::images::uploads_full(),
        }
    }

    /// The refusal behind a body's read error, if it was one.
    pub fn of(error: &(dyn std::error::Error + 'static)) -> Option<Self> {
        let mut at = Some(error);
        while let Some(error) = at {
            if let Some(refusal) = error.downcast_ref::<Self>() {
                return Some(*refusal);
            }
            at = error.source();
        }
        None
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => f.write_str("multipart headers over 16 KiB"),
            Self::Busy => f.write_str("the process's upload bytes are all held"),
        }
    }
}

impl std::error::Error for Refusal {}

/// Where the stream is, read as multer reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Before the first `--boundary`, which multer finds anywhere.
    Preamble,
    /// After a `--boundary`: its first two bytes (`--` ends the form).
    Delimiter { first: Option<u8> },
    /// Spaces and tabs, then a CRLF (`cr`: its CR has come).
    Padding { cr: bool },
    /// A part's headers, up to the first CRLF CRLF.
    Headers,
    /// A part's data, up to CRLF `--boundary`: the only stage not counted.
    Data,
    /// After the last boundary, or after what multer refuses: counted, as
    /// nothing of it should come.
    Rest,
}

/// What watches one body: its stage and what it has counted.
struct Watch {
    stage: Stage,
    /// `--boundary`, and CRLF before it as it ends a part's data.
    delimiter: Vec<u8>,
    end_of_data: Vec<u8>,
    /// The last bytes of the stage so far, for a pattern split across chunks.
    recent: Vec<u8>,
    outside: usize,
    held: Reserved,
}

impl Watch {
    fn new(boundary: &str, held: Reserved) -> Self {
        Self {
            stage: Stage::Preamble,
            delimiter: format!("--{boundary}").into_bytes(),
            end_of_data: format!("\r\n--{boundary}").into_bytes(),
            recent: Vec::new(),
            outside: 0,
            held,
        }
    }

    fn to(&mut self, stage: Stage) {
        self.stage = stage;
        self.recent.clear();
    }

    /// Remembers `byte` and says whether the stage's bytes now end with `pattern`.
    fn ends_with(&mut self, byte: u8, pattern: &[u8]) -> bool {
        self.recent.push(byte);
        if self.recent.len() > pattern.len() {
            self.recent.remove(0);
        }
        self.recent == pattern
    }

    /// One byte outside the parts' data.
    fn step(&mut self, byte: u8) {
        self.stage = match self.stage {
            Stage::Preamble => {
                let delimiter = std::mem::take(&mut self.delimiter);
                let found = self.ends_with(byte, &delimiter);
                self.delimiter = delimiter;
                if !found {
                    return;
                }
                Stage::Delimiter { first: None }
            }
            Stage::Delimiter { first: None } => Stage::Delimiter { first: Some(byte) },
            Stage::Delimiter { first: Some(first) } => {
                if [first, byte] == *b"--" {
                    Stage::Rest
                } else {
                    // multer only peeked at these two: they are padding's.
                    self.stage = Stage::Padding { cr: false };
                    self.step(first);
                    self.step(byte);
                    return;
                }
            }
            Stage::Padding { cr: false } => match byte {
                b' ' | b'\t' => return,
                b'\r' => Stage::Padding { cr: true },
                _ => Stage::Rest,
            },
            Stage::Padding { cr: true } if byte == b'\n' => Stage::Headers,
            Stage::Padding { cr: true } => Stage::Rest,
            Stage::Headers => {
                if !self.ends_with(byte, b"\r\n\r\n") {
                    return;
                }
                Stage::Data
            }
            Stage::Data | Stage::Rest => return,
        };
        self.recent.clear();
    }

    /// How many bytes of `data` (a part's) are data, up to and including
    /// the CRLF `--boundary` that ends them, if it comes in `data`.
    fn data_end(&mut self, data: &[u8]) -> Option<usize> {
        let pattern = &self.end_of_data;
        // The end split across the last chunk and this one.
        let head = &data[..data.len().min(pattern.len() - 1)];
        let mut joined = self.recent.clone();
        joined.extend_from_slice(head);
        if let Some(at) = memchr::memmem::find(&joined, pattern) {
            return Some(at + pattern.len() - self.recent.len());
        }
        if let Some(at) = memchr::memmem::find(data, pattern) {
            return Some(at + pattern.len());
        }
        joined.extend_from_slice(&data[head.len()..]);
        let keep = joined.len().min(pattern.len() - 1);
        self.recent = joined.split_off(joined.len() - keep);
        None
    }

    /// Reads `chunk` on: counts and holds what is outside the parts' data.
    fn read(&mut self, chunk: &[u8]) -> Result<(), Refusal> {
        let mut counted = 0;
        let mut at = 0;
        while at < chunk.len() {
            if self.stage == Stage::Data {
                match self.data_end(&chunk[at..]) {
                    Some(end) => {
                        at += end;
                        self.to(Stage::Delimiter { first: None });
                    }
                    None => at = chunk.len(),
                }
                continue;
            }
            // Bounded by MAX_OUTSIDE_BYTES, so a byte at a time.
            self.step(chunk[at]);
            at += 1;
            counted += 1;
            if self.outside + counted > MAX_OUTSIDE_BYTES {
                return Err(Refusal::TooLong);
            }
        }
        self.outside += counted;
        self.held.grow(counted).map_err(|_| Refusal::Busy)
    }
}

/// The body of `request` watched as it is read, when it is a multipart form
/// (what is not is left as it is, for the extractor to refuse).
pub fn watched(request: Request, uploads: &Uploads) -> Request {
    let boundary = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| multer::parse_boundary(value).ok());
    let Some(boundary) = boundary else {
        return request;
    };
    let (parts, body) = request.into_parts();
    let body = Body::from_stream(Watched {
        inner: body.into_data_stream(),
        watch: Watch::new(&boundary, uploads.reserve()),
        done: false,
    });
    Request::from_parts(parts, body)
}

struct Watched<S> {
    inner: S,
    watch: Watch,
    /// Refused: nothing more is read.
    done: bool,
}

impl<S, E> Stream for Watched<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
{
    type Item = Result<Bytes, WatchError<E>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => match self.watch.read(&chunk) {
                Ok(()) => Poll::Ready(Some(Ok(chunk))),
                Err(refusal) => {
                    self.done = true;
                    Poll::Ready(Some(Err(WatchError::Refused(refusal))))
                }
            },
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(WatchError::Body(err)))),
            other => other.map(|_| None),
        }
    }
}

/// A watched body's error: the body's own, or a refusal.
#[derive(Debug)]
enum WatchError<E> {
    Body(E),
    Refused(Refusal),
}

impl<E: fmt::Display> fmt::Display for WatchError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Body(err) => err.fmt(f),
            Self::Refused(refusal) => refusal.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for WatchError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Body(err) => Some(err),
            Self::Refused(refusal) => Some(refusal),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `body` in chunks of `size`: what it counted, or the refusal.
    fn count(body: &[u8], size: usize) -> Result<(usize, Stage), Refusal> {
        let mut watch = Watch::new("b0undary", Reserved::default());
        for chunk in body.chunks(size) {
            watch.read(chunk)?;
        }
        Ok((watch.outside, watch.stage))
    }

    fn part(headers: &str, data: &[u8]) -> Vec<u8> {
        let mut out = format!("--b0undary\r\n{headers}\r\n\r\n").into_bytes();
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
        out
    }

    #[test]
    fn a_forms_headers_are_counted_and_its_data_is_not_however_it_is_cut() {
        // Data that looks like boundaries, without being one.
        let data = b"--b0undary \r\n--b0undar\r\n\r\n\r\r\n--b0undarx".repeat(3);
        let text = "Content-Disposition: form-data; name=\"csrf\"";
        let file = "Content-Disposition: form-data; name=\"images\"; filename=\"a.jpg\"\r\nContent-Type: image/jpeg";
        let mut body = b"preamble\r\n".to_vec();
        body.extend(part(text, b"token"));
        body.extend(part(file, &data));
        body.extend(b"--b0undary--\r\n");
        // All but the data and the CRLF `--boundary` that ends each.
        let outside = body.len() - b"token".len() - data.len() - 2 * b"\r\n--b0undary".len();
        for size in 1..=body.len() {
            assert_eq!(count(&body, size), Ok((outside, Stage::Rest)), "{size}");
        }
    }

    #[test]
    fn headers_end_where_multer_ends_them() {
        // No headers: multer reads on for a CRLF CRLF after the delimiter's
        // CRLF, so what follows is headers to it, and counted.
        let mut body = b"--b0undary\r\n\r\n".to_vec();
        body.extend(vec![b'a'; MAX_OUTSIDE_BYTES]);
        assert_eq!(count(&body, 4096), Err(Refusal::TooLong));
        // Padding before the CRLF is skipped as multer skips it.
        let mut body = part("X: y", b"z");
        body.splice(10..10, *b" \t ");
        assert_eq!(count(&body, 3), Ok((body.len() - 3, Stage::Data)));
    }

    #[test]
    fn an_endless_header_or_preamble_is_refused_past_16_kib() {
        let mut header =
            b"--b0undary\r\nContent-Disposition: form-data; name=\"images\"\r\nX-Pad: ".to_vec();
        header.extend(vec![b'a'; MAX_OUTSIDE_BYTES]);
        assert_eq!(count(&header, 65_536), Err(Refusal::TooLong));
        assert_eq!(
            count(&vec![b'a'; MAX_OUTSIDE_BYTES + 1], 65_536),
            Err(Refusal::TooLong)
        );
        // Just under the bound passes.
        assert!(count(&vec![b'a'; MAX_OUTSIDE_BYTES], 65_536).is_ok());
    }

    #[test]
    fn a_refusal_is_found_behind_the_errors_that_wrap_it() {
        let wrapped = axum::Error::new(WatchError::<std::io::Error>::Refused(Refusal::Busy));
        assert_eq!(Refusal::of(&wrapped), Some(Refusal::Busy));
        let other = axum::Error::new(std::io::Error::other("reset"));
        assert_eq!(Refusal::of(&other), None);
        assert_eq!(
            Refusal::TooLong.answer().status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
    }
}
