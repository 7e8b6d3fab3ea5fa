//! `HTTPSamplerProxy` to a request, as JMeter's HTTP sampler sends it: empty fields taken from
//! the nearest HTTP Request Defaults in scope, the arguments in the query (GET and the like), a
//! form body (POST, PUT, PATCH), the raw body (`postBodyRaw`) or multipart parts with the files
//! (`DO_MULTIPART_POST`, or files with a parameter name), headers merged from the header
//! managers in scope (inner ones win), no timeout unless one is set (JMeter's default).

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue};

use super::steps::{Group, Scope};
use super::Lower;
use crate::plan::build::body::{guess_mime, quote_field, Multipart, BOUNDARY};
use crate::plan::build::limits::DEFAULT_BODY_SEEN;
use crate::plan::checks::Subject;
use crate::plan::jmx::model::{Argument, Http};
use crate::plan::jmx::template::{self as jt, Function, Segment};
use crate::plan::jmx::{Node, Text};
use crate::plan::scenario::{Body, Chunk, RequestPlan, Step, Template, Timeouts, Value};

/// JMeter sets no connect or response timeout unless told: a day stands for "none" (the test's
/// own end still abandons a request in flight).
const NO_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A JMeter template being put together from pieces of several fields.
#[derive(Default)]
struct Concat(Vec<Segment>);

impl Concat {
    fn lit(&mut self, s: &str) {
        if !s.is_empty() {
            self.0.push(Segment::Literal(s.to_string()));
        }
    }

    fn push(&mut self, t: &jt::Template) {
        self.0.extend(t.segments.iter().cloned());
    }

    /// `t` URL-encoded when sent (`HTTPArgument.always_encode`).
    fn encoded(&mut self, t: &jt::Template) {
        match t.as_literal() {
            Some(text) => self.lit(&crate::plan::jmx::eval::url_encode(&text)),
            None => self.0.push(Segment::Call { function: Function::UrlEncode, args: vec![t.clone()], at: 0..0 }),
        }
    }

    fn template(self) -> jt::Template {
        jt::Template { segments: self.0 }
    }
}

impl Lower<'_, '_> {
    /// One sampler: its timers, then the request.
    pub(super) fn sampler(&mut self, n: &Node, http: &Http, outer: &Scope<'_>, group: &mut Group, out: &mut Vec<Step>) {
        let scope = outer.with(&n.children);
        self.timers(&scope, group, out);
        if http.embedded_resources {
            self.warn(n.meta.span, "embedded resources of HTML pages are not downloaded by suite");
        }
        let pick = |f: fn(&Http) -> &Text| -> Text {
            let own = f(http);
            if !own.is_empty() {
                return own.clone();
            }
            scope.defaults.iter().rev().map(|d| f(d)).find(|t| !t.is_empty()).unwrap_or(own).clone()
        };
        let (protocol, domain, port, path) =
            (pick(|h| &h.protocol), pick(|h| &h.domain), pick(|h| &h.port), pick(|h| &h.path));
        let (connect, response) = (pick(|h| &h.connect_timeout), pick(|h| &h.response_timeout));
        for t in [&protocol, &domain, &port, &path, &http.method] {
            self.check(t);
        }
        let errors_before = self.b.diags.len();

        let method_text = self.start_value(&http.method);
        let method_text =
            if method_text.trim().is_empty() { "GET".to_string() } else { method_text.trim().to_ascii_uppercase() };
        let with_body = matches!(method_text.as_str(), "POST" | "PUT" | "PATCH");

        // The URL: a full URL in the path, else protocol://domain[:port]/path.
        let mut url = Concat::default();
        let lower_path = path.value.trim_start().to_ascii_lowercase();
        if lower_path.starts_with("http://") || lower_path.starts_with("https://") {
            url.push(&path.template);
        } else {
            if domain.is_empty() {
                self.error_help(
                    n.meta.span,
                    format!("HTTP sampler \"{}\" has no server name", n.meta.name.value),
                    "set `Server Name or IP` on the sampler or in an `HTTP Request Defaults` element in scope",
                );
                return;
            }
            let port_value = self.start_value(&port);
            if protocol.is_empty() {
                url.lit(if port_value.trim() == "443" { "https" } else { "http" });
            } else {
                url.push(&protocol.template);
            }
            url.lit("://");
            url.push(&domain.template);
            if !port.is_empty() {
                url.lit(":");
                url.push(&port.template);
            }
            if !path.value.starts_with('/') {
                url.lit("/");
            }
            url.push(&path.template);
        }

        // Arguments: the sampler's, then those of the defaults in scope.
        let mut args: Vec<&Argument> = http.arguments.iter().collect();
        for d in scope.defaults.iter().rev() {
            args.extend(d.arguments.iter());
        }
        let args: Vec<&Argument> = args.into_iter().filter(|a| !(a.name.is_empty() && a.value.is_empty())).collect();
        for a in &args {
            self.check(&a.name);
            self.check(&a.value);
        }
        let multipart = with_body && (http.multipart || http.files.iter().any(|f| !f.param.is_empty()));
        let mut headers: Vec<(String, Text)> = Vec::new();
        let mut content_type = None;
        let mut body = None;
        if http.body_raw {
            // The raw body is the arguments' values, as written.
            let mut c = Concat::default();
            for a in &args {
                c.push(&a.value.template);
            }
            body = self.body_of(c.template());
        } else if multipart {
            body = self.multipart(http, &args);
            content_type = Some(format!("multipart/form-data; boundary={BOUNDARY}"));
        } else if !http.files.is_empty() && with_body {
            // One file and no parameter name: the file is the body.
            let f = &http.files[0];
            let Some((bytes, mime)) = self.upload(f.path.clone(), &f.mime_type) else { return };
            body = Some(Body::Fixed(bytes));
            content_type = Some(mime);
        } else if !args.is_empty() {
            let mut c = Concat::default();
            for (i, a) in args.iter().enumerate() {
                if i > 0 {
                    c.lit("&");
                }
                self.argument(a, &mut c);
            }
            if with_body {
                body = self.body_of(c.template());
                content_type = Some("application/x-www-form-urlencoded".to_string());
            } else {
                url.lit(if path.value.contains('?') { "&" } else { "?" });
                url.0.extend(c.0);
            }
        }

        // Headers: outer managers first, an inner one replaces a header of the same name.
        let taurus: Vec<(Text, Text)> =
            self.taurus_headers.iter().map(|(k, v)| (literal_text(k, n), literal_text(v, n))).collect();
        for (name, value) in taurus.iter().chain(scope.headers.iter().flat_map(|h| h.iter())) {
            let name_text = self.start_value(name);
            if name_text.trim().is_empty() {
                continue;
            }
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name_text.trim()));
            headers.push((name_text.trim().to_string(), value.clone()));
        }
        if let Some(ct) = content_type {
            if multipart || !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
                headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
                headers.push(("Content-Type".to_string(), literal_text(&ct, n)));
            }
        }
        let mut parsed_headers = Vec::with_capacity(headers.len());
        for (name, value) in &headers {
            let Ok(header_name) = HeaderName::from_bytes(name.as_bytes()) else {
                self.error(value.span, format!("`{name}` is not a valid HTTP header name"));
                continue;
            };
            let t = self.template(value);
            let v = if t.is_literal() {
                let text = render_literal(&t);
                match HeaderValue::from_str(&text) {
                    Ok(v) => Value::Fixed(v),
                    Err(_) => {
                        self.error(value.span, format!("header `{name}: {text}` is not a valid HTTP header value"));
                        continue;
                    }
                }
            } else {
                Value::Template(t)
            };
            parsed_headers.push((header_name, v));
        }

        let method = if !super::text::is_constant(&http.method.template) {
            Value::Template(self.template(&http.method))
        } else {
            match http::Method::from_bytes(method_text.as_bytes()) {
                Ok(m) => Value::Fixed(m),
                Err(_) => {
                    self.error(http.method.span, format!("`{method_text}` is not an HTTP method"));
                    return;
                }
            }
        };
        let url = match self.fold(&url.template()) {
            Ok(t) if t.is_literal() => {
                let text = render_literal(&t);
                match url::Url::parse(&text) {
                    Ok(u) if matches!(u.scheme(), "http" | "https") => Value::Fixed(u),
                    Ok(u) => {
                        self.error(
                            n.meta.span,
                            format!(
                                "the scheme `{}` of `{text}` is not supported: suite sends HTTP and HTTPS only",
                                u.scheme()
                            ),
                        );
                        return;
                    }
                    Err(e) => {
                        self.error(
                            n.meta.span,
                            format!(
                                "sampler \"{}\" sends to `{text}`, which is not a valid URL: {e}",
                                n.meta.name.value
                            ),
                        );
                        return;
                    }
                }
            }
            Ok(t) => Value::Template(t),
            Err(_) => return,
        };
        let ms = |lower: &mut Self, t: &Text, what: &str| {
            lower
                .start_int(t, what, &n.meta)
                .filter(|v| *v > 0)
                .map_or(NO_TIMEOUT, |v| Duration::from_millis(v.unsigned_abs()))
        };
        let timeouts = Timeouts {
            connect: ms(self, &connect, "`HTTPSampler.connect_timeout`"),
            read: ms(self, &response, "`HTTPSampler.response_timeout`"),
        };
        let (assertions, extractors) = self.checks(&scope);
        let reads = |s: Subject| crate::plan::checks::reads(&assertions, &extractors, s);
        let (reads_body, needs_headers, needs_url) =
            (reads(Subject::Body), reads(Subject::Headers), reads(Subject::Url));
        if self.b.diags.len() > errors_before {
            return;
        }
        group.keepalive |= http.keep_alive;
        let name = self.start_value(&n.meta.name);
        let label = self.b.label(&name);
        out.push(Step::Request(Box::new(RequestPlan {
            label,
            method,
            url,
            headers: parsed_headers,
            body,
            think_time: None,
            timeouts,
            follow_redirects: http.follow_redirects || http.auto_redirects,
            assertions,
            extractors,
            body_limit: if reads_body { DEFAULT_BODY_SEEN } else { 0 },
            needs_headers,
            needs_url,
            stream: None,
            http_version: Default::default(),
        })));
    }

    /// `name=value`, each part URL-encoded when the argument says so.
    fn argument(&mut self, a: &Argument, c: &mut Concat) {
        if a.always_encode {
            c.encoded(&a.name.template);
        } else {
            c.push(&a.name.template);
        }
        if a.use_equals || !a.value.is_empty() {
            c.lit("=");
            if a.always_encode {
                c.encoded(&a.value.template);
            } else {
                c.push(&a.value.template);
            }
        }
    }

    /// A text body: fixed bytes unless something in it changes per request.
    fn body_of(&mut self, t: jt::Template) -> Option<Body> {
        let t = self.fold(&t).ok()?;
        Some(if t.is_literal() { Body::Fixed(Bytes::from(render_literal(&t))) } else { Body::Template(t) })
    }

    /// The multipart body: the arguments as form fields, then the files.
    fn multipart(&mut self, http: &Http, args: &[&Argument]) -> Option<Body> {
        let mut body = Multipart::default();
        for a in args {
            let name = self.start_value(&a.name);
            let mut disposition = format!("form-data; name=\"{}\"", quote_field(&name));
            if let Some(ct) = &a.content_type {
                let ct = self.start_value(ct);
                if !ct.is_empty() {
                    disposition.push_str(&format!("\r\nContent-Type: {ct}"));
                }
            }
            let value = self.fold(&a.value.template).ok()?;
            body.part(&disposition, Chunk::Template(value));
        }
        for f in &http.files {
            let param = self.start_value(&f.param);
            let Some((bytes, mime)) = self.upload(f.path.clone(), &f.mime_type) else { continue };
            let file = self.start_value(&f.path);
            let file_name = Path::new(&file).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let headers = format!(
                "form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {mime}",
                quote_field(&param),
                quote_field(&file_name)
            );
            body.part(&headers, Chunk::Fixed(bytes));
        }
        Some(body.finish())
    }

    /// An upload file's bytes and MIME type, read now (relative paths: beside the plan, then
    /// from the current folder, as JMeter resolves them).
    fn upload(&mut self, path: Text, mime: &Text) -> Option<(Bytes, String)> {
        // A property that is not set was reported already.
        let file = self.try_start_value(&path)?;
        if file.contains("${") {
            self.error(path.span, format!("upload file `{file}` uses a variable: the file is read before the test"));
            return None;
        }
        if file.trim().is_empty() {
            let why = if path.value.is_empty() {
                "an upload file has no path".to_string()
            } else {
                format!("the upload file path `{}` is empty: set the property it reads", path.value)
            };
            self.error(path.span, why);
            return None;
        }
        let bytes = self.b.read_file(&file, path.span, "upload file")?;
        let mime = self.start_value(mime);
        let mime = if mime.trim().is_empty() { guess_mime(&file).to_string() } else { mime };
        Some((Bytes::from(bytes), mime))
    }
}

/// A text as a literal JMeter string (headers Taurus adds, content types).
fn literal_text(value: &str, n: &Node) -> Text {
    Text {
        value: value.to_string(),
        span: n.meta.span,
        template: jt::Template { segments: vec![Segment::Literal(value.to_string())] },
    }
}

/// The text of a template with no placeholders.
fn render_literal(t: &Template) -> String {
    let mut vars = crate::plan::scenario::UserVars::new(1);
    t.render(&mut vars, &crate::plan::scenario::Functions::default()).map(|c| c.into_owned()).unwrap_or_default()
}
