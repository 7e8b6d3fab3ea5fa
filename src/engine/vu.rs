//! One virtual user: waits for its start time, then loops over the scenario's requests until its
//! iterations are done, the execution's duration is over, or the test is stopped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use tokio::time::sleep_until;

use super::http::Client;
use super::sample::{ErrorKind, Sample};
use super::stop::Phase;
use super::Context;
use crate::plan::Load;
use crate::plan::{ExecutionPlan, RequestPlan, ScenarioPlan};

/// What the users of one execution share.
pub struct Execution {
    load: Load,
    scenario: Arc<ScenarioPlan>,
    /// Next throughput slot to hand out.
    slots: AtomicU64,
}

impl Execution {
    pub fn new(plan: &ExecutionPlan) -> Self {
        Execution { load: plan.load.clone(), scenario: plan.scenario.clone(), slots: AtomicU64::new(0) }
    }
}

pub async fn run(index: u32, exec: Arc<Execution>, ctx: Context) {
    let load = &exec.load;
    let begin = ctx.started + load.delay;
    let duration = load.duration();
    let deadline = (!duration.is_zero()).then(|| begin + duration);
    // Taurus: no iterations and no duration means one iteration.
    let iterations = match load.iterations {
        Some(n) if n > 0 => Some(n),
        _ if duration.is_zero() => Some(1),
        _ => None,
    };

    let start_at = begin + load.start_offset(index);
    tokio::select! {
        _ = sleep_until(start_at.into()) => {}
        _ = ctx.stop.reached(Phase::Stopping) => return,
    }
    if deadline.is_some_and(|d| Instant::now() >= d) {
        return;
    }
    let client = match Client::new(exec.scenario.keepalive) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: cannot create an HTTP client: {e}");
            return;
        }
    };
    ctx.active.fetch_add(1, Ordering::Relaxed);
    let vars = exec.scenario.variables.clone();
    let mut done = 0u64;
    'outer: while iterations.is_none_or(|n| done < n) {
        for request in &exec.scenario.requests {
            if ctx.stop.phase() != Phase::Running || deadline.is_some_and(|d| Instant::now() >= d) {
                break 'outer;
            }
            if let Some(pause) = request.think_time {
                if !wait(&ctx, Instant::now() + pause, deadline).await {
                    break 'outer;
                }
            }
            if let Some(at) = exec.load.throughput_slot(exec.slots.fetch_add(1, Ordering::Relaxed)) {
                if !wait(&ctx, begin + Duration::from_secs_f64(at), deadline).await {
                    break 'outer;
                }
            }
            send(&client, request, &vars, &ctx).await;
        }
        done += 1;
    }
    ctx.active.fetch_sub(1, Ordering::Relaxed);
}

/// Sleeps until `until`; false if the test stopped or the deadline came first.
async fn wait(ctx: &Context, until: Instant, deadline: Option<Instant>) -> bool {
    if deadline.is_some_and(|d| until >= d) {
        let d = deadline.unwrap_or(until);
        tokio::select! {
            _ = sleep_until(d.into()) => {}
            _ = ctx.stop.reached(Phase::Stopping) => {}
        }
        return false;
    }
    tokio::select! {
        _ = sleep_until(until.into()) => true,
        _ = ctx.stop.reached(Phase::Stopping) => false,
    }
}

async fn send(client: &Client, request: &RequestPlan, vars: &std::collections::HashMap<String, String>, ctx: &Context) {
    let start_wall = ctx.started_wall + ctx.started.elapsed();
    let start_us = start_wall.duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
    ctx.sent.fetch_add(1, Ordering::Relaxed);
    let mut sample = Sample {
        label: request.label,
        start_us,
        elapsed_us: 0,
        connect_us: 0,
        ttfb_us: 0,
        status: 0,
        error_kind: None,
        error: None,
        bytes: 0,
    };
    let method = match reqwest::Method::from_bytes(request.method.render(vars).as_bytes()) {
        Ok(m) => m,
        Err(_) => {
            fail(&mut sample, ErrorKind::Transport, format!("invalid HTTP method `{}`", request.method.render(vars)));
            let _ = ctx.samples.send(sample);
            return;
        }
    };
    let url = request.url.render(vars);
    let mut builder = client.request(method, &url).timeout(request.timeout);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.render(vars).as_ref());
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.render(vars).into_owned());
    }
    let started = Instant::now();
    tokio::select! {
        out = client.send(builder, request.follow_redirects) => {
            sample.elapsed_us = out.elapsed_us;
            sample.ttfb_us = out.ttfb_us;
            sample.connect_us = out.connect_us;
            sample.status = out.status;
            sample.bytes = out.bytes;
            if let Some((kind, message)) = out.error {
                fail(&mut sample, kind, message);
            } else if out.status >= 400 {
                let reason = reqwest::StatusCode::from_u16(out.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
                fail(&mut sample, ErrorKind::Status, format!("{} {}", out.status, reason).trim_end().to_string());
            }
        }
        _ = ctx.stop.reached(Phase::Aborting) => {
            sample.elapsed_us = started.elapsed().as_micros() as u64;
            fail(&mut sample, ErrorKind::Transport, "aborted: the test stopped while the request was in flight".to_string());
        }
    }
    // The receiver only goes away after the engine is done, so a send error cannot lose data.
    let _ = ctx.samples.send(sample);
}

fn fail(sample: &mut Sample, kind: ErrorKind, message: String) {
    sample.error_kind = Some(kind);
    sample.error = Some(message.into());
}
