//! The agent's process figures against `/proc` read by the test, on a real frontend with real worker children:
//! exact RSS/threads/fds at a quiet moment, CPU percent of a busy worker, aggregate consistency, worker and
//! frontend deaths, a restarted frontend found through its pid file, zombies, orphans and the selectors.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, kill9, proc, Agent, ServerTree, TreeOptions};

const WAIT: Duration = Duration::from_secs(15);

fn opts(idle: usize) -> TreeOptions {
    TreeOptions { idle, marker: common::unique("t"), ..TreeOptions::default() }
}

/// Waits until `total_workers` reads `n`.
fn wait_workers(agent: &Agent, n: f64) -> bool {
    eventually(WAIT, || (agent.single(&["total_workers"])[0] == n).then_some(())).is_some()
}

#[test]
fn figures_match_proc_exactly_at_a_quiet_moment() {
    let tree = ServerTree::start(&opts(3));
    let agent = Agent::start(&["--frontend-pid", &tree.pid.to_string()]);
    assert!(wait_workers(&agent, 3.0), "{:?}", agent.log());
    let names = [
        "frontend_memory_rss",
        "frontend_threads",
        "frontend_file_descriptors",
        "sum_workers_memory_rss",
        "sum_workers_threads",
        "sum_workers_file_descriptors",
        "total_workers",
        "total_processes",
        "orphans",
        "zombies",
    ];
    let from_proc = || {
        let w = &tree.workers;
        vec![
            proc::rss(tree.pid) as f64,
            proc::threads(tree.pid) as f64,
            proc::fds(tree.pid) as f64,
            w.iter().map(|p| proc::rss(*p)).sum::<u64>() as f64,
            w.iter().map(|p| proc::threads(*p)).sum::<u64>() as f64,
            w.iter().map(|p| proc::fds(*p)).sum::<u64>() as f64,
            3.0,
            4.0,
            0.0,
            0.0,
        ]
    };
    // Quiet moment: /proc reads the same before and after the agent's sample.
    let mut last = None;
    for _ in 0..5 {
        let before = from_proc();
        let got = agent.single(&names);
        let after = from_proc();
        if before == after {
            assert_eq!(got, before, "agent vs /proc for {names:?}");
            return;
        }
        last = Some((before, got, after));
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("no quiet moment in 5 tries: {last:?}");
}

#[test]
fn aggregates_are_consistent() {
    let tree = ServerTree::start(&opts(3));
    let agent = Agent::start(&["--frontend-pid", &tree.pid.to_string()]);
    assert!(wait_workers(&agent, 3.0));
    for pm in ["memory_rss", "memory_vms", "threads", "file_descriptors", "cpu_user_time", "memory_percent"] {
        let names: Vec<String> = ["frontend".to_string()]
            .into_iter()
            .chain(["sum", "avg", "min", "max"].iter().flat_map(|a| [format!("{a}_workers"), format!("{a}_all")]))
            .map(|prefix| format!("{prefix}_{pm}"))
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let v = agent.single(&refs);
        let (front, sum_w, sum_a, avg_w, avg_a, min_w, min_a, max_w, max_a) =
            (v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8]);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * a.abs().max(1.0);
        assert!(close(sum_a, sum_w + front), "{pm}: {v:?}");
        assert!(close(avg_w * 3.0, sum_w), "{pm}: {v:?}");
        assert!(close(avg_a * 4.0, sum_a), "{pm}: {v:?}");
        assert!(min_w <= avg_w && avg_w <= max_w, "{pm}: {v:?}");
        assert!(min_a <= avg_a && avg_a <= max_a, "{pm}: {v:?}");
        assert!(min_a <= min_w && max_a >= max_w, "{pm}: {v:?}");
    }
}

#[test]
fn busy_worker_cpu_percent_matches_proc_ticks() {
    let tree = ServerTree::start(&TreeOptions { idle: 1, busy: 1, ..opts(0) });
    let busy = tree.busy[0];
    let agent = Agent::start(&["--frontend-pid", &tree.pid.to_string()]);
    assert!(wait_workers(&agent, 2.0));
    let hz = proc::clk_tck() as f64;
    let mut c = agent.connect();
    c.send(b"test\ninterval:1\nmetrics:max_workers_cpu_percent\tmin_workers_cpu_percent\tfrontend_cpu_percent\n");
    assert_eq!(c.read_line(WAIT).as_deref(), Some("Yep\n"));
    // The agent samples just before it sends, so /proc read when each line arrives spans the same window.
    let mut prev = (proc::cpu_ticks(busy), Instant::now());
    for i in 0..4 {
        let line = c.read_line(WAIT).expect("a value line");
        let now = (proc::cpu_ticks(busy), Instant::now());
        let ours = (now.0 - prev.0) as f64 / hz / now.1.duration_since(prev.1).as_secs_f64() * 100.0;
        prev = now;
        let v = common::parse_line(&line, 3);
        // The first window started at the agent's priming sample, a little before our first /proc read.
        if i > 0 {
            assert!((v[0] - ours).abs() <= 10.0, "agent {} vs /proc {ours:.1}", v[0]);
            assert!(v[1] < 5.0 && v[2] < 5.0, "idle processes should be near 0: {v:?}");
        }
    }
}

#[test]
fn killed_worker_drops_counts_and_shows_as_a_zombie_until_reaped() {
    let tree = ServerTree::start(&opts(3));
    let agent = Agent::start(&["--frontend-pid", &tree.pid.to_string()]);
    assert!(wait_workers(&agent, 3.0));
    kill9(tree.workers[0]);
    // Python's Popen does not reap a child it was not asked to wait for, so the worker stays a zombie.
    let v = eventually(WAIT, || {
        let v = agent.single(&["total_workers", "total_processes", "zombies"]);
        (v[0] == 2.0).then_some(v)
    });
    assert_eq!(v, Some(vec![2.0, 3.0, 1.0]));
}

#[test]
fn frontend_killed_then_restarted_is_found_again_through_the_pid_file() {
    let pid_file = std::env::temp_dir().join(common::unique("model_server.pid"));
    let first = ServerTree::start(&opts(2));
    std::fs::write(&pid_file, format!("{}\n", first.pid)).unwrap();
    let agent = Agent::start(&["--frontend-pid-file", pid_file.to_str().unwrap(), "--rescan", "1"]);
    assert!(wait_workers(&agent, 2.0));
    assert_eq!(agent.single(&["total_processes"]), vec![3.0]);

    let mut first = first;
    first.kill_frontend();
    let gone = eventually(WAIT, || {
        let v = agent.single(&["total_processes", "total_workers", "frontend_memory_rss", "sum_all_threads"]);
        (v == [0.0; 4]).then_some(())
    });
    assert!(gone.is_some(), "frontend absent → 0 processes");
    // Still serving.
    let mut c = agent.connect();
    c.send(b"test\n");
    assert_eq!(c.read_line(WAIT).as_deref(), Some("Yep\n"));

    let second = ServerTree::start(&opts(1));
    std::fs::write(&pid_file, format!("{}\n", second.pid)).unwrap();
    assert!(wait_workers(&agent, 1.0), "restarted frontend found again");
    assert_eq!(agent.single(&["total_processes", "frontend_threads"]), vec![2.0, proc::threads(second.pid) as f64]);
    drop(first);
    let _ = std::fs::remove_file(&pid_file);
}

#[test]
fn zombies_are_counted_apart_and_not_as_workers() {
    let tree = ServerTree::start(&TreeOptions { zombie: true, ..opts(2) });
    let agent = Agent::start(&["--frontend-pid", &tree.pid.to_string()]);
    assert!(wait_workers(&agent, 2.0));
    assert_eq!(agent.single(&["zombies", "total_processes"]), vec![1.0, 3.0]);
}

#[test]
fn orphans_keep_counting_while_alive() {
    let tree = ServerTree::start(&TreeOptions { orphan: true, ..opts(1) });
    let orphan = tree.orphan.expect("orphan pid");
    let agent = Agent::start(&["--frontend-pid", &tree.pid.to_string(), "--rescan", "0.5"]);
    // While sh lives: python worker + sh + sleep. After sh exits (2 s) its sleep is re-parented.
    let v = eventually(WAIT, || {
        let v = agent.single(&["orphans", "total_workers"]);
        (v[0] == 1.0).then_some(v)
    });
    assert_eq!(v, Some(vec![1.0, 2.0]), "{:?}", agent.log());
    kill9(orphan);
    assert!(eventually(WAIT, || (agent.single(&["orphans", "total_workers"]) == [0.0, 1.0]).then_some(())).is_some());
}

#[test]
fn worker_match_filters_descendants_by_command_line() {
    let tree = ServerTree::start(&TreeOptions { extra: true, ..opts(2) });
    let agent = Agent::start(&["--frontend-pid", &tree.pid.to_string(), "--worker-match", "model_service_worker"]);
    assert!(wait_workers(&agent, 2.0));
    let expected = tree.workers.iter().map(|p| proc::threads(*p)).sum::<u64>() as f64;
    assert_eq!(agent.single(&["total_processes", "sum_workers_threads"]), vec![3.0, expected]);
    let unfiltered = Agent::start(&["--frontend-pid", &tree.pid.to_string()]);
    assert!(wait_workers(&unfiltered, 3.0), "the extra `sleep` counts without a filter");
}

#[test]
fn frontend_match_picks_the_oldest_and_never_the_agent() {
    let marker = common::unique("match");
    let older = ServerTree::start(&TreeOptions { idle: 1, marker: marker.clone(), ..TreeOptions::default() });
    std::thread::sleep(Duration::from_millis(1100));
    let newer = ServerTree::start(&TreeOptions { idle: 2, marker: marker.clone(), ..TreeOptions::default() });
    // The agent's own command line contains the pattern too.
    let agent = Agent::start(&["--frontend-match", &format!("frontend-{marker}")]);
    assert!(wait_workers(&agent, 1.0), "the older frontend (1 worker) wins");
    drop(older);
    assert!(wait_workers(&agent, 2.0), "then the newer one is found");
    drop(newer);
    assert!(wait_workers(&agent, 0.0));
}

/// With no frontend option the agent does what MMS's plugin did: the pid in `$TMPDIR/.model_server.pid` (written
/// here by the fake frontend through Python's `tempfile.gettempdir()`, as the launchers do), workers being the
/// descendants running `model_service_worker.py` (the extra `sleep` child is not one).
#[test]
fn no_frontend_option_follows_the_mms_pid_file_and_worker_command_line() {
    let tmpdir = std::env::temp_dir().join(common::unique("mms-tmpdir"));
    std::fs::create_dir(&tmpdir).unwrap();
    let env = [("TMPDIR", tmpdir.as_path())];
    // Before the server starts: the file is missing, warned once, processes are 0.
    let agent = Agent::start_with_env(&["--rescan", "0.5"], &env);
    assert_eq!(agent.single(&["total_processes", "total_workers"]), vec![0.0, 0.0]);
    assert!(agent.wait_log(".model_server.pid", WAIT), "{:?}", agent.log());

    let tree = ServerTree::start(&TreeOptions { extra: true, tmpdir: Some(tmpdir.clone()), ..opts(2) });
    let written = std::fs::read_to_string(tmpdir.join(".model_server.pid")).unwrap();
    assert_eq!(written.trim(), tree.pid.to_string());
    assert!(wait_workers(&agent, 2.0), "{:?}", agent.log());
    let expected = tree.workers.iter().map(|p| proc::threads(*p)).sum::<u64>() as f64;
    assert_eq!(
        agent.single(&["total_workers", "total_processes", "sum_workers_threads", "frontend_threads"]),
        vec![2.0, 3.0, expected, proc::threads(tree.pid) as f64]
    );
    let warnings = agent.log().iter().filter(|l| l.contains(".model_server.pid")).count();
    assert_eq!(warnings, 1, "the missing file is warned once: {:?}", agent.log());

    // A fresh agent started after the server finds it at once; --worker-match still overrides the default.
    let all = Agent::start_with_env(&["--worker-match", "."], &env);
    assert!(wait_workers(&all, 3.0), "the extra `sleep` counts with --worker-match .");
    drop(tree);
    let _ = std::fs::remove_dir_all(&tmpdir);
}
