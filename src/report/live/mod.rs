//! Live metrics: each closed second's figures, the moment it closes, for a Prometheus to read
//! while the test runs. A test's `prometheus` reporters push them with remote write
//! (`remote_write.rs`); `suite run --metrics-addr` serves them as an OpenMetrics scrape endpoint
//! (`server.rs`, the text in `openmetrics.rs`). Neither can slow the load: a second is handed to
//! a writer with `try_send` on a bounded queue and to the endpoint behind a lock held for a
//! pointer swap; what cannot be sent is dropped and counted, and the count is one warning at
//! the test's end.
//!
//! The series (README "Live metrics"), each labelled `test` (the test file's name), `cell` (the
//! matrix cell as `k=v,k2=v2`, left out when the test has no matrix) and, but for users,
//! `label` (`ALL` for the overall figures):
//!
//! | series | type | value |
//! |---|---|---|
//! | `suite_requests_total` | counter | requests ended so far |
//! | `suite_failures_total` | counter | failed requests so far |
//! | `suite_requests_per_second` | gauge | requests ended in the last closed second |
//! | `suite_response_time_seconds{quantile="0.5"\|"0.9"\|"0.95"\|"0.99"}` | gauge | response-time percentiles of the last closed second |
//! | `suite_response_time_average_seconds` | gauge | average response time of the last closed second |
//! | `suite_active_users` | gauge | most virtual users active in the last closed second (no `label`) |
//! | `suite_time_to_first_token_seconds{quantile=...}` | gauge | streamed responses' time-to-first-token percentiles of the last closed second |
//! | `suite_inter_token_latency_seconds{quantile=...}` | gauge | their gaps between tokens, percentiles of the last closed second |
//! | `suite_tokens_per_second` | gauge | their tokens per second in the last closed second |
//!
//! The three stream families have samples only for labels that received a streamed response in
//! that second (requests with `stream`).
//!
//! Cardinality is bounded by the plan: one set of series per label the test has (a YAML test's
//! labels are fixed when it is planned; an external tool's are capped by `sample::MAX_LABELS`),
//! times its matrix cells. A second without a label's requests has no percentiles for it: a
//! figure not measured is not sent.

mod openmetrics;
mod remote_write;
mod server;

use std::sync::{Arc, Mutex};

use crate::aggregate::{LabelSets, Second};
use crate::plan::RemoteWrite;

pub use server::Endpoint;

/// The run's live metrics: with `--metrics-addr`, the endpoint listening there (it stops when
/// dropped); the error says why it cannot listen.
pub async fn serve(addr: Option<std::net::SocketAddr>) -> anyhow::Result<(Live, Option<Endpoint>)> {
    let Some(addr) = addr else { return Ok((Live::off(), None)) };
    let (live, endpoint) = Live::serve(addr).await.map_err(|e| anyhow::anyhow!("--metrics-addr: {e}"))?;
    crate::outln!("metrics: http://{}/metrics while the run lasts", endpoint.addr);
    Ok((live, Some(endpoint)))
}

/// The percentiles sent, as percent levels and as the `quantile` label says them.
const QUANTILES: [(f64, &str); 4] = [(50.0, "0.5"), (90.0, "0.9"), (95.0, "0.95"), (99.0, "0.99")];

/// The run's live metrics: the scrape endpoint's figures, when `--metrics-addr` serves them.
/// Cheap to clone; [`Live::test`] makes one test's sink.
#[derive(Clone, Default)]
pub struct Live {
    registry: Option<Arc<Registry>>,
}

impl Live {
    /// No endpoint: only the tests' own `prometheus` reporters send.
    pub fn off() -> Self {
        Live::default()
    }

    /// Listens on `addr` (exactly that address) and serves `GET /metrics` until the
    /// [`Endpoint`] is dropped; the error says why it cannot listen.
    pub async fn serve(addr: std::net::SocketAddr) -> Result<(Live, Endpoint), String> {
        let registry = Arc::new(Registry::default());
        let endpoint = Endpoint::start(addr, registry.clone()).await?;
        Ok((Live { registry: Some(registry) }, endpoint))
    }

    /// The sink of one test (`test` and `cell` as its series are labelled), sending to its
    /// `prometheus` reporters and to the endpoint.
    pub fn test(&self, remote: &[RemoteWrite], test: &str, cell: &[(String, String)]) -> Sink {
        let cell = crate::plan::matrix::cell_name(cell);
        Sink {
            test: test.to_string(),
            cell,
            registry: self.registry.clone(),
            writers: remote.iter().map(remote_write::Writer::start).collect(),
            last: None,
            last_ms: 0,
        }
    }
}

/// Where one test's closed seconds go. Never blocks.
pub struct Sink {
    test: String,
    cell: String,
    registry: Option<Arc<Registry>>,
    writers: Vec<remote_write::Writer>,
    /// The figures of the last closed second, kept for the endpoint to mark ended.
    last: Option<Arc<Snapshot>>,
    /// The timestamp of the last second sent, ms: each is later (a receiver refuses a series
    /// going back, or twice at one time).
    last_ms: i64,
}

impl Sink {
    /// Hands on a closed second: its per-label figures and the cumulative ones after it.
    pub fn second(&mut self, second: &Second, cumulative: &LabelSets) {
        if self.writers.is_empty() && self.registry.is_none() {
            return;
        }
        let mut snapshot = Snapshot::new(&self.test, &self.cell, second, cumulative);
        // The seconds flushed at the test's end may not be over yet: they are stamped now.
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
        snapshot.end_ms = snapshot.end_ms.min(now_ms as i64).max(self.last_ms + 1);
        self.last_ms = snapshot.end_ms;
        let snapshot = Arc::new(snapshot);
        for writer in &self.writers {
            writer.send(&snapshot);
        }
        if let Some(registry) = &self.registry {
            registry.update(snapshot.clone());
        }
        self.last = Some(snapshot);
    }

    /// Ends the test: the endpoint keeps only its counters, and the writers get what is queued
    /// out (each within its timeout). One warning per writer that dropped samples.
    pub async fn finish(self) -> Vec<String> {
        if let (Some(registry), Some(last)) = (&self.registry, self.last) {
            registry.update(Arc::new(Snapshot { ended: true, ..(*last).clone() }));
        }
        let finished = futures_util::future::join_all(self.writers.into_iter().map(|w| w.finish())).await;
        finished.into_iter().flatten().collect()
    }
}

/// One test's figures at the end of a closed second: what every series is read from.
#[derive(Clone, Debug, PartialEq)]
struct Snapshot {
    test: String,
    /// The matrix cell, `k=v,k2=v2`; empty without a matrix.
    cell: String,
    /// Unix time the second ended, milliseconds.
    end_ms: i64,
    /// Most virtual users active in the second.
    users: u64,
    /// Per label, in the aggregate's order (the overall figures first).
    labels: Vec<Figures>,
    /// The test has ended: its gauges no longer say anything about now.
    ended: bool,
}

/// One label's figures at the end of a closed second.
#[derive(Clone, Debug, PartialEq)]
struct Figures {
    /// As the series label says it: `ALL` for the overall figures.
    label: String,
    requests: u64,
    failures: u64,
    /// Requests that ended in the second.
    per_second: u64,
    /// Response-time percentiles of the second ([`QUANTILES`]), seconds; `None` without requests.
    quantiles: Option<[f64; 4]>,
    /// Average response time of the second, seconds.
    average: Option<f64>,
    /// Streamed responses' time-to-first-token percentiles of the second, seconds.
    ttft: Option<[f64; 4]>,
    /// Streamed responses' inter-token latency percentiles of the second, seconds.
    itl: Option<[f64; 4]>,
    /// Streamed responses' tokens per second in the second.
    tokens_per_s: Option<f64>,
}

impl Snapshot {
    fn new(test: &str, cell: &str, second: &Second, cumulative: &LabelSets) -> Self {
        let labels = cumulative
            .iter()
            .map(|(label, total)| {
                let now = second.current.get(label);
                let stream = now.and_then(|s| s.stream.as_deref());
                Figures {
                    label: super::label_name(label),
                    requests: total.hits,
                    failures: total.fail,
                    per_second: now.map_or(0, |s| s.hits),
                    quantiles: now.filter(|s| s.hits > 0).and_then(|s| quantiles(|q| s.percentile(q))),
                    average: now.and_then(|s| s.avg_rt()),
                    ttft: stream.and_then(|s| quantiles(|q| s.ttft_percentile(q))),
                    itl: stream.and_then(|s| quantiles(|q| s.itl_percentile(q))),
                    tokens_per_s: stream.and_then(|s| s.tokens_per_s()),
                }
            })
            .collect();
        Snapshot {
            test: test.to_string(),
            cell: cell.to_string(),
            end_ms: (second.unix_ts as i64 + 1) * 1000,
            users: second.users,
            labels,
            ended: false,
        }
    }

    /// Calls `f` with the extra labels (beyond `test` and `cell`) and value of each sample of
    /// `family`.
    fn each(&self, family: Family, mut f: impl FnMut(&[(&str, &str)], f64)) {
        if family == Family::Users {
            return f(&[], self.users as f64);
        }
        for l in &self.labels {
            let label = [("label", l.label.as_str())];
            match family {
                Family::Requests => f(&label, l.requests as f64),
                Family::Failures => f(&label, l.failures as f64),
                Family::PerSecond => f(&label, l.per_second as f64),
                Family::ResponseTime | Family::TimeToFirstToken | Family::InterTokenLatency => {
                    let values = match family {
                        Family::ResponseTime => &l.quantiles,
                        Family::TimeToFirstToken => &l.ttft,
                        _ => &l.itl,
                    };
                    for ((_, q), value) in QUANTILES.iter().zip(values.iter().flatten()) {
                        f(&[("label", l.label.as_str()), ("quantile", q)], *value);
                    }
                }
                Family::TokensPerSecond => {
                    if let Some(rate) = l.tokens_per_s {
                        f(&label, rate);
                    }
                }
                Family::AverageResponseTime => {
                    if let Some(avg) = l.average {
                        f(&label, avg);
                    }
                }
                Family::Users => {}
            }
        }
    }
}

/// The [`QUANTILES`] of a distribution; `None` when it has no values.
fn quantiles(at: impl Fn(f64) -> Option<f64>) -> Option<[f64; 4]> {
    let values = QUANTILES.map(|(q, _)| at(q));
    values.iter().all(Option::is_some).then(|| values.map(|v| v.unwrap_or_default()))
}

/// A metric family: one name, one type, one meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    Requests,
    Failures,
    PerSecond,
    ResponseTime,
    AverageResponseTime,
    Users,
    TimeToFirstToken,
    InterTokenLatency,
    TokensPerSecond,
}

impl Family {
    const ALL: [Family; 9] = [
        Family::Requests,
        Family::Failures,
        Family::PerSecond,
        Family::ResponseTime,
        Family::AverageResponseTime,
        Family::Users,
        Family::TimeToFirstToken,
        Family::InterTokenLatency,
        Family::TokensPerSecond,
    ];

    /// The family's name (a counter's samples add `_total`).
    fn name(self) -> &'static str {
        match self {
            Family::Requests => "suite_requests",
            Family::Failures => "suite_failures",
            Family::PerSecond => "suite_requests_per_second",
            Family::ResponseTime => "suite_response_time_seconds",
            Family::AverageResponseTime => "suite_response_time_average_seconds",
            Family::Users => "suite_active_users",
            Family::TimeToFirstToken => "suite_time_to_first_token_seconds",
            Family::InterTokenLatency => "suite_inter_token_latency_seconds",
            Family::TokensPerSecond => "suite_tokens_per_second",
        }
    }

    fn is_counter(self) -> bool {
        matches!(self, Family::Requests | Family::Failures)
    }

    /// The name its samples have.
    fn sample_name(self) -> &'static str {
        match self {
            Family::Requests => "suite_requests_total",
            Family::Failures => "suite_failures_total",
            other => other.name(),
        }
    }

    fn unit(self) -> Option<&'static str> {
        matches!(
            self,
            Family::ResponseTime | Family::AverageResponseTime | Family::TimeToFirstToken | Family::InterTokenLatency
        )
        .then_some("seconds")
    }

    fn help(self) -> &'static str {
        match self {
            Family::Requests => "Requests ended since the test started.",
            Family::Failures => "Failed requests since the test started.",
            Family::PerSecond => "Requests ended in the last closed second.",
            Family::ResponseTime => "Response-time percentiles of the last closed second.",
            Family::AverageResponseTime => "Average response time of the last closed second.",
            Family::Users => "Most virtual users active in the last closed second.",
            Family::TimeToFirstToken => {
                "Streamed responses' time to first token, percentiles of the last closed second."
            }
            Family::InterTokenLatency => {
                "Streamed responses' gaps between tokens, percentiles of the last closed second."
            }
            Family::TokensPerSecond => "Streamed responses' tokens per second in the last closed second.",
        }
    }
}

/// What the scrape endpoint serves: the last closed second of each test (and matrix cell), in
/// the order they started.
#[derive(Default)]
struct Registry {
    tests: Mutex<Vec<Arc<Snapshot>>>,
}

impl Registry {
    fn update(&self, snapshot: Arc<Snapshot>) {
        let mut tests = self.tests.lock().unwrap_or_else(|e| e.into_inner());
        match tests.iter_mut().find(|s| s.test == snapshot.test && s.cell == snapshot.cell) {
            Some(slot) => *slot = snapshot,
            None => tests.push(snapshot),
        }
    }

    /// The OpenMetrics text of every test's figures (rendered outside the lock).
    fn render(&self) -> String {
        let tests = self.tests.lock().unwrap_or_else(|e| e.into_inner()).clone();
        openmetrics::render(&tests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::KpiSet;

    /// A second with `hits` requests of `label` at `ms` each, 1 failed, and the cumulative sets.
    fn second(label: &str, hits: u64, ms: u64) -> (Second, LabelSets) {
        let mut set = KpiSet::default();
        for _ in 0..hits {
            set.hits += 1;
            set.succ += 1;
            set.sum_rt_us += ms * 1000;
            set.hist.record(ms * 1000);
        }
        set.fail = 1;
        let mut current = LabelSets::new();
        current.insert(label.to_string(), set.clone());
        current.insert(String::new(), set);
        let cumulative = current.clone();
        (Second { ts: 2, unix_ts: 1_700_000_000, current, users: 3 }, cumulative)
    }

    #[test]
    fn a_snapshot_holds_each_label_with_the_overall_one_named_all() {
        let (s, cum) = second("home", 4, 20);
        let snap = Snapshot::new("t", "vus=2", &s, &cum);
        assert_eq!(snap.end_ms, 1_700_000_001_000);
        assert_eq!(snap.labels.len(), 2);
        let all = &snap.labels[0];
        assert_eq!((all.label.as_str(), all.requests, all.failures, all.per_second), ("ALL", 4, 1, 4));
        assert_eq!(all.average, Some(0.02));
        let q = all.quantiles.unwrap();
        assert!(q.iter().all(|v| (v - 0.02).abs() < 0.001), "{q:?}");
    }

    #[test]
    fn a_label_without_requests_this_second_has_no_percentiles_but_a_zero_rate() {
        let (mut s, cum) = second("home", 4, 20);
        s.current.clear();
        let snap = Snapshot::new("t", "", &s, &cum);
        let mut seen = Vec::new();
        for family in Family::ALL {
            snap.each(family, |_, v| seen.push((family.sample_name(), v)));
        }
        assert!(!seen.iter().any(|(n, _)| n.starts_with("suite_response_time")), "{seen:?}");
        assert!(seen.contains(&("suite_requests_per_second", 0.0)) && seen.contains(&("suite_requests_total", 4.0)));
        assert!(seen.contains(&("suite_active_users", 3.0)));
        assert!(!seen.iter().any(|(n, _)| n.contains("token")), "no stream, no stream series: {seen:?}");
    }

    #[test]
    fn a_label_with_streamed_responses_has_their_figures() {
        let (mut s, cum) = second("chat", 2, 100);
        let mut stream = crate::aggregate::StreamKpis::default();
        for first_ms in [40, 60] {
            let gaps = vec![10_000; 4];
            stream.record(&crate::sample::StreamTimes {
                first_us: Some(first_ms * 1000),
                last_us: first_ms * 1000 + 40_000,
                gaps_us: gaps,
                events: 5,
                tokens: Some(5),
            });
        }
        s.current.get_mut("chat").unwrap().stream = Some(Box::new(stream));
        let snap = Snapshot::new("t", "", &s, &cum);
        let chat = snap.labels.iter().find(|l| l.label == "chat").unwrap();
        let ttft = chat.ttft.unwrap();
        assert!((ttft[0] - 0.04).abs() < 0.001 && (ttft[3] - 0.06).abs() < 0.001, "{ttft:?}");
        assert!(chat.itl.unwrap().iter().all(|v| (v - 0.01).abs() < 0.0001), "{:?}", chat.itl);
        // 10 tokens over 80 ms + 100 ms.
        assert!((chat.tokens_per_s.unwrap() - 10.0 / 0.18).abs() < 1e-6, "{:?}", chat.tokens_per_s);
        let mut seen = Vec::new();
        snap.each(Family::TimeToFirstToken, |labels, v| seen.push((labels.len(), v)));
        assert_eq!(seen.len(), 4, "four quantiles of the one streamed label: {seen:?}");
    }
}
