//! Issue 10, hardening: a closed stdout, runs sharing an artifacts folder, tests sharing a name,
//! files that cannot be written, Ctrl-C during a foreground command, sequential executions, and
//! the defaults `run` and `validate` share.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{bin, DemoTarget, Project};

fn alive(pid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    !stat.is_empty() && !stat.contains(") Z ")
}

/// Waits (up to 10 s) for a pid file to be written, and returns the pid.
fn wait_pid(path: &Path) -> String {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let pid = std::fs::read_to_string(path).unwrap_or_default().trim().to_string();
        if !pid.is_empty() || Instant::now() > until {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run folders in an artifacts folder (`latest` left out).
fn run_dirs(artifacts: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(artifacts)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !p.ends_with("latest"))
        .collect();
    dirs.sort();
    dirs
}

/// Runs `suite` in `cwd`, reads `lines` lines of its stdout and closes it; returns the exit code
/// and stderr.
fn suite_with_stdout_closed_after(cwd: &Path, args: &[&str], lines: usize) -> (i32, String) {
    let mut child = Command::new(bin("suite"))
        .current_dir(cwd)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("suite starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..lines {
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
    }
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn r10_closed_stdout_stops_the_printing_not_the_run() {
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "0", "--models", "m"]);
    let p = Project::new();
    let pidfile = p.path().join("bg.pid");
    let yaml = format!(
        "execution:\n- concurrency: 1\n  hold-for: 2s\n  scenario: s\nscenarios:\n  s:\n    requests: ['{}/ping']\nservices:\n- module: shellexec\n  startup:\n  - command: echo $$ > {} && exec demo-target --bind 127.0.0.1 --port 0 --workers 1\n    background: true\nreporting:\n- module: passfail\n  criteria: ['fail>0%, stop as failed']\n",
        target.url(),
        pidfile.display()
    );
    p.file("t/a.yaml", &yaml);
    p.file("t/b.yaml", &yaml);
    let (code, stderr) = suite_with_stdout_closed_after(p.path(), &["run", "-t", "t", "-a", "reports"], 1);
    assert_eq!(code, 0, "the verdict, not a panic:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let runs = run_dirs(&p.path().join("reports"));
    assert_eq!(runs.len(), 1, "{runs:?}");
    for file in ["junit.xml", "report.html", "summary.json", "a/final_stats.csv", "b/final_stats.csv"] {
        assert!(runs[0].join(file).is_file(), "{file} is missing:\n{stderr}");
    }
    assert!(!alive(&wait_pid(&pidfile)), "the background demo-target is still running");

    // `suite run 2>&1 | head -1`: stderr closes with stdout; warnings and errors stop, the run does not.
    std::fs::remove_dir_all(p.path().join("reports")).unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    let mut child = Command::new(bin("suite"))
        .current_dir(p.path())
        .args(["run", "-t", "t", "-a", "reports", "-o", "execution.0.scenario=missing"])
        .stdout(writer.try_clone().unwrap())
        .stderr(writer)
        .spawn()
        .expect("suite starts");
    let mut first = String::new();
    BufReader::new(reader).read_line(&mut first).unwrap();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(1), "a planning error in both tests is exit 1, not a panic (101); first line: {first}");
    let runs = run_dirs(&p.path().join("reports"));
    assert!(runs[0].join("junit.xml").is_file(), "junit.xml is missing");

    // `validate` prints the effective config: a reader gone before it starts is no error either.
    let (code, stderr) = suite_with_stdout_closed_after(p.path(), &["validate", "t/a.yaml"], 0);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("ok: 1 execution(s)"), "{stderr}");
}

#[test]
fn r10_runs_started_together_get_their_own_folders() {
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "0", "--models", "m"]);
    let p = Project::new();
    for name in ["one", "two"] {
        let yaml = format!(
            "execution:\n- concurrency: 1\n  iterations: 3\n  scenario: s\nscenarios:\n  s:\n    requests: ['{}/ping']\n",
            target.url()
        );
        p.file(&format!("{name}/{name}.yaml"), &yaml);
    }
    // Both start early in the same second: their run ids (to the second) are the same.
    while std::time::SystemTime::UNIX_EPOCH.elapsed().unwrap().subsec_millis() > 300 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let spawn = |name: &str| {
        Command::new(bin("suite"))
            .current_dir(p.path())
            .args(["run", "-t", name, "-a", "reports"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let runs = [spawn("one"), spawn("two")];
    for run in runs {
        let out = run.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let dirs = run_dirs(&p.path().join("reports"));
    assert_eq!(dirs.len(), 2, "two runs, two folders: {dirs:?}");
    let mut tests: Vec<String> = dirs
        .iter()
        .map(|dir| {
            let junit = crate::util::Junit::read(&dir.join("junit.xml"));
            assert_eq!(junit.count("testsuite"), 1, "{junit}");
            let summary = crate::util::artifacts::summary(&dir.join("summary.json"));
            let names: Vec<&str> =
                summary["tests"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
            assert_eq!(names.len(), 1, "{summary}");
            assert!(dir.join(names[0]).join("final_stats.csv").is_file());
            names[0].to_string()
        })
        .collect();
    tests.sort();
    assert_eq!(tests, ["one", "two"]);
    let latest = std::fs::read_link(p.path().join("reports/latest")).unwrap();
    assert!(dirs.iter().any(|d| d.ends_with(&latest)), "latest -> {}", latest.display());
}

#[test]
fn r10_tests_sharing_a_file_name_get_their_own_folders() {
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "0", "--models", "m"]);
    let p = Project::new();
    for (folder, iterations) in [("x", 2), ("y", 3)] {
        let yaml = format!(
            "execution:\n- concurrency: 1\n  iterations: {iterations}\n  scenario: s\nscenarios:\n  s:\n    requests: ['{}/ping']\n",
            target.url()
        );
        p.file(&format!("t/{folder}/ping.yaml"), &yaml);
    }
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert_eq!(out.code, 0, "{out}");
    let run = out.run_dir();
    for (name, hits) in [("x-ping", "2"), ("y-ping", "3")] {
        let rows = crate::util::artifacts::final_stats(&run.join(name).join("final_stats.csv"));
        assert_eq!(rows.last().unwrap()["succ"], hits, "{name}: {rows:?}");
    }
    assert!(!run.join("ping").exists(), "no shared `ping` folder");
    let junit = out.junit();
    assert_eq!((junit.suites_named("x-ping"), junit.suites_named("y-ping")), (1, 1), "{junit}");
}

#[test]
fn r10_files_that_cannot_be_written_are_named_and_fail_the_run() {
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "0", "--models", "m"]);
    let p = Project::new();
    // A folder where a file should go stands for a full disk: the write fails, portably, as any user.
    let yaml = format!(
        "execution:\n- concurrency: 1\n  iterations: 3\n  scenario: s\nscenarios:\n  s:\n    requests: ['{}/ping']\nservices:\n- module: shellexec\n  prepare:\n  - mkdir ${{TAURUS_ARTIFACTS_DIR}}/xunit.xml ${{TAURUS_ARTIFACTS_DIR}}/../summary.json\nreporting:\n- module: passfail\n  criteria: ['fail>50%']\n",
        target.url()
    );
    p.file("t/full.yaml", &yaml);
    p.file("t/next.yaml", &yaml.replace("  prepare:\n  - mkdir", "  prepare:\n  - true || mkdir"));
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert_eq!(out.code, 1, "{out}");
    let error = out.stderr.split("error: 2 file(s) could not be written").nth(1).unwrap_or_else(|| panic!("{out}"));
    let run = out.run_dir();
    for unwritten in [run.join("summary.json"), run.join("full/xunit.xml")] {
        assert!(
            error.contains(&format!("  {}: ", unwritten.display())),
            "{} is not named:\n{out}",
            unwritten.display()
        );
    }
    // Everything else was written, whole, and no temporary file is left.
    let junit = out.junit();
    junit.assert_schema_valid();
    assert_eq!(junit.count("testsuite"), 2, "{junit}");
    for file in ["report.html", "run.json", "full/final_stats.csv", "full/test.json", "next/xunit.xml"] {
        assert!(std::fs::metadata(run.join(file)).is_ok_and(|m| m.is_file() && m.len() > 0), "{file}\n{out}");
    }
    let leftovers: Vec<_> = [run.clone(), run.join("full")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap().filter_map(Result::ok))
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .map(|e| e.path())
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn r10_ctrl_c_during_a_foreground_prepare_command_ends_it() {
    let p = Project::new();
    let pidfile = p.path().join("sleep.pid");
    let yaml = format!(
        "execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    requests: ['http://127.0.0.1:9/']\nservices:\n- module: shellexec\n  prepare:\n  - sleep 30 & echo $! > {}; wait\n",
        pidfile.display()
    );
    p.file("t/prep.yaml", &yaml);
    let mut child = Command::new(bin("suite"))
        .current_dir(p.path())
        .args(["run", "-t", "t", "-a", "reports"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = wait_pid(&pidfile);
    assert!(alive(&pid), "the prepare command runs");
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let signalled = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(10), "suite did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    let until = Instant::now() + Duration::from_secs(2);
    while alive(&pid) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(&pid), "the prepare command's `sleep 30` is still running");
}

#[test]
fn r10_validate_merges_what_run_merges() {
    let p = Project::new();
    p.file("tests/global_config.yaml", "settings:\n  env:\n    P90: 0ms\n");
    p.file(
        "tests/inference/inference.yaml",
        "execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    requests: ['http://127.0.0.1:9/']\nreporting:\n- module: passfail\n  criteria: ['p90>${P90}']\n",
    );
    p.file("tests/inference/environments/relaxed.yaml", "settings:\n  env:\n    P90: 5s\n");
    let out =
        p.suite(&["validate", "tests/inference/inference.yaml", "--env-name", "relaxed"], Duration::from_secs(30));
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("p90>5s"), "the environment profile is merged:\n{out}");
    // Without a profile the global config found beside the MMS folder supplies the value.
    let out = p.suite(&["validate", "tests/inference/inference.yaml"], Duration::from_secs(30));
    assert_eq!(out.code, 0, "{out}");
    assert!(out.stdout.contains("p90>0ms"), "the global config is merged:\n{out}");
}

#[test]
fn r10_run_finds_yml_and_json_tests_by_default_but_never_configs() {
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "0", "--models", "m"]);
    let p = Project::new();
    let yaml = format!(
        "execution:\n- concurrency: 1\n  iterations: 1\n  scenario: s\nscenarios:\n  s:\n    requests: ['{}/ping']\n",
        target.url()
    );
    let json = format!(
        r#"{{"execution": [{{"concurrency": 1, "iterations": 1, "scenario": "s"}}], "scenarios": {{"s": {{"requests": ["{}/ping"]}}}}}}"#,
        target.url()
    );
    p.file("t/a.yaml", &yaml);
    p.file("t/b.yml", &yaml);
    p.file("t/c.json", &json);
    p.file("t/d/d.yaml", &yaml);
    p.file("t/d/environments/big.yaml", "settings:\n  env:\n    X: 1\n");
    p.file("t/global_config.yaml", "settings:\n  env:\n    X: 0\n");
    p.file("other/global.yaml", "settings:\n  env:\n    X: 0\n");
    // With the default global config, and with another one named: `t/global_config.yaml` is no test.
    for args in [&["run", "-t", "t"][..], &["run", "-t", "t", "-g", "other/global.yaml"]] {
        let out = p.suite(args, Duration::from_secs(60));
        assert_eq!(out.code, 0, "{out}");
        let junit = out.junit();
        assert_eq!(junit.count("testsuite"), 4, "{junit}");
        for name in ["a", "b", "c", "d"] {
            assert_eq!(junit.suites_named(name), 1, "{name}: {junit}");
        }
        std::fs::remove_dir_all(p.path().join("reports")).unwrap();
    }
    // Reports written inside the test dir (`-t . -a reports`, or an older run's folder moved
    // there) are JSON, never tests: the second and third runs find the same four tests.
    let run = |artifacts: &str| {
        crate::util::run_suite(p.path(), &["run", "-t", "t"], &p.path().join(artifacts), Duration::from_secs(60), None)
    };
    for artifacts in ["t/reports", "t/reports", "elsewhere"] {
        let out = run(artifacts);
        assert_eq!(out.code, 0, "{out}");
        assert!(out.stdout.contains("4 test(s)"), "{artifacts}: {out}");
    }
    std::fs::rename(p.path().join("elsewhere"), p.path().join("t/old-runs")).unwrap();
    let out = run("t/reports");
    assert!(out.stdout.contains("4 test(s)"), "a run folder moved into the test dir: {out}");
}

#[test]
fn r10_sequential_executions_run_one_after_another() {
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "0", "--models", "m"]);
    let p = Project::new();
    let execution = |name: &str| format!("- concurrency: 2\n  throughput: 20\n  hold-for: 2s\n  scenario: {name}\n");
    let scenario =
        |name: &str| format!("  {name}:\n    requests: [{{url: '{}/echo/{name}', label: {name}}}]\n", target.url());
    let yaml = format!(
        "execution:\n{}{}scenarios:\n{}{}modules:\n  local:\n    sequential: true\nreporting:\n- module: passfail\n  criteria: ['hits of second<1']\n",
        execution("first"),
        execution("second"),
        scenario("first"),
        scenario("second"),
    );
    p.file("t/seq.yaml", &yaml);
    let out = p.suite(&["run", "-t", "t"], Duration::from_secs(60));
    assert_eq!(out.code, 0, "the criterion judges the second execution too: {out}");
    // The server saw every request of the first execution before any of the second.
    let (_, log) = target.request("GET", "/echo-log");
    let (last_first, first_second) = (log.rfind("/echo/first"), log.find("/echo/second"));
    assert!(last_first.is_some() && first_second.is_some(), "{log}");
    assert!(last_first < first_second, "the executions overlapped: {log}");
    // Each ran its own 2 s hold-for, one after the other.
    assert!(out.elapsed >= Duration::from_secs(4), "{:?}", out.elapsed);
    let junit = out.junit();
    assert_eq!(junit.count("failure"), 0, "{junit}");
}

/// A small tmpfs mounted for one test; unmounted on drop. `None` (the test is skipped, saying
/// so) when this process may not mount one (not root, or a container without the capability).
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped: cannot mount a tmpfs here (needs root); the portable test covers the same code");
            return None;
        }
        Some(SmallDisk { dir })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: unmounts even if a process still has a file open there.
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

#[test]
fn r10_a_full_disk_keeps_the_reports_already_written() {
    let Some(disk) = SmallDisk::mount("8m") else { return };
    let target = DemoTarget::start(&["--workers", "1", "--work-ms", "0", "--models", "m"]);
    let p = Project::new();
    let yaml = format!(
        "execution:\n- concurrency: 1\n  iterations: 3\n  scenario: s\nscenarios:\n  s:\n    requests: ['{}/ping']\n",
        target.url()
    );
    p.file("t/a.yaml", &yaml);
    // The second test fills the disk before it starts: everything written after that fails.
    let fill = "services:\n- module: shellexec\n  prepare:\n  - head -c 100M /dev/zero > ${TAURUS_ARTIFACTS_DIR}/../filler || true\n";
    p.file("t/b.yaml", &format!("{yaml}{fill}"));
    let artifacts = disk.dir.path().join("reports");
    let out = crate::util::run_suite(p.path(), &["run", "-t", "t"], &artifacts, Duration::from_secs(60), None);
    assert_eq!(out.code, 1, "{out}");
    let run = out.run_dir();
    let error = out.stderr.split("could not be written").nth(1).unwrap_or_else(|| panic!("{out}"));
    for file in ["junit.xml", "report.html", "summary.json", "b/final_stats.csv"] {
        assert!(error.contains(&format!("  {}: ", run.join(file).display())), "{file} is not named:\n{out}");
    }
    // What the first test left is whole: the run's reports as they were after it.
    let junit = out.junit();
    assert_eq!((junit.suites_named("a"), junit.suites_named("b")), (1, 0), "{junit}");
    crate::util::artifacts::summary(&run.join("summary.json"));
    assert!(std::fs::metadata(run.join("report.html")).unwrap().len() > 0);
    assert!(run.join("a/final_stats.csv").is_file());
}
