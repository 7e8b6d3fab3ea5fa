//! Host metrics (Taurus local names, `system_*`, PerfMon aliases) against what the system reports independently:
//! `df` for filesystem usage, the test's own open connection for `conn-all`, `/proc/meminfo` for RAM.

mod common;

use std::time::Duration;

use common::Agent;

fn df_root_used_bytes() -> f64 {
    let out = std::process::Command::new("df").args(["-B1", "--output=used", "/"]).output().expect("df");
    String::from_utf8_lossy(&out.stdout).lines().nth(1).expect("df line").trim().parse().expect("bytes")
}

fn meminfo_used_percent() -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb = |key: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(key)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (kb("MemTotal:") - kb("MemAvailable:")) / kb("MemTotal:") * 100.0
}

#[test]
fn host_metrics_agree_with_the_system() {
    let agent = Agent::start(&[]);
    // Keeps one established connection (two sockets in /proc/net/tcp) while sampling.
    let mut held = agent.connect();
    held.send(b"test\n");
    assert_eq!(held.read_line(Duration::from_secs(5)).as_deref(), Some("Yep\n"));

    let names = [
        "system_disk_used",
        "disk-space",
        "mem",
        "system_memory_percent",
        "conn-all",
        "cpu",
        "system_read_bytes",
        "disk-read",
        "bytes-recv",
        "memory:usedperc",
        "tcp:estab",
    ];
    let v = agent.single(&names);
    let df = df_root_used_bytes();
    // Same formula as df and psutil (f_blocks - f_bfree); other processes may write in between.
    assert!((v[0] - df).abs() <= df * 0.01, "system_disk_used {} vs df {df}", v[0]);
    assert!(v[1] > 0.0 && v[1] <= 100.0, "disk-space {}", v[1]);
    assert!((v[2] - meminfo_used_percent()).abs() < 2.0, "mem {}", v[2]);
    assert_eq!(v[2], v[3], "mem and system_memory_percent are one figure");
    assert!(v[4] >= 2.0, "conn-all counts our connection: {}", v[4]);
    assert!((0.0..=100.0).contains(&v[5]), "cpu {}", v[5]);
    assert!(v[6] >= 0.0 && v[7] >= 0.0 && v[8] >= 0.0, "{v:?}");
    assert_eq!(v[9], v[2], "memory:usedperc is mem");
    assert_eq!(v[10], v[4], "tcp:estab is conn-all");
}
