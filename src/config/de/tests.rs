use super::*;
use crate::config::source::Sources;
use crate::config::yaml::parse_config;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)]
struct Execution {
    concurrency: Option<u32>,
    hold_for: Option<String>,
    scenario: Spanned<String>,
    #[serde(default)]
    criteria: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Root {
    execution: Vec<Execution>,
    #[serde(default)]
    modules: BTreeMap<String, Node>,
}

fn load(text: &str) -> (Sources, Node) {
    let mut sources = Sources::new();
    let id = sources.add_file(Path::new("suites/demo_criteria.yaml"), text.to_string());
    let root = parse_config(&sources, id).unwrap().docs.remove(0);
    (sources, root)
}

fn error<T: DeserializeOwned>(text: &str) -> (Sources, Diagnostic) {
    let (sources, root) = load(text);
    match from_node::<T>(&root) {
        Ok(_) => panic!("expected an error for {text:?}"),
        Err(e) => (sources, e),
    }
}

#[test]
fn reads_typed_values_with_spans_and_raw_nodes() {
    let (sources, root) = load(
        "execution:\n- concurrency: 10\n  hold-for: 1m\n  scenario: home\n  criteria: ['avg-rt>150ms']\nmodules:\n  jmeter: {properties: {a: 1}}\n",
    );
    let parsed: Root = from_node(&root).unwrap();
    let exec = &parsed.execution[0];
    assert_eq!(exec.concurrency, Some(10));
    assert_eq!(*exec.scenario, "home");
    assert_eq!((exec.scenario.span.line, exec.scenario.span.col), (4, 13));
    assert_eq!(sources.slice(exec.criteria[0].span), "'avg-rt>150ms'");
    let jmeter = &parsed.modules["jmeter"];
    assert_eq!(jmeter.pointer(["properties", "a"]).and_then(Node::as_i64), Some(1));
    assert_eq!(jmeter.span.line, 7, "a raw node keeps its spans");
}

#[test]
fn strings_accept_scalars_as_written_numbers_do_not_accept_strings() {
    #[derive(Deserialize)]
    struct S {
        label: String,
        ratio: String,
        flag: String,
        port: u16,
    }
    let (_, root) = load("label: 200\nratio: 1.50\nflag: yes\nport: 8080\n");
    let s: S = from_node(&root).unwrap();
    assert_eq!((s.label.as_str(), s.ratio.as_str(), s.flag.as_str(), s.port), ("200", "1.50", "yes", 8080));

    let (sources, err) = error::<S>("label: a\nratio: b\nflag: c\nport: '8080'\n");
    assert_eq!(
        err.one_line(&sources),
        "suites/demo_criteria.yaml:4:7: error: expected a whole number (0 or more), found a string `8080`"
    );
}

#[test]
fn wrong_type_points_at_the_value() {
    let (sources, err) = error::<Root>("execution:\n- concurrency: ten\n  scenario: s\n");
    assert_eq!(
        err.render(&sources),
        "error: expected a whole number (0 or more), found a string `ten`
  --> suites/demo_criteria.yaml:2:16
   |
 2 | - concurrency: ten
   |                ^^^
"
    );
    let (sources, err) = error::<Root>("execution: {concurrency: 1}\n");
    assert_eq!(err.one_line(&sources), "suites/demo_criteria.yaml:1:12: error: expected a list, found a mapping");
}

#[test]
fn numbers_out_of_range_and_yaml_1_1_strings_say_what_is_wrong() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct S {
        small: Option<u32>,
        ratio: Option<f64>,
    }
    for (yaml, message) in [
        ("small: 4294967296", "1:8: error: the number `4294967296` is out of range: at most 4294967295"),
        ("small: 99999999999999999999", "1:8: error: the number `100000000000000000000` is out of range: at most 4294967295"),
        ("small: -1", "1:8: error: expected a whole number (0 or more), found the number `-1`"),
        ("ratio: 1e3", "1:8: error: expected a number, found `1e3`, which is a string in YAML 1.1; write 1000 or 1.0e+3"),
        ("ratio: 2.5E4", "1:8: error: expected a number, found `2.5E4`, which is a string in YAML 1.1; write 25000 or 2.5e+4"),
        ("small: 1e3", "1:8: error: expected a whole number (0 or more), found `1e3`, which is a string in YAML 1.1; write 1000"),
        ("small: 1e30", "1:8: error: expected a whole number (0 or more), found `1e30`, which is a string in YAML 1.1; as a whole number it is out of range too"),
        ("small: '12'", "1:8: error: expected a whole number (0 or more), found a string `12`"),
        ("ratio: inf", "1:8: error: expected a number, found a string `inf`"),
    ] {
        let (sources, err) = error::<S>(yaml);
        assert_eq!(err.one_line(&sources), format!("suites/demo_criteria.yaml:{message}"), "{yaml}");
    }
}

#[test]
fn unknown_key_points_at_the_key_with_a_suggestion() {
    let (sources, err) = error::<Root>("execution:\n- concurrency: 10\n  scenario: s\n  hold_for: 10s\n");
    assert_eq!(
        err.render(&sources),
        "error: unknown key `hold_for` in an execution
  --> suites/demo_criteria.yaml:4:3
   |
 4 |   hold_for: 10s
   |   ^^^^^^^^
   = help: did you mean `hold-for`?
"
    );
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Config {
        execution: Vec<Execution>,
    }
    let (sources, err) = error::<Config>("execution: []\nexecutoin: []\n");
    assert_eq!(
        err.one_line(&sources),
        "suites/demo_criteria.yaml:2:1: error: unknown key `executoin` at the top level"
    );
    assert_eq!(err.help.as_deref(), Some("did you mean `execution`?"));
    let (_, err) = error::<Root>("execution:\n- scenario: s\n  zzz: 1\n");
    assert_eq!(err.help.as_deref(), Some("known keys are `concurrency`, `hold-for`, `scenario` or `criteria`"));
}

#[test]
fn missing_key_points_at_the_mapping() {
    let (sources, err) = error::<Root>("execution:\n- concurrency: 10\n  hold-for: 1m\n");
    assert_eq!(
        err.render(&sources),
        "error: missing key `scenario` in an execution
  --> suites/demo_criteria.yaml:2:3
   |
 2 | - concurrency: 10
   |   ^^^^^^^^^^^^^^^
"
    );
}

#[test]
fn custom_errors_point_at_their_field() {
    fn secs<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let text = String::deserialize(d)?;
        crate::config::duration::parse_secs(&text).map_err(de::Error::custom)
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct S {
        #[serde(deserialize_with = "secs")]
        timeout: f64,
    }
    let (sources, err) = error::<S>("timeout: 10x\n");
    assert_eq!(
        err.one_line(&sources),
        "suites/demo_criteria.yaml:1:10: error: `10x` is not a time value: expected a number with an optional unit (`d`, `h`, `m`, `s`, `ms`), e.g. `10s`, `1m30s`, `250ms`"
    );
}

#[test]
fn enums_and_their_errors() {
    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "kebab-case")]
    enum Kind {
        Local,
        Remote { host: String },
    }
    #[derive(Debug, Deserialize)]
    struct S {
        kind: Vec<Kind>,
    }
    let (_, root) = load("kind: [local, {remote: {host: h}}]\n");
    let s: S = from_node(&root).unwrap();
    assert_eq!(s.kind, [Kind::Local, Kind::Remote { host: "h".into() }]);
    let (sources, err) = error::<S>("kind: [lokal]\n");
    assert_eq!(
        err.one_line(&sources),
        "suites/demo_criteria.yaml:1:8: error: unknown value `lokal`, expected `local` or `remote`"
    );
    assert_eq!(err.help.as_deref(), Some("did you mean `local`?"));
    let (sources, err) = error::<S>("kind: [{remote: {hots: h}}]\n");
    assert_eq!(err.one_line(&sources), "suites/demo_criteria.yaml:1:17: error: missing key `host` in `remote`");
}

#[test]
fn nulls_read_as_empty_collections_and_none() {
    #[derive(Debug, Deserialize)]
    struct S {
        list: Vec<u32>,
        map: BTreeMap<u16, String>,
        opt: Option<u32>,
    }
    let (_, root) = load("list:\nmap: {200: ok}\nopt:\n");
    let s: S = from_node(&root).unwrap();
    assert!(s.list.is_empty());
    assert_eq!(s.map[&200], "ok");
    assert_eq!(s.opt, None);
}

#[test]
fn substituted_values_carry_their_note() {
    let (sources, mut root) = load("execution:\n- concurrency: ${C}\n  scenario: s\n");
    let lookup = |name: &str| (name == "C").then(|| "many".to_string());
    let mut sources = sources;
    crate::config::env::substitute(&mut root, &[], &lookup, &mut sources, &mut Vec::new());
    let err = from_node::<Root>(&root).unwrap_err();
    assert_eq!(
        err.render(&sources),
        "error: expected a whole number (0 or more), found a string `many`
  --> suites/demo_criteria.yaml:2:16
   |
 2 | - concurrency: ${C}
   |                ^^^^
   = note: `${C}` was substituted from the environment
"
    );
}

#[test]
fn error_inside_a_quoted_criterion_string() {
    let (sources, root) = load("criteria:\n  - \"avg-rt of home>150ms fr 10s, stop as failed\"\n  - avg-rt>1s fr 5s\n");
    #[derive(Deserialize)]
    struct S {
        criteria: Vec<Spanned<String>>,
    }
    let s: S = from_node(&root).unwrap();
    for criterion in &s.criteria {
        // A criteria parser reports a byte range of the criterion text…
        let at = criterion.find("fr").unwrap();
        let span = sources.inner_span(criterion.span, criterion, at, 2);
        let d = Diagnostic::error(span, "expected `for`, `within` or `over` after the threshold, found `fr`")
            .with_help("did you mean `for`?");
        assert_eq!(sources.slice(span), "fr");
        if criterion.span.line == 2 {
            assert_eq!(
                d.render(&sources),
                "error: expected `for`, `within` or `over` after the threshold, found `fr`
  --> suites/demo_criteria.yaml:2:27
   |
 2 |   - \"avg-rt of home>150ms fr 10s, stop as failed\"
   |                           ^^
   = help: did you mean `for`?
"
            );
        }
    }
}

#[test]
fn mapping_keys_can_be_spanned() {
    let (sources, root) = load("scenarios:\n  home: {timeout: 5s}\n  200: {timeout: 1s}\n");
    #[derive(Deserialize)]
    struct S {
        scenarios: indexmap::IndexMap<Spanned<String>, Node>,
    }
    let s: S = from_node(&root).unwrap();
    let keys: Vec<(&str, &str)> = s.scenarios.keys().map(|k| (k.as_str(), sources.slice(k.span))).collect();
    assert_eq!(keys, [("home", "home"), ("200", "200")]);
}

#[test]
fn spanned_outside_the_config_deserializer_is_an_error() {
    let result: Result<Spanned<String>, _> = serde_json::from_str("\"x\"");
    assert!(result.is_err());
    let result: Result<Node, _> = serde_json::from_str("{}");
    assert!(result.is_err());
}
