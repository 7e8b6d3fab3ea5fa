//! The OpenMetrics 1.0 text exposition of the live figures: per family `# TYPE`, `# UNIT` where
//! it has one and `# HELP`, then its samples (a counter's named `_total`), and `# EOF` at the end.

use std::fmt::Write as _;
use std::sync::Arc;

use super::{Family, Snapshot};

/// The `Content-Type` of [`render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every family with the samples of `tests`; a test that has ended keeps only its counters.
pub fn render(tests: &[Arc<Snapshot>]) -> String {
    let mut out = String::new();
    for family in Family::ALL {
        let kind = if family.is_counter() { "counter" } else { "gauge" };
        let _ = writeln!(out, "# TYPE {} {kind}", family.name());
        if let Some(unit) = family.unit() {
            let _ = writeln!(out, "# UNIT {} {unit}", family.name());
        }
        let _ = writeln!(out, "# HELP {} {}", family.name(), family.help());
        for test in tests.iter().filter(|t| family.is_counter() || !t.ended) {
            test.each(family, |extra, value| {
                out.push_str(family.sample_name());
                out.push('{');
                label(&mut out, "test", &test.test);
                if !test.cell.is_empty() {
                    out.push(',');
                    label(&mut out, "cell", &test.cell);
                }
                for (name, value) in extra {
                    out.push(',');
                    label(&mut out, name, value);
                }
                let _ = writeln!(out, "}} {value}");
            });
        }
    }
    out.push_str("# EOF\n");
    out
}

/// `name="value"`, the value escaped as OpenMetrics asks: `\\`, `\"` and `\n`.
fn label(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::super::Figures;
    use super::*;

    fn snapshot(test: &str, cell: &str, ended: bool) -> Arc<Snapshot> {
        let figures = Figures {
            label: "ALL".into(),
            requests: 12,
            failures: 1,
            per_second: 4,
            quantiles: Some([0.01, 0.02, 0.025, 0.5]),
            average: Some(0.0125),
            ttft: Some([0.05, 0.06, 0.07, 0.08]),
            itl: None,
            tokens_per_s: Some(40.5),
        };
        Arc::new(Snapshot { test: test.into(), cell: cell.into(), end_ms: 0, users: 2, labels: vec![figures], ended })
    }

    #[test]
    fn the_exposition_has_every_family_its_samples_and_eof() {
        let text = render(&[snapshot("api", "vus=2,rate=5", false)]);
        let expected = r#"# TYPE suite_requests counter
# HELP suite_requests Requests ended since the test started.
suite_requests_total{test="api",cell="vus=2,rate=5",label="ALL"} 12
# TYPE suite_failures counter
# HELP suite_failures Failed requests since the test started.
suite_failures_total{test="api",cell="vus=2,rate=5",label="ALL"} 1
# TYPE suite_requests_per_second gauge
# HELP suite_requests_per_second Requests ended in the last closed second.
suite_requests_per_second{test="api",cell="vus=2,rate=5",label="ALL"} 4
# TYPE suite_response_time_seconds gauge
# UNIT suite_response_time_seconds seconds
# HELP suite_response_time_seconds Response-time percentiles of the last closed second.
suite_response_time_seconds{test="api",cell="vus=2,rate=5",label="ALL",quantile="0.5"} 0.01
suite_response_time_seconds{test="api",cell="vus=2,rate=5",label="ALL",quantile="0.9"} 0.02
suite_response_time_seconds{test="api",cell="vus=2,rate=5",label="ALL",quantile="0.95"} 0.025
suite_response_time_seconds{test="api",cell="vus=2,rate=5",label="ALL",quantile="0.99"} 0.5
# TYPE suite_response_time_average_seconds gauge
# UNIT suite_response_time_average_seconds seconds
# HELP suite_response_time_average_seconds Average response time of the last closed second.
suite_response_time_average_seconds{test="api",cell="vus=2,rate=5",label="ALL"} 0.0125
# TYPE suite_active_users gauge
# HELP suite_active_users Most virtual users active in the last closed second.
suite_active_users{test="api",cell="vus=2,rate=5"} 2
# TYPE suite_time_to_first_token_seconds gauge
# UNIT suite_time_to_first_token_seconds seconds
# HELP suite_time_to_first_token_seconds Streamed responses' time to first token, percentiles of the last closed second.
suite_time_to_first_token_seconds{test="api",cell="vus=2,rate=5",label="ALL",quantile="0.5"} 0.05
suite_time_to_first_token_seconds{test="api",cell="vus=2,rate=5",label="ALL",quantile="0.9"} 0.06
suite_time_to_first_token_seconds{test="api",cell="vus=2,rate=5",label="ALL",quantile="0.95"} 0.07
suite_time_to_first_token_seconds{test="api",cell="vus=2,rate=5",label="ALL",quantile="0.99"} 0.08
# TYPE suite_inter_token_latency_seconds gauge
# UNIT suite_inter_token_latency_seconds seconds
# HELP suite_inter_token_latency_seconds Streamed responses' gaps between tokens, percentiles of the last closed second.
# TYPE suite_tokens_per_second gauge
# HELP suite_tokens_per_second Streamed responses' tokens per second in the last closed second.
suite_tokens_per_second{test="api",cell="vus=2,rate=5",label="ALL"} 40.5
# EOF
"#;
        assert_eq!(text, expected);
    }

    #[test]
    fn an_ended_test_keeps_its_counters_alone_and_no_cell_means_no_cell_label() {
        let text = render(&[snapshot("done", "", true)]);
        assert!(text.contains("suite_requests_total{test=\"done\",label=\"ALL\"} 12\n"), "{text}");
        assert!(text.contains("suite_failures_total{test=\"done\",label=\"ALL\"} 1\n"), "{text}");
        assert!(!text.contains("suite_active_users{"), "{text}");
        assert!(!text.contains("suite_response_time_seconds{"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = String::new();
        label(&mut out, "label", "GET \"a\\b\"\nnext");
        assert_eq!(out, r#"label="GET \"a\\b\"\nnext""#);
    }
}
