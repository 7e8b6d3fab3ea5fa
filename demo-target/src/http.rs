//! HTTP/1.1 wire format, written by hand: request parsing (request line,
//! case-insensitive headers, Content-Length and chunked bodies, keep-alive
//! rules), response writing, and the small client side the frontend uses to
//! talk to its workers.
//!
//! Parsing is split into pure functions over byte slices ([`parse_request_head`],
//! [`decode_chunked`]) and a buffered [`Reader`] that pulls bytes from a socket
//! until a whole message is available, so partial reads and pipelined
//! requests are both handled by the same code path.

use std::fmt;
use std::io::{self, Read, Write};

/// Largest request/response head (start line + headers) we accept.
pub const MAX_HEAD: usize = 64 * 1024;
/// Most header lines we accept in one message.
pub const MAX_HEADERS: usize = 128;
/// Largest body we accept (Content-Length or decoded chunked).
pub const MAX_BODY: usize = 64 * 1024 * 1024;
/// Longest chunk-size line (size + extensions) or trailer line.
const MAX_CHUNK_LINE: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// Why a message could not be read. Protocol errors map to a status code;
/// transport errors mean "just close the connection".
#[derive(Debug)]
pub enum HttpError {
    /// The socket failed or timed out.
    Io(io::Error),
    /// The peer closed the connection in the middle of a message.
    Eof,
    /// Malformed message: 400.
    Bad(&'static str),
    /// Head larger than [`MAX_HEAD`] or too many headers: 431.
    HeadTooLarge,
    /// Body larger than [`MAX_BODY`]: 413.
    BodyTooLarge,
    /// A transfer coding we do not implement: 501.
    Unsupported(&'static str),
    /// A well-formed HTTP version other than 1.0/1.1: 505.
    Version,
}

impl HttpError {
    /// The status to answer with, or `None` when the connection should just be dropped.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Io(_) | HttpError::Eof => None,
            HttpError::Bad(_) => Some(400),
            HttpError::HeadTooLarge => Some(431),
            HttpError::BodyTooLarge => Some(413),
            HttpError::Unsupported(_) => Some(501),
            HttpError::Version => Some(505),
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Io(e) => write!(f, "i/o error: {e}"),
            HttpError::Eof => f.write_str("connection closed mid-message"),
            HttpError::Bad(why) => write!(f, "bad request: {why}"),
            HttpError::HeadTooLarge => f.write_str("request header fields too large"),
            HttpError::BodyTooLarge => f.write_str("payload too large"),
            HttpError::Unsupported(why) => write!(f, "not implemented: {why}"),
            HttpError::Version => f.write_str("HTTP version not supported"),
        }
    }
}

impl From<io::Error> for HttpError {
    fn from(e: io::Error) -> Self {
        HttpError::Io(e)
    }
}

/// Header list preserving order and original case; lookups ignore case.
pub type Headers = Vec<(String, String)>;

/// First value of header `name` (case-insensitive).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// All values of header `name`, each split on commas into trimmed tokens.
fn header_tokens<'a>(headers: &'a [(String, String)], name: &'a str) -> impl Iterator<Item = &'a str> {
    headers
        .iter()
        .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// A fully read request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Target path without the query (absolute-form targets are reduced to their path).
    pub path: String,
    /// Raw query string without the `?` (empty if none).
    pub query: String,
    pub version: Version,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// Whether the connection stays open after this request: HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        let mut close = false;
        let mut keep = false;
        for t in header_tokens(&self.headers, "connection") {
            close |= t.eq_ignore_ascii_case("close");
            keep |= t.eq_ignore_ascii_case("keep-alive");
        }
        match self.version {
            Version::Http11 => !close,
            Version::Http10 => keep && !close,
        }
    }

    /// Decoded `(name, value)` pairs of the query string.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        query_pairs(&self.query)
    }

    /// Decoded value of the first query parameter called `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs().into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// Splits and percent-decodes an `a=1&b=two` query string.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// Decodes `%XX` escapes and `+` (form encoding) into a UTF-8 (lossy) string.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `tchar` from RFC 9110: the characters allowed in methods and header names.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token_char(b))
}

/// Strips one trailing `\r` (lines may end in CRLF or, leniently, bare LF).
fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Number of leading empty lines (CRLF/LF) that may precede a request line.
fn leading_blank_len(buf: &[u8]) -> usize {
    buf.iter().take_while(|&&b| b == b'\r' || b == b'\n').count()
}

/// Finds the end of a message head in `buf`: the index just past the empty
/// line that terminates the header block.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    let mut line_start = 0;
    for (i, &b) in buf.iter().enumerate() {
        if b == b'\n' {
            if strip_cr(&buf[line_start..i]).is_empty() && line_start > 0 {
                return Some(i + 1);
            }
            line_start = i + 1;
        }
    }
    None
}

/// Parsed start line plus headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The three start-line fields: `method target version` for requests,
    /// `version status reason` for responses.
    pub start: [String; 3],
    pub headers: Headers,
}

/// Parses the head at the start of `buf`. Returns `Ok(None)` if it is not
/// complete yet, otherwise the head and the number of bytes it used.
fn parse_head(buf: &[u8], is_request: bool) -> Result<Option<(Head, usize)>, HttpError> {
    let skip = if is_request { leading_blank_len(buf) } else { 0 };
    let rest = &buf[skip..];
    let Some(end) = find_head_end(rest) else {
        return if rest.len() > MAX_HEAD { Err(HttpError::HeadTooLarge) } else { Ok(None) };
    };
    if end > MAX_HEAD {
        return Err(HttpError::HeadTooLarge);
    }
    let mut lines = rest[..end].split(|&b| b == b'\n').map(strip_cr);
    let start_line = lines.next().unwrap_or_default();
    if start_line.contains(&b'\r') || start_line.contains(&0) {
        return Err(HttpError::Bad("control character in start line"));
    }
    let start_line = std::str::from_utf8(start_line).map_err(|_| HttpError::Bad("start line is not UTF-8"))?;
    let start = if is_request { parse_request_line(start_line)? } else { parse_status_line(start_line)? };
    let mut headers = Vec::new();
    for line in lines {
        if line.is_empty() {
            break; // the terminating blank line
        }
        if headers.len() >= MAX_HEADERS {
            return Err(HttpError::HeadTooLarge);
        }
        headers.push(parse_header_line(line)?);
    }
    Ok(Some((Head { start, headers }, skip + end)))
}

fn parse_request_line(line: &str) -> Result<[String; 3], HttpError> {
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HttpError::Bad("malformed request line"));
    };
    if !is_token(method.as_bytes()) {
        return Err(HttpError::Bad("invalid method"));
    }
    if target.is_empty() || target.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(HttpError::Bad("invalid request target"));
    }
    parse_version(version)?;
    Ok([method.to_string(), target.to_string(), version.to_string()])
}

fn parse_status_line(line: &str) -> Result<[String; 3], HttpError> {
    let mut parts = line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().unwrap_or_default();
    let reason = parts.next().unwrap_or_default();
    parse_version(version)?;
    if status.len() != 3 || !status.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HttpError::Bad("malformed status line"));
    }
    Ok([version.to_string(), status.to_string(), reason.to_string()])
}

fn parse_version(v: &str) -> Result<Version, HttpError> {
    match v {
        "HTTP/1.1" => Ok(Version::Http11),
        "HTTP/1.0" => Ok(Version::Http10),
        _ => {
            let b = v.as_bytes();
            let well_formed = b.len() == 8
                && v.starts_with("HTTP/")
                && b[5].is_ascii_digit()
                && b[6] == b'.'
                && b[7].is_ascii_digit();
            Err(if well_formed { HttpError::Version } else { HttpError::Bad("malformed HTTP version") })
        }
    }
}

fn parse_header_line(line: &[u8]) -> Result<(String, String), HttpError> {
    if line[0] == b' ' || line[0] == b'\t' {
        // Obsolete line folding (RFC 9112 §5.2): rejecting is allowed and safest.
        return Err(HttpError::Bad("obsolete header line folding"));
    }
    let colon = line.iter().position(|&b| b == b':').ok_or(HttpError::Bad("header line without colon"))?;
    let name = &line[..colon];
    if !is_token(name) {
        // Also catches whitespace between the name and the colon.
        return Err(HttpError::Bad("invalid header name"));
    }
    let value = line[colon + 1..].trim_ascii();
    if value.iter().any(|&b| (b < b' ' && b != b'\t') || b == 0x7f) {
        return Err(HttpError::Bad("control character in header value"));
    }
    Ok((String::from_utf8_lossy(name).into_owned(), String::from_utf8_lossy(value).into_owned()))
}

/// A parsed request head, before its body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    pub path: String,
    pub query: String,
    pub version: Version,
    pub headers: Headers,
}

/// Parses a request head at the start of `buf` (leading blank lines are
/// skipped). `Ok(None)` means more bytes are needed; on success also returns
/// how many bytes of `buf` the head used.
pub fn parse_request_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, HttpError> {
    let Some((head, used)) = parse_head(buf, true)? else {
        return Ok(None);
    };
    let [method, target, version] = head.start;
    let version = parse_version(&version)?;
    let (path, query) = split_target(&target)?;
    Ok(Some((RequestHead { method, path, query, version, headers: head.headers }, used)))
}

/// Splits a request target into path and query; absolute-form targets
/// (`http://host/p?q`) are reduced to their path, `*` is kept as is.
fn split_target(target: &str) -> Result<(String, String), HttpError> {
    let origin = if target.starts_with('/') || target == "*" {
        target
    } else if let Some(rest) = target.strip_prefix("http://").or_else(|| target.strip_prefix("https://")) {
        match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => &rest[i..],
            Some(i) => &rest[i..], // "http://h?q" has an empty path
            None => "/",
        }
    } else {
        return Err(HttpError::Bad("invalid request target"));
    };
    let (path, query) = origin.split_once('?').unwrap_or((origin, ""));
    let path = if path.is_empty() { "/" } else { path };
    Ok((path.to_string(), query.to_string()))
}

/// How the length of a message body is determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLen {
    None,
    Length(usize),
    Chunked,
    /// Response without framing: body runs until the connection closes.
    UntilClose,
}

/// Body framing from the headers (RFC 9112 §6.3). Requests with both
/// Transfer-Encoding and Content-Length, or conflicting lengths, are rejected
/// rather than guessed at, since that is how request smuggling starts.
pub fn body_len(headers: &[(String, String)], is_request: bool) -> Result<BodyLen, HttpError> {
    let has_te = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"));
    let has_cl = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    if has_te {
        if has_cl {
            return Err(HttpError::Bad("both Transfer-Encoding and Content-Length"));
        }
        let codings: Vec<&str> = header_tokens(headers, "transfer-encoding").collect();
        let chunked = codings.iter().filter(|c| c.eq_ignore_ascii_case("chunked")).count();
        let last_chunked = codings.last().is_some_and(|c| c.eq_ignore_ascii_case("chunked"));
        if codings.iter().any(|c| !c.eq_ignore_ascii_case("chunked") && !c.eq_ignore_ascii_case("identity")) {
            return Err(HttpError::Unsupported("transfer coding other than chunked"));
        }
        return match (chunked, last_chunked) {
            (1, true) => Ok(BodyLen::Chunked),
            (0, _) if !is_request => Ok(BodyLen::UntilClose),
            _ => Err(HttpError::Bad("invalid Transfer-Encoding")),
        };
    }
    if has_cl {
        let mut len: Option<usize> = None;
        for tok in header_tokens(headers, "content-length") {
            if tok.is_empty() || tok.len() > 18 || !tok.bytes().all(|b| b.is_ascii_digit()) {
                return Err(HttpError::Bad("invalid Content-Length"));
            }
            let n: usize = tok.parse().map_err(|_| HttpError::Bad("invalid Content-Length"))?;
            if len.is_some_and(|prev| prev != n) {
                return Err(HttpError::Bad("conflicting Content-Length values"));
            }
            len = Some(n);
        }
        let n = len.ok_or(HttpError::Bad("empty Content-Length"))?;
        if n > MAX_BODY {
            return Err(HttpError::BodyTooLarge);
        }
        return Ok(if n == 0 { BodyLen::None } else { BodyLen::Length(n) });
    }
    Ok(if is_request { BodyLen::None } else { BodyLen::UntilClose })
}

/// Decodes a chunked body at the start of `buf`. `Ok(None)` means more bytes
/// are needed; on success returns the decoded body and the bytes consumed
/// (including the last chunk and trailers, which are discarded). One-shot
/// form of [`ChunkedDecoder`], for tests.
#[cfg(test)]
pub fn decode_chunked(buf: &[u8], max_body: usize) -> Result<Option<(Vec<u8>, usize)>, HttpError> {
    let mut dec = ChunkedDecoder::new(max_body);
    let used = dec.feed(buf)?;
    Ok(dec.is_done().then(|| (dec.into_body(), used)))
}

/// Where a [`ChunkedDecoder`] is within the chunked body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Expecting a `chunk-size [; ext]` line.
    Size,
    /// Inside chunk data, with this many bytes still to come.
    Data(usize),
    /// Expecting the CRLF after chunk data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty line.
    Trailer,
    Done,
}

/// Incremental chunked-body decoder: bytes are fed as they arrive, and
/// nothing is decoded twice, so large bodies in many small chunks stay linear.
#[derive(Debug)]
pub struct ChunkedDecoder {
    body: Vec<u8>,
    state: ChunkState,
    max_body: usize,
    trailer_lines: usize,
}

impl ChunkedDecoder {
    pub fn new(max_body: usize) -> Self {
        ChunkedDecoder { body: Vec::new(), state: ChunkState::Size, max_body, trailer_lines: 0 }
    }

    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// Consumes as much of `buf` as it can; returns how many bytes it used.
    /// Stops at the end of the body, leaving any following bytes unused.
    pub fn feed(&mut self, buf: &[u8]) -> Result<usize, HttpError> {
        let mut pos = 0;
        loop {
            match self.state {
                ChunkState::Size => {
                    let Some(line) = next_line(buf, &mut pos)? else {
                        return Ok(pos);
                    };
                    // chunk-size [; chunk-ext]; whitespace before ';' is tolerated (BWS).
                    let field = line.split(|&b| b == b';').next().unwrap_or_default().trim_ascii_end();
                    if field.is_empty() || field.len() > 15 {
                        return Err(HttpError::Bad("invalid chunk size"));
                    }
                    let mut size = 0usize;
                    for &b in field {
                        let v = hex_val(b).ok_or(HttpError::Bad("invalid chunk size"))?;
                        size = size * 16 + v as usize;
                    }
                    if size == 0 {
                        self.state = ChunkState::Trailer;
                    } else {
                        if self.body.len() + size > self.max_body {
                            return Err(HttpError::BodyTooLarge);
                        }
                        self.state = ChunkState::Data(size);
                    }
                }
                ChunkState::Data(remaining) => {
                    let take = remaining.min(buf.len() - pos);
                    if take == 0 {
                        return Ok(pos);
                    }
                    self.body.extend_from_slice(&buf[pos..pos + take]);
                    pos += take;
                    self.state =
                        if take == remaining { ChunkState::DataEnd } else { ChunkState::Data(remaining - take) };
                }
                // Chunk data must be followed by CRLF (or, leniently, LF).
                ChunkState::DataEnd => match (buf.get(pos), buf.get(pos + 1)) {
                    (Some(b'\n'), _) => {
                        pos += 1;
                        self.state = ChunkState::Size;
                    }
                    (Some(b'\r'), Some(b'\n')) => {
                        pos += 2;
                        self.state = ChunkState::Size;
                    }
                    (None, _) | (Some(b'\r'), None) => return Ok(pos),
                    _ => return Err(HttpError::Bad("chunk data not followed by CRLF")),
                },
                ChunkState::Trailer => {
                    let Some(line) = next_line(buf, &mut pos)? else {
                        return Ok(pos);
                    };
                    if line.is_empty() {
                        self.state = ChunkState::Done;
                    } else {
                        self.trailer_lines += 1;
                        if self.trailer_lines > MAX_HEADERS {
                            return Err(HttpError::HeadTooLarge);
                        }
                        parse_header_line(line)?; // validated, then discarded
                    }
                }
                ChunkState::Done => return Ok(pos),
            }
        }
    }
}

/// Returns the line starting at `*pos` (without CR/LF) and advances past it,
/// or `Ok(None)` if no complete line is buffered yet.
fn next_line<'a>(buf: &'a [u8], pos: &mut usize) -> Result<Option<&'a [u8]>, HttpError> {
    let rest = &buf[*pos..];
    match rest.iter().position(|&b| b == b'\n') {
        Some(i) if i > MAX_CHUNK_LINE => Err(HttpError::Bad("chunk line too long")),
        Some(i) => {
            *pos += i + 1;
            Ok(Some(strip_cr(&rest[..i])))
        }
        None if rest.len() > MAX_CHUNK_LINE => Err(HttpError::Bad("chunk line too long")),
        None => Ok(None),
    }
}

/// A response read by the client side ([`Reader::read_response`]).
#[derive(Debug, Clone)]
pub struct ClientResponse {
    pub status: u16,
    pub headers: Headers,
    pub body: Vec<u8>,
    /// Whether the connection may be reused for another request.
    pub keep_alive: bool,
}

impl ClientResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// Buffered message reader over a byte stream. Bytes read past the end of
/// one message stay buffered for the next (pipelining).
pub struct Reader<R> {
    inner: R,
    /// Received bytes not yet consumed by a parsed message.
    buf: Vec<u8>,
    /// Fixed read buffer: reads land here and are appended to `buf`, so no
    /// per-read zeroing of spare capacity is needed (and no `unsafe`).
    scratch: Box<[u8]>,
}

/// Size of [`Reader`]'s read buffer.
const READ_CHUNK: usize = 16 * 1024;

impl<R: Read> Reader<R> {
    pub fn new(inner: R) -> Self {
        Reader { inner, buf: Vec::new(), scratch: vec![0; READ_CHUNK].into_boxed_slice() }
    }

    /// Reads more bytes into the buffer; returns how many (0 at EOF).
    fn fill(&mut self) -> Result<usize, HttpError> {
        loop {
            match self.inner.read(&mut self.scratch) {
                Ok(n) => {
                    self.buf.extend_from_slice(&self.scratch[..n]);
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Reads the next request. `Ok(None)` means the peer closed the
    /// connection cleanly between requests. `send_continue` is called when the
    /// client sent `Expect: 100-continue` and its body has not arrived yet.
    pub fn read_request<F>(&mut self, mut send_continue: F) -> Result<Option<Request>, HttpError>
    where
        F: FnMut() -> io::Result<()>,
    {
        // A head is only complete once a newline arrives, so re-parse only
        // when fresh bytes contain one (keeps byte-at-a-time clients linear).
        let mut fresh_newline = true;
        let (head, used) = loop {
            // Blank lines before a request are ignored; drop them so that a
            // client sending endless CRLFs cannot grow the buffer.
            let blank = leading_blank_len(&self.buf);
            self.buf.drain(..blank);
            if fresh_newline {
                if let Some(parsed) = parse_request_head(&self.buf)? {
                    break parsed;
                }
            } else if self.buf.len() > MAX_HEAD {
                return Err(HttpError::HeadTooLarge);
            }
            let before = self.buf.len();
            if self.fill()? == 0 {
                return if self.buf.is_empty() { Ok(None) } else { Err(HttpError::Eof) };
            }
            fresh_newline = self.buf[before..].contains(&b'\n');
        };
        self.buf.drain(..used);
        let len = body_len(&head.headers, true)?;
        let expects_continue = head.version == Version::Http11
            && header(&head.headers, "expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
        if expects_continue && len != BodyLen::None && self.buf.is_empty() {
            send_continue()?;
        }
        let body = self.read_body(len)?;
        Ok(Some(Request {
            method: head.method,
            path: head.path,
            query: head.query,
            version: head.version,
            headers: head.headers,
            body,
        }))
    }

    /// Reads a response to a request we sent (`head_request`: it was a HEAD,
    /// so there is no body whatever the headers say). Interim 1xx responses
    /// are skipped.
    pub fn read_response(&mut self, head_request: bool) -> Result<ClientResponse, HttpError> {
        loop {
            let (head, used) = loop {
                if let Some(parsed) = parse_head(&self.buf, false)? {
                    break parsed;
                }
                if self.fill()? == 0 {
                    return Err(HttpError::Eof);
                }
            };
            self.buf.drain(..used);
            let [version, status, _reason] = &head.start;
            let status: u16 = status.parse().map_err(|_| HttpError::Bad("bad status"))?;
            if (100..200).contains(&status) {
                continue;
            }
            let version = parse_version(version)?;
            let len = if head_request || status == 204 || status == 304 {
                BodyLen::None
            } else {
                body_len(&head.headers, false)?
            };
            let body = self.read_body(len)?;
            let mut close = len == BodyLen::UntilClose;
            let mut keep = false;
            for t in header_tokens(&head.headers, "connection") {
                close |= t.eq_ignore_ascii_case("close");
                keep |= t.eq_ignore_ascii_case("keep-alive");
            }
            let keep_alive = !close && (version == Version::Http11 || keep);
            return Ok(ClientResponse { status, headers: head.headers, body, keep_alive });
        }
    }

    fn read_body(&mut self, len: BodyLen) -> Result<Vec<u8>, HttpError> {
        match len {
            BodyLen::None => Ok(Vec::new()),
            BodyLen::Length(n) => {
                // Reserve up front, but not blindly trust a huge declared length.
                self.buf.reserve(n.saturating_sub(self.buf.len()).min(1 << 20));
                while self.buf.len() < n {
                    if self.fill()? == 0 {
                        return Err(HttpError::Eof);
                    }
                }
                let rest = self.buf.split_off(n);
                Ok(std::mem::replace(&mut self.buf, rest))
            }
            BodyLen::Chunked => {
                let mut dec = ChunkedDecoder::new(MAX_BODY);
                loop {
                    let used = dec.feed(&self.buf)?;
                    self.buf.drain(..used);
                    if dec.is_done() {
                        return Ok(dec.into_body());
                    }
                    if self.fill()? == 0 {
                        return Err(HttpError::Eof);
                    }
                }
            }
            BodyLen::UntilClose => {
                while self.fill()? > 0 {
                    if self.buf.len() > MAX_BODY {
                        return Err(HttpError::BodyTooLarge);
                    }
                }
                Ok(std::mem::take(&mut self.buf))
            }
        }
    }
}

/// A response to write. `close` forces `Connection: close`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub close: bool,
}

impl Response {
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".to_string(), content_type.to_string())],
            body: body.into(),
            close: false,
        }
    }

    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status, "application/json", body)
    }

    pub fn text(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self::new(status, "text/plain; charset=utf-8", body)
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// Standard reason phrase for a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        507 => "Insufficient Storage",
        _ => "Status",
    }
}

/// Serializes `resp` and writes it with a single `write_all` (one segment
/// for small responses, which matters with keep-alive and TCP_NODELAY).
/// `version` is the request's version, `head_only` suppresses the body.
pub fn write_response<W: Write>(
    mut w: W,
    resp: &Response,
    version: Version,
    keep_alive: bool,
    head_only: bool,
) -> io::Result<()> {
    let no_body = resp.status < 200 || resp.status == 204 || resp.status == 304;
    let mut out = Vec::with_capacity(160 + resp.body.len());
    out.extend_from_slice(format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status)).as_bytes());
    out.extend_from_slice(b"Server: demo-target\r\n");
    for (k, v) in &resp.headers {
        if no_body && k.eq_ignore_ascii_case("content-type") {
            continue;
        }
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !no_body {
        out.extend_from_slice(format!("Content-Length: {}\r\n", resp.body.len()).as_bytes());
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if version == Version::Http10 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !no_body && !head_only {
        out.extend_from_slice(&resp.body);
    }
    w.write_all(&out)?;
    w.flush()
}

/// Writes an HTTP/1.1 request with a Content-Length body (client side).
pub fn write_request<W: Write>(
    mut w: W,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<()> {
    let mut out = Vec::with_capacity(256 + body.len());
    out.extend_from_slice(format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n").as_bytes());
    for (k, v) in headers {
        out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    w.write_all(&out)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A reader that hands out at most `step` bytes per read call, to
    /// exercise messages split across arbitrary TCP segment boundaries.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len() - self.pos);
            out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn reader(data: &[u8], step: usize) -> Reader<Trickle> {
        Reader::new(Trickle { data: data.to_vec(), pos: 0, step })
    }

    fn no_continue() -> io::Result<()> {
        Ok(())
    }

    fn read_all(data: &[u8], step: usize) -> Result<Vec<Request>, HttpError> {
        let mut r = reader(data, step);
        let mut out = Vec::new();
        while let Some(req) = r.read_request(no_continue)? {
            out.push(req);
        }
        Ok(out)
    }

    fn status_of(data: &[u8]) -> Option<u16> {
        match read_all(data, 1024) {
            Ok(_) => None,
            Err(e) => e.status(),
        }
    }

    #[test]
    fn parses_simple_get() {
        let reqs = read_all(b"GET /ping?x=1&y=a%20b HTTP/1.1\r\nHost: h\r\nX-Thing:  v  \r\n\r\n", 4096).unwrap();
        assert_eq!(reqs.len(), 1);
        let r = &reqs[0];
        assert_eq!(r.method, "GET");
        assert_eq!(r.path, "/ping");
        assert_eq!(r.query, "x=1&y=a%20b");
        assert_eq!(r.query_param("y").as_deref(), Some("a b"));
        assert_eq!(r.version, Version::Http11);
        assert_eq!(r.header("x-THING"), Some("v"));
        assert!(r.keep_alive());
        assert!(r.body.is_empty());
    }

    #[test]
    fn pipelined_requests_with_bodies() {
        let data = b"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\n\
                     PUT /c HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
                     GET /d HTTP/1.0\r\n\r\n";
        for step in [1, 2, 3, 7, 64, 4096] {
            let reqs = read_all(data, step).unwrap();
            let paths: Vec<_> = reqs.iter().map(|r| r.path.as_str()).collect();
            assert_eq!(paths, ["/a", "/b", "/c", "/d"], "step {step}");
            assert_eq!(reqs[0].body, b"hello");
            assert!(reqs[1].body.is_empty());
            assert_eq!(reqs[2].body, b"abc");
            assert!(!reqs[3].keep_alive());
        }
    }

    #[test]
    fn partial_head_needs_more_data() {
        assert_eq!(parse_request_head(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap(), None);
        assert_eq!(parse_request_head(b"GET / HT").unwrap(), None);
        let (head, used) = parse_request_head(b"GET / HTTP/1.1\r\n\r\nextra").unwrap().unwrap();
        assert_eq!(head.path, "/");
        assert_eq!(used, 18);
    }

    #[test]
    fn eof_mid_message_is_an_error_but_clean_eof_is_not() {
        assert!(matches!(read_all(b"GET / HTTP/1.1\r\nHo", 3), Err(HttpError::Eof)));
        assert!(matches!(read_all(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", 3), Err(HttpError::Eof)));
        assert_eq!(read_all(b"", 3).unwrap().len(), 0);
        // Stray CRLFs between requests are ignored.
        assert_eq!(read_all(b"GET / HTTP/1.1\r\n\r\n\r\n", 3).unwrap().len(), 1);
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let body = b"4;name=val\r\nWiki\r\n5 \r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        let (decoded, used) = decode_chunked(body, MAX_BODY).unwrap().unwrap();
        assert_eq!(decoded, b"Wikipedia in\r\n\r\nchunks.");
        assert_eq!(&body[used..], b"NEXT");
        // Every strict prefix is incomplete, never an error.
        for cut in 0..used {
            assert!(decode_chunked(&body[..cut], MAX_BODY).unwrap().is_none(), "cut {cut}");
        }
    }

    #[test]
    fn chunked_errors() {
        assert!(matches!(decode_chunked(b"zz\r\n", MAX_BODY), Err(HttpError::Bad(_))));
        assert!(matches!(decode_chunked(b"\r\n", MAX_BODY), Err(HttpError::Bad(_))));
        assert!(matches!(decode_chunked(b"3\r\nabcX", MAX_BODY), Err(HttpError::Bad(_))));
        assert!(matches!(decode_chunked(b"ffffffffffffffffff\r\n", MAX_BODY), Err(HttpError::Bad(_))));
        assert!(matches!(decode_chunked(b"10\r\n", 8), Err(HttpError::BodyTooLarge)));
    }

    #[test]
    fn bad_input_maps_to_status_codes() {
        assert_eq!(status_of(b"GARBAGE\r\n\r\n"), Some(400));
        assert_eq!(status_of(b"GET /\r\n\r\n"), Some(400));
        assert_eq!(status_of(b"GET  / HTTP/1.1\r\n\r\n"), Some(400));
        assert_eq!(status_of(b"G(T / HTTP/1.1\r\n\r\n"), Some(400));
        assert_eq!(status_of(b"GET noslash HTTP/1.1\r\n\r\n"), Some(400));
        assert_eq!(status_of(b"GET / HTTP/2.0\r\n\r\n"), Some(505));
        assert_eq!(status_of(b"GET / FOO/1.1\r\n\r\n"), Some(400));
        assert_eq!(status_of(b"GET / HTTP/1.1\r\nNoColon\r\n\r\n"), Some(400));
        assert_eq!(status_of(b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"), Some(400));
        assert_eq!(status_of(b"GET / HTTP/1.1\r\nName : x\r\n\r\n"), Some(400));
        assert_eq!(status_of(b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n"), Some(400));
        assert_eq!(status_of(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), Some(400));
        assert_eq!(status_of(b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"), Some(400));
        assert_eq!(status_of(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"), Some(400));
        assert_eq!(
            status_of(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            Some(400)
        );
        assert_eq!(status_of(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"), Some(501));
        assert_eq!(status_of(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n"), Some(400));
        assert_eq!(
            status_of(format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1).as_bytes()),
            Some(413)
        );
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(status_of(huge.as_bytes()), Some(431));
        let endless = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD + 10));
        assert_eq!(status_of(endless.as_bytes()), Some(431));
        // Identical duplicate lengths are fine.
        assert_eq!(status_of(b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab"), None);
        // Binary junk never panics.
        for junk in [&b"\x00\x01\x02\r\n\r\n"[..], b"\xff\xfe / HTTP/1.1\r\n\r\n", b"\r\n\n\n\r\n"] {
            let _ = read_all(junk, 2);
        }
    }

    #[test]
    fn mutated_input_never_panics() {
        // Deterministic fuzzing: flip, drop and duplicate bytes of valid
        // messages and feed them through the reader in small pieces.
        let seeds: [&[u8]; 3] = [
            b"POST /p?a=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.0\r\n\r\n",
            b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
        ];
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for i in 0..20_000 {
            let mut data = seeds[i % seeds.len()].to_vec();
            for _ in 0..1 + next() % 4 {
                let at = (next() as usize) % data.len();
                match next() % 3 {
                    0 => data[at] = next() as u8,
                    1 => {
                        data.remove(at);
                    }
                    _ => data.insert(at, data[at]),
                }
            }
            let _ = read_all(&data, 1 + (next() % 9) as usize);
            let _ = Reader::new(Cursor::new(data)).read_response(false);
        }
    }

    #[test]
    fn keep_alive_rules() {
        let req = |s: &[u8]| read_all(s, 4096).unwrap().remove(0);
        assert!(req(b"GET / HTTP/1.1\r\n\r\n").keep_alive());
        assert!(!req(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive());
        assert!(!req(b"GET / HTTP/1.0\r\n\r\n").keep_alive());
        assert!(req(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive());
        assert!(!req(b"GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n").keep_alive());
    }

    #[test]
    fn lf_only_line_endings_and_absolute_targets() {
        let reqs = read_all(b"GET http://example/x/y?q=1 HTTP/1.1\nA: b\n\n", 5).unwrap();
        assert_eq!(reqs[0].path, "/x/y");
        assert_eq!(reqs[0].query, "q=1");
        assert_eq!(reqs[0].header("a"), Some("b"));
        let reqs = read_all(b"OPTIONS * HTTP/1.1\r\n\r\n", 5).unwrap();
        assert_eq!(reqs[0].path, "*");
    }

    #[test]
    fn expect_continue_is_announced_once_before_the_body() {
        let mut r = reader(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", 4096);
        let mut calls = 0;
        // The body never arrives in this stream, so reading ends at EOF after the announcement.
        let res = r.read_request(|| {
            calls += 1;
            Ok(())
        });
        assert!(matches!(res, Err(HttpError::Eof)));
        assert_eq!(calls, 1);
    }

    #[test]
    fn writes_responses_with_framing() {
        let mut out = Vec::new();
        write_response(&mut out, &Response::text(200, "ok"), Version::Http11, true, false).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(s.contains("Content-Length: 2\r\n"));
        assert!(!s.contains("Connection"));
        assert!(s.ends_with("\r\n\r\nok"));

        let mut out = Vec::new();
        write_response(&mut out, &Response::text(204, "ignored"), Version::Http10, false, false).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(!s.contains("Content-Length") && s.contains("Connection: close") && s.ends_with("\r\n\r\n"));

        let mut out = Vec::new();
        write_response(&mut out, &Response::text(200, "body"), Version::Http10, true, true).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("Connection: keep-alive") && s.contains("Content-Length: 4") && s.ends_with("\r\n\r\n"));
    }

    #[test]
    fn client_reads_responses() {
        let data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi\
                     HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nyo\r\n0\r\n\r\n\
                     HTTP/1.0 503 Service Unavailable\r\n\r\nbye";
        let mut r = Reader::new(Cursor::new(data.to_vec()));
        let a = r.read_response(false).unwrap();
        assert_eq!((a.status, a.body.as_slice(), a.keep_alive), (200, &b"hi"[..], true));
        let b = r.read_response(false).unwrap();
        assert_eq!((b.status, b.body.as_slice()), (200, &b"yo"[..]));
        let c = r.read_response(false).unwrap();
        assert_eq!((c.status, c.body.as_slice(), c.keep_alive), (503, &b"bye"[..], false));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%2Fb+c%zz%4"), "a/b c%zz%4");
        assert_eq!(
            query_pairs("a=1&&b&c=%41"),
            [("a".to_string(), "1".to_string()), ("b".to_string(), String::new()), ("c".to_string(), "A".to_string())]
        );
    }
}
