//! Issue 10, "Hardening": mistakes on the command line, in the pid file and from clients get a clear word
//! instead of silent zeros, a silent clamp, a hang or a panic.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Agent;

const WAIT: Duration = Duration::from_secs(10);

fn agent_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_monitoring-agent"))
}

/// `--list-metrics | head`: the reader goes away, the agent ends quietly with success.
#[test]
fn list_metrics_into_a_closed_pipe_exits_quietly() {
    let mut child = agent_cmd()
        .arg("--list-metrics")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn monitoring-agent");
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn max_clients_zero_is_an_error() {
    let out = agent_cmd().args(["--bind", "127.0.0.1:0", "--max-clients", "0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--max-clients") && stderr.contains("at least 1"), "{stderr}");
}

/// Pid 1 as frontend would count every process on the host as a worker.
#[test]
fn pid_1_as_frontend_is_refused_unless_allowed() {
    let out = agent_cmd().args(["--bind", "127.0.0.1:0", "--frontend-pid", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--allow-pid-1"), "{stderr}");
    let agent = Agent::start(&["--frontend-pid", "1", "--allow-pid-1"]);
    assert!(agent.single(&["total_processes"])[0] > 1.0, "pid 1 and its descendants");
}

#[test]
fn an_interval_out_of_range_gets_an_error_line() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    c.send(b"interval:1e30\ninterval:86401\ninterval:86400\ntest\n");
    for asked in ["1e30", "86401"] {
        let line = c.read_line(WAIT).unwrap_or_default();
        assert!(line.starts_with(&format!("ERROR invalid interval in `interval:{asked}`")), "{line}");
        assert!(line.contains("at most 86400"), "{line}");
    }
    // A day is accepted: no error before the `Yep`.
    assert_eq!(c.read_line(WAIT).as_deref(), Some("Yep\n"));
}

/// Each way a pid file can be wrong is warned once, with the frontend absent (process metrics 0); a FIFO does
/// not block the agent; pid 1 is refused; a good pid is found again, and said so.
#[test]
fn pid_file_problems_are_warned_once_and_the_frontend_is_absent() {
    let dir = std::env::temp_dir().join(common::unique("pidfile"));
    std::fs::create_dir_all(&dir).unwrap();
    let pid_file = dir.join("frontend.pid");
    std::fs::write(&pid_file, "not-a-pid\n").unwrap();
    let agent = Agent::start(&["--frontend-pid-file", pid_file.to_str().unwrap()]);
    let names = ["total_processes", "frontend_threads"];
    // Several samples: zeros each time, one warning in all.
    for _ in 0..3 {
        assert_eq!(agent.single(&names), [0.0, 0.0]);
        std::thread::sleep(Duration::from_millis(300));
    }
    let shown = pid_file.display().to_string();
    assert!(agent.wait_log("holds `not-a-pid`, not a pid", WAIT), "{:?}", agent.log());
    let warned = |needle: &str| agent.log().iter().filter(|l| l.contains(needle)).count();
    assert_eq!(warned("not a pid"), 1, "{:?}", agent.log());
    assert!(agent.log().iter().any(|l| l.contains(&shown) && l.contains("reported absent")), "{:?}", agent.log());

    // A process that has exited.
    let mut gone = Command::new("true").spawn().unwrap();
    let gone_pid = gone.id();
    gone.wait().unwrap();
    let cases: [(&dyn Fn(), String); 4] = [
        (
            &|| std::fs::write(&pid_file, format!("{gone_pid}\n")).unwrap(),
            format!("names pid {gone_pid}, which is not running"),
        ),
        (&|| std::fs::write(&pid_file, "").unwrap(), "holds no pid".to_string()),
        (
            &|| {
                std::fs::remove_file(&pid_file).unwrap();
                assert!(Command::new("mkfifo").arg(&pid_file).status().unwrap().success());
            },
            "is not a regular file".to_string(),
        ),
        (
            &|| {
                std::fs::remove_file(&pid_file).unwrap();
                std::fs::write(&pid_file, "1\n").unwrap();
            },
            "names pid 1 (init)".to_string(),
        ),
    ];
    for (make, needle) in cases {
        make();
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline && warned(&needle) == 0 {
            assert_eq!(agent.single(&names), [0.0, 0.0], "{needle}");
            std::thread::sleep(Duration::from_millis(300));
        }
        assert_eq!(agent.single(&names), [0.0, 0.0], "{needle}");
        assert_eq!(warned(&needle), 1, "{needle}: {:?}", agent.log());
    }

    let mut frontend = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(&pid_file, format!("{}\n", frontend.id())).unwrap();
    let found = common::eventually(WAIT, || (agent.single(&names)[0] == 1.0).then_some(()));
    assert!(found.is_some(), "{:?}", agent.log());
    // The log line travels through a pipe; it may follow the value line.
    let news = format!("frontend found: pid {}", frontend.id());
    assert!(agent.wait_log(&news, WAIT), "{:?}", agent.log());
    assert_eq!(warned(&news), 1, "{:?}", agent.log());
    let _ = frontend.kill();
    let _ = frontend.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGTERM as soon as the address line is out (a supervisor stopping a just-started agent): a graceful stop,
/// never death by the signal's default action.
#[test]
fn sigterm_right_after_the_address_line_stops_gracefully() {
    for _ in 0..5 {
        let mut agent = Agent::start(&[]);
        Command::new("kill").args(["-TERM", &agent.pid().to_string()]).status().unwrap();
        let status = agent.wait_exit(WAIT).expect("agent exited on SIGTERM");
        assert!(status.success(), "{status:?}");
    }
}
