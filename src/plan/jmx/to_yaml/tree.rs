//! A small ordered YAML tree that can carry comment lines, printed in block style as
//! `config::emit` prints the effective config (and with its quoting, so every string reads back
//! as the same string under YAML 1.1 rules). A comment belongs to the entry or list item below
//! it; an item may be comments alone (an element written as a comment only).

use crate::config::emit::{float_text, literal_block, scalar_string};

/// A value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Map(Map),
    Seq(Seq),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Map(m)
    }
}

impl From<Seq> for Value {
    fn from(s: Seq) -> Self {
        Value::Seq(s)
    }
}

/// A mapping, keys in the order added.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map(pub Vec<Entry>);

/// One key of a [`Map`], with the comment lines above it.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub comments: Vec<String>,
    pub key: String,
    pub value: Value,
}

/// A list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Seq(pub Vec<Item>);

/// One item of a [`Seq`], with the comment lines above it; no value: the comments alone.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    pub comments: Vec<String>,
    pub value: Option<Value>,
}

impl Map {
    /// Adds `key: value` (replacing an earlier value of the key, in its place).
    pub fn put(&mut self, key: &str, value: impl Into<Value>) {
        self.put_noted(Vec::new(), key, value);
    }

    /// Adds `key: value` with comment lines above it.
    pub fn put_noted(&mut self, comments: Vec<String>, key: &str, value: impl Into<Value>) {
        let value = value.into();
        match self.0.iter_mut().find(|e| e.key == key) {
            Some(e) => {
                e.comments.extend(comments);
                e.value = value;
            }
            None => self.0.push(Entry { comments, key: key.to_string(), value }),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Seq {
    /// Adds an item with comment lines above it.
    pub fn push_noted(&mut self, comments: Vec<String>, value: impl Into<Value>) {
        self.0.push(Item { comments, value: Some(value.into()) });
    }

    /// Adds comment lines that stand for an element left out.
    pub fn comment(&mut self, comments: Vec<String>) {
        if !comments.is_empty() {
            self.0.push(Item { comments, value: None });
        }
    }

    /// Whether it holds no value (comments alone do not count).
    pub fn has_values(&self) -> bool {
        self.0.iter().any(|i| i.value.is_some())
    }
}

/// The document: `root` in block style, after the `header` comment lines.
pub fn print(header: &[String], root: &Map) -> String {
    let mut out = String::new();
    comments(header, 0, &mut out);
    block_map(root, 0, false, &mut out);
    out
}

fn comments(lines: &[String], indent: usize, out: &mut String) {
    for line in lines {
        out.push_str(&" ".repeat(indent));
        out.push('#');
        // A comment is one line whatever its text holds.
        let text: String = line.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        if !text.is_empty() {
            out.push(' ');
            out.push_str(text.trim_end());
        }
        out.push('\n');
    }
}

fn non_empty(v: &Value) -> bool {
    match v {
        Value::Map(m) => !m.is_empty(),
        Value::Seq(s) => !s.0.is_empty(),
        _ => false,
    }
}

/// Comment lines of the first line of `v` when written as a list item: they go above the `-`.
fn first_comments(v: &Value) -> &[String] {
    match v {
        Value::Map(m) => m.0.first().map_or(&[], |e| e.comments.as_slice()),
        Value::Seq(s) => s.0.first().map_or(&[], |i| i.comments.as_slice()),
        _ => &[],
    }
}

/// `skip_first`: the first entry's comments were written already (above a `-`).
fn block_map(m: &Map, indent: usize, skip_first: bool, out: &mut String) {
    let pad = " ".repeat(indent);
    for (i, e) in m.0.iter().enumerate() {
        if !(skip_first && i == 0) {
            comments(&e.comments, indent, out);
        }
        out.push_str(&pad);
        out.push_str(&scalar_string(&e.key, true));
        out.push(':');
        match &e.value {
            Value::Map(inner) if !inner.is_empty() => {
                out.push('\n');
                block_map(inner, indent + 2, false, out);
            }
            // Lists under a key are written at the key's indentation, as PyYAML does.
            Value::Seq(items) if !items.0.is_empty() => {
                out.push('\n');
                block_seq(items, indent, false, out);
            }
            v => {
                out.push(' ');
                inline(v, indent + 2, out);
                out.push('\n');
            }
        }
    }
}

fn block_seq(s: &Seq, indent: usize, skip_first: bool, out: &mut String) {
    let pad = " ".repeat(indent);
    for (i, item) in s.0.iter().enumerate() {
        if !(skip_first && i == 0) {
            comments(&item.comments, indent, out);
        }
        let Some(value) = &item.value else { continue };
        if non_empty(value) {
            // The item's first line goes after the `- `: its comments go above the `-`.
            comments(first_comments(value), indent, out);
            let mut sub = String::new();
            match value {
                Value::Map(m) => block_map(m, indent + 2, true, &mut sub),
                Value::Seq(s) => block_seq(s, indent + 2, true, &mut sub),
                _ => {}
            }
            out.push_str(&pad);
            out.push_str("- ");
            out.push_str(sub.get(indent + 2..).unwrap_or(&sub));
        } else {
            out.push_str(&pad);
            out.push_str("- ");
            inline(value, indent + 2, out);
            out.push('\n');
        }
    }
}

fn inline(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Str(s) => match literal_block(s, indent) {
            Some(text) => out.push_str(&text),
            None => out.push_str(&scalar_string(s, false)),
        },
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::Float(f) => out.push_str(&float_text(*f)),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Map(_) => out.push_str("{}"),
        Value::Seq(_) => out.push_str("[]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_sit_above_their_entry_and_above_the_dash_of_an_item() {
        let mut req = Map::default();
        req.put_noted(vec!["about the label".into()], "label", "a: b");
        req.put("url", "/x");
        let mut body = Map::default();
        body.put("k", "yes");
        req.put_noted(vec!["about the body".into()], "body", body);
        let mut list = Seq::default();
        list.push_noted(vec!["about the request".into()], req);
        list.comment(vec!["left out".into()]);
        list.push_noted(Vec::new(), "http://h/");
        let mut root = Map::default();
        root.put("requests", list);
        root.put("empty", Seq::default());
        root.put("text", "line1\nline2\n");
        assert_eq!(
            print(&["head".into()], &root),
            "\
# head
requests:
# about the request
# about the label
- label: 'a: b'
  url: /x
  # about the body
  body:
    k: 'yes'
# left out
- http://h/
empty: []
text: |
  line1
  line2
"
        );
    }

    #[test]
    fn comment_text_stays_on_one_line() {
        let mut root = Map::default();
        root.put_noted(vec!["a\nb\r".into()], "k", 1);
        assert_eq!(print(&[], &root), "# a b\nk: 1\n");
    }
}
