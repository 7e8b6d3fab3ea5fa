//! `suite k8s render`: Kubernetes manifests that run a suite as N segments side by side (one pod
//! each, an Indexed Job) starting their load at one instant, and a merge Job that judges the
//! merged results, its exit code the verdict. Nothing here talks to a cluster: it writes YAML.
//!
//! `bundle` gathers the suite's files for a ConfigMap, `manifests` builds the objects; this
//! file checks the arguments, writes the files and says how to apply them.

pub mod bundle;
pub mod manifests;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::cli::K8sRenderArgs;
use crate::config::duration::parse_secs;
use crate::outcome::Outcome;
use manifests::{Agent, Results, Spec};

/// Why the manifests could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name Kubernetes would refuse.
    #[error("`{value}` is not a valid {what}: {why}")]
    BadName { what: &'static str, value: String, why: String },
    /// A resource amount Kubernetes would refuse.
    #[error("`{value}` is not a Kubernetes quantity for {what} (e.g. `500m`, `2`, `4Gi`)")]
    BadQuantity { what: &'static str, value: String },
    /// A duration that is not one.
    #[error("{what}: {why}")]
    BadDuration { what: &'static str, why: String },
    /// A node selector that is not `key=value`.
    #[error("--agent-node-selector `{0}`: expected `key=value` (e.g. `role=model-server`)")]
    BadSelector(String),
    /// No test dir.
    #[error("the test dir `{}` is not a folder", .0.display())]
    NoTestDir(PathBuf),
    /// A file that could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A file that could not be read whole.
    #[error("cannot read `{}`: {reason}", path.display())]
    Unreadable { path: PathBuf, reason: String },
    /// The global config lands where a test-dir file already is.
    #[error("the global config would be `{0}` in the pod, where a file of the test dir already is: rename one")]
    Clash(String),
    /// A path too long for a ConfigMap key.
    #[error("`{0}`: the path is too long for a ConfigMap key (at most 253 characters once encoded)")]
    LongPath(String),
    /// More than a ConfigMap holds.
    #[error("{}", too_big(*total, biggest))]
    TooBig { total: usize, biggest: Vec<(String, usize)> },
}

fn too_big(total: usize, biggest: &[(String, usize)]) -> String {
    let kib = |n: usize| n.div_ceil(1024);
    let list: Vec<String> = biggest.iter().map(|(p, n)| format!("`{p}` ({} KiB)", kib(*n))).collect();
    format!(
        "the suite's files take {} KiB, more than the 1 MiB a ConfigMap holds; the biggest: {}. \
         Bake the suite into the image instead (`COPY` it below /suite, at the paths it has here) \
         and render with --suite-in-image, or leave big files out of the test dir",
        kib(total),
        list.join(", ")
    )
}

/// The longest `--name`: the longest object name, `<name>-monitoring-agent`, and the segment
/// pods' host names, `<name>-segments-<index>`, must stay within a DNS label's 63 characters.
const NAME_LIMIT: usize = 40;

/// `suite k8s render`: writes the manifests and prints how to apply them.
pub fn render(args: K8sRenderArgs) -> Outcome {
    match render_files(&args) {
        Ok(()) => Outcome::Passed,
        Err(e) => {
            crate::errln!("error: {e:#}");
            Outcome::Error
        }
    }
}

fn render_files(args: &K8sRenderArgs) -> anyhow::Result<()> {
    let start_in = duration("--start-in", &args.start_in)?;
    let mut spec = spec(args)?;
    let bundle = match args.suite_in_image {
        true => None,
        false => Some(bundle::collect(&args.selection.test_dir, args.selection.global_config.as_deref(), &args.out)?),
    };
    spec.selection = selection(args, bundle.as_ref());
    let start = crate::report::run_id::unix_now() + start_in.ceil() as u64;
    spec.start_at = crate::report::run_id::rfc3339(start);
    let manifests = manifests::render(&spec, bundle.as_ref());
    std::fs::create_dir_all(&args.out).with_context(|| format!("cannot create `{}`", args.out.display()))?;
    // A file of an earlier render that this one does not write would still be applied.
    for stale in ["configmap.yaml", "pvc.yaml", "monitoring-agent-daemonset.yaml"] {
        let path = args.out.join(stale);
        if path.is_file() && manifests.iter().all(|m| m.file != stale) {
            std::fs::remove_file(&path).with_context(|| format!("cannot remove `{}`", path.display()))?;
        }
    }
    for manifest in manifests {
        let path = args.out.join(manifest.file);
        let text = crate::config::emit::json_to_yaml(manifest.object);
        std::fs::write(&path, text).with_context(|| format!("cannot write `{}`", path.display()))?;
        crate::outln!("wrote {}", path.display());
    }
    let ns = spec.namespace.as_ref().map(|n| format!(" -n {n}")).unwrap_or_default();
    crate::outln!(
        "\n{} segment(s) start their load at {} (in {}): apply within that delay.",
        spec.parallelism,
        spec.start_at,
        args.start_in
    );
    crate::outln!("  kubectl apply{ns} --server-side -f {}", args.out.display());
    crate::outln!("  kubectl logs{ns} -f --pod-running-timeout=5m job/{}", spec.merge_job());
    Ok(())
}

/// The manifests' description from the arguments (the selection and start time set later).
fn spec(args: &K8sRenderArgs) -> Result<Spec, Error> {
    label("--name", &args.name, NAME_LIMIT)?;
    if let Some(ns) = &args.namespace {
        label("--namespace", ns, 63)?;
    }
    if args.image.is_empty() || args.image.chars().any(char::is_whitespace) {
        return Err(Error::BadName {
            what: "--image",
            value: args.image.clone(),
            why: "an image reference has no spaces".into(),
        });
    }
    duration("--merge-timeout", &args.merge_timeout)?;
    let results = match &args.results_claim {
        Some(claim) => {
            subdomain("--results-claim", claim)?;
            Results::Claim(claim.clone())
        }
        None => {
            quantity("--storage-size", &args.storage_size)?;
            if let Some(class) = &args.storage_class {
                subdomain("--storage-class", class)?;
            }
            Results::Rendered { storage_class: args.storage_class.clone(), size: args.storage_size.clone() }
        }
    };
    for (what, value) in [("--cpu", &args.cpu), ("--memory", &args.memory)] {
        if let Some(value) = value {
            quantity(what, value)?;
        }
    }
    let agent = match args.no_agent {
        true => None,
        false => {
            let node_selector = args
                .agent_node_selector
                .iter()
                .map(|pair| match pair.split_once('=') {
                    Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
                    _ => Err(Error::BadSelector(pair.clone())),
                })
                .collect::<Result<_, _>>()?;
            Some(Agent { port: args.agent_port, node_selector, args: args.agent_args.clone() })
        }
    };
    Ok(Spec {
        name: args.name.clone(),
        namespace: args.namespace.clone(),
        image: args.image.clone(),
        parallelism: args.parallelism,
        selection: Vec::new(),
        start_at: String::new(),
        merge_wait: args.merge_timeout.trim().to_string(),
        results,
        cpu: args.cpu.clone(),
        memory: args.memory.clone(),
        agent,
    })
}

/// `suite run`'s selection as the pod passes it: the test dir and global config at their paths
/// in the pod (as given, when the suite is baked into the image).
fn selection(args: &K8sRenderArgs, bundle: Option<&bundle::Bundle>) -> Vec<String> {
    let shown = |p: &Path| p.to_string_lossy().into_owned();
    let test_dir = bundle.map_or_else(|| shown(&args.selection.test_dir), |b| b.test_dir.clone());
    let mut out = vec!["-t".to_string(), test_dir, "-p".into(), args.selection.pattern.clone()];
    if let Some(x) = &args.selection.exclude_pattern {
        out.extend(["-x".into(), x.clone()]);
    }
    let global = match bundle {
        Some(b) => b.global_config.clone(),
        None => args.selection.global_config.as_deref().map(shown),
    };
    if let Some(g) = global {
        out.extend(["-g".into(), g]);
    }
    if let Some(e) = &args.selection.env_name {
        out.extend(["-e".into(), e.clone()]);
    }
    for o in &args.selection.overrides {
        out.extend(["-o".into(), o.clone()]);
    }
    out
}

/// Checks a DNS-1123 label (object names, namespaces) of at most `limit` characters.
fn label(what: &'static str, value: &str, limit: usize) -> Result<(), Error> {
    let bad = |why: String| Err(Error::BadName { what, value: value.to_string(), why });
    if value.is_empty() || value.len() > limit {
        return bad(format!("it must have 1 to {limit} characters"));
    }
    let ok_chars = value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok_chars || value.starts_with('-') || value.ends_with('-') {
        return bad("a DNS-1123 label has only lower-case letters, digits and `-`, and starts and ends with a letter or digit (e.g. `llm-perf`)".into());
    }
    Ok(())
}

/// Checks a DNS-1123 subdomain (claim and storage class names): labels joined by `.`.
fn subdomain(what: &'static str, value: &str) -> Result<(), Error> {
    if value.len() > 253 {
        return Err(Error::BadName {
            what,
            value: value.to_string(),
            why: "it must have at most 253 characters".into(),
        });
    }
    value.split('.').try_for_each(|part| label(what, part, 63)).map_err(|_| Error::BadName {
        what,
        value: value.to_string(),
        why: "a DNS-1123 name has lower-case letters, digits, `-` and `.`".into(),
    })
}

/// Checks a Kubernetes quantity: a decimal number with an optional suffix.
fn quantity(what: &'static str, value: &str) -> Result<(), Error> {
    const SUFFIXES: [&str; 13] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "m", "k", "M", "G", "T", "P", "E"];
    let number = SUFFIXES.iter().find_map(|s| value.strip_suffix(s)).unwrap_or(value);
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    match !(whole.is_empty() && frac.is_empty()) && digits(whole) && digits(frac) {
        true => Ok(()),
        false => Err(Error::BadQuantity { what, value: value.to_string() }),
    }
}

/// A finite duration in seconds (Taurus's syntax: `90s`, `1m30s`, `1h`).
fn duration(what: &'static str, value: &str) -> Result<f64, Error> {
    let secs = parse_secs(value).map_err(|e| Error::BadDuration { what, why: e.to_string() })?;
    match secs.is_finite() && secs >= 0.0 {
        true => Ok(secs),
        false => Err(Error::BadDuration { what, why: format!("`{value}`: a finite, positive time is needed") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<K8sRenderArgs, clap::Error> {
        use clap::Parser;
        let all = ["suite", "k8s", "render"].iter().chain(args);
        match crate::cli::Cli::try_parse_from(all)?.command {
            crate::cli::Command::K8s(crate::cli::K8sCommand::Render(args)) => Ok(*args),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_command_line_gives_the_pods_the_selection_of_suite_run() {
        use clap::CommandFactory;
        crate::cli::Cli::command().debug_assert();
        assert!(parse(&[]).is_err(), "--parallelism is required");
        assert!(parse(&["--parallelism", "0"]).is_err());
        assert!(parse(&["--parallelism", "1001"]).is_err());
        let args = parse(&[
            "--parallelism",
            "3",
            "-t",
            "suites",
            "-x",
            "slow*",
            "-e",
            "xl",
            "-o",
            "a=1",
            "-o",
            "b=2",
            "--agent-arg=--frontend-match",
            "--agent-arg",
            "torchserve",
        ])
        .unwrap();
        assert_eq!(args.agent_args, ["--frontend-match", "torchserve"]);
        let bundle = bundle::Bundle { files: vec![], test_dir: "suites".into(), global_config: Some("g.yaml".into()) };
        assert_eq!(
            selection(&args, Some(&bundle)),
            [
                "-t",
                "suites",
                "-p",
                crate::cli::DEFAULT_PATTERN,
                "-x",
                "slow*",
                "-g",
                "g.yaml",
                "-e",
                "xl",
                "-o",
                "a=1",
                "-o",
                "b=2"
            ]
        );
        let spec = spec(&args).unwrap();
        assert_eq!((spec.name.as_str(), spec.merge_wait.as_str(), spec.parallelism), ("suite", "1h", 3));
        assert!(matches!(spec.results, Results::Rendered { ref size, .. } if size == "1Gi"));
    }

    #[test]
    fn names_must_be_dns_labels() {
        assert!(label("--name", "llm-perf-2", NAME_LIMIT).is_ok());
        for bad in ["Suite", "suite_1", "-suite", "suite-", "", "a.b"] {
            let err = label("--name", bad, NAME_LIMIT).unwrap_err().to_string();
            assert!(err.contains("not a valid --name"), "{bad}: {err}");
        }
        let err = label("--name", "Perf", NAME_LIMIT).unwrap_err().to_string();
        assert!(err.contains("DNS-1123 label") && err.contains("`Perf`"), "{err}");
        let long = "a".repeat(NAME_LIMIT + 1);
        assert!(label("--name", &long, NAME_LIMIT).unwrap_err().to_string().contains("1 to 40 characters"));
        assert!(subdomain("--results-claim", "rwx.claims-1").is_ok());
        assert!(subdomain("--results-claim", "RWX").is_err());
    }

    #[test]
    fn quantities_and_durations_are_checked() {
        for ok in ["500m", "2", "1.5", "4Gi", "1Gi", "100M", "0.5"] {
            assert!(quantity("--cpu", ok).is_ok(), "{ok}");
        }
        for bad in ["", "Gi", "2 cores", "1.2.3", "-1", "4GB"] {
            assert!(quantity("--memory", bad).is_err(), "{bad}");
        }
        assert_eq!(duration("--start-in", "1m30s").unwrap(), 90.0);
        assert!(duration("--start-in", "inf").is_err());
        assert!(duration("--merge-timeout", "soon").unwrap_err().to_string().starts_with("--merge-timeout: `soon`"));
    }
}
