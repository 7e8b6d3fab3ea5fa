//! Figures that must hold for any test length: active users per second (`concurrency`) in
//! `kpi.csv` and `summary.json`, also in a short test and in its last second.

use std::time::Duration;

use crate::util::artifacts::{csv_rows, summary};
use crate::util::{DemoTarget, Project};

#[test]
fn concurrency_is_the_users_seen_in_each_second_even_the_last() {
    let p = Project::new();
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "1", "--models", "m"]);
    p.file(
        "t/short.yaml",
        &format!(
            "execution:\n- concurrency: 3\n  hold-for: 2s\n  scenario: s\nscenarios:\n  s:\n    think-time: 20ms\n    requests:\n    - {}/predictions/m\n",
            target.url()
        ),
    );
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_dir();
    let rows = csv_rows(&run.join("short/kpi.csv"));
    assert!(rows.len() >= 2, "{rows:?}");
    for row in &rows {
        let users: u64 = row["concurrency"].parse().unwrap();
        assert!((1..=3).contains(&users), "second {} shows {users} users: {rows:?}", row["second"]);
    }
    assert!(rows.iter().any(|r| r["concurrency"] == "3"), "{rows:?}");
    let summary = summary(&run.join("summary.json"));
    let test = &summary["tests"][0];
    assert_eq!(test["overall"]["concurrency"], 3, "{}", test["overall"]);
    assert_eq!(test["labels"][0]["concurrency"], 3, "{}", test["labels"][0]);
}
