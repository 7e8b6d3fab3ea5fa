//! What a test with many labels costs: per-label state is a few hundred bytes, not an HDR
//! histogram of the whole range per label and second (issue 10: 10,000 labels took 7.4 GB).

use std::hint::black_box;

use suite::aggregate::{Aggregator, OVERALL};
use suite::report::timeline::TimelineBuilder;
use suite::sample::Sample;

/// Resident memory of this process, KB.
fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmRSS in kB")
}

#[test]
fn ten_thousand_labels_take_megabytes_not_gigabytes() {
    const LABELS: u32 = 10_000;
    const SECONDS: u64 = 3;
    let labels: Vec<String> = (0..LABELS).map(|i| format!("/items/{i}")).collect();
    let start = 1_700_000_000_000_000;
    let before = rss_kb();
    // What a test keeps per label: the open seconds, the cumulative totals, the timeline and the
    // report's copy of the totals.
    let mut agg = Aggregator::new(labels, start);
    let mut timeline = TimelineBuilder::new(SECONDS);
    for second in 0..SECONDS {
        for label in 0..LABELS {
            let elapsed_us = 1000 + u64::from(label) * 37;
            let start_us = start + second * 1_000_000;
            agg.add(&Sample {
                label,
                start_us,
                elapsed_us,
                connect_us: 0,
                ttfb_us: elapsed_us / 2,
                status: 200,
                error_kind: None,
                error: None,
                bytes: 100,
                lag_us: 0,
                stream: None,
            });
        }
        for s in agg.close_before(second + 1) {
            timeline.push(s.ts, s.users, &s.current);
        }
    }
    let totals = agg.cumulative().clone();
    let grown_kb = rss_kb().saturating_sub(before);
    black_box((&agg, &timeline, &totals));
    println!("{LABELS} labels, {SECONDS} s: RSS grew by {grown_kb} KB ({} bytes a label)", grown_kb * 1024 / 10_000);
    assert!(grown_kb < 50 * 1024, "{LABELS} labels grew the process by {} MB", grown_kb / 1024);
    // The figures are the HDR histogram's, as before.
    let one = &totals["/items/5000"];
    assert_eq!(one.hits, SECONDS);
    assert_eq!(one.percentile(50.0), Some(0.186_111));
    assert_eq!(totals[OVERALL].hits, u64::from(LABELS) * SECONDS);
    assert_eq!(totals[OVERALL].percentile(99.0), Some(0.367_359));
}
