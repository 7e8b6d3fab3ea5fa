//! `body-template` and `body-file-template`: request bodies written as minijinja templates
//! (`plan::body_template`). Each is checked here, before any load: its syntax, the names it
//! reads that nothing defines (in every branch), and a first render; every error points at the
//! line and column inside the YAML value or the template file. A template that reads nothing per
//! request is rendered now into an ordinary body.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use minijinja::Environment;

use super::body::text_body;
use super::scenario::Scope;
use super::{did_you_mean_or, Builder};
use crate::config::de::Spanned;
use crate::config::model::Request;
use crate::config::source::{SourceId, Span};
use crate::config::{Loaded, Node, NodeKind};
use crate::plan::body_template::{self, BodyTemplate, RenderError, MAX_RENDERED, PER_REQUEST};
use crate::plan::scenario::Body;

/// The template files requests name, read before planning (reading registers each file in the
/// sources, so its errors point into it), and what templates see.
#[derive(Default)]
pub(super) struct Templates {
    /// By the path as resolved: the file's source, or why it could not be read.
    files: HashMap<PathBuf, Result<SourceId, String>>,
    /// `settings.env`, after substitution.
    vars: Vec<(String, String)>,
    /// The environment templates compile in, built for the first one.
    base: Option<Environment<'static>>,
}

impl Templates {
    /// Reads every file a `body-file-template` of a scenario names.
    pub(super) fn read(loaded: &mut Loaded) -> Templates {
        let mut wanted = Vec::new();
        for section in ["scenarios", "execution"] {
            if let Some(node) = loaded.root.get(section) {
                collect(node, &mut wanted);
            }
        }
        let mut files = HashMap::new();
        for (text, span) in wanted {
            let path = super::resolve_path(loaded, &text, span);
            if files.contains_key(&path) {
                continue;
            }
            let read = crate::fsutil::read_regular(&path, crate::fsutil::CONFIG_CAP)
                .map_err(|e| e.reason())
                .and_then(|bytes| String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string()))
                .map(|text| loaded.sources.add_file(&path, text));
            files.insert(path, read);
        }
        Templates { files, ..Templates::default() }
    }

    /// What templates see besides the per-request names: `settings.env`.
    pub(super) fn set_vars(&mut self, vars: Vec<(String, String)>) {
        self.vars = vars;
        self.base = None;
    }

    fn base(&mut self) -> &Environment<'static> {
        let vars = &self.vars;
        self.base.get_or_insert_with(|| body_template::environment(vars))
    }
}

/// Every `body-file-template` value under `node`, with its span.
fn collect(node: &Node, out: &mut Vec<(String, Span)>) {
    match &node.kind {
        NodeKind::Map(map) => {
            for (key, (_, value)) in map {
                if key == "body-file-template" {
                    if let Some(text) = value.scalar_text() {
                        out.push((text.into_owned(), value.span));
                    }
                }
                collect(value, out);
            }
        }
        NodeKind::Seq(items) => items.iter().for_each(|item| collect(item, out)),
        _ => {}
    }
}

/// Where a template's text is, so that its errors point into it.
#[derive(Clone, Copy)]
enum Origin {
    /// The YAML scalar of a `body-template`.
    Value(Span),
    /// A template file registered in the sources.
    File(SourceId),
}

impl Builder<'_> {
    /// The body of a request with `body-template` or `body-file-template`: the only body key it
    /// may have. `None` when it is broken (the error is reported).
    pub(super) fn templated_body(&mut self, req: &Request, scope: &mut Scope) -> Option<Option<Body>> {
        let given: Vec<(&str, Span)> = [
            ("body-template", req.body_template.as_ref().map(|t| t.span)),
            ("body-file-template", req.body_file_template.as_ref().map(|t| t.span)),
            ("body", req.body.as_ref().map(|b| b.span)),
            ("body-file", req.body_file.as_ref().map(|f| f.span)),
            ("upload-files", req.upload_files.as_ref().map(|u| u.span)),
        ]
        .into_iter()
        .filter_map(|(key, span)| Some((key, span?)))
        .collect();
        if let [(template, span), (other, _), ..] = given[..] {
            self.error_help(
                span,
                format!("`{template}` and `{other}` are both set: a request has one body"),
                format!("keep `{template}` or `{other}`"),
            );
            return None;
        }
        if let Some(t) = &req.body_template {
            self.uses(&t.value, t.span, scope);
            return self.template_body("body-template", "body-template", &t.value, Origin::Value(t.span)).map(Some);
        }
        let file = req.body_file_template.as_ref()?;
        let source = self.template_file(file)?;
        let text = self.loaded.sources.get(source).text().to_string();
        self.uses(&text, file.span, scope);
        self.template_body("body-file-template", &file.value, &text, Origin::File(source)).map(Some)
    }

    /// The source of the template file a `body-file-template` names, read before planning.
    fn template_file(&mut self, file: &Spanned<String>) -> Option<SourceId> {
        let path = self.resolve_path(&file.value, file.span);
        match self.templates.files.get(&path) {
            Some(Ok(source)) => Some(*source),
            Some(Err(reason)) => {
                let reason = reason.clone();
                self.cannot_read(file.span, "body-file-template", &file.value, &path, &reason);
                None
            }
            // A value built by substitution that the reading pass did not see as text.
            None => {
                self.cannot_read(file.span, "body-file-template", &file.value, &path, "not read before planning");
                None
            }
        }
    }

    /// Compiles and checks the template `text` of `key`, named `name` in messages; renders it
    /// now unless it reads something per request.
    fn template_body(&mut self, key: &str, name: &str, text: &str, origin: Origin) -> Option<Body> {
        let compiled = match BodyTemplate::compile(self.templates.base(), name, text.to_string()) {
            Ok(t) => t,
            Err(e) => {
                self.template_error(key, text, origin, &e, "");
                return None;
            }
        };
        let unknown = compiled.unknown_names();
        if !unknown.is_empty() {
            let mut known: Vec<String> = self.templates.vars.iter().map(|(k, _)| k.clone()).collect();
            known.extend(PER_REQUEST.map(String::from));
            let known: Vec<&str> = known.iter().map(String::as_str).collect();
            for n in &unknown {
                let at = self.template_span(text, origin, word_range(text, n));
                let help = did_you_mean_or(n, &known, || {
                    "a template sees the `settings.env` variables, `vu`, `iteration`, `random_int(a, b)` and `uuid()`; define it in `settings.env`".to_string()
                });
                self.error_help(at, format!("`{key}`: `{n}` is not defined"), help);
            }
            return None;
        }
        let per_request = compiled.per_request();
        match compiled.render(1, 0) {
            Ok(body) if !per_request => Some(text_body(body)),
            Ok(_) => Some(Body::Rendered(Arc::new(compiled))),
            Err(RenderError::TooLarge) => {
                let at = self.template_span(text, origin, None);
                self.error(at, format!("`{key}` renders a body larger than {} MiB", MAX_RENDERED >> 20));
                None
            }
            Err(RenderError::Template(e)) => {
                let when = if per_request { " (rendered for vu 1, iteration 0)" } else { "" };
                self.template_error(key, text, origin, &e, when);
                None
            }
        }
    }

    /// A minijinja error as a diagnostic at its place in the template.
    fn template_error(&mut self, key: &str, text: &str, origin: Origin, e: &minijinja::Error, when: &str) {
        let range = e.range().or_else(|| e.line().map(|line| line_start(text, line)));
        let at = self.template_span(text, origin, range);
        let what = match e.detail() {
            Some(detail) => format!("{}: {detail}", e.kind()),
            None => e.kind().to_string(),
        };
        self.error(at, format!("`{key}`: {what}{when}"));
    }

    /// The span of a byte range of a template's text (the whole value, or the file's start, when
    /// the place is not known).
    fn template_span(&self, text: &str, origin: Origin, range: Option<Range<usize>>) -> Span {
        let sources = &self.loaded.sources;
        match (origin, range) {
            (Origin::Value(span), Some(r)) => sources.inner_span(span, text, r.start, r.len()),
            (Origin::Value(span), None) => span,
            (Origin::File(source), r) => {
                let r = r.unwrap_or(0..0);
                sources.span(source, r.start, r.len())
            }
        }
    }
}

/// The first place `name` stands as a whole word in `text`.
fn word_range(text: &str, name: &str) -> Option<Range<usize>> {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    text.match_indices(name)
        .find(|(i, _)| !word(text[..*i].chars().next_back()) && !word(text[i + name.len()..].chars().next()))
        .map(|(i, _)| i..i + name.len())
}

/// The empty range at the start of 1-based `line` of `text`.
fn line_start(text: &str, line: usize) -> Range<usize> {
    let start = text.split_inclusive('\n').take(line.saturating_sub(1)).map(str::len).sum();
    start..start
}

#[cfg(test)]
mod tests {
    use super::super::tests::{errors, plan};
    use super::*;
    use crate::plan::Step;

    /// A test of one POST request with `request` (its keys, indented by six) and `settings.env`.
    fn yaml(env: &str, request: &str) -> String {
        format!(
            "settings:\n  env: {{{env}}}\nexecution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    requests:\n    - url: http://127.0.0.1:9/\n      method: POST\n{request}"
        )
    }

    /// The body of the one request of a test that plans.
    fn body(yaml: &str) -> Body {
        let planned = plan(yaml).unwrap_or_else(|e| panic!("{e:?}"));
        let scenario = planned.executions[0].scenario().unwrap().clone();
        match &scenario.steps[0] {
            Step::Request(r) => r.body.clone().unwrap(),
            other => panic!("{other:?}"),
        }
    }

    fn fixed(body: Body) -> String {
        match body {
            Body::Fixed(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
            other => panic!("not rendered at plan time: {other:?}"),
        }
    }

    #[test]
    fn a_template_without_per_request_names_is_rendered_once_with_the_env() {
        let b = body(&yaml("size: 3, model: m", "      body-template: '{{ \"x\" * (size|int) }}-{{ model }}'\n"));
        assert_eq!(fixed(b), "xxx-m");
        // A block scalar keeps its newline, and `${name}` placeholders are left for the users.
        let yaml = "execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    variables: {token: t}\n    requests:\n    - url: http://127.0.0.1:9/\n      body-template: |\n        {{ 1 + 1 }} ${token}\n";
        let b = body(yaml);
        assert!(matches!(b, Body::Template(_)), "{b:?}");
    }

    #[test]
    fn per_request_names_make_it_rendered_per_request() {
        let b = body(&yaml("", "      body-template: '{\"vu\": {{ vu }}, \"i\": {{ iteration }}}'\n"));
        let Body::Rendered(t) = b else { panic!("{b:?}") };
        assert_eq!(t.render(2, 5).unwrap(), r#"{"vu": 2, "i": 5}"#);
    }

    #[test]
    fn an_undefined_name_is_an_error_at_its_place_even_in_a_branch_not_taken() {
        let e = errors(&yaml("size: 3", "      body-template: '{% if false %}{{ sise }}{% endif %}'\n"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(e[0].starts_with("t.yaml:11:40: error: `body-template`: `sise` is not defined"), "{e:?}");
        // Inside a block scalar, on its second line.
        let e = errors(&yaml("", "      body-template: |\n        {\n          \"n\": {{ 1 + missing }}\n        }\n"));
        assert!(e[0].starts_with("t.yaml:13:23: error: `body-template`: `missing` is not defined"), "{e:?}");
    }

    #[test]
    fn syntax_and_render_errors_point_into_the_value() {
        let e = errors(&yaml("", "      body-template: 'a {{ 1 + }}'\n"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("t.yaml:11:32: error: `body-template`: syntax error: unexpected end of variable block"),
            "{e:?}"
        );
        let e = errors(&yaml("", "      body-template: 'n={{ random_int(3, 1) }}'\n"));
        assert!(
            e[0].contains(
                "`body-template`: invalid operation: random_int(3, 1) needs a <= b (rendered for vu 1, iteration 0)"
            ),
            "{e:?}"
        );
        assert!(e[0].starts_with("t.yaml:11:28: error:"), "{e:?}");
    }

    #[test]
    fn a_request_has_one_body() {
        let e = errors(&yaml("", "      body: x\n      body-template: y\n"));
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with("t.yaml:12:22: error: `body-template` and `body` are both set: a request has one body"),
            "{e:?}"
        );
        let e = errors(&yaml("", "      body-template: y\n      body-file-template: z.j2\n"));
        assert!(e[0].contains("`body-template` and `body-file-template` are both set"), "{e:?}");
    }

    #[test]
    fn template_files_are_read_and_their_errors_point_into_them() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.j2");
        std::fs::write(&good, "id={{ vu }}\n").unwrap();
        let b = body(&yaml("", &format!("      body-file-template: {}\n", good.display())));
        let Body::Rendered(t) = b else { panic!("{b:?}") };
        assert_eq!(t.render(4, 0).unwrap(), "id=4\n");
        let bad = dir.path().join("bad.j2");
        std::fs::write(&bad, "line one\n  {{ nope }}\n").unwrap();
        let e = errors(&yaml("", &format!("      body-file-template: {}\n", bad.display())));
        assert!(
            e[0].starts_with(&format!("{}:2:6: error: `body-file-template`: `nope` is not defined", bad.display())),
            "{e:?}"
        );
        let e = errors(&yaml("", "      body-file-template: nowhere.j2\n"));
        assert!(
            e[0].starts_with("t.yaml:11:27: error: cannot read body-file-template `nowhere.j2`: no such file"),
            "{e:?}"
        );
    }

    #[test]
    fn names_are_found_as_whole_words() {
        assert_eq!(word_range("{{ sizes }}{{ size }}", "size"), Some(14..18));
        assert_eq!(word_range("{{ x }}", "size"), None);
        assert_eq!(line_start("a\nbc\nd", 3), 5..5);
    }
}
