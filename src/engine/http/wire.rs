//! HTTP/1.1 on the wire: writing a request and reading a response incrementally.
//!
//! The reader is a pure state machine fed with whatever bytes the socket gave, so the caller can
//! read into a shared scratch buffer and a virtual user holds no buffer while it waits: only a
//! response whose head spans several reads keeps the partial head. Bodies are counted and, only
//! when a check reads them, kept.

use std::fmt::Write as _;

use super::stream::Events;

/// Sent unless the scenario sets its own (some servers and firewalls refuse requests without one).
pub const USER_AGENT: &str = concat!("suite/", env!("CARGO_PKG_VERSION"));

/// Most header lines a response may have.
const MAX_HEADERS: usize = 128;
/// Longest response head (status line and headers) accepted.
const MAX_HEAD: usize = 256 * 1024;
/// Longest chunk-size line accepted.
const MAX_CHUNK_LINE: usize = 4096;

/// A response the server sent that cannot be read as HTTP/1.1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The server closed the connection before the response was complete (a reset, to the user).
    #[error("{0}")]
    Closed(&'static str),
    /// Bytes that are not an HTTP/1.1 response.
    #[error("{0}")]
    Invalid(String),
}

/// Appends an HTTP/1.1 request head to `out`; `headers` are written as given, after `Host` (unless
/// the user set one) and before `Content-Length`. (`keepalive: false` reaches here as the plan's
/// `Connection: close` header.)
pub fn write_head<'h>(
    out: &mut Vec<u8>,
    method: &str,
    target: &str,
    host: &str,
    headers: impl Iterator<Item = (&'h str, &'h [u8])> + Clone,
    body_len: Option<usize>,
) {
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let has = |name: &str| headers.clone().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !has("host") {
        out.extend_from_slice(b"Host: ");
        out.extend_from_slice(host.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has("accept") {
        out.extend_from_slice(b"Accept: */*\r\n");
    }
    if !has("user-agent") {
        out.extend_from_slice(b"User-Agent: ");
        out.extend_from_slice(USER_AGENT.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in headers.clone() {
        if name.eq_ignore_ascii_case("content-length") || name.eq_ignore_ascii_case("transfer-encoding") {
            continue; // the body's real length is sent below
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(n) = body_len {
        let mut line = String::with_capacity(24);
        let _ = write!(line, "Content-Length: {n}\r\n");
        out.extend_from_slice(line.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
}

/// What the reader learnt of a response so far.
#[derive(Debug, Default)]
pub struct Head {
    /// Status code (0 until the head is read).
    pub status: u16,
    /// `Location` header, for redirects.
    pub location: Option<String>,
    /// `Set-Cookie` headers, for the cookie jar.
    pub set_cookie: Vec<String>,
    /// Status line and headers as text, when asked for.
    pub text: String,
}

/// Whether a response is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// More bytes are needed.
    More,
    /// The response is complete; `reuse` says whether the connection can carry the next request.
    Done { reuse: bool },
}

/// Reads one response from the bytes fed to it.
#[derive(Debug)]
pub struct Reader {
    state: State,
    /// Head bytes of a head that did not arrive in one piece.
    partial: Vec<u8>,
    /// The request was HEAD: the response has no body whatever its headers say.
    head_request: bool,
    /// The most body bytes to keep (0: none).
    want_body: usize,
    want_headers: bool,
    /// Connection stays open after this response.
    reuse: bool,
    /// Wire bytes of this response so far.
    pub bytes: u64,
    /// Time the head was complete, for time-to-first-byte (set by the caller).
    pub head_done: bool,
    /// A streamed response's events, fed the decoded body (requests with `stream` only).
    pub events: Option<Box<Events>>,
}

#[derive(Debug)]
enum State {
    Head,
    Length(u64),
    Chunked(Chunk),
    UntilClose,
    Done,
}

#[derive(Debug)]
enum Chunk {
    /// Reading a chunk-size line (bytes so far).
    Size(Vec<u8>),
    /// Data bytes left in the current chunk.
    Data(u64),
    /// The CRLF after a chunk's data (bytes still expected).
    DataEnd(u8),
    /// Trailer lines after the last chunk; the current line's length so far.
    Trailers(usize),
}

impl Reader {
    /// A reader for the response to a request; `head_request` for HEAD.
    pub fn new(head_request: bool, want_body: usize, want_headers: bool) -> Self {
        Reader {
            state: State::Head,
            partial: Vec::new(),
            head_request,
            want_body,
            want_headers,
            reuse: true,
            bytes: 0,
            head_done: false,
            events: None,
        }
    }

    /// Whether the head has been read.
    pub fn has_head(&self) -> bool {
        !matches!(self.state, State::Head)
    }

    /// Feeds the next bytes from the connection. Bytes past the end of the response mean the
    /// server sent something unasked: the connection is then not reused.
    pub fn feed(&mut self, data: &[u8], head: &mut Head, body: &mut Vec<u8>) -> Result<Progress, WireError> {
        let mut data = data;
        while !data.is_empty() {
            match &mut self.state {
                State::Head => {
                    let used = self.read_head(data, head)?;
                    if used == 0 {
                        return Ok(Progress::More);
                    }
                    data = &data[used..];
                }
                State::Length(left) => {
                    let n = (*left).min(data.len() as u64) as usize;
                    *left -= n as u64;
                    if *left == 0 {
                        self.state = State::Done;
                    }
                    self.take_body(&data[..n], body);
                    data = &data[n..];
                }
                State::UntilClose => {
                    self.take_body(data, body);
                    data = &[];
                }
                State::Chunked(_) => {
                    let used = self.read_chunked(data, body)?;
                    data = &data[used..];
                }
                State::Done => {
                    // Extra bytes after the response: do not trust this connection again.
                    self.reuse = false;
                    break;
                }
            }
        }
        Ok(self.progress())
    }

    /// The connection closed: complete if the body runs until close, else an error.
    pub fn eof(&mut self) -> Result<Progress, WireError> {
        match self.state {
            State::UntilClose | State::Done => {
                self.state = State::Done;
                self.reuse = false;
                Ok(Progress::Done { reuse: false })
            }
            State::Head if self.bytes == 0 => {
                Err(WireError::Closed("the server closed the connection without a response"))
            }
            _ => Err(WireError::Closed("the server closed the connection before the response was complete")),
        }
    }

    fn progress(&self) -> Progress {
        match self.state {
            State::Done => Progress::Done { reuse: self.reuse },
            _ => Progress::More,
        }
    }

    fn take_body(&mut self, data: &[u8], body: &mut Vec<u8>) {
        self.bytes += data.len() as u64;
        if let Some(events) = &mut self.events {
            events.body(data);
        }
        let room = self.want_body.saturating_sub(body.len());
        body.extend_from_slice(&data[..data.len().min(room)]);
    }

    /// Parses the head from `data` (after any partial head); returns the bytes of `data` used,
    /// 0 when the head is still incomplete (then `data` was kept).
    fn read_head(&mut self, data: &[u8], head: &mut Head) -> Result<usize, WireError> {
        let kept = self.partial.len();
        let buf: &[u8] = if kept == 0 {
            data
        } else {
            self.partial.extend_from_slice(data);
            &self.partial
        };
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut slots);
        let len = match response.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => {
                if buf.len() > MAX_HEAD {
                    return Err(WireError::Invalid(format!("response head longer than {} KiB", MAX_HEAD / 1024)));
                }
                if kept == 0 {
                    self.partial.extend_from_slice(data);
                }
                return Ok(0);
            }
            Err(e) => return Err(WireError::Invalid(format!("{e} in the response head"))),
        };
        let status = response.code.unwrap_or(0);
        let version = response.version.unwrap_or(1);
        let mut length = None;
        let mut chunked = false;
        let mut close = version == 0;
        for h in response.headers.iter() {
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                let text = std::str::from_utf8(h.value).unwrap_or("").trim();
                length = Some(text.parse::<u64>().map_err(|_| WireError::Invalid(format!("Content-Length `{text}`")))?);
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = h.value.split(|b| *b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"chunked"));
            } else if name.eq_ignore_ascii_case("connection") {
                for token in h.value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") && version == 0 {
                        close = false;
                    }
                }
            } else if name.eq_ignore_ascii_case("location") {
                head.location = Some(String::from_utf8_lossy(h.value).into_owned());
            } else if name.eq_ignore_ascii_case("set-cookie") {
                head.set_cookie.push(String::from_utf8_lossy(h.value).into_owned());
            }
        }
        if self.want_headers && !(100..200).contains(&status) {
            head.text = head_text(version, status, response.reason.unwrap_or(""), response.headers);
        }
        let used = len - kept;
        self.partial.clear();
        self.bytes += len as u64;
        if (100..200).contains(&status) && status != 101 {
            // An interim response (100 Continue): the real one follows.
            head.location = None;
            head.set_cookie.clear();
            return Ok(used);
        }
        head.status = status;
        self.head_done = true;
        self.reuse = !close;
        self.state = if self.head_request || status == 204 || status == 304 || (100..200).contains(&status) {
            State::Done
        } else if chunked {
            State::Chunked(Chunk::Size(Vec::new()))
        } else if let Some(n) = length {
            if n == 0 {
                State::Done
            } else {
                State::Length(n)
            }
        } else {
            self.reuse = false;
            State::UntilClose
        };
        // The head was incomplete without `data`, so `used` is at least 1.
        Ok(used)
    }

    /// Consumes chunked-body bytes; returns how many of `data` were used.
    fn read_chunked(&mut self, data: &[u8], body: &mut Vec<u8>) -> Result<usize, WireError> {
        let State::Chunked(chunk) = &mut self.state else { return Ok(0) };
        match chunk {
            Chunk::Size(line) => {
                let Some(nl) = data.iter().position(|b| *b == b'\n') else {
                    line.extend_from_slice(data);
                    if line.len() > MAX_CHUNK_LINE {
                        return Err(WireError::Invalid("chunk-size line too long".into()));
                    }
                    self.bytes += data.len() as u64;
                    return Ok(data.len());
                };
                line.extend_from_slice(&data[..nl]);
                let text = std::str::from_utf8(line).unwrap_or("");
                let hex = text.split(';').next().unwrap_or("").trim();
                let size = u64::from_str_radix(hex, 16)
                    .map_err(|_| WireError::Invalid(format!("chunk size `{}`", text.trim_end())))?;
                *chunk = if size == 0 { Chunk::Trailers(0) } else { Chunk::Data(size) };
                self.bytes += nl as u64 + 1;
                Ok(nl + 1)
            }
            Chunk::Data(left) => {
                let n = (*left).min(data.len() as u64) as usize;
                *left -= n as u64;
                let ended = *left == 0;
                if ended {
                    *chunk = Chunk::DataEnd(2);
                }
                self.take_body(&data[..n], body);
                if let Some(events) = self.events.as_mut().filter(|_| ended) {
                    events.chunk_end();
                }
                Ok(n)
            }
            Chunk::DataEnd(left) => {
                // CRLF, or a bare LF from lenient servers.
                let mut used = 0;
                while *left > 0 && used < data.len() {
                    let b = data[used];
                    used += 1;
                    if b == b'\n' {
                        *left = 0;
                    } else if b == b'\r' && *left == 2 {
                        *left = 1;
                    } else {
                        return Err(WireError::Invalid("missing CRLF after chunk data".into()));
                    }
                }
                if *left == 0 {
                    *chunk = Chunk::Size(Vec::new());
                }
                self.bytes += used as u64;
                Ok(used)
            }
            Chunk::Trailers(line_len) => {
                let mut used = 0;
                let mut done = false;
                for &b in data {
                    used += 1;
                    if b == b'\n' {
                        if *line_len == 0 {
                            done = true;
                            break;
                        }
                        *line_len = 0;
                    } else if b != b'\r' {
                        *line_len += 1;
                    }
                }
                self.bytes += used as u64;
                if done {
                    self.state = State::Done;
                }
                Ok(used)
            }
        }
    }
}

/// The status line and headers as JMeter shows them to assertions and extractors, with names in
/// the usual Title-Case.
fn head_text(version: u8, status: u16, reason: &str, headers: &[httparse::Header<'_>]) -> String {
    let version = if version == 0 { "HTTP/1.0" } else { "HTTP/1.1" };
    let mut text = format!("{version} {status} {reason}\n");
    for h in headers {
        push_title_case(&mut text, h.name);
        text.push_str(": ");
        text.push_str(&String::from_utf8_lossy(h.value));
        text.push('\n');
    }
    text
}

/// Appends a header name in Title-Case (`content-type` → `Content-Type`).
pub fn push_title_case(text: &mut String, name: &str) {
    let mut upper = true;
    for c in name.chars() {
        text.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` to a reader in pieces of `step` bytes.
    fn read(wire: &[u8], step: usize, want_body: usize) -> (Result<Progress, WireError>, Head, Vec<u8>, u64) {
        let mut r = Reader::new(false, want_body, true);
        let mut head = Head::default();
        let mut body = Vec::new();
        let mut last = Ok(Progress::More);
        for piece in wire.chunks(step) {
            last = r.feed(piece, &mut head, &mut body);
            if last.is_err() {
                break;
            }
        }
        (last, head, body, r.bytes)
    }

    #[test]
    fn content_length_bodies_in_any_split() {
        let wire = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\ncontent-type: text/plain\r\n\r\nhello";
        for step in [1, 2, 7, 30, wire.len()] {
            let (p, head, body, bytes) = read(wire, step, usize::MAX);
            assert_eq!(p, Ok(Progress::Done { reuse: true }), "step {step}");
            assert_eq!((head.status, body.as_slice(), bytes), (200, &b"hello"[..], wire.len() as u64));
            assert_eq!(head.text, "HTTP/1.1 200 OK\nContent-Length: 5\nContent-Type: text/plain\n");
        }
        // Bodies nobody reads are only counted, and bodies checks read are kept up to their limit.
        let (_, _, body, bytes) = read(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 2, 3);
        assert_eq!((body.as_slice(), bytes), (&b"hel"[..], 43));
        let (_, _, body, bytes) = read(wire, 3, 0);
        assert!(body.is_empty() && bytes == wire.len() as u64);
    }

    #[test]
    fn chunked_bodies_with_extensions_and_trailers() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n7\r\n, world\r\n0\r\nX-T: 1\r\n\r\n";
        for step in [1, 3, 11, wire.len()] {
            let (p, _, body, bytes) = read(wire, step, usize::MAX);
            assert_eq!(p, Ok(Progress::Done { reuse: true }), "step {step}");
            assert_eq!(body, b"hello, world");
            assert_eq!(bytes, wire.len() as u64);
        }
        let (p, ..) = read(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 100, 0);
        assert!(p.unwrap_err().to_string().contains("chunk size `zz`"));
    }

    #[test]
    fn every_two_piece_split_reads_the_same() {
        let wire: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX: y\r\n\r\n3\r\nabc\r\n10;e=1\r\n0123456789abcdef\r\n0\r\nT: 1\r\n\r\n";
        for cut in 0..=wire.len() {
            let mut r = Reader::new(false, usize::MAX, false);
            let (mut head, mut body) = (Head::default(), Vec::new());
            let first = r.feed(&wire[..cut], &mut head, &mut body);
            let second = r.feed(&wire[cut..], &mut head, &mut body);
            assert_eq!(first.map(|_| ()), Ok(()), "cut at {cut}");
            assert_eq!(second, Ok(Progress::Done { reuse: true }), "cut at {cut}");
            assert_eq!((head.status, body.as_slice(), r.bytes), (200, &b"abc0123456789abcdef"[..], wire.len() as u64));
        }
    }

    #[test]
    fn connection_reuse_rules() {
        let (p, ..) = read(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n", 100, 0);
        assert_eq!(p, Ok(Progress::Done { reuse: false }));
        let (p, ..) = read(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 100, 0);
        assert_eq!(p, Ok(Progress::Done { reuse: false }));
        let (p, ..) = read(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", 100, 0);
        assert_eq!(p, Ok(Progress::Done { reuse: true }));
        // No length: the body runs until the server closes.
        let mut r = Reader::new(false, usize::MAX, false);
        let (mut head, mut body) = (Head::default(), Vec::new());
        assert_eq!(r.feed(b"HTTP/1.1 200 OK\r\n\r\nabc", &mut head, &mut body), Ok(Progress::More));
        assert_eq!(r.eof(), Ok(Progress::Done { reuse: false }));
        assert_eq!(body, b"abc");
        // Extra bytes after a complete response: not reused.
        let (p, ..) = read(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab", 100, 0);
        assert_eq!(p, Ok(Progress::Done { reuse: false }));
    }

    #[test]
    fn interim_responses_and_head_requests_have_no_body() {
        let (p, head, ..) =
            read(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n", 7, 0);
        assert_eq!((p, head.status), (Ok(Progress::Done { reuse: true }), 201));
        let mut r = Reader::new(true, 0, false);
        let (mut head, mut body) = (Head::default(), Vec::new());
        let p = r.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", &mut head, &mut body);
        assert_eq!(p, Ok(Progress::Done { reuse: true }));
    }

    #[test]
    fn early_close_and_garbage_are_errors() {
        let mut r = Reader::new(false, 0, false);
        assert!(r.eof().unwrap_err().to_string().contains("without a response"));
        let mut r = Reader::new(false, 0, false);
        let (mut head, mut body) = (Head::default(), Vec::new());
        r.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nab", &mut head, &mut body).unwrap();
        assert!(r.eof().unwrap_err().to_string().contains("before the response was complete"));
        let (p, ..) = read(b"SSH-2.0-OpenSSH\r\n\r\n", 100, 0);
        assert!(p.is_err());
        let (p, ..) = read(b"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", 5, 0);
        assert!(p.is_ok());
    }

    #[test]
    fn request_heads() {
        let mut out = Vec::new();
        let headers = [("X-A", &b"1"[..]), ("content-length", &b"99"[..]), ("Connection", &b"close"[..])];
        write_head(&mut out, "POST", "/p?q=1", "h:8080", headers.iter().copied(), Some(3));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!(
                "POST /p?q=1 HTTP/1.1\r\nHost: h:8080\r\nAccept: */*\r\nUser-Agent: {USER_AGENT}\r\nX-A: 1\r\nConnection: close\r\nContent-Length: 3\r\n\r\n"
            )
        );
        let mut out = Vec::new();
        let headers = [("host", &b"virtual"[..]), ("Accept", &b"text/plain"[..]), ("user-agent", &b"me"[..])];
        write_head(&mut out, "GET", "/", "h", headers.iter().copied(), None);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET / HTTP/1.1\r\nhost: virtual\r\nAccept: text/plain\r\nuser-agent: me\r\n\r\n"
        );
    }
}
