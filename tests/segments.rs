//! A test split over three processes with `--segment i/3` and one `--start-at` against one
//! demo-target: together they send exactly the unsplit test's requests (every data row once,
//! the whole arrival schedule), each its striped share, starting in the same second.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::util::artifacts::{final_stats_by_label, stat};
use crate::util::{run_suite, run_suite_env, DemoTarget, Output, Project};

const LIMIT: Duration = Duration::from_secs(60);

/// 10 users × 3 iterations over 30 data rows, and an open model of 30 arrivals/s for 3 s.
fn project(demo: &DemoTarget) -> Project {
    let p = Project::new();
    let rows: String =
        std::iter::once("id".to_string()).chain((1..=30).map(|i| i.to_string())).collect::<Vec<_>>().join("\n");
    p.file("t/rows.csv", &rows);
    p.file(
        "t/split.yaml",
        &format!(
            r#"execution:
- concurrency: 10
  iterations: 3
  scenario: rows
- concurrency: 2
  hold-for: 3s
  throughput: 30
  arrival-rate: true
  max-vus: 4
  scenario: open
scenarios:
  rows:
    data-sources: [rows.csv]
    requests:
    - url: {url}/echo?row=${{id}}
      label: rows
  open:
    requests:
    - url: {url}/ping
      label: arrivals
"#,
            url = demo.url()
        ),
    );
    p
}

/// An RFC 3339 time `secs` from now.
fn in_secs(secs: u64) -> String {
    let at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + secs;
    let out = std::process::Command::new("date").args(["-u", "-d", &format!("@{at}"), "+%Y-%m-%dT%H:%M:%SZ"]).output();
    String::from_utf8(out.unwrap().stdout).unwrap().trim().to_string()
}

fn run_json(out: &Output) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.run_dir().join("run.json")).unwrap()).unwrap()
}

/// The Unix second of the first line of the test's `seconds.jsonl`.
fn first_second(out: &Output) -> u64 {
    let text = std::fs::read_to_string(out.run_dir().join("split/seconds.jsonl")).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    first["unix_ts"].as_u64().unwrap()
}

#[test]
fn three_segments_send_exactly_the_unsplit_load_from_one_start() {
    let demo = DemoTarget::start(&["--workers", "1"]);
    let p = project(&demo);
    let start = in_secs(3);
    let (outs, followed): (Vec<Output>, Output) = std::thread::scope(|s| {
        // `suite merge --follow` started before the segments: it waits for their folders, prints
        // each merged second, and merges once all three have finished.
        let follow = s.spawn(|| {
            let dirs: Vec<String> =
                (1..=3).map(|i| p.path().join(format!("reports{i}")).display().to_string()).collect();
            let mut args = vec!["merge", "--follow", "--wait", "60s", "-a", "merged"];
            args.extend(dirs.iter().map(String::as_str));
            p.suite(&args, LIMIT)
        });
        let runs: Vec<_> = (1..=3)
            .map(|i| {
                let (p, start) = (&p, &start);
                s.spawn(move || {
                    let segment = format!("{i}/3");
                    let artifacts = p.path().join(format!("reports{i}"));
                    let args = ["run", "-t", "t", "--segment", segment.as_str(), "--start-at", start.as_str()];
                    run_suite(p.path(), &args, &artifacts, LIMIT, None)
                })
            })
            .collect();
        (runs.into_iter().map(|r| r.join().unwrap()).collect(), follow.join().unwrap())
    });
    for out in &outs {
        assert_eq!(out.code, 0, "{out}");
    }
    assert_eq!(followed.code, 0, "{followed}");
    let lines: Vec<&str> = followed.stdout.lines().filter(|l| l.starts_with("split [merged 3/3]")).collect();
    assert!(lines.len() >= 3, "a line per merged second: {followed}");
    assert!(lines.last().unwrap().ends_with("total 120"), "every request of the three: {followed}");
    assert!(followed.stdout.contains("merging segments 1/3"), "then the merge: {followed}");
    // Every data row exactly once over the three, each segment its striped share of the users.
    let rows: Vec<u64> =
        demo.echo_log().iter().filter_map(|e| e["query"].as_str()?.strip_prefix("row=")?.parse().ok()).collect();
    let mut sorted = rows.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=30).collect::<Vec<_>>(), "{rows:?}");
    let hits: Vec<u64> = outs
        .iter()
        .map(|o| stat(&final_stats_by_label(&o.run_dir().join("split/final_stats.csv")), "rows", "throughput"))
        .collect();
    assert_eq!(hits, vec![12, 9, 9], "4/3/3 users × 3 iterations");
    // The arrival schedule (90 in 3 s) split into thirds.
    let arrivals: Vec<u64> = outs
        .iter()
        .map(|o| stat(&final_stats_by_label(&o.run_dir().join("split/final_stats.csv")), "arrivals", "throughput"))
        .collect();
    assert_eq!(arrivals.iter().sum::<u64>(), 90, "{arrivals:?}");
    assert!(arrivals.iter().all(|a| *a == 30), "{arrivals:?}");
    // One start, and run.json says which segment each folder is, of the same suite.
    let firsts: Vec<u64> = outs.iter().map(first_second).collect();
    assert!(firsts.iter().all(|f| *f == firsts[0]), "started together: {firsts:?}");
    let infos: Vec<Value> = outs.iter().map(|o| run_json(o)["segment"].clone()).collect();
    for (out, info) in outs.iter().zip(&infos) {
        let summary = crate::util::artifacts::summary(&out.run_dir().join("summary.json"));
        assert_eq!(&summary["run"]["segment"], info, "summary.json says which segment too");
    }
    for (i, info) in infos.iter().enumerate() {
        assert_eq!(info["index"], i as u64 + 1, "{info}");
        assert_eq!(info["count"], 3, "{info}");
        assert_eq!(info["sequence"], "0,1/3,2/3,1", "{info}");
        assert_eq!(info["suite"], infos[0]["suite"], "one suite: {infos:?}");
        assert_eq!(info["start_at"], start.as_str());
    }
}

#[test]
fn a_kubernetes_job_index_picks_the_segment_and_bad_segments_are_errors_before_any_load() {
    let demo = DemoTarget::start(&["--workers", "1"]);
    let p = project(&demo);
    // JOB_COMPLETION_INDEX 2 is segment 3 of 3.
    let out = run_suite_env(
        p.path(),
        &["run", "-t", "t", "--segment", "job/3"],
        &p.path().join("job"),
        LIMIT,
        None,
        &[("JOB_COMPLETION_INDEX", Path::new("2"))],
    );
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(run_json(&out)["segment"]["share"], "3/3", "{out}");
    let stats = final_stats_by_label(&out.run_dir().join("split/final_stats.csv"));
    assert_eq!(stat(&stats, "rows", "throughput"), 9);
    let sent = demo.echo_log().len();

    for (args, expected) in [
        (vec!["--segment", "4/3"], "segment 4 of 3 does not exist"),
        (vec!["--segment", "half"], "`half` is not a segment"),
        (vec!["--segment", "1/4:1/3", "--segment-sequence", "0,1/4,1/2,1"], "is not one of the sequence's shares"),
        (vec!["--segment", "1/3", "--start-at", "tomorrow"], "--start-at `tomorrow` is not an RFC 3339 time"),
        (vec!["--segment", "job/3"], "the environment has no JOB_COMPLETION_INDEX"),
    ] {
        let mut all = vec!["run", "-t", "t"];
        all.extend(args);
        let out = p.suite(&all, LIMIT);
        assert_eq!(out.code, 1, "{all:?}: {out}");
        assert!(out.stderr.contains(expected), "{all:?} should say {expected:?}: {out}");
    }
    assert_eq!(demo.echo_log().len(), sent, "no request sent by a refused run");
}

/// Runs `t/<file>` as segments `1/3`..`3/3` side by side from one start; their outputs.
fn three_segments(p: &Project, pattern: &str) -> Vec<Output> {
    let start = in_secs(3);
    std::thread::scope(|s| {
        let runs: Vec<_> = (1..=3)
            .map(|i| {
                let start = &start;
                s.spawn(move || {
                    let segment = format!("{i}/3");
                    let artifacts = p.path().join(format!("seg{i}"));
                    let args =
                        ["run", "-t", "t", "-p", pattern, "--segment", segment.as_str(), "--start-at", start.as_str()];
                    run_suite(p.path(), &args, &artifacts, LIMIT, None)
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    })
}

/// `suite merge` with `args` (the merged run goes to `merged/`).
fn merge(p: &Project, args: &[&str]) -> Output {
    let mut all = vec!["merge", "-a", "merged"];
    all.extend_from_slice(args);
    let out = p.suite(&all, LIMIT);
    Output { artifacts: p.path().join("merged"), ..out }
}

/// The load's percentiles over every sample of every segment, from their per-second histograms
/// merged here with hdrhistogram itself.
fn percentiles_of_all(dirs: &[PathBuf], label: &str) -> Vec<f64> {
    let mut all = suite::aggregate::KpiSet::default();
    for dir in dirs {
        suite::report::store::each_second(&dir.join("load/seconds.jsonl"), |_, _, sets| {
            if let Some(set) = sets.get(label) {
                all.merge(set);
            }
        })
        .unwrap();
    }
    [50.0, 95.0, 99.0].iter().map(|p| all.percentile(*p).unwrap()).collect()
}

#[test]
fn merged_segments_are_judged_as_one_machine_with_lossless_percentiles() {
    let demo = DemoTarget::start(&["--workers", "2"]);
    let p = Project::new();
    // 60 arrivals a second for 6 s: 20 a second per segment, 60 in the merge, where the
    // criterion (more than 40 a second for 3 s) triggers and stops the test as failed.
    p.file(
        "t/load.yaml",
        &format!(
            r#"execution:
- concurrency: 3
  hold-for: 6s
  throughput: 60
  arrival-rate: true
  max-vus: 12
  scenario: s
scenarios:
  s:
    requests:
    - url: {}/ping
      label: arrivals
reporting:
- module: passfail
  criteria:
  - hits of arrivals>40 for 3s, stop as failed
  - p99 of arrivals>5s
"#,
            demo.url()
        ),
    );
    let segments = three_segments(&p, "load.yaml");
    for out in &segments {
        assert_eq!(out.code, 0, "a third of the load passes: {out}");
    }
    let dirs: Vec<PathBuf> = segments.iter().map(Output::run_dir).collect();
    let dir_args: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let args: Vec<&str> = dir_args.iter().map(String::as_str).collect();
    let merged = merge(&p, &args);
    assert_eq!(merged.code, 3, "{merged}");
    let junit = merged.junit();
    assert!(junit.case("hits of arrivals>40 for 3s, stop as failed").is_some_and(|c| c.failed), "{junit}");
    assert!(junit.case("p99 of arrivals>5s").is_some_and(|c| !c.failed), "{junit}");
    let test: Value =
        serde_json::from_str(&std::fs::read_to_string(merged.run_dir().join("load/test.json")).unwrap()).unwrap();
    assert!(test["stopped_by"].as_str().unwrap_or_default().contains("hits of arrivals>40"), "{test}");
    // Every request of every segment, and the percentiles of all of them (HDR merge, exact).
    let stats = final_stats_by_label(&merged.run_dir().join("load/final_stats.csv"));
    let per_segment: u64 = dirs
        .iter()
        .map(|d| stat(&final_stats_by_label(&d.join("load/final_stats.csv")), "arrivals", "throughput"))
        .sum();
    assert_eq!(stat(&stats, "arrivals", "throughput"), per_segment);
    assert_eq!(per_segment, 360, "the whole schedule");
    let expected = percentiles_of_all(&dirs, "arrivals");
    for (column, want) in ["perc_50.0", "perc_95.0", "perc_99.0"].iter().zip(&expected) {
        let got: f64 = stats["arrivals"][*column].parse().unwrap();
        assert!((got - want).abs() < 1e-5, "{column}: merged {got} s, all samples {want} s");
    }

    // One machine sending the whole load reaches the same verdicts.
    let single = p.suite(&["run", "-t", "t", "-p", "load.yaml"], LIMIT);
    assert_eq!(single.code, 3, "{single}");
    assert!(single.junit().case("hits of arrivals>40 for 3s, stop as failed").is_some_and(|c| c.failed));
}

#[test]
fn missing_duplicated_and_foreign_segments_are_errors_and_partial_merges_say_so() {
    let demo = DemoTarget::start(&["--workers", "1"]);
    let p = project(&demo);
    let segments = three_segments(&p, "split.yaml");
    for out in &segments {
        assert_eq!(out.code, 0, "{out}");
    }
    let dirs: Vec<String> = segments.iter().map(|o| o.run_dir().display().to_string()).collect();
    let missing = merge(&p, &[&dirs[0], &dirs[2]]);
    assert_eq!(missing.code, 1, "{missing}");
    assert!(missing.stderr.contains("segment 2/3 is missing"), "{missing}");
    let twice = merge(&p, &[&dirs[0], &dirs[1], &dirs[2], &dirs[1]]);
    assert_eq!(twice.code, 1, "{twice}");
    assert!(twice.stderr.contains("segment 2/3 appears twice"), "{twice}");
    // A segment of another suite (another test file) does not belong.
    p.file(
        "t/split.yaml",
        &std::fs::read_to_string(p.path().join("t/split.yaml")).unwrap().replace("iterations: 3", "iterations: 2"),
    );
    let other = run_suite(p.path(), &["run", "-t", "t", "--segment", "2/3"], &p.path().join("other"), LIMIT, None);
    assert_eq!(other.code, 0, "{other}");
    let foreign = merge(&p, &[&dirs[0], &other.run_dir().display().to_string(), &dirs[2]]);
    assert_eq!(foreign.code, 1, "{foreign}");
    assert!(foreign.stderr.contains("are segments of different runs"), "{foreign}");
    assert!(!p.path().join("merged").exists(), "nothing merged");
    // The folders holding the segments' run folders are searched; a partial merge says so.
    let partial = merge(
        &p,
        &[
            "--allow-partial",
            &p.path().join("seg1").display().to_string(),
            &p.path().join("seg3").display().to_string(),
        ],
    );
    assert_eq!(partial.code, 0, "{partial}");
    let summary = crate::util::artifacts::summary(&partial.run_dir().join("summary.json"));
    let notes = summary["tests"][0]["notes"].to_string();
    assert!(notes.contains("partial merge") && notes.contains("segment 2/3 is missing"), "{notes}");
    let stats = final_stats_by_label(&partial.run_dir().join("split/final_stats.csv"));
    assert_eq!(stat(&stats, "rows", "throughput"), 12 + 9, "segments 1 and 3");

    // A merged run is a baseline, and is compared with one, as a run of one machine is.
    let saved =
        p.suite(&["merge", "-a", "merged-b", "--save-baseline", "baselines", &dirs[0], &dirs[1], &dirs[2]], LIMIT);
    assert_eq!(saved.code, 0, "{saved}");
    let baseline: Value =
        serde_json::from_str(&std::fs::read_to_string(p.path().join("baselines/split.baseline.json")).unwrap())
            .unwrap();
    assert!(baseline.to_string().contains("\"rows\""), "{baseline}");
    let compared =
        p.suite(&["merge", "-a", "merged-c", "--baseline", "baselines", &dirs[0], &dirs[1], &dirs[2]], LIMIT);
    assert_eq!(compared.code, 0, "the same figures do not regress: {compared}");
    let compared = Output { artifacts: p.path().join("merged-c"), ..compared };
    let summary = crate::util::artifacts::summary(&compared.run_dir().join("summary.json"));
    assert_eq!(summary["comparisons"][0]["test"], "split", "{summary}");
}
