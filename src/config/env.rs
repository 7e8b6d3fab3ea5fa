//! `${NAME}` substitution in string values, after merging and overrides (Taurus's
//! `Engine.eval_env`).
//!
//! Names come from `settings.env` layered over the OS environment: a `settings.env` value wins,
//! `NAME: null` there unsets the variable (its placeholders become empty, as in Taurus), and
//! values the caller predefines (the runner passes `TAURUS_ARTIFACTS_DIR` and `BASEDIR`) are
//! written into `settings.env` first, replacing what the files said. `settings.env` values may
//! themselves use OS variables (`$VAR` or `${VAR}`, expanded twice like Taurus's
//! `expand_envs_with_os`) and each other: deliberate fix, a chain of any depth resolves
//! (`A: ${B}`, `B: ${C}`, `C: x` gives `A = x`, where Taurus's fixed two passes leave `${C}`),
//! and a cycle is an error. Keys are never substituted, and unknown names are left as they
//! are, because scenario variables use the same `${name}` syntax; each one left is recorded
//! ([`Unset`]) so that an error about the value can name the variable rather than its text
//! (see [`crate::config::Loaded::render`]).
//!
//! Taurus leaves substituted values as strings; we retype one case: a *plain* scalar that is
//! exactly one placeholder (`stop: ${STOP}`) takes the type its new text has in YAML, so
//! `STOP=false` gives a boolean and `T=132000000` a number. Substituted nodes keep their span
//! and get a note naming the variable.

use std::collections::HashMap;
use std::sync::LazyLock;

use indexmap::IndexMap;
use regex::Regex;

use crate::config::diagnostic::Diagnostic;
use crate::config::node::{Node, NodeKind, Style};
use crate::config::source::{Sources, Span};
use crate::config::yaml::resolve_plain;

/// `${NAME}` as Taurus's `custom_expandvars` finds it (`\$\{.*?\}`).
static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\$\{([^}\n]*)\}").expect("valid regex"));
/// `$NAME` or `${NAME}` as Python's `os.path.expandvars` finds it.
static OS_VAR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\$(\w+|\{[^}]*\})").expect("valid regex"));

/// How many times substitution is applied (Taurus's `VARIABLE_EXPAND_DEPTH`).
const DEPTH: usize = 2;

/// Where a variable's value came from.
#[derive(Clone, Debug)]
enum Value {
    /// From `settings.env` (or predefined by the caller).
    Settings(String),
    /// `NAME: null` in `settings.env`.
    Unset,
}

/// A `settings.env` entry as read, before its `${…}` references to other entries are resolved.
struct Entry {
    value: Value,
    /// Where the value is written, for errors.
    span: Span,
}

/// A `${NAME}` that nothing set, left as written in a string value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unset {
    /// The variable's name.
    pub name: String,
    /// The string value that still holds the placeholder.
    pub span: Span,
}

/// What [`resolve`] found besides the substituted tree.
#[derive(Debug, Default)]
pub struct Resolution {
    /// Placeholders left as written, in tree order.
    pub unset: Vec<Unset>,
    /// Problems that make the configuration unusable (a cycle in `settings.env`).
    pub errors: Vec<Diagnostic>,
}

/// Substitutes `${NAME}` in every string value of `root`; [`resolve`] without its findings.
pub fn substitute(
    root: &mut Node,
    predefined: &[(String, String)],
    os_env: &dyn Fn(&str) -> Option<String>,
    sources: &mut Sources,
    warnings: &mut Vec<Diagnostic>,
) {
    resolve(root, predefined, os_env, sources, warnings);
}

/// Substitutes `${NAME}` in every string value of `root` and reports what it could not.
///
/// `predefined` are written into `settings.env` first (each as a pseudo-source
/// `<environment NAME>`); `os_env` looks up the OS environment (`std::env::var` in production).
pub fn resolve(
    root: &mut Node,
    predefined: &[(String, String)],
    os_env: &dyn Fn(&str) -> Option<String>,
    sources: &mut Sources,
    warnings: &mut Vec<Diagnostic>,
) -> Resolution {
    predefine(root, predefined, sources);
    let mut resolution = Resolution::default();
    let table = settings_table(root, os_env, warnings);
    let table = resolve_chains(table, os_env, &mut resolution.errors);
    let lookup = |name: &str| -> Option<(String, &'static str)> {
        match table.get(name) {
            Some(Value::Settings(v)) => Some((v.clone(), "settings.env")),
            Some(Value::Unset) => Some((String::new(), "settings.env, where it is unset")),
            None => os_lookup(os_env, name).map(|v| (v, "the environment")),
        }
    };
    walk(root, &lookup, &mut resolution.unset);
    resolution
}

/// Writes the caller's predefined variables into `settings.env`, creating it if needed.
fn predefine(root: &mut Node, predefined: &[(String, String)], sources: &mut Sources) {
    let nodes: Vec<(String, Node)> = predefined
        .iter()
        .map(|(name, value)| {
            let id = sources.add_pseudo(format!("<environment {name}>"), value.clone());
            let mut node = Node::new(NodeKind::Str(value.clone()), sources.whole(id));
            node.note = Some(format!("`{name}` is set by suite"));
            (name.clone(), node)
        })
        .collect();
    let Some((_, first)) = nodes.first() else {
        return;
    };
    // Mappings created here point at the first predefined variable.
    let span = first.span;
    let Some(env) = ensure_map(root, "settings", span).and_then(|settings| ensure_map(settings, "env", span)) else {
        return;
    };
    if let Some(env) = env.as_map_mut() {
        for (name, node) in nodes {
            env.insert(name, (node.span, node));
        }
    }
}

/// The mapping under `key`, created if absent or null; `None` if something else is there.
fn ensure_map<'a>(node: &'a mut Node, key: &str, span: Span) -> Option<&'a mut Node> {
    let map = node.as_map_mut()?;
    if map.get(key).is_none_or(|(_, n)| n.is_null()) {
        map.insert(key.to_string(), (span, Node::empty_map(span)));
    }
    let child = &mut map.get_mut(key)?.1;
    child.as_map().is_some().then_some(child)
}

/// Reads `settings.env`, expanding OS variables in its values (and writing them back).
fn settings_table(
    root: &mut Node,
    os_env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<Diagnostic>,
) -> IndexMap<String, Entry> {
    let mut table = IndexMap::new();
    let Some(env) = root.get_mut("settings").and_then(|s| s.get_mut("env")).and_then(Node::as_map_mut) else {
        return table;
    };
    for (name, (_, node)) in env.iter_mut() {
        if node.is_null() {
            table.insert(name.clone(), Entry { value: Value::Unset, span: node.span });
            continue;
        }
        let Some(text) = node.scalar_text().map(|t| t.into_owned()) else {
            warnings.push(Diagnostic::warning(
                node.span,
                format!("`settings.env.{name}` must be a single value, found {}; it is ignored", node.describe()),
            ));
            continue;
        };
        let mut expanded = text.clone();
        for _ in 0..DEPTH {
            expanded = expand_os(&expanded, os_env);
        }
        if expanded != text {
            node.kind = NodeKind::Str(expanded.clone());
            node.raw = None;
            node.note.get_or_insert_with(|| "environment variables in this value were expanded".to_string());
        }
        table.insert(name.clone(), Entry { value: Value::Settings(expanded), span: node.span });
    }
    table
}

/// Replaces, in every `settings.env` value, the `${NAME}`s of other entries by their own
/// resolved values, however deep the chain; a cycle is an error and its placeholders stay.
fn resolve_chains(
    table: IndexMap<String, Entry>,
    os_env: &dyn Fn(&str) -> Option<String>,
    errors: &mut Vec<Diagnostic>,
) -> HashMap<String, Value> {
    let mut done: HashMap<String, Value> = HashMap::new();
    for name in table.keys() {
        let mut path = Vec::new();
        resolve_entry(name, &table, os_env, &mut done, &mut path, errors);
    }
    done
}

/// Resolves one entry (memoized in `done`); `path` holds the entries being resolved, outermost
/// first, to find cycles.
fn resolve_entry(
    name: &str,
    table: &IndexMap<String, Entry>,
    os_env: &dyn Fn(&str) -> Option<String>,
    done: &mut HashMap<String, Value>,
    path: &mut Vec<String>,
    errors: &mut Vec<Diagnostic>,
) -> Option<Value> {
    if let Some(value) = done.get(name) {
        return Some(value.clone());
    }
    let entry = table.get(name)?;
    if let Some(at) = path.iter().position(|n| n == name) {
        // Reported once, by the entry that closes the cycle first.
        let mut names: Vec<String> = path[at..].iter().map(|n| format!("`{n}`")).collect();
        names.push(format!("`{name}`"));
        errors.push(
            Diagnostic::error(
                entry.span,
                format!("`settings.env` variables refer to each other in a cycle: {}", names.join(" → ")),
            )
            .with_help("give one of them a value that does not use the others"),
        );
        // Marks the cycle as finished so no other entry reports it again.
        done.insert(name.to_string(), entry.value.clone());
        return None;
    }
    let Value::Settings(text) = &entry.value else {
        done.insert(name.to_string(), Value::Unset);
        return Some(Value::Unset);
    };
    path.push(name.to_string());
    let mut resolved = String::with_capacity(text.len());
    let mut last = 0;
    for caps in PLACEHOLDER.captures_iter(text) {
        let whole = caps.get(0).expect("group 0 always matches");
        resolved.push_str(&text[last..whole.start()]);
        last = whole.end();
        let inner = &caps[1];
        if inner == name {
            // `PATH: ${PATH}:/x` extends the OS variable of the same name (expanded above when
            // it exists); without one the text stays.
            resolved.push_str(&os_lookup(os_env, inner).unwrap_or_else(|| whole.as_str().to_string()));
            continue;
        }
        match resolve_entry(inner, table, os_env, done, path, errors) {
            Some(Value::Settings(value)) => resolved.push_str(&value),
            Some(Value::Unset) => {}
            // Not a `settings.env` entry (or part of a cycle): the OS environment, else as written.
            None => match table.contains_key(inner) {
                false => resolved.push_str(&os_lookup(os_env, inner).unwrap_or_else(|| whole.as_str().to_string())),
                true => resolved.push_str(whole.as_str()),
            },
        }
    }
    resolved.push_str(&text[last..]);
    path.pop();
    // A cycle closed below may have recorded this entry already; the first result stands.
    let value = done.entry(name.to_string()).or_insert(Value::Settings(resolved)).clone();
    Some(value)
}

/// Python's `os.path.expandvars`: `$NAME` and `${NAME}` from the OS, unknown ones kept.
fn expand_os(text: &str, os_env: &dyn Fn(&str) -> Option<String>) -> String {
    OS_VAR
        .replace_all(text, |caps: &regex::Captures<'_>| {
            let name = caps[1].trim_start_matches('{').trim_end_matches('}');
            os_lookup(os_env, name).unwrap_or_else(|| caps[0].to_string())
        })
        .into_owned()
}

/// Looks a name up in the OS environment; names the OS cannot hold are simply unknown.
fn os_lookup(os_env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    if name.is_empty() || name.contains(['=', '\0']) {
        return None;
    }
    os_env(name)
}

/// Substitutes in every string value below `node`, recording the placeholders left.
fn walk(node: &mut Node, lookup: &dyn Fn(&str) -> Option<(String, &'static str)>, unset: &mut Vec<Unset>) {
    match &mut node.kind {
        NodeKind::Seq(items) => items.iter_mut().for_each(|item| walk(item, lookup, unset)),
        NodeKind::Map(map) => map.values_mut().for_each(|(_, value)| walk(value, lookup, unset)),
        NodeKind::Str(text) => {
            if !text.contains("${") {
                return;
            }
            let original = text.clone();
            let mut used: Vec<(String, &'static str)> = Vec::new();
            let mut current = original.clone();
            for _ in 0..DEPTH {
                current = PLACEHOLDER
                    .replace_all(&current, |caps: &regex::Captures<'_>| match lookup(&caps[1]) {
                        Some((value, origin)) => {
                            if !used.iter().any(|(n, _)| n == &caps[1]) {
                                used.push((caps[1].to_string(), origin));
                            }
                            value
                        }
                        None => caps[0].to_string(),
                    })
                    .into_owned();
            }
            for caps in PLACEHOLDER.captures_iter(&current) {
                if !unset.iter().any(|u| u.span == node.span && u.name == caps[1]) {
                    unset.push(Unset { name: caps[1].to_string(), span: node.span });
                }
            }
            if used.is_empty() {
                return;
            }
            let whole_placeholder = PLACEHOLDER.find(&original).is_some_and(|m| m.range() == (0..original.len()));
            node.note = Some(match used.as_slice() {
                [(name, origin)] => format!("`${{{name}}}` was substituted from {origin}"),
                _ => {
                    let names: Vec<String> = used.iter().map(|(n, _)| format!("`${{{n}}}`")).collect();
                    format!("{} were substituted", names.join(", "))
                }
            });
            if whole_placeholder && node.style == Style::Plain {
                let kind = resolve_plain(&current);
                node.raw = match kind {
                    NodeKind::Str(_) => None,
                    _ => Some(current.clone()),
                };
                node.kind = kind;
            } else {
                node.kind = NodeKind::Str(current);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::yaml::parse_config;
    use std::path::Path;

    fn run(text: &str, predefined: &[(&str, &str)], os: &[(&str, &str)]) -> (Sources, Node) {
        let mut sources = Sources::new();
        let id = sources.add_file(Path::new("t.yml"), text.to_string());
        let mut root = parse_config(&sources, id).unwrap().docs.remove(0);
        let os: HashMap<String, String> = os.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let predefined: Vec<(String, String)> =
            predefined.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let lookup = move |name: &str| os.get(name).cloned();
        substitute(&mut root, &predefined, &lookup, &mut sources, &mut Vec::new());
        (sources, root)
    }

    #[test]
    fn substitutes_from_settings_env_and_os() {
        let (sources, root) = run(
            "settings:\n  env:\n    HOST: 127.0.0.1:${PORT}\n    GONE: null\n    HOMEDIR: $HOME/x\nurl: http://${HOST}/a\nhome: ${HOMEDIR}\nuser: ${USER}\ngone: a${GONE}b\nvar: ${scenario_var}\n${HOST}: key stays\n",
            &[],
            &[("PORT", "8080"), ("HOME", "/root"), ("USER", "me"), ("GONE", "from-os")],
        );
        assert_eq!(root.get("url").unwrap().as_str(), Some("http://127.0.0.1:8080/a"));
        assert_eq!(root.get("home").unwrap().as_str(), Some("/root/x"));
        assert_eq!(root.get("user").unwrap().as_str(), Some("me"));
        assert_eq!(root.get("gone").unwrap().as_str(), Some("ab"), "null in settings.env unsets");
        assert_eq!(root.get("var").unwrap().as_str(), Some("${scenario_var}"), "unknown names stay");
        assert!(root.get("${HOST}").is_some(), "keys are not substituted");
        let url = root.get("url").unwrap();
        assert_eq!(sources.slice(url.span), "http://${HOST}/a", "the span stays on the placeholder");
        assert_eq!(url.note.as_deref(), Some("`${HOST}` was substituted from settings.env"));
    }

    #[test]
    fn a_plain_single_placeholder_takes_the_type_of_its_value() {
        let (_, root) = run(
            "settings:\n  env:\n    STOP: 'false'\n    T: 132000000\n    RT: 290ms\nstop: ${STOP}\nthreshold: ${T}\nquoted: '${T}'\nmixed: ${T}0\nrt: ${RT}\n",
            &[],
            &[],
        );
        assert_eq!(root.get("stop").unwrap().as_bool(), Some(false));
        let threshold = root.get("threshold").unwrap();
        assert_eq!(threshold.as_i64(), Some(132_000_000));
        assert_eq!(threshold.raw.as_deref(), Some("132000000"));
        assert_eq!(root.get("quoted").unwrap().as_str(), Some("132000000"));
        assert_eq!(root.get("mixed").unwrap().as_str(), Some("1320000000"));
        assert_eq!(root.get("rt").unwrap().as_str(), Some("290ms"));
    }

    #[test]
    fn predefined_variables_win_and_land_in_settings_env() {
        let (sources, root) = run(
            "settings:\n  env:\n    BASEDIR: '.'\ndump: ${BASEDIR}/final_stats.csv\nart: ${TAURUS_ARTIFACTS_DIR}\n",
            &[("TAURUS_ARTIFACTS_DIR", "/tmp/run/t1"), ("BASEDIR", "/tmp/run/t1")],
            &[],
        );
        assert_eq!(root.get("dump").unwrap().as_str(), Some("/tmp/run/t1/final_stats.csv"));
        assert_eq!(root.get("art").unwrap().as_str(), Some("/tmp/run/t1"));
        let env = root.pointer(["settings", "env", "BASEDIR"]).unwrap();
        assert_eq!(sources.name(env.span.source), "<environment BASEDIR>");
        let (_, root) = run("a: 1\n", &[("BASEDIR", "/x")], &[]);
        assert_eq!(root.pointer(["settings", "env", "BASEDIR"]).and_then(Node::as_str), Some("/x"));
    }

    #[test]
    fn variables_may_refer_to_variables() {
        let (_, root) = run("settings:\n  env:\n    A: ${B}/a\n    B: b\nv: ${A}\n", &[], &[]);
        assert_eq!(root.get("v").unwrap().as_str(), Some("b/a"));
    }

    #[test]
    fn chains_of_any_depth_resolve() {
        let (_, root) = run(
            "settings:\n  env:\n    A: ${B}\n    B: ${C}/b\n    C: ${D}\n    D: x\nv: ${A}\nurl: http://h/${A}\n",
            &[],
            &[],
        );
        assert_eq!(root.get("v").unwrap().as_str(), Some("x/b"));
        assert_eq!(root.get("url").unwrap().as_str(), Some("http://h/x/b"));
        assert_eq!(root.pointer(["settings", "env", "A"]).and_then(Node::as_str), Some("x/b"));
    }

    #[test]
    fn a_cycle_is_an_error() {
        let mut sources = Sources::new();
        let text = "settings:\n  env:\n    A: ${B}\n    B: x${A}\n    C: ok\nv: ${C}\n";
        let id = sources.add_file(Path::new("t.yml"), text.to_string());
        let mut root = parse_config(&sources, id).unwrap().docs.remove(0);
        let found = resolve(&mut root, &[], &|_| None, &mut sources, &mut Vec::new());
        let errors: Vec<String> = found.errors.iter().map(|e| e.one_line(&sources)).collect();
        assert_eq!(
            errors,
            ["t.yml:3:8: error: `settings.env` variables refer to each other in a cycle: `A` → `B` → `A`"]
        );
        assert_eq!(root.get("v").unwrap().as_str(), Some("ok"));
    }

    #[test]
    fn placeholders_nothing_sets_are_recorded() {
        let mut sources = Sources::new();
        let text = "settings:\n  env:\n    H: ${NOPE}\na: ${H}\nb: x${T}y${U}\nc: ${OS}\n";
        let id = sources.add_file(Path::new("t.yml"), text.to_string());
        let mut root = parse_config(&sources, id).unwrap().docs.remove(0);
        let os = |name: &str| (name == "OS").then(|| "set".to_string());
        let found = resolve(&mut root, &[], &os, &mut sources, &mut Vec::new());
        let unset: Vec<(&str, &str)> = found.unset.iter().map(|u| (u.name.as_str(), sources.slice(u.span))).collect();
        assert_eq!(unset, [("NOPE", "${NOPE}"), ("NOPE", "${H}"), ("T", "x${T}y${U}"), ("U", "x${T}y${U}")]);
        assert_eq!(root.get("a").unwrap().as_str(), Some("${NOPE}"), "Taurus leaves the text");
    }

    #[test]
    fn corpus_env_eval() {
        let Some(shared) = crate::testing::shared() else { return };
        let text = std::fs::read_to_string(shared.join("corpus/taurus/tr-yaml__env-eval.yml")).unwrap();
        let (_, root) =
            run(&text, &[("TAURUS_ARTIFACTS_DIR", "/art")], &[("PATH", "/bin"), ("BZT_ENV_TEST_UNSET", "set")]);
        assert_eq!(root.get("toplevel").unwrap().as_str(), Some("success/top"));
        assert_eq!(root.pointer(["settings", "artifacts-dir"]).and_then(Node::as_str), Some("success/test/"));
        let requests = root.pointer(["scenarios", "scen1", "requests"]).and_then(Node::as_seq).unwrap();
        let texts: Vec<&str> = requests.iter().filter_map(Node::as_str).collect();
        assert_eq!(texts, ["/success/", "//bin/", "/${TEMP}/", "//art/"]);
    }
}
