//! One HTTP sampler as a Taurus request: URL from its fields over the HTTP Request Defaults in
//! scope, method, headers, body (raw, form, multipart with `upload-files`, or a file), and what
//! applies to it (think time, timeouts, checks).

use crate::plan::jmx::eval::url_encode_around_placeholders;

use indexmap::IndexMap;

use super::steps::Scope;
use super::tree::{Map, Seq};
use super::{put_timeouts, who, Comments, Converter, Scenario};
use crate::plan::jmx::model::*;

/// Methods whose parameters JMeter sends as the body (the others put them in the query).
fn sends_body(method: &str) -> bool {
    matches!(method.to_ascii_uppercase().as_str(), "POST" | "PUT" | "PATCH")
}

impl<'a> Converter<'a> {
    pub(super) fn request(
        &mut self,
        node: &'a Node,
        h: &Http,
        scope: &Scope<'a>,
        sc: &Scenario<'a>,
    ) -> (Comments, Map) {
        let mut comments = Comments::new();
        let mut m = Map::default();
        let label = self.resolved(&node.meta.name, &mut comments);
        if !label.is_empty() {
            m.put("label", label);
        }
        let defaults = scope.defaults();
        let method = self.text(&h.method, &mut comments).trim().to_string();
        let method = match method.as_str() {
            "" => "GET".to_string(),
            m if m.contains("${") => m.to_string(),
            m => m.to_ascii_uppercase(),
        };
        let body_method = h.body_raw || sends_body(&method);

        let mut url = self.url(node, h, &defaults, sc, &mut comments);
        if !body_method && !h.arguments.is_empty() {
            let query = self.form(&h.arguments, &mut comments);
            if !query.is_empty() {
                url.push(if url.contains('?') { '&' } else { '?' });
                url.push_str(&query);
            }
        }
        m.put("url", url);
        m.put("method", method.as_str());

        let mut headers = self.headers(scope.inner(), &mut comments);
        let content_type = {
            let all = self.headers(&scope.nodes, &mut Comments::new());
            all.0.iter().find(|e| e.key.eq_ignore_ascii_case("content-type")).map(|e| match &e.value {
                super::tree::Value::Str(s) => s.to_ascii_lowercase(),
                _ => String::new(),
            })
        };
        let body = self.body(node, h, &method, body_method, content_type.as_deref(), &mut headers, &mut comments);
        if !headers.is_empty() {
            m.put("headers", headers);
        }
        for e in body.0 {
            m.put_noted(e.comments, &e.key, e.value);
        }

        // Timers: a request's own `think-time` replaces the scenario's, so it adds up all of them.
        if scope.inner().iter().any(|n| matches!(n.kind, Kind::Timer(_))) {
            let think = self.think_time(&scope.timers(), &mut comments);
            if think != sc.think_time {
                if let Some(t) = think {
                    m.put("think-time", t);
                }
            }
        }
        self.sync_timers(&scope.nodes, &mut comments);
        let timeouts = self.timeouts(h, &defaults, &mut comments);
        if timeouts != sc.timeouts {
            put_timeouts(&mut m, Vec::new(), &timeouts);
        }
        if !h.keep_alive {
            m.put("keepalive", false);
        }
        if !h.follow_redirects && !h.auto_redirects {
            m.put("follow-redirects", false);
        }
        if h.embedded_resources {
            let message = format!(
                "{} also downloads the page's embedded resources; Taurus's `retrieve-resources` does that with JMeter, suite does not: left out",
                who(node)
            );
            self.note(&mut comments, node.meta.span, message);
        }
        let encoding = self.text(&h.content_encoding, &mut comments);
        if !encoding.is_empty() && !encoding.eq_ignore_ascii_case("utf-8") && !encoding.eq_ignore_ascii_case("utf8") {
            let message = format!("{} encodes its body as {encoding}; Taurus sends UTF-8", who(node));
            self.note(&mut comments, h.content_encoding.span, message);
        }
        self.checks(&scope.nodes, &mut comments).put_into(&mut m);
        self.check_variables(node, &super::tree::Value::Map(m.clone()), sc, &mut comments);
        (comments, m)
    }

    /// The URL: the path alone when the origin is the scenario's `default-address`.
    fn url(&mut self, node: &Node, h: &Http, defaults: &[&Http], sc: &Scenario<'a>, comments: &mut Comments) -> String {
        let path = self.field(h, defaults, |h| &h.path, comments);
        let lower = path.to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return path;
        }
        let path = match path.as_str() {
            "" => "/".to_string(),
            p if p.starts_with('/') || p.starts_with("${") => p.to_string(),
            p => format!("/{p}"),
        };
        match self.origin(h, defaults, comments) {
            Some(origin) if Some(&origin) == sc.origin.as_ref() => path,
            Some((protocol, domain, port)) => {
                let port = if port.is_empty() { String::new() } else { format!(":{port}") };
                format!("{protocol}://{domain}{port}{path}")
            }
            None => {
                let message = format!(
                    "{} names no server and no HTTP Request Defaults give one; JMeter cannot send it either",
                    who(node)
                );
                self.note(comments, node.meta.span, message);
                path
            }
        }
    }

    /// Parameters as `a=1&b` (URL-encoded where JMeter encodes them).
    fn form(&mut self, args: &[Argument], comments: &mut Comments) -> String {
        let mut parts = Vec::new();
        for a in args {
            let mut name = self.text(&a.name, comments);
            let mut value = self.text(&a.value, comments);
            if name.is_empty() && value.is_empty() {
                continue;
            }
            if a.always_encode {
                name = url_encode_around_placeholders(&name);
                value = url_encode_around_placeholders(&value);
            }
            parts.push(if a.use_equals { format!("{name}={value}") } else { name });
        }
        parts.join("&")
    }

    /// `body`, `body-file` or `upload-files` (as map entries with their comments); may add a
    /// `Content-Type` header.
    #[allow(clippy::too_many_arguments)]
    fn body(
        &mut self,
        node: &Node,
        h: &Http,
        method: &str,
        body_method: bool,
        content_type: Option<&str>,
        headers: &mut Map,
        comments: &mut Comments,
    ) -> Map {
        let mut out = Map::default();
        if h.body_raw {
            let mut body = String::new();
            for a in &h.arguments {
                let v = self.text(&a.value, comments);
                body.push_str(&v);
            }
            out.put("body", body);
            return out;
        }
        if !h.files.is_empty() && body_method {
            let named = h.files.iter().any(|f| !f.param.is_empty());
            if !h.multipart && !named && h.arguments.is_empty() && h.files.len() == 1 {
                // JMeter sends a lone file without a parameter name as the body.
                let file = &h.files[0];
                let path = self.text(&file.path, comments);
                if path.trim().is_empty() {
                    let message = format!("{} sends a file with no path: JMeter sends no body; left out", who(node));
                    self.note(comments, file.path.span, message);
                    return out;
                }
                out.put("body-file", self.file(&path));
                let mime = self.text(&file.mime_type, comments);
                if !mime.is_empty() && content_type.is_none() {
                    headers.put("Content-Type", mime);
                }
                return out;
            }
            if !matches!(method.to_ascii_uppercase().as_str(), "POST" | "PUT") {
                let message =
                    format!("{} uploads files with {method}; Taurus uploads with POST and PUT only", who(node));
                self.note(comments, node.meta.span, message);
            }
            let mut files = Seq::default();
            for f in &h.files {
                let path = self.text(&f.path, comments);
                if path.trim().is_empty() {
                    let message =
                        format!("{} has a file with no path: JMeter sends nothing for it; left out", who(node));
                    self.note(comments, f.path.span, message);
                    continue;
                }
                let mut m = Map::default();
                m.put("param", self.text(&f.param, comments));
                m.put("path", self.file(&path));
                let mime = self.text(&f.mime_type, comments);
                if !mime.is_empty() {
                    m.put("mime-type", mime);
                }
                files.push_noted(Vec::new(), m);
            }
            if !h.arguments.is_empty() {
                let fields = self.fields(&h.arguments, comments);
                out.put("body", fields);
            }
            if !files.0.is_empty() {
                out.put("upload-files", files);
            }
            return out;
        }
        if h.arguments.is_empty() || !body_method {
            return out;
        }
        if h.multipart {
            let message = format!(
                "{} sends its parameters as multipart/form-data; Taurus sends them as a form (multipart needs `upload-files`)",
                who(node)
            );
            self.note(comments, node.meta.span, message);
        }
        let mut names = std::collections::HashSet::new();
        let as_map = h.arguments.iter().all(|a| a.use_equals && names.insert(a.name.value.clone()))
            && !content_type.is_some_and(|c| c.contains("json"));
        if as_map {
            let fields = self.fields(&h.arguments, comments);
            out.put("body", fields);
        } else {
            // Repeated names, names without `=`, or a JSON content type: the form as text.
            let form = self.form(&h.arguments, comments);
            if content_type.is_none() {
                headers.put("Content-Type", "application/x-www-form-urlencoded");
            }
            out.put("body", form);
        }
        out
    }

    /// Form fields as a mapping (Taurus encodes them).
    fn fields(&mut self, args: &[Argument], comments: &mut Comments) -> Map {
        let mut fields: IndexMap<String, String> = IndexMap::new();
        for a in args {
            let name = self.text(&a.name, comments);
            let value = self.text(&a.value, comments);
            fields.insert(name, value);
        }
        let mut m = Map::default();
        for (k, v) in fields {
            m.put(&k, v);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_encoded_as_jmeter_does_placeholders_kept() {
        assert_eq!(url_encode_around_placeholders("red shoes/é&${q}~"), "red+shoes%2F%C3%A9%26${q}%7E");
        assert!(sends_body("post") && !sends_body("GET") && !sends_body("DELETE"));
    }
}
