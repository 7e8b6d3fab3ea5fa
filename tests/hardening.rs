//! Issue 10, "Hardening": peers and files that misbehave on purpose. A server that never ends its
//! body, symlink loops and FIFOs below the test folder, and a monitoring agent that never ends a
//! line must each end in a bounded time and memory, with an error that says what happened.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use crate::util::{run_suite, Project};

/// A server on 127.0.0.1 that answers each request with a head, then a body that never ends:
/// `/trickle` sends one byte every 100 ms, `/endless` sends chunks as fast as it can.
fn endless_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || endless_body(stream));
        }
    });
    port
}

fn endless_body(stream: TcpStream) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    let _ = reader.read_line(&mut request);
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
    }
    let mut out = stream;
    if request.contains("/trickle") {
        if out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n").is_err() {
            return;
        }
        while out.write_all(b"x").is_ok() {
            std::thread::sleep(Duration::from_millis(100));
        }
    } else {
        if out.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").is_err() {
            return;
        }
        let chunk = [format!("{:x}\r\n", 4096).into_bytes(), vec![b'x'; 4096], b"\r\n".to_vec()].concat();
        while out.write_all(&chunk).is_ok() {}
    }
}

/// Two users asking for `paths` in turn for `hold`, with the read timeout `timeout`.
fn endless_yaml(port: u16, hold: &str, timeout: &str, paths: &[&str]) -> String {
    let requests: String = paths.iter().map(|p| format!("    - url: /{p}\n      label: {p}\n")).collect();
    format!(
        r#"execution:
- concurrency: 2
  hold-for: {hold}
  scenario: s
scenarios:
  s:
    default-address: http://127.0.0.1:{port}
    timeout: {timeout}
    requests:
{requests}"#
    )
}

/// `label` → `column` of final_stats.csv (0 when the column is absent).
fn stat(out: &crate::util::Output, test: &str, label: &str, column: &str) -> f64 {
    let rows = crate::util::artifacts::final_stats(&out.run_dir().join(test).join("final_stats.csv"));
    let row = rows.iter().find(|r| r["label"] == label).unwrap_or_else(|| panic!("no label `{label}`\n{out}"));
    row.get(column).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

/// The read timeout bounds the whole response, not the wait between two bytes.
#[test]
fn a_body_that_never_ends_times_out_after_the_read_timeout() {
    let port = endless_server();
    let p = Project::new();
    p.file("t/endless.yaml", &endless_yaml(port, "3s", "1s", &["trickle", "endless"]));
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    for label in ["trickle", "endless"] {
        let samples = stat(&out, "endless", label, "throughput");
        assert!(samples >= 2.0, "{label}: {samples} samples\n{out}");
        assert_eq!(stat(&out, "endless", label, "rc_Timeout"), samples, "{label}\n{out}");
        // Each took about the timeout, however many bytes came.
        let avg = stat(&out, "endless", label, "avg_rt");
        assert!((0.9..1.8).contains(&avg), "{label}: avg {avg}s\n{out}");
    }
    // hold-for, plus at most one timeout for the requests in flight at its end, plus start-up.
    assert!(out.elapsed < Duration::from_secs(7), "{:?}\n{out}", out.elapsed);
}

/// A request in flight when the test's time is up gets the stop grace period, then is abandoned.
#[test]
fn the_end_of_the_test_ends_a_body_that_never_ends() {
    let port = endless_server();
    let p = Project::new();
    p.file("t/endless.yaml", &endless_yaml(port, "2s", "120s", &["endless"]));
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    // hold-for (2 s) + the stop grace (5 s) + start-up.
    assert!(out.elapsed < Duration::from_secs(10), "{:?}\n{out}", out.elapsed);
    assert!(stat(&out, "endless", "", "fail") >= 2.0, "{out}");
}

/// The first Ctrl-C stops the load: requests in flight get the grace period, then are abandoned.
#[test]
fn the_first_interrupt_ends_a_body_that_never_ends() {
    let port = endless_server();
    let p = Project::new();
    p.file("t/endless.yaml", &endless_yaml(port, "120s", "120s", &["endless"]));
    let reports = p.path().join("reports");
    let out = run_suite(p.path(), &["run", "-t", "t"], &reports, Duration::from_secs(60), Some(Duration::from_secs(2)));
    // Interrupted (exit 2), with reports written.
    assert_eq!(out.code, 2, "{out}");
    assert!(out.elapsed < Duration::from_secs(10), "{:?}\n{out}", out.elapsed);
    assert!(out.run_dir().join("endless/final_stats.csv").exists(), "{out}");
}

/// A FIFO, `/dev/zero` and a folder link loop among the test files: each file named in a clear
/// error, the good test still run once, and nothing hangs.
#[test]
fn special_files_and_link_loops_among_test_files_are_errors_not_hangs() {
    use std::os::unix::fs::symlink;
    let p = Project::new();
    p.file(
        "t/good.yaml",
        "execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    requests: [http://127.0.0.1:9/]\n",
    );
    let t = p.path().join("t");
    assert!(std::process::Command::new("mkfifo").arg(t.join("fifo.yaml")).status().unwrap().success());
    symlink("/dev/zero", t.join("zero.yaml")).unwrap();
    symlink(".", t.join("self")).unwrap();
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(30));
    assert_eq!(out.code, 1, "{out}");
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("`t/fifo.yaml` is not a regular file but a FIFO"), "{out}");
    assert!(all.contains("`t/zero.yaml` is not a regular file but a character device"), "{out}");
    assert_eq!(crate::util::count(&out.stdout, "-- good ("), 1, "{out}");
}

/// A TLS handshake that never completes is reported as such, not as a connect that timed out.
#[test]
fn a_stalled_tls_handshake_is_named() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream); // accept, never answer the ClientHello
        }
    });
    let p = Project::new();
    p.file(
        "t/tls.yaml",
        &format!("execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    timeout: 500ms\n    requests:\n    - url: https://127.0.0.1:{port}/\n      label: stalled\n"),
    );
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(30));
    assert_eq!(stat(&out, "tls", "stalled", "rc_Timeout"), 1.0, "{out}");
    let seconds = std::fs::read_to_string(out.run_dir().join("tls").join("seconds.jsonl")).unwrap();
    assert!(seconds.contains("TLS handshake timed out after 0.5s"), "{seconds}");
    assert!(!seconds.contains("connect timed out"), "{seconds}");
}

/// Files a scenario names (body file, upload, data source) are read the same way: a FIFO or
/// `/dev/zero` is an error at the path in the config, before any request, not a hang.
#[test]
fn special_files_named_by_a_scenario_are_errors_not_hangs() {
    use std::os::unix::fs::symlink;
    let p = Project::new();
    p.file(
        "t/files.yaml",
        "execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    data-sources: [rows.csv]\n    requests:\n    - url: http://127.0.0.1:9/\n      method: POST\n      body-file: body.bin\n    - url: http://127.0.0.1:9/up\n      method: POST\n      upload-files:\n      - param: f\n        path: up.bin\n",
    );
    let t = p.path().join("t");
    assert!(std::process::Command::new("mkfifo").arg(t.join("body.bin")).status().unwrap().success());
    assert!(std::process::Command::new("mkfifo").arg(t.join("rows.csv")).status().unwrap().success());
    symlink("/dev/zero", t.join("up.bin")).unwrap();
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(30));
    assert_eq!(out.code, 1, "{out}");
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(all.contains("cannot read body-file `body.bin`: not a regular file but a FIFO"), "{out}");
    assert!(all.contains("cannot read data source `rows.csv`: not a regular file but a FIFO"), "{out}");
    assert!(all.contains("cannot read upload file `up.bin`: not a regular file but a character device"), "{out}");
}

/// A fake agent on 127.0.0.1 that answers `test` with a line that does not end (8 MiB here, to
/// keep the machine safe however the client behaves): the source gives up at once with a
/// warning naming the cause, instead of buffering the line until the handshake times out.
#[test]
fn an_agent_that_never_ends_a_line_is_given_up() {
    use std::io::Read;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut greeting = [0u8; 5];
                let _ = stream.read_exact(&mut greeting);
                let block = vec![b'x'; 64 * 1024];
                for _ in 0..128 {
                    if stream.write_all(&block).is_err() {
                        return;
                    }
                }
                std::thread::sleep(Duration::from_secs(30));
            });
        }
    });
    let p = Project::new();
    let yaml = format!(
        "execution:\n- concurrency: 1\n  hold-for: 2s\n  scenario: s\nscenarios:\n  s:\n    think-time: 200ms\n    requests: [http://127.0.0.1:9/]\nservices:\n- module: monitoring\n  server-agent:\n  - address: 127.0.0.1:{port}\n    label: liar\n    metrics: [cpu]\n"
    );
    p.file("t/liar.yaml", &yaml);
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert!(out.stderr.contains("warning") && out.stderr.contains("line longer than 64 KiB"), "{out}");
}
