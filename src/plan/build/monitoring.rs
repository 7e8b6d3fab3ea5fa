//! Monitoring services (`local`, `server-agent`, MMS's `ServerLocalClient`) and the criteria
//! that judge their metrics.

use std::path::PathBuf;
use std::time::Duration;

use super::{did_you_mean_or, one_or_many, Builder};
use crate::config::source::Span;
use crate::config::value::TimeValue;
use crate::config::{Node, NodeKind};
use crate::criteria::{Kind, Spec};
use crate::plan::monitoring::{LocalFrontend, MonitorSource, SourceKind};

/// What local and agent monitoring entries share: interval, logging, metrics with their places.
type SourceCommon = (Duration, bool, Vec<(String, Span)>);

impl Builder<'_> {
    /// A monitoring service entry: `local`, `server-agent` and MMS's `ServerLocalClient` lists.
    pub(super) fn monitoring(&mut self, node: &Node, sources: &mut Vec<MonitorSource>) {
        let NodeKind::Map(map) = &node.kind else { return };
        for (key, (key_span, value)) in map {
            let local_label = match key.as_str() {
                "module" | "run-at" => continue,
                "local" => Some("local"),
                "ServerLocalClient" => Some("ServerLocalClient"),
                "server-agent" => None,
                "graphite" => {
                    self.unsupported(
                        *key_span,
                        "graphite monitoring",
                        "run `monitoring-agent` on the host and use `server-agent`",
                    );
                    continue;
                }
                other => {
                    let kinds = ["local", "server-agent", "ServerLocalClient"];
                    let help = did_you_mean_or(other, &kinds, || format!("monitoring takes: {}", kinds.join(", ")));
                    self.error_help(*key_span, format!("unknown monitoring client `{other}`"), help);
                    continue;
                }
            };
            let items = one_or_many(value);
            for item in items {
                let source = match local_label {
                    Some(label) => self.local_source(item, label),
                    None => self.agent_source(item),
                };
                if let Some(source) = source {
                    if sources.iter().any(|s: &MonitorSource| s.label == source.label) {
                        self.error_help(
                            item.span,
                            format!("two monitoring sources are named `{}`", source.label),
                            "give each a different `label:`",
                        );
                    }
                    sources.push(source);
                }
            }
        }
    }

    /// Keys shared by local and agent entries: interval, logging, metrics.
    fn source_common(&mut self, map: &crate::config::Map, span: Span, allowed: &[&str]) -> Option<SourceCommon> {
        for (key, (key_span, _)) in map {
            if !allowed.contains(&key.as_str()) {
                let help = did_you_mean_or(key, allowed, || format!("an entry takes: {}", allowed.join(", ")));
                self.error_help(*key_span, format!("unknown key `{key}` in a monitoring entry"), help);
            }
        }
        let interval = self.value::<TimeValue>(map, "interval").map_or(Duration::from_secs(1), |t| t.0);
        let logging = map.get("logging").is_some_and(|(_, v)| matches!(v.kind, NodeKind::Bool(true)));
        let metrics: Vec<(String, Span)> = match map.get("metrics").map(|(_, v)| v) {
            Some(Node { kind: NodeKind::Seq(items), .. }) => {
                items.iter().filter_map(|i| i.scalar_text().map(|t| (t.into_owned(), i.span))).collect()
            }
            Some(other) => {
                self.error(other.span, "`metrics` must be a list of metric names");
                return None;
            }
            None => Vec::new(),
        };
        if metrics.is_empty() {
            self.error_help(
                span,
                "this monitoring entry asks for no `metrics`",
                "add e.g. `metrics: [cpu, mem, sum_workers_memory_rss]`",
            );
            return None;
        }
        Some((interval, logging, metrics))
    }

    fn local_source(&mut self, node: &Node, default_label: &str) -> Option<MonitorSource> {
        let NodeKind::Map(map) = &node.kind else {
            self.error(node.span, format!("a monitoring entry must be a mapping, found {}", node.describe()));
            return None;
        };
        let allowed =
            ["interval", "logging", "metrics", "label", "frontend-pid-file", "frontend-match", "worker-match"];
        let (interval, logging, metrics) = self.source_common(map, node.span, &allowed)?;
        let known: Vec<String> = monitoring_agent::metric::catalogue().into_iter().map(|(name, _)| name).collect();
        let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
        for (metric, span) in &metrics {
            if monitoring_agent::metric::Metric::parse(metric).is_err() {
                let help =
                    did_you_mean_or(metric, &known_refs, || "`monitoring-agent --list-metrics` lists them".into());
                self.error_help(*span, format!("unknown metric `{metric}`"), help);
            }
        }
        let text = |key: &str| map.get(key).and_then(|(_, v)| v.scalar_text()).map(String::from);
        let mut frontend = LocalFrontend::None;
        if let Some(file) = text("frontend-pid-file") {
            frontend = LocalFrontend::PidFile(PathBuf::from(file));
        }
        for key in ["frontend-match", "worker-match"] {
            if let (Some(re), Some((_, v))) = (text(key), map.get(key)) {
                if let Err(e) = regex::Regex::new(&re) {
                    self.error(v.span, format!("`{key}` is not a valid regex: {e}"));
                }
            }
        }
        if let Some(re) = text("frontend-match") {
            frontend = LocalFrontend::Match(re);
        }
        Some(MonitorSource {
            label: text("label").unwrap_or_else(|| default_label.to_string()),
            kind: SourceKind::Local { frontend, worker_match: text("worker-match") },
            interval,
            logging,
            metrics: metrics.into_iter().map(|(m, _)| m).collect(),
        })
    }

    fn agent_source(&mut self, node: &Node) -> Option<MonitorSource> {
        let NodeKind::Map(map) = &node.kind else {
            self.error(node.span, format!("a server-agent entry must be a mapping, found {}", node.describe()));
            return None;
        };
        let (interval, logging, metrics) =
            self.source_common(map, node.span, &["address", "label", "interval", "logging", "metrics"])?;
        let text = |key: &str| map.get(key).and_then(|(_, v)| v.scalar_text()).map(String::from);
        let Some(address) = text("address") else {
            self.error_help(node.span, "this server-agent entry has no `address`", "add `address: 127.0.0.1:9009`");
            return None;
        };
        // Taurus's default ServerAgent port.
        let address = if address.contains(':') { address } else { format!("{address}:4444") };
        let label = text("label").unwrap_or_else(|| address.clone());
        Some(MonitorSource {
            label,
            kind: SourceKind::ServerAgent { address },
            interval,
            logging,
            metrics: metrics.into_iter().map(|(m, _)| m).collect(),
        })
    }

    /// Monitoring criteria must name a configured source (by label or, as in Taurus, by agent
    /// address) and one of its metrics; the source is then named by its label.
    pub(super) fn check_monitoring_criteria(&mut self, criteria: &mut [(Spec, Span)], sources: &[MonitorSource]) {
        for (spec, span) in criteria {
            let Kind::Monitoring { source, metric } = &mut spec.kind else { continue };
            let found = sources.iter().find(|s| {
                &s.label == source || matches!(&s.kind, SourceKind::ServerAgent { address } if address == source)
            });
            match found {
                None => {
                    let names: Vec<&str> = sources.iter().map(|s| s.label.as_str()).collect();
                    let help = if names.is_empty() {
                        "configure it under `services: - module: monitoring`".to_string()
                    } else {
                        format!(
                            "monitoring sources: {}",
                            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                        )
                    };
                    self.error_help(*span, format!("no monitoring source `{source}` for this criterion"), help);
                }
                Some(s) if !s.metrics.contains(metric) => {
                    self.error_help(
                        *span,
                        format!("monitoring source `{source}` does not collect `{metric}`"),
                        format!("add `{metric}` to its `metrics:`"),
                    );
                }
                Some(s) => *source = s.label.clone(),
            }
        }
    }
}
