//! Reporters (`passfail`, `junit-xml`, `final-stats`, `console`, `prometheus`) and the pass/fail
//! criteria they and executions and scenarios carry.

use std::path::PathBuf;
use std::time::Duration;

use super::{did_you_mean_or, Builder};
use crate::config::de::Spanned;
use crate::config::diagnostic::Diagnostic;
use crate::config::source::Span;
use crate::config::value::TimeValue;
use crate::config::{Map, Node, NodeKind};
use crate::criteria::{self, DictForm, Spec};
use crate::plan::{JunitReporter, JunitSource, RemoteWrite};

/// How long one remote-write request may take when the reporter sets no `timeout`.
const DEFAULT_REMOTE_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Labels every live series has already (or a quantile gauge has): `labels:` may not set them.
const SERIES_LABELS: [&str; 4] = ["test", "label", "cell", "quantile"];

impl Builder<'_> {
    pub(super) fn reporter(
        &mut self,
        entry: &Spanned<Node>,
        criteria: &mut Vec<(Spec, Span)>,
        final_stats: &mut Option<PathBuf>,
        junit: &mut Vec<JunitReporter>,
        remote_write: &mut Vec<RemoteWrite>,
    ) {
        let Some((module, node)) = self.module_entry(entry, "reporting") else { return };
        let Some(keys) = self.reporter_keys(&module, entry.span) else { return };
        if module == "prometheus" {
            remote_write.extend(self.remote_write(node, entry.span));
        }
        // Taurus's default data source is `sample-labels`; a bare `- junit-xml` entry means it too.
        if module == "junit-xml" {
            junit.push(JunitReporter { data_source: JunitSource::SampleLabels, filename: None });
        }
        let Some(NodeKind::Map(map)) = node.map(|n| &n.kind) else { return };
        for (key, (key_span, value)) in map {
            if key == "module" || key == "run-at" {
                continue;
            }
            if !keys.contains(&key.as_str()) {
                let help = did_you_mean_or(key, keys, || format!("`{module}` takes: {}", keys.join(", ")));
                self.error_help(*key_span, format!("unknown key `{key}` in the `{module}` reporter"), help);
                continue;
            }
            match (module.as_str(), key.as_str()) {
                ("passfail", "criteria") => {
                    let spanned = Spanned { value: value.clone(), span: value.span };
                    criteria.extend(self.criteria_node(&spanned));
                }
                ("junit-xml", _) => self.junit_setting(key, value, junit.last_mut()),
                ("final-stats", "dump-csv") => match value.scalar_text() {
                    Some(p) => *final_stats = Some(PathBuf::from(&*p)),
                    None => self.error(value.span, "`dump-csv` must be a file path"),
                },
                ("final-stats", "dump-xml") => self.unsupported(
                    value.span,
                    "`dump-xml`",
                    "use `dump-csv`; the run's junit.xml and final_stats.csv carry the same figures",
                ),
                _ => {}
            }
        }
    }

    /// The keys a reporter takes; `None` (with a warning or an error) for reporters `suite` skips
    /// or does not know.
    fn reporter_keys(&mut self, module: &str, span: Span) -> Option<&'static [&'static str]> {
        Some(match module {
            "passfail" => &["criteria"],
            "junit-xml" => &["filename", "data-source"],
            "final-stats" => {
                &["summary", "percentiles", "summary-labels", "failed-labels", "test-duration", "dump-xml", "dump-csv"]
            }
            "console" => &["disable", "screen", "dummy-cols", "dummy-rows"],
            "prometheus" => &["remote-write", "timeout", "labels"],
            "blazemeter" | "influxdb-reporter" => {
                self.warn(
                    span,
                    format!("reporter `{module}` sends results to a remote service; suite works offline and skips it"),
                );
                return None;
            }
            other => {
                let known = ["passfail", "junit-xml", "final-stats", "console", "prometheus", "blazemeter"];
                let help = did_you_mean_or(other, &known, || {
                    "suite knows passfail, junit-xml, final-stats, console and prometheus".into()
                });
                self.error_help(span, format!("unknown reporter `{other}`"), help);
                return None;
            }
        })
    }

    /// A `prometheus` reporter's settings (its keys are checked by the caller): `remote-write`, a
    /// required `http://` URL; `timeout`; `labels`, a mapping of label names to values.
    fn remote_write(&mut self, node: Option<&Node>, span: Span) -> Option<RemoteWrite> {
        let empty = Map::new();
        let map = match node.map(|n| &n.kind) {
            Some(NodeKind::Map(map)) => map,
            _ => &empty,
        };
        let Some((_, url_node)) = map.get("remote-write") else {
            // A misspelt `remote-write` has its own error already, with the right spelling.
            if map.keys().any(|k| !["module", "run-at", "timeout", "labels"].contains(&k.as_str())) {
                return None;
            }
            let help = "e.g. `remote-write: http://127.0.0.1:9090/api/v1/write` (a Prometheus started with `--web.enable-remote-write-receiver`)";
            self.error_help(span, "the `prometheus` reporter needs `remote-write`, the URL to send to", help);
            return None;
        };
        let url = self.remote_write_url(url_node);
        let timeout = match self.value::<TimeValue>(map, "timeout").map(|t| t.0) {
            Some(t) if t.is_zero() => {
                self.error(map["timeout"].1.span, "`timeout` must be more than 0");
                None
            }
            t => Some(t.unwrap_or(DEFAULT_REMOTE_WRITE_TIMEOUT)),
        };
        let labels = map.get("labels").map_or(Some(Vec::new()), |(_, n)| self.static_labels(n));
        Some(RemoteWrite { url: url?, timeout: timeout?, labels: labels? })
    }

    /// The `remote-write` URL: `http://` with a host.
    fn remote_write_url(&mut self, node: &Node) -> Option<url::Url> {
        let Some(text) = node.scalar_text() else {
            self.error(node.span, format!("`remote-write` must be a URL, found {}", node.describe()));
            return None;
        };
        match url::Url::parse(text.trim()) {
            Ok(url) if url.scheme() == "http" && url.host_str().is_some() => Some(url),
            Ok(url) if url.scheme() == "https" => {
                let help = "send to a plain-HTTP receiver (Prometheus on this machine or network), or through a local TLS proxy";
                self.error_help(node.span, "`remote-write` over https is not supported yet", help);
                None
            }
            Ok(url) => {
                let message = format!("`remote-write` must be an http:// URL, found `{}:`", url.scheme());
                self.error_help(node.span, message, "e.g. `http://127.0.0.1:9090/api/v1/write`");
                None
            }
            Err(e) => {
                let help = "e.g. `http://127.0.0.1:9090/api/v1/write`";
                self.error_help(node.span, format!("`remote-write` is not a URL: {e}"), help);
                None
            }
        }
    }

    /// `labels:` of a `prometheus` reporter: Prometheus label names (not those every series has
    /// already) to text values, sorted by name.
    fn static_labels(&mut self, node: &Node) -> Option<Vec<(String, String)>> {
        let map = match &node.kind {
            NodeKind::Null => return Some(Vec::new()),
            NodeKind::Map(map) => map,
            _ => {
                self.error(
                    node.span,
                    format!("`labels` must be a mapping of names to values, found {}", node.describe()),
                );
                return None;
            }
        };
        let mut labels = Vec::new();
        let mut ok = true;
        for (name, (name_span, value)) in map {
            let valid = name
                .chars()
                .enumerate()
                .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
            if !valid || name.is_empty() || name.starts_with("__") || SERIES_LABELS.contains(&name.as_str()) {
                let why = match SERIES_LABELS.contains(&name.as_str()) {
                    true => format!("`{name}` is set on every series by suite"),
                    false => format!("`{name}` is not a Prometheus label name"),
                };
                let help = "a name is letters, digits and `_`, not starting with a digit or `__`; `test`, `label`, `cell` and `quantile` are suite's";
                self.error_help(*name_span, why, help);
                ok = false;
                continue;
            }
            match value.scalar_text() {
                Some(text) => labels.push((name.clone(), text.into_owned())),
                None => {
                    self.error(value.span, format!("label `{name}` must be text, found {}", value.describe()));
                    ok = false;
                }
            }
        }
        labels.sort();
        ok.then_some(labels)
    }

    /// `data-source` or `filename` of a `junit-xml` reporter.
    fn junit_setting(&mut self, key: &str, value: &Node, junit: Option<&mut JunitReporter>) {
        if key == "data-source" {
            let ds = value.scalar_text().unwrap_or_default();
            let source = match &*ds {
                "pass-fail" => JunitSource::PassFail,
                "sample-labels" => JunitSource::SampleLabels,
                _ => {
                    let message = format!("unknown junit-xml `data-source: {ds}`");
                    self.error_help(value.span, message, "use `pass-fail` or `sample-labels`");
                    return;
                }
            };
            if let Some(j) = junit {
                j.data_source = source;
            }
            return;
        }
        match value.scalar_text().filter(|p| !p.trim().is_empty()) {
            Some(p) => {
                if let Some(j) = junit {
                    j.filename = Some(PathBuf::from(&*p));
                }
            }
            None => self.error(value.span, "`filename` must be a file path"),
        }
    }

    /// A `criteria` value: a list of strings and dicts, or a mapping of message to criterion.
    pub(super) fn criteria_node(&mut self, node: &Spanned<Node>) -> Vec<(Spec, Span)> {
        let mut out = Vec::new();
        match &node.value.kind {
            NodeKind::Null => {}
            NodeKind::Seq(items) => {
                for item in items {
                    if let Some(spec) = self.criterion(item, None) {
                        out.push((spec, item.span));
                    }
                }
            }
            NodeKind::Map(m) => {
                for (message, (_, item)) in m {
                    if let Some(spec) = self.criterion(item, Some(message.clone())) {
                        out.push((spec, item.span));
                    }
                }
            }
            _ => self.error(node.span, format!("`criteria` must be a list, found {}", node.value.describe())),
        }
        out
    }

    fn criterion(&mut self, node: &Node, message: Option<String>) -> Option<Spec> {
        match &node.kind {
            NodeKind::Str(text) => match criteria::parse_short(text) {
                Ok(mut spec) => {
                    if message.is_some() {
                        spec.message = message;
                    }
                    Some(spec)
                }
                Err(e) => {
                    let span = self.loaded.sources.inner_span(node.span, text, e.span.start, e.span.len().max(1));
                    let mut d = Diagnostic::error(span, format!("invalid criterion: {}", e.message));
                    if let Some(h) = e.help {
                        d = d.with_help(h);
                    }
                    self.diags.push(d);
                    None
                }
            },
            NodeKind::Map(m) => {
                // `- My msg: rc404>10` in a YAML list is a one-key mapping, not a string (Taurus fails on it too).
                if m.len() == 1 && message.is_none() {
                    let (k, (_, v)) = m.iter().next()?;
                    if matches!(v.kind, NodeKind::Str(_)) && !["subject", "class", "label"].contains(&k.as_str()) {
                        self.error_help(
                            node.span,
                            format!("`{k}: ...` is a YAML mapping here, not a criterion string"),
                            format!("quote the whole criterion: `- '{k}: {}'`", v.scalar_text().unwrap_or_default()),
                        );
                        return None;
                    }
                }
                let dict: DictForm = self.read(node)?;
                match criteria::from_dict(dict) {
                    Ok(mut spec) => {
                        if message.is_some() {
                            spec.message = message;
                        }
                        Some(spec)
                    }
                    Err(e) => {
                        // The dict form's errors name the field at fault: point at its value.
                        let span = e.field.and_then(|f| m.get(f)).map_or(node.span, |(_, v)| v.span);
                        let mut d = Diagnostic::error(span, format!("invalid criterion: {}", e.message));
                        if let Some(h) = e.help {
                            d = d.with_help(h);
                        }
                        self.diags.push(d);
                        None
                    }
                }
            }
            _ => {
                self.error(node.span, format!("a criterion must be a string or a mapping, found {}", node.describe()));
                None
            }
        }
    }
}
