//! Live metrics against a real Prometheus (Debian's `prometheus`, started per test on
//! 127.0.0.1 with its remote-write receiver): the series a run sends hold the run's figures; a
//! Prometheus that is absent, silent or killed mid-run costs the run nothing but a counted
//! warning; `--metrics-addr` serves OpenMetrics while the run lasts, which Prometheus scrapes.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::artifacts;
use crate::util::{tool, DemoTarget, Output, Project};

const LIMIT: Duration = Duration::from_secs(60);

/// A Prometheus server on a free port of 127.0.0.1, with its data in a temporary folder;
/// killed on drop.
struct Prometheus {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    /// Starts `prometheus` with the remote-write receiver (scraping `scrape`, if given, every
    /// second) and waits until it is ready; `None` when it is not installed.
    fn start(scrape: Option<u16>) -> Option<Prometheus> {
        let bin = tool("prometheus")?;
        let dir = tempfile::tempdir().unwrap();
        let mut config = String::from("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n");
        if let Some(port) = scrape {
            config += &format!(
                "scrape_configs:\n- job_name: suite\n  scrape_interval: 1s\n  static_configs:\n  - targets: ['127.0.0.1:{port}']\n"
            );
        }
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("prometheus starts");
        let prometheus = Prometheus { child, port, _dir: dir };
        let started = Instant::now();
        while get(port, "/-/ready").map(|(status, _)| status) != Some(200) {
            assert!(started.elapsed() < Duration::from_secs(20), "prometheus not ready: {}", prometheus.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(prometheus)
    }

    /// Waits until the scrape target is known (Prometheus applies its targets a few seconds
    /// after it starts).
    fn wait_for_target(&self) {
        let started = Instant::now();
        while !get(self.port, "/api/v1/targets").is_some_and(|(_, text)| text.contains("scrapeUrl")) {
            assert!(started.elapsed() < Duration::from_secs(15), "no scrape target: {}", self.log());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn remote_write(&self) -> String {
        format!("http://127.0.0.1:{}/api/v1/write", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// The result vector of an instant query: `(labels, value)` per series.
    fn query(&self, promql: &str) -> Vec<(Value, f64)> {
        let (status, text) = get(self.port, &format!("/api/v1/query?query={}", encode(promql))).unwrap();
        assert_eq!(status, 200, "{promql}: {text}");
        let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        let json: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{promql}: {e}: {text}"));
        let result = json["data"]["result"].as_array().unwrap_or_else(|| panic!("{promql}: {body}"));
        result.iter().map(|r| (r["metric"].clone(), r["value"][1].as_str().unwrap().parse().unwrap())).collect()
    }

    /// The one value `promql` gives.
    fn value(&self, promql: &str) -> f64 {
        let result = self.query(promql);
        assert_eq!(result.len(), 1, "{promql}: {result:?}\n{}", self.log());
        result[0].1
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Percent-encodes a query parameter.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            true => (b as char).to_string(),
            false => format!("%{b:02X}"),
        })
        .collect()
}

/// GET `path` on 127.0.0.1:`port`: the status and the whole response (head and body), or
/// `None` when nothing listens.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok())?;
    Some((status, text))
}

/// A test `t/prom_t.yaml`: 2 users on `/ping` for `secs` seconds, a criterion that passes, and
/// `reporting` (indented list entries) after it.
fn write_test(p: &Project, demo: &DemoTarget, secs: u32, reporting: &str) {
    let yaml = format!(
        "execution:\n- concurrency: 2\n  hold-for: {secs}s\n  scenario: s\nscenarios:\n  s:\n    think-time: 20ms\n    requests:\n    - url: {}/ping\n      label: ping\nreporting:\n- module: passfail\n  criteria:\n  - fail of ping>50%\n{reporting}",
        demo.url()
    );
    p.file("t/prom_t.yaml", &yaml);
}

fn summary_test(out: &Output) -> Value {
    artifacts::summary(&out.run_dir().join("summary.json"))["tests"][0].clone()
}

/// The warning a test prints once for what it could not send to `url`: the samples dropped.
fn dropped(out: &Output, url: &str) -> u64 {
    let prefix = format!("warning: prom_t: prometheus remote-write to {url}: ");
    let lines: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with(&prefix)).collect();
    assert_eq!(lines.len(), 1, "one warning: {out}");
    let n = lines[0][prefix.len()..].split(' ').next().unwrap().parse().unwrap();
    let notes = summary_test(out)["notes"].to_string();
    assert!(notes.contains(&format!("prometheus remote-write to {url}: {n} samples dropped")), "{notes}");
    n
}

#[test]
fn prometheus_receives_the_runs_figures_by_remote_write() {
    let Some(prom) = Prometheus::start(None) else { return };
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let reporting = format!("- module: prometheus\n  remote-write: {}\n  labels:\n    env: ci\n", prom.remote_write());
    write_test(&p, &demo, 3, &reporting);
    let out = p.suite(&["run", "-t", "t"], LIMIT);
    assert_eq!(out.code, 0, "{out}");
    assert!(!out.stderr.contains("samples dropped"), "{out}");
    let test = summary_test(&out);
    let hits = test["overall"]["hits"].as_u64().unwrap();
    let ping = test["labels"].as_array().unwrap().iter().find(|l| l["label"] == "ping").unwrap()["hits"].as_u64();
    assert!(hits > 10, "{test}");
    assert_eq!(prom.value(r#"suite_requests_total{test="prom_t",label="ALL",env="ci"}"#), hits as f64);
    assert_eq!(prom.value(r#"suite_requests_total{test="prom_t",label="ping"}"#), ping.unwrap() as f64);
    assert_eq!(prom.value(r#"suite_failures_total{test="prom_t",label="ping"}"#), 0.0);
    // Every second was sent: one requests-per-second sample a second, and they add up to the hits.
    let per_second = r#"sum_over_time(suite_requests_per_second{test="prom_t",label="ping"}[5m])"#;
    assert_eq!(prom.value(per_second), ping.unwrap() as f64);
    let quantiles = prom.query(r#"suite_response_time_seconds{test="prom_t"}"#);
    assert_eq!(quantiles.len(), 8, "4 quantiles of ping and ALL: {quantiles:?}");
    assert!(quantiles.iter().all(|(_, v)| *v > 0.0 && *v < 1.0), "{quantiles:?}");
    assert!(prom.value(r#"max_over_time(suite_active_users{test="prom_t"}[5m])"#) == 2.0);
    assert_eq!(prom.query(r#"suite_active_users{label!=""}"#).len(), 0, "users have no label");
}

#[test]
fn each_matrix_cell_is_a_series_of_its_own() {
    let Some(prom) = Prometheus::start(None) else { return };
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let yaml = format!(
        "execution:\n- concurrency: ${{vus}}\n  hold-for: 2s\n  scenario: s\n  matrix: {{vus: [1, 2]}}\nscenarios:\n  s:\n    think-time: 20ms\n    requests:\n    - url: {}/ping\n      label: ping\nreporting:\n- module: prometheus\n  remote-write: {}\n",
        demo.url(),
        prom.remote_write()
    );
    p.file("t/prom_m.yaml", &yaml);
    let out = p.suite(&["run", "-t", "t"], LIMIT);
    assert_eq!(out.code, 0, "{out}");
    let summary = artifacts::summary(&out.run_dir().join("summary.json"));
    for (k, cell) in ["vus=1", "vus=2"].iter().enumerate() {
        let hits = summary["tests"][k]["overall"]["hits"].as_f64().unwrap();
        let query = format!(r#"suite_requests_total{{test="prom_m",cell="{cell}",label="ALL"}}"#);
        assert_eq!(prom.value(&query), hits, "{cell}");
        let users = format!(r#"max_over_time(suite_active_users{{test="prom_m",cell="{cell}"}}[5m])"#);
        assert_eq!(prom.value(&users), (k + 1) as f64, "{cell}");
    }
}

#[test]
fn a_closed_port_costs_the_run_a_counted_warning_not_time() {
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let url = format!("http://127.0.0.1:{}/api/v1/write", free_port());
    write_test(&p, &demo, 3, &format!("- module: prometheus\n  remote-write: {url}\n"));
    let out = p.suite(&["run", "-t", "t"], LIMIT);
    assert_eq!(out.code, 0, "the criteria decide, not the metrics: {out}");
    assert!(
        out.stderr.contains(&format!("{url}: ")) && out.stderr.contains("samples dropped (connection refused)"),
        "{out}"
    );
    // At least 3 seconds of 2 labels' 7 series and the users gauge.
    assert!(dropped(&out, &url) >= 3 * 15, "{out}");
    let test = summary_test(&out);
    assert!(test["load_secs"].as_f64().unwrap() < 3.5, "{test}");
    assert!(test["duration_secs"].as_f64().unwrap() < 4.5, "{test}");
}

#[test]
fn a_receiver_that_never_answers_delays_neither_the_seconds_nor_the_end_past_its_timeout() {
    let demo = DemoTarget::start(&[]);
    // Connections are accepted by the kernel and never answered.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/api/v1/write", silent.local_addr().unwrap().port());
    let p = Project::new();
    write_test(&p, &demo, 3, &format!("- module: prometheus\n  remote-write: {url}\n  timeout: 500ms\n"));
    let out = p.suite(&["run", "-t", "t"], LIMIT);
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stderr.contains("samples dropped (no answer within 500ms)"), "{out}");
    assert!(dropped(&out, &url) > 0);
    let test = summary_test(&out);
    assert!(test["load_secs"].as_f64().unwrap() < 3.5, "{test}");
    // The end waits one timeout at most for what is queued.
    assert!(test["duration_secs"].as_f64().unwrap() < 4.5, "{test}");
    let rows = artifacts::csv_rows(&out.run_dir().join("prom_t/kpi.csv"));
    assert!(rows.len() >= 3, "every second closed: {rows:?}");
}

#[test]
fn prometheus_killed_mid_run_leaves_the_run_going_and_a_counted_warning() {
    let Some(mut prom) = Prometheus::start(None) else { return };
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    let url = prom.remote_write();
    write_test(&p, &demo, 4, &format!("- module: prometheus\n  remote-write: {url}\n"));
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        prom.child.kill().unwrap();
        prom
    });
    let out = p.suite(&["run", "-t", "t"], LIMIT);
    let prom = killer.join().unwrap();
    assert_eq!(out.code, 0, "{out}");
    assert!(dropped(&out, &url) > 0, "{out}");
    let test = summary_test(&out);
    assert!(test["load_secs"].as_f64().unwrap() < 4.5, "{test}");
    drop(prom);
}

#[test]
fn metrics_addr_serves_openmetrics_while_the_run_lasts_and_prometheus_scrapes_it() {
    let port = free_port();
    let prom = Prometheus::start(Some(port));
    if let Some(prom) = &prom {
        prom.wait_for_target();
    }
    let demo = DemoTarget::start(&[]);
    let p = Project::new();
    write_test(&p, &demo, 4, "");
    let addr = format!("127.0.0.1:{port}");
    let (dir, artifacts) = (p.path().to_path_buf(), p.path().join("reports"));
    let run = std::thread::spawn(move || {
        crate::util::run_suite(&dir, &["run", "-t", "t", "--metrics-addr", &addr], &artifacts, LIMIT, None)
    });
    let started = Instant::now();
    let served = loop {
        if let Some((200, text)) = get(port, "/metrics") {
            if text.contains(r#"suite_requests_total{test="prom_t",label="ping"}"#) {
                break text;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no figures served at {port}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = run.join().unwrap();
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains(&format!("metrics: http://127.0.0.1:{port}/metrics")), "{out}");
    let (head, body) = served.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_lowercase().contains("content-type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    for line in [
        "# TYPE suite_requests counter",
        "# UNIT suite_response_time_seconds seconds",
        "suite_active_users{test=\"prom_t\"}",
    ] {
        assert!(body.contains(line), "{line}: {body}");
    }
    assert_eq!(get(port, "/metrics"), None, "the endpoint stops with the run");
    let Some(prom) = prom else { return };
    // Prometheus read the exposition as OpenMetrics: the counter is there, up to the run's hits.
    let hits = summary_test(&out)["overall"]["hits"].as_u64().unwrap() as f64;
    let scraped = prom.value(r#"max_over_time(suite_requests_total{job="suite",test="prom_t",label="ALL"}[5m])"#);
    assert!(scraped > 0.0 && scraped <= hits, "{scraped} of {hits}");
}

#[test]
fn a_metrics_addr_in_use_is_an_error_before_any_load() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let p = Project::new();
    p.file(
        "t/prom_t.yaml",
        "execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    requests:\n    - http://127.0.0.1:9/\n",
    );
    let out = p.suite(&["run", "-t", "t", "--metrics-addr", &addr], LIMIT);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains(&format!("error: --metrics-addr: cannot listen on {addr}: the address is in use")),
        "{out}"
    );
    assert!(!out.stdout.contains("-- prom_t"), "{out}");
}
