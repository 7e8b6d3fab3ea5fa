//! Monitoring in suites against the real `monitoring-agent` and a real demo server with worker
//! processes: SAlogs written in the right column order, monitoring criteria judged and able to
//! stop the test, and the faults (agent unreachable, agent gone mid-test) as warnings and
//! JUnit errors, never a hang.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::util::artifacts::csv_rows;
use crate::util::{bin, DemoTarget, Project};

/// A running monitoring agent on 127.0.0.1; killed on drop.
struct Agent {
    child: Child,
    port: u16,
}

impl Agent {
    fn start(args: &[&str]) -> Agent {
        let mut child = Command::new(bin("monitoring-agent"))
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("monitoring-agent starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line
            .rsplit(':')
            .next()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Agent { child, port }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn suite_yaml(target: &DemoTarget, agent_port: u16, hold: u64, criteria: &str) -> String {
    format!(
        "execution:\n- concurrency: 2\n  hold-for: {hold}s\n  scenario: s\nscenarios:\n  s:\n    requests:\n    - url: {}/predictions/m\n      label: p\nservices:\n- module: monitoring\n  server-agent:\n  - address: 127.0.0.1:{agent_port}\n    label: demo\n    interval: 1s\n    logging: true\n    metrics: [total_workers, sum_workers_memory_rss, total_processes]\nreporting:\n- module: passfail\n  criteria:\n{criteria}",
        target.url()
    )
}

fn pid_file_target(p: &Project) -> (DemoTarget, String) {
    let pid_file = p.path().join("frontend.pid");
    let pid_text = pid_file.display().to_string();
    let target = DemoTarget::start(&["--workers", "2", "--work-ms", "1", "--models", "m", "--pid-file", &pid_text]);
    (target, pid_text)
}

#[test]
fn agent_figures_reach_salogs_and_monitoring_criteria() {
    let p = Project::new();
    let (target, pid_file) = pid_file_target(&p);
    let agent = Agent::start(&["--frontend-pid-file", &pid_file]);
    let criteria = "  - class: bzt.modules.monitoring.MonitoringCriteria\n    subject: demo/total_workers\n    condition: '<'\n    threshold: 2\n    timeframe: 2s\n  - class: bzt.modules.monitoring.MonitoringCriteria\n    subject: demo/sum_workers_memory_rss\n    condition: '>'\n    threshold: 4000000000\n    timeframe: 1s\n";
    p.file("t/mon.yaml", &suite_yaml(&target, agent.port, 4, criteria));
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    let path = out.run_dir().join(format!("mon/SAlogs_127.0.0.1_{}.csv", agent.port));
    let log = std::fs::read_to_string(&path).unwrap();
    assert_eq!(log.lines().next(), Some("ts,total_workers,sum_workers_memory_rss,total_processes"), "{log}");
    let rows = csv_rows(&path);
    assert!(rows.len() >= 3, "one row per second: {log}");
    let row = &rows[1];
    assert_eq!(
        (row["total_workers"].as_str(), row["total_processes"].as_str()),
        ("2", "3"),
        "two workers, three processes: {log}"
    );
    let rss: f64 = row["sum_workers_memory_rss"].parse().unwrap();
    assert!(rss > 100_000.0, "worker RSS in bytes: {log}");
    let junit = out.junit();
    assert_eq!(junit.count("testcase"), 2, "{junit}");
    assert_eq!(junit.count("failure") + junit.count("error"), 0, "{junit}");
}

#[test]
fn a_monitoring_criterion_stops_the_test() {
    let p = Project::new();
    let (target, pid_file) = pid_file_target(&p);
    let agent = Agent::start(&["--frontend-pid-file", &pid_file]);
    let criteria = "  - class: bzt.modules.monitoring.MonitoringCriteria\n    subject: demo/total_workers\n    condition: '<'\n    threshold: 3\n    timeframe: 2s\n    stop: true\n    fail: true\n";
    p.file("t/mon.yaml", &suite_yaml(&target, agent.port, 30, criteria));
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert_eq!(out.code, 3, "{out}");
    assert!(out.elapsed < Duration::from_secs(15), "stopped early: {:?}", out.elapsed);
    assert_eq!(out.junit().count("failure"), 1);
}

#[test]
fn unreachable_agent_is_a_warning_and_its_criteria_end_as_errors() {
    let p = Project::new();
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "1", "--models", "m"]);
    // Port 9 is closed on a test machine.
    let criteria = "  - class: bzt.modules.monitoring.MonitoringCriteria\n    subject: demo/total_workers\n    condition: '<'\n    threshold: 1\n    timeframe: 1s\n  - avg-rt of p>5s\n";
    p.file("t/mon.yaml", &suite_yaml(&target, 9, 2, criteria));
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("warning") && out.stderr.contains("cannot connect"), "{out}");
    let junit = out.junit();
    assert_eq!(junit.count("error"), 1, "{junit}");
    assert!(junit.text.contains("cannot connect"), "the reason reaches JUnit: {junit}");
    // The load itself ran and its criterion passed.
    assert!(out.stdout.contains("PASS   avg-rt of p>5s"), "{out}");
}

#[test]
fn agent_gone_mid_test_does_not_hang_the_test() {
    let p = Project::new();
    let (target, pid_file) = pid_file_target(&p);
    let mut agent = Agent::start(&["--frontend-pid-file", &pid_file]);
    let criteria = "  - class: bzt.modules.monitoring.MonitoringCriteria\n    subject: demo/total_workers\n    condition: '<'\n    threshold: 1\n    timeframe: 1s\n";
    p.file("t/mon.yaml", &suite_yaml(&target, agent.port, 5, criteria));
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(2));
        let _ = agent.child.kill();
        let _ = agent.child.wait();
    });
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    killer.join().unwrap();
    assert_eq!(out.code, 1, "{out}");
    assert!(out.elapsed < Duration::from_secs(15), "{:?}", out.elapsed);
    let junit = out.junit();
    assert!(junit.text.contains("closed the connection"), "{junit}");
}

#[test]
fn monit_starts_an_agent_for_the_run_and_local_monitoring_needs_none() {
    let p = Project::new();
    let (target, pid_file) = pid_file_target(&p);
    // A free port for the run's agent.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    p.file(
        "global_config.yaml",
        &format!("modules:\n  monitoring-agent:\n    address: 127.0.0.1:{port}\n    frontend-pid-file: {pid_file}\n"),
    );
    let criteria = "  - class: bzt.modules.monitoring.MonitoringCriteria\n    subject: demo/total_processes\n    condition: '<'\n    threshold: 3\n    timeframe: 1s\n  - class: bzt.modules.monitoring.MonitoringCriteria\n    subject: ServerLocalClient/total_workers\n    condition: '<'\n    threshold: 2\n    timeframe: 1s\n";
    let mut yaml = suite_yaml(&target, port, 3, criteria);
    yaml = yaml.replace(
        "reporting:",
        &format!("- module: server_local_monitoring\n  ServerLocalClient:\n  - interval: 1s\n    frontend-pid-file: {pid_file}\n    metrics: [total_workers, cpu, mem]\nreporting:"),
    );
    p.file("t/mon.yaml", &yaml);
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("monitoring-agent listening"), "{out}");
    // The agent is gone after the run.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "agent still listening");
    let out = p.suite(&["run", "-t", "t", "--no-monit"], Duration::from_secs(60));
    assert_eq!(out.code, 1, "without an agent its criterion cannot be judged: {out}");
}

/// A model-server look-alike as the MMS/TorchServe launchers leave it: it writes its pid to
/// `$TMPDIR/.model_server.pid` through Python's `tempfile.gettempdir()`, and starts two children whose command line
/// runs `model_service_worker.py` and one `sleep` that is not a worker.
const MMS_FRONTEND_PY: &str = r#"
import os, subprocess, sys, tempfile, time
worker = [sys.executable, "-c", "import time\nwhile True: time.sleep(60)", "model_service_worker.py"]
ws = [subprocess.Popen(worker) for _ in range(2)]
other = subprocess.Popen(["sleep", "600"])
with open(os.path.join(tempfile.gettempdir(), ".model_server.pid"), "w") as f:
    f.write(str(os.getpid()))
print("ready", flush=True)
time.sleep(3600)
"#;

/// The look-alike's process group, killed on drop.
struct MmsFrontend(Child);

impl MmsFrontend {
    fn start(tmpdir: &std::path::Path) -> MmsFrontend {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("python3")
            .args(["-c", MMS_FRONTEND_PY])
            .env("TMPDIR", tmpdir)
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("python3 on PATH");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready");
        MmsFrontend(child)
    }
}

impl Drop for MmsFrontend {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-9", "--", &format!("-{}", self.0.id())]).status();
        let _ = self.0.wait();
    }
}

/// `ServerLocalClient` with no frontend given (as in the MMS corpus, class and all) watches the server the
/// launchers' pid file names, counting only the `model_service_worker.py` children as workers.
#[test]
fn server_local_client_without_a_frontend_follows_the_mms_pid_file() {
    let p = Project::new();
    let tmpdir = p.path().join("tmp");
    std::fs::create_dir(&tmpdir).unwrap();
    let _server = MmsFrontend::start(&tmpdir);
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "1", "--models", "m"]);
    let yaml = format!(
        "execution:\n- concurrency: 1\n  hold-for: 3s\n  scenario: s\nscenarios:\n  s:\n    requests:\n    - url: {}/predictions/m\nmodules:\n  server_local_monitoring:\n    class: metrics_monitoring_inproc.Monitor\nservices:\n- module: server_local_monitoring\n  ServerLocalClient:\n  - interval: 1s\n    logging: true\n    metrics: [total_workers, total_processes]\nreporting:\n- module: passfail\n  criteria:\n  - class: bzt.modules.monitoring.MonitoringCriteria\n    subject: ServerLocalClient/total_workers\n    condition: '<'\n    threshold: 2\n    timeframe: 1s\n",
        target.url()
    );
    p.file("t/mms.yaml", &yaml);
    let artifacts = p.path().join("reports");
    let mut child = Command::new(crate::util::bin("suite"))
        .current_dir(p.path())
        .args(["run", "-t", "t", "--no-monit", "--artifacts-dir"])
        .arg(&artifacts)
        .env("TMPDIR", &tmpdir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("suite starts");
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let done = child.wait_with_output().unwrap();
    let out = crate::util::Output {
        code: done.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&done.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&done.stderr).into_owned(),
        elapsed: started.elapsed(),
        artifacts,
    };
    assert_eq!(out.code, 0, "{out}");
    let path = out.run_dir().join("mms/ServerLocalClient_monitoring_logs.csv");
    let rows = csv_rows(&path);
    assert!(!rows.is_empty(), "{out}");
    for row in &rows {
        let figures = (row["total_workers"].as_str(), row["total_processes"].as_str());
        assert_eq!(figures, ("2", "3"), "two workers + the frontend; the `sleep` is no worker: {out}");
    }
    assert_eq!(out.junit().count("failure") + out.junit().count("error"), 0, "{out}");
}
