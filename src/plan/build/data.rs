//! Planning `data-sources`: each CSV file is read, parsed and checked before the load starts; a
//! broken row is an error that names the file and line.

use std::sync::Arc;

use super::scenario::Scope;
use super::Builder;
use crate::config::de::Spanned;
use crate::config::diagnostic::Diagnostic;
use crate::config::{Map, Node, NodeKind};
use crate::plan::data::{self, CsvOptions, DataSource};

impl Builder<'_> {
    pub(super) fn data_sources(&mut self, node: &Spanned<Node>, scope: &mut Scope) {
        let items: Vec<&Node> = match &node.value.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            NodeKind::Null => Vec::new(),
            _ => {
                self.error_help(
                    node.span,
                    format!("`data-sources` must be a list, found {}", node.value.describe()),
                    "write `data-sources: [file.csv]` or a list of `{path: file.csv, ...}`",
                );
                return;
            }
        };
        for item in items {
            match self.data_source(item) {
                Some(source) => {
                    scope.defined.extend(source.names.iter().cloned());
                    scope.data_sources.push(Arc::new(source));
                }
                None => scope.incomplete = true,
            }
        }
    }

    fn data_source(&mut self, node: &Node) -> Option<DataSource> {
        const KEYS: [&str; 8] =
            ["path", "delimiter", "quoted", "loop", "variable-names", "random-order", "encoding", "type"];
        let empty = Map::default();
        let (path_node, m) = match &node.kind {
            NodeKind::Str(_) => (node, &empty),
            NodeKind::Map(m) => {
                self.block_keys(m, "data-sources", &KEYS);
                match m.get("path") {
                    Some((_, p)) => (p, m),
                    None => {
                        self.error_help(node.span, "this data source has no `path`", "add `path: file.csv`");
                        return None;
                    }
                }
            }
            _ => {
                self.error(
                    node.span,
                    format!("a data source must be a file path or a mapping, found {}", node.describe()),
                );
                return None;
            }
        };
        let text = |key: &str| m.get(key).and_then(|(_, v)| v.scalar_text()).map(String::from);
        let path_text = path_node.scalar_text().unwrap_or_default().into_owned();
        self.check_jmeter_functions(&path_text, path_node.span);
        if path_text.contains("${__") {
            return None;
        }
        if path_text.contains("${") {
            self.error(path_node.span, "a data source path cannot use variables: the file is read before the test");
            return None;
        }
        if let Some(t) = text("type").filter(|t| t != "csv") {
            self.error(m["type"].1.span, format!("data source `type: {t}` is not supported; only `csv` is"));
        }
        if let Some(e) = text("encoding").filter(|e| !matches!(e.to_ascii_lowercase().as_str(), "utf-8" | "utf8")) {
            self.error(
                m["encoding"].1.span,
                format!("data source `encoding: {e}` is not supported; files are read as UTF-8"),
            );
        }
        let delimiter = match m.get("delimiter") {
            None => None,
            Some((_, v)) => match v.scalar_text().as_deref().and_then(data::parse_delimiter) {
                Some(d) => Some(d),
                None => {
                    self.error_help(v.span, "`delimiter` must be one character", "e.g. `,`, `;`, `|` or `tab`");
                    return None;
                }
            },
        };
        let quoted = self.value(m, "quoted").unwrap_or(false);
        let recycle = self.value(m, "loop").unwrap_or(true);
        let random_order = self.value(m, "random-order").unwrap_or(false);
        let names = text("variable-names")
            .filter(|n| !n.trim().is_empty())
            .map(|n| n.split(',').map(|s| s.trim().to_string()).collect::<Vec<_>>());
        let content = self.read_file(&path_text, path_node.span, "data source")?;
        let path = self.resolve_path(&path_text, path_node.span);
        let Ok(content) = String::from_utf8(content) else {
            self.error(path_node.span, format!("data source `{}` is not UTF-8 text", path.display()));
            return None;
        };
        match data::parse(&content, &CsvOptions { delimiter, quoted, names }) {
            Ok((names, rows)) => Some(DataSource { name: path_text, names, rows, recycle, random_order }),
            Err(e) => {
                let at = if e.line > 0 { format!("{}:{}", path.display(), e.line) } else { path.display().to_string() };
                let mut d = Diagnostic::error(path_node.span, format!("bad CSV in `{at}`: {}", e.message));
                if let Some(line) = content.lines().nth((e.line as usize).saturating_sub(1)).filter(|_| e.line > 0) {
                    d = d.with_note(format!("line {}: {line}", e.line));
                }
                self.diags.push(d);
                None
            }
        }
    }
}
