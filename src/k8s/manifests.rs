//! The Kubernetes objects of a distributed run, as JSON trees written out as YAML: the suite's
//! files (ConfigMap), the segments (an Indexed Job, one pod per segment), the merge (a Job whose
//! exit code is the verdict), the results volume (PVC) and the monitoring agent (DaemonSet).

use base64::Engine as _;
use serde_json::{json, Value};

use super::bundle::{self, Bundle};

/// The uid and gid of the image's user (the `Dockerfile`'s `suite` user); the results volume is
/// given to this group so the segments can write to it.
pub const USER_ID: u32 = 10001;

/// Where the suite's files are in a pod, and its working folder.
pub const SUITE_DIR: &str = "/suite";

/// Where the results volume is mounted.
pub const RESULTS_DIR: &str = "/results";

/// What the manifests describe.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Object name prefix and results folder name (a DNS-1123 label).
    pub name: String,
    /// Namespace of every object; none: kubectl's current one.
    pub namespace: Option<String>,
    /// The image holding `suite` and `monitoring-agent`.
    pub image: String,
    /// Segments, run side by side.
    pub parallelism: u32,
    /// `suite run`'s selection (`-t`, `-p`, …) as the pod passes it.
    pub selection: Vec<String>,
    /// The instant every segment starts its load (RFC 3339, UTC).
    pub start_at: String,
    /// How long the merge waits for the segments (`suite merge --wait`).
    pub merge_wait: String,
    /// Where the segments write.
    pub results: Results,
    /// CPU of each segment pod, as request and limit.
    pub cpu: Option<String>,
    /// Memory of each segment pod, as request and limit.
    pub memory: Option<String>,
    /// The monitoring agent's DaemonSet, if rendered.
    pub agent: Option<Agent>,
}

/// The volume the segments write their run folders to and the merge reads.
#[derive(Debug, Clone)]
pub enum Results {
    /// An existing ReadWriteMany claim.
    Claim(String),
    /// A claim rendered in `pvc.yaml`.
    Rendered { storage_class: Option<String>, size: String },
}

/// The monitoring agent's DaemonSet.
#[derive(Debug, Clone)]
pub struct Agent {
    /// Port it listens on, on each node's address.
    pub port: u16,
    /// Node labels the agent's nodes have (the model server's nodes).
    pub node_selector: Vec<(String, String)>,
    /// More `monitoring-agent` arguments (`--frontend-match REGEX`, …).
    pub args: Vec<String>,
}

/// One manifest file.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// Its file name in the output folder.
    pub file: &'static str,
    /// The object.
    pub object: Value,
}

impl Spec {
    /// The segments Job's name.
    pub fn segments_job(&self) -> String {
        format!("{}-segments", self.name)
    }

    /// The merge Job's name.
    pub fn merge_job(&self) -> String {
        format!("{}-merge", self.name)
    }

    fn configmap(&self) -> String {
        format!("{}-suite", self.name)
    }

    fn claim(&self) -> String {
        match &self.results {
            Results::Claim(name) => name.clone(),
            Results::Rendered { .. } => format!("{}-results", self.name),
        }
    }

    /// The results folder of this run on the volume: one per render (named by its start time),
    /// so a run rendered again under the same name never merges an earlier run's segments.
    fn results_dir(&self) -> String {
        let stamp: String = self.start_at.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        format!("{RESULTS_DIR}/{}/{stamp}", self.name)
    }

    /// `suite run` of the segment whose index the pod's `JOB_COMPLETION_INDEX` holds.
    pub fn segment_args(&self) -> Vec<String> {
        let mut args = vec!["run".to_string()];
        args.extend(self.selection.iter().map(|a| escape(a)));
        args.extend([
            "--segment".into(),
            format!("job/{}", self.parallelism),
            "--start-at".into(),
            self.start_at.clone(),
            "-a".into(),
            // Kubernetes replaces `$(NAME)` with the container's variable.
            format!("{}/segments/$(JOB_COMPLETION_INDEX)", self.results_dir()),
        ]);
        args
    }

    /// `suite merge` of the segments' run folders.
    pub fn merge_args(&self) -> Vec<String> {
        let dir = self.results_dir();
        vec![
            "merge".into(),
            "--wait".into(),
            escape(&self.merge_wait),
            "-a".into(),
            format!("{dir}/merged"),
            format!("{dir}/segments"),
        ]
    }

    fn metadata(&self, name: String, component: &str) -> Value {
        let mut meta = json!({ "name": name, "labels": self.labels(component) });
        if let Some(ns) = &self.namespace {
            meta["namespace"] = json!(ns);
        }
        meta
    }

    fn labels(&self, component: &str) -> Value {
        json!({
            "app.kubernetes.io/name": "suite",
            "app.kubernetes.io/instance": self.name,
            "app.kubernetes.io/component": component,
        })
    }

    fn results_volume(&self) -> Value {
        json!({ "name": "results", "persistentVolumeClaim": { "claimName": self.claim() } })
    }

    /// The pod's security context: the image's user, which owns the results volume.
    fn pod_security(&self) -> Value {
        json!({ "runAsNonRoot": true, "runAsUser": USER_ID, "runAsGroup": USER_ID, "fsGroup": USER_ID })
    }
}

/// Every manifest: the ConfigMap (unless the image holds the suite: `bundle` is `None`), the
/// PVC when rendered, the two Jobs and the agent's DaemonSet when wanted.
pub fn render(spec: &Spec, bundle: Option<&Bundle>) -> Vec<Manifest> {
    let mut out = Vec::new();
    if let Some(bundle) = bundle {
        out.push(Manifest { file: "configmap.yaml", object: configmap(spec, bundle) });
    }
    if let Results::Rendered { storage_class, size } = &spec.results {
        out.push(Manifest { file: "pvc.yaml", object: pvc(spec, storage_class.as_deref(), size) });
    }
    out.push(Manifest { file: "segments-job.yaml", object: segments_job(spec, bundle) });
    out.push(Manifest { file: "merge-job.yaml", object: merge_job(spec) });
    if let Some(agent) = &spec.agent {
        out.push(Manifest { file: "monitoring-agent-daemonset.yaml", object: daemonset(spec, agent) });
    }
    out
}

/// Every file of the bundle: text in `data`, anything else base64 in `binaryData`.
fn configmap(spec: &Spec, bundle: &Bundle) -> Value {
    let mut data = serde_json::Map::new();
    let mut binary = serde_json::Map::new();
    for file in &bundle.files {
        let key = bundle::key(&file.path);
        match std::str::from_utf8(&file.bytes) {
            Ok(text) if bundle::is_text(&file.bytes) => data.insert(key, json!(text)),
            _ => binary.insert(key, json!(base64::engine::general_purpose::STANDARD.encode(&file.bytes))),
        };
    }
    let mut object = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": spec.metadata(spec.configmap(), "suite-files"),
        "data": data,
    });
    if !binary.is_empty() {
        object["binaryData"] = Value::Object(binary);
    }
    object
}

fn pvc(spec: &Spec, storage_class: Option<&str>, size: &str) -> Value {
    let mut object = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": spec.metadata(spec.claim(), "results"),
        "spec": {
            "accessModes": ["ReadWriteMany"],
            "resources": { "requests": { "storage": size } },
        },
    });
    if let Some(class) = storage_class {
        object["spec"]["storageClassName"] = json!(class);
    }
    object
}

fn segments_job(spec: &Spec, bundle: Option<&Bundle>) -> Value {
    let mut mounts = vec![json!({ "name": "results", "mountPath": RESULTS_DIR })];
    let mut volumes = vec![spec.results_volume()];
    if let Some(bundle) = bundle {
        mounts.push(json!({ "name": "suite", "mountPath": SUITE_DIR, "readOnly": true }));
        let items: Vec<Value> =
            bundle.files.iter().map(|f| json!({ "key": bundle::key(&f.path), "path": f.path })).collect();
        volumes.push(json!({ "name": "suite", "configMap": { "name": spec.configmap(), "items": items } }));
    }
    let mut container = json!({
        "name": "suite",
        "image": spec.image,
        "command": ["suite"],
        "args": spec.segment_args(),
        "workingDir": SUITE_DIR,
        "env": [{
            "name": "JOB_COMPLETION_INDEX",
            "valueFrom": { "fieldRef": {
                "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"
            } },
        }],
        "volumeMounts": mounts,
    });
    let mut amounts = serde_json::Map::new();
    for (resource, amount) in [("cpu", &spec.cpu), ("memory", &spec.memory)] {
        if let Some(amount) = amount {
            amounts.insert(resource.into(), json!(amount));
        }
    }
    if !amounts.is_empty() {
        // Requests equal to limits: a load generator should not be throttled below what it asked.
        container["resources"] = json!({ "requests": amounts, "limits": amounts });
    }
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": spec.metadata(spec.segments_job(), "segment"),
        "spec": {
            "completionMode": "Indexed",
            "completions": spec.parallelism,
            "parallelism": spec.parallelism,
            "backoffLimit": 0,
            "template": {
                "metadata": { "labels": spec.labels("segment") },
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": spec.pod_security(),
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    })
}

fn merge_job(spec: &Spec) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": spec.metadata(spec.merge_job(), "merge"),
        "spec": {
            "completions": 1,
            "parallelism": 1,
            "backoffLimit": 0,
            "template": {
                "metadata": { "labels": spec.labels("merge") },
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": spec.pod_security(),
                    "containers": [{
                        "name": "merge",
                        "image": spec.image,
                        "command": ["suite"],
                        "args": spec.merge_args(),
                        "volumeMounts": [{ "name": "results", "mountPath": RESULTS_DIR }],
                    }],
                    "volumes": [spec.results_volume()],
                },
            },
        },
    })
}

/// The agent on each selected node: the host's processes (`hostPID`) and the node's address
/// (`hostNetwork`), so `server-agent` entries name `<node address>:<port>`.
fn daemonset(spec: &Spec, agent: &Agent) -> Value {
    let mut args = vec!["--bind".to_string(), format!("0.0.0.0:{}", agent.port)];
    args.extend(agent.args.iter().map(|a| escape(a)));
    let mut pod = json!({
        "hostPID": true,
        "hostNetwork": true,
        "dnsPolicy": "ClusterFirstWithHostNet",
        "containers": [{
            "name": "monitoring-agent",
            "image": spec.image,
            "command": ["monitoring-agent"],
            "args": args,
            "ports": [{ "name": "agent", "containerPort": agent.port, "hostPort": agent.port, "protocol": "TCP" }],
        }],
    });
    if !agent.node_selector.is_empty() {
        let selector: serde_json::Map<String, Value> =
            agent.node_selector.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        pod["nodeSelector"] = Value::Object(selector);
    }
    let labels = spec.labels("monitoring-agent");
    json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": spec.metadata(format!("{}-monitoring-agent", spec.name), "monitoring-agent"),
        "spec": {
            "selector": { "matchLabels": labels },
            "template": { "metadata": { "labels": labels }, "spec": pod },
        },
    })
}

/// An argument Kubernetes passes as written: it reads `$(NAME)` as a variable and `$$` as `$`.
fn escape(arg: &str) -> String {
    arg.replace('$', "$$")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            name: "suite".into(),
            namespace: Some("perf".into()),
            image: "registry/suite:1".into(),
            parallelism: 3,
            selection: vec!["-t".into(), "suites".into(), "-o".into(), "x=${HOME}".into()],
            start_at: "2026-12-05T14:40:00Z".into(),
            merge_wait: "1h".into(),
            results: Results::Rendered { storage_class: None, size: "1Gi".into() },
            cpu: Some("2".into()),
            memory: None,
            agent: Some(Agent { port: 9009, node_selector: vec![("role".into(), "model".into())], args: vec![] }),
        }
    }

    fn bundle() -> Bundle {
        Bundle {
            files: vec![
                bundle::File { path: "suites/a_criteria.yaml".into(), bytes: b"execution: []\n".to_vec() },
                bundle::File { path: "suites/img.bin".into(), bytes: vec![0, 159, 146, 150] },
            ],
            test_dir: "suites".into(),
            global_config: None,
        }
    }

    fn find<'a>(manifests: &'a [Manifest], file: &str) -> &'a Value {
        &manifests.iter().find(|m| m.file == file).unwrap_or_else(|| panic!("no {file}")).object
    }

    #[test]
    fn the_segments_job_is_indexed_one_pod_per_segment_never_retried() {
        let manifests = render(&spec(), Some(&bundle()));
        let job = find(&manifests, "segments-job.yaml");
        assert_eq!(job["kind"], "Job");
        assert_eq!(job["spec"]["completionMode"], "Indexed");
        assert_eq!(job["spec"]["completions"], 3);
        assert_eq!(job["spec"]["parallelism"], 3);
        assert_eq!(job["spec"]["backoffLimit"], 0);
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(pod["restartPolicy"], "Never");
        let container = &pod["containers"][0];
        let args: Vec<&str> = container["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        let has = |pair: [&str; 2]| args.windows(2).any(|w| w == pair);
        assert!(has(["--segment", "job/3"]), "{args:?}");
        assert!(has(["--start-at", "2026-12-05T14:40:00Z"]), "{args:?}");
        assert!(has(["-a", "/results/suite/20261205T144000Z/segments/$(JOB_COMPLETION_INDEX)"]), "{args:?}");
        // A `$` of the user's is kept from Kubernetes' expansion.
        assert!(has(["-o", "x=$${HOME}"]), "{args:?}");
        assert_eq!(args[0], "run");
        assert_eq!(
            container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        );
        assert_eq!(container["workingDir"], SUITE_DIR);
        assert_eq!(container["resources"]["limits"]["cpu"], "2");
        assert!(container["resources"]["limits"].get("memory").is_none());
        assert_eq!(job["metadata"]["namespace"], "perf");
        assert_eq!(job["metadata"]["labels"]["app.kubernetes.io/instance"], "suite");
    }

    #[test]
    fn the_configmap_restores_every_file_at_its_path() {
        let manifests = render(&spec(), Some(&bundle()));
        let map = find(&manifests, "configmap.yaml");
        assert_eq!(map["data"]["suites_2Fa_5Fcriteria.yaml"], "execution: []\n");
        assert_eq!(map["binaryData"]["suites_2Fimg.bin"], "AJ+Slg==");
        let job = find(&manifests, "segments-job.yaml");
        let volume = &job["spec"]["template"]["spec"]["volumes"][1]["configMap"];
        assert_eq!(volume["name"], "suite-suite");
        assert_eq!(
            volume["items"][0],
            json!({ "key": "suites_2Fa_5Fcriteria.yaml", "path": "suites/a_criteria.yaml" })
        );
    }

    #[test]
    fn the_merge_job_waits_then_merges_the_segments() {
        let manifests = render(&spec(), None);
        assert!(manifests.iter().all(|m| m.file != "configmap.yaml"));
        let job = find(&manifests, "merge-job.yaml");
        assert_eq!(job["spec"]["backoffLimit"], 0);
        assert_eq!(
            job["spec"]["template"]["spec"]["containers"][0]["args"],
            json!([
                "merge",
                "--wait",
                "1h",
                "-a",
                "/results/suite/20261205T144000Z/merged",
                "/results/suite/20261205T144000Z/segments"
            ])
        );
        assert_eq!(find(&manifests, "pvc.yaml")["spec"]["accessModes"], json!(["ReadWriteMany"]));
    }

    #[test]
    fn an_existing_claim_renders_no_pvc_and_the_agent_watches_the_host() {
        let mut spec = spec();
        spec.results = Results::Claim("shared-rwx".into());
        let manifests = render(&spec, Some(&bundle()));
        assert!(manifests.iter().all(|m| m.file != "pvc.yaml"));
        let job = find(&manifests, "merge-job.yaml");
        assert_eq!(job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"], "shared-rwx");
        let agent = find(&manifests, "monitoring-agent-daemonset.yaml");
        let pod = &agent["spec"]["template"]["spec"];
        assert_eq!(pod["hostPID"], true);
        assert_eq!(pod["nodeSelector"]["role"], "model");
        assert_eq!(pod["containers"][0]["ports"][0]["containerPort"], 9009);
        assert_eq!(agent["spec"]["selector"]["matchLabels"], agent["spec"]["template"]["metadata"]["labels"]);
    }
}
