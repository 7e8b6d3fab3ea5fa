//! A test split over three processes with `--segment i/3` and one `--start-at` against one
//! demo-target: together they send exactly the unsplit test's requests (every data row once,
//! the whole arrival schedule), each its striped share, starting in the same second.

use std::path::Path;
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
    let outs: Vec<Output> = std::thread::scope(|s| {
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
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for out in &outs {
        assert_eq!(out.code, 0, "{out}");
    }
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
