//! Taurus's timing semantics of criteria (for / within / over, stop / continue, failed /
//! non-failed, cumulative), proven against a real server whose latency the test controls.

use std::time::Duration;

use crate::util::{DemoTarget, Project};

/// Runs a 4-user load on `/predictions/m` (label `p`) for `hold` seconds with `criteria`
/// (YAML list items). `slow_for`: the server answers 150 ms late for that long, then at once.
fn run(criteria: &[&str], hold: u64, slow_for: Option<Duration>) -> (crate::util::Output, (DemoTarget, Project)) {
    let target = DemoTarget::start(&["--workers", "2", "--work-ms", "1", "--models", "m"]);
    if slow_for.is_some() {
        assert_eq!(target.request("POST", "/control?delay_ms=150").0, 200);
    }
    if let Some(after) = slow_for.filter(|d| !d.is_zero() && *d < Duration::from_secs(3600)) {
        let port = target.port;
        std::thread::spawn(move || {
            std::thread::sleep(after);
            crate::util::http(port, "POST", "/control/reset");
        });
    }
    let items: String = criteria.iter().map(|c| format!("  - '{c}'\n")).collect();
    let yaml = format!(
        "execution:\n- concurrency: 4\n  hold-for: {hold}s\n  scenario: s\nscenarios:\n  s:\n    requests:\n    - url: {}/predictions/m\n      label: p\nreporting:\n- module: passfail\n  criteria:\n{items}",
        target.url()
    );
    let project = Project::new();
    project.file("t/timing.yaml", &yaml);
    let out = project.suite(&["run", "-t", "t"], Duration::from_secs(hold + 60));
    (out, (target, project))
}

const ALWAYS: Option<Duration> = Some(Duration::from_secs(u64::MAX / 4));

#[test]
fn for_triggers_after_consecutive_seconds_and_stops_the_test() {
    let (out, _t) = run(&["avg-rt of p>100ms for 3s, stop as failed"], 30, ALWAYS);
    assert_eq!(out.code, 3, "{out}");
    assert!(out.elapsed < Duration::from_secs(12), "should stop early: {:?}\n{out}", out.elapsed);
    assert!(out.elapsed >= Duration::from_secs(3), "needs 3 s of data: {:?}", out.elapsed);
    let junit = out.junit();
    assert_eq!(junit.count("failure"), 1, "{junit}");
}

#[test]
fn for_does_not_trigger_on_a_shorter_slow_spell() {
    let (out, _t) = run(&["avg-rt of p>100ms for 4s, stop as failed"], 7, Some(Duration::from_millis(1500)));
    assert_eq!(out.code, 0, "{out}");
    assert!(out.elapsed >= Duration::from_secs(7), "{:?}", out.elapsed);
}

#[test]
fn within_triggers_on_a_partial_window() {
    let (out, _t) = run(&["avg-rt of p>100ms within 5s, stop as failed"], 30, ALWAYS);
    assert_eq!(out.code, 3, "{out}");
    assert!(out.elapsed < Duration::from_secs(5), "a partial window is enough: {:?}\n{out}", out.elapsed);
}

#[test]
fn over_waits_for_a_full_window() {
    let (out, _t) = run(&["avg-rt of p>100ms over 4s, stop as failed"], 30, ALWAYS);
    assert_eq!(out.code, 3, "{out}");
    assert!(out.elapsed >= Duration::from_secs(4), "needs a full window: {:?}", out.elapsed);
    assert!(out.elapsed < Duration::from_secs(12), "{:?}\n{out}", out.elapsed);
}

#[test]
fn stop_as_non_failed_ends_early_with_exit_0() {
    let (out, _t) = run(&["avg-rt of p>100ms for 2s, stop as non-failed"], 30, ALWAYS);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.elapsed < Duration::from_secs(10), "{:?}\n{out}", out.elapsed);
    assert_eq!(out.junit().count("failure"), 0);
}

#[test]
fn continue_as_failed_runs_to_the_end_then_fails() {
    let (out, _t) = run(&["avg-rt of p>100ms for 2s, continue as failed"], 6, ALWAYS);
    assert_eq!(out.code, 3, "{out}");
    assert!(out.elapsed >= Duration::from_secs(6), "{:?}", out.elapsed);
}

#[test]
fn continue_as_non_failed_only_notes_it() {
    let (out, _t) = run(&["avg-rt of p>100ms for 2s, continue as non-failed"], 5, ALWAYS);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.elapsed >= Duration::from_secs(5), "{:?}", out.elapsed);
}

#[test]
fn cumulative_criteria_are_judged_at_the_end() {
    let (out, _t) = run(&["avg-rt of p>100ms", "avg-rt of p>1s"], 4, ALWAYS);
    assert_eq!(out.code, 3, "{out}");
    assert!(out.elapsed >= Duration::from_secs(4), "not judged during the run: {:?}", out.elapsed);
    let junit = out.junit();
    assert_eq!(junit.count("failure"), 1, "{junit}");
    assert_eq!(junit.count("testcase"), 2, "{junit}");
}

#[test]
fn a_criterion_on_a_label_without_samples_is_an_error() {
    let (out, _t) = run(&["avg-rt of nosuchlabel>1s"], 2, None);
    assert_eq!(out.code, 1, "{out}");
    let junit = out.junit();
    assert_eq!(junit.count("error"), 1, "{junit}");
    assert!(junit.text.contains("nosuchlabel"), "{junit}");
}
