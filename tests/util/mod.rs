//! Test helpers: the real binaries, a real demo server on 127.0.0.1 started per test, and a
//! builder that runs `suite` on YAML written into a temporary folder.

#![allow(dead_code)]

pub mod artifacts;
mod shared;

pub use artifacts::Junit;
pub use shared::shared;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A binary built in the same target folder as `suite`.
pub fn bin(name: &str) -> PathBuf {
    let suite = PathBuf::from(env!("CARGO_BIN_EXE_suite"));
    let path = suite.with_file_name(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo test --workspace` (or `cargo build -p {name}`)",
        path.display()
    );
    path
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running demo model server; killed (with its workers) on drop.
pub struct DemoTarget {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Its gRPC port on 127.0.0.1 (0 unless started by [`DemoTarget::start_grpc`]).
    pub grpc_port: u16,
}

impl DemoTarget {
    /// Starts `demo-target --port 0` with extra arguments and waits until it listens.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(bin("demo-target"))
            .args(["--bind", "127.0.0.1", "--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("demo-target starts");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("demo-target prints its port");
        let port = line
            .split("127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in `{line}`"));
        DemoTarget { child, port, grpc_port: 0 }
    }

    /// Starts it with its gRPC API too (`--grpc-port` on a free port the test picks).
    pub fn start_grpc(args: &[&str]) -> Self {
        let grpc_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let port = grpc_port.to_string();
        let mut all = vec!["--grpc-port", port.as_str()];
        all.extend_from_slice(args);
        let mut demo = Self::start(&all);
        demo.grpc_port = grpc_port;
        demo
    }

    /// The gRPC address as a suite writes it (`grpc://127.0.0.1:PORT`).
    pub fn grpc_url(&self) -> String {
        format!("grpc://127.0.0.1:{}", self.grpc_port)
    }

    /// The gRPC calls the server received (`GET /grpc-log`), oldest first.
    pub fn grpc_log(&self) -> Vec<serde_json::Value> {
        let (status, body) = self.request("GET", "/grpc-log");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }

    /// Base URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends one HTTP/1.1 request and returns (status, body).
    pub fn request(&self, method: &str, path: &str) -> (u16, String) {
        http(self.port, method, path)
    }

    /// The `/echo` requests the server received (`GET /echo-log`), oldest first.
    pub fn echo_log(&self) -> Vec<serde_json::Value> {
        let (status, body) = self.request("GET", "/echo-log");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }
}

impl Drop for DemoTarget {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 client for test set-up (control endpoints, stats).
pub fn http(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// What a `suite` run printed and returned.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// The artifacts parent folder.
    pub artifacts: PathBuf,
}

impl Output {
    /// The run folder (`<artifacts>/<run-id>`).
    pub fn run_dir(&self) -> PathBuf {
        let entries: Vec<PathBuf> = std::fs::read_dir(&self.artifacts)
            .map(|rd| {
                rd.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir() && !p.ends_with("latest")).collect()
            })
            .unwrap_or_default();
        assert_eq!(entries.len(), 1, "expected one run folder in {}: {entries:?}\n{self}", self.artifacts.display());
        entries[0].clone()
    }

    /// The run's junit.xml.
    pub fn junit(&self) -> Junit {
        let path = self.run_dir().join("junit.xml");
        assert!(path.is_file(), "no junit.xml\n{self}");
        Junit::read(&path)
    }
}

impl std::fmt::Display for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit {}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// A temporary folder with test files and a way to run `suite` in it.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Self {
        Project { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file (creating folders).
    pub fn file(&self, rel: &str, text: &str) -> &Self {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }

    /// Writes `yaml` as the one test `t/s.yaml` (its folder is `s`; files beside it are not tests)
    /// and runs it.
    pub fn run_test(&self, yaml: &str, limit: Duration) -> Output {
        self.file("t/s.yaml", yaml);
        self.suite(&["run", "-t", "t", "-p", "s.yaml"], limit)
    }

    /// Runs `suite <args>` in the folder, with artifacts in `<dir>/reports`, killing it after `limit`.
    pub fn suite(&self, args: &[&str], limit: Duration) -> Output {
        run_suite(self.dir.path(), args, &self.dir.path().join("reports"), limit, None)
    }
}

/// Runs `suite` in `cwd`; `run` gets `--artifacts-dir`. `signal_after` sends SIGINT then.
pub fn run_suite(
    cwd: &Path,
    args: &[&str],
    artifacts: &Path,
    limit: Duration,
    signal_after: Option<Duration>,
) -> Output {
    run_suite_env(cwd, args, artifacts, limit, signal_after, &[])
}

/// [`run_suite`] with extra environment variables for the `suite` process.
pub fn run_suite_env(
    cwd: &Path,
    args: &[&str],
    artifacts: &Path,
    limit: Duration,
    signal_after: Option<Duration>,
    env: &[(&str, &Path)],
) -> Output {
    let mut cmd = Command::new(bin("suite"));
    cmd.current_dir(cwd).args(args);
    for (key, value) in env {
        cmd.env(key, value);
    }
    if args.first() == Some(&"run") {
        cmd.arg("--artifacts-dir").arg(artifacts);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("suite starts");
    let started = Instant::now();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut signalled = false;
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if let Some(after) = signal_after {
            if !signalled && started.elapsed() >= after {
                let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
                signalled = true;
            }
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "suite {args:?} did not finish within {limit:?}\nstdout: {}\nstderr: {}",
                out_t.join().unwrap(),
                err_t.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        code,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
        elapsed: started.elapsed(),
        artifacts: artifacts.to_path_buf(),
    }
}

/// Number of occurrences of `needle` in `text`.
pub fn count(text: &str, needle: &str) -> usize {
    text.matches(needle).count()
}

/// Another load tool the executor tests run (`k6`): from `.tools/venv-<name>/bin/` (what
/// `scripts/test-tools.sh` installs), else on PATH; `None` (the test prints why and returns)
/// when it is absent, a failure under `CI=true`.
pub fn tool(name: &str) -> Option<PathBuf> {
    let installed = repo().join(format!(".tools/venv-{name}/bin/{name}"));
    let on_path = || {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()))
    };
    let found = if installed.is_file() { Some(installed) } else { on_path() };
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} not found, and CI=true: run scripts/test-tools.sh"
        );
        let test = std::thread::current().name().unwrap_or("a test").to_string();
        let _ = writeln!(std::io::stderr(), "skipped: {name} not installed, run scripts/test-tools.sh ({test})");
    }
    found
}

/// A TLS acceptor with a fresh self-signed certificate for `localhost` and 127.0.0.1, offering
/// `alpn` (e.g. `[b"h2"]`), for the tests' own TLS servers.
pub fn tls_acceptor(alpn: &[&[u8]]) -> tokio_rustls::TlsAcceptor {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("certificate");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![key.cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into()),
        )
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config))
}
