//! Load models against the demo server: `throughput` as a cap (closed model) and as an arrival
//! rate (`arrival-rate: true`, open model), with steps; and a server stall, where the open model
//! keeps sending on schedule and the corrected latencies (from the scheduled send time) diverge
//! from Taurus's uncorrected ones.

use std::time::Duration;

use crate::util::artifacts::{csv_rows, summary, Row};
use crate::util::{http, DemoTarget, Junit, Output, Project};

const LIMIT: Duration = Duration::from_secs(60);

/// Runs `suite run` on `t/load.yaml`.
fn run(p: &Project, yaml: &str) -> Output {
    p.file("t/load.yaml", yaml);
    p.suite(&["run", "-t", "t"], LIMIT)
}

/// Rows of a CSV file of test `load` as column → value maps.
fn rows(out: &Output, file: &str) -> Vec<Row> {
    csv_rows(&out.run_dir().join("load").join(file))
}

fn num(row: &Row, column: &str) -> f64 {
    row.get(column).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

/// Samples of `label` in the whole test (`final_stats.csv`).
fn total_hits(out: &Output, label: &str) -> f64 {
    let all = rows(out, "final_stats.csv");
    let row = all.iter().find(|r| r["label"] == label).unwrap_or_else(|| panic!("no `{label}` in {all:?}"));
    num(row, "throughput")
}

/// Samples of `label` per second of the test (`kpi.csv`).
fn hits_per_second(out: &Output, label: &str) -> Vec<f64> {
    let mut by_second: Vec<f64> = Vec::new();
    for row in rows(out, "kpi.csv").iter().filter(|r| r["label"] == label) {
        let s = num(row, "second") as usize;
        if by_second.len() <= s {
            by_second.resize(s + 1, 0.0);
        }
        by_second[s] += num(row, "hits");
    }
    by_second
}

/// Whether the JUnit case of criterion `name` failed (`None` when there is no such case).
fn criterion_failed(junit: &Junit, name: &str) -> Option<bool> {
    junit.case(name).map(|c| c.failed)
}

#[test]
fn throughput_caps_and_arrival_rates_follow_their_steps() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- concurrency: 5
  throughput: 20
  ramp-up: 2s
  steps: 2
  hold-for: 2s
  scenario: {{requests: [{{url: '{url}/ping', label: cap}}]}}
- arrival-rate: true
  throughput: 20
  ramp-up: 2s
  steps: 2
  hold-for: 2s
  max-vus: 5
  scenario: {{requests: [{{url: '{url}/ping', label: open}}]}}
reporting:
- module: passfail
  criteria:
  - avg-lag of cap>0ms
  - avg-lag of open>50ms
  - p99-lag of open>100ms
"#,
        url = demo.url()
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    // 10/s for the first second, 20/s for the next three: 70 requests in each model.
    for label in ["cap", "open"] {
        let total = total_hits(&out, label);
        assert!((64.0..=74.0).contains(&total), "{label}: {total} samples\n{out}");
        let per_second = hits_per_second(&out, label);
        assert!(per_second.len() >= 4, "{label}: {per_second:?}");
        assert!((8.0..=12.0).contains(&per_second[0]), "{label} first step: {per_second:?}");
        assert!((17.0..=23.0).contains(&per_second[2]), "{label} second step: {per_second:?}");
    }
    let junit = out.junit();
    // A fast server: nothing was sent late in either model.
    assert_eq!(criterion_failed(&junit, "avg-lag of cap>0ms"), Some(false), "{junit}");
    assert_eq!(criterion_failed(&junit, "avg-lag of open>50ms"), Some(false), "{junit}");
    assert_eq!(criterion_failed(&junit, "p99-lag of open>100ms"), Some(false), "{junit}");
}

#[test]
fn a_stall_shows_in_corrected_latencies_only() {
    let demo = DemoTarget::start(&["--workers", "2", "--work-ms", "1"]);
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- arrival-rate: true
  throughput: 40
  hold-for: 5s
  concurrency: 2
  max-vus: 4
  scenario: {{requests: [{{url: '{url}/predictions/squeezenet', label: p}}]}}
reporting:
- module: passfail
  criteria:
  - p90 of p>300ms
  - p90-corrected of p>300ms
  - avg-rt-corrected of p>60ms
  - avg-lag of p>40ms
  - p90-lag of p>200ms
"#,
        url = demo.url()
    );
    let port = demo.port;
    // The server stalls for a second: every answer it gives in that time takes one second more.
    let staller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        let (status, body) = http(port, "POST", "/control?delay_ms=1000");
        assert_eq!(status, 200, "{body}");
        std::thread::sleep(Duration::from_millis(1000));
        let (status, body) = http(port, "POST", "/control/reset");
        assert_eq!(status, 200, "{body}");
    });
    let out = run(&p, &yaml);
    staller.join().unwrap();
    assert_eq!(out.code, 3, "{out}");
    // The schedule went on through the stall: 40/s for 5 s.
    let total = total_hits(&out, "p");
    assert!((190.0..=205.0).contains(&total), "{total} samples\n{out}");
    // Users were added up to the cap while the others waited.
    let overall = rows(&out, "final_stats.csv").into_iter().find(|r| r["label"].is_empty()).unwrap();
    assert_eq!(num(&overall, "concurrency"), 4.0, "{overall:?}");
    let junit = out.junit();
    // Taurus's figure barely sees the stall (a few slow samples among many fast ones)...
    assert_eq!(criterion_failed(&junit, "p90 of p>300ms"), Some(false), "{junit}");
    // ...the corrected ones count every request that waited for its turn.
    assert_eq!(criterion_failed(&junit, "p90-corrected of p>300ms"), Some(true), "{junit}");
    assert_eq!(criterion_failed(&junit, "avg-rt-corrected of p>60ms"), Some(true), "{junit}");
    assert_eq!(criterion_failed(&junit, "avg-lag of p>40ms"), Some(true), "{junit}");
    assert_eq!(criterion_failed(&junit, "p90-lag of p>200ms"), Some(true), "{junit}");
    // summary.json carries the lateness percentiles next to the corrected figures.
    let summary = summary(&out.run_dir().join("summary.json"));
    let corrected = &summary["tests"][0]["overall"]["corrected"];
    let p99_lag = corrected["lag_percentiles"]["p99"].as_f64().unwrap();
    let max_lag = corrected["max_lag"].as_f64().unwrap();
    assert!((0.2..=max_lag).contains(&p99_lag), "{corrected}");
}

#[test]
fn arrival_rate_errors_name_the_missing_piece() {
    let p = Project::new();
    p.file(
        "a.yaml",
        "execution:\n- arrival-rate: true\n  iterations: 3\n  max-vus: 0\n  scenario: {requests: ['http://127.0.0.1:9/']}\n",
    );
    let out = p.suite(&["validate", "-q", "a.yaml"], LIMIT);
    assert_eq!(out.code, 1, "{out}");
    for needle in [
        "a.yaml:2:17",
        "`arrival-rate: true` needs `throughput`",
        "needs `ramp-up` and/or `hold-for`",
        "a.yaml:3:15",
        "`iterations` has no meaning with `arrival-rate: true`",
        "a.yaml:4:12",
        "`max-vus` must be a whole number of at least 1",
    ] {
        assert!(out.stderr.contains(needle), "stderr lacks `{needle}`\n{out}");
    }
}
