//! Labels holding characters a file format or a terminal cannot take as they are: every XML file
//! stays well-formed and schema-valid, and the console shows them neutralised and cut to a width.

use std::time::Duration;

use crate::util::{DemoTarget, Junit, Project};

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

#[test]
fn labels_with_characters_xml_forbids_leave_every_xml_file_well_formed() {
    let p = Project::new();
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "1", "--models", "m"]);
    p.file("t/odd.yaml", &suite_yaml(&target, "short"));
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_dir();
    for path in [run.join("junit.xml"), run.join("odd/xunit.xml"), run.join("odd/sample-labels.xml")] {
        assert!(path.is_file(), "{} missing\n{out}", path.display());
        let junit = Junit::read(&path);
        junit.assert_schema_valid();
        assert!(junit.text.contains(r"odd\u{fffe}\u{ffff}"), "{junit}");
    }
}
