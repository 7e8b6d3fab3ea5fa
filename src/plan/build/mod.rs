//! Turning a loaded config into a [`Plan`]: every check that can be made before load starts is
//! made here, and every error points at the value in the user's file. Taurus features that
//! `suite` does not run are named in a clear error, never skipped silently.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use indexmap::IndexMap;
use serde::de::DeserializeOwned;

use super::scenario::ScenarioPlan;
use super::{JunitReporter, Plan, Spec};
use crate::config::de::{from_node, from_node_all, Spanned};
use crate::config::diagnostic::{suggest, Diagnostic};
use crate::config::model::Root;
use crate::config::source::{SourceId, Span};
use crate::config::Loaded;
use crate::config::{Map, Node, NodeKind};

mod blocks;
mod body;
mod checks;
mod data;
mod executions;
mod grpc;
mod jmx;
mod limits;
mod monitoring;
mod reflection;
mod reporting;
mod requests;
mod scenario;
mod search;
mod services;
mod templates;
mod tool;

/// Top-level sections of a Taurus config.
const TOP_LEVEL: &[&str] = &[
    "execution",
    "scenarios",
    "services",
    "reporting",
    "modules",
    "settings",
    "provisioning",
    "included-configs",
    "cli-aliases",
    "cli",
    "version",
    "install-id",
];

/// Plans a loaded config, or returns every error found.
pub fn build(loaded: &mut Loaded) -> Result<Plan, Vec<Diagnostic>> {
    // JMeter plans are read first: each is registered in the sources its errors point into.
    let jmx = jmx::Plans::read(loaded);
    // So are body template files.
    let templates = templates::Templates::read(loaded);
    let mut b = Builder::new(loaded, jmx, templates);
    let root: Root = match from_node_all(&b.known_top_level()) {
        Ok(root) => root,
        Err((errors, partial)) => {
            let root = partial.ok_or_else(|| errors.clone())?;
            b.set_aside(errors);
            root
        }
    };
    let env: Vec<(String, String)> =
        root.settings.env.iter().filter_map(|(k, v)| Some((k.clone(), v.clone()?))).collect();
    b.templates.set_vars(env.clone());
    let mut criteria = Vec::new();
    let executions = b.executions(&root, &mut criteria);
    let mut final_stats_csv = None;
    let mut junit = Vec::new();
    let mut remote_write = Vec::new();
    for entry in &root.reporting {
        b.reporter(entry, &mut criteria, &mut final_stats_csv, &mut junit, &mut remote_write);
    }
    let (shell, monitoring) = b.services(&root);
    b.check_monitoring_criteria(&mut criteria, &monitoring);
    if let (Some((_, span)), true) = (&b.search, criteria.is_empty()) {
        b.error_help(
            *span,
            "a capacity search needs pass/fail criteria: the capacity is the highest rate at which they pass",
            "add e.g. `reporting: [{module: passfail, criteria: ['p95>100ms', 'fail>1%']}]`",
        );
    }
    let criteria = criteria.into_iter().map(|(spec, _)| spec).collect();
    // A scenario included several times (or by several executions) reports each error once.
    let mut seen = std::collections::HashSet::new();
    b.diags.retain(|d| seen.insert((d.span, d.message.clone())));
    // A value set aside as wrong may make its mapping look incomplete: that can wait for the fix.
    let holds_set_aside = |d: &Diagnostic| {
        d.span.is_some_and(|s| !b.set_aside.contains(&s) && b.set_aside.iter().any(|v| encloses(s, *v)))
    };
    b.diags.retain(|d| !holds_set_aside(d));
    if b.diags.is_empty() {
        Ok(Plan {
            executions,
            notes: b.notes,
            scripts: b.jmx.used(),
            labels: b.labels.keys().cloned().collect(),
            criteria,
            shell,
            monitoring,
            env,
            final_stats_csv,
            junit,
            search: b.search.map(|(s, _)| s),
            remote_write,
            warnings: b.warnings,
        })
    } else {
        let mut all = b.warnings;
        all.extend(b.diags);
        // The files those errors point into, in the order their spans expect.
        for (path, text) in b.late_sources {
            loaded.sources.add_file(&path, text);
        }
        Err(all)
    }
}

struct Builder<'a> {
    loaded: &'a Loaded,
    diags: Vec<Diagnostic>,
    labels: IndexMap<String, u32>,
    warnings: Vec<Diagnostic>,
    /// Scenarios already planned, by name (several executions may share one).
    scenarios: HashMap<String, Arc<ScenarioPlan>>,
    /// Where values were wrong and planning went on without them.
    set_aside: Vec<Span>,
    /// The JMeter plans the scenarios name.
    jmx: jmx::Plans,
    /// Information lines for the user (listeners left out of a JMeter plan, ...).
    notes: Vec<String>,
    /// The capacity search one execution asks for, and where.
    search: Option<(crate::plan::search::Search, Span)>,
    /// The body template files requests name, and what templates see.
    templates: templates::Templates,
    /// Descriptor pools compiled from `.proto` files, by the files and import paths (each set is
    /// compiled once however many calls name it).
    grpc_schemas: HashMap<(Vec<PathBuf>, Vec<PathBuf>), prost_reflect::DescriptorPool>,
    /// Files read while planning that errors point into (a `.proto`), added to the sources
    /// after the sources the config was loaded from, once the plan is built.
    late_sources: Vec<(PathBuf, String)>,
}

/// What a test judges with (see [`judging`]).
pub struct Judging {
    /// Pass/fail criteria, in the order configured.
    pub criteria: Vec<Spec>,
    /// The `junit-xml` reporters.
    pub junit: Vec<JunitReporter>,
}

/// What a test judges with, read from its config alone: the criteria and the `junit-xml`
/// reporters, without planning its load (`suite merge` judges segments' figures
/// with the config a segment ran, whose data files may not be where the merge runs).
pub fn judging(loaded: &Loaded) -> Result<Judging, Vec<Diagnostic>> {
    let mut b = Builder::new(loaded, jmx::Plans::default(), templates::Templates::default());
    let root: Root = from_node_all(&b.known_top_level()).map_err(|(errors, _)| errors)?;
    let (mut criteria, mut final_stats, mut junit, mut remote_write) = (Vec::new(), None, Vec::new(), Vec::new());
    for entry in &root.reporting {
        b.reporter(entry, &mut criteria, &mut final_stats, &mut junit, &mut remote_write);
    }
    match b.diags.is_empty() {
        true => Ok(Judging { criteria: criteria.into_iter().map(|(spec, _)| spec).collect(), junit }),
        false => Err(b.diags),
    }
}

impl<'a> Builder<'a> {
    fn new(loaded: &'a Loaded, jmx: jmx::Plans, templates: templates::Templates) -> Self {
        Builder {
            loaded,
            jmx,
            notes: Vec::new(),
            diags: Vec::new(),
            labels: IndexMap::new(),
            warnings: Vec::new(),
            scenarios: HashMap::new(),
            set_aside: Vec::new(),
            search: None,
            templates,
            grpc_schemas: HashMap::new(),
            late_sources: Vec::new(),
        }
    }

    /// A span of `len` bytes at `offset` in `path`, a file read while planning; the file is
    /// registered among the sources when the plan is built ([`build`]). None when it cannot be
    /// read as text.
    fn late_source(&mut self, path: &Path, offset: usize, len: usize) -> Option<Span> {
        let index = match self.late_sources.iter().position(|(p, _)| p == path) {
            Some(index) => index,
            None => {
                let bytes = crate::fsutil::read_regular(path, crate::fsutil::CONFIG_CAP).ok()?;
                self.late_sources.push((path.to_path_buf(), String::from_utf8(bytes).ok()?));
                self.late_sources.len() - 1
            }
        };
        let text = &self.late_sources[index].1;
        let before = text.get(..offset.min(text.len()))?;
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        let source = SourceId::from_index(self.loaded.sources.iter().count() + index);
        Some(Span { source, offset: before.len(), line, col, len: len.min(text.len() - before.len()) })
    }
}

impl Builder<'_> {
    /// The root without keys Taurus would ignore: each gets a warning (a typo of a known key
    /// says which), since YAML anchors are often kept in extra top-level keys.
    fn known_top_level(&mut self) -> Node {
        let mut root = self.loaded.root.clone();
        if let NodeKind::Map(map) = &mut root.kind {
            let unknown: Vec<(String, Span)> = map
                .iter()
                .filter(|(k, _)| !TOP_LEVEL.contains(&k.as_str()))
                .map(|(k, (span, _))| (k.clone(), *span))
                .collect();
            for (key, span) in unknown {
                map.shift_remove(&key);
                let hint = suggest(&key, TOP_LEVEL).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                self.warn(span, format!("top-level key `{key}` is not used by suite{hint}"));
            }
        }
        root
    }

    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, message));
    }

    fn error_help(&mut self, span: Span, message: impl Into<String>, help: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, message).with_help(help));
    }

    /// A Taurus feature `suite` does not run: named, located, never skipped.
    fn unsupported(&mut self, span: Span, what: &str, help: &str) {
        self.error_help(span, format!("{what} is not supported by suite"), help);
    }

    fn warn(&mut self, span: Span, message: impl Into<String>) {
        self.warnings.push(Diagnostic::warning(span, message));
    }

    fn label(&mut self, name: &str) -> u32 {
        let next = self.labels.len() as u32;
        *self.labels.entry(name.to_string()).or_insert(next)
    }

    /// Reads a typed value from a node the model keeps raw. When values are wrong, every one is
    /// reported and the value is read without them if it can be (else `None`), so that planning
    /// goes on to find other errors.
    fn read<T: DeserializeOwned>(&mut self, node: &Node) -> Option<T> {
        match from_node_all(node) {
            Ok(value) => Some(value),
            Err((errors, partial)) => {
                self.set_aside(errors);
                partial
            }
        }
    }

    /// Reports errors of values that planning goes on without.
    fn set_aside(&mut self, errors: Vec<Diagnostic>) {
        self.set_aside.extend(errors.iter().filter_map(|d| d.span));
        self.diags.extend(errors);
    }

    /// The typed value of `key` in a mapping the model keeps as [`Node`]s (a block, an entry):
    /// `None` when it is absent, null, or wrong (then the error is reported, at the value).
    fn value<T: DeserializeOwned>(&mut self, map: &Map, key: &str) -> Option<T> {
        let (_, node) = map.get(key)?;
        from_node::<Option<T>>(node).unwrap_or_else(|mut d| {
            d.message = format!("`{key}`: {}", d.message);
            self.diags.push(d);
            None
        })
    }

    /// The module of a `services` or `reporting` entry (a name, or a mapping with `module:`), and
    /// the mapping if there is one.
    fn module_entry<'n>(&mut self, entry: &'n Spanned<Node>, section: &str) -> Option<(String, Option<&'n Node>)> {
        match &entry.value.kind {
            NodeKind::Str(name) => Some((name.clone(), None)),
            NodeKind::Map(_) => match entry.get("module").and_then(Node::scalar_text) {
                Some(m) => Some((m.into_owned(), Some(&entry.value))),
                None => {
                    let examples =
                        if section == "reporting" { "`passfail`, `junit-xml`, `final-stats`" } else { "`shellexec`" };
                    self.error(entry.span, format!("a {section} entry needs `module:` (e.g. {examples})"));
                    None
                }
            },
            _ => {
                let found = entry.describe();
                self.error(entry.span, format!("a {section} entry must be a module name or a mapping, found {found}"));
                None
            }
        }
    }

    /// Reads a file named in the config, or reports why it cannot.
    pub(super) fn read_file(&mut self, text: &str, span: Span, what: &str) -> Option<Vec<u8>> {
        let path = self.resolve_path(text, span);
        match crate::fsutil::read_regular(&path, crate::fsutil::DATA_CAP) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                self.cannot_read(span, what, text, &path, &e.reason());
                None
            }
        }
    }

    /// The error for a file named in the config that could not be read, at its path.
    pub(super) fn cannot_read(&mut self, span: Span, what: &str, text: &str, path: &Path, reason: &str) {
        self.error_help(
            span,
            format!("cannot read {what} `{text}`: {reason}"),
            format!("looked for `{}`; relative paths start at the folder of the file that names them, then the current folder", path.display()),
        );
    }

    /// A path named in a config file: relative to that file's folder if it exists there, else to the current folder.
    pub(super) fn resolve_path(&self, text: &str, span: Span) -> PathBuf {
        resolve_path(self.loaded, text, span)
    }
}

/// A path named in a config file: relative to that file's folder if it exists there, else to the current folder.
fn resolve_path(loaded: &Loaded, text: &str, span: Span) -> PathBuf {
    let path = Path::new(text);
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let beside = loaded.sources.get(span.source).path().and_then(Path::parent).map(|dir| dir.join(path));
    match beside {
        Some(p) if p.exists() => p,
        _ => path.to_path_buf(),
    }
}

/// Whether `outer` holds `inner` and more (both in one source).
fn encloses(outer: Span, inner: Span) -> bool {
    outer.source == inner.source
        && outer != inner
        && outer.offset <= inner.offset
        && inner.offset + inner.len <= outer.offset + outer.len
}

/// A list, or a single item standing for a list of one; nothing is an empty list.
pub(super) fn one_or_many(node: &Node) -> Vec<&Node> {
    match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        NodeKind::Null => Vec::new(),
        _ => vec![node],
    }
}

/// Names as "`a`, `b`, `c`".
pub(super) fn code_list(names: &[&str]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

pub(super) use crate::config::diagnostic::did_you_mean_or;

#[cfg(test)]
mod tests;
