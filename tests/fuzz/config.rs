//! The config loader, merge and plan: several documents written to files (one may be reached
//! only through `included-configs`), `-o` overrides and `${VAR}`s, loaded with
//! `suite::config::load_with`, then built with `suite::plan::build`, and every diagnostic
//! rendered. Inputs are arbitrary text, documents assembled from Taurus's keys with
//! odd values, and mutations of a valid test file.
//!
//! Property: nothing panics (errors are fine).

use std::path::PathBuf;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;

use suite::config::{load_with, LoadOptions};

use super::{catch_quietly, run};

/// A valid test file to mutate.
const VALID: &str = "execution:
- concurrency: 2
  ramp-up: 1s
  hold-for: 2s
  throughput: 10
  steps: 2
  scenario: s
scenarios:
  s:
    default-address: http://127.0.0.1:9
    think-time: uniform(10ms, 5ms)
    timeout: 1s
    headers: {A: '1'}
    variables: {v: x}
    requests:
    - /a?${v}
    - url: /b
      method: POST
      label: b
      body: {k: '${HOST}'}
      assert: [ok]
      extract-jsonpath: {id: $.id}
    - transaction: t
      do: [/c]
    - loop: 2
      do: [/d]
reporting:
- module: passfail
  criteria:
  - avg-rt of b>150ms for 2s, stop as failed
  - subject: fail
    condition: '>'
    threshold: 5%
    timeframe: 1s
services:
- module: shellexec
  prepare: [echo hi]
- module: monitoring
  local:
  - metrics: [cpu]
settings:
  env:
    HOST: 127.0.0.1:${PORT}
";

/// Keys Taurus and suite know, and a few near misses; any may carry a merge prefix.
const KEYS: &[&str] = &[
    "execution",
    "concurrency",
    "hold-for",
    "ramp-up",
    "iterations",
    "throughput",
    "steps",
    "scenario",
    "scenarios",
    "s",
    "requests",
    "url",
    "method",
    "label",
    "headers",
    "body",
    "think-time",
    "timeout",
    "keepalive",
    "variables",
    "data-sources",
    "settings",
    "env",
    "A",
    "B",
    "reporting",
    "module",
    "criteria",
    "services",
    "local",
    "metrics",
    "arrival-rate",
    "max-vus",
    "delay",
    "transaction",
    "do",
    "loop",
    "once",
    "include-scenario",
    "assert",
    "extract-jsonpath",
    "extract-regexp",
    "set-variables",
    "action",
    "default-address",
    "modules",
    "subject",
    "condition",
    "threshold",
    "timeframe",
    "logic",
    "class",
    "stop",
    "fail",
    "message",
    "included-configs",
    "hold_for",
    "prepare",
    "interval",
    "path",
    "",
    "x",
];
const PREFIXES: &[&str] = &["", "", "", "", "~", "^", "$"];

/// Scalars: times at and past the limits, numbers, placeholders, criteria, near-YAML.
const SCALARS: &[&str] = &[
    "1s",
    "0",
    "-1",
    "10",
    "2.5",
    "1e30",
    "1.0e+30",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999d",
    "36500d",
    "inf",
    ".nan",
    "-.inf",
    "''",
    "null",
    "~",
    "true",
    "no",
    "${A}",
    "${B}",
    "${NOPE}",
    "'${A}${B}'",
    "$HOME",
    "http://127.0.0.1:9/x",
    "/rel",
    "uniform(1s, 2s)",
    "gaussian(0s, 0s)",
    "poisson(5s, 10s)",
    "'avg-rt>1s for 0s'",
    "'fail>200%'",
    "'p99.9 of x>1s within 3s, continue as failed'",
    "'My: rc4??>-5%'",
    "s",
    "f1.yml",
    "f2.yml",
    "nope.yml",
    "'a: b'",
    "\"\\u00e9\\t\"",
    "[]",
    "{}",
    "[1, [2, {a: 3}]]",
    "{~x: 1, ^y: 2, $z: [3]}",
    "&a 1",
    "*a",
    "!!str 5",
    "|\n  block",
    "\"unterminated",
];

/// A YAML value rendered as block-style text at `indent`, from a small random tree.
#[derive(Clone, Debug)]
enum Tree {
    Scalar(&'static str),
    Map(Vec<(String, Tree)>),
    Seq(Vec<Tree>),
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = select(SCALARS).prop_map(Tree::Scalar);
    leaf.prop_recursive(4, 24, 5, |inner| {
        let key = (select(PREFIXES), select(KEYS)).prop_map(|(p, k)| format!("{p}{k}"));
        prop_oneof![
            prop::collection::vec((key, inner.clone()), 0..5).prop_map(Tree::Map),
            prop::collection::vec(inner, 0..4).prop_map(Tree::Seq),
        ]
    })
}

fn render(tree: &Tree, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match tree {
        Tree::Scalar(s) => {
            out.push(' ');
            out.push_str(s);
            out.push('\n');
        }
        Tree::Map(entries) if entries.is_empty() => out.push_str(" {}\n"),
        Tree::Seq(items) if items.is_empty() => out.push_str(" []\n"),
        Tree::Map(entries) => {
            out.push('\n');
            for (key, value) in entries {
                out.push_str(&format!("{pad}{key}:"));
                render(value, indent + 2, out);
            }
        }
        Tree::Seq(items) => {
            out.push('\n');
            for item in items {
                out.push_str(&format!("{pad}-"));
                render(item, indent + 2, out);
            }
        }
    }
}

/// A document with Taurus's top-level shape and random contents.
fn shaped() -> impl Strategy<Value = String> {
    let top = (
        select(PREFIXES),
        select(&["execution", "scenarios", "reporting", "services", "settings", "modules", "included-configs"][..]),
    );
    prop::collection::vec((top, tree()), 1..6).prop_map(|entries| {
        let mut out = String::new();
        for ((prefix, key), value) in entries {
            out.push_str(&format!("{prefix}{key}:"));
            render(&value, 2, &mut out);
        }
        out
    })
}

/// The valid file with a few lines swapped, dropped, duplicated or re-valued.
fn mutated() -> impl Strategy<Value = String> {
    let edit = (any::<usize>(), 0..5u8, select(SCALARS), select(KEYS));
    prop::collection::vec(edit, 1..6).prop_map(|edits| {
        let mut lines: Vec<String> = VALID.lines().map(str::to_string).collect();
        for (i, op, scalar, key) in edits {
            let i = i % lines.len();
            match op {
                0 => {
                    lines.remove(i);
                    if lines.is_empty() {
                        lines.push(String::new());
                    }
                }
                1 => lines.insert(i, lines[i].clone()),
                2 => {
                    // Replace the value after the first `: `, or append one.
                    let line = &lines[i];
                    let cut = line.find(": ").map_or(line.len(), |c| c + 1);
                    lines[i] = format!("{} {scalar}", &line[..cut]);
                }
                3 => {
                    let line = &lines[i];
                    let indent = line.len() - line.trim_start().len();
                    lines.insert(i, format!("{}{key}: {scalar}", &line[..indent]));
                }
                _ => {
                    let j = (i * 7 + 3) % lines.len();
                    lines.swap(i, j);
                }
            }
        }
        lines.join("\n") + "\n"
    })
}

fn document() -> impl Strategy<Value = String> {
    let multi = (shaped(), mutated()).prop_map(|(a, b)| format!("{b}---\n{a}"));
    prop_oneof![1 => any::<String>(), 1 => "[ -~\n]{0,200}", 4 => shaped(), 4 => mutated(), 2 => multi]
}

fn overrides() -> impl Strategy<Value = Vec<String>> {
    let part = prop_oneof![
        select(KEYS).prop_map(str::to_string),
        (0..3usize).prop_map(|i| i.to_string()),
        Just("-1".into()),
        Just("*think-time".into()),
        Just("^hold-for".into())
    ];
    let path = prop::collection::vec(part, 1..4).prop_map(|parts| parts.join("."));
    let value = prop_oneof![select(SCALARS).prop_map(str::to_string), "[ -~]{0,20}"];
    prop::collection::vec((path, value).prop_map(|(p, v)| format!("{p}={v}")), 0..3)
}

/// Files `f0.yml`… (the last one only reachable through `included-configs`) and overrides.
fn input() -> impl Strategy<Value = (Vec<String>, Vec<String>)> {
    (prop::collection::vec(document(), 1..4), overrides())
}

#[test]
fn load_merge_and_plan_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let os_env = |name: &str| match name {
        "PORT" => Some("8080".to_string()),
        "HOME" => Some("/root".to_string()),
        "A" => Some("${B}".to_string()),
        _ => None,
    };
    run("config load, merge and plan", 512, input(), |(docs, overrides)| {
        let mut files: Vec<PathBuf> = Vec::new();
        for (i, doc) in docs.iter().enumerate() {
            let path = dir.path().join(format!("f{i}.yml"));
            std::fs::write(&path, doc).unwrap();
            files.push(path);
        }
        if files.len() > 1 {
            files.pop();
        }
        let options = LoadOptions { files, overrides, env: vec![("TAURUS_ARTIFACTS_DIR".into(), "/tmp/art".into())] };
        match catch_quietly(|| load_and_plan(&options, &os_env)) {
            Ok(()) => Ok(()),
            Err(message) => Err(TestCaseError::fail(format!("panicked: {message}"))),
        }
    });
}

/// What `suite validate` does with a configuration, every diagnostic rendered.
fn load_and_plan(options: &LoadOptions, os_env: &dyn Fn(&str) -> Option<String>) {
    match load_with(options, os_env) {
        Ok(mut loaded) => {
            let _ = loaded.effective_yaml();
            for w in &loaded.warnings {
                let _ = loaded.render(w);
            }
            match suite::plan::build(&mut loaded) {
                Ok(plan) => plan.warnings.iter().for_each(|w| drop(loaded.render(w))),
                Err(diags) => diags.iter().for_each(|d| drop(loaded.render(d))),
            }
        }
        Err((diags, sources)) => diags.iter().for_each(|d| drop(d.render(&sources))),
    }
}

/// Found by the harness: a time written as a YAML float once reached `Duration::from_secs_f64`
/// unchecked and panicked.
#[test]
fn a_float_time_value_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    for key in ["hold-for", "ramp-up"] {
        let path = dir.path().join("t.yml");
        let text = VALID.replace("hold-for: 2s", "hold-for: 2").replace("hold-for: 2", &format!("{key}: 1.0e+30"));
        std::fs::write(&path, text).unwrap();
        let options = LoadOptions { files: vec![path], ..LoadOptions::default() };
        let mut loaded = load_with(&options, &|_| None).unwrap_or_else(|_| panic!("{key}: the config loads"));
        let diags = suite::plan::build(&mut loaded).err().unwrap_or_else(|| panic!("{key}: 1.0e+30 must be refused"));
        let text: Vec<String> = diags.iter().map(|d| loaded.render(d)).collect();
        assert!(text.iter().any(|t| t.contains("too large")), "{key}: {text:?}");
    }
}
