//! k6: `k6 run --out json=-` writes one JSON object per line to stdout as requests finish; each
//! request is a run of points with the same time and tags (`http_reqs`, `http_req_duration`,
//! `http_req_connecting`, `http_req_sending`, `http_req_waiting`, …, `http_req_failed` last).
//! A sample is made from `http_req_duration` (the label is the `name` tag, as k6 names
//! requests; the time is when the request ended) and completed by the points after it; `vus`
//! points give the number of users. Other lines (metric definitions, the end-of-test summary
//! k6 prints to stdout) are skipped. Only a line's metric name is looked at before parsing, so
//! points suite does not use cost no parsing.
//!
//! The load: with `concurrency`, `hold-for`, `ramp-up` or `iterations` in the execution, k6
//! gets `--vus`, a ramping `--stage` then a steady one (ramp-up then hold-for: both, where
//! Taurus's k6 executor shortens the second by the first, its bug B10), `--duration`, or
//! `--iterations` (per user, as for suite's own engine: users × iterations shared); with none,
//! the script's own `options` run. `settings.env` goes to k6 as `-e` and in its environment.
//! `--summary-export` is kept in the test's folder.

use std::borrow::Cow;

use serde::Deserialize;
use tokio::process::Command;

use super::{transport_kind, Tool};
use crate::engine::Context;
use crate::plan::tool::ToolPlan;
use crate::plan::Load;
use crate::sample::{ErrorKind, Sample};

/// k6's exit code when its own thresholds failed.
const THRESHOLDS_FAILED: i32 = 99;

#[derive(Default)]
pub(super) struct K6 {
    /// The request being read: its `http_req_duration` came, the points after it fill it in.
    pending: Option<Pending>,
    users: Option<u64>,
    /// The script's Trends of times (`new Trend('name', true)`): each point is a sample.
    trends: std::collections::HashSet<String>,
}

struct Pending {
    sample: Sample,
    /// `data.time` of its points, as written (the points of one request share it).
    time: String,
    sending_us: u64,
    waiting_us: u64,
}

/// An `http_req_duration` point: what a sample needs from it.
#[derive(Deserialize)]
struct Point<'a> {
    #[serde(borrow)]
    data: Data<'a>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(borrow)]
    time: Cow<'a, str>,
    value: f64,
    #[serde(default, borrow)]
    tags: Tags<'a>,
}

/// The tags suite reads (k6 writes more: they are skipped, not stored).
#[derive(Default, Deserialize)]
struct Tags<'a> {
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    url: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    status: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    error: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    check: Option<Cow<'a, str>>,
}

/// A metric's definition line (`{"type":"Metric",…}`): which custom Trends hold times.
#[derive(Deserialize)]
struct Definition<'a> {
    #[serde(borrow)]
    data: DefinitionData<'a>,
}

#[derive(Deserialize)]
struct DefinitionData<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    contains: Cow<'a, str>,
}

/// k6's own Trends (not the script's): requests are read from `http_req_*`, the rest is k6's.
fn builtin_trend(name: &str) -> bool {
    ["http_req_", "iteration_duration", "group_duration", "grpc_", "ws_", "browser_", "webvitals"]
        .iter()
        .any(|p| name.starts_with(p))
}

impl Tool for K6 {
    fn command(&self, plan: &ToolPlan, load: &Load, ctx: &Context) -> Result<Command, String> {
        let mut cmd = Command::new(&plan.binary);
        cmd.arg("run").args(["--quiet", "--no-color", "--address", ""]).args(["--out", "json=-"]);
        cmd.arg("--summary-export").arg(ctx.dir.join("k6-summary.json"));
        if plan.load_given {
            cmd.args(load_args(load));
        }
        if let Some(segment) = &load.segment {
            let (share, sequence) = segment.k6_args();
            cmd.args(["--execution-segment", &share, "--execution-segment-sequence", &sequence]);
        }
        for (k, v) in &plan.env {
            cmd.arg("-e").arg(format!("{k}={v}"));
        }
        cmd.arg(&plan.script);
        Ok(cmd)
    }

    fn line(&mut self, line: &str, ctx: &Context, out: &mut Vec<Sample>) {
        if line.starts_with("{\"type\":\"Metric\"") {
            if let Ok(d) = serde_json::from_str::<Definition>(line) {
                let d = d.data;
                if d.kind == "trend" && d.contains == "time" && !builtin_trend(&d.name) {
                    self.trends.insert(d.name.into_owned());
                }
            }
            return;
        }
        // `{"metric":"<name>","type":"Point",…`: the name decides before anything is parsed.
        let Some(rest) = line.strip_prefix("{\"metric\":\"") else { return };
        let Some((metric, rest)) = rest.split_once('"') else { return };
        if !rest.starts_with(",\"type\":\"Point\"") {
            return;
        }
        match metric {
            "http_req_duration" => {
                let Ok(point) = serde_json::from_str::<Point>(line) else { return };
                self.flush(out);
                let data = point.data;
                let us = millis_to_us(data.value);
                let sample = sample(&data, us, ctx);
                self.pending = Some(Pending { sample, time: data.time.into_owned(), sending_us: 0, waiting_us: 0 });
            }
            "http_req_connecting" | "http_req_sending" | "http_req_waiting" | "http_req_failed" | "vus" => {
                // These need only their value (and time, to belong to the pending request).
                let (Some(time), Some(value)) = (field(rest, "\"time\":\""), number(rest)) else { return };
                if metric == "vus" {
                    self.users = Some(value.max(0.0) as u64);
                    return;
                }
                let Some(p) = self.pending.as_mut().filter(|p| p.time == time) else { return };
                let us = millis_to_us(value);
                match metric {
                    "http_req_connecting" => p.sample.connect_us = us,
                    "http_req_sending" => p.sending_us = us,
                    "http_req_waiting" => p.waiting_us = us,
                    _ => {
                        // `http_req_failed`: the last point of the request.
                        if value > 0.0 && p.sample.error_kind.is_none() {
                            let status = p.sample.status;
                            p.sample.error_kind = Some(ErrorKind::Status);
                            p.sample.error = Some(format!("{status}: not an expected response").into());
                        }
                        self.flush(out);
                    }
                }
            }
            "checks" => {
                // A check is a label of its own ("check <name>"), failed when the check failed.
                let Ok(point) = serde_json::from_str::<Point>(line) else { return };
                let name = point.data.tags.check.as_deref().unwrap_or_default();
                let label = ctx.labels.intern_extra(&format!("check {name}"));
                let mut sample = figure(label, &point.data.time, 0);
                if point.data.value <= 0.0 {
                    sample.error_kind = Some(ErrorKind::Assertion);
                    sample.error = Some(format!("check `{name}` failed").into());
                }
                out.push(sample);
            }
            trend if self.trends.contains(trend) => {
                // A custom Trend of times: a label named after it, its values as times.
                let (Some(time), Some(value)) = (field(rest, "\"time\":\""), number(rest)) else { return };
                let label = ctx.labels.intern_extra(trend);
                out.push(figure(label, time, millis_to_us(value)));
            }
            _ => {}
        }
    }

    fn finish(&mut self, _ctx: &Context, out: &mut Vec<Sample>) {
        self.flush(out);
    }

    fn exit(&self, code: Option<i32>, signalled: bool) -> Result<Option<String>, String> {
        match code {
            Some(0) => Ok(None),
            Some(THRESHOLDS_FAILED) => {
                Ok(Some("k6's own thresholds failed (exit 99); suite's criteria decide the verdict".into()))
            }
            _ if signalled => Ok(None),
            Some(c) => Err(format!("k6 exited with code {c}")),
            None => Err("k6 was killed by a signal".into()),
        }
    }

    fn users(&self) -> Option<u64> {
        self.users
    }
}

impl K6 {
    fn flush(&mut self, out: &mut Vec<Sample>) {
        if let Some(mut p) = self.pending.take() {
            p.sample.ttfb_us = p.sending_us + p.waiting_us;
            out.push(p.sample);
        }
    }
}

fn millis_to_us(ms: f64) -> u64 {
    (ms.max(0.0) * 1000.0) as u64
}

/// The text after `key` up to the next `"` (k6 writes times without escapes).
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(key)? + key.len();
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

/// The number after `"value":`.
fn number(line: &str) -> Option<f64> {
    const KEY: &str = "\"value\":";
    let start = line.find(KEY)? + KEY.len();
    let len = line[start..].find([',', '}']).unwrap_or(line.len() - start);
    line[start..start + len].trim().parse().ok()
}

/// A sample for one of k6's other figures (a check, a custom Trend's value) at `time`.
fn figure(label: u32, time: &str, us: u64) -> Sample {
    let end_us = parse_time_us(time).unwrap_or(0);
    Sample {
        label,
        start_us: end_us.saturating_sub(us),
        elapsed_us: us,
        connect_us: 0,
        ttfb_us: 0,
        status: 0,
        error_kind: None,
        error: None,
        bytes: 0,
        lag_us: 0,
        stream: None,
    }
}

/// A sample from an `http_req_duration` point that took `us`.
fn sample(data: &Data<'_>, us: u64, ctx: &Context) -> Sample {
    let tags = &data.tags;
    let name = tags.name.as_deref().filter(|n| !n.is_empty()).or(tags.url.as_deref()).unwrap_or_default();
    let label = ctx.labels.intern(name);
    let end_us = parse_time_us(&data.time).unwrap_or(0);
    let status: u16 = tags.status.as_deref().unwrap_or_default().parse().unwrap_or(0);
    let error = tags.error.as_deref().unwrap_or_default();
    let error_kind = if status == 0 || !error.is_empty() && status < 400 {
        Some(transport_kind(error))
    } else if status >= 400 {
        Some(ErrorKind::Status)
    } else {
        None
    };
    let message = match error_kind {
        None => None,
        Some(ErrorKind::Status) if error.is_empty() => {
            let reason = http::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
            Some(format!("{status} {reason}").trim_end().into())
        }
        Some(_) if error.is_empty() => Some("no response".into()),
        Some(_) => Some(error.into()),
    };
    Sample {
        label,
        start_us: end_us.saturating_sub(us),
        elapsed_us: us,
        connect_us: 0,
        ttfb_us: 0,
        status,
        error_kind,
        error: message,
        bytes: 0,
        lag_us: 0,
        stream: None,
    }
}

/// k6's arguments for the execution's load.
fn load_args(load: &Load) -> Vec<String> {
    let vus = load.concurrency.max(1);
    let secs = |d: std::time::Duration| format!("{}ms", d.as_millis());
    let mut args = vec!["--vus".to_string(), vus.to_string()];
    match load.iterations {
        Some(n) if n > 0 => {
            args.push("--iterations".into());
            args.push((u64::from(vus) * n).to_string());
            if !load.duration().is_zero() {
                args.push("--duration".into());
                args.push(secs(load.duration()));
            }
        }
        _ if !load.ramp_up.is_zero() => {
            args = vec!["--stage".into(), format!("{}:{vus}", secs(load.ramp_up))];
            if !load.hold_for.is_zero() {
                args.push("--stage".into());
                args.push(format!("{}:{vus}", secs(load.hold_for)));
            }
        }
        _ if !load.hold_for.is_zero() => {
            args.push("--duration".into());
            args.push(secs(load.hold_for));
        }
        // No duration and no iterations: one iteration each (Taurus's rule).
        _ => {
            args.push("--iterations".into());
            args.push(vus.to_string());
        }
    }
    args
}

/// RFC 3339 time as k6 writes it (`2026-12-05T06:21:26.458033213Z`, or with an offset), in µs
/// since the Unix epoch.
fn parse_time_us(t: &str) -> Option<u64> {
    crate::civil::parse_rfc3339_us(t).and_then(|us| u64::try_from(us).ok())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::engine::Recorder;
    use crate::sample::Labels;

    #[test]
    fn times_as_k6_writes_them() {
        assert_eq!(parse_time_us("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_time_us("2026-12-05T06:21:26.458033213Z"), Some(1_796_451_686_458_033));
        assert_eq!(parse_time_us("2026-12-05T07:21:26.5+01:00"), Some(1_796_451_686_500_000));
        assert_eq!(parse_time_us("not a time"), None);
    }

    #[test]
    fn one_sample_per_request_from_its_points() {
        let ctx =
            Context::new(Arc::new(Recorder::new()), Instant::now(), Arc::new(Labels::new(&[])), std::env::temp_dir());
        let tags =
            r#""tags":{"expected_response":"false","method":"GET","name":"login","status":"404","url":"http://h/x"}"#;
        let point = |metric: &str, value: f64| {
            format!(
                r#"{{"metric":"{metric}","type":"Point","data":{{"time":"2026-12-05T06:21:26.5Z","value":{value},{tags}}}}}"#
            )
        };
        let mut k6 = K6::default();
        let mut out = Vec::new();
        k6.line(
            r#"{"type":"Metric","data":{"name":"http_reqs","type":"counter"},"metric":"http_reqs"}"#,
            &ctx,
            &mut out,
        );
        for (m, v) in [
            ("http_reqs", 1.0),
            ("http_req_duration", 12.5),
            ("http_req_connecting", 0.5),
            ("http_req_sending", 0.1),
            ("http_req_waiting", 11.9),
        ] {
            k6.line(&point(m, v), &ctx, &mut out);
        }
        assert!(out.is_empty(), "held until its last point");
        k6.line(&point("http_req_failed", 1.0), &ctx, &mut out);
        assert_eq!(out.len(), 1);
        let s = &out[0];
        assert_eq!((s.elapsed_us, s.connect_us, s.ttfb_us, s.status), (12_500, 500, 12_000, 404));
        assert_eq!(s.error_kind, Some(ErrorKind::Status));
        assert_eq!(s.start_us, 1_796_451_686_500_000 - 12_500);
        assert_eq!(ctx.labels.names_from(0)[s.label as usize].as_ref(), "login");
        k6.line(
            r#"{"metric":"vus","type":"Point","data":{"time":"2026-12-05T06:21:27Z","value":7,"tags":{}}}"#,
            &ctx,
            &mut out,
        );
        assert_eq!(k6.users(), Some(7));
        k6.line("  █ TOTAL RESULTS", &ctx, &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn the_load_becomes_k6_arguments() {
        let load = |c, ramp, hold, it| Load {
            concurrency: c,
            ramp_up: Duration::from_secs(ramp),
            hold_for: Duration::from_secs(hold),
            iterations: it,
            steps: 0,
            throughput: None,
            delay: Duration::ZERO,
            max_vus: None,
            segment: None,
        };
        assert_eq!(load_args(&load(5, 0, 10, None)), ["--vus", "5", "--duration", "10000ms"]);
        assert_eq!(load_args(&load(5, 2, 10, None)), ["--stage", "2000ms:5", "--stage", "10000ms:5"]);
        assert_eq!(load_args(&load(3, 0, 0, Some(4))), ["--vus", "3", "--iterations", "12"]);
        assert_eq!(load_args(&load(3, 0, 0, None)), ["--vus", "3", "--iterations", "3"]);
    }
}
