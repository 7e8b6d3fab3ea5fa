//! Fuzz harness for the line protocol ([`crate::protocol`]), run by `cargo test` for a few seconds and for as
//! long as `FUZZ_SECS` says (`FUZZ_SECS=600 cargo test -p monitoring-agent --lib fuzz -- --nocapture`).
//!
//! Command lines are assembled from real command names, separators, numbers, metric names and arbitrary text,
//! with random bytes mutated in. Whatever the line: parsing must not panic; an interval is refused or lies in
//! 1..=86400 s; a metric list holds trimmed, non-empty names without TABs, and each name parses or is refused
//! without a panic; the error line answering it is one line; and a value line for the parsed metrics has one
//! field per metric that reads back as what was sent.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use crate::metric::{self, Metric};
use crate::protocol::{self, Command, MAX_INTERVAL_SECS};

/// The budget: `FUZZ_SECS` seconds, else 3.
fn budget() -> Duration {
    let secs = std::env::var("FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    Duration::from_secs_f64(secs)
}

fn piece() -> impl Strategy<Value = String> {
    let words: Vec<&'static str> = vec![
        "test",
        "TEST",
        "exit",
        "shutdown",
        "interval",
        "Interval",
        "metrics",
        "metrics-single",
        "METRICS-single",
        ":",
        ":",
        "\t",
        "\t",
        " ",
        "\r",
        "1",
        "0",
        "-1",
        "2.5",
        "1e30",
        "86400",
        "86400.0001",
        "nan",
        "inf",
        "-inf",
        "1e-300",
        "0x10",
        "exec",
        "tail",
        "jmx",
        "cpu",
        "mem",
        "total_workers",
        "sum_workers_memory_rss",
        "frontend_",
        "avg_all_cpu_percent",
        "max_",
        "_workers_",
        "é",
        "\u{0}",
    ];
    let names: Vec<String> = metric::catalogue().into_iter().map(|(name, _)| name).collect();
    prop_oneof![
        6 => proptest::sample::select(words).prop_map(str::to_string),
        2 => proptest::sample::select(names),
        1 => any::<f64>().prop_map(|v| v.to_string()),
        1 => any::<String>(),
    ]
}

fn line() -> impl Strategy<Value = String> {
    (proptest::collection::vec(piece(), 0..12), proptest::collection::vec((any::<usize>(), any::<char>()), 0..3))
        .prop_map(|(pieces, mutations)| {
            let mut chars: Vec<char> = pieces.concat().chars().collect();
            for (at, c) in mutations {
                if !chars.is_empty() {
                    let at = at % chars.len();
                    chars[at] = c;
                }
            }
            chars.into_iter().collect()
        })
}

fn check(line: &str) -> Result<(), TestCaseError> {
    let command = protocol::parse_command(line);
    let error = protocol::error_line(&format!("unknown command `{line}`"));
    prop_assert!(error.ends_with('\n') && error.matches(['\n', '\r']).count() == 1, "{error:?}");
    match command {
        Command::Interval(v) => {
            if let Some(secs) = protocol::interval_secs(v) {
                prop_assert!((1..=MAX_INTERVAL_SECS).contains(&secs), "{v} → {secs}");
                prop_assert!(v > 0.0 && v <= MAX_INTERVAL_SECS as f64, "{v} accepted");
            }
        }
        Command::Metrics(names) | Command::MetricsSingle(names) => {
            let mut metrics = Vec::new();
            for name in &names {
                prop_assert!(!name.is_empty() && name.trim() == name && !name.contains('\t'), "{name:?}");
                if let Ok(m) = Metric::parse(name) {
                    metrics.push(m);
                }
            }
            let values: Vec<f64> = (0..metrics.len()).map(|i| i as f64 * 1.5).collect();
            let text = protocol::format_values(&values, &metrics);
            prop_assert!(text.ends_with("\t\n") || metrics.is_empty(), "{text:?}");
            let back = protocol::parse_values(&text);
            prop_assert_eq!(back.len(), metrics.len(), "{:?}", text);
            for ((m, v), b) in metrics.iter().zip(&values).zip(&back) {
                let expected = if m.is_integer() { v.round() } else { *v };
                prop_assert_eq!(*b, Some(expected), "{} in {:?}", m.name(), text);
            }
        }
        _ => {}
    }
    Ok(())
}

#[test]
fn command_lines_never_panic_and_stay_in_range() {
    let started = Instant::now();
    let mut executions = 0u64;
    while executions == 0 || started.elapsed() < budget() {
        let config = Config { cases: 512, failure_persistence: None, ..Config::default() };
        match TestRunner::new(config).run(&line(), |l| check(&l)) {
            Ok(()) => executions += 512,
            Err(TestError::Fail(why, input)) => panic!("{why}\nminimal input: {input:?}"),
            Err(TestError::Abort(why)) => panic!("aborted: {why}"),
        }
    }
    eprintln!("protocol fuzz: {executions} executions in {:.1}s", started.elapsed().as_secs_f64());
}
