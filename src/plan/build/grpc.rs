//! A request with a `grpc:` block: its schema compiled now (`.proto` files by protox, a
//! protoset, or asked of the server by reflection), the method looked up in it, the body (one
//! message, or a client stream's list) checked against the request message and, when it has no
//! `${name}` placeholders, encoded once.

use std::path::PathBuf;

use miette::Diagnostic as _;
use prost_reflect::{DescriptorPool, Kind, MessageDescriptor, MethodDescriptor};
use serde_json::Value as Json;

use super::scenario::{Defaults, Scope};
use super::Builder;
use crate::config::de::Spanned;
use crate::config::diagnostic::{suggest, suggestion, Diagnostic};
use crate::config::model::{Grpc, Request};
use crate::config::source::Span;
use crate::config::NodeKind;
use crate::plan::grpc::{self, GrpcPlan};
use crate::plan::scenario::HttpVersion;
use crate::plan::scenario::Value;

/// Most channels one call of an execution may open (`connections`).
const MAX_CONNECTIONS: usize = 1024;

impl Builder<'_> {
    pub(super) fn grpc(
        &mut self,
        req: &Request,
        g: &Spanned<Grpc>,
        d: &Defaults,
        scope: &mut Scope,
    ) -> Option<GrpcPlan> {
        for (key, set) in [
            ("method", req.method.as_ref().map(|m| m.span)),
            ("headers", req.headers.as_ref().map(|h| h.span)),
            ("upload-files", req.upload_files.as_ref().map(|u| u.span)),
            ("body-template", req.body_template.as_ref().map(|b| b.span)),
            ("body-file-template", req.body_file_template.as_ref().map(|b| b.span)),
            ("connect-timeout", req.connect_timeout.as_ref().map(|t| t.span)),
            ("read-timeout", req.read_timeout.as_ref().map(|t| t.span)),
            ("keepalive", req.keepalive.as_ref().map(|k| k.span)),
            ("follow-redirects", req.follow_redirects.as_ref().map(|f| f.span)),
            ("max-body-seen", req.max_body_seen.as_ref().map(|m| m.span)),
            ("http-version", req.http_version.as_ref().map(|v| v.span)),
        ] {
            if let Some(span) = set {
                let help = match key {
                    "method" => "name the method in `grpc: {method: package.Service/Method}`",
                    "headers" => "send gRPC metadata with `grpc: {metadata: {key: value}}`",
                    "connect-timeout" | "read-timeout" => "a gRPC call has one deadline: `timeout`",
                    "keepalive" => "a gRPC call's channels stay open; set how many with `grpc: {connections: N}`",
                    "follow-redirects" => "gRPC has no redirects",
                    "max-body-seen" => "checks see each response message whole (up to 16 MiB)",
                    "http-version" => "gRPC always speaks HTTP/2",
                    _ => "write the request message in `body` or `body-file` (protobuf's canonical JSON)",
                };
                self.error_help(span, format!("`{key}` does not apply to a gRPC call"), help);
            }
        }
        let (address, tls) = self.grpc_address(req, d)?;
        let pool = self.grpc_schema(g, &address, tls.then_some(scope.tls_verify))?;
        let method = self.grpc_method(&pool, &g.value.method)?;
        let input = method.input();
        let body = self.grpc_body(req, &input, method.is_client_streaming(), scope)?;
        let metadata: Vec<(String, String)> = match &g.value.metadata {
            Some(m) => m
                .value
                .iter()
                .map(|(k, v)| {
                    self.uses(&v.value, v.span, scope);
                    (k.clone(), v.value.clone())
                })
                .collect(),
            None => Vec::new(),
        };
        let metadata = self.parse_headers(&metadata, g.value.metadata.as_ref().map_or(g.span, |m| m.span));
        let label = self.label(req.label.as_ref().map_or(&g.value.method.value, |l| &l.value));
        let timeout = req.timeout.as_ref().map(|t| t.0).filter(|t| !t.is_zero()).unwrap_or(d.timeouts.read);
        let think_time = match &req.think_time {
            Some(t) => self.think_time(t),
            None => d.think_time,
        };
        let (assertions, extractors) = self.response_checks(req, scope);
        let path = format!("/{}/{}", method.parent_service().full_name(), method.name());
        let Ok(path) = http::uri::PathAndQuery::try_from(path.as_str()) else {
            self.error(g.value.method.span, format!("`{path}` is not a valid gRPC path"));
            return None;
        };
        scope.grpc_calls += 1;
        Some(GrpcPlan {
            label,
            channels: scope.grpc_calls - 1,
            address,
            tls,
            connections: self.grpc_connections(g),
            path,
            input,
            output: method.output(),
            server_streaming: method.is_server_streaming(),
            client_streaming: method.is_client_streaming(),
            metadata,
            body,
            timeout,
            think_time,
            assertions,
            extractors,
        })
    }

    /// `connections`: 1 to [`MAX_CONNECTIONS`] channels (1 when not set).
    fn grpc_connections(&mut self, g: &Spanned<Grpc>) -> usize {
        let Some(c) = &g.value.connections else { return 1 };
        if !(1..=MAX_CONNECTIONS as u64).contains(&c.value.0) {
            self.error(c.span, format!("`connections` is 1 to {MAX_CONNECTIONS}, found {}", c.value.0));
        }
        c.value.0.clamp(1, MAX_CONNECTIONS as u64) as usize
    }

    /// `url: grpc://host:port` or `grpcs://host:port` (or a `default-address` of that form): the
    /// channel's address, and whether it is over TLS.
    fn grpc_address(&mut self, req: &Request, d: &Defaults) -> Option<(http::Uri, bool)> {
        let span = req.url.span;
        let text = req.url.value.trim();
        let text = if text.is_empty() || !text.contains("://") { d.address.as_deref().unwrap_or(text) } else { text };
        let help = "write `url: grpc://host:port` (plaintext HTTP/2) or `grpcs://host:port` (TLS)";
        if text.contains("${") {
            self.error_help(span, format!("the address of a gRPC call must be known before the test: `{text}`"), help);
            return None;
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            self.error_help(span, format!("a gRPC call needs an address, found `{text}`"), help);
            return None;
        };
        let tls = match scheme {
            "grpc" => false,
            "grpcs" => true,
            _ => {
                self.error_help(span, format!("the scheme of a gRPC address is `grpc://`, found `{scheme}://`"), help);
                return None;
            }
        };
        let authority = rest.trim_end_matches('/');
        let scheme = if tls { "https" } else { "http" };
        match http::Uri::try_from(format!("{scheme}://{authority}")) {
            Ok(uri) if uri.port().is_some() && !authority.contains('/') => Some((uri, tls)),
            _ => {
                self.error_help(span, format!("`{text}` is not a gRPC address"), help);
                None
            }
        }
    }

    /// The descriptor pool of `proto` files (compiled here), of a `protoset`, or of the server's
    /// reflection (over TLS when `tls` says whether to verify the certificate).
    fn grpc_schema(&mut self, g: &Spanned<Grpc>, address: &http::Uri, tls: Option<bool>) -> Option<DescriptorPool> {
        let spec = &g.value;
        let sources =
            [spec.proto.is_some(), spec.protoset.is_some(), spec.reflection.as_ref().is_some_and(|r| r.value)];
        let help = "name the schema with one of `proto: file.proto`, `protoset: file.pb` or `reflection: true`";
        match sources.iter().filter(|s| **s).count() {
            0 => {
                self.error_help(g.span, "a gRPC call needs the service's schema", help);
                return None;
            }
            1 => {}
            _ => {
                self.error_help(g.span, "a gRPC call takes one schema source", help);
                return None;
            }
        }
        if let Some(r) = spec.reflection.as_ref().filter(|r| r.value) {
            let help = "give the schema as `proto: file.proto` or `protoset: file.pb`";
            let tls = match tls.map(|verify| crate::tls::config(verify, HttpVersion::Auto)).transpose() {
                Ok(tls) => tls,
                Err(e) => {
                    self.error(r.span, format!("cannot set up TLS for server reflection: {e}"));
                    return None;
                }
            };
            let service = spec.method.value.trim().rsplit_once('/').map_or("", |(s, _)| s.trim_start_matches('/'));
            let authority = address.authority().map_or(String::new(), |a| a.to_string());
            let key = (vec![PathBuf::from(format!("reflection://{authority}/{service}"))], Vec::new());
            if let Some(pool) = self.grpc_schemas.get(&key) {
                return Some(pool.clone());
            }
            return match super::reflection::fetch(address, service, tls) {
                Ok(pool) => {
                    self.grpc_schemas.insert(key, pool.clone());
                    Some(pool)
                }
                Err(e) => {
                    self.error_help(
                        r.span,
                        format!("cannot read the schema of `{service}` from `{authority}`: {e}"),
                        help,
                    );
                    None
                }
            };
        }
        if let Some(set) = &spec.protoset {
            let bytes = self.read_file(&set.value, set.span, "protoset")?;
            return match DescriptorPool::decode(bytes.as_slice()) {
                Ok(pool) => Some(pool),
                Err(e) => {
                    self.error(set.span, format!("`{}` is not a protobuf FileDescriptorSet: {e}", set.value));
                    None
                }
            };
        }
        let protos = spec.proto.as_ref()?;
        let files: Vec<(PathBuf, Span)> =
            protos.value.0.iter().map(|p| (self.resolve_path(&p.value, p.span), p.span)).collect();
        let includes: Vec<PathBuf> = match &spec.import_paths {
            Some(paths) => paths.value.0.iter().map(|p| self.resolve_path(&p.value, p.span)).collect(),
            None => {
                let mut dirs: Vec<PathBuf> = Vec::new();
                for (file, _) in &files {
                    let dir = file.parent().map(PathBuf::from).unwrap_or_default();
                    let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
                    if !dirs.contains(&dir) {
                        dirs.push(dir);
                    }
                }
                dirs
            }
        };
        let key = (files.iter().map(|(f, _)| f.clone()).collect::<Vec<_>>(), includes.clone());
        if let Some(pool) = self.grpc_schemas.get(&key) {
            return Some(pool.clone());
        }
        let mut compiler = match protox::Compiler::new(&includes) {
            Ok(c) => c,
            Err(e) => {
                self.error(protos.span, format!("cannot compile the `.proto` files: {e}"));
                return None;
            }
        };
        compiler.include_imports(true);
        for (file, span) in &files {
            if let Err(e) = compiler.open_file(file) {
                self.proto_failed(&e, &includes, *span);
                return None;
            }
        }
        let pool = compiler.descriptor_pool();
        self.grpc_schemas.insert(key, pool.clone());
        Some(pool)
    }

    /// A `.proto` that does not compile: the error points into the `.proto` itself, with the
    /// YAML value that named it as a second place; where the compiler gives no place, the
    /// message names the file.
    fn proto_failed(&mut self, e: &protox::Error, includes: &[PathBuf], named_at: Span) {
        let help = "the `.proto` is compiled by protox (no `protoc`); imports are looked up under `import-paths`";
        let file = e.file().and_then(|f| includes.iter().map(|dir| dir.join(f)).find(|p| p.is_file()));
        let at = e.labels().and_then(|mut labels| labels.next()).map(|l| (l.inner().offset(), l.inner().len()));
        if let Some(span) = file.zip(at).and_then(|(path, (offset, len))| self.late_source(&path, offset, len)) {
            let message = format!("the `.proto` does not compile: {e}");
            let diagnostic = Diagnostic::error(span, message).with_label(named_at, "compiled for this gRPC call");
            self.diags.push(diagnostic.with_help(help));
            return;
        }
        self.error_help(named_at, format!("the `.proto` does not compile: {}", proto_error(e, includes)), help);
    }

    /// `package.Service/Method` in the pool, with a did-you-mean for a name that is not there.
    fn grpc_method(&mut self, pool: &DescriptorPool, name: &Spanned<String>) -> Option<MethodDescriptor> {
        let text = name.value.trim();
        let Some((service_name, method_name)) = text.rsplit_once('/') else {
            self.error_help(
                name.span,
                format!("`{text}` is not a gRPC method"),
                "write `package.Service/Method`, e.g. `inference.GRPCInferenceService/ModelInfer`",
            );
            return None;
        };
        let service_name = service_name.trim_start_matches('/');
        let Some(service) = pool.get_service_by_name(service_name) else {
            let services: Vec<String> = pool.services().map(|s| s.full_name().to_string()).collect();
            let help = suggestion(service_name, &services).unwrap_or_else(|| match services.as_slice() {
                [] => "the schema defines no service".to_string(),
                _ => format!("the schema's services: {}", services.join(", ")),
            });
            self.error_help(name.span, format!("unknown gRPC service `{service_name}`"), help);
            return None;
        };
        if let Some(m) = service.methods().find(|m| m.name() == method_name) {
            return Some(m);
        }
        let methods: Vec<String> = service.methods().map(|m| m.name().to_string()).collect();
        let help = suggest(method_name, &methods)
            .map(|s| format!("did you mean `{service_name}/{s}`?"))
            .unwrap_or_else(|| format!("`{service_name}` has: {}", methods.join(", ")));
        self.error_help(name.span, format!("`{service_name}` has no method `{method_name}`"), help);
        None
    }

    /// The request messages: `body` (a mapping, or JSON text) or `body-file`, protobuf's
    /// canonical JSON, one message or (for a client stream) a list of them; each encoded now
    /// unless it has placeholders.
    fn grpc_body(
        &mut self,
        req: &Request,
        input: &MessageDescriptor,
        stream: bool,
        scope: &mut Scope,
    ) -> Option<Vec<Value<bytes::Bytes>>> {
        let (text, span) = if let Some(b) = &req.body {
            let text = match &b.value.kind {
                NodeKind::Str(s) => s.clone(),
                NodeKind::Null => "{}".to_string(),
                _ => super::body::to_json(&b.value),
            };
            (text, b.span)
        } else if let Some(f) = &req.body_file {
            let bytes = self.read_file(&f.value, f.span, "body-file")?;
            match String::from_utf8(bytes) {
                Ok(text) => (text, f.span),
                Err(_) => {
                    self.error(f.span, format!("`{}` is not UTF-8 text: a gRPC body is canonical JSON", f.value));
                    return None;
                }
            }
        } else {
            ("{}".to_string(), req.url.span)
        };
        self.uses(&text, span, scope);
        let node = req.body.as_ref().map(|b| &b.value);
        if !stream {
            return Some(vec![self.grpc_message(&text, input, span, node, Vec::new())?]);
        }
        let Ok(Json::Array(items)) = serde_json::from_str::<Json>(&text) else {
            self.error_help(
                span,
                format!("`{}` takes a stream of messages: the body must be a list of them", input.full_name()),
                "write `body: [{...}, {...}]`, one message per item, sent in order",
            );
            return None;
        };
        let mut messages = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            messages.push(self.grpc_message(&item.to_string(), input, span, node, vec![Seg::Index(i)])?);
        }
        Some(messages)
    }

    /// One request message from canonical JSON `text` (at `prefix` in the YAML `node`, when the
    /// body was written as YAML): encoded now, or kept as a template when it has placeholders
    /// (its field names are checked now all the same).
    fn grpc_message(
        &mut self,
        text: &str,
        input: &MessageDescriptor,
        span: Span,
        node: Option<&crate::config::Node>,
        prefix: Vec<Seg>,
    ) -> Option<Value<bytes::Bytes>> {
        let (found, error) = match grpc::body(text, input) {
            Ok(Value::Template(t)) => match names_at_fault(&t, input) {
                Some(found) => (Some(found), String::new()),
                None => return Some(Value::Template(t)),
            },
            Ok(body) => return Some(body),
            Err(e) => match serde_json::from_str::<Json>(text) {
                Ok(json) => (locate(input, &json, &mut Vec::new(), false), e),
                Err(_) => {
                    let help = "write the message in protobuf's canonical JSON";
                    self.error_help(span, format!("the body is not JSON: {e}"), help);
                    return None;
                }
            },
        };
        let name = input.full_name();
        let Some((path, why, help)) = found else {
            let help =
                "write the message in protobuf's canonical JSON (field names in lowerCamelCase or as in the `.proto`)";
            self.error_help(span, format!("the body does not fit `{name}`: {error}"), help);
            return None;
        };
        let path: Vec<Seg> = prefix.into_iter().chain(path).collect();
        // A body written as YAML: point at the key at fault.
        let span = node.and_then(|n| yaml_span(n, &path)).unwrap_or(span);
        let at = path_text(&path);
        let at = if at.is_empty() { "the body".to_string() } else { format!("`{at}`") };
        let message = format!("the body does not fit `{name}`: {at} {why}");
        match help {
            Some(help) => self.error_help(span, message, help),
            None => self.error(span, message),
        }
        None
    }
}

/// A field name in a body with placeholders that the message does not have: the placeholders
/// are filled per call, so the body is read with each one `0`, and only names are judged.
fn names_at_fault(t: &crate::plan::Template, input: &MessageDescriptor) -> Option<Found> {
    let mut vars = crate::plan::scenario::UserVars::new(1);
    for name in t.vars() {
        vars.vars.insert(name.to_string(), "0".to_string());
    }
    let probe = t.render(&mut vars, &Default::default()).ok()?;
    let json = serde_json::from_str::<Json>(&probe).ok()?;
    locate(input, &json, &mut Vec::new(), true)
}

/// One step of a field path: a field name or a list index.
enum Seg {
    Field(String),
    Index(usize),
}

/// `inputs[0].datatype`.
fn path_text(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Field(name) if out.is_empty() => out.push_str(name),
            Seg::Field(name) => {
                out.push('.');
                out.push_str(name);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Where the value at `path` was written in a YAML body: its key, or its list item.
fn yaml_span(node: &crate::config::Node, path: &[Seg]) -> Option<Span> {
    let (first, rest) = path.split_first()?;
    let (span, inner) = match (first, &node.kind) {
        (Seg::Field(name), NodeKind::Map(m)) => {
            let (key_span, value) = m.get(name)?;
            (*key_span, value)
        }
        (Seg::Index(i), NodeKind::Seq(items)) => {
            let item = items.get(*i)?;
            (item.span, item)
        }
        _ => return None,
    };
    Some(if rest.is_empty() { span } else { yaml_span(inner, rest).unwrap_or(span) })
}

/// Where a body stops fitting its message: the field path, why, and a did-you-mean.
type Found = (Vec<Seg>, String, Option<String>);

/// Where in `json` the message `desc` stops fitting (from `path` on); with `names_only`, only
/// field names are judged, not values.
fn locate(desc: &MessageDescriptor, json: &Json, path: &mut Vec<Seg>, names_only: bool) -> Option<Found> {
    let Json::Object(map) = json else {
        return Some((std::mem::take(path), format!("must be an object (a `{}`)", desc.full_name()), None));
    };
    for (key, value) in map {
        path.push(Seg::Field(key.clone()));
        let Some(field) = desc.get_field_by_json_name(key).or_else(|| desc.get_field_by_name(key)) else {
            let names: Vec<String> = desc.fields().map(|f| f.json_name().to_string()).collect();
            let help = suggestion(key, &names)
                .or_else(|| (!names.is_empty()).then(|| format!("`{}` has: {}", desc.full_name(), names.join(", "))));
            return Some((std::mem::take(path), format!("is not a field of `{}`", desc.full_name()), help));
        };
        // A field of a message type (not a well-known type, whose JSON form is special): look inside.
        if let Kind::Message(inner) = field.kind() {
            if !inner.full_name().starts_with("google.protobuf.") && !field.is_map() {
                match (value, field.is_list()) {
                    (Json::Array(items), true) => {
                        for (i, item) in items.iter().enumerate() {
                            path.push(Seg::Index(i));
                            if let Some(found) = locate(&inner, item, path, names_only) {
                                return Some(found);
                            }
                            path.pop();
                        }
                        path.pop();
                        continue;
                    }
                    (Json::Null, _) => {
                        path.pop();
                        continue;
                    }
                    (_, false) => {
                        if let Some(found) = locate(&inner, value, path, names_only) {
                            return Some(found);
                        }
                        path.pop();
                        continue;
                    }
                    _ => {}
                }
            }
        }
        if names_only {
            path.pop();
            continue;
        }
        let alone = Json::Object([(key.clone(), value.clone())].into_iter().collect());
        if let Err(e) = grpc::encode(desc, &alone.to_string()) {
            // serde_json's position is in the one-field object tried here, not in the body.
            let e = e.split(" at line ").next().unwrap_or(&e).to_string();
            return Some((std::mem::take(path), format!("does not fit: {e}"), None));
        }
        path.pop();
    }
    None
}

/// A protox error as `file:line:col: message`, the line and column from the compiler's label.
fn proto_error(e: &protox::Error, includes: &[PathBuf]) -> String {
    let message = e.to_string();
    let file = e.file().map(|f| {
        includes.iter().map(|dir| dir.join(f)).find(|p| p.exists()).map_or(f.to_string(), |p| p.display().to_string())
    });
    let at = e.labels().and_then(|mut labels| labels.next()).and_then(|label| {
        let source = e.source_code()?;
        let contents = source.read_span(label.inner(), 0, 0).ok()?;
        Some((contents.line() + 1, contents.column() + 1))
    });
    match (file, at) {
        (Some(file), Some((line, col))) => format!("{file}:{line}:{col}: {message}"),
        (Some(file), None) => format!("{file}: {message}"),
        _ => message,
    }
}
