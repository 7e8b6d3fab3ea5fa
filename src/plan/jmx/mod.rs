//! JMeter plans (`scenarios.X.script: plan.jmx`) read without a JVM.
//!
//! [`load`] is the entry point: the `.jmx` file is registered in the run's [`Sources`] (so its
//! errors render with file:line:col, the line and a caret, like YAML errors) and read in three
//! steps, each in its own file:
//!
//! 1. [`xml`]: quick-xml → a located element tree, JMeter's `<hashTree>` pairing resolved, every
//!    property typed (`stringProp`, `boolProp`, …, `elementProp`, `collectionProp`).
//! 2. [`read`] → [`model`]: one typed variant per supported element, in JMeter's meaning;
//!    disabled elements are skipped, listeners set aside for one info line, and every
//!    unsupported element is an error naming its testclass, testname and line.
//! 3. [`template`]: every string JMeter substitutes is parsed as `${var}` / `${__fn(…)}`, and an
//!    unknown function or a wrong arity is an error at its place in the file.
//!
//! All errors are found before any load is sent, and all are returned, not just the first.
//!
//! **Next stage (not here yet): lowering.** [`JmxPlan`] → the same `ScenarioPlan`/`ExecutionPlan`
//! the YAML scenarios build, so the engine, criteria, monitoring and reports do not change:
//! JMeter's scoping (config elements, timers, assertions and extractors apply to the samplers of
//! their level and below; HTTP Request Defaults fill empty sampler fields), thread groups to
//! executions (setUp before, tearDown after, `serialize_threadgroups`), Taurus's override rules
//! for an existing plan (`concurrency` split over the enabled top-level `ThreadGroup`s in
//! proportion, `ramp-up`/`hold-for`/`iterations` rebuilding them, setUp/tearDown untouched,
//! `scenario.variables`/`headers` appended at plan level, `modules.jmeter.properties` and
//! `scenario.properties` as the values of `${__P(…)}`), and evaluating the templates.

// Diagnostics are returned by value on cold paths (as in `config`).
#![allow(clippy::result_large_err)]

pub mod condition;
pub mod describe;
pub mod eval;
pub mod model;
pub mod read;
pub mod template;
pub mod to_yaml;
pub mod xml;

use std::path::{Path, PathBuf};

use crate::config::{Diagnostic, SourceId, Sources};

pub use model::{Kind, Meta, Node, Text};
pub use read::Ignored;

/// A JMeter plan read into the typed model.
#[derive(Clone, Debug, PartialEq)]
pub struct JmxPlan {
    /// The file, as given.
    pub path: PathBuf,
    /// Its entry in [`Sources`].
    pub source: SourceId,
    /// `jmeter="…"` of `<jmeterTestPlan>`: the JMeter version that saved it.
    pub jmeter_version: Option<String>,
    /// The enabled, supported top-level elements: normally one `TestPlan` holding the rest.
    pub roots: Vec<Node>,
    /// Listeners left out (they only watch results).
    pub listeners: Vec<Ignored>,
}

impl JmxPlan {
    /// The `TestPlan` element, if the plan has one.
    pub fn test_plan(&self) -> Option<&Node> {
        self.roots.iter().find(|n| matches!(n.kind, Kind::TestPlan(_)))
    }

    /// Every node, depth first, in file order.
    pub fn walk(&self) -> Vec<&Node> {
        fn visit<'a>(nodes: &'a [Node], out: &mut Vec<&'a Node>) {
            for n in nodes {
                out.push(n);
                visit(&n.children, out);
            }
        }
        let mut out = Vec::new();
        visit(&self.roots, &mut out);
        out
    }

    /// The one info line about the listeners left out, if there were any.
    pub fn listeners_note(&self) -> Option<String> {
        if self.listeners.is_empty() {
            return None;
        }
        let names: Vec<String> = self.listeners.iter().map(|l| format!("{} \"{}\"", l.testclass, l.name)).collect();
        Some(format!(
            "{}: {} listener(s) ignored (suite writes its own results): {}",
            self.path.display(),
            names.len(),
            names.join(", ")
        ))
    }
}

/// Reads the plan at `path`, registering its text in `sources`; every error found is returned.
/// A file that cannot be read is an error without a place (the caller says where it was named).
pub fn load(path: &Path, sources: &mut Sources) -> Result<JmxPlan, Vec<Diagnostic>> {
    let cannot =
        |why: String| vec![Diagnostic::error_unlocated(format!("cannot read JMeter plan `{}`: {why}", path.display()))];
    let bytes = crate::fsutil::read_regular(path, crate::fsutil::CONFIG_CAP).map_err(|e| cannot(e.reason()))?;
    let text =
        String::from_utf8(bytes).map_err(|_| cannot("it is not UTF-8 text (JMeter saves plans as UTF-8)".into()))?;
    let id = sources.add_file(path, text);
    read_source(sources, id, path)
}

/// Reads a plan already registered in `sources` (for tests and pseudo-sources).
pub fn read_source(sources: &Sources, id: SourceId, path: &Path) -> Result<JmxPlan, Vec<Diagnostic>> {
    let tree = xml::parse(sources, id)?;
    let mut reader = read::Reader::new(sources);
    let roots = reader.nodes(&tree.roots);
    if roots.is_empty() && reader.errors.is_empty() {
        reader.errors.push(Diagnostic::error(tree.span, "the plan has no enabled `TestPlan`"));
    }
    if !reader.errors.is_empty() {
        return Err(reader.errors);
    }
    Ok(JmxPlan {
        path: path.to_path_buf(),
        source: id,
        jmeter_version: tree.jmeter_version,
        roots,
        listeners: reader.listeners,
    })
}
