//! The ServerAgent protocol over real sockets: exact bytes, line framing, several clients at once, errors, caps,
//! hostile clients, shutdown handling, signals, the Prometheus endpoint and the CLI. Every read has a timeout, so a
//! hang fails the test instead of stalling the suite.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{parse_line, Agent};

const WAIT: Duration = Duration::from_secs(5);

#[test]
fn test_gets_exactly_yep() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    c.send(b"test\n");
    assert_eq!(c.read_for(Duration::from_millis(400)), b"Yep\n");
    // Blank lines are ignored, not answered.
    c.send(b"\n\r\n \t \ntest\n");
    assert_eq!(c.read_for(Duration::from_millis(400)), b"Yep\n");
    assert_eq!(monitoring_agent::protocol::GREETING, "test\n");
    assert_eq!(monitoring_agent::protocol::REPLY, "Yep\n");
}

#[test]
fn taurus_sequence_with_commands_in_one_packet() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    // What MMS's agent choked on: interval and metrics in one read.
    c.send(b"test\ninterval:1\nmetrics:total_processes\tcpu\tmemory:usedperc\n");
    assert_eq!(c.read_line(WAIT).as_deref(), Some("Yep\n"));
    let started = Instant::now();
    for _ in 0..2 {
        let line = c.read_line(WAIT).expect("value line");
        let v = parse_line(&line, 3);
        assert_eq!(v[0], 0.0, "no frontend → 0 processes");
        assert!(line.starts_with("0\t"), "integers print without .0: {line:?}");
        assert!((0.0..=100.0).contains(&v[1]) && v[2] > 0.0 && v[2] <= 100.0, "{line:?}");
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_millis(3500), "{elapsed:?}");
    c.send(b"exit\n");
    assert!(c.closed_within(WAIT));
}

#[test]
fn crlf_and_split_packets_are_framed_by_lines() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    c.send(b"te");
    std::thread::sleep(Duration::from_millis(100));
    c.send(b"st\r\nmetrics-single:total_workers\tzombies\r\n");
    assert_eq!(c.read_line(WAIT).as_deref(), Some("Yep\n"));
    assert_eq!(c.read_line(WAIT).as_deref(), Some("0\t0\t\n"));
}

#[test]
fn several_clients_with_their_own_intervals_and_lists() {
    let agent = Agent::start(&[]);
    let mut fast = agent.connect();
    let mut slow = agent.connect();
    fast.send(b"interval:1\nmetrics:cpu\ttotal_processes\n");
    slow.send(b"interval:2\nmetrics:mem\n");
    let start = Instant::now();
    let (mut n_fast, mut n_slow) = (0, 0);
    // Read both for ~4.5 s.
    while start.elapsed() < Duration::from_millis(4500) {
        if let Some(line) = fast.read_line(Duration::from_millis(100)) {
            parse_line(&line, 2);
            n_fast += 1;
        }
        if let Some(line) = slow.read_line(Duration::from_millis(100)) {
            parse_line(&line, 1);
            n_slow += 1;
        }
    }
    assert!((3..=5).contains(&n_fast), "1 s client got {n_fast} lines");
    assert!((1..=3).contains(&n_slow), "2 s client got {n_slow} lines");
}

#[test]
fn unknown_metric_gets_an_error_line_and_no_stream() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    c.send(b"interval:1\nmetrics:cpu\tfoo\n");
    let line = c.read_line(WAIT).expect("error line");
    assert!(line.starts_with("ERROR unknown metric `foo` (known: cpu, mem,"), "{line:?}");
    assert!(c.read_line(Duration::from_millis(1600)).is_none(), "nothing streamed after an error");
    // The connection stays usable.
    c.send(b"metrics-single:avg_workers_iowait_time\n");
    let line = c.read_line(WAIT).expect("error line");
    assert!(line.contains("did you mean `avg_workers_cpu_iowait_time`?"), "{line:?}");
    assert!(agent.wait_log("error: unknown metric `foo`", WAIT));
}

#[test]
fn exec_and_tail_specs_are_refused() {
    let marker = std::env::temp_dir().join(common::unique("exec-marker"));
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    c.send(format!("metrics-single:exec:/bin/sh:-c:touch {}\n", marker.display()).as_bytes());
    let line = c.read_line(WAIT).expect("error line");
    assert!(line.starts_with("ERROR refused metric `exec:/bin/sh"), "{line:?}");
    c.send(b"metrics:tail:/etc/passwd\n");
    assert!(c.read_line(WAIT).expect("error line").starts_with("ERROR refused metric `tail:"));
    assert!(!marker.exists(), "nothing was run");
}

#[test]
fn unknown_commands_and_bad_intervals_keep_the_connection() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    c.send(b"udp-transmitter:127.0.0.1:9:cpu\ninterval:0\ninterval:abc\nmetrics:\ntest\n");
    assert!(c.read_line(WAIT).unwrap().starts_with("ERROR unknown command `udp-transmitter"));
    assert!(c.read_line(WAIT).unwrap().starts_with("ERROR invalid interval in `interval:0`"));
    assert!(c.read_line(WAIT).unwrap().starts_with("ERROR invalid interval in `interval:abc`"));
    assert!(c.read_line(WAIT).unwrap().starts_with("ERROR no metrics named"));
    assert_eq!(c.read_line(WAIT).as_deref(), Some("Yep\n"));
}

#[test]
fn garbage_bytes_get_an_error_and_the_connection_stays() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    c.send(b"\xff\xfe\x00\x80garbage\n\x00\x01\x02\ntest\n");
    assert_eq!(c.read_line(WAIT).as_deref(), Some("ERROR command is not UTF-8 text\n"));
    let line = c.read_line(WAIT).unwrap();
    assert!(line.starts_with("ERROR unknown command `\\0\\u{1}\\u{2}`"), "control characters escaped: {line:?}");
    assert_eq!(c.read_line(WAIT).as_deref(), Some("Yep\n"));
}

#[test]
fn oversized_line_drops_that_client_only() {
    let agent = Agent::start(&[]);
    let mut streaming = agent.connect();
    streaming.send(b"metrics:total_processes\n");
    let mut hostile = agent.connect();
    hostile.send(&vec![b'a'; 5000]);
    let line = hostile.read_line(WAIT).expect("error line");
    assert_eq!(line, "ERROR line longer than 4096 bytes; closing\n");
    assert!(hostile.closed_within(WAIT));
    for _ in 0..2 {
        assert_eq!(streaming.read_line(WAIT).as_deref(), Some("0\t\n"));
    }
    assert!(agent.wait_log("disconnected: line longer than 4096 bytes", WAIT));
}

#[test]
fn clients_that_vanish_are_cleaned_up() {
    let agent = Agent::start(&[]);
    drop(TcpStream::connect(agent.addr).unwrap());
    let mut streaming = agent.connect();
    streaming.send(b"interval:1\nmetrics:cpu\n");
    drop(streaming);
    let mut half = TcpStream::connect(agent.addr).unwrap();
    half.write_all(b"tes").unwrap();
    half.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(agent.wait_log("disconnected: connection closed by client", WAIT));
    // The streaming client's next write fails (reset or closed), and it is dropped.
    let dropped = common::eventually(WAIT, || {
        (agent.log().iter().filter(|l| l.contains("disconnected")).count() >= 3).then_some(())
    });
    assert!(dropped.is_some(), "{:?}", agent.log());
    let mut c = agent.connect();
    c.send(b"test\n");
    assert_eq!(c.read_line(WAIT).as_deref(), Some("Yep\n"));
}

#[test]
fn a_client_that_never_reads_does_not_slow_the_others_and_is_dropped() {
    let agent = Agent::start(&[]);
    let mut good = agent.connect();
    good.send(b"interval:1\nmetrics:cpu\ttotal_processes\n");
    // 16 MB of `test` without reading a single `Yep`: the agent's writes to it block, then time out.
    let addr = agent.addr;
    let hostile = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        let chunk = b"test\n".repeat(65536);
        for _ in 0..50 {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
        s
    });
    let mut last = Instant::now();
    for _ in 0..5 {
        // A stalled agent would show a 10 s gap (the write timeout to the hostile client); the
        // margin below it is for a 2-core machine running this binary's other agents at once.
        let line = good.read_line(Duration::from_secs(9)).expect("the well-behaved client keeps streaming");
        parse_line(&line, 2);
        let gap = last.elapsed();
        last = Instant::now();
        assert!(gap < Duration::from_secs(8), "gap {gap:?}");
    }
    assert!(
        agent.wait_log("not reading (a write did not complete in 10s)", Duration::from_secs(20)),
        "{:?}",
        agent.log()
    );
    drop(hostile.join());
}

#[test]
fn extra_clients_are_refused_with_an_error_line() {
    let agent = Agent::start(&["--max-clients", "2"]);
    let mut a = agent.connect();
    let mut b = agent.connect();
    a.send(b"test\n");
    b.send(b"test\n");
    assert_eq!(a.read_line(WAIT).as_deref(), Some("Yep\n"));
    assert_eq!(b.read_line(WAIT).as_deref(), Some("Yep\n"));
    let mut c = agent.connect();
    let line = c.read_line(WAIT).expect("error line");
    assert!(line.starts_with("ERROR too many clients (the agent serves 2)"), "{line:?}");
    assert!(c.closed_within(WAIT));
    a.send(b"exit\n");
    assert!(a.closed_within(WAIT));
    let ok = common::eventually(WAIT, || {
        let mut d = agent.connect();
        d.send(b"test\n");
        (d.read_line(WAIT).as_deref() == Some("Yep\n")).then_some(())
    });
    assert!(ok.is_some(), "a freed slot is reused");
}

#[test]
fn shutdown_is_refused_by_default() {
    let mut agent = Agent::start(&[]);
    let mut c = agent.connect();
    c.send(b"shutdown\n");
    let line = c.read_line(WAIT).unwrap();
    assert_eq!(line, "ERROR `shutdown` refused: the agent was not started with --allow-shutdown\n");
    assert!(agent.wait_exit(Duration::from_millis(500)).is_none());
    c.send(b"test\n");
    assert_eq!(c.read_line(WAIT).as_deref(), Some("Yep\n"));
    assert!(agent.wait_log("error: `shutdown` refused", WAIT));
}

#[test]
fn shutdown_stops_the_agent_when_allowed() {
    let mut agent = Agent::start(&["--allow-shutdown"]);
    let mut other = agent.connect();
    other.send(b"metrics:cpu\n");
    let mut c = agent.connect();
    c.send(b"shutdown\n");
    let status = agent.wait_exit(WAIT).expect("agent exited");
    assert!(status.success(), "{status:?}");
    assert!(other.closed_within(WAIT));
}

#[test]
fn sigterm_stops_gracefully() {
    let mut agent = Agent::start(&[]);
    let mut c = agent.connect();
    c.send(b"interval:1\nmetrics:cpu\n");
    std::process::Command::new("kill").args(["-TERM", &agent.pid().to_string()]).status().unwrap();
    let status = agent.wait_exit(WAIT).expect("agent exited on SIGTERM");
    assert!(status.success(), "{status:?}");
    assert!(c.closed_within(WAIT));
    assert!(agent.wait_log("monitoring-agent: stopped", WAIT));
}

#[test]
fn prometheus_endpoint_serves_the_whole_catalogue() {
    let agent = Agent::start(&["--http", "127.0.0.1:0"]);
    let http = agent.http.expect("http address");
    let get = |path: &str| {
        let mut s = common::Conn::new(TcpStream::connect(http).unwrap());
        s.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        String::from_utf8(s.read_for(WAIT)).unwrap()
    };
    let body = get("/metrics");
    assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{body}");
    assert_eq!(body.matches("# TYPE ").count(), 135);
    assert!(body.contains("# HELP mms_total_processes total_processes (processes)\n"));
    assert!(body.contains("\nmms_total_processes 0\n"));
    assert!(body.contains("# HELP mms_disk_space disk-space (percent of filesystem)\n"));
    assert!(get("/other").starts_with("HTTP/1.1 404"));
    // The ServerAgent port still works alongside.
    let mut c = agent.connect();
    c.send(b"test\n");
    assert_eq!(c.read_line(WAIT).as_deref(), Some("Yep\n"));
}

#[test]
fn cli_lists_metrics_and_explains_flags() {
    let bin = env!("CARGO_BIN_EXE_monitoring-agent");
    let out = std::process::Command::new(bin).arg("--list-metrics").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 135);
    assert!(text.lines().any(|l| l.split_whitespace().collect::<Vec<_>>() == ["sum_workers_memory_rss", "bytes"]));
    let help = std::process::Command::new(bin).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for flag in [
        "--bind",
        "--frontend-pid ",
        "--frontend-pid-file",
        "--frontend-match",
        "--worker-match",
        "--http",
        "--max-clients",
        "--allow-shutdown",
        "--list-metrics",
        "--rescan",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    let bad = std::process::Command::new(bin).args(["--frontend-pid", "1", "--frontend-match", "x"]).output().unwrap();
    assert!(!bad.status.success(), "one frontend selector at a time");
    let bad = std::process::Command::new(bin).args(["--bind", "127.0.0.1:0", "--worker-match", "("]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("regex"));
}
