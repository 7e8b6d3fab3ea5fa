//! Parameter sweeps: an execution's `matrix` exploded into cells, each a run of the test with its
//! values set as variables (Howitzer's parameter lists, Seldon's comma-separated lists).
//!
//! The matrix is read from the loaded tree before anything else is planned, because the rest of
//! the test uses its names as `${name}` placeholders that only a cell gives a value. A cell's
//! values are then handed to the loader as predefined variables, so they reach every string of
//! the test (addresses, bodies, headers, thresholds, `concurrency: ${vus}`) and `settings.env`
//! (the services' environment), and the cell is planned like any test.
//!
//! ```yaml
//! execution:
//! - concurrency: ${vus}
//!   scenario: infer
//!   matrix: {vus: [1, 4, 16], model: [resnet, bert]}
//!   matrix-mode: product            # or zip: the lists side by side
//!   matrix-exclude: [{vus: 16, model: bert}]
//!   matrix-include: [{vus: 32, model: resnet}]
//! ```

use std::collections::HashSet;

use crate::config::diagnostic::{did_you_mean_or, list_or};
use crate::config::{Diagnostic, Loaded, Node, NodeKind, Span};

/// Cells allowed when `matrix-max` is not given.
pub const DEFAULT_MAX: usize = 256;
/// `matrix-max` may not go above this: each cell is a run with its own folder and reports.
pub const HARD_MAX: usize = 10_000;

/// The keys of an execution that describe its matrix.
pub const KEYS: [&str; 5] = ["matrix", "matrix-mode", "matrix-include", "matrix-exclude", "matrix-max"];

/// How a matrix's lists combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Every combination, the first parameter varying slowest (nested loops).
    Product,
    /// The lists side by side: the k-th cell takes the k-th value of each (Seldon's env lists).
    Zip,
}

impl Mode {
    /// As `matrix-mode` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Product => "product",
            Mode::Zip => "zip",
        }
    }
}

/// A test's matrix: its parameter names and the cells they explode into, in run order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matrix {
    /// Parameter names, in the order written.
    pub names: Vec<String>,
    pub mode: Mode,
    pub cells: Vec<Cell>,
}

/// One cell: a value for every parameter, in the matrix's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cell {
    pub values: Vec<(String, String)>,
}

impl Cell {
    /// `vus=4,model=bert`: how the cell is named in folders, JUnit and reports.
    pub fn label(&self) -> String {
        cell_name(&self.values)
    }
}

/// `vus=4,model=bert`: a cell's name from its parameter values.
pub fn cell_name(values: &[(String, String)]) -> String {
    values.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// The matrix of the test `loaded` holds, if one of its executions has one. The values of
/// `from-env` parameters come from `settings.env`, then the process environment.
pub fn read(loaded: &Loaded) -> Result<Option<Matrix>, Vec<Diagnostic>> {
    read_with(loaded, &|name| std::env::var(name).ok())
}

/// [`read`] with an injectable process environment (for tests).
pub fn read_with(loaded: &Loaded, os_env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Matrix>, Vec<Diagnostic>> {
    let root = &loaded.root;
    let executions: Vec<&Node> = match root.get("execution").map(|e| &e.kind) {
        Some(NodeKind::Seq(items)) => items.iter().collect(),
        Some(NodeKind::Map(_)) => root.get("execution").into_iter().collect(),
        _ => return Ok(None),
    };
    let env = |name: &str| -> Option<String> {
        let settings = root.pointer(["settings", "env", name]);
        match settings {
            Some(node) if node.is_null() => None,
            Some(node) => node.scalar_text().map(|t| t.into_owned()),
            None => os_env(name),
        }
    };
    let mut errors = Vec::new();
    let mut found: Option<(Matrix, Span)> = None;
    for execution in executions {
        let Some(map) = execution.as_map() else { continue };
        let Some((key_span, node)) = map.get("matrix") else {
            for key in KEYS.iter().skip(1) {
                if let Some((span, _)) = map.get(*key) {
                    errors.push(Diagnostic::error(*span, format!("`{key}` without a `matrix` in this execution")));
                }
            }
            continue;
        };
        if let Some((_, first)) = &found {
            errors.push(
                Diagnostic::error(*key_span, "a second execution with a `matrix`: a test has one matrix")
                    .with_label(*first, "the first one")
                    .with_help("put every parameter in one `matrix`; the test's other executions run in each cell"),
            );
            continue;
        }
        let mut reader = Reader { errors: Vec::new(), env: &env };
        let matrix = reader.matrix(node, execution);
        errors.append(&mut reader.errors);
        if let Some(matrix) = matrix {
            found = Some((matrix, *key_span));
        }
    }
    match errors.is_empty() {
        true => Ok(found.map(|(m, _)| m)),
        false => Err(errors),
    }
}

struct Reader<'a> {
    errors: Vec<Diagnostic>,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Reader<'_> {
    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.errors.push(Diagnostic::error(span, message));
    }

    fn matrix(&mut self, node: &Node, execution: &Node) -> Option<Matrix> {
        let Some(map) = node.as_map() else {
            self.errors.push(
                Diagnostic::error(
                    node.span,
                    format!("`matrix` must be a mapping of parameter names to lists, not {}", node.describe()),
                )
                .with_help("matrix: {vus: [1, 4], model: [resnet, bert]}"),
            );
            return None;
        };
        if map.is_empty() {
            self.error(node.span, "`matrix` is empty: give each parameter a list of values");
            return None;
        }
        let mut names = Vec::new();
        let mut lists = Vec::new();
        for (name, (key_span, value)) in map {
            if !is_name(name) {
                self.errors.push(Diagnostic::error(*key_span, format!("`{name}` is not a parameter name")).with_help(
                    "a name is letters, digits and `_`, not starting with a digit: it is used as `${name}`",
                ));
                continue;
            }
            if let Some(values) = self.values(name, value) {
                names.push(name.clone());
                lists.push((values, value.span));
            }
        }
        let mode = self.mode(execution.get("matrix-mode"));
        let max = self.max(execution.get("matrix-max"));
        if names.len() != map.len() {
            return None;
        }
        let mut cells = match mode {
            Mode::Product => product(&names, &lists),
            Mode::Zip => {
                let lengths: Vec<usize> = lists.iter().map(|(l, _)| l.len()).collect();
                if lengths.iter().any(|n| *n != lengths[0]) {
                    let text = names.iter().zip(&lengths).map(|(n, l)| format!("{n}: {l}")).collect::<Vec<_>>();
                    let mut d = Diagnostic::error(
                        node.span,
                        format!("`matrix-mode: zip` needs lists of one length; these have {}", text.join(", ")),
                    );
                    for ((values, span), name) in lists.iter().zip(&names) {
                        d = d.with_label(*span, format!("{name}: {} value(s)", values.len()));
                    }
                    self.errors.push(d);
                    return None;
                }
                (0..lengths[0])
                    .map(|k| Cell {
                        values: names.iter().zip(&lists).map(|(n, (l, _))| (n.clone(), l[k].clone())).collect(),
                    })
                    .collect()
            }
        };
        if let Some(exclude) = execution.get("matrix-exclude") {
            let patterns = self.entries(exclude, "matrix-exclude", &names, false);
            let before = cells.len();
            cells.retain(|c| !patterns.iter().any(|p| matches(c, p)));
            if cells.len() == before && !patterns.is_empty() {
                self.errors.push(Diagnostic::error(exclude.span, "`matrix-exclude` matches no cell").with_help(
                    "an entry removes the cells that have all of its values; check the values against the lists",
                ));
            }
        }
        if let Some(include) = execution.get("matrix-include") {
            for entry in self.entries(include, "matrix-include", &names, true) {
                let cell = Cell { values: names.iter().map(|n| (n.clone(), find(&entry, n).to_string())).collect() };
                if !cells.contains(&cell) {
                    cells.push(cell);
                }
            }
        }
        if !self.errors.is_empty() {
            return None;
        }
        if cells.is_empty() {
            self.error(node.span, "the matrix has no cell left: `matrix-exclude` removes every combination");
            return None;
        }
        if cells.len() > max.0 {
            let at = max.1.unwrap_or(node.span);
            self.errors.push(
                Diagnostic::error(at, format!("the matrix makes {} cells, more than the {} allowed", cells.len(), max.0))
                    .with_label(node.span, "this matrix")
                    .with_help(format!(
                        "raise `matrix-max` (up to {HARD_MAX}) if you mean it, or split the sweep; each cell is a run with its own reports"
                    )),
            );
            return None;
        }
        Some(Matrix { names, mode, cells })
    }

    /// A parameter's values: a list of scalars, one scalar, or `{from-env: NAME}` (a
    /// comma-separated list in that variable).
    fn values(&mut self, name: &str, node: &Node) -> Option<Vec<String>> {
        let values = match &node.kind {
            NodeKind::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item.scalar_text() {
                        Some(text) => out.push(text.into_owned()),
                        None => {
                            self.error(
                                item.span,
                                format!("a value of `{name}` must be a scalar, not {}", item.describe()),
                            );
                            return None;
                        }
                    }
                }
                out
            }
            NodeKind::Map(map) => return self.env_list(name, node, map),
            NodeKind::Null => {
                self.error(node.span, format!("`{name}` has no values"));
                return None;
            }
            _ => vec![node.scalar_text()?.into_owned()],
        };
        if values.is_empty() {
            self.error(node.span, format!("`{name}` has no values"));
            return None;
        }
        let mut seen = HashSet::new();
        if let Some(dup) = values.iter().find(|v| !seen.insert(v.as_str())) {
            self.error(node.span, format!("`{name}` lists `{dup}` twice: its cells would run twice"));
            return None;
        }
        Some(values)
    }

    fn env_list(&mut self, name: &str, node: &Node, map: &crate::config::Map) -> Option<Vec<String>> {
        for (key, (span, _)) in map {
            if key != "from-env" && key != "separator" {
                let help = did_you_mean_or(key, ["from-env", "separator"], || {
                    "write `{from-env: NAME}` or a list of values".to_string()
                });
                self.errors.push(
                    Diagnostic::error(*span, format!("unknown key `{key}` in the values of `{name}`")).with_help(help),
                );
                return None;
            }
        }
        let Some((_, var)) = map.get("from-env") else {
            self.error(node.span, format!("the values of `{name}` are a list, or `{{from-env: NAME}}`"));
            return None;
        };
        let Some(var_name) = var.as_str().filter(|v| is_name(v)) else {
            self.error(var.span, "`from-env` names an environment variable");
            return None;
        };
        let separator = match map.get("separator").map(|(_, s)| s.scalar_text()) {
            None => ",".to_string(),
            Some(Some(s)) if !s.is_empty() => s.into_owned(),
            Some(_) => {
                self.error(node.span, "`separator` must be a non-empty string");
                return None;
            }
        };
        let Some(text) = (self.env)(var_name) else {
            self.errors.push(
                Diagnostic::error(var.span, format!("`{var_name}` is not set: `{name}` takes its values from it"))
                    .with_help(format!("set it in the environment or in settings.env, e.g. {var_name}=a,b,c")),
            );
            return None;
        };
        let values: Vec<String> = text.split(separator.as_str()).map(|v| v.trim().to_string()).collect();
        if values.iter().any(String::is_empty) {
            self.errors.push(
                Diagnostic::error(var.span, format!("`{var_name}` (`{text}`) has an empty value in its list"))
                    .with_help(format!("values are separated by `{separator}`; leave no empty item")),
            );
            return None;
        }
        let mut seen = HashSet::new();
        if let Some(dup) = values.iter().find(|v| !seen.insert(v.as_str())) {
            self.error(var.span, format!("`{var_name}` lists `{dup}` twice: its cells would run twice"));
            return None;
        }
        Some(values)
    }

    fn mode(&mut self, node: Option<&Node>) -> Mode {
        match node.map(|n| (n.as_str(), n.span)) {
            None => Mode::Product,
            Some((Some(text), _)) if text == Mode::Product.name() => Mode::Product,
            Some((Some(text), _)) if text == Mode::Zip.name() => Mode::Zip,
            Some((_, span)) => {
                self.errors.push(Diagnostic::error(span, "`matrix-mode` is `product` or `zip`").with_help(
                    "product: every combination; zip: the k-th value of each list together (lists of one length)",
                ));
                Mode::Product
            }
        }
    }

    fn max(&mut self, node: Option<&Node>) -> (usize, Option<Span>) {
        let Some(node) = node else { return (DEFAULT_MAX, None) };
        match node.as_i64().and_then(|n| usize::try_from(n).ok()).filter(|n| (1..=HARD_MAX).contains(n)) {
            Some(n) => (n, Some(node.span)),
            None => {
                self.error(node.span, format!("`matrix-max` is a whole number from 1 to {HARD_MAX}"));
                (DEFAULT_MAX, None)
            }
        }
    }

    /// The entries of `matrix-include`/`matrix-exclude`: maps from parameter names to values; an
    /// include entry names every parameter.
    fn entries(&mut self, node: &Node, key: &str, names: &[String], whole: bool) -> Vec<Vec<(String, String)>> {
        let items: Vec<&Node> = match &node.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            NodeKind::Map(_) => vec![node],
            _ => {
                self.error(node.span, format!("`{key}` is a list of {{name: value}} mappings"));
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for item in items {
            let Some(map) = item.as_map() else {
                self.error(
                    item.span,
                    format!("an entry of `{key}` is a {{name: value}} mapping, not {}", item.describe()),
                );
                continue;
            };
            let mut entry = Vec::new();
            for (name, (span, value)) in map {
                if !names.contains(name) {
                    let known: Vec<&str> = names.iter().map(String::as_str).collect();
                    let help = did_you_mean_or(name, known.iter().copied(), || {
                        format!("the matrix's parameters are {}", list_or(&known))
                    });
                    self.errors.push(
                        Diagnostic::error(*span, format!("`{name}` is not a parameter of the matrix")).with_help(help),
                    );
                    continue;
                }
                match value.scalar_text() {
                    Some(text) => entry.push((name.clone(), text.into_owned())),
                    None => self
                        .error(value.span, format!("the value of `{name}` must be a scalar, not {}", value.describe())),
                }
            }
            if whole {
                let missing: Vec<&str> = names
                    .iter()
                    .filter(|n| find(&entry, n).is_empty() && !map.contains_key(*n))
                    .map(String::as_str)
                    .collect();
                if !missing.is_empty() {
                    self.errors.push(
                        Diagnostic::error(
                            item.span,
                            format!("this `{key}` cell gives no value for {}", list_or(&missing)),
                        )
                        .with_help("an added cell names every parameter of the matrix"),
                    );
                    continue;
                }
            }
            out.push(entry);
        }
        out
    }
}

/// Whether the test's `services` use a parameter of `matrix` (read from the tree loaded without a
/// cell, where its placeholders are still as written): then each cell needs its own services.
pub fn services_use(loaded: &Loaded, matrix: &Matrix) -> bool {
    fn walk(node: &Node, placeholders: &[String]) -> bool {
        match &node.kind {
            NodeKind::Str(text) => placeholders.iter().any(|p| text.contains(p.as_str())),
            NodeKind::Seq(items) => items.iter().any(|n| walk(n, placeholders)),
            NodeKind::Map(map) => map.values().any(|(_, n)| walk(n, placeholders)),
            _ => false,
        }
    }
    let placeholders: Vec<String> = matrix.names.iter().map(|n| format!("${{{n}}}")).collect();
    loaded.root.get("services").is_some_and(|s| walk(s, &placeholders))
}

/// Every combination of `lists`, the first list varying slowest.
fn product(names: &[String], lists: &[(Vec<String>, Span)]) -> Vec<Cell> {
    let mut cells = vec![Cell { values: Vec::new() }];
    for (name, (values, _)) in names.iter().zip(lists) {
        cells = cells
            .into_iter()
            .flat_map(|cell| {
                values.iter().map(move |v| {
                    let mut next = cell.clone();
                    next.values.push((name.clone(), v.clone()));
                    next
                })
            })
            .collect();
    }
    cells
}

fn find<'a>(entry: &'a [(String, String)], name: &str) -> &'a str {
    entry.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str())
}

/// Whether `cell` has every value `pattern` names.
fn matches(cell: &Cell, pattern: &[(String, String)]) -> bool {
    pattern.iter().all(|(name, value)| cell.values.iter().any(|(n, v)| n == name && v == value))
}

/// A name usable as `${name}` and in templates.
fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load, LoadOptions};

    fn loaded(yaml: &str) -> Loaded {
        let dir = std::env::temp_dir().join(format!("suite-matrix-{}-{}", std::process::id(), fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("t.yaml");
        std::fs::write(&file, yaml).unwrap();
        let loaded = load(&LoadOptions { files: vec![file], ..Default::default() }).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        loaded
    }

    fn cells(yaml: &str, env: &[(&str, &str)]) -> Result<Vec<String>, String> {
        let l = loaded(yaml);
        let lookup = |n: &str| env.iter().find(|(k, _)| *k == n).map(|(_, v)| v.to_string());
        match read_with(&l, &lookup) {
            Ok(m) => Ok(m.map(|m| m.cells.iter().map(Cell::label).collect()).unwrap_or_default()),
            Err(d) => Err(d.iter().map(|d| l.one_line(d)).collect::<Vec<_>>().join("\n")),
        }
    }

    #[test]
    fn product_varies_the_first_parameter_slowest() {
        let c = cells("execution:\n- scenario: s\n  matrix: {vus: [1, 4], model: [a, b]}\n", &[]).unwrap();
        assert_eq!(c, ["vus=1,model=a", "vus=1,model=b", "vus=4,model=a", "vus=4,model=b"]);
    }

    #[test]
    fn zip_takes_the_lists_side_by_side_and_needs_one_length() {
        let yaml = "execution:\n- scenario: s\n  matrix-mode: zip\n  matrix: {m: [a, b, c], t: [x, y, z]}\n";
        assert_eq!(cells(yaml, &[]).unwrap(), ["m=a,t=x", "m=b,t=y", "m=c,t=z"]);
        let bad = "execution:\n- scenario: s\n  matrix-mode: zip\n  matrix: {m: [a, b, c], t: [x, y]}\n";
        let e = cells(bad, &[]).unwrap_err();
        assert!(e.contains("t.yaml:4:11") && e.contains("m: 3, t: 2"), "{e}");
    }

    #[test]
    fn from_env_splits_a_comma_separated_variable() {
        let yaml = "settings:\n  env:\n    TYPES: 'tf, iris'\nexecution:\n- scenario: s\n  matrix-mode: zip\n  matrix:\n    model: {from-env: MODELS}\n    type: {from-env: TYPES}\n";
        let c = cells(yaml, &[("MODELS", "tfsimple,iris")]).unwrap();
        assert_eq!(c, ["model=tfsimple,type=tf", "model=iris,type=iris"]);
        let e = cells(yaml, &[]).unwrap_err();
        assert!(e.contains("t.yaml:8:23") && e.contains("`MODELS` is not set"), "{e}");
        let e = cells(yaml, &[("MODELS", "a,,b")]).unwrap_err();
        assert!(e.contains("empty value"), "{e}");
    }

    #[test]
    fn exclude_and_include_edit_the_cells() {
        let yaml = "execution:\n- scenario: s\n  matrix: {vus: [1, 4], model: [a, b]}\n  matrix-exclude: [{vus: 4, model: b}]\n  matrix-include: [{vus: 8, model: a}, {vus: 1, model: a}]\n";
        let c = cells(yaml, &[]).unwrap();
        assert_eq!(c, ["vus=1,model=a", "vus=1,model=b", "vus=4,model=a", "vus=8,model=a"]);
        let bad = "execution:\n- scenario: s\n  matrix: {vus: [1, 4], model: [a, b]}\n  matrix-include: [{vus: 8}, {vsu: 2, model: a}]\n";
        let e = cells(bad, &[]).unwrap_err();
        assert!(e.contains("gives no value for `model`"), "{e}");
        assert!(e.contains("`vsu` is not a parameter"), "{e}");
    }

    #[test]
    fn the_cap_and_bad_shapes_are_errors_pointing_into_the_file() {
        let yaml = "execution:\n- scenario: s\n  matrix: {a: [1, 2, 3], b: [1, 2, 3]}\n  matrix-max: 8\n";
        let e = cells(yaml, &[]).unwrap_err();
        assert!(e.contains("t.yaml:4:15") && e.contains("9 cells, more than the 8 allowed"), "{e}");
        let e = cells("execution:\n- scenario: s\n  matrix: [1, 2]\n", &[]).unwrap_err();
        assert!(e.contains("t.yaml:3:11") && e.contains("must be a mapping"), "{e}");
        let e = cells("execution:\n- scenario: s\n  matrix: {a-b: [1]}\n", &[]).unwrap_err();
        assert!(e.contains("not a parameter name"), "{e}");
        let e = cells("execution:\n- scenario: s\n  matrix: {a: [1, 1]}\n", &[]).unwrap_err();
        assert!(e.contains("twice"), "{e}");
        let e = cells("execution:\n- scenario: s\n  matrix-mode: zip\n", &[]).unwrap_err();
        assert!(e.contains("without a `matrix`"), "{e}");
        let e = cells("execution:\n- scenario: s\n  matrix: {a: [1]}\n  matrix-mode: cross\n", &[]).unwrap_err();
        assert!(e.contains("`product` or `zip`"), "{e}");
        let two = "execution:\n- scenario: s\n  matrix: {a: [1]}\n- scenario: t\n  matrix: {b: [1]}\n";
        assert!(cells(two, &[]).unwrap_err().contains("one matrix"));
    }

    #[test]
    fn placeholders_for_the_parameters_do_not_stop_reading_the_matrix() {
        let yaml = "execution:\n- concurrency: ${vus}\n  scenario: s\n  matrix: {vus: [1, 2]}\nscenarios:\n  s:\n    requests: ['http://127.0.0.1/${vus}']\n";
        assert_eq!(cells(yaml, &[]).unwrap(), ["vus=1", "vus=2"]);
        assert_eq!(cells("execution:\n- scenario: s\n", &[]).unwrap(), Vec::<String>::new());
    }
}
