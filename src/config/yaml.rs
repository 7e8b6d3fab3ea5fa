//! YAML text → located [`Node`] trees, built from yaml-rust2's marked event parser.
//!
//! Taurus reads configs with PyYAML's `safe_load_all`, which implements YAML 1.1, while
//! yaml-rust2 is a YAML 1.2 parser that leaves plain scalars untyped. We take the syntax from
//! yaml-rust2 and resolve plain scalars ourselves with PyYAML's rules
//! ([`resolve_plain`](crate::config::scalar::resolve_plain)), so `logging: True`,
//! `enabled: yes`, `mode: 0644` and `every: 1:30` mean what they mean to Taurus. Quoted and
//! block scalars are always strings. Every node keeps the span of its text; every scalar keeps
//! its style (env substitution retypes only plain scalars) and, when it is not a string, the
//! text as written (`label: 200` can still be read as the string `200`). Like PyYAML we accept
//! anchors, aliases and `<<` merge keys; unlike PyYAML we warn about duplicate keys (the last
//! one still wins), naming both places.
//!
//! The pull API of the parser is used (not the recursive `load`), and nesting is capped, so no
//! input can overflow the stack; alias expansion is capped too (no "billion laughs").

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::{Marker, ScanError, TScalarStyle};

use crate::config::diagnostic::Diagnostic;
use crate::config::node::Map;
pub use crate::config::node::{Node, NodeKind, Style};
pub use crate::config::scalar::resolve_plain;
use crate::config::scalar::{block_header_before, decode_scalar};
use crate::config::source::{SourceId, Sources, Span};

/// Deepest nesting of collections accepted.
const MAX_DEPTH: usize = 200;
/// Most nodes that alias expansion may copy in one text.
const MAX_ALIAS_NODES: usize = 100_000;

/// The documents of one config file and the warnings found while reading them.
#[derive(Debug)]
pub struct Parsed {
    /// Every non-empty document, in order; each is a mapping.
    pub docs: Vec<Node>,
    /// E.g. duplicate keys.
    pub warnings: Vec<Diagnostic>,
}

/// Parses a config file: every non-empty document must be a mapping.
///
/// JSON is YAML, so `.json` configs go through the same parser. Like Taurus, if YAML parsing
/// fails and the text starts with `{`, the text is tried as JSON; if that fails too, the JSON
/// error is reported.
pub fn parse_config(sources: &Sources, id: SourceId) -> Result<Parsed, Diagnostic> {
    let text = sources.get(id).text();
    let (nodes, warnings) = match parse_stream(sources, id, 0, text.len()) {
        Ok(parsed) => parsed,
        Err(yaml_err) if text.trim_start().starts_with('{') => match json_fallback(sources, id) {
            Ok(node) => (vec![node], Vec::new()),
            Err(json_err) => return Err(json_err.with_note(format!("as YAML: {}", yaml_err.message))),
        },
        Err(e) => return Err(e),
    };
    let mut docs = Vec::new();
    for node in nodes {
        match node.kind {
            NodeKind::Null => {}
            NodeKind::Map(_) => docs.push(node),
            _ => {
                return Err(Diagnostic::error(
                    node.span,
                    format!("a config document must be a mapping of keys to values, found {}", node.describe()),
                ))
            }
        }
    }
    Ok(Parsed { docs, warnings })
}

/// Parses one YAML value from `text[start..end]` of a source (e.g. the value of `-o a=value`).
///
/// Returns `Ok(None)` for an empty text. More than one document is an error.
pub fn parse_value(
    sources: &Sources,
    id: SourceId,
    start: usize,
    end: usize,
) -> Result<(Option<Node>, Vec<Diagnostic>), Diagnostic> {
    let (mut nodes, warnings) = parse_stream(sources, id, start, end)?;
    if nodes.len() > 1 {
        return Err(Diagnostic::error(nodes[1].span, "expected one value, found several YAML documents"));
    }
    Ok((nodes.pop(), warnings))
}

/// Parses every document of `text[start..end]` of a source into nodes.
pub fn parse_stream(
    sources: &Sources,
    id: SourceId,
    start: usize,
    end: usize,
) -> Result<(Vec<Node>, Vec<Diagnostic>), Diagnostic> {
    let full = sources.get(id).text();
    let start = start.min(full.len());
    let subject = full.get(start..end.min(full.len()).max(start)).unwrap_or("");
    let mut builder = Builder::new(sources, id, start, subject);
    let mut parser = Parser::new_from_str(subject);
    loop {
        let (event, mark) = parser.next_token().map_err(|e| builder.scan_error(&e))?;
        if event == Event::StreamEnd {
            break;
        }
        builder.event(event, mark)?;
    }
    Ok((builder.docs, builder.warnings))
}

/// A collection being built.
enum Frame {
    Seq { items: Vec<Node>, anchor: usize, start: usize },
    Map(MapFrame),
}

struct MapFrame {
    /// Explicit entries, duplicates already resolved (last wins).
    entries: Map,
    /// `<<` merge sources, flattened to key/value pairs in PyYAML's order.
    merged: Vec<(String, Span, Node)>,
    /// The key read, waiting for its value (`None` key text = merge key `<<`).
    key: Option<(Option<String>, Span)>,
    /// Span of the first key, where a block mapping starts.
    first_key: Option<Span>,
    anchor: usize,
    start: usize,
}

/// Turns parser events into nodes.
struct Builder<'a> {
    sources: &'a Sources,
    id: SourceId,
    /// Byte offset of `subject` in the source.
    base: usize,
    subject: &'a str,
    /// Byte offset of every line start in `subject`.
    line_starts: Vec<usize>,
    stack: Vec<Frame>,
    docs: Vec<Node>,
    anchors: HashMap<usize, Node>,
    alias_budget: usize,
    warnings: Vec<Diagnostic>,
}

impl<'a> Builder<'a> {
    fn new(sources: &'a Sources, id: SourceId, base: usize, subject: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(subject.match_indices('\n').map(|(i, _)| i + 1));
        Builder {
            sources,
            id,
            base,
            subject,
            line_starts,
            stack: Vec::new(),
            docs: Vec::new(),
            anchors: HashMap::new(),
            alias_budget: MAX_ALIAS_NODES,
            warnings: Vec::new(),
        }
    }

    /// Byte offset in `subject` of a parser marker (line 1-based, column 0-based in chars).
    fn local(&self, mark: Marker) -> usize {
        let Some(&start) = mark.line().checked_sub(1).and_then(|l| self.line_starts.get(l)) else {
            return self.subject.len();
        };
        let rest = &self.subject[start..];
        start + rest.char_indices().nth(mark.col()).map_or(rest.len(), |(i, _)| i)
    }

    /// Byte offset in `subject` of a span of this subject.
    fn local_of(&self, span: Span) -> usize {
        span.offset.saturating_sub(self.base).min(self.subject.len())
    }

    /// A span of `subject[local..local + len]`.
    fn span(&self, local: usize, len: usize) -> Span {
        self.sources.span(self.id, self.base + local, len)
    }

    /// Length of the rest of the line at `local`, without trailing blanks or a ` #` comment.
    fn rest_of_line(&self, local: usize) -> usize {
        let rest = &self.subject[local.min(self.subject.len())..];
        let line = rest.split('\n').next().unwrap_or("");
        let line = match line.find(" #") {
            Some(i) => &line[..i],
            None => line,
        };
        line.trim_end().len()
    }

    fn scan_error(&self, e: &ScanError) -> Diagnostic {
        let mut local = self.local(*e.marker());
        if e.info().contains("did not find expected key")
            || e.info().contains("expected '-' indicator")
            || e.info() == "invalid indentation"
        {
            // The culprit is the line's indentation, not the token the scanner stopped at.
            let line_start = self.subject[..local].rfind('\n').map_or(0, |i| i + 1);
            let line = &self.subject[line_start..];
            local = line_start + (line.len() - line.trim_start_matches(' ').len());
        } else if e.info().contains("tab") {
            // Point at the offending tab rather than the token after it.
            let line_start = self.subject[..local].rfind('\n').map_or(0, |i| i + 1);
            if let Some(tab) = self.subject[line_start..local].find('\t') {
                local = line_start + tab;
            }
        }
        let len = self.subject[local..].chars().next().filter(|c| *c != '\n').map_or(0, char::len_utf8);
        let (message, help) = readable_scan_error(e.info());
        let d = Diagnostic::error(self.span(local, len), message);
        match help {
            Some(help) => d.with_help(help),
            None => d,
        }
    }

    fn event(&mut self, event: Event, mark: Marker) -> Result<(), Diagnostic> {
        match event {
            Event::Scalar(value, style, anchor, tag) => {
                let node = self.scalar(value, style, tag, mark)?;
                self.complete(node, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                self.check_collection_tag(tag.as_ref(), "seq", mark)?;
                let start = self.local(mark);
                self.push(Frame::Seq { items: Vec::new(), anchor, start }, mark)
            }
            Event::MappingStart(anchor, tag) => {
                self.check_collection_tag(tag.as_ref(), "map", mark)?;
                let start = self.local(mark);
                let frame =
                    MapFrame { entries: Map::new(), merged: Vec::new(), key: None, first_key: None, anchor, start };
                self.push(Frame::Map(frame), mark)
            }
            // Whether a collection was `[…]`/`{…}` is only known at its end: the end marker of a
            // flow collection is its closing bracket (block collections cannot sit in flow ones).
            Event::SequenceEnd => match self.stack.pop() {
                Some(Frame::Seq { items, anchor, start }) => {
                    let end = self.local(mark);
                    let flow = self.subject[end..].starts_with(']');
                    let span = if flow {
                        self.span(start, self.flow_len(start, end))
                    } else {
                        self.block_seq_span(start, items.first())
                    };
                    let mut node = Node::new(NodeKind::Seq(items), span);
                    node.style = if flow { Style::Flow } else { Style::Block };
                    self.complete(node, anchor)
                }
                _ => Err(self.internal(mark)),
            },
            Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Map(frame)) => {
                    let end = self.local(mark);
                    let flow = self.subject[end..].starts_with('}');
                    let span = match (flow, frame.first_key) {
                        (true, _) => self.span(frame.start, self.flow_len(frame.start, end)),
                        (false, Some(key)) => {
                            let start = self.local_of(key);
                            self.span(start, self.rest_of_line(start))
                        }
                        (false, None) => self.span(frame.start, 0),
                    };
                    let entries = if frame.merged.is_empty() {
                        frame.entries
                    } else {
                        // PyYAML puts merged pairs first and lets later pairs win, keeping the
                        // position where a key first appeared.
                        let mut all = Map::new();
                        for (k, kspan, v) in frame.merged {
                            all.insert(k, (kspan, v));
                        }
                        for (k, entry) in frame.entries {
                            all.insert(k, entry);
                        }
                        all
                    };
                    let mut node = Node::new(NodeKind::Map(entries), span);
                    node.style = if flow { Style::Flow } else { Style::Block };
                    self.complete(node, frame.anchor)
                }
                _ => Err(self.internal(mark)),
            },
            Event::Alias(id) => {
                let at = self.local(mark);
                let Some(node) = self.anchors.get(&id) else {
                    return Err(Diagnostic::error(self.span(at, 1), "unknown anchor"));
                };
                let size = node.size();
                if size > self.alias_budget {
                    return Err(Diagnostic::error(
                        self.span(at, self.rest_of_line(at)),
                        "aliases expand to too many values",
                    )
                    .with_help(format!("at most {MAX_ALIAS_NODES} values may be copied by aliases in one file")));
                }
                if self.stack.len() + node.depth() > MAX_DEPTH {
                    return Err(self.too_deep(mark));
                }
                self.alias_budget -= size;
                let node = node.clone();
                self.complete(node, 0)
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd => {
                Ok(())
            }
        }
    }

    fn internal(&self, mark: Marker) -> Diagnostic {
        Diagnostic::error(self.span(self.local(mark), 0), "unbalanced YAML structure")
    }

    fn too_deep(&self, mark: Marker) -> Diagnostic {
        Diagnostic::error(self.span(self.local(mark), 1), format!("values nest more than {MAX_DEPTH} levels deep"))
    }

    fn push(&mut self, frame: Frame, mark: Marker) -> Result<(), Diagnostic> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.too_deep(mark));
        }
        self.stack.push(frame);
        Ok(())
    }

    /// Length of a flow collection from `start` to its closing bracket at `end`, if both are on
    /// one line; else the rest of the first line.
    fn flow_len(&self, start: usize, end: usize) -> usize {
        let text = self.subject.get(start..end).unwrap_or("");
        if end > start && !text.contains('\n') {
            end + 1 - start
        } else {
            self.rest_of_line(start)
        }
    }

    /// The span of a block sequence: from the `-` of its first item to the end of that line.
    ///
    /// The parser's marker points at the first item's content (or after its first key), so the
    /// first item's own span is used when it is on the marker's line (an alias copy is not).
    fn block_seq_span(&self, marker: usize, first: Option<&Node>) -> Span {
        let marker_line = self.span(marker, 0).line;
        let mut at = match first {
            Some(node) if node.span.source == self.id && node.span.line == marker_line => self.local_of(node.span),
            _ => marker,
        };
        let before = self.subject[..at].trim_end_matches([' ', '\t']);
        if before.ends_with('-') {
            at = before.len() - 1;
        }
        self.span(at, self.rest_of_line(at))
    }

    fn check_collection_tag(&self, tag: Option<&Tag>, expected: &str, mark: Marker) -> Result<(), Diagnostic> {
        match tag {
            None => Ok(()),
            Some(tag) if is_core(tag) && tag.suffix == expected => Ok(()),
            Some(tag) => Err(Diagnostic::error(
                self.span(self.local(mark), 1),
                format!("unsupported YAML tag `{}`", tag_text(tag)),
            )),
        }
    }

    fn scalar(&self, value: String, style: TScalarStyle, tag: Option<Tag>, mark: Marker) -> Result<Node, Diagnostic> {
        let mut local = self.local(mark);
        let style = match style {
            TScalarStyle::Plain => Style::Plain,
            TScalarStyle::SingleQuoted => Style::SingleQuoted,
            TScalarStyle::DoubleQuoted => Style::DoubleQuoted,
            TScalarStyle::Literal => Style::Literal,
            TScalarStyle::Folded => Style::Folded,
        };
        if matches!(style, Style::Literal | Style::Folded) {
            // The marker points at the content; point at the `|`/`>` header instead.
            if let Some(header) = block_header_before(self.subject, local) {
                local = header;
            }
        }
        let kind = match &tag {
            None if style == Style::Plain => resolve_plain(&value),
            None => NodeKind::Str(value.clone()),
            Some(tag) if is_non_specific(tag) => NodeKind::Str(value.clone()),
            Some(tag) if is_core(tag) => {
                let resolved = resolve_plain(&value);
                match (tag.suffix.as_str(), resolved) {
                    ("str", _) => NodeKind::Str(value.clone()),
                    ("null", k @ NodeKind::Null)
                    | ("bool", k @ NodeKind::Bool(_))
                    | ("int", k @ NodeKind::Int(_))
                    | ("float", k @ NodeKind::Float(_)) => k,
                    ("float", NodeKind::Int(i)) => NodeKind::Float(i as f64),
                    (suffix, _) => {
                        return Err(Diagnostic::error(
                            self.span(local, self.rest_of_line(local)),
                            format!("`{value}` is not a valid `!!{suffix}` value"),
                        ))
                    }
                }
            }
            Some(tag) => {
                return Err(Diagnostic::error(
                    self.span(local, self.rest_of_line(local)),
                    format!("unsupported YAML tag `{}`", tag_text(tag)),
                ))
            }
        };
        let len = match decode_scalar(self.subject, local, Some(&value)) {
            Some(map) => map.consumed,
            None => self.rest_of_line(local),
        };
        let mut span = self.span(local, len);
        if value.is_empty() && style == Style::Plain {
            // An empty value's marker is at the next token; point at the key that lacks it.
            if let Some(Frame::Map(MapFrame { key: Some((_, key_span)), .. })) = self.stack.last() {
                span = *key_span;
            } else {
                span.len = 0;
            }
        }
        let raw = match kind {
            NodeKind::Str(_) => None,
            _ => Some(value),
        };
        Ok(Node { kind, span, style, raw, note: None })
    }

    /// Attaches a finished node to its parent (or makes it a document).
    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), Diagnostic> {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some(top) = self.stack.last_mut() else {
            self.docs.push(node);
            return Ok(());
        };
        match top {
            Frame::Seq { items, .. } => items.push(node),
            Frame::Map(frame) => match frame.key.take() {
                None => {
                    let key = match (&node.kind, node.style, node.raw.as_deref()) {
                        (NodeKind::Str(s), Style::Plain, _) if s == "<<" => None,
                        (NodeKind::Str(s), _, _) => Some(s.clone()),
                        (NodeKind::Seq(_) | NodeKind::Map(_), _, _) => {
                            return Err(Diagnostic::error(
                                node.span,
                                format!("a mapping key must be a single value, found {}", node.describe()),
                            ))
                        }
                        (_, _, raw) => Some(raw.unwrap_or_default().to_string()),
                    };
                    frame.first_key.get_or_insert(node.span);
                    frame.key = Some((key, node.span));
                }
                Some((None, key_span)) => {
                    let pairs = merge_pairs(node, key_span)?;
                    frame.merged.extend(pairs);
                }
                Some((Some(key), key_span)) => {
                    if let Some((old_span, _)) = frame.entries.get(&key) {
                        let old_span = *old_span;
                        self.warnings.push(
                            Diagnostic::warning(
                                key_span,
                                format!("duplicate key `{key}`: this value replaces the earlier one"),
                            )
                            .with_label(old_span, "earlier value, ignored"),
                        );
                    }
                    frame.entries.insert(key, (key_span, node));
                }
            },
        }
        Ok(())
    }
}

/// The pairs a `<<` merge key contributes, in PyYAML's order (for a list of mappings the
/// last one comes first, so that earlier mappings win).
fn merge_pairs(node: Node, key_span: Span) -> Result<Vec<(String, Span, Node)>, Diagnostic> {
    let bad = |span: Span| {
        Diagnostic::error(span, "a merge key `<<` needs a mapping or a list of mappings")
            .with_label(key_span, "merge key here")
    };
    match node.kind {
        NodeKind::Map(m) => Ok(m.into_iter().map(|(k, (ks, v))| (k, ks, v)).collect()),
        NodeKind::Seq(items) => {
            let mut pairs = Vec::new();
            for item in items.into_iter().rev() {
                let span = item.span;
                match item.kind {
                    NodeKind::Map(m) => pairs.extend(m.into_iter().map(|(k, (ks, v))| (k, ks, v))),
                    _ => return Err(bad(span)),
                }
            }
            Ok(pairs)
        }
        _ => Err(bad(node.span)),
    }
}

fn is_core(tag: &Tag) -> bool {
    tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!"
}

fn is_non_specific(tag: &Tag) -> bool {
    (tag.handle.is_empty() && tag.suffix == "!") || (tag.handle == "!" && tag.suffix.is_empty())
}

fn tag_text(tag: &Tag) -> String {
    if tag.handle == "tag:yaml.org,2002:" {
        format!("!!{}", tag.suffix)
    } else {
        format!("{}{}", tag.handle, tag.suffix)
    }
}

/// yaml-rust2's scanner messages, rephrased for people who edit configs.
fn readable_scan_error(info: &str) -> (String, Option<String>) {
    let help_indent = Some("check the indentation of this line and the line above".to_string());
    let (msg, help) = match info {
        "mapping values are not allowed in this context" => (
            "unexpected `:` here".to_string(),
            Some("a value that contains `: ` must be quoted; otherwise check the indentation".to_string()),
        ),
        "while parsing a block mapping, did not find expected key" => {
            ("expected a key at this indentation".to_string(), help_indent)
        }
        "while parsing a block collection, did not find expected '-' indicator" => {
            ("expected a list item (`- …`) at this indentation".to_string(), help_indent)
        }
        "illegal placement of ':' indicator" => {
            ("unexpected `:` here".to_string(), Some("is a closing `]` or `}` missing before this point?".to_string()))
        }
        "while parsing a flow sequence, expected ',' or ']'" => {
            ("expected `,` or `]` in this `[…]` list".to_string(), None)
        }
        "while parsing a flow mapping, did not find expected ',' or '}'" => {
            ("expected `,` or `}` in this `{…}` mapping".to_string(), None)
        }
        "while scanning a quoted scalar, found unexpected end of stream" => {
            ("this quoted string is never closed".to_string(), None)
        }
        "while parsing node, found unknown anchor" => (
            "this alias refers to an anchor that is not defined before it".to_string(),
            Some("define `&name` on a value above before using `*name`".to_string()),
        ),
        "while parsing a node, did not find expected node content" => ("expected a value here".to_string(), None),
        "invalid indentation" => ("invalid indentation".to_string(), help_indent),
        "while scanning a plain scalar, found a tab" => {
            ("a tab is not allowed here".to_string(), Some("use spaces".to_string()))
        }
        "unexpected eof" => ("unexpected end of file".to_string(), None),
        other if other.contains("tab") => {
            ("tabs cannot be used for indentation in YAML".to_string(), Some("indent with spaces".to_string()))
        }
        other if other.starts_with("unexpected character") => {
            let ch = other.trim_start_matches("unexpected character: ").trim_matches(['`', '\'']);
            (format!("a value cannot start with `{ch}`"), Some("put the value in quotes".to_string()))
        }
        other => {
            let mut msg = other.to_string();
            for prefix in ["while scanning ", "while parsing "] {
                if let Some(rest) = msg.strip_prefix(prefix) {
                    msg = rest.replacen(", ", ": ", 1);
                }
            }
            (msg, None)
        }
    };
    (format!("invalid YAML: {msg}"), help)
}

/// Reads a text that is JSON but not valid YAML (positions are only known for errors).
fn json_fallback(sources: &Sources, id: SourceId) -> Result<Node, Diagnostic> {
    let text = sources.get(id).text();
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(value) => {
            let start = text.len() - text.trim_start().len();
            let span = sources.span(id, start, 1);
            let node = from_json(value, span);
            if node.as_map().is_none() {
                return Err(Diagnostic::error(span, "a JSON config must be an object"));
            }
            Ok(node)
        }
        Err(e) => {
            let file = sources.get(id);
            let offset = file.offset_of(e.line(), e.column().saturating_sub(1));
            Err(Diagnostic::error(sources.span(id, offset, 1), format!("invalid JSON: {e}")))
        }
    }
}

/// A JSON tree as a located tree, every node at `span`.
pub(crate) fn from_json(value: serde_json::Value, span: Span) -> Node {
    use serde_json::Value;
    let kind = match value {
        Value::Null => NodeKind::Null,
        Value::Bool(b) => NodeKind::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => NodeKind::Int(i),
            None => NodeKind::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => NodeKind::Str(s),
        Value::Array(items) => NodeKind::Seq(items.into_iter().map(|v| from_json(v, span)).collect()),
        Value::Object(m) => NodeKind::Map(m.into_iter().map(|(k, v)| (k, (span, from_json(v, span)))).collect()),
    };
    Node::new(kind, span)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(text: &str) -> (Sources, Result<Parsed, Diagnostic>) {
        let mut sources = Sources::new();
        let id = sources.add_file(Path::new("t.yml"), text.to_string());
        let parsed = parse_config(&sources, id);
        (sources, parsed)
    }

    fn doc(text: &str) -> (Sources, Node) {
        let (sources, parsed) = parse(text);
        let mut parsed = parsed.unwrap_or_else(|e| panic!("{}", e.render(&sources)));
        assert_eq!(parsed.docs.len(), 1);
        (sources, parsed.docs.remove(0))
    }

    #[test]
    fn scalars_keep_style_raw_text_and_spans() {
        let (sources, root) = doc("a: 200\nb: '200'\nc: \"x\\ty\"\nd: yes\ne:\nf: |\n  line1\n  line2\n200: code\n");
        let a = root.get("a").unwrap();
        assert_eq!(a.as_i64(), Some(200));
        assert_eq!(a.raw.as_deref(), Some("200"));
        assert!(a.is_plain());
        assert_eq!((a.span.line, a.span.col, a.span.len), (1, 4, 3));
        let b = root.get("b").unwrap();
        assert_eq!(b.as_str(), Some("200"));
        assert_eq!(b.style, Style::SingleQuoted);
        assert_eq!(sources.slice(b.span), "'200'");
        let c = root.get("c").unwrap();
        assert_eq!(c.as_str(), Some("x\ty"));
        assert_eq!(sources.slice(c.span), "\"x\\ty\"");
        assert_eq!(root.get("d").unwrap().as_bool(), Some(true));
        let e = root.get("e").unwrap();
        assert!(e.is_null());
        assert_eq!(sources.slice(e.span), "e", "an empty value points at its key");
        let f = root.get("f").unwrap();
        assert_eq!(f.as_str(), Some("line1\nline2\n"));
        assert_eq!((f.span.line, f.span.col), (6, 4));
        assert!(root.get("200").is_some(), "non-string keys become their text");
        let key_span = root.key_span("b").unwrap();
        assert_eq!((key_span.line, key_span.col, key_span.len), (2, 1, 1));
    }

    #[test]
    fn collections_point_at_their_start() {
        let (sources, root) = doc("execution:\n- concurrency: 1\n  scenario: s\nflow: {a: 1, b: [1, 2]}\n");
        let exec = root.get("execution").unwrap();
        assert_eq!((exec.span.line, exec.span.col), (2, 1));
        assert_eq!(sources.slice(exec.span), "- concurrency: 1");
        let item = &exec.as_seq().unwrap()[0];
        assert_eq!(sources.slice(item.span), "concurrency: 1");
        let flow = root.get("flow").unwrap();
        assert_eq!(sources.slice(flow.span), "{a: 1, b: [1, 2]}");
        assert_eq!(sources.slice(flow.get("b").unwrap().span), "[1, 2]");
        assert_eq!(flow.style, Style::Flow);
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let (_, root) = doc(
            "base: &b {timeout: 5s, think-time: 1s}\ns1:\n  <<: *b\n  timeout: 9s\nlist: [&x 1, *x]\ns2:\n  <<: [{a: 1}, {a: 2, c: 3}]\n",
        );
        let s1 = root.get("s1").unwrap();
        assert_eq!(s1.get("timeout").unwrap().as_str(), Some("9s"));
        assert_eq!(s1.get("think-time").unwrap().as_str(), Some("1s"));
        let keys: Vec<&String> = s1.as_map().unwrap().keys().collect();
        assert_eq!(keys, ["timeout", "think-time"]);
        assert_eq!(root.get("list").unwrap().as_seq().unwrap().len(), 2);
        let s2 = root.get("s2").unwrap();
        assert_eq!(s2.get("a").unwrap().as_i64(), Some(1), "the first merged mapping wins");
        assert_eq!(s2.get("c").unwrap().as_i64(), Some(3));
    }

    #[test]
    fn duplicate_keys_warn_and_last_wins() {
        let (sources, parsed) = parse("a: 1\nb: 2\na: 3\n");
        let parsed = parsed.unwrap();
        let root = &parsed.docs[0];
        assert_eq!(root.get("a").unwrap().as_i64(), Some(3));
        let keys: Vec<&String> = root.as_map().unwrap().keys().collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(parsed.warnings.len(), 1);
        assert_eq!(
            parsed.warnings[0].render(&sources),
            "warning: duplicate key `a`: this value replaces the earlier one
  --> t.yml:3:1
   |
 3 | a: 3
   | ^
   |
  ::: t.yml:1:1
   |
 1 | a: 1
   | - earlier value, ignored
"
        );
    }

    #[test]
    fn multi_documents_and_non_mapping_documents() {
        let (_, parsed) = parse("a: 1\n---\n---\nb: 2\n...\n");
        assert_eq!(parsed.unwrap().docs.len(), 2);
        let (sources, parsed) = parse("a: 1\n---\n- 2\n");
        let err = parsed.unwrap_err();
        assert_eq!(
            err.one_line(&sources),
            "t.yml:3:1: error: a config document must be a mapping of keys to values, found a list"
        );
    }

    #[test]
    fn corpus_multi_docs_and_json() {
        let Some(shared) = crate::testing::shared() else { return };
        let dir = shared.join("corpus/taurus");
        let mut sources = Sources::new();
        for (name, docs) in [("tr-yaml__multi-docs.yml", 2), ("tr-json__merge1.json", 1), ("tr-json__get-post.json", 1)]
        {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let id = sources.add_file(&path, text);
            let parsed = parse_config(&sources, id).unwrap_or_else(|e| panic!("{}", e.render(&sources)));
            assert_eq!(parsed.docs.len(), docs, "{name}");
        }
    }

    #[test]
    fn syntax_errors_point_at_the_right_place() {
        let (sources, parsed) = parse("execution:\n- concurrency: 10\n  hold-for: 1m\n scenario: s\n");
        let err = parsed.unwrap_err();
        assert_eq!(
            err.render(&sources),
            "error: invalid YAML: expected a key at this indentation
  --> t.yml:4:2
   |
 4 |  scenario: s
   |  ^
   = help: check the indentation of this line and the line above
"
        );
        let (sources, parsed) = parse("a: b: c\n");
        assert_eq!(parsed.unwrap_err().one_line(&sources), "t.yml:1:5: error: invalid YAML: unexpected `:` here");
        let (sources, parsed) = parse("a: \"x\n");
        assert_eq!(
            parsed.unwrap_err().one_line(&sources),
            "t.yml:1:4: error: invalid YAML: this quoted string is never closed"
        );
        let (sources, parsed) = parse("a:\n\t- 1\n");
        assert_eq!(
            parsed.unwrap_err().one_line(&sources),
            "t.yml:2:1: error: invalid YAML: tabs cannot be used for indentation in YAML"
        );
        let (sources, parsed) = parse("{\"a\": 1,, }");
        let err = parsed.unwrap_err();
        assert!(err.message.starts_with("invalid JSON"), "{}", err.render(&sources));
    }

    #[test]
    fn tags() {
        let (_, root) = doc("a: !!str 12\nb: ! 12\nc: !!int '7'\nd: !!float 1\n");
        assert_eq!(root.get("a").unwrap().as_str(), Some("12"));
        assert_eq!(root.get("b").unwrap().as_str(), Some("12"));
        assert_eq!(root.get("c").unwrap().as_i64(), Some(7));
        assert_eq!(root.get("d").unwrap().as_f64(), Some(1.0));
        let (_, parsed) = parse("a: !custom x\n");
        assert!(parsed.unwrap_err().message.contains("unsupported YAML tag `!custom`"));
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n";
        assert!(parse(laughs).1.is_err());
        let deep = "- ".repeat(5000) + "x\n";
        assert!(parse(&deep).1.is_err());
        let deep_flow = "[".repeat(300) + &"]".repeat(300);
        assert!(parse(&format!("a: {deep_flow}")).1.is_err());
        for text in ["", "\u{feff}", "? [a]\n: b\n", "a: |\n", "'", "- a\n- b: [\n", "a: *x\n", "{", "a: 0b_\n"] {
            let _ = parse(text);
        }
    }
}
