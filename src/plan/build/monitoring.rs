//! Monitoring services (`local`, `server-agent`, MMS's `ServerLocalClient`) and the criteria
//! that judge their metrics.

use std::path::PathBuf;
use std::time::Duration;

use super::{code_list, did_you_mean_or, one_or_many, Builder};
use crate::config::de::Spanned;
use crate::config::model::{LocalMonitoring, ServerAgentMonitoring};
use crate::config::source::Span;
use crate::config::{Node, NodeKind};
use crate::criteria::{Kind, Spec};
use crate::plan::monitoring::{LocalFrontend, MonitorSource, SourceKind};

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
                    let help = "run `monitoring-agent` on the host and use `server-agent`";
                    self.unsupported(*key_span, "graphite monitoring", help);
                    continue;
                }
                other => {
                    let kinds = ["local", "server-agent", "ServerLocalClient"];
                    let help = did_you_mean_or(other, &kinds, || format!("monitoring takes: {}", kinds.join(", ")));
                    self.error_help(*key_span, format!("unknown monitoring client `{other}`"), help);
                    continue;
                }
            };
            for item in one_or_many(value) {
                let source = match local_label {
                    Some(label) => self.read(item).and_then(|entry| self.local_source(entry, item.span, label)),
                    None => self.read(item).and_then(|entry| self.agent_source(entry, item.span)),
                };
                let Some(source) = source else { continue };
                if sources.iter().any(|s| s.label == source.label) {
                    let message = format!("two monitoring sources are named `{}`", source.label);
                    self.error_help(item.span, message, "give each a different `label:`");
                }
                sources.push(source);
            }
        }
    }

    /// The metrics of an entry, which must name some.
    fn metrics(&mut self, metrics: Vec<Spanned<String>>, span: Span) -> Option<Vec<String>> {
        if metrics.is_empty() {
            let help = "add e.g. `metrics: [cpu, mem, sum_workers_memory_rss]`";
            self.error_help(span, "this monitoring entry asks for no `metrics`", help);
            return None;
        }
        Some(metrics.into_iter().map(Spanned::into_inner).collect())
    }

    fn local_source(&mut self, entry: LocalMonitoring, span: Span, default_label: &str) -> Option<MonitorSource> {
        let known: Vec<String> = monitoring_agent::metric::catalogue().into_iter().map(|(name, _)| name).collect();
        let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
        for metric in &entry.metrics {
            if monitoring_agent::metric::Metric::parse(metric).is_err() {
                let help =
                    did_you_mean_or(metric, &known_refs, || "`monitoring-agent --list-metrics` lists them".into());
                self.error_help(metric.span, format!("unknown metric `{}`", metric.value), help);
            }
        }
        let metrics = self.metrics(entry.metrics, span)?;
        for (key, re) in [("frontend-match", &entry.frontend_match), ("worker-match", &entry.worker_match)] {
            if let Some(Err(e)) = re.as_ref().map(|re| regex::Regex::new(re)) {
                self.error(re.as_ref().map_or(span, |re| re.span), format!("`{key}` is not a valid regex: {e}"));
            }
        }
        let frontend = match (entry.frontend_match, entry.frontend_pid_file) {
            (Some(re), _) => LocalFrontend::Match(re.value),
            (None, Some(file)) => LocalFrontend::PidFile(PathBuf::from(file)),
            (None, None) => LocalFrontend::None,
        };
        Some(MonitorSource {
            label: entry.label.unwrap_or_else(|| default_label.to_string()),
            kind: SourceKind::Local { frontend, worker_match: entry.worker_match.map(Spanned::into_inner) },
            interval: entry.interval.map_or(Duration::from_secs(1), |t| t.0),
            logging: entry.logging,
            metrics,
        })
    }

    fn agent_source(&mut self, entry: ServerAgentMonitoring, span: Span) -> Option<MonitorSource> {
        let metrics = self.metrics(entry.metrics, span)?;
        let Some(address) = entry.address else {
            self.error_help(span, "this server-agent entry has no `address`", "add `address: 127.0.0.1:9009`");
            return None;
        };
        // Taurus's default ServerAgent port.
        let address = if address.contains(':') { address } else { format!("{address}:4444") };
        Some(MonitorSource {
            label: entry.label.unwrap_or_else(|| address.clone()),
            kind: SourceKind::ServerAgent { address },
            interval: entry.interval.map_or(Duration::from_secs(1), |t| t.0),
            logging: entry.logging,
            metrics,
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
                        format!("monitoring sources: {}", code_list(&names))
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
