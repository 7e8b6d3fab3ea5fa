//! Writes a tree back as block-style YAML (for `effective.yml` and `suite validate`).
//!
//! serde_yaml's emitter is YAML 1.2: it writes the string `yes` or `1:30` unquoted, which
//! PyYAML (and our own YAML 1.1 reader) would read back as a boolean or a number. This emitter
//! quotes every string that the YAML 1.1 rules of [`resolve_plain`] would not read back as the
//! same string, so the output means the same to Taurus and to us. Keys keep their order.

use std::sync::LazyLock;

use regex::Regex;

use crate::config::node::{Node, NodeKind};
use crate::config::yaml::resolve_plain;

/// PyYAML reads these as dates; they must stay strings.
static TIMESTAMP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}").expect("valid regex"));

/// The tree as YAML text, ending with a newline.
pub fn to_yaml(node: &Node) -> String {
    let mut out = String::new();
    match &node.kind {
        NodeKind::Map(m) if !m.is_empty() => block(node, 0, &mut out),
        NodeKind::Seq(items) if !items.is_empty() => block(node, 0, &mut out),
        _ => {
            inline(node, 0, &mut out);
            out.push('\n');
        }
    }
    out
}

/// A JSON tree as YAML, with the same quoting (so YAML 1.1 readers such as Kubernetes' read
/// back every string as a string); object keys in the tree's order (sorted, for serde_json).
pub fn json_to_yaml(value: serde_json::Value) -> String {
    to_yaml(&crate::config::yaml::from_json(value, Default::default()))
}

/// Writes a non-empty collection, each line indented by `indent`.
fn block(node: &Node, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match &node.kind {
        NodeKind::Map(map) => {
            for (key, (_, value)) in map {
                out.push_str(&pad);
                out.push_str(&scalar_string(key, true));
                out.push(':');
                match &value.kind {
                    NodeKind::Map(m) if !m.is_empty() => {
                        out.push('\n');
                        block(value, indent + 2, out);
                    }
                    // Lists under a key are written at the key's indentation, as PyYAML does.
                    NodeKind::Seq(items) if !items.is_empty() => {
                        out.push('\n');
                        block(value, indent, out);
                    }
                    _ => {
                        out.push(' ');
                        inline(value, indent + 2, out);
                        out.push('\n');
                    }
                }
            }
        }
        NodeKind::Seq(items) => {
            for item in items {
                out.push_str(&pad);
                out.push('-');
                let nested = match &item.kind {
                    NodeKind::Map(m) => !m.is_empty(),
                    NodeKind::Seq(s) => !s.is_empty(),
                    _ => false,
                };
                if nested {
                    // Write the item one level deeper, then put its first line after the `- `.
                    let mut sub = String::new();
                    block(item, indent + 2, &mut sub);
                    out.push(' ');
                    out.push_str(sub.get(indent + 2..).unwrap_or(&sub));
                } else {
                    out.push(' ');
                    inline(item, indent + 2, out);
                    out.push('\n');
                }
            }
        }
        _ => inline(node, indent, out),
    }
}

/// Writes a scalar or an empty collection; block strings indent their lines by `indent`.
fn inline(node: &Node, indent: usize, out: &mut String) {
    match &node.kind {
        NodeKind::Null => out.push_str("null"),
        NodeKind::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        NodeKind::Int(i) => out.push_str(&i.to_string()),
        NodeKind::Float(f) => out.push_str(&float_text(*f)),
        NodeKind::Str(s) => match literal_block(s, indent) {
            Some(text) => out.push_str(&text),
            None => out.push_str(&scalar_string(s, false)),
        },
        NodeKind::Seq(_) => out.push_str("[]"),
        NodeKind::Map(_) => out.push_str("{}"),
    }
}

/// A float as YAML 1.1 reads it back (`1.0e+20`, not `1e20`, which would be a string).
pub(crate) fn float_text(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf".into() } else { "-.inf".into() };
    }
    let text = format!("{f:?}");
    match text.split_once('e') {
        Some((mantissa, exp)) => {
            let mantissa = if mantissa.contains('.') { mantissa.to_string() } else { format!("{mantissa}.0") };
            let exp = if exp.starts_with('-') { exp.to_string() } else { format!("+{exp}") };
            format!("{mantissa}e{exp}")
        }
        None => text,
    }
}

/// Whether a string can be written without quotes and read back as the same string.
fn plain_ok(s: &str, key: bool) -> bool {
    const INDICATORS: &[char] =
        &['-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`'];
    !s.is_empty()
        && matches!(resolve_plain(s), NodeKind::Str(_))
        && !s.starts_with(INDICATORS)
        && !s.starts_with([' ', '.'])
        && !s.ends_with([' ', ':'])
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.chars().any(char::is_control)
        && s != "<<"
        && s != "="
        && !TIMESTAMP.is_match(s)
        && !(key && s.contains(['[', ']', '{', '}', ',']))
}

/// A single-line string: plain if safe, else single-quoted, else double-quoted with escapes.
pub(crate) fn scalar_string(s: &str, key: bool) -> String {
    if plain_ok(s, key) {
        return s.to_string();
    }
    if !s.chars().any(char::is_control) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A multi-line string as a `|` block, if it can be written as one.
pub(crate) fn literal_block(s: &str, indent: usize) -> Option<String> {
    let printable = s.chars().all(|c| c == '\n' || !c.is_control());
    if !s.contains('\n') || !printable || s.starts_with([' ', '\n']) || s.trim().is_empty() {
        return None;
    }
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    let chomp = match trailing {
        0 => "|-",
        1 => "|",
        _ => "|+",
    };
    let pad = " ".repeat(indent);
    let mut out = chomp.to_string();
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    for _ in 1..trailing {
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::Sources;
    use crate::config::yaml::parse_config;
    use std::path::Path;

    fn parse(text: &str) -> Node {
        let mut sources = Sources::new();
        let id = sources.add_file(Path::new("t.yml"), text.to_string());
        parse_config(&sources, id).unwrap_or_else(|e| panic!("{}\n{text}", e.render(&sources))).docs.remove(0)
    }

    #[test]
    fn writes_block_yaml_like_pyyaml() {
        let node = parse("execution:\n- concurrency: 10\n  scenario: s\nscenarios:\n  s:\n    requests:\n    - /a\n    - [x, y]\n    headers: {}\nempty: []\nn: ~\nf: 1.5\n");
        assert_eq!(
            to_yaml(&node),
            "execution:
- concurrency: 10
  scenario: s
scenarios:
  s:
    requests:
    - /a
    - - x
      - y
    headers: {}
empty: []
n: null
f: 1.5
"
        );
    }

    #[test]
    fn strings_that_yaml_11_would_retype_are_quoted_and_read_back_unchanged() {
        let text = "a: 'yes'\nb: 'On'\nc: '1:30'\nd: '0644'\ne: '1e3'\nf: '~'\ng: ''\nh: '- x'\ni: 'a: b'\nj: 'x #y'\nk: \"tab\\there\"\nl: \"line1\\nline2\\n\"\nm: \"two\\n\\n\"\n'200': code\n'<<': merge\nn: 2020-01-01\no: 1.0e+20\np: .inf\nq: it's\nr: '*/*'\ns: \" lead\"\nt: \"multi\\n  indented\"\n";
        let node = parse(text);
        let written = to_yaml(&node);
        let back = parse(&written);
        assert!(back == node, "{written}");
        assert!(written.contains("a: 'yes'\n"));
        assert!(written.contains("l: |\n  line1\n  line2\n"));
        assert!(written.contains("o: 1.0e+20\n"));
    }

    #[test]
    fn scalars_and_empty_roots() {
        let mut sources = Sources::new();
        let id = sources.add_pseudo("<t>", "x");
        let span = sources.whole(id);
        assert_eq!(to_yaml(&Node::empty_map(span)), "{}\n");
        assert_eq!(to_yaml(&Node::new(NodeKind::Float(1e-7), span)), "1.0e-7\n");
    }
}
