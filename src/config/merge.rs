//! Taurus's deep merge (`bzt/utils.py::BetterDict.merge`), applied to located trees.
//!
//! Rules, for each key of the incoming mapping:
//! * mapping into mapping: merged recursively;
//! * list into list: appended;
//! * anything else (scalars, or a type mismatch such as a mapping onto a list): the incoming
//!   value replaces the old one, silently;
//! * `~key`: the old `key` is removed first, so the value replaces instead of merging;
//! * `^key`: `key` is removed (the value is ignored);
//! * `$key` with a list: element-wise merge: mappings at the same index are merged, anything
//!   else at an existing index replaces (with a warning), extra items are appended.
//!
//! As in Taurus, prefixes are interpreted wherever a mapping is merged into a mapping, including
//! into an absent key, which is how the first file is merged onto the empty start: there `~key`
//! and `$key` simply set `key` and `^key` is dropped. The same holds for mappings inside lists
//! (a `~headers` in a request, a `~local` in a `services` entry) and for a mapping that replaces
//! a value of another type: each is merged onto an empty mapping, as Taurus's
//! `BetterDict.__ensure_list_type` did when the MMS suites were written. (Later Taurus copies
//! such items verbatim and strips the prefix only if the item is merged again, e.g. by the
//! `monitoring` singleton, so elsewhere a `~headers` would be silently ignored.) No prefixed key
//! survives a merge. Every node keeps the span of the file that set it.

use crate::config::diagnostic::Diagnostic;
use crate::config::node::{Map, Node, NodeKind};

/// Merges mapping `src` into mapping `dst`; a non-mapping on either side makes `src` replace `dst`.
pub fn merge(dst: &mut Node, src: Node, warnings: &mut Vec<Diagnostic>) {
    match (&mut dst.kind, src.kind) {
        (NodeKind::Map(into), NodeKind::Map(from)) => merge_maps(into, from, warnings),
        (_, kind) => *dst = normalized(Node { kind, ..src }, warnings),
    }
}

/// `node` as it lands in the tree: mappings, at any depth and inside lists too, merged onto an
/// empty mapping, so their prefixes take effect and are stripped.
fn normalized(node: Node, warnings: &mut Vec<Diagnostic>) -> Node {
    match node.kind {
        NodeKind::Map(from) => {
            let mut into = Map::new();
            merge_maps(&mut into, from, warnings);
            Node { kind: NodeKind::Map(into), ..node }
        }
        NodeKind::Seq(items) => {
            let items = items.into_iter().map(|item| normalized(item, warnings)).collect();
            Node { kind: NodeKind::Seq(items), ..node }
        }
        kind => Node { kind, ..node },
    }
}

/// Merges the entries of `src` into `dst` with the prefix rules above.
pub fn merge_maps(dst: &mut Map, src: Map, warnings: &mut Vec<Diagnostic>) {
    for (raw_key, (key_span, value)) in src {
        let (prefix, key) = split_prefix(&raw_key);
        match prefix {
            Some('^') => {
                dst.shift_remove(key);
                continue;
            }
            Some('~') => {
                dst.shift_remove(key);
            }
            _ => {}
        }
        let elementwise = prefix == Some('$');
        match value.kind {
            NodeKind::Map(from) => match dst.get_mut(key) {
                Some((_, existing)) if existing.as_map().is_some() => {
                    if let Some(into) = existing.as_map_mut() {
                        merge_maps(into, from, warnings);
                    }
                }
                Some(entry) => {
                    *entry = (key_span, normalized(Node { kind: NodeKind::Map(from), ..value }, warnings));
                }
                None => {
                    let fresh = normalized(Node { kind: NodeKind::Map(from), ..value }, warnings);
                    dst.insert(key.to_string(), (key_span, fresh));
                }
            },
            // Taurus's `__ensure_list_type`: list items land as merged mappings.
            NodeKind::Seq(items) => match dst.get_mut(key) {
                Some((_, existing)) if existing.as_seq().is_some() => {
                    if let NodeKind::Seq(left) = &mut existing.kind {
                        if elementwise {
                            merge_elementwise(left, items, key, warnings);
                        } else {
                            left.extend(items.into_iter().map(|item| normalized(item, warnings)));
                        }
                    }
                }
                Some(entry) => *entry = (key_span, normalized(Node { kind: NodeKind::Seq(items), ..value }, warnings)),
                None => {
                    let node = normalized(Node { kind: NodeKind::Seq(items), ..value }, warnings);
                    dst.insert(key.to_string(), (key_span, node));
                }
            },
            kind => {
                let node = Node { kind, ..value };
                match dst.get_mut(key) {
                    Some(entry) => *entry = (key_span, node),
                    None => {
                        dst.insert(key.to_string(), (key_span, node));
                    }
                }
            }
        }
    }
}

/// `$key`: merges `right` into `left` index by index.
fn merge_elementwise(left: &mut Vec<Node>, right: Vec<Node>, key: &str, warnings: &mut Vec<Diagnostic>) {
    for (index, item) in right.into_iter().enumerate() {
        match left.get_mut(index) {
            Some(existing) => match (&mut existing.kind, item.kind) {
                (NodeKind::Map(into), NodeKind::Map(from)) => merge_maps(into, from, warnings),
                (_, kind) => {
                    warnings.push(
                        Diagnostic::warning(
                            item.span,
                            format!("overwriting item {index} of `{key}` when merging configs"),
                        )
                        .with_label(existing.span, "the item replaced"),
                    );
                    *existing = normalized(Node { kind, ..item }, warnings);
                }
            },
            None => left.push(normalized(item, warnings)),
        }
    }
}

/// Splits a merge prefix (`~`, `^`, `$`) off a key.
pub fn split_prefix(key: &str) -> (Option<char>, &str) {
    match key.chars().next() {
        Some(c @ ('~' | '^' | '$')) => (Some(c), &key[1..]),
        _ => (None, key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::source::Sources;
    use crate::config::yaml::parse_config;
    use std::path::Path;

    /// Parses each text as a file and merges them all onto the empty start.
    fn merged(texts: &[&str]) -> (Sources, Node, Vec<Diagnostic>) {
        let mut sources = Sources::new();
        let mut root: Option<Node> = None;
        let mut warnings = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let id = sources.add_file(Path::new(&format!("f{i}.yml")), text.to_string());
            for doc in parse_config(&sources, id).unwrap().docs {
                let root = root.get_or_insert_with(|| Node::empty_map(doc.span));
                merge(root, doc, &mut warnings);
            }
        }
        (sources, root.unwrap(), warnings)
    }

    fn yaml(node: &Node) -> String {
        serde_yaml::to_string(&node.to_value()).unwrap()
    }

    #[test]
    fn dicts_merge_lists_append_scalars_replace() {
        let (_, root, warnings) = merged(&[
            "a: {x: 1, y: 2}\nl: [1, 2]\ns: old\nm: [1]\n",
            "a: {y: 3, z: 4}\nl: [3]\ns: new\nm: {now: dict}\n",
        ]);
        assert_eq!(yaml(&root), "a:\n  x: 1\n  y: 3\n  z: 4\nl:\n- 1\n- 2\n- 3\ns: new\nm:\n  now: dict\n");
        assert!(warnings.is_empty(), "a type mismatch replaces silently");
    }

    #[test]
    fn prefixes_replace_delete_and_merge_elementwise() {
        let (sources, root, warnings) = merged(&[
            "h: {A: 1, B: 2}\nk: 1\nr: [a, {url: b, method: POST}, c]\n",
            "~h: {C: 3}\n^k: whatever\n$r: [{url: a2}, {url: b2}]\n^absent: 1\n",
        ]);
        // `~h` removes `h` and adds it again, at the end (as a Python dict does).
        assert_eq!(yaml(&root), "r:\n- url: a2\n- url: b2\n  method: POST\n- c\nh:\n  C: 3\n");
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            warnings[0].one_line(&sources),
            "f1.yml:3:6: warning: overwriting item 0 of `r` when merging configs"
        );
        // The replaced headers point into the second file.
        let h = root.get("h").unwrap();
        assert_eq!(sources.name(h.span.source), "f1.yml");
        assert_eq!(sources.name(root.key_span("h").unwrap().source), "f1.yml");
    }

    #[test]
    fn prefixes_on_the_first_file_act_on_an_empty_start() {
        let (_, root, _) = merged(&["~a: {b: 1}\n^c: 2\n$d: [1, 2]\ne: {~f: 1, ^g: 2}\n"]);
        assert_eq!(yaml(&root), "a:\n  b: 1\nd:\n- 1\n- 2\ne:\n  f: 1\n");
    }

    #[test]
    fn prefixes_inside_list_items_and_type_replacements_take_effect() {
        let (_, root, _) = merged(&[
            "l: [{~x: 1, ^z: 2, $w: [3]}]\ns: text\n",
            "s: {^y: 1, ~v: 2}\nl: [[{~deep: {~er: 4}}]]\n$m: [{~a: 1}]\n",
        ]);
        assert_eq!(yaml(&root), "l:\n- x: 1\n  w:\n  - 3\n- - deep:\n      er: 4\ns:\n  v: 2\nm:\n- a: 1\n");
    }

    #[test]
    fn a_prefixed_key_in_a_request_or_service_entry_is_honoured() {
        // Issue 10: `~headers` in a request was "unknown key"; MMS's `~local` in a monitoring
        // entry was "unknown monitoring client".
        let (sources, root, _) = merged(&[
            "scenarios:\n  s:\n    requests:\n    - url: /a\n      ~headers: {A: '1'}\n",
            "services:\n- module: monitoring\n  ~local:\n  - metrics: [cpu]\n",
        ]);
        let request = root.pointer(["scenarios", "s", "requests", "0"]).unwrap();
        assert_eq!(yaml(request), "url: /a\nheaders:\n  A: '1'\n");
        let service = root.pointer(["services", "0"]).unwrap();
        assert_eq!(yaml(service), "module: monitoring\nlocal:\n- metrics:\n  - cpu\n");
        let local = service.key_span("local").unwrap();
        assert_eq!(sources.slice(local), "~local", "the key still points at what was written");
    }

    #[test]
    fn nested_dollar_merge_interprets_prefixes_in_merged_items() {
        let (_, root, _) = merged(&["l: [{a: 1, b: 2}]\n", "$l: [{^a: x, c: 3}, {d: 4}]\n"]);
        assert_eq!(yaml(&root), "l:\n- b: 2\n  c: 3\n- d: 4\n");
    }

    #[test]
    fn multi_document_files_merge_in_order() {
        let (_, root, _) = merged(&["a: 1\nl: [1]\n---\na: 2\nl: [2]\n"]);
        assert_eq!(yaml(&root), "a: 2\nl:\n- 1\n- 2\n");
    }

    #[test]
    fn corpus_merge1_and_merge2() {
        let Some(shared) = crate::testing::shared() else { return };
        let dir = shared.join("corpus/taurus");
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (a, b) = (read("tr-json__merge1.json"), read("tr-json__merge2.json"));
        let (_, root, _) = merged(&[&a, &b]);
        let len = |key: &str| root.get(key).and_then(Node::as_seq).map(<[Node]>::len);
        assert_eq!(len("list-append"), Some(6));
        assert_eq!(len("list-replace"), Some(2));
        assert_eq!(len("list-replace-notexistent"), Some(2));
        assert_eq!(len("list-complex"), Some(3));
        let jmeter = root.pointer(["modules", "jmeter"]).unwrap();
        assert!(jmeter.get("properties").is_none());
        assert_eq!(jmeter.get("class").and_then(Node::as_str), Some("bzt.modules.jmeter.JMeterExecutor"));
        let remote = root.pointer(["modules", "remote"]).unwrap();
        assert_eq!(remote.get("dict-over").and_then(Node::as_str), Some("string"), "a dict replaces a string");
    }
}
