//! Resolved scenarios: the steps a virtual user walks (requests and logic blocks), with every
//! literal parsed once (method, URL, header names and values, bodies) and `${name}` placeholders
//! split out, so the hot path only fills in what really varies.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderName, HeaderValue};

use super::body_template::BodyTemplate;
use super::checks::{Assertion, Extractor};
use super::data::DataSource;
pub use super::jmx::eval::{EvalError, Globals as Functions, Vu as UserVars};
use super::jmx::template::Template as JmxTemplate;

/// Text with `${name}` placeholders, parsed once.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Clone, Debug)]
enum Part {
    Lit(String),
    Var(String),
    /// A JMeter function call (`${__counter(…)}`, `${__Random(…)}`, …), evaluated per use. The
    /// `Arc` keeps the call's address, which is how `__counter` tells its call sites apart.
    Call(Arc<JmxTemplate>),
}

impl PartialEq for Part {
    fn eq(&self, other: &Part) -> bool {
        match (self, other) {
            (Part::Lit(a), Part::Lit(b)) | (Part::Var(a), Part::Var(b)) => a == b,
            (Part::Call(a), Part::Call(b)) => a == b,
            _ => false,
        }
    }
}

impl Template {
    /// Splits `text` at `${name}` placeholders; text that is not a well-formed placeholder stays literal.
    pub fn parse(text: &str) -> Self {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            match after.find('}') {
                Some(end) if is_var_name(&after[..end]) => {
                    lit.push_str(&rest[..start]);
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Var(after[..end].to_string()));
                    rest = &after[end + 1..];
                }
                _ => {
                    lit.push_str(&rest[..start + 2]);
                    rest = after;
                }
            }
        }
        lit.push_str(rest);
        if !lit.is_empty() || parts.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Template { parts }
    }

    /// Text taken as is (no placeholders).
    pub fn literal(text: &str) -> Self {
        Template { parts: vec![Part::Lit(text.to_string())] }
    }

    /// A template from its parts, built by the JMX lowering: literal text, variables and
    /// JMeter function calls (each a one-segment JMX template).
    pub fn from_parts(parts: impl IntoIterator<Item = TemplatePart>) -> Self {
        let mut out: Vec<Part> = Vec::new();
        for part in parts {
            match part {
                TemplatePart::Lit(s) if s.is_empty() => {}
                TemplatePart::Lit(s) => match out.last_mut() {
                    Some(Part::Lit(prev)) => prev.push_str(&s),
                    _ => out.push(Part::Lit(s)),
                },
                TemplatePart::Var(name) => out.push(Part::Var(name)),
                TemplatePart::Call(call) => out.push(Part::Call(call)),
            }
        }
        if out.is_empty() {
            out.push(Part::Lit(String::new()));
        }
        Template { parts: out }
    }

    /// Fills placeholders from `vars` (unknown names stay as written, `${name}`, as in Taurus
    /// and JMeter) and evaluates JMeter function calls for that user; a function that fails
    /// (`__Random` with bounds that are not numbers, …) is an error.
    pub fn render<'a>(&'a self, vars: &mut UserVars, functions: &Functions) -> Result<Cow<'a, str>, EvalError> {
        if let [Part::Lit(s)] = self.parts.as_slice() {
            return Ok(Cow::Borrowed(s));
        }
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(name) => match vars.vars.get(name) {
                    Some(v) => out.push_str(v),
                    None => {
                        out.push_str("${");
                        out.push_str(name);
                        out.push('}');
                    }
                },
                Part::Call(call) => crate::plan::jmx::eval::eval_into(call, vars, functions, &mut out)?,
            }
        }
        Ok(Cow::Owned(out))
    }

    /// Whether the text has no placeholders.
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Lit(_)))
    }

    /// Whether it calls a JMeter function.
    pub fn has_calls(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Call(_)))
    }

    /// Names of the placeholders, in order.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(name) => Some(name.as_str()),
            Part::Lit(_) | Part::Call(_) => None,
        })
    }
}

/// One piece handed to [`Template::from_parts`].
#[derive(Clone, Debug)]
pub enum TemplatePart {
    /// Literal text.
    Lit(String),
    /// `${name}`.
    Var(String),
    /// A JMeter function call: a JMX template of one call segment.
    Call(Arc<JmxTemplate>),
}

fn is_var_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A value parsed once when it is literal, or rendered from its template for every request.
#[derive(Clone, Debug)]
pub enum Value<T> {
    /// Parsed at plan time.
    Fixed(T),
    /// Has placeholders: rendered and parsed per request.
    Template(Template),
}

/// A request body.
#[derive(Clone, Debug)]
pub enum Body {
    /// Sent as is (reference-counted, so each request shares the bytes).
    Fixed(Bytes),
    /// Rendered per request.
    Template(Template),
    /// Concatenated per request: literal bytes (file contents, multipart framing) and templated text.
    Parts(Vec<Chunk>),
    /// A minijinja template that reads `vu`, `iteration` or a random function, rendered per
    /// request; `${name}` placeholders in what it renders are then filled as in [`Body::Template`].
    Rendered(Arc<BodyTemplate>),
}

/// One piece of a [`Body::Parts`] body.
#[derive(Clone, Debug)]
pub enum Chunk {
    /// Literal bytes.
    Fixed(Bytes),
    /// Text rendered per request.
    Template(Template),
}

/// A pause before a request (JMeter timers run before their sampler).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ThinkTime {
    /// Always the same.
    Constant(Duration),
    /// `uniform(mean, dev)`: evenly between `mean - dev` and `mean + dev`.
    Uniform {
        /// Shortest pause.
        min: Duration,
        /// Width of the range (`2 * dev`).
        range: Duration,
    },
    /// `gaussian(mean, dev)`: normal around `mean` with deviation `dev`, never below zero.
    Gaussian {
        /// Mean pause.
        mean: Duration,
        /// Standard deviation.
        dev: Duration,
    },
    /// `poisson(mean, offset)`: `offset` plus a Poisson-distributed delay of mean `mean - offset` ms.
    Poisson {
        /// Mean of the random part, milliseconds.
        lambda_ms: f64,
        /// Fixed part.
        offset: Duration,
    },
}

/// Connect and read timeouts of a request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timeouts {
    /// Time allowed to open the connection (TCP and TLS).
    pub connect: Duration,
    /// Time allowed for the whole response, from the request sent to its last byte.
    pub read: Duration,
}

/// A cookie: one of the scenario's `cookies:`, or one a server set (see `engine::http::cookies`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    /// Lower-case host or domain, without a leading dot.
    pub domain: String,
    /// Only the exact host (no `Domain` attribute).
    pub host_only: bool,
    pub path: String,
    pub secure: bool,
    /// None: a session cookie (lives as long as the user).
    pub expires: Option<SystemTime>,
}

/// One `authorization:` entry: requests whose URL starts with `url_prefix` get `header` as
/// their `Authorization` unless they set one themselves.
#[derive(Debug, Clone)]
pub struct BasicAuth {
    pub url_prefix: String,
    pub header: HeaderValue,
}

/// One scenario with everything resolved.
#[derive(Debug)]
pub struct ScenarioPlan {
    /// Name under `scenarios` (or generated for inline scenarios).
    pub name: String,
    /// What each iteration does, in order.
    pub steps: Vec<Step>,
    /// Keep connections alive between requests of one virtual user.
    pub keepalive: bool,
    /// Check server certificates (`tls-verify: false` turns it off).
    pub tls_verify: bool,
    /// Keep each user's cookies (`store-cookie`, on unless turned off).
    pub store_cookies: bool,
    /// Cookies every user starts with (`cookies:`).
    pub cookies: Vec<Cookie>,
    /// Basic credentials by URL prefix (`authorization:`), first match wins.
    pub auth: Vec<BasicAuth>,
    /// Initial variables of every virtual user, set in order (a value may use earlier ones).
    pub variables: Vec<(String, Template)>,
    /// CSV files: each iteration of a user takes the next row of each.
    pub data_sources: Vec<Arc<DataSource>>,
    /// Number of `once` blocks (each user remembers which ones it ran).
    pub once_blocks: usize,
    /// Number of interleave blocks (each user, or the execution when shared, keeps a cursor).
    pub interleave_blocks: usize,
    /// Number of rendezvous points (`SyncTimer`); the execution keeps one barrier each.
    pub rendezvous: usize,
    /// Number of pacing points (`ConstantThroughputTimer`); per user or per execution.
    pub pacers: usize,
    /// Number of gRPC calls (the execution keeps one channel set each).
    pub grpc_calls: usize,
    /// What a failed sample does to its user (JMeter's `on_sample_error`; YAML: continue).
    pub on_error: OnError,
    /// JMeter's `same_user_on_next_iteration: false` or `CookieManager.clearEachIteration`:
    /// each iteration starts with the cookies of a new user.
    pub clear_cookies_each_iteration: bool,
    /// The user number JMeter's `__threadNum` gives the first user of this scenario's execution
    /// (1; a JMX plan's later thread groups count on from their own 1 too).
    pub first_thread_num: u64,
    /// State of JMeter functions shared by every user of the run (properties, global
    /// counters); empty for YAML scenarios.
    pub functions: Arc<Functions>,
}

/// What a virtual user does after a failed sample (JMeter's `ThreadGroup.on_sample_error`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnError {
    /// Go on (`continue`, Taurus's and JMeter's default).
    #[default]
    Continue,
    /// Start the next iteration (`startnextloop`).
    NextIteration,
    /// This user stops (`stopthread`).
    StopUser,
    /// The whole test stops gracefully (`stoptest`).
    StopTest,
    /// The whole test stops at once (`stoptestnow`).
    StopTestNow,
}

/// A condition of an `If` or `While` block, evaluated per use.
#[derive(Clone, Debug)]
pub enum Condition {
    /// Text rendered per check; it reads `true` or `false` (any case), anything else is neither.
    Text(Template),
    /// A comparison of variables and literals (`${__jexl3(…)}`, or JMeter's JavaScript form).
    Expr(Arc<super::jmx::condition::Expr>),
}

/// When a `While` block ends.
#[derive(Clone, Debug)]
pub enum WhileCondition {
    /// Blank condition: until a sample in the body fails (checked after each pass).
    BodyOk,
    /// `LAST`: until a sample fails, checked before entering as well (the sample before the loop).
    LastOk,
    /// Until the condition reads `false`.
    Until(Condition),
}

/// One step of a scenario.
#[derive(Debug)]
pub enum Step {
    /// An HTTP request.
    Request(Box<RequestPlan>),
    /// A gRPC call.
    Grpc(Box<super::grpc::GrpcPlan>),
    /// A JMeter transaction controller: its own sample summing its children.
    Transaction(Transaction),
    /// Repeat the steps `count` times, or until the test ends (`None`, Taurus's `forever`).
    Loop {
        /// Repetitions.
        count: Option<u64>,
        /// Body.
        steps: Vec<Step>,
    },
    /// Run the steps in the first iteration of each user only.
    Once {
        /// Which `once` block this is (index into the user's flags).
        index: usize,
        /// Body.
        steps: Vec<Step>,
    },
    /// Set user variables.
    SetVariables(Vec<(String, Template)>),
    /// A JMeter flow-control action (`action:`).
    Action(Action),
    /// A pause (a JMeter timer in scope of the next sampler; counted as think time).
    Think(ThinkTime),
    /// All the steps, in a new random order each pass (`RandomOrderController`).
    RandomOrder(Vec<Step>),
    /// One of the steps, picked at random each pass (`RandomController`).
    Random(Vec<Step>),
    /// One of the steps per pass, in turn (`InterleaveControl`).
    Interleave {
        /// Which interleave block this is (index into the cursors).
        index: usize,
        /// One cursor for all users of the execution instead of one per user.
        across_users: bool,
        /// The children, one per pass.
        steps: Vec<Step>,
    },
    /// The steps, when the condition reads `true` (`IfController`).
    If {
        /// The condition.
        condition: Condition,
        /// `evaluateAll`: checked again before each step, leaving when it no longer holds.
        each_step: bool,
        /// Body.
        steps: Vec<Step>,
    },
    /// The steps, again and again until the condition says to stop (`WhileController`).
    While {
        /// When to stop.
        condition: WhileCondition,
        /// Body.
        steps: Vec<Step>,
    },
    /// Wait until `group` users of the execution are here, then all go on together
    /// (`SyncTimer`); after `timeout` the ones waiting go on without the rest.
    Rendezvous {
        /// Which rendezvous point (index into the execution's barriers).
        index: usize,
        /// How many users meet (at least 1; JMeter's 0 is resolved to the group's users).
        group: u32,
        /// How long a user waits at most; None waits until the group is full (or the test stops).
        timeout: Option<Duration>,
    },
    /// Hold samples to a pace (`ConstantThroughputTimer`): each pass waits until its slot.
    Pace {
        /// Which pacing point (index into the per-user or per-execution schedules).
        index: usize,
        /// Time between two passes, per user or for the whole execution.
        interval: Duration,
        /// One schedule for all users of the execution instead of one per user.
        shared: bool,
    },
}

impl Step {
    /// The steps inside a block; none for a request or a single step.
    pub fn children(&self) -> &[Step] {
        match self {
            Step::Transaction(t) => &t.steps,
            Step::Loop { steps, .. }
            | Step::Once { steps, .. }
            | Step::RandomOrder(steps)
            | Step::Random(steps)
            | Step::Interleave { steps, .. }
            | Step::If { steps, .. }
            | Step::While { steps, .. } => steps,
            Step::Request(_)
            | Step::Grpc(_)
            | Step::SetVariables(_)
            | Step::Action(_)
            | Step::Think(_)
            | Step::Rendezvous { .. }
            | Step::Pace { .. } => &[],
        }
    }
}

/// What an `action` block does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// Wait `pause-duration`.
    Pause,
    /// Stop after the current request (the user, or the whole test).
    Stop,
    /// Stop at once: with `all-threads`, requests in flight are abandoned.
    StopNow,
    /// Go on with the next iteration.
    Continue,
    /// Start the next pass of the innermost loop (JMeter's "start next iteration of current loop").
    NextLoopPass,
    /// Leave the innermost loop (JMeter's "break current loop").
    BreakLoop,
}

/// An `action` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    pub kind: ActionKind,
    /// `target: all-threads`: stops act on the whole test, not only this user.
    pub all_users: bool,
    /// `pause-duration`.
    pub pause: Duration,
}

/// A `transaction` block.
#[derive(Debug)]
pub struct Transaction {
    /// Label of the transaction's own sample.
    pub label: u32,
    /// Steps inside.
    pub steps: Vec<Step>,
    /// `force-parent-sample`: record only the transaction's sample, not its children.
    pub parent_only: bool,
    /// `include-timers`: count think times in the transaction's time.
    pub include_timers: bool,
}

/// One HTTP request.
#[derive(Debug)]
pub struct RequestPlan {
    /// Index into the plan's label table.
    pub label: u32,
    /// HTTP method (upper case).
    pub method: Value<http::Method>,
    /// Absolute URL.
    pub url: Value<url::Url>,
    /// Headers, scenario-level merged with request-level.
    pub headers: Vec<(HeaderName, Value<HeaderValue>)>,
    /// Body, if any.
    pub body: Option<Body>,
    /// Pause before sending.
    pub think_time: Option<ThinkTime>,
    /// Connect and read timeouts.
    pub timeouts: Timeouts,
    /// Follow 3xx redirects.
    pub follow_redirects: bool,
    /// Checks that can fail the sample.
    pub assertions: Vec<Assertion>,
    /// Values taken from the response into user variables.
    pub extractors: Vec<Extractor>,
    /// The most bytes of the response body that checks see (`max-body-seen`), 0 when none reads
    /// it: the reader keeps that many and only counts the rest, so a large body costs no memory.
    pub body_limit: usize,
    /// Whether a check reads the response headers.
    pub needs_headers: bool,
    /// Whether an extractor reads the final URL.
    pub needs_url: bool,
    /// `stream`: the body is read as a stream of events, each one timed.
    pub stream: Option<Box<StreamPlan>>,
    /// `http-version`: which HTTP versions the request may speak.
    pub http_version: HttpVersion,
}

/// Which HTTP versions a request may speak (`http-version`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HttpVersion {
    /// HTTP/1.1 in cleartext; over TLS, what the server picks in ALPN (`h2` or `http/1.1`).
    #[default]
    Auto,
    /// HTTP/1.1 only (over TLS, ALPN offers only `http/1.1`).
    Http1,
    /// HTTP/2 only: in cleartext with prior knowledge (h2c, RFC 9113 §3.3), over TLS with ALPN
    /// offering only `h2`.
    Http2,
}

impl HttpVersion {
    /// The `http-version` values, in the order help texts list them.
    pub const NAMES: [&'static str; 3] = ["1.1", "2", "auto"];

    /// The version named `name` (as written in `http-version`, a number or a string).
    pub fn parse(name: &str) -> Option<HttpVersion> {
        match name {
            "1.1" => Some(HttpVersion::Http1),
            "2" => Some(HttpVersion::Http2),
            "auto" => Some(HttpVersion::Auto),
            _ => None,
        }
    }
}

/// How a streamed response is cut into events (`stream:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamMode {
    /// Server-sent events: an event ends at a blank line; `data: [DONE]` ends the stream.
    Sse,
    /// Every HTTP/1.1 chunk (every HTTP/2 DATA frame) is an event.
    Chunked,
    /// Every line is an event.
    Ndjson,
}

impl StreamMode {
    /// The `stream:` values, in the order help texts list them.
    pub const NAMES: [&'static str; 3] = ["sse", "chunked", "ndjson"];

    /// The mode named `name` (as written in `stream:`).
    pub fn parse(name: &str) -> Option<StreamMode> {
        match name {
            "sse" => Some(StreamMode::Sse),
            "chunked" => Some(StreamMode::Chunked),
            "ndjson" => Some(StreamMode::Ndjson),
            _ => None,
        }
    }
}

/// A streamed request's events: how to cut them, and where their tokens are.
#[derive(Debug)]
pub struct StreamPlan {
    /// How the body is cut into events.
    pub mode: StreamMode,
    /// `tokens-from`: the JSONPath read in each event's JSON. A non-empty text (or any other
    /// value but a number, `null`, `false` or empty text) makes the event carry one token; a
    /// number is the response's token count so far (`$.usage.completion_tokens`), and the last
    /// one seen wins over counting.
    pub tokens_from: Option<std::sync::Arc<serde_json_path::JsonPath>>,
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn placeholders_are_filled_and_unknown_ones_kept() {
        let t = Template::parse("http://${host}/p/${model}?x=${missing}&y=${ bad}");
        let mut vars = UserVars::new(1);
        vars.vars = HashMap::from([("host".to_string(), "h:1".to_string()), ("model".to_string(), "m".to_string())]);
        let f = Functions::default();
        assert_eq!(t.render(&mut vars, &f).unwrap(), "http://h:1/p/m?x=${missing}&y=${ bad}");
        assert!(!t.is_literal());
        assert_eq!(t.vars().collect::<Vec<_>>(), vec!["host", "model", "missing"]);
        let lit = Template::parse("plain $ text ${");
        assert!(lit.is_literal());
        assert!(matches!(lit.render(&mut vars, &f), Ok(Cow::Borrowed("plain $ text ${"))));
    }
}
