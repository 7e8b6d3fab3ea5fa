//! The located tree: every value of the merged configuration with the [`Span`] of the text that
//! set it. Merging, overrides and substitution rewrite this tree; the typed model is read from it
//! with [`crate::config::de::from_node`].

use std::borrow::Cow;
use std::fmt;

use indexmap::IndexMap;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::config::source::Span;

/// A mapping: keys in file order, each with the span of the key itself.
pub type Map = IndexMap<String, (Span, Node)>;

/// One value of the configuration and where it was written.
#[derive(Clone, Debug)]
pub struct Node {
    /// The value.
    pub kind: NodeKind,
    /// Where the value was written (for a substituted value: where the placeholder was).
    pub span: Span,
    /// How the value was written; env substitution only retypes [`Style::Plain`] scalars.
    pub style: Style,
    /// For scalars resolved to null, a boolean or a number: the text as written (`yes`, `0x1F`).
    pub raw: Option<String>,
    /// Provenance worth telling the user, e.g. which `${VAR}` produced the value.
    pub note: Option<String>,
}

/// The value of a [`Node`].
#[derive(Clone, Debug)]
pub enum NodeKind {
    /// `~`, `null` or nothing.
    Null,
    /// `true`/`false` and the YAML 1.1 spellings (`yes`, `off`, …).
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number with a fraction, `.inf` or `.nan`.
    Float(f64),
    /// Any other scalar, and every quoted or block scalar.
    Str(String),
    /// A list.
    Seq(Vec<Node>),
    /// A mapping, keys in file order.
    Map(Map),
}

/// How a node was written in its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// An unquoted scalar.
    Plain,
    /// `'…'`
    SingleQuoted,
    /// `"…"`
    DoubleQuoted,
    /// `|` block scalar.
    Literal,
    /// `>` block scalar.
    Folded,
    /// An indented collection.
    Block,
    /// A `[…]` or `{…}` collection.
    Flow,
}

impl Node {
    /// A node of the given kind at `span` (plain style, no raw text).
    pub fn new(kind: NodeKind, span: Span) -> Self {
        let style = match kind {
            NodeKind::Seq(_) | NodeKind::Map(_) => Style::Block,
            _ => Style::Plain,
        };
        Node { kind, span, style, raw: None, note: None }
    }

    /// An empty mapping at `span`.
    pub fn empty_map(span: Span) -> Self {
        Node::new(NodeKind::Map(Map::new()), span)
    }

    /// Whether the node is an unquoted scalar.
    pub fn is_plain(&self) -> bool {
        self.style == Style::Plain
    }

    /// Whether the node is null.
    pub fn is_null(&self) -> bool {
        matches!(self.kind, NodeKind::Null)
    }

    /// The mapping, if this is one.
    pub fn as_map(&self) -> Option<&Map> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The mapping, mutably, if this is one.
    pub fn as_map_mut(&mut self) -> Option<&mut Map> {
        match &mut self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The list, if this is one.
    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    /// The string, if this is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self.kind {
            NodeKind::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The number as a float, for integers and floats.
    pub fn as_f64(&self) -> Option<f64> {
        match self.kind {
            NodeKind::Int(i) => Some(i as f64),
            NodeKind::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self.kind {
            NodeKind::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The value under `key`, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.get(key).map(|(_, node)| node)
    }

    /// The value under `key`, mutably.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.as_map_mut()?.get_mut(key).map(|(_, node)| node)
    }

    /// The span of the key `key`, if this is a mapping that has it.
    pub fn key_span(&self, key: &str) -> Option<Span> {
        self.as_map()?.get(key).map(|(span, _)| *span)
    }

    /// Follows a path of mapping keys and list indexes, e.g. `["scenarios", "s", "requests", "0"]`.
    pub fn pointer<'a>(&self, path: impl IntoIterator<Item = &'a str>) -> Option<&Node> {
        let mut node = self;
        for part in path {
            node = match &node.kind {
                NodeKind::Map(m) => &m.get(part)?.1,
                NodeKind::Seq(items) => items.get(part.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The text of a scalar as a string-typed field would read it: strings as they are, other
    /// scalars as written (`200`, `yes`, `1.50`). `None` for null and collections.
    pub fn scalar_text(&self) -> Option<Cow<'_, str>> {
        match &self.kind {
            NodeKind::Str(s) => Some(Cow::Borrowed(s)),
            NodeKind::Null | NodeKind::Seq(_) | NodeKind::Map(_) => None,
            _ => Some(match &self.raw {
                Some(raw) => Cow::Borrowed(raw.as_str()),
                None => Cow::Owned(self.kind.scalar_to_string()),
            }),
        }
    }

    /// What kind of value this is, in words for messages: "a string", "a list", …
    pub fn describe(&self) -> &'static str {
        self.kind.describe()
    }

    /// Converts to a plain `serde_yaml::Value` (keys in order, locations dropped), for tests to
    /// compare trees with.
    #[cfg(test)]
    pub fn to_value(&self) -> serde_yaml::Value {
        use serde_yaml::Value;
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b) => Value::Bool(*b),
            NodeKind::Int(i) => Value::Number((*i).into()),
            NodeKind::Float(f) => Value::Number((*f).into()),
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Sequence(items.iter().map(Node::to_value).collect()),
            NodeKind::Map(m) => {
                Value::Mapping(m.iter().map(|(k, (_, v))| (Value::String(k.clone()), v.to_value())).collect())
            }
        }
    }

    /// Number of nodes in this subtree (used to bound alias expansion).
    pub(crate) fn size(&self) -> usize {
        1 + match &self.kind {
            NodeKind::Seq(items) => items.iter().map(Node::size).sum(),
            NodeKind::Map(m) => m.values().map(|(_, v)| v.size()).sum(),
            _ => 0,
        }
    }

    /// Nesting depth of this subtree (a scalar is 0).
    pub(crate) fn depth(&self) -> usize {
        match &self.kind {
            NodeKind::Seq(items) => 1 + items.iter().map(Node::depth).max().unwrap_or(0),
            NodeKind::Map(m) => 1 + m.values().map(|(_, v)| v.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }
}

impl NodeKind {
    /// What kind of value this is, in words for messages.
    pub fn describe(&self) -> &'static str {
        match self {
            NodeKind::Null => "an empty value",
            NodeKind::Bool(_) => "a boolean",
            NodeKind::Int(_) | NodeKind::Float(_) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// A scalar's canonical text (for values that have no written form).
    fn scalar_to_string(&self) -> String {
        match self {
            NodeKind::Null => String::new(),
            NodeKind::Bool(b) => b.to_string(),
            NodeKind::Int(i) => i.to_string(),
            NodeKind::Float(f) if f.is_infinite() => {
                if *f > 0.0 {
                    ".inf".into()
                } else {
                    "-.inf".into()
                }
            }
            NodeKind::Float(f) if f.is_nan() => ".nan".into(),
            NodeKind::Float(f) => format!("{f:?}"),
            NodeKind::Str(s) => s.clone(),
            NodeKind::Seq(_) | NodeKind::Map(_) => String::new(),
        }
    }
}

/// Compares values only; locations, styles and notes are ignored.
impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        match (&self.kind, &other.kind) {
            (NodeKind::Null, NodeKind::Null) => true,
            (NodeKind::Bool(a), NodeKind::Bool(b)) => a == b,
            (NodeKind::Int(a), NodeKind::Int(b)) => a == b,
            (NodeKind::Float(a), NodeKind::Float(b)) => a == b,
            (NodeKind::Str(a), NodeKind::Str(b)) => a == b,
            (NodeKind::Seq(a), NodeKind::Seq(b)) => a == b,
            (NodeKind::Map(a), NodeKind::Map(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|((ka, (_, va)), (kb, (_, vb)))| ka == kb && va == vb)
            }
            _ => false,
        }
    }
}

/// Serializes the value as plain data (keys in order, locations dropped).
impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.kind {
            NodeKind::Null => serializer.serialize_unit(),
            NodeKind::Bool(b) => serializer.serialize_bool(*b),
            NodeKind::Int(i) => serializer.serialize_i64(*i),
            NodeKind::Float(f) => serializer.serialize_f64(*f),
            NodeKind::Str(s) => serializer.serialize_str(s),
            NodeKind::Seq(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            NodeKind::Map(m) => {
                let mut map = serializer.serialize_map(Some(m.len()))?;
                for (k, (_, v)) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

impl fmt::Display for Node {
    /// The value as one-line flow YAML-ish text, for messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            NodeKind::Str(s) => f.write_str(s),
            NodeKind::Seq(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            NodeKind::Map(m) => {
                f.write_str("{")?;
                for (i, (k, (_, v))) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
            _ => f.write_str(&self.scalar_text().unwrap_or(Cow::Borrowed("null"))),
        }
    }
}
