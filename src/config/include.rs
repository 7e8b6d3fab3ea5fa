//! `included-configs`: more files to merge after the ones given on the command line.
//!
//! As in Taurus (`Engine.configure`), the list is taken out of the merged tree and every file in
//! it is merged, in order; files merged that way may add a new `included-configs`, which is
//! processed the same way until none is left. At the end the tree's `included-configs` lists
//! every entry seen. A path is looked up relative to the current directory first, then to the
//! directory of each config loaded so far. A file already loaded is not loaded again, so include
//! cycles end. Unlike Taurus, http(s) URLs are refused: the tool works offline.

use std::path::{Path, PathBuf};

use crate::config::diagnostic::Diagnostic;
use crate::config::node::{Node, NodeKind};
use crate::config::Loader;

/// The key that lists included files.
pub const KEY: &str = "included-configs";

/// Merges every included config into the loader's tree, until no new includes appear.
pub(crate) fn load_includes(loader: &mut Loader, cwd: &Path) {
    let mut seen_entries: Vec<Node> = Vec::new();
    let mut key_span = None;
    let mut list_span = None;
    while let Some((kspan, list)) =
        loader.root.as_mut().and_then(Node::as_map_mut).and_then(|map| map.shift_remove(KEY))
    {
        key_span.get_or_insert(kspan);
        list_span.get_or_insert(list.span);
        let items = match list.kind {
            NodeKind::Seq(items) => items,
            NodeKind::Null => Vec::new(),
            _ => {
                loader.errors.push(
                    Diagnostic::error(
                        list.span,
                        format!("`{KEY}` must be a list of file paths, found {}", list.describe()),
                    )
                    .with_help(format!("write `{KEY}: [other.yml]`")),
                );
                Vec::new()
            }
        };
        for item in items {
            include_one(loader, &item, cwd);
            seen_entries.push(item);
        }
    }
    if let (Some(key_span), Some(list_span), Some(map)) =
        (key_span, list_span, loader.root.as_mut().and_then(Node::as_map_mut))
    {
        let list = Node::new(NodeKind::Seq(seen_entries), list_span);
        map.insert(KEY.to_string(), (key_span, list));
    }
}

/// Loads the file named by one list item, unless it was loaded already.
fn include_one(loader: &mut Loader, item: &Node, cwd: &Path) {
    let name = match &item.kind {
        NodeKind::Str(s) => s.clone(),
        _ => {
            loader.errors.push(Diagnostic::error(
                item.span,
                format!("an entry of `{KEY}` must be a file path, found {}", item.describe()),
            ));
            return;
        }
    };
    let lower = name.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        loader.errors.push(
            Diagnostic::error(item.span, format!("cannot include `{name}`: configs are only read from local files"))
                .with_help("download the file and include the local copy"),
        );
        return;
    }
    let dirs = loader.search_dirs();
    match find_include(&name, cwd, &dirs) {
        Some(path) => {
            if !loader.already_loaded(&path) {
                loader.load_file(&path, Some(item.span));
            }
        }
        None => {
            let shown = |d: &Path| {
                if d.as_os_str().is_empty() {
                    ".".to_string()
                } else {
                    d.display().to_string()
                }
            };
            let mut looked: Vec<String> = Vec::new();
            for dir in std::iter::once(cwd).chain(dirs.iter().map(PathBuf::as_path)) {
                let dir = shown(dir);
                if !looked.contains(&dir) {
                    looked.push(dir);
                }
            }
            loader.errors.push(
                Diagnostic::error(item.span, format!("included config `{name}` not found"))
                    .with_note(format!("looked in: {}", looked.join(", "))),
            );
        }
    }
}

/// Finds an included file: as given (absolute, or relative to `cwd`), then next to each
/// already-loaded config (`dirs`). A leading `~/` is the home directory. An empty `cwd` means
/// the process's current directory (and keeps relative paths relative in messages).
pub fn find_include(name: &str, cwd: &Path, dirs: &[PathBuf]) -> Option<PathBuf> {
    let given = match (name.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(name),
    };
    if given.is_absolute() {
        return given.is_file().then_some(given);
    }
    let here = cwd.join(&given);
    if here.is_file() {
        return Some(here);
    }
    dirs.iter().map(|dir| dir.join(&given)).find(|candidate| candidate.is_file())
}
