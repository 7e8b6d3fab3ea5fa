//! Request bodies: form and JSON encoding of `body` mappings, text bodies with placeholders, and
//! `upload-files` multipart bodies.

use std::collections::HashMap;
use std::path::Path;

use bytes::Bytes;

use super::scenario::Scope;
use super::Builder;
use crate::config::de::Spanned;
use crate::config::model::{Request, UploadFile};
use crate::config::{Node, NodeKind};
use crate::plan::scenario::{Body, Chunk, Template};

/// Multipart boundary of `upload-files` bodies (fixed, so bodies can be built once).
pub(super) const BOUNDARY: &str = "----suite-form-boundary-5b8f2d9c71e4a036";

impl Builder<'_> {
    /// The body of a request: `body` (text, or a mapping sent as a form or JSON), `body-file`,
    /// `upload-files` with the `body` fields, or a template (`templates.rs`); may set
    /// `Content-Type` (a template never does). `None` when it is broken (the error is reported),
    /// `Some(None)` when there is no body.
    pub(super) fn body(
        &mut self,
        req: &Request,
        headers: &mut Vec<(String, String)>,
        scope: &mut Scope,
    ) -> Option<Option<Body>> {
        if req.body_template.is_some() || req.body_file_template.is_some() {
            return self.templated_body(req, scope);
        }
        if let Some(files) = &req.upload_files {
            if let (Some(b), Some(_)) = (&req.body, &req.body_file) {
                self.warn(b.span, "both `body` and `body-file` are set; `body` wins (as in Taurus)");
            }
            let body = self.multipart(req, files, scope)?;
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
            headers.push(("Content-Type".to_string(), format!("multipart/form-data; boundary={BOUNDARY}")));
            return Some(Some(body));
        }
        if let Some(b) = &req.body {
            if req.body_file.is_some() {
                self.warn(b.span, "both `body` and `body-file` are set; `body` wins (as in Taurus)");
            }
            let text = body_text(&b.value, headers);
            if let Some(text) = &text {
                self.uses(text, b.span, scope);
            }
            return Some(text.map(text_body));
        }
        let Some(file) = &req.body_file else { return Some(None) };
        let bytes = self.read_file(&file.value, file.span, "body-file")?;
        Some(Some(match String::from_utf8(bytes) {
            Ok(text) => {
                self.uses(&text, file.span, scope);
                text_body(text)
            }
            // Binary files go out byte for byte.
            Err(e) => Body::Fixed(Bytes::from(e.into_bytes())),
        }))
    }

    /// `upload-files`: a multipart/form-data body of the `body` fields and the files.
    fn multipart(&mut self, req: &Request, files: &Spanned<Vec<UploadFile>>, scope: &mut Scope) -> Option<Body> {
        let Some(m) = &req.method else {
            self.error_help(files.span, "`upload-files` needs a method with a body", "add `method: POST`");
            return None;
        };
        if !m.value.contains("${") && !matches!(m.value.to_ascii_uppercase().as_str(), "POST" | "PUT" | "PATCH") {
            self.error(m.span, format!("`upload-files` needs method POST, PUT or PATCH, not `{}`", m.value));
            return None;
        }
        let mut body = Multipart::default();
        match req.body.as_ref().map(|f| (f, &f.value.kind)) {
            Some((_, NodeKind::Map(fields))) => {
                for (name, (_, v)) in fields {
                    let text = v.scalar_text().unwrap_or_default();
                    self.uses(&text, v.span, scope);
                    body.part(
                        &format!("form-data; name=\"{}\"", quote_field(name)),
                        Chunk::Template(Template::parse(&text)),
                    );
                }
            }
            Some((_, NodeKind::Null)) | None => {}
            Some((f, _)) => {
                self.error(f.span, "with `upload-files`, `body` must be a mapping of form fields");
                return None;
            }
        }
        for file in &files.value {
            let path = &file.path;
            if path.contains("${") {
                self.error(path.span, "an upload path cannot use variables: the file is read before the test");
                continue;
            }
            let Some(bytes) = self.read_file(path, path.span, "upload file") else { continue };
            let name = Path::new(&path.value).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let mime = file.mime_type.clone().unwrap_or_else(|| guess_mime(&name).to_string());
            let (param, name) = (quote_field(&file.param), quote_field(&name));
            let headers = format!("form-data; name=\"{param}\"; filename=\"{name}\"\r\nContent-Type: {mime}");
            body.part(&headers, Chunk::Fixed(Bytes::from(bytes)));
        }
        Some(body.finish())
    }
}

/// A multipart/form-data body being built: literal text is gathered up to each part's content.
#[derive(Default)]
pub(super) struct Multipart {
    chunks: Vec<Chunk>,
    text: String,
}

impl Multipart {
    /// A part: its `Content-Disposition` (and any further headers), then its content.
    pub(super) fn part(&mut self, disposition: &str, content: Chunk) {
        self.text.push_str(&format!("--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n"));
        self.chunks.push(Chunk::Fixed(Bytes::from(std::mem::take(&mut self.text))));
        self.chunks.push(content);
        self.text.push_str("\r\n");
    }

    pub(super) fn finish(mut self) -> Body {
        self.text.push_str(&format!("--{BOUNDARY}--\r\n"));
        self.chunks.push(Chunk::Fixed(Bytes::from(self.text)));
        Body::Parts(self.chunks)
    }
}

/// The text of a `body` value: a mapping is JSON when nested or when `Content-Type` says JSON, else
/// a form (which sets `Content-Type` if none is given); a list is JSON.
fn body_text(body: &Node, headers: &mut Vec<(String, String)>) -> Option<String> {
    let content_type =
        headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-type")).map(|(_, v)| v.to_ascii_lowercase());
    match &body.kind {
        NodeKind::Null => None,
        NodeKind::Map(m) => {
            let nested = m.values().any(|(_, v)| matches!(v.kind, NodeKind::Map(_) | NodeKind::Seq(_)));
            if nested || content_type.as_deref().is_some_and(|c| c.contains("json")) {
                return Some(to_json(body));
            }
            if content_type.is_none() {
                headers.push(("Content-Type".to_string(), "application/x-www-form-urlencoded".to_string()));
            }
            Some(form_encode(
                m.iter().map(|(k, (_, v))| (k.as_str(), v.scalar_text().unwrap_or_default().into_owned())),
            ))
        }
        NodeKind::Seq(_) => Some(to_json(body)),
        _ => body.scalar_text().map(String::from),
    }
}

/// A text body: fixed bytes unless it has placeholders.
pub(super) fn text_body(text: String) -> Body {
    let t = Template::parse(&text);
    if t.is_literal() {
        Body::Fixed(Bytes::from(text))
    } else {
        Body::Template(t)
    }
}

/// A form field or file name inside a quoted header parameter.
pub(super) fn quote_field(name: &str) -> String {
    name.replace('\\', "\\\\").replace('"', "\\\"").replace(['\r', '\n'], " ")
}

/// The MIME type of common upload files by extension (JMeter guesses too).
pub(super) fn guess_mime(file_name: &str) -> &'static str {
    let ext = file_name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    let table: HashMap<&str, &str> = HashMap::from([
        ("json", "application/json"),
        ("txt", "text/plain"),
        ("csv", "text/csv"),
        ("xml", "application/xml"),
        ("html", "text/html"),
        ("htm", "text/html"),
        ("png", "image/png"),
        ("jpg", "image/jpeg"),
        ("jpeg", "image/jpeg"),
        ("gif", "image/gif"),
        ("pdf", "application/pdf"),
        ("zip", "application/zip"),
        ("gz", "application/gzip"),
    ]);
    table.get(ext.as_str()).copied().unwrap_or("application/octet-stream")
}

/// A request body mapping or list as JSON text, keys in the order written: servers and signatures
/// may depend on it, and `serde_json::Value` would sort them.
pub(super) fn to_json(node: &Node) -> String {
    let mut out = String::new();
    write_json(node, &mut out);
    out
}

fn write_json(node: &Node, out: &mut String) {
    let string = |s: &str, out: &mut String| out.push_str(&serde_json::Value::from(s).to_string());
    match &node.kind {
        NodeKind::Null => out.push_str("null"),
        NodeKind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        NodeKind::Int(i) => out.push_str(&i.to_string()),
        NodeKind::Float(f) => match serde_json::Number::from_f64(*f) {
            Some(n) => out.push_str(&n.to_string()),
            None => out.push_str("null"),
        },
        NodeKind::Str(s) => string(s, out),
        NodeKind::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        NodeKind::Map(m) => {
            out.push('{');
            for (i, (key, (_, value))) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(key, out);
                out.push(':');
                write_json(value, out);
            }
            out.push('}');
        }
    }
}

/// `application/x-www-form-urlencoded` text of form fields. `${name}` placeholders are kept
/// unescaped so variables still fill them.
fn form_encode<'a>(fields: impl Iterator<Item = (&'a str, String)>) -> String {
    let enc = crate::plan::jmx::eval::url_encode_around_placeholders;
    fields.map(|(k, v)| format!("{}={}", enc(k), enc(&v))).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types_by_extension() {
        assert_eq!(guess_mime("a.JSON"), "application/json");
        assert_eq!(guess_mime("image.jpeg"), "image/jpeg");
        assert_eq!(guess_mime("blob"), "application/octet-stream");
    }

    #[test]
    fn field_names_are_quoted() {
        assert_eq!(quote_field("a\"b\nc"), "a\\\"b c");
    }

    #[test]
    fn json_bodies_keep_the_order_written() {
        let node = crate::testing::node("{zeta: 1, alpha: {z: true, a: [1.5, 'x\"y']}, mid: null}");
        assert_eq!(to_json(&node), r#"{"zeta":1,"alpha":{"z":true,"a":[1.5,"x\"y"]},"mid":null}"#);
    }

    #[test]
    fn form_encoding_keeps_placeholders() {
        let s = form_encode([("name", "a b&c".to_string()), ("user", "${user}!".to_string())].into_iter());
        assert_eq!(s, "name=a+b%26c&user=${user}%21");
    }
}
