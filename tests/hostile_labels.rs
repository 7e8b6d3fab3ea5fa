//! Labels holding characters a file format or a terminal cannot take as they are: every XML file
//! stays well-formed and schema-valid, and the console shows them neutralised and cut to a width.

use std::time::Duration;

use crate::util::{DemoTarget, Junit, Output, Project};

/// A label with U+FFFE, U+FFFF (forbidden in XML 1.0) and an ANSI colour escape, as YAML escapes.
const ODD_LABEL: &str = r"odd\uFFFE\uFFFF\e[31mred\x07";

fn suite_yaml(target: &DemoTarget, long_label: &str) -> String {
    format!(
        r#"execution:
- concurrency: 1
  hold-for: 2s
  scenario: s
scenarios:
  s:
    think-time: 100ms
    requests:
    - url: {url}/missing
      label: "{ODD_LABEL}"
    - url: {url}/missing
      label: "{long_label}"
reporting:
- module: passfail
  criteria:
  - subject: avg-rt
    label: "{ODD_LABEL}"
    condition: '>'
    threshold: 10s
- module: junit-xml
  data-source: sample-labels
- junit-xml
"#,
        url = target.url()
    )
}

fn run_odd(long_label: &str) -> (Project, Output) {
    let p = Project::new();
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "1", "--models", "m"]);
    p.file("t/odd.yaml", &suite_yaml(&target, long_label));
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    (p, out)
}

#[test]
fn labels_with_characters_xml_forbids_leave_every_xml_file_well_formed() {
    let (_p, out) = run_odd("short");
    let run = out.run_dir();
    for path in [run.join("junit.xml"), run.join("odd/xunit.xml"), run.join("odd/sample-labels.xml")] {
        assert!(path.is_file(), "{} missing\n{out}", path.display());
        let junit = Junit::read(&path);
        junit.assert_schema_valid();
        assert!(junit.text.contains(r"odd\u{fffe}\u{ffff}"), "{junit}");
    }
}

#[test]
fn the_console_shows_escapes_visibly_and_cuts_long_labels() {
    let long = format!("/long{}end", "x".repeat(100_000));
    let (_p, out) = run_odd(&long);
    assert!(!out.stdout.contains('\u{1b}') && !out.stdout.contains('\u{7}'), "raw control characters: {out}");
    assert!(out.stdout.contains(r"odd\u{fffe}\u{ffff}\u{1b}[31mred\u{7}"), "{out}");
    let widest = out.stdout.lines().map(|l| l.chars().count()).max().unwrap_or(0);
    assert!(widest < 200, "a console line is {widest} characters wide");
    assert!(
        out.stdout.contains("/longxxx") && out.stdout.contains("xxxend"),
        "{}",
        &out.stdout[..2000.min(out.stdout.len())]
    );
    // The files keep the whole label.
    let kpi = std::fs::read_to_string(out.run_dir().join("odd/kpi.csv")).unwrap();
    assert!(kpi.contains(&long));
}
