//! Whole-module tests: criteria fed synthetic seconds of KPIs and monitoring samples, checked
//! against Taurus's observed behaviour (reference sections 2.4, 2.5 and the `obs01`, `obs02`,
//! `obs05`, `obs06` runs) and against the deliberate fixes.

use super::*;
use crate::aggregate::kpi::OVERALL;
use crate::sample::Sample;
use crate::testing::criterion;

/// `(label, response time in ms, HTTP status)` samples of one second.
fn second(samples: &[(&str, u64, u16)]) -> LabelSets {
    let mut sets = LabelSets::new();
    for &(label, ms, status) in samples {
        let sample = Sample { bytes: 10, ..Sample::fake(ms * 1000, status) };
        sets.entry(label.to_string()).or_default().record(&sample);
        sets.entry(OVERALL.to_string()).or_default().record(&sample);
    }
    sets
}

/// Feeds seconds `1..` and returns the cumulative sets and every stop as `(second, failed, by)`.
fn run(criteria: &mut Criteria, seconds: &[LabelSets]) -> (LabelSets, Vec<(u64, bool, usize)>) {
    let mut cumulative = LabelSets::new();
    let mut stops = Vec::new();
    for (i, current) in seconds.iter().enumerate() {
        for (label, kpi) in current {
            cumulative.entry(label.clone()).or_default().merge(kpi);
        }
        let ts = i as u64 + 1;
        if let Some(stop) = criteria.observe(ts, current, &cumulative) {
            stops.push((ts, stop.failed, stop.by));
        }
    }
    (cumulative, stops)
}

fn specs(texts: &[&str]) -> Vec<Spec> {
    texts.iter().map(|t| parse_short(t).unwrap_or_else(|e| panic!("{t}: {e}"))).collect()
}

fn slow_seconds(n: usize) -> Vec<LabelSets> {
    (0..n).map(|_| second(&[("page", 2000, 200)])).collect()
}

/// Section 2.5, windowed rows: the four stop/fail combinations.
#[test]
fn windowed_stop_fail_combinations() {
    let cases = [
        ("avg-rt>1s for 2s", Some(false), Status::Failed, true),
        ("avg-rt>1s for 2s, stop as non-failed", Some(true), Status::Notice, false),
        ("avg-rt>1s for 2s, continue as failed", None, Status::Failed, true),
        ("avg-rt>1s for 2s, continue as non-failed", None, Status::Notice, false),
    ];
    for (text, stop, status, fails) in cases {
        let mut c = Criteria::new(specs(&[text]));
        let (cumulative, stops) = run(&mut c, &slow_seconds(4));
        match stop {
            Some(graceful) => {
                assert_eq!(stops.first(), Some(&(2, !graceful, 0)), "{text}");
                assert_eq!(stops.len(), 3, "{text}: keeps asking every second");
            }
            None => assert!(stops.is_empty(), "{text}"),
        }
        let v = c.finish(&cumulative);
        assert_eq!(v[0].status, status, "{text}");
        assert_eq!(v[0].fails_run(), fails, "{text}");
        assert_eq!(v[0].stopped_test, stop.is_some(), "{text}");
        assert_eq!(v[0].triggered_at, Some(2.0), "{text}");
        assert_eq!(run_failed(&v), fails, "{text}");
    }
}

/// Section 2.5, cumulative row: judged once at the end, exit 3 with `fail` regardless of `stop`.
#[test]
fn cumulative_stop_fail_combinations() {
    let cases = [
        ("avg-rt>1s", Status::Failed, true),
        ("avg-rt>1s, stop as non-failed", Status::Notice, false),
        ("avg-rt>1s, continue as failed", Status::Failed, true),
        ("avg-rt>1s, continue as non-failed", Status::Notice, false),
    ];
    for (text, status, fails) in cases {
        let mut c = Criteria::new(specs(&[text]));
        let (cumulative, stops) = run(&mut c, &slow_seconds(3));
        assert!(stops.is_empty(), "{text}: cumulative criteria never stop the test");
        let v = c.finish(&cumulative);
        assert_eq!((v[0].status.clone(), v[0].fails_run()), (status, fails), "{text}");
        assert!(!v[0].stopped_test);
        assert_eq!(v[0].triggered_at, Some(3.0));
        assert_eq!(v[0].observed, Some(2.0));
    }
}

/// `obs01`: two labels, 10 s; the JUnit names and messages Taurus wrote.
#[test]
fn obs01_names_and_messages() {
    let mut list = specs(&[
        "avg-rt of root>150ms for 10s, continue as failed",
        "fail>50%",
        "p90>1s",
        "hits of root<1",
        "My msg: rc404>10",
    ]);
    list.push(
        criterion("{subject: avg-rt, condition: '>', threshold: 1ms, timeframe: 2s, stop: false, fail: true}").unwrap(),
    );
    let mut c = Criteria::new(list);
    let seconds: Vec<LabelSets> =
        (0..11).map(|_| second(&[("root", 3, 200), ("root", 4, 200), ("missing", 2, 404)])).collect();
    let (cumulative, stops) = run(&mut c, &seconds);
    assert!(stops.is_empty());
    let v = c.finish(&cumulative);
    let names: Vec<&str> = v.iter().map(|v| v.taurus_name.as_str()).collect();
    assert_eq!(
        names,
        [
            "avg-rt of root>150ms for 10s",
            "fail of >50%",
            "p90 of >1s",
            "hits of root<1",
            "rc404 of >10",
            "avg-rt>1ms for 2s"
        ]
    );
    let statuses: Vec<Status> = v.iter().map(|v| v.status.clone()).collect();
    assert_eq!(
        statuses,
        [Status::Passed, Status::Passed, Status::Passed, Status::Passed, Status::Failed, Status::Failed]
    );
    assert_eq!(v[4].message, "Failed: My msg");
    assert_eq!(v[5].message, "Failed: avg-rt>1ms for 11 sec");
    assert_eq!(v[5].name, "avg-rt>1ms for 2s");
    assert_eq!(v[0].name, "avg-rt of root>150ms for 10s, continue as failed");
    assert!(run_failed(&v));
}

/// `obs05`: cumulative criteria; the non-failing one does not fail the run.
#[test]
fn obs05_cumulative_messages() {
    let mut c = Criteria::new(specs(&["avg-rt>0ms", "hits>5, stop as non-failed"]));
    let seconds: Vec<LabelSets> = (0..4).map(|_| second(&[("/", 1, 200), ("/", 1, 200)])).collect();
    let (cumulative, stops) = run(&mut c, &seconds);
    assert!(stops.is_empty());
    let v = c.finish(&cumulative);
    assert_eq!(v[0].message, "Failed: avg-rt>0ms for 1 sec");
    assert_eq!(v[0].taurus_name, "avg-rt of >0ms");
    assert_eq!(v[1].status, Status::Notice);
    assert_eq!(v[1].taurus_name, "hits of >5");
    assert!(!v[1].fails_run());
    assert!(run_failed(&v));
}

/// `obs06`: `hits>5 for 3s, stop as non-failed` ends the test gracefully after 3 s.
#[test]
fn obs06_graceful_stop() {
    let mut c = Criteria::new(specs(&["hits>5 for 3s, stop as non-failed"]));
    let seconds: Vec<LabelSets> = (0..5).map(|_| second(&[("/", 1, 200); 8])).collect();
    let (cumulative, stops) = run(&mut c, &seconds);
    assert_eq!(stops.first(), Some(&(3, false, 0)));
    let v = c.finish(&cumulative);
    assert_eq!(v[0].status, Status::Notice);
    assert_eq!(v[0].message, "Notice: hits>5 for 5 sec");
    assert!(!run_failed(&v));
}

/// Taurus's `res or crit.check()` lets an earlier non-failed stop hide a failing one; not here.
#[test]
fn failing_stop_takes_precedence() {
    let mut c = Criteria::new(specs(&["hits>0 for 1s, stop as non-failed", "avg-rt>1s for 1s"]));
    let (_, stops) = run(&mut c, &slow_seconds(1));
    assert_eq!(stops, [(1, true, 1)]);
}

#[test]
fn seconds_without_the_label_are_skipped_not_resets() {
    let mut c = Criteria::new(specs(&["avg-rt of page>1s for 3s"]));
    let seconds = [
        second(&[("page", 2000, 200)]),
        second(&[("page", 2000, 200)]),
        second(&[("other", 1, 200)]),
        second(&[("other", 1, 200)]),
        second(&[("page", 2000, 200)]),
    ];
    let (cumulative, stops) = run(&mut c, &seconds);
    assert_eq!(stops.first().map(|s| s.0), Some(5));
    let v = c.finish(&cumulative);
    assert_eq!(v[0].describe(), "observed 2 s > threshold 1 s, triggered at 5 s (for 3 s)");
}

#[test]
fn percent_within_averages_per_second_shares() {
    // 0 % then 100 % failures: the average share is 50 %, though only 1 of 10 hits failed.
    let mut c = Criteria::new(specs(&["fail>40% within 2s, continue as failed"]));
    let seconds = [second(&[("a", 1, 200); 9]), second(&[("a", 1, 500)])];
    let (cumulative, _) = run(&mut c, &seconds);
    let v = c.finish(&cumulative);
    assert_eq!(v[0].status, Status::Failed);
    assert_eq!(v[0].observed, Some(50.0));
    assert_eq!(v[0].triggered_at, Some(2.0));
}

#[test]
fn no_samples_is_an_error_not_a_pass() {
    let mut c = Criteria::new(specs(&["avg-rt of checkout>1s", "avg-rt of checkout>1s for 5s", "avg-rt>1s"]));
    let (cumulative, _) = run(&mut c, &[second(&[("home", 1, 200), ("login", 1, 200)])]);
    let v = c.finish(&cumulative);
    for verdict in &v[..2] {
        let Status::Error(reason) = &verdict.status else { panic!("{:?}", verdict.status) };
        assert_eq!(reason, "no samples with label `checkout`; labels with samples: `home`, `login`");
        assert!(verdict.fails_run());
        assert_eq!(verdict.describe(), *reason);
    }
    assert_eq!(v[2].status, Status::Passed);

    let mut c = Criteria::new(specs(&["avg-rt>1s", "hits<1, continue as non-failed"]));
    let v = c.finish(&LabelSets::new());
    let Status::Error(reason) = &v[0].status else { panic!("{:?}", v[0].status) };
    assert!(reason.starts_with("no samples at all"), "{reason}");
    assert!(v[0].message.starts_with("Error: no samples at all"));
    // A non-failing criterion that could not be judged does not fail the run.
    assert!(!v[1].fails_run());
}

#[test]
fn untracked_percentiles_are_judged() {
    // Taurus tracks only 0/50/90/95/99/99.9/100 and compares 0 for p75, so it would pass.
    let mut c = Criteria::new(specs(&["p75>100ms", "p99.99>100ms"]));
    let samples: Vec<(&str, u64, u16)> = (1..=100).map(|i| ("a", if i > 50 { 500 } else { 10 }, 200)).collect();
    let (cumulative, _) = run(&mut c, &[second(&samples)]);
    let v = c.finish(&cumulative);
    assert_eq!(v[0].status, Status::Failed);
    assert_eq!(v[1].status, Status::Failed);
    assert!((v[0].observed.unwrap() - 0.5).abs() < 0.01);
}

#[test]
fn rc_patterns_count_and_share() {
    let mut c = Criteria::new(specs(&["rc4??>50%", "rc4*>1", "rc404>=2", "rc5??>0", "rc2??<60% for 1s"]));
    let (cumulative, _) = run(&mut c, &[second(&[("a", 1, 404), ("a", 1, 404), ("a", 1, 401), ("a", 1, 200)])]);
    let v = c.finish(&cumulative);
    let statuses: Vec<Status> = v.iter().map(|v| v.status.clone()).collect();
    assert_eq!(statuses, [Status::Failed, Status::Failed, Status::Failed, Status::Passed, Status::Failed]);
    assert_eq!(v[0].observed, Some(75.0));
    assert_eq!(v[0].unit, Unit::Percent);
    assert_eq!(v[1].unit, Unit::Count);
}

fn monitoring(text: &str) -> Spec {
    criterion(text).unwrap()
}

/// `obs02`: `target/cpu>52 for 2s` with samples 2 s apart triggers "for 3 sec".
#[test]
fn obs02_monitoring_criterion() {
    let spec = monitoring(
        "{class: bzt.modules.monitoring.MonitoringCriteria, subject: target/cpu, condition: '>', threshold: 52, timeframe: 2s}",
    );
    let mut c = Criteria::new(vec![spec]);
    c.set_origin(1000.0);
    let cpu = |v: f64| vec![("cpu".to_string(), v), ("memory".to_string(), 1.0)];
    assert_eq!(c.observe_monitoring(1001.5, "local", &cpu(99.0)), None);
    assert_eq!(c.observe_monitoring(1001.5, "target", &cpu(60.0)), None);
    let stop = c.observe_monitoring(1003.5, "target", &cpu(70.0)).expect("stop");
    assert_eq!((stop.failed, stop.by), (true, 0));
    assert_eq!(stop.describe(), "target/cpu>52 for 2s: observed 70 > threshold 52, triggered at 3.5 s (for 2 s)");
    let v = c.finish(&LabelSets::new());
    assert_eq!(v[0].status, Status::Failed);
    assert_eq!(v[0].message, "Failed: target/cpu>52 for 3 sec");
    assert_eq!(v[0].taurus_name, "target/cpu>52 for 2s");
    assert_eq!(v[0].triggered_at, Some(3.5));
    assert_eq!(v[0].unit, Unit::Raw);
    assert!(v[0].stopped_test);
}

#[test]
fn mms_monitoring_names_and_no_data() {
    let text = "{class: bzt.modules.monitoring.MonitoringCriteria, subject: ServerLocalClient/total_processes, \
                condition: '>', threshold: 3, timeframe: 1s, stop: true, fail: true}";
    let mut c = Criteria::new(vec![monitoring(text), monitoring(text), monitoring(text)]);
    assert_eq!(c.items()[0].spec.taurus_name, "ServerLocalClient/total_processes>3 for 1s");
    let v = c.finish(&LabelSets::new());
    let Status::Error(reason) = &v[0].status else { panic!("{:?}", v[0].status) };
    assert!(reason.contains("`ServerLocalClient` never reported"), "{reason}");

    let mut c = Criteria::new(vec![monitoring(text)]);
    c.observe_monitoring(1.0, "ServerLocalClient", &[("cpu".into(), 5.0)]);
    let v = c.finish(&LabelSets::new());
    assert_eq!(
        v[0].status,
        Status::Error(
            "monitoring source `ServerLocalClient` never reported metric `total_processes`; it reported: cpu".into()
        )
    );

    let mut c = Criteria::new(vec![monitoring(text)]);
    c.source_unavailable("ServerLocalClient", "cannot connect to 127.0.0.1:4444");
    assert_eq!(c.finish(&LabelSets::new())[0].status, Status::Error("cannot connect to 127.0.0.1:4444".into()));

    let mut c = Criteria::new(vec![monitoring(text)]);
    c.observe_monitoring(1.0, "ServerLocalClient", &[("total_processes".into(), 2.0)]);
    c.observe_monitoring(2.0, "ServerLocalClient", &[("total_processes".into(), 3.0)]);
    let v = c.finish(&LabelSets::new());
    assert_eq!(v[0].status, Status::Passed);
    assert_eq!(v[0].observed, Some(3.0));
    assert_eq!(v[0].describe(), "closest 3, threshold > 3 for 1 s");
}

/// Taurus never fails the run for a triggered monitoring criterion with `stop: false` (its
/// post-processing only looks at KPI criteria). Here it fails like any other.
#[test]
fn continuing_monitoring_criterion_still_fails_the_run() {
    let spec = monitoring(
        "{class: bzt.modules.monitoring.MonitoringCriteria, subject: local/cpu, condition: '>', threshold: 90%, stop: false}",
    );
    let mut c = Criteria::new(vec![spec]);
    assert_eq!(c.observe_monitoring(1.0, "local", &[("cpu".into(), 95.0)]), None);
    let v = c.finish(&LabelSets::new());
    assert_eq!(v[0].status, Status::Failed);
    assert_eq!(v[0].unit, Unit::Percent);
    assert_eq!(v[0].describe(), "observed 95% > threshold 90%, triggered at 1 s (on one sample)");
    assert!(run_failed(&v));
}

#[test]
fn describe_lines() {
    let mut c = Criteria::new(specs(&[
        "avg-rt>150ms for 2s",
        "avg-rt>5s within 2s",
        "avg-rt>1s",
        "avg-rt<5s, continue as non-failed",
        "bytes>1kb for 1s, continue as non-failed",
    ]));
    c.set_origin(0.0);
    let (cumulative, _) = run(&mut c, &[second(&[("a", 1230, 200)]), second(&[("a", 1230, 200)])]);
    let v = c.finish(&cumulative);
    assert_eq!(v[0].describe(), "observed 1.23 s > threshold 150 ms, triggered at 2 s (for 2 s)");
    assert_eq!(v[1].describe(), "closest 1.23 s, threshold > 5 s within 2 s");
    assert_eq!(v[2].describe(), "observed 1.23 s > threshold 1 s over the whole test");
    assert_eq!(v[3].describe(), "observed 1.23 s < threshold 5 s over the whole test; non-failing");
    assert_eq!(v[4].describe(), "closest 10 B, threshold > 1 KiB for 1 s");
}

#[test]
fn repr_while_running() {
    let mut c = Criteria::new(specs(&["avg-rt>1s for 3s", "Slow pages: avg-rt>1s for 1s, continue as non-failed"]));
    run(&mut c, &slow_seconds(2));
    assert_eq!(c.items()[0].taurus_repr(), "Alert: avg-rt>1s for 2 sec");
    assert_eq!(c.items()[1].taurus_repr(), "Notice: Slow pages");
    assert!(c.items()[1].is_triggered());
    assert_eq!(c.items()[0].current_value(), Some(2.0));
}
