//! One measured request: what the engine hands to aggregation, criteria and reports. It lives above
//! the engine so that every later stage reads it without importing the engine. Errors are data here,
//! not `Result`s.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Why a request produced no usable response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ErrorKind {
    /// The TCP connection was refused.
    ConnectRefused,
    /// Connecting or reading timed out.
    Timeout,
    /// The connection was reset or closed early.
    Reset,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// Any other transport error (DNS, protocol, body read).
    Transport,
    /// The response arrived with an error status (>= 400).
    Status,
    /// An assertion on the response failed.
    Assertion,
    /// An extractor without a `default` found nothing in the response.
    Extraction,
}

impl ErrorKind {
    /// Every kind, in the order of [`ErrorKind::index`].
    pub const ALL: [ErrorKind; 8] = [
        ErrorKind::ConnectRefused,
        ErrorKind::Timeout,
        ErrorKind::Reset,
        ErrorKind::Tls,
        ErrorKind::Transport,
        ErrorKind::Status,
        ErrorKind::Assertion,
        ErrorKind::Extraction,
    ];

    /// Position in [`ErrorKind::ALL`] (for per-kind counters).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Name used as the response code of samples that got no HTTP status.
    pub fn rc_name(self) -> &'static str {
        match self {
            ErrorKind::ConnectRefused => "ConnectRefused",
            ErrorKind::Timeout => "Timeout",
            ErrorKind::Reset => "ConnectionReset",
            ErrorKind::Tls => "TlsError",
            ErrorKind::Extraction => "Extraction",
            ErrorKind::Transport => "TransportError",
            ErrorKind::Status => "Status",
            ErrorKind::Assertion => "Assertion",
        }
    }
}

/// gRPC status codes are kept in [`Sample::status`] above HTTP's range, as `GRPC_STATUS + code`
/// (`OK` is 1000, `UNAVAILABLE` 1014), so one field carries either protocol's response code and
/// reports spell gRPC's by name ([`grpc_code_name`]).
pub const GRPC_STATUS: u16 = 1000;

/// The name of gRPC status `code` (0 to 16) as reports and criteria spell it.
pub fn grpc_code_name(code: u16) -> Option<&'static str> {
    Some(match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => return None,
    })
}

/// The run's label names, indexed by [`Sample::label`]: the plan's labels first, then the names
/// an external tool reports while it runs (a Locust request name, a k6 `name` tag). Reading and
/// looking up are shared; only a name never seen before takes the write lock.
#[derive(Debug, Default)]
pub struct Labels {
    inner: RwLock<LabelsInner>,
}

#[derive(Debug, Default)]
struct LabelsInner {
    names: Vec<Arc<str>>,
    index: HashMap<Arc<str>, u32>,
    /// Per label: it carries a tool's other figures (a k6 check, a custom Trend), not requests.
    extra: Vec<bool>,
}

/// Most distinct labels a run takes from external tools: past it, new names share
/// [`Labels::OVERFLOW`] (a tool naming requests by full URL would otherwise grow without bound).
pub const MAX_LABELS: usize = 10_000;

impl Labels {
    /// The label that new names share once [`MAX_LABELS`] are known.
    pub const OVERFLOW: &'static str = "[other labels]";

    /// A table holding `names` (the plan's labels, in their index order).
    pub fn new(names: &[String]) -> Self {
        let labels = Labels::default();
        for name in names {
            labels.intern(name);
        }
        labels
    }

    /// The index of `name`, added if new.
    pub fn intern(&self, name: &str) -> u32 {
        self.intern_as(name, false)
    }

    /// The index of `name` for a tool's figure that is not a request (a k6 check or custom
    /// Trend): reports show it as a label, but it is left out of the overall row and of the
    /// requests counted.
    pub fn intern_extra(&self, name: &str) -> u32 {
        self.intern_as(name, true)
    }

    /// Whether label `i` carries other figures than requests.
    pub fn is_extra(&self, i: u32) -> bool {
        self.read().extra.get(i as usize).copied().unwrap_or(false)
    }

    /// Which of the labels from index `from` on carry other figures than requests.
    pub fn extra_from(&self, from: usize) -> Vec<bool> {
        self.read().extra.get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }

    fn intern_as(&self, name: &str, extra: bool) -> u32 {
        if let Some(i) = self.read().index.get(name) {
            return *i;
        }
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = inner.index.get(name) {
            return *i;
        }
        let name: Arc<str> = if inner.names.len() >= MAX_LABELS { Arc::from(Self::OVERFLOW) } else { Arc::from(name) };
        if let Some(i) = inner.index.get(&name) {
            return *i;
        }
        let i = inner.names.len() as u32;
        inner.names.push(name.clone());
        inner.extra.push(extra);
        inner.index.insert(name, i);
        i
    }

    /// How many labels there are now.
    pub fn len(&self) -> usize {
        self.read().names.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The names from index `from` on.
    pub fn names_from(&self, from: usize) -> Vec<Arc<str>> {
        self.read().names.get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, LabelsInner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// A finished request.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Index of the label in the run's [`Labels`].
    pub label: u32,
    /// Start time, microseconds since the Unix epoch.
    pub start_us: u64,
    /// Full response time (request sent to body read), µs.
    pub elapsed_us: u64,
    /// Time spent connecting (0 when a kept-alive connection was reused), µs.
    pub connect_us: u64,
    /// Time to first byte of the response (Taurus calls it latency), µs.
    pub ttfb_us: u64,
    /// HTTP status, [`GRPC_STATUS`] + a gRPC status code, or 0 when no response arrived.
    pub status: u16,
    /// Failure class, if the sample failed.
    pub error_kind: Option<ErrorKind>,
    /// Failure message, if the sample failed.
    pub error: Option<Arc<str>>,
    /// Response bytes (headers and body).
    pub bytes: u64,
    /// How long after its scheduled time the request went out, µs (open model only; 0 otherwise).
    /// `elapsed_us + lag_us` is the response time corrected for coordinated omission.
    pub lag_us: u64,
    /// The timings of a streamed response's events (requests with `stream` only; boxed so that
    /// every other sample stays as small as it was).
    pub stream: Option<Box<StreamTimes>>,
}

/// Most gaps between events a [`StreamTimes`] keeps; later ones are counted, not kept.
pub const MAX_GAPS: usize = 4096;

/// When a streamed response's events came. "Timed events" are the events that carry tokens when
/// the request says where its tokens are (`tokens-from`) and at least one did, else every event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamTimes {
    /// From the request's start to the first timed event (time to first token), µs; `None` when
    /// no event came.
    pub first_us: Option<u64>,
    /// From the request's start to the last timed event, µs.
    pub last_us: u64,
    /// Gaps between consecutive timed events (inter-token latency), µs, the first [`MAX_GAPS`].
    pub gaps_us: Vec<u32>,
    /// Events received (SSE's `[DONE]` not counted).
    pub events: u32,
    /// Tokens received; `None` without `tokens-from`.
    pub tokens: Option<u64>,
}

impl StreamTimes {
    /// Notes a timed event at `at_us` from the request's start: the first, or one more gap
    /// (the first [`MAX_GAPS`] kept). `events` is counted by the caller.
    pub fn time(&mut self, at_us: u64) {
        match self.first_us {
            None => self.first_us = Some(at_us),
            Some(_) if self.gaps_us.len() < MAX_GAPS => {
                self.gaps_us.push(at_us.saturating_sub(self.last_us).min(u64::from(u32::MAX)) as u32)
            }
            Some(_) => {}
        }
        self.last_us = at_us;
    }
}

#[cfg(test)]
impl Sample {
    /// A sample for tests: label 0, `elapsed_us`, `status` (400 and above fail as `Status`),
    /// everything else zero; tests change the rest with `Sample { lag_us, ..Sample::fake(..) }`.
    pub fn fake(elapsed_us: u64, status: u16) -> Sample {
        Sample {
            label: 0,
            start_us: 0,
            elapsed_us,
            connect_us: 0,
            ttfb_us: 0,
            status,
            error_kind: (status >= 400).then_some(ErrorKind::Status),
            error: None,
            bytes: 0,
            lag_us: 0,
            stream: None,
        }
    }

    /// The response code as Taurus spells it, written out plainly: the reference the counting
    /// in `aggregate::rc` is checked against.
    pub fn rc(&self) -> String {
        if let Some(name) = self.status.checked_sub(GRPC_STATUS).and_then(grpc_code_name) {
            name.to_string()
        } else if self.status != 0 {
            self.status.to_string()
        } else {
            self.error_kind.map(ErrorKind::rc_name).unwrap_or("0").to_string()
        }
    }
}
