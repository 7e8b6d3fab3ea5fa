//! Shared test harness: the real agent binary on 127.0.0.1:0, line-oriented clients with timeouts, a real
//! model-server-like process tree (a Python frontend with worker children), and `/proc` read independently of the
//! agent. No mocks: every figure the tests check comes from live processes and live sockets.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The agent under test, killed on drop.
pub struct Agent {
    child: Child,
    pub addr: SocketAddr,
    pub http: Option<SocketAddr>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Agent {
    /// Starts the agent with `args` plus `--bind 127.0.0.1:0` and waits for its "listening on" line.
    pub fn start(args: &[&str]) -> Agent {
        Agent::start_with_env(args, &[])
    }

    /// [`Agent::start`] with extra environment variables (e.g. a private `TMPDIR`).
    pub fn start_with_env(args: &[&str], env: &[(&str, &std::path::Path)]) -> Agent {
        let mut child = Command::new(env!("CARGO_BIN_EXE_monitoring-agent"))
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, *v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn monitoring-agent");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let first = rx.recv_timeout(Duration::from_secs(10)).expect("agent printed its address");
        let addr = first.strip_prefix("monitoring-agent listening on ").expect("listening line").parse().unwrap();
        let http = if args.contains(&"--http") {
            let line = rx.recv_timeout(Duration::from_secs(5)).expect("http line");
            let url = line.strip_prefix("monitoring-agent serving http://").expect("http line");
            Some(url.trim_end_matches("/metrics").parse().unwrap())
        } else {
            None
        };
        Agent { child, addr, http, log }
    }

    pub fn connect(&self) -> Conn {
        Conn::new(TcpStream::connect(self.addr).expect("connect to agent"))
    }

    /// Waits until a stderr line contains `needle`.
    pub fn wait_log(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits for the agent to exit on its own; `None` if it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One `metrics-single` round trip on a fresh connection, values by name.
    pub fn single(&self, names: &[&str]) -> Vec<f64> {
        let mut c = self.connect();
        c.send(format!("metrics-single:{}\n", names.join("\t")).as_bytes());
        let line = c.read_line(Duration::from_secs(10)).expect("a value line");
        parse_line(&line, names.len())
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses a value line into exactly `n` floats (panics with the line otherwise: a test failure).
pub fn parse_line(line: &str, n: usize) -> Vec<f64> {
    let values: Vec<f64> = monitoring_agent::protocol::parse_values(line)
        .into_iter()
        .map(|v| v.unwrap_or_else(|| panic!("unparsable value in {line:?}")))
        .collect();
    assert_eq!(values.len(), n, "{line:?}");
    assert!(line.ends_with("\t\n"), "{line:?}");
    values
}

/// A line-oriented client over a real socket.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        stream.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
        Conn { stream, buf: Vec::new() }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send to agent");
    }

    /// The next `\n`-terminated line (with its `\n`), or `None` on timeout or end of stream.
    pub fn read_line(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            self.stream.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    return None
                }
                Err(_) => return None,
            }
        }
    }

    /// Exactly the bytes received within `timeout` (for exact-bytes checks).
    pub fn read_for(&mut self, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        let mut out = std::mem::take(&mut self.buf);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            self.stream.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&chunk[..n]),
            }
        }
        out
    }

    /// Whether the agent closed the connection (EOF or reset) within `timeout`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            self.stream.set_read_timeout(Some(left.max(Duration::from_millis(1)))).unwrap();
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    return false
                }
                Err(_) => return true,
            }
        }
        false
    }
}

/// The frontend: a Python process that starts workers, holds 5 extra files and 2 extra threads, then sleeps.
/// Arguments: idle workers, busy workers, zombie (0/1), orphan (0/1), extra non-worker `sleep` (0/1), marker.
/// It prints one `key pid…` line per kind, then `ready`.
const FRONTEND_PY: &str = r#"
import os, subprocess, sys, threading, time
idle, busy, zombie, orphan, extra = (int(a) for a in sys.argv[1:6])
worker = [sys.executable, "-c"]
ws = [subprocess.Popen(worker + ["import time\nwhile True: time.sleep(60)", "model_service_worker.py"]) for _ in range(idle)]
bs = [subprocess.Popen(worker + ["while True: pass", "model_service_worker.py", "busy"]) for _ in range(busy)]
files = [open(os.devnull) for _ in range(5)]
for _ in range(2):
    threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
print("workers", *[w.pid for w in ws + bs])
print("busy", *[b.pid for b in bs])
if zombie:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    print("zombie", pid)
if orphan:
    # sh starts `sleep` in the background and exits after 2 s; the sleep is re-parented (an orphan).
    sh = subprocess.Popen(["sh", "-c", "sleep 600 & echo $!; sleep 2"], stdout=subprocess.PIPE, text=True)
    print("orphan", int(sh.stdout.readline()))
    threading.Thread(target=sh.wait, daemon=True).start()
if extra:
    print("extra", subprocess.Popen(["sleep", "600"]).pid)
if os.environ.get("WRITE_MODEL_SERVER_PID"):
    # As `multi-model-server --start` / `torchserve --start` do.
    import tempfile
    with open(os.path.join(tempfile.gettempdir(), ".model_server.pid"), "w") as f:
        f.write(str(os.getpid()))
print("ready", flush=True)
sys.stdout.flush()
time.sleep(3600)
"#;

/// What a frontend started.
#[derive(Debug, Default)]
pub struct TreeOptions {
    pub idle: usize,
    pub busy: usize,
    pub zombie: bool,
    pub orphan: bool,
    pub extra: bool,
    pub marker: String,
    /// Run with this `TMPDIR` and write the pid to `$TMPDIR/.model_server.pid`, as the MMS/TorchServe launchers do.
    pub tmpdir: Option<std::path::PathBuf>,
}

/// A running process tree in its own process group, killed (whole group) on drop.
pub struct ServerTree {
    child: Child,
    pub pid: u32,
    pub workers: Vec<u32>,
    pub busy: Vec<u32>,
    pub zombie: Option<u32>,
    pub orphan: Option<u32>,
    pub extra: Option<u32>,
}

impl ServerTree {
    pub fn start(o: &TreeOptions) -> ServerTree {
        let flag = |b: bool| if b { "1" } else { "0" }.to_string();
        let mut command = Command::new("python3");
        command
            .args(["-c", FRONTEND_PY])
            .args([o.idle.to_string(), o.busy.to_string(), flag(o.zombie), flag(o.orphan), flag(o.extra)])
            .arg(format!("frontend-{}", o.marker))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .process_group(0);
        if let Some(dir) = &o.tmpdir {
            command.env("TMPDIR", dir).env("WRITE_MODEL_SERVER_PID", "1");
        }
        let child = command.spawn().expect("python3 on PATH");
        let pid = child.id();
        let mut tree =
            ServerTree { child, pid, workers: vec![], busy: vec![], zombie: None, orphan: None, extra: None };
        let stdout = tree.child.stdout.take().expect("stdout");
        let pids = |rest: &str| rest.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<u32>>();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let (key, rest) = line.split_once(' ').unwrap_or((&line, ""));
            match key {
                "workers" => tree.workers = pids(rest),
                "busy" => tree.busy = pids(rest),
                "zombie" => tree.zombie = pids(rest).first().copied(),
                "orphan" => tree.orphan = pids(rest).first().copied(),
                "extra" => tree.extra = pids(rest).first().copied(),
                "ready" => break,
                _ => {}
            }
        }
        tree
    }

    /// Kills the frontend alone (its workers live on, as after a crash) and reaps it.
    pub fn kill_frontend(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerTree {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-9", "--", &format!("-{}", self.pid)]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn kill9(pid: u32) {
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
}

/// A unique name for this test process (markers and temp files).
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Retries `f` until it returns `Some` or `timeout` passes.
pub fn eventually<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `/proc` read by the test itself.
pub mod proc {
    fn getconf(name: &str) -> u64 {
        let out = std::process::Command::new("getconf").arg(name).output().expect("getconf");
        String::from_utf8_lossy(&out.stdout).trim().parse().expect("a number")
    }

    pub fn page_size() -> u64 {
        getconf("PAGESIZE")
    }

    pub fn clk_tck() -> u64 {
        getconf("CLK_TCK")
    }

    /// `VmRSS:` from `/proc/<pid>/status` in bytes (the agent reads `statm`, a different file).
    pub fn rss(pid: u32) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        let kb = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap().trim().trim_end_matches("kB");
        kb.trim().parse::<u64>().unwrap() * 1024
    }

    /// `Threads:` from `/proc/<pid>/status`.
    pub fn threads(pid: u32) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        status.lines().find_map(|l| l.strip_prefix("Threads:")).unwrap().trim().parse().unwrap()
    }

    /// Entries of `/proc/<pid>/fd`.
    pub fn fds(pid: u32) -> u64 {
        std::fs::read_dir(format!("/proc/{pid}/fd")).expect("fd dir").count() as u64
    }

    /// utime + stime ticks.
    pub fn cpu_ticks(pid: u32) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let f: Vec<u64> = rest.split_whitespace().skip(11).take(2).map(|v| v.parse().unwrap()).collect();
        f[0] + f[1]
    }
}
