//! Planning response checks: `assert`, `assert-jsonpath` and the `extract-*` extractors, with
//! every regex and JSONPath compiled (and rejected with its place) before the load starts.

use regex::Regex;

use super::one_or_many;
use super::scenario::Scope;
use super::Builder;
use crate::config::de::Spanned;
use crate::config::source::Span;
use crate::config::{Map, Node, NodeKind};
use crate::plan::checks::{
    compile_jsonpath, parse_group_template, Assertion, Expected, ExtractKind, Extractor, GroupRef, Pattern, Source,
    Subject,
};
use crate::plan::scenario::Template;

impl Builder<'_> {
    pub(super) fn assertions(&mut self, node: &Spanned<Node>, scope: &mut Scope, out: &mut Vec<Assertion>) {
        const KEYS: [&str; 5] = ["contains", "subject", "regexp", "not", "assume-success"];
        let empty = Map::new();
        for item in one_or_many(&node.value) {
            let (patterns_node, m) = match &item.kind {
                NodeKind::Map(m) => {
                    self.block_keys(m, "assert", &KEYS);
                    match m.get("contains") {
                        Some((_, c)) => (c, m),
                        None => {
                            self.error_help(item.span, "this assertion has no `contains`", "add `contains: [text]`");
                            continue;
                        }
                    }
                }
                _ => (item, &empty),
            };
            let get = |key: &str| m.get(key).map(|(_, v)| v);
            let subject = match get("subject") {
                None => Subject::Body,
                Some(v) => match v.scalar_text().as_deref().and_then(Subject::parse) {
                    Some(Subject::Url) | None => {
                        self.error_help(v.span, "unknown assertion `subject`", "use `body`, `headers` or `http-code`");
                        continue;
                    }
                    Some(s) => s,
                },
            };
            let regex = self.value(m, "regexp").unwrap_or(true);
            let not = self.value(m, "not").unwrap_or(false);
            let assume_success = self.value(m, "assume-success").unwrap_or(false);
            let mut patterns = Vec::new();
            for p in one_or_many(patterns_node) {
                let Some(text) = p.scalar_text().map(String::from) else {
                    self.error(p.span, format!("an assertion pattern must be text, found {}", p.describe()));
                    continue;
                };
                let template = Template::parse(&text);
                let pattern = if !template.is_literal() {
                    self.uses(&text, p.span, scope);
                    Pattern::Dynamic { template, regex }
                } else if regex {
                    match Regex::new(&text) {
                        Ok(r) => Pattern::Regex(r),
                        Err(e) => {
                            self.regex_error(p.span, &text, &e, "set `regexp: false` to search for the plain text");
                            continue;
                        }
                    }
                } else {
                    Pattern::Text(text.clone())
                };
                patterns.push((pattern, text));
            }
            if patterns.is_empty() {
                self.error(patterns_node.span, "this assertion has nothing to look for");
                continue;
            }
            out.push(Assertion::Contains { subject, patterns, any: false, not, assume_success });
        }
    }

    fn regex_error(&mut self, span: Span, text: &str, e: &regex::Error, help: &str) {
        // The regex crate's message spans lines (pattern, caret, reason): keep the reason.
        let reason = e.to_string().lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("invalid").trim().to_string();
        self.error_help(span, format!("`{text}` is not a valid regex: {}", reason.trim_start_matches("error: ")), help);
    }

    pub(super) fn jsonpath_assertions(&mut self, node: &Spanned<Node>, out: &mut Vec<Assertion>) {
        const KEYS: [&str; 6] = ["jsonpath", "expected-value", "validate", "expect-null", "invert", "regexp"];
        let empty = Map::new();
        for item in one_or_many(&node.value) {
            let (path_node, m) = match &item.kind {
                NodeKind::Map(m) => {
                    self.block_keys(m, "assert-jsonpath", &KEYS);
                    match m.get("jsonpath") {
                        Some((_, p)) => (p, m),
                        None => {
                            self.error_help(item.span, "this assertion has no `jsonpath`", "add `jsonpath: $.field`");
                            continue;
                        }
                    }
                }
                _ => (item, &empty),
            };
            let get = |key: &str| m.get(key).map(|(_, v)| v);
            let Some(text) = path_node.scalar_text().map(String::from) else {
                self.error(path_node.span, "`jsonpath` must be text");
                continue;
            };
            let Some(path) = self.jsonpath(&text, path_node.span) else { continue };
            let validate = self.value(m, "validate").unwrap_or(false);
            let expect_null = self.value(m, "expect-null").unwrap_or(false);
            let invert = self.value(m, "invert").unwrap_or(false);
            let regex = self.value(m, "regexp").unwrap_or(true);
            let expected_text = get("expected-value").and_then(Node::scalar_text).unwrap_or_default().into_owned();
            let expected = if validate && regex {
                match Regex::new(&format!("^(?:{expected_text})$")) {
                    Ok(r) => Expected::Regex(r, expected_text),
                    Err(e) => {
                        let span = get("expected-value").map_or(item.span, |v| v.span);
                        self.regex_error(span, &expected_text, &e, "set `regexp: false` to compare the plain text");
                        continue;
                    }
                }
            } else {
                Expected::Text(expected_text)
            };
            out.push(Assertion::JsonPath { path, text, validate, expected, expect_null, invert });
        }
    }

    pub(super) fn jsonpath(&mut self, text: &str, span: Span) -> Option<serde_json_path::JsonPath> {
        match compile_jsonpath(text) {
            Ok(p) => Some(p),
            Err(e) => {
                self.error_help(
                    span,
                    format!("`{text}` is not a valid JSONPath: {e}"),
                    "write e.g. `$.items[0].id`, `$..id` or `$.items[*].name`",
                );
                None
            }
        }
    }

    pub(super) fn extractors(&mut self, kind: &str, node: &Spanned<Node>, scope: &mut Scope, out: &mut Vec<Extractor>) {
        let NodeKind::Map(map) = &node.value.kind else {
            self.error_help(
                node.span,
                format!("`{kind}` must be a mapping of variable names to extractors, found {}", node.value.describe()),
                format!("write `{kind}: {{name: ...}}`"),
            );
            return;
        };
        for (var, (_, value)) in map {
            if let Some(extractor) = self.extractor(kind, var, value, scope) {
                scope.defined.insert(var.clone());
                if extractor.match_no < 0 {
                    scope.defined_families.push(var.clone());
                }
                out.push(extractor);
            }
        }
    }

    /// One `extract-*` entry: `var: pattern`, or `var: {<main key>: pattern, ...}`.
    fn extractor(&mut self, kind: &str, var: &str, value: &Node, scope: &mut Scope) -> Option<Extractor> {
        let (main_key, keys): (&str, &[&str]) = match kind {
            "extract-regexp" => {
                ("regexp", &["regexp", "default", "match-no", "template", "subject", "scope", "from-variable"])
            }
            "extract-jsonpath" => {
                ("jsonpath", &["jsonpath", "default", "match-no", "concat", "scope", "from-variable"])
            }
            _ => ("left", &["left", "right", "default", "match-no", "subject", "scope", "from-variable"]),
        };
        let empty = Map::default();
        let (main, m) = match &value.kind {
            NodeKind::Map(m) => {
                self.block_keys(m, kind, keys);
                (m.get(main_key).map(|(_, v)| v), m)
            }
            _ if kind != "extract-boundary" => (Some(value), &empty),
            _ => {
                let help = "write `{left: '<b>', right: '</b>'}`";
                self.error_help(value.span, "an `extract-boundary` entry must be a mapping", help);
                return None;
            }
        };
        let Some(main) = main else {
            self.error_help(
                value.span,
                format!("this extractor has no `{main_key}`"),
                format!("add `{main_key}: ...`"),
            );
            return None;
        };
        let Some(main_text) = main.scalar_text().map(String::from) else {
            self.error(main.span, format!("`{main_key}` must be text"));
            return None;
        };
        let get = |key: &str| m.get(key).map(|(_, v)| v);
        let match_no = match get("match-no") {
            None if kind == "extract-jsonpath" => 0,
            None => 1,
            Some(Node { kind: NodeKind::Int(n), .. }) => *n,
            Some(other) => {
                let help = "`1` the first match, `0` a random one, `-1` all of them";
                self.error_help(other.span, "`match-no` must be a whole number", help);
                return None;
            }
        };
        let default = get("default").and_then(Node::scalar_text).map(String::from);
        let source = self.extractor_source(value, m, scope)?;
        let extract = match kind {
            "extract-regexp" => self.regex_extractor(main, &main_text, get("template"))?,
            "extract-jsonpath" => {
                let path = self.jsonpath(&main_text, main.span)?;
                let concat = self.value(m, "concat").unwrap_or(false);
                ExtractKind::JsonPath { path, concat }
            }
            _ => {
                let Some(right) = get("right").and_then(Node::scalar_text).filter(|r| !r.is_empty()).map(String::from)
                else {
                    self.error_help(value.span, "this `extract-boundary` has no `right`", "add `right: '</b>'`");
                    return None;
                };
                if main_text.is_empty() {
                    self.error(main.span, "`left` must not be empty");
                    return None;
                }
                ExtractKind::Boundary { left: main_text, right }
            }
        };
        Some(Extractor {
            var: var.to_string(),
            source,
            kind: extract,
            match_no,
            default_given: default.is_some(),
            default: default.unwrap_or_else(|| "NOT_FOUND".to_string()),
        })
    }

    /// What an extractor reads: a variable (`from-variable`) or a part of the response (`subject`).
    fn extractor_source(&mut self, value: &Node, m: &Map, scope: &mut Scope) -> Option<Source> {
        let get = |key: &str| m.get(key).map(|(_, v)| v);
        let from = get("from-variable").and_then(Node::scalar_text).map(String::from);
        let source = match (from, get("scope").and_then(Node::scalar_text)) {
            (Some(from), _) => {
                if !scope.defined.contains(&from) {
                    let span = get("from-variable").map_or(value.span, |v| v.span);
                    scope.used.push((from.clone(), span));
                }
                Source::Variable(from)
            }
            (None, Some(s)) if s == "variable" => {
                self.error_help(value.span, "`scope: variable` needs `from-variable`", "add `from-variable: NAME`");
                return None;
            }
            _ => match get("subject") {
                None => Source::Response(Subject::Body),
                Some(v) => match v.scalar_text().as_deref().and_then(Subject::parse) {
                    Some(s) => Source::Response(s),
                    None => {
                        let help = "use `body`, `headers`, `http-code` or `url`";
                        self.error_help(v.span, "unknown extractor `subject`", help);
                        return None;
                    }
                },
            },
        };
        if let Some(s) = get("scope").and_then(Node::scalar_text) {
            if !matches!(&*s, "all" | "main" | "children" | "variable") {
                let help = "use `all`, `main`, `children` or `variable`";
                self.error_help(m["scope"].1.span, format!("unknown `scope: {s}`"), help);
            }
        }
        Some(source)
    }

    /// An `extract-regexp`: the regex, and a `template` that uses only groups it has.
    fn regex_extractor(&mut self, main: &Node, text: &str, template: Option<&Node>) -> Option<ExtractKind> {
        let regex = match Regex::new(text) {
            Ok(r) => r,
            Err(e) => {
                self.regex_error(main.span, text, &e, "Rust regexes have no look-around or back-references");
                return None;
            }
        };
        let groups = parse_group_template(&template.and_then(Node::scalar_text).unwrap_or_else(|| "1".into()));
        let max = groups
            .iter()
            .filter_map(|g| match g {
                GroupRef::Group(n) => Some(*n),
                _ => None,
            })
            .max();
        if let Some(max) = max.filter(|max| *max >= regex.captures_len()) {
            let span = template.map_or(main.span, |v| v.span);
            let found = regex.captures_len() - 1;
            self.error_help(
                span,
                format!(
                    "the template uses group {max} but `{text}` has {found} group{}",
                    if found == 1 { "" } else { "s" }
                ),
                "put parentheses around the part to extract, e.g. `token=(\\w+)`",
            );
            return None;
        }
        Some(ExtractKind::Regex { regex, template: groups })
    }
}
