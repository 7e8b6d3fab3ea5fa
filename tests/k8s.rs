//! `suite k8s render`: the real binary renders a small suite; every manifest passes
//! `kubernetes-validate` (strict, offline schemas), and the ConfigMap, written back through the
//! Job's volume items, is the test dir byte for byte, which `suite validate` accepts.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;

use crate::util::{run_suite, tool, Output, Project};

const LIMIT: Duration = Duration::from_secs(60);

/// The Kubernetes version whose schemas `kubernetes-validate` (pinned in scripts/test-tools.sh)
/// checks against: the newest it bundles.
const KUBERNETES: &str = "1.37.0";

/// A suite whose scenario names a data file and a binary body below the test dir, beside a
/// CRLF text file and a global config outside it.
fn project() -> Project {
    let p = Project::new();
    p.file(
        "t/s_criteria.yaml",
        "execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    data-sources: [data/rows_1.csv]\n    requests:\n    - url: http://127.0.0.1:9/\n      method: POST\n      body-file: blob.bin\nreporting:\n- module: passfail\n  criteria: ['avg-rt>10s']\n",
    );
    p.file("t/data/rows_1.csv", "id,name\n1,données\n2,'yes'\n");
    p.file("t/notes.txt", "line one\r\nline two\r\n");
    p.file("t/environments/big.yaml", "scenarios:\n  s:\n    timeout: 5s\n");
    p.file("global_config.yaml", "settings:\n  env:\n    A: 'on'\n");
    std::fs::write(p.path().join("t/blob.bin"), (0..=255u8).collect::<Vec<u8>>()).unwrap();
    p
}

fn render(p: &Project, extra: &[&str]) -> Output {
    let mut args = vec!["k8s", "render", "--parallelism", "3", "-t", "t", "-p", "*criteria*.yaml", "--start-in", "90s"];
    args.extend_from_slice(extra);
    run_suite(p.path(), &args, &p.path().join("reports"), LIMIT, None)
}

fn yaml(path: &Path) -> serde_yaml::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

/// Every regular file below `dir`, by its path relative to it.
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Seconds since the Unix epoch of an RFC 3339 time.
fn unix_of(text: &str) -> u64 {
    suite::report::run_id::parse_rfc3339(text).unwrap_or_else(|| panic!("not RFC 3339: {text}")) as u64
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn rendered_configmap_restores_the_suite_byte_for_byte_and_it_validates() {
    let p = project();
    let before = now();
    let out = render(&p, &["--name", "it-run", "--results-claim", "shared-rwx"]);
    let after = now();
    assert_eq!(out.code, 0, "{out}");
    let k8s = p.path().join("k8s");
    for file in ["configmap.yaml", "segments-job.yaml", "merge-job.yaml", "monitoring-agent-daemonset.yaml"] {
        assert!(out.stdout.contains(&format!("wrote k8s/{file}")), "{out}");
    }
    assert!(!k8s.join("pvc.yaml").exists(), "an existing claim renders no PVC");
    assert!(out.stdout.contains("kubectl apply --server-side -f k8s"), "{out}");
    assert!(out.stdout.contains("job/it-run-merge"), "{out}");

    let job = yaml(&k8s.join("segments-job.yaml"));
    let args: Vec<&str> = job["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let at = args.iter().position(|a| *a == "--start-at").expect("--start-at");
    let start = unix_of(args[at + 1]);
    assert!((before + 90..=after + 91).contains(&start), "{} is not render time + 90s", args[at + 1]);
    assert_eq!(&args[..5], ["run", "-t", "t", "-p", "*criteria*.yaml"], "{args:?}");

    // Write every item back as the kubelet would, then compare with the project's files.
    let map = yaml(&k8s.join("configmap.yaml"));
    let items = job["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find_map(|v| v["configMap"]["items"].as_sequence())
        .expect("the ConfigMap volume");
    let restored = tempfile::tempdir().unwrap();
    for item in items {
        let (key, path) = (item["key"].as_str().unwrap(), item["path"].as_str().unwrap());
        let bytes = match (&map["data"][key], &map["binaryData"][key]) {
            (serde_yaml::Value::String(text), _) => text.clone().into_bytes(),
            (_, serde_yaml::Value::String(b64)) => base64::engine::general_purpose::STANDARD.decode(b64).unwrap(),
            _ => panic!("no data for {key}"),
        };
        let dest = restored.path().join(path);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::write(dest, bytes).unwrap();
    }
    let mut expected = tree(&p.path().join("t"));
    expected = expected.into_iter().map(|(k, v)| (format!("t/{k}"), v)).collect();
    expected.insert("global_config.yaml".into(), std::fs::read(p.path().join("global_config.yaml")).unwrap());
    let got = tree(restored.path());
    assert_eq!(got.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    assert!(got == expected, "a restored file differs from its original");
    assert!(map["binaryData"]["t_2Fblob.bin"].is_string(), "binary files go to binaryData");
    assert!(map["binaryData"]["t_2Fnotes.txt"].is_string(), "CRLF text goes to binaryData, unchanged");

    // The pod's working folder holds the restored tree: the suite is valid there.
    let out = run_suite(restored.path(), &["validate", "-q", "t/s_criteria.yaml"], restored.path(), LIMIT, None);
    assert_eq!(out.code, 0, "{out}");
    let out =
        run_suite(restored.path(), &["validate", "-q", "-e", "big", "t/s_criteria.yaml"], restored.path(), LIMIT, None);
    assert_eq!(out.code, 0, "{out}");
}

#[test]
fn every_rendered_manifest_passes_kubernetes_validate() {
    let Some(validator) = tool("kubernetes-validate") else { return };
    let p = project();
    let out = render(
        &p,
        &[
            "--namespace",
            "perf",
            "--cpu",
            "2",
            "--memory",
            "2Gi",
            "--storage-class",
            "nfs-client",
            "--agent-node-selector",
            "role=model-server",
            "--agent-arg=--frontend-match",
            "--agent-arg=torchserve",
            "-o",
            "settings.env.X=$(HOME)",
        ],
    );
    assert_eq!(out.code, 0, "{out}");
    let files: Vec<_> = std::fs::read_dir(p.path().join("k8s")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 5, "{files:?}");
    for file in &files {
        let check = std::process::Command::new(&validator)
            .args(["-k", KUBERNETES, "--strict", "--no-warn"])
            .arg(file)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&check.stdout).into_owned() + &String::from_utf8_lossy(&check.stderr);
        assert!(check.status.success(), "{}: {text}", file.display());
        assert!(text.contains("passed"), "{}: {text}", file.display());
    }
    // The validator does refuse what Kubernetes would: a field the schema lacks.
    let job = std::fs::read_to_string(p.path().join("k8s/merge-job.yaml")).unwrap();
    let broken = p.path().join("broken.yaml");
    std::fs::write(&broken, job.replace("backoffLimit: 0", "backoffLimits: 0")).unwrap();
    let check =
        std::process::Command::new(&validator).args(["-k", KUBERNETES, "--strict"]).arg(&broken).output().unwrap();
    assert!(!check.status.success(), "kubernetes-validate accepted an unknown field");
}

#[test]
fn a_bad_name_or_a_suite_over_one_mib_is_an_error_before_any_file() {
    let p = project();
    let out = render(&p, &["--name", "Load_Test"]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("`Load_Test` is not a valid --name"), "{out}");
    assert!(!p.path().join("k8s").exists(), "nothing is written on an error");

    std::fs::write(p.path().join("t/data/huge.csv"), vec![b'x'; 1100 * 1024]).unwrap();
    let out = render(&p, &[]);
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("more than the 1 MiB a ConfigMap holds"), "{out}");
    assert!(out.stderr.contains("`t/data/huge.csv` (1100 KiB)"), "{out}");
    // Baked into the image, the same suite renders without a ConfigMap.
    let out = render(&p, &["--suite-in-image"]);
    assert_eq!(out.code, 0, "{out}");
    assert!(!p.path().join("k8s/configmap.yaml").exists());
    let job = yaml(&p.path().join("k8s/segments-job.yaml"));
    assert_eq!(job["spec"]["template"]["spec"]["volumes"].as_sequence().unwrap().len(), 1, "only the results volume");
}

/// The container's `args` of the first container of a rendered Job.
fn job_args(path: &Path) -> Vec<String> {
    let job = yaml(path);
    let args = job["spec"]["template"]["spec"]["containers"][0]["args"].as_sequence().unwrap();
    args.iter().map(|a| a.as_str().unwrap().to_string()).collect()
}

/// What the kubelet would run: `$(JOB_COMPLETION_INDEX)` expanded, `$$` unescaped, and the
/// results volume's mount at `results`.
fn as_kubelet_runs(args: &[String], index: Option<usize>, results: &Path) -> Vec<String> {
    args.iter()
        .map(|a| {
            let a = match index {
                Some(i) => a.replace("$(JOB_COMPLETION_INDEX)", &i.to_string()),
                None => a.clone(),
            };
            a.replace("$$", "$").replace("/results", &results.display().to_string())
        })
        .collect()
}

#[test]
fn the_rendered_segment_and_merge_commands_split_a_run_and_merge_it() {
    let demo = crate::util::DemoTarget::start(&["--workers", "1"]);
    let p = Project::new();
    p.file(
        "t/load_criteria.yaml",
        &format!(
            "execution:\n- concurrency: 6\n  iterations: 5\n  scenario: s\nscenarios:\n  s:\n    requests:\n    - url: {}/ping\n      label: ping\nreporting:\n- module: passfail\n  criteria: ['fail of ping>0%']\n",
            demo.url()
        ),
    );
    let args = [
        "k8s",
        "render",
        "--parallelism",
        "3",
        "-t",
        "t",
        "-p",
        "*criteria*.yaml",
        "--start-in",
        "3s",
        "--name",
        "e2e",
    ];
    let out = run_suite(p.path(), &args, &p.path().join("reports"), LIMIT, None);
    assert_eq!(out.code, 0, "{out}");
    let results = p.path().join("results");
    let segment_args = job_args(&p.path().join("k8s/segments-job.yaml"));
    // The three pods of the Indexed Job, each with its JOB_COMPLETION_INDEX.
    let segments: Vec<Output> = std::thread::scope(|s| {
        let pods: Vec<_> = (0..3)
            .map(|i| {
                let (p, results, segment_args) = (&p, &results, &segment_args);
                s.spawn(move || {
                    let args = as_kubelet_runs(segment_args, Some(i), results);
                    let mut cmd = std::process::Command::new(crate::util::bin("suite"));
                    cmd.current_dir(p.path()).args(&args).env("JOB_COMPLETION_INDEX", i.to_string());
                    let done = cmd.output().unwrap();
                    Output {
                        code: done.status.code().unwrap_or(-1),
                        stdout: String::from_utf8_lossy(&done.stdout).into_owned(),
                        stderr: String::from_utf8_lossy(&done.stderr).into_owned(),
                        elapsed: Duration::ZERO,
                        artifacts: results.clone(),
                    }
                })
            })
            .collect();
        pods.into_iter().map(|pod| pod.join().unwrap()).collect()
    });
    for (i, out) in segments.iter().enumerate() {
        assert_eq!(out.code, 0, "pod {i}: {out}");
        assert!(out.stdout.contains(&format!("segment {}/3", i + 1)), "pod {i}: {out}");
    }
    // The merge Job's command, once they are done: one verdict over the 30 requests.
    let merge_args = as_kubelet_runs(&job_args(&p.path().join("k8s/merge-job.yaml")), None, &results);
    let merged = run_suite(p.path(), &merge_args.iter().map(String::as_str).collect::<Vec<_>>(), &results, LIMIT, None);
    assert_eq!(merged.code, 0, "{merged}");
    // One folder per render, named by its start: `/results/<name>/<start>/merged`.
    let at = segment_args.iter().position(|a| a == "--start-at").unwrap();
    let stamp: String = segment_args[at + 1].chars().filter(char::is_ascii_alphanumeric).collect();
    let merged = Output { artifacts: results.join(format!("e2e/{stamp}/merged")), ..merged };
    let stats = crate::util::artifacts::final_stats_by_label(&merged.run_dir().join("load_criteria/final_stats.csv"));
    assert_eq!(crate::util::artifacts::stat(&stats, "ping", "throughput"), 30, "6 users × 5 iterations");
    assert!(merged.junit().case("fail of ping>0%").is_some_and(|c| !c.failed));
}
