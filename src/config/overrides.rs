//! `-o path=value` overrides, as Taurus's `bzt/cli.py::ConfigOverrider` applies them.
//!
//! The path is split on `.`; each part is a mapping key, or a list index when it is a
//! (possibly negative) integer. Along the path a missing (or null) mapping value is created:
//! a list if the next part is an index, else a mapping; a negative index appends a new item.
//! The last part decides what happens:
//! * `key` or `index`: the value, parsed as YAML (`{…}`, `[…]`, numbers and booleans work;
//!   text that is not valid YAML is taken as a string), is set; `-1` appends to a list;
//! * `^key` (or `^index`): the entry is deleted (the value is ignored);
//! * `*key`: every `key` anywhere below the path's end is set to the value (and a list item
//!   equal to the string `key` is replaced, as Taurus does).
//!
//! Differences from Taurus, on purpose: an index past the end of a list is an error (Taurus
//! pads the list with empty mappings), a null along the path counts as missing (Taurus fails),
//! and `*key` parses its value as YAML like every other override (Taurus sets the raw text).
//! Each override is registered as a pseudo-source `<override N: -o path=value>`, so errors about
//! its value, now or after planning, can point at it.

use crate::config::diagnostic::Diagnostic;
use crate::config::node::{Map, Node, NodeKind};
use crate::config::source::{SourceId, Sources, Span};
use crate::config::yaml;

/// One dotted part of an override path.
struct Part<'a> {
    text: &'a str,
    span: Span,
}

impl Part<'_> {
    /// The part as a list index, if it is an integer (`0`, `-1`).
    fn index(&self) -> Option<i64> {
        index_of(self.text)
    }
}

fn index_of(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Applies overrides in order; `number` of the first is 1. Stops at the first broken one.
pub fn apply_all(
    root: &mut Node,
    overrides: &[String],
    sources: &mut Sources,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), Diagnostic> {
    for (i, text) in overrides.iter().enumerate() {
        apply(root, i + 1, text, sources, warnings)?;
    }
    Ok(())
}

/// Applies one override `path=value` to the tree.
pub fn apply(
    root: &mut Node,
    number: usize,
    text: &str,
    sources: &mut Sources,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), Diagnostic> {
    let id = sources.add_pseudo(format!("<override {number}: -o {text}>"), text);
    let Some(eq) = text.find('=') else {
        return Err(Diagnostic::error(sources.whole(id), format!("override `{text}` has no `=`"))
            .with_help("write `-o path=value`, e.g. `-o execution.0.concurrency=5`"));
    };
    let parts = split_path(sources, id, &text[..eq])?;
    let Some((last, walk)) = parts.split_last() else {
        return Err(Diagnostic::error(sources.span(id, 0, eq), "the override path is empty"));
    };
    let value = parse_value(sources, id, eq + 1, text.len(), warnings);

    let mut pointer = root;
    for (i, part) in walk.iter().enumerate() {
        let next_is_index = parts[i + 1].index().is_some();
        let fresh = || {
            let kind = if next_is_index { NodeKind::Seq(Vec::new()) } else { NodeKind::Map(Map::new()) };
            Node::new(kind, part.span)
        };
        let (here_span, here_kind) = (pointer.span, pointer.describe());
        let path = &text[..part.span.offset];
        pointer = match &mut pointer.kind {
            NodeKind::Seq(items) => {
                let pos = list_position(items.len(), part, path, here_span)?;
                if pos == items.len() {
                    items.push(fresh());
                }
                match items.get_mut(pos) {
                    Some(item) => item,
                    None => return Err(Diagnostic::error(part.span, "override path is out of range")),
                }
            }
            NodeKind::Map(map) => {
                if map.get(part.text).is_none_or(|(_, node)| node.is_null()) {
                    map.insert(part.text.to_string(), (part.span, fresh()));
                }
                match map.get_mut(part.text) {
                    Some((_, node)) => node,
                    None => return Err(Diagnostic::error(part.span, "override path not found")),
                }
            }
            _ => return Err(cannot_descend(part, path, here_kind, here_span)),
        };
    }

    let path = &text[..last.span.offset];
    let (here_span, here_kind) = (pointer.span, pointer.describe());
    if let Some(key) = last.text.strip_prefix('*') {
        let count = replace_everywhere(pointer, key, &value);
        if count == 0 {
            warnings
                .push(Diagnostic::warning(last.span, format!("override `{text}` changed nothing: no `{key}` below")));
        }
        return Ok(());
    }
    if let Some(item) = last.text.strip_prefix('^') {
        match &mut pointer.kind {
            NodeKind::Map(map) => {
                map.shift_remove(item);
            }
            NodeKind::Seq(items) => {
                let Some(index) = index_of(item) else {
                    return Err(not_an_index(last, item, path, here_span));
                };
                let len = items.len() as i64;
                if (-len..len).contains(&index) {
                    items.remove(index.rem_euclid(len.max(1)) as usize);
                }
            }
            _ => return Err(cannot_descend(last, path, here_kind, here_span)),
        }
        return Ok(());
    }
    match &mut pointer.kind {
        NodeKind::Seq(items) => {
            let pos = list_position(items.len(), last, path, here_span)?;
            match items.get_mut(pos) {
                Some(slot) => *slot = value,
                None => items.push(value),
            }
        }
        NodeKind::Map(map) => match map.get_mut(last.text) {
            Some(entry) => *entry = (last.span, value),
            None => {
                map.insert(last.text.to_string(), (last.span, value));
            }
        },
        _ => return Err(cannot_descend(last, path, here_kind, here_span)),
    }
    Ok(())
}

/// Splits `path` (the text before `=`) into parts with their spans.
fn split_path<'a>(sources: &Sources, id: SourceId, path: &'a str) -> Result<Vec<Part<'a>>, Diagnostic> {
    let mut parts = Vec::new();
    let mut offset = 0;
    for text in path.split('.') {
        let span = sources.span(id, offset, text.len());
        if text.is_empty() {
            return Err(Diagnostic::error(span, "empty part in the override path")
                .with_help("parts are separated by single dots, e.g. `scenarios.s.timeout=5s`"));
        }
        parts.push(Part { text, span });
        offset += text.len() + 1;
    }
    Ok(parts)
}

/// Parses the value text as YAML; text that is not valid YAML becomes a string (as in Taurus).
fn parse_value(sources: &Sources, id: SourceId, start: usize, end: usize, warnings: &mut Vec<Diagnostic>) -> Node {
    let span = sources.span(id, start, end - start);
    match yaml::parse_value(sources, id, start, end) {
        Ok((Some(node), parse_warnings)) => {
            warnings.extend(parse_warnings);
            node
        }
        Ok((None, _)) => Node::new(NodeKind::Null, span),
        Err(e) => {
            let raw = sources.slice(span).to_string();
            warnings.push(
                Diagnostic::warning(span, "the override value is not valid YAML, so it is used as a string")
                    .with_note(e.message),
            );
            Node::new(NodeKind::Str(raw), span)
        }
    }
}

/// Where an index part lands in a list of `len` items: negative appends, `len` appends too.
fn list_position(len: usize, part: &Part<'_>, path: &str, list_span: Span) -> Result<usize, Diagnostic> {
    let Some(index) = part.index() else {
        return Err(not_an_index(part, part.text, path, list_span));
    };
    match usize::try_from(index) {
        Err(_) => Ok(len),
        Ok(i) if i <= len => Ok(i),
        Ok(i) => Err(Diagnostic::error(
            part.span,
            format!(
                "index {i} is out of range: `{}` has {len} item{}",
                path.trim_end_matches('.'),
                if len == 1 { "" } else { "s" }
            ),
        )
        .with_label(list_span, "the list")
        .with_help("use `-1` to append an item")),
    }
}

fn not_an_index(part: &Part<'_>, item: &str, path: &str, list_span: Span) -> Diagnostic {
    Diagnostic::error(
        part.span,
        format!("`{item}` is not a list index, but `{}` is a list", path.trim_end_matches('.')),
    )
    .with_label(list_span, "the list")
    .with_help("use a number such as `0`, or `-1` to append")
}

fn cannot_descend(part: &Part<'_>, path: &str, kind: &str, at: Span) -> Diagnostic {
    Diagnostic::error(
        part.span,
        format!(
            "cannot apply `{}` to `{}`: it is {kind}, not a mapping or a list",
            part.text,
            path.trim_end_matches('.')
        ),
    )
    .with_label(at, "the value")
}

/// `*key`: sets every `key` below `node` to `value`; returns how many were replaced.
fn replace_everywhere(node: &mut Node, key: &str, value: &Node) -> usize {
    let mut count = 0;
    match &mut node.kind {
        NodeKind::Seq(items) => {
            for item in items.iter_mut() {
                if item.as_map().is_some() {
                    count += replace_everywhere(item, key, value);
                }
            }
            if let Some(item) = items.iter_mut().find(|item| item.as_str() == Some(key)) {
                *item = value.clone();
                count += 1;
            }
        }
        NodeKind::Map(map) => {
            for (_, child) in map.values_mut() {
                count += replace_everywhere(child, key, value);
            }
            if let Some((_, child)) = map.get_mut(key) {
                *child = value.clone();
                count += 1;
            }
        }
        _ => {}
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::merge::merge;
    use crate::config::yaml::parse_config;
    use std::path::Path;

    fn setup(text: &str) -> (Sources, Node) {
        let mut sources = Sources::new();
        let id = sources.add_file(Path::new("t.yml"), text.to_string());
        let mut root = None;
        for doc in parse_config(&sources, id).unwrap().docs {
            let r = root.get_or_insert_with(|| Node::empty_map(doc.span));
            merge(r, doc, &mut Vec::new());
        }
        (sources, root.unwrap())
    }

    fn run(text: &str, overrides: &[&str]) -> (Sources, Result<Node, Diagnostic>, Vec<Diagnostic>) {
        let (mut sources, mut root) = setup(text);
        let mut warnings = Vec::new();
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        let result = apply_all(&mut root, &overrides, &mut sources, &mut warnings).map(|()| root);
        (sources, result, warnings)
    }

    fn yaml(node: &Node) -> String {
        serde_yaml::to_string(&node.to_value()).unwrap()
    }

    const BASE: &str = "execution:\n- concurrency: 10\n  scenario: s\nscenarios:\n  s:\n    think-time: 1s\n    requests-extra: 1\n    requests:\n    - url: /a\n      think-time: 3s\n";

    #[test]
    fn taurus_override_forms() {
        let (sources, result, warnings) = run(
            BASE,
            &[
                "execution.0.iterations=5",
                "execution.-1={concurrency: 3, scenario: s2}",
                "scenarios.s.^requests-extra=",
                "scenarios.*think-time=2s",
                "settings.env.NEW=value",
                "modules.list.-1=x",
            ],
        );
        let root = result.unwrap();
        assert!(warnings.is_empty());
        assert_eq!(
            yaml(&root),
            "execution:
- concurrency: 10
  scenario: s
  iterations: 5
- concurrency: 3
  scenario: s2
scenarios:
  s:
    think-time: 2s
    requests:
    - url: /a
      think-time: 2s
settings:
  env:
    NEW: value
modules:
  list:
  - x
"
        );
        // Values remember the override they came from.
        let iterations = root.pointer(["execution", "0", "iterations"]).unwrap();
        assert_eq!(iterations.as_i64(), Some(5));
        assert_eq!(sources.name(iterations.span.source), "<override 1: -o execution.0.iterations=5>");
        assert_eq!(sources.slice(iterations.span), "5");
    }

    #[test]
    fn values_are_yaml_and_invalid_yaml_is_a_string() {
        let (_, result, warnings) = run("a: 1\n", &["a=[1, 2]", "b=true", "c=", "d={x: 1", "e=1.5"]);
        let root = result.unwrap();
        assert_eq!(yaml(&root), "a:\n- 1\n- 2\nb: true\nc: null\nd: '{x: 1'\ne: 1.5\n");
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn list_deletion_and_replacement() {
        let (_, result, _) = run("l: [a, b, c]\n", &["l.^0=", "l.^-1=", "l.0=z"]);
        assert_eq!(yaml(&result.unwrap()), "l:\n- z\n");
    }

    #[test]
    fn malformed_overrides_are_clear_errors() {
        let (sources, result, _) = run(BASE, &["execution.0.concurrency"]);
        assert_eq!(
            result.unwrap_err().render(&sources),
            "error: override `execution.0.concurrency` has no `=`
  --> <override 1: -o execution.0.concurrency>:1:1
   |
 1 | execution.0.concurrency
   | ^^^^^^^^^^^^^^^^^^^^^^^
   = help: write `-o path=value`, e.g. `-o execution.0.concurrency=5`
"
        );
        let (sources, result, _) = run(BASE, &["execution.5.concurrency=1"]);
        assert_eq!(
            result.unwrap_err().render(&sources),
            "error: index 5 is out of range: `execution` has 1 item
  --> <override 1: -o execution.5.concurrency=1>:1:11
   |
 1 | execution.5.concurrency=1
   |           ^
   |
  ::: t.yml:2:1
   |
 2 | - concurrency: 10
   | ----------------- the list
   = help: use `-1` to append an item
"
        );
        let (sources, result, _) = run(BASE, &["execution.0.scenario.x=1"]);
        assert_eq!(
            result.unwrap_err().one_line(&sources),
            "<override 1: -o execution.0.scenario.x=1>:1:22: error: cannot apply `x` to `execution.0.scenario`: it is a string, not a mapping or a list"
        );
        let (_, result, _) = run(BASE, &["execution.first=1"]);
        assert!(result.unwrap_err().message.contains("`first` is not a list index"));
        let (_, result, _) = run(BASE, &["a..b=1"]);
        assert!(result.unwrap_err().message.contains("empty part"));
    }
}
