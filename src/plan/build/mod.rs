//! Turning a loaded config into a [`Plan`]: every check that can be made before load starts is
//! made here, and every error points at the value in the user's file. Taurus features that
//! `suite` does not run are named in a clear error, never skipped silently.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;

use super::scenario::ScenarioPlan;
use super::Plan;
use crate::config::de::{from_node, Spanned};
use crate::config::diagnostic::{suggest, Diagnostic};
use crate::config::duration::parse_secs;
use crate::config::model::Root;
use crate::config::source::Span;
use crate::config::Loaded;
use crate::config::{Node, NodeKind};

mod blocks;
mod body;
mod checks;
mod data;
mod executions;
mod monitoring;
mod reporting;
mod requests;
mod scenario;
mod services;
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
pub fn build(loaded: &Loaded) -> Result<Plan, Vec<Diagnostic>> {
    let mut b =
        Builder { loaded, diags: Vec::new(), labels: IndexMap::new(), warnings: Vec::new(), scenarios: HashMap::new() };
    let root: Root = from_node(&b.known_top_level()).map_err(|d| vec![d])?;
    let env = b.settings_env(&root);
    let mut criteria = Vec::new();
    let executions = b.executions(&root, &mut criteria);
    let mut final_stats_csv = None;
    let mut junit = Vec::new();
    for entry in &root.reporting {
        b.reporter(entry, &mut criteria, &mut final_stats_csv, &mut junit);
    }
    let (shell, monitoring) = b.services(&root);
    b.check_monitoring_criteria(&mut criteria, &monitoring);
    let criteria = criteria.into_iter().map(|(spec, _)| spec).collect();
    // A scenario included several times (or by several executions) reports each error once.
    let mut seen = std::collections::HashSet::new();
    b.diags.retain(|d| seen.insert((d.span, d.message.clone())));
    if b.diags.is_empty() {
        Ok(Plan {
            executions,
            labels: b.labels.keys().cloned().collect(),
            criteria,
            shell,
            monitoring,
            env,
            final_stats_csv,
            junit,
            warnings: b.warnings,
        })
    } else {
        let mut all = b.warnings;
        all.extend(b.diags);
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
}

fn kind_name(node: &Node) -> &'static str {
    match node.kind {
        NodeKind::Null => "nothing",
        NodeKind::Bool(_) => "a boolean",
        NodeKind::Int(_) => "an integer",
        NodeKind::Float(_) => "a number",
        NodeKind::Str(_) => "a string",
        NodeKind::Seq(_) => "a list",
        NodeKind::Map(_) => "a mapping",
    }
}

fn scalar_text(node: &Node) -> Option<String> {
    match &node.kind {
        NodeKind::Str(s) => Some(s.clone()),
        NodeKind::Int(i) => Some(i.to_string()),
        NodeKind::Float(f) => Some(f.to_string()),
        NodeKind::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn map_get<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    match &node.kind {
        NodeKind::Map(m) => m.get(key).map(|(_, v)| v),
        _ => None,
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

    fn settings_env(&mut self, root: &Root) -> Vec<(String, String)> {
        let mut env = Vec::new();
        let Some(settings) = &root.settings else { return env };
        if let Some(vars) = map_get(&settings.value, "env") {
            match &vars.kind {
                NodeKind::Map(m) => {
                    for (name, (_, value)) in m {
                        match &value.kind {
                            NodeKind::Null => {}
                            _ => match scalar_text(value) {
                                Some(text) => env.push((name.clone(), text)),
                                None => self.error(
                                    value.span,
                                    format!("`settings.env.{name}` must be a string, found {}", kind_name(value)),
                                ),
                            },
                        }
                    }
                }
                NodeKind::Null => {}
                _ => self.error(
                    vars.span,
                    format!("`settings.env` must be a mapping of names to values, found {}", kind_name(vars)),
                ),
            }
        }
        env
    }

    /// The module of a `services` or `reporting` entry (a name, or a mapping with `module:`), and
    /// the mapping if there is one.
    fn module_entry<'n>(&mut self, entry: &'n Spanned<Node>, section: &str) -> Option<(String, Option<&'n Node>)> {
        match &entry.value.kind {
            NodeKind::Str(name) => Some((name.clone(), None)),
            NodeKind::Map(_) => match map_get(&entry.value, "module").and_then(scalar_text) {
                Some(m) => Some((m, Some(&entry.value))),
                None => {
                    let examples =
                        if section == "reporting" { "`passfail`, `junit-xml`, `final-stats`" } else { "`shellexec`" };
                    self.error(entry.span, format!("a {section} entry needs `module:` (e.g. {examples})"));
                    None
                }
            },
            _ => {
                let found = kind_name(&entry.value);
                self.error(entry.span, format!("a {section} entry must be a module name or a mapping, found {found}"));
                None
            }
        }
    }

    /// A time value (`10s`, `1m30s`, a number of seconds).
    fn secs(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let secs = match &node.kind {
            NodeKind::Int(i) => *i as f64,
            NodeKind::Float(f) => *f,
            NodeKind::Str(s) => match parse_secs(s) {
                Ok(v) => v,
                Err(e) => {
                    self.error(node.span, format!("`{what}`: {e}"));
                    return None;
                }
            },
            NodeKind::Null => return None,
            _ => {
                self.error(node.span, format!("`{what}` must be a time value like `30s`, found {}", kind_name(node)));
                return None;
            }
        };
        if !secs.is_finite() || secs < 0.0 {
            self.error(node.span, format!("`{what}` must be a finite, non-negative time"));
            return None;
        }
        Some(Duration::from_secs_f64(secs))
    }

    fn count(&mut self, node: &Node, what: &str) -> Option<u64> {
        match &node.kind {
            NodeKind::Int(i) if *i >= 0 => Some(*i as u64),
            NodeKind::Null => None,
            _ => {
                self.error(
                    node.span,
                    format!("`{what}` must be a whole number of at least 0, found {}", kind_name(node)),
                );
                None
            }
        }
    }

    fn number(&mut self, node: &Node, what: &str) -> Option<f64> {
        match &node.kind {
            NodeKind::Int(i) if *i >= 0 => Some(*i as f64),
            NodeKind::Float(f) if *f >= 0.0 && f.is_finite() => Some(*f),
            NodeKind::Null => None,
            _ => {
                self.error(node.span, format!("`{what}` must be a non-negative number, found {}", kind_name(node)));
                None
            }
        }
    }

    pub(super) fn flag(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.kind {
            NodeKind::Bool(b) => Some(b),
            NodeKind::Null => None,
            _ => {
                self.error(node.span, format!("`{what}` must be `true` or `false`, found {}", kind_name(node)));
                None
            }
        }
    }

    /// Reads a file named in the config, or reports why it cannot.
    pub(super) fn read_file(&mut self, text: &str, span: Span, what: &str) -> Option<Vec<u8>> {
        let path = self.resolve_path(text, span);
        match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                self.error_help(
                    span,
                    format!("cannot read {what} `{text}`: {e}"),
                    format!("looked for `{}`; relative paths start at the folder of the file that names them, then the current folder", path.display()),
                );
                None
            }
        }
    }

    /// A path named in a config file: relative to that file's folder if it exists there, else to the current folder.
    pub(super) fn resolve_path(&self, text: &str, span: Span) -> PathBuf {
        let path = Path::new(text);
        if path.is_absolute() {
            return path.to_path_buf();
        }
        let beside = self.loaded.sources.get(span.source).path().and_then(Path::parent).map(|dir| dir.join(path));
        match beside {
            Some(p) if p.exists() => p,
            _ => path.to_path_buf(),
        }
    }
}

/// A list, or a single item standing for a list of one; nothing is an empty list.
pub(super) fn one_or_many(node: &Node) -> Vec<&Node> {
    match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        NodeKind::Null => Vec::new(),
        _ => vec![node],
    }
}

/// "did you mean `x`?" when a known word is close, else `fallback()`.
pub(super) fn did_you_mean_or(word: &str, known: &[&str], fallback: impl FnOnce() -> String) -> String {
    suggest(word, known).map(|s| format!("did you mean `{s}`?")).unwrap_or_else(fallback)
}
