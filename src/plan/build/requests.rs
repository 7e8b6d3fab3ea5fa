//! One HTTP request: URL, method, headers, think time, timeouts and response checks (bodies are
//! in `body.rs`).

use http::{HeaderName, HeaderValue};

use super::scenario::{Defaults, Scope};
use super::Builder;
use crate::config::de::Spanned;
use crate::config::diagnostic::{did_you_mean_or, list_or, suggestion};
use crate::config::model::Request;
use crate::config::source::Span;
use crate::config::{Node, NodeKind};
use crate::plan::checks::{Assertion, Extractor, Subject};
use crate::plan::scenario::{HttpVersion, RequestPlan, Step, StreamMode, StreamPlan, Template, Value};

impl Builder<'_> {
    pub(super) fn request(&mut self, node: &Node, d: &Defaults, scope: &mut Scope) -> Option<Step> {
        let req = self.request_model(node)?;
        if let Some(grpc) = &req.grpc {
            return self.grpc(&req, grpc, d, scope).map(|g| Step::Grpc(Box::new(g)));
        }
        let url_text = req.url.value.trim().to_string();
        let url = self.url(&url_text, req.url.span, d, scope)?;
        let label = self.label(req.label.as_ref().map_or(&url_text, |l| &l.value));
        let method = self.method(&req, scope)?;
        // Request headers override scenario headers, names compared without case.
        let mut headers: Vec<(String, String)> = d.headers.clone();
        if let Some(h) = &req.headers {
            for (k, v) in &h.value {
                self.uses(&v.value, v.span, scope);
                headers.retain(|(name, _)| !name.eq_ignore_ascii_case(k));
                headers.push((k.clone(), v.value.clone()));
            }
        }
        let body = self.body(&req, &mut headers, scope)?;
        if !d.keepalive || req.keepalive.as_ref().is_some_and(|k| !k.value) {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case("connection"));
            headers.push(("Connection".to_string(), "close".to_string()));
        }
        let headers = self.parse_headers(&headers, req.headers.as_ref().map_or(node.span, |h| h.span));
        let think_time = match &req.think_time {
            Some(t) => self.think_time(t),
            None => d.think_time,
        };
        let timeouts = self.timeouts(&req.timeout, &req.connect_timeout, &req.read_timeout, d.timeouts);
        let (assertions, extractors) = self.response_checks(&req, scope);
        let reads = |s: Subject| crate::plan::checks::reads(&assertions, &extractors, s);
        let (needs_body, needs_headers, needs_url) =
            (reads(Subject::Body), reads(Subject::Headers), reads(Subject::Url));
        let seen = self.body_seen(&req.max_body_seen, d.body_seen);
        let body_limit = if needs_body { seen } else { 0 };
        let stream = self.stream(&req);
        let http_version = req.http_version.as_ref().and_then(|v| self.http_version(v)).unwrap_or(d.http_version);
        Some(Step::Request(Box::new(RequestPlan {
            label,
            method,
            url,
            headers,
            body,
            think_time,
            timeouts,
            follow_redirects: req.follow_redirects.as_ref().map_or(d.follow_redirects, |f| f.value),
            assertions,
            extractors,
            body_limit,
            needs_headers,
            needs_url,
            stream,
            http_version,
        })))
    }

    /// `http-version`: `1.1`, `2` or `auto`, written as a number or a string.
    pub(super) fn http_version(&mut self, node: &Spanned<Node>) -> Option<HttpVersion> {
        // `true` has scalar text too, but no version is a boolean.
        let text = node.value.scalar_text().filter(|_| !matches!(node.value.kind, NodeKind::Bool(_)));
        if let Some(version) = text.as_deref().map(str::trim).and_then(HttpVersion::parse) {
            return Some(version);
        }
        let names = list_or(&HttpVersion::NAMES);
        let (found, help) = match text.as_deref().map(str::trim) {
            // A number is a version suite does not speak, never a typo of one.
            Some(t) if t.parse::<f64>().is_ok() => {
                (format!("`{t}`"), format!("suite speaks HTTP/1.1 and HTTP/2: write {names}"))
            }
            Some(t) => (format!("`{t}`"), did_you_mean_or(t, &HttpVersion::NAMES, || format!("write {names}"))),
            None => (node.value.describe().to_string(), format!("write {names}")),
        };
        self.error_help(node.span, format!("`http-version` is {names}, not {found}"), help);
        None
    }

    /// `stream` and `tokens-from`: how the response's events are cut and where their tokens are.
    fn stream(&mut self, req: &Request) -> Option<Box<StreamPlan>> {
        let tokens_from =
            req.tokens_from.as_ref().and_then(|t| self.jsonpath(&t.value, t.span)).map(std::sync::Arc::new);
        let Some(mode) = &req.stream else {
            if let Some(t) = &req.tokens_from {
                self.error_help(
                    t.span,
                    "`tokens-from` reads streamed events",
                    "add `stream: sse` (or `ndjson`, `chunked`)",
                );
            }
            return None;
        };
        let Some(parsed) = StreamMode::parse(mode.value.trim()) else {
            let help = suggestion(mode.value.trim(), StreamMode::NAMES)
                .unwrap_or_else(|| format!("write {}", list_or(&StreamMode::NAMES)));
            self.error_help(
                mode.span,
                format!("`stream` is {}, not `{}`", list_or(&StreamMode::NAMES), mode.value),
                help,
            );
            return None;
        };
        Some(Box::new(StreamPlan { mode: parsed, tokens_from }))
    }

    /// A request item: a URL, or a mapping with `url`; JMeter-only keys are named in an error.
    fn request_model(&mut self, node: &Node) -> Option<Request> {
        let req: Request = match &node.kind {
            NodeKind::Str(url) => {
                Request { url: Spanned { value: url.clone(), span: node.span }, ..Default::default() }
            }
            NodeKind::Map(_) => self.read::<Request>(node)?,
            _ => {
                self.error(
                    node.span,
                    format!("a request must be a URL or a mapping with `url`, found {}", node.describe()),
                );
                return None;
            }
        };
        for (key, value, help) in [
            ("assert-xpath", &req.assert_xpath, "suite has no XML parser; assert on the body with a regex in `assert`"),
            ("extract-xpath", &req.extract_xpath, "use `extract-regexp` or `extract-boundary`"),
            ("extract-css-jquery", &req.extract_css_jquery, "use `extract-regexp` or `extract-boundary`"),
            ("jsr223", &req.jsr223, "JSR223 scripts run inside JMeter; use extractors and `set-variables`"),
            ("content-encoding", &req.content_encoding, "send the body already encoded"),
        ] {
            if let Some(v) = value {
                self.unsupported(v.span, &format!("request `{key}`"), help);
            }
        }
        Some(req)
    }

    /// The URL: absolute, or a path under `default-address`; checked now unless it has placeholders.
    fn url(&mut self, text: &str, span: Span, d: &Defaults, scope: &mut Scope) -> Option<Value<url::Url>> {
        self.uses(text, span, scope);
        let url = if let Some(scheme) = scheme(text) {
            if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
                self.error_help(
                    span,
                    format!("the scheme `{scheme}` of `{text}` is not supported: suite sends HTTP and HTTPS only"),
                    "write an `http://` or `https://` URL",
                );
                return None;
            }
            text.to_string()
        } else if text.starts_with("${") {
            text.to_string()
        } else if let Some(base) = &d.address {
            format!("{base}/{}", text.trim_start_matches('/'))
        } else {
            self.error_help(
                span,
                format!("`{text}` is not an absolute URL and the scenario has no `default-address`"),
                "write `http://host:port/path`, or set `default-address: http://host:port` in the scenario",
            );
            return None;
        };
        let template = Template::parse(&url);
        if !template.is_literal() {
            return Some(Value::Template(template));
        }
        match url::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Some(Value::Fixed(u)),
            Ok(u) => {
                let scheme = u.scheme();
                self.error(
                    span,
                    format!("the scheme `{scheme}` of `{url}` is not supported: suite sends HTTP and HTTPS only"),
                );
                None
            }
            Err(e) => {
                self.error(span, format!("`{url}` is not a valid URL: {e}"));
                None
            }
        }
    }

    /// The method (GET by default); checked now unless it has placeholders.
    fn method(&mut self, req: &Request, scope: &mut Scope) -> Option<Value<http::Method>> {
        let Some(m) = &req.method else { return Some(Value::Fixed(http::Method::GET)) };
        if m.value.contains("${") {
            self.uses(&m.value, m.span, scope);
            return Some(Value::Template(Template::parse(&m.value)));
        }
        match http::Method::from_bytes(m.value.to_ascii_uppercase().as_bytes()) {
            Ok(method) => Some(Value::Fixed(method)),
            Err(_) => {
                self.error(m.span, format!("`{}` is not an HTTP method", m.value));
                None
            }
        }
    }

    /// Header names and values, checked now unless a value has placeholders; errors point at `span`.
    pub(super) fn parse_headers(
        &mut self,
        headers: &[(String, String)],
        span: Span,
    ) -> Vec<(HeaderName, Value<HeaderValue>)> {
        let mut parsed = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            let Ok(header_name) = HeaderName::from_bytes(name.as_bytes()) else {
                self.error(span, format!("`{name}` is not a valid HTTP header name"));
                continue;
            };
            let t = Template::parse(value);
            let v = if t.is_literal() {
                match HeaderValue::from_str(value) {
                    Ok(v) => Value::Fixed(v),
                    Err(_) => {
                        self.error(span, format!("header `{name}: {value}` is not a valid HTTP header value"));
                        continue;
                    }
                }
            } else {
                Value::Template(t)
            };
            parsed.push((header_name, v));
        }
        parsed
    }

    /// The request's assertions and extractors.
    pub(super) fn response_checks(&mut self, req: &Request, scope: &mut Scope) -> (Vec<Assertion>, Vec<Extractor>) {
        let mut assertions = Vec::new();
        if let Some(a) = &req.assert {
            self.assertions(a, scope, &mut assertions);
        }
        if let Some(a) = &req.assert_jsonpath {
            self.jsonpath_assertions(a, &mut assertions);
        }
        let mut extractors = Vec::new();
        for (kind, node) in [
            ("extract-regexp", &req.extract_regexp),
            ("extract-jsonpath", &req.extract_jsonpath),
            ("extract-boundary", &req.extract_boundary),
        ] {
            if let Some(n) = node {
                self.extractors(kind, n, scope, &mut extractors);
            }
        }
        (assertions, extractors)
    }
}

/// The scheme of an absolute URL (`ftp` in `ftp://host/`): letters, digits, `+`, `-` and `.`
/// after a letter, then `://`. A path under `default-address` has none.
fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once("://")?;
    let mut chars = scheme.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}
