//! One virtual user: waits for its start time, then walks the scenario's steps once per
//! iteration (taking the next CSV row of each data source first) until its iterations are done,
//! the execution's duration is over, a data source without `loop` runs out, or the test is
//! stopped. Variables, `once` flags, interleave cursors, pacing schedules and the HTTP
//! connection belong to the user; shared cursors, schedules and rendezvous points to the
//! execution.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use tokio::time::sleep_until;
use url::Url;

use super::checks::{self, Response};
use super::execution::Execution;
use super::grpc;
use super::http::cookies::Jar;
use super::http::{Client, ClientOptions, Outcome, Request, Want};
use super::pacing::Slot;
use super::stop::Phase;
use super::think::think;
use super::Context;
use crate::plan::checks::{Assertion, Extractor};
use crate::plan::grpc::GrpcPlan;
use crate::plan::scenario::{
    Action, ActionKind, BasicAuth, Body, Chunk, Condition, Functions, OnError, ThinkTime, Transaction, UserVars, Value,
    WhileCondition,
};
use crate::plan::{RequestPlan, Step, Template};
use crate::sample::{ErrorKind, Sample, GRPC_STATUS};

/// Runs user `index`.
pub(super) async fn run(index: u32, exec: Arc<Execution>, ctx: Context, first_arrival: Option<u64>) {
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
    let scenario = &exec.scenario;
    let options = ClientOptions { keepalive: scenario.keepalive, tls_verify: scenario.tls_verify };
    let client = Client::new(options, scenario.store_cookies.then(|| Jar::new(&scenario.cookies)));
    ctx.active.fetch_add(1, Ordering::Relaxed);
    let mut user = User {
        exec: &exec,
        ctx: &ctx,
        client,
        headers: Vec::new(),
        vars: UserVars::new(scenario.first_thread_num + u64::from(index)),
        rng: fastrand::Rng::new(),
        once_done: vec![false; scenario.once_blocks],
        interleave: vec![0; scenario.interleave_blocks],
        pace_due: vec![None; scenario.pacers],
        orders: Vec::new(),
        last_ok: true,
        pending_error: None,
        iteration: 0,
        begin,
        deadline,
        first_arrival,
    };
    user.set_variables(&scenario.variables);
    let mut done = 0u64;
    'iterations: while iterations.is_none_or(|n| done < n) {
        if !user.next_rows() {
            break;
        }
        user.iteration = done;
        if done > 0 && scenario.clear_cookies_each_iteration {
            user.client.reset_cookies(&scenario.cookies);
        }
        let mut tally = Tally::default();
        for step in &scenario.steps {
            match user.step(step, &mut tally, true).await {
                Flow::Go => {}
                // Outside any loop, "next pass" is the next iteration (JMeter resets the last
                // sample's status then).
                Flow::NextIteration | Flow::NextLoopPass => {
                    user.last_ok = true;
                    break;
                }
                // Breaking the thread group's own loop ends the user.
                Flow::Stop | Flow::BreakLoop => break 'iterations,
            }
        }
        done += 1;
    }
    ctx.active.fetch_sub(1, Ordering::Relaxed);
}

/// Whether to go on after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flow {
    Go,
    /// Skip the rest of this iteration (`action: continue`, `on_sample_error: startnextloop`).
    NextIteration,
    /// Start the next pass of the innermost `Loop` or `While` (of the iteration outside any).
    NextLoopPass,
    /// Leave the innermost `Loop` or `While` (outside any, the user's iterations end).
    BreakLoop,
    Stop,
}

/// The samples of a transaction so far.
#[derive(Default)]
struct Tally {
    start_us: Option<u64>,
    elapsed_us: u64,
    ttfb_us: u64,
    connect_us: u64,
    bytes: u64,
    lag_us: u64,
    think_us: u64,
    samples: u32,
    failed: u32,
    first_failure: Option<(ErrorKind, u16, Arc<str>)>,
    last_status: u16,
}

impl Tally {
    fn add(&mut self, s: &Sample) {
        if self.start_us.is_none() {
            self.start_us = Some(s.start_us);
            // The transaction started as late as its first request.
            self.lag_us = s.lag_us;
        }
        self.elapsed_us += s.elapsed_us;
        self.ttfb_us += s.ttfb_us;
        self.connect_us += s.connect_us;
        self.bytes += s.bytes;
        self.samples += 1;
        self.last_status = s.status;
        if let Some(kind) = s.error_kind {
            self.failed += 1;
            if self.first_failure.is_none() {
                self.first_failure = Some((kind, s.status, s.error.clone().unwrap_or_else(|| "failed".into())));
            }
        }
    }

    /// The transaction's own sample (JMeter's Transaction Controller sample).
    fn sample(&self, label: u32, include_timers: bool) -> Sample {
        let mut s = Sample {
            label,
            start_us: self.start_us.unwrap_or(0),
            elapsed_us: self.elapsed_us + if include_timers { self.think_us } else { 0 },
            connect_us: self.connect_us,
            ttfb_us: self.ttfb_us,
            status: self.last_status,
            error_kind: None,
            error: None,
            bytes: self.bytes,
            lag_us: self.lag_us,
            stream: None,
        };
        if let Some((kind, status, message)) = &self.first_failure {
            s.error_kind = Some(*kind);
            s.status = *status;
            s.error = Some(
                format!("{} of {} samples in the transaction failed; first: {message}", self.failed, self.samples)
                    .into(),
            );
        }
        s
    }
}

struct User<'a> {
    exec: &'a Execution,
    ctx: &'a Context,
    client: Client,
    /// The current request's headers (kept to reuse the allocation).
    headers: Vec<(HeaderName, HeaderValue)>,
    vars: UserVars,
    rng: fastrand::Rng,
    once_done: Vec<bool>,
    /// Cursors of the interleave blocks that are per user.
    interleave: Vec<usize>,
    /// When each per-user pacing point next lets this user go.
    pace_due: Vec<Option<Instant>>,
    /// Spare index buffers for random orders, so a pass allocates nothing once warm.
    orders: Vec<Vec<usize>>,
    /// Whether the user's last request succeeded (a `While` with a blank or `LAST` condition).
    last_ok: bool,
    /// Why a template outside a request (a variable, a condition) could not be evaluated: the
    /// user's next request is not sent but fails with this message, so the error shows.
    pending_error: Option<String>,
    /// The user's current iteration, from 0 (`iteration` in body templates).
    iteration: u64,
    begin: Instant,
    deadline: Option<Instant>,
    /// Open model: the arrival this user was started for; its first request takes it.
    first_arrival: Option<u64>,
}

type StepsFuture<'b> = Pin<Box<dyn Future<Output = Flow> + Send + 'b>>;

impl User<'_> {
    /// Sets the variables of each data source from its next row; false when one ran out.
    fn next_rows(&mut self) -> bool {
        self.exec.next_rows(|name, value| set_var(&mut self.vars.vars, name, value))
    }

    fn running(&self) -> bool {
        self.ctx.stop.phase() == Phase::Running && self.deadline.is_none_or(|d| Instant::now() < d)
    }

    /// Before another pass of a loop: false once the test stopped or the deadline passed. Yields
    /// now and then, so a loop whose body sends nothing cannot hold its worker thread.
    async fn next_pass(&self) -> bool {
        tokio::task::consume_budget().await;
        self.running()
    }

    /// Keeps the first of the errors that wait for the next request.
    fn note_error(&mut self, message: String) {
        self.pending_error.get_or_insert(message);
    }

    /// Sets variables in order. A value that cannot be evaluated (a JMeter function with bad
    /// arguments) leaves its variable unset, so later uses read `${name}` as JMeter shows an
    /// undefined variable, and fails the user's next request with the reason: the error shows
    /// in the report instead of a silently empty value.
    fn set_variables(&mut self, set: &[(String, Template)]) {
        let exec = self.exec;
        for (name, value) in set {
            match value.render(&mut self.vars, &exec.scenario.functions) {
                Ok(v) => set_var(&mut self.vars.vars, name, &v),
                Err(e) => {
                    self.vars.vars.remove(name);
                    self.note_error(format!("variable `{name}` left unset: {e}"));
                }
            }
        }
    }

    /// How a condition reads now: `Some(true)` or `Some(false)` for the text `true` or `false`
    /// (trimmed, any case) or an expression that holds or not, `None` for any other text. One
    /// that cannot be evaluated reads `false` (an `If` skips, a `While` ends) and fails the
    /// user's next request with the reason.
    fn truth(&mut self, condition: &Condition) -> Option<bool> {
        let exec = self.exec;
        let functions = &exec.scenario.functions;
        let error = match condition {
            Condition::Text(t) => match t.render(&mut self.vars, functions) {
                Ok(text) => {
                    let text = text.trim();
                    return if text.eq_ignore_ascii_case("true") {
                        Some(true)
                    } else if text.eq_ignore_ascii_case("false") {
                        Some(false)
                    } else {
                        None
                    };
                }
                Err(e) => e,
            },
            Condition::Expr(expr) => {
                let (vars, mut error) = (&mut self.vars, None);
                let holds = expr.holds(&mut |t| match t.render(vars, functions) {
                    Ok(text) => text.into_owned(),
                    Err(e) => {
                        error.get_or_insert(e);
                        String::new()
                    }
                });
                match error {
                    None => return Some(holds),
                    Some(e) => e,
                }
            }
        };
        self.note_error(format!("a condition could not be evaluated: {error}"));
        Some(false)
    }

    /// Waits until `until`, counted as think time; `Stop` if the test stopped or the user's
    /// deadline came first.
    async fn pause_until(&self, until: Instant, tally: &mut Tally) -> Flow {
        let now = Instant::now();
        if until <= now {
            return Flow::Go;
        }
        if !wait(self.ctx, until, self.deadline).await {
            return Flow::Stop;
        }
        tally.think_us += (until - now).as_micros() as u64;
        Flow::Go
    }

    /// One step, boxed: blocks that pick among their children call it.
    fn one<'b>(&'b mut self, step: &'b Step, tally: &'b mut Tally, emit: bool) -> StepsFuture<'b> {
        self.steps(std::slice::from_ref(step), tally, emit)
    }

    /// Nested steps; boxed because blocks nest.
    fn steps<'b>(&'b mut self, steps: &'b [Step], tally: &'b mut Tally, emit: bool) -> StepsFuture<'b> {
        Box::pin(async move {
            for step in steps {
                let flow = self.step(step, tally, emit).await;
                if flow != Flow::Go {
                    return flow;
                }
            }
            Flow::Go
        })
    }

    async fn step(&mut self, step: &Step, tally: &mut Tally, emit: bool) -> Flow {
        match step {
            Step::Request(r) => self.request(r, tally, emit).await,
            Step::Grpc(g) => self.grpc(g, tally, emit).await,
            Step::Transaction(t) => self.transaction(t, tally, emit).await,
            Step::Loop { count, steps } => {
                let mut i = 0u64;
                while count.is_none_or(|c| i < c) {
                    if i > 0 && !self.next_pass().await {
                        return Flow::Stop;
                    }
                    match self.steps(steps, tally, emit).await {
                        Flow::Go | Flow::NextLoopPass => {}
                        Flow::BreakLoop => break,
                        flow => return flow,
                    }
                    i += 1;
                }
                Flow::Go
            }
            Step::Once { index, steps } => {
                if self.once_done[*index] {
                    return Flow::Go;
                }
                self.once_done[*index] = true;
                self.steps(steps, tally, emit).await
            }
            Step::SetVariables(set) => {
                self.set_variables(set);
                Flow::Go
            }
            Step::Action(a) => self.action(a).await,
            Step::Think(t) => self.think(t, tally).await,
            Step::RandomOrder(steps) => {
                let mut order = self.orders.pop().unwrap_or_default();
                order.clear();
                order.extend(0..steps.len());
                self.rng.shuffle(&mut order);
                let mut flow = Flow::Go;
                for &i in &order {
                    flow = self.one(&steps[i], tally, emit).await;
                    if flow != Flow::Go {
                        break;
                    }
                }
                self.orders.push(order);
                flow
            }
            Step::Random(steps) => {
                if steps.is_empty() {
                    return Flow::Go;
                }
                let i = self.rng.usize(..steps.len());
                self.one(&steps[i], tally, emit).await
            }
            Step::Interleave { index, across_users, steps } => {
                if steps.is_empty() {
                    return Flow::Go;
                }
                let i = if *across_users {
                    self.exec.next_interleaved(*index, steps.len())
                } else {
                    let cursor = &mut self.interleave[*index];
                    let i = *cursor % steps.len();
                    *cursor = i + 1;
                    i
                };
                self.one(&steps[i], tally, emit).await
            }
            Step::If { condition, each_step, steps } => {
                if self.truth(condition) != Some(true) {
                    return Flow::Go;
                }
                if !*each_step {
                    return self.steps(steps, tally, emit).await;
                }
                for (k, step) in steps.iter().enumerate() {
                    if k > 0 && self.truth(condition) != Some(true) {
                        break;
                    }
                    let flow = self.one(step, tally, emit).await;
                    if flow != Flow::Go {
                        return flow;
                    }
                }
                Flow::Go
            }
            Step::While { condition, steps } => self.while_loop(condition, steps, tally, emit).await,
            Step::Rendezvous { index, group, timeout } => {
                let start = Instant::now();
                let point = self.exec.rendezvous(*index);
                if !point.meet(*group, *timeout, &self.ctx.stop, self.deadline).await {
                    return Flow::Stop;
                }
                // A timer (JMeter's SyncTimer): the wait is think time.
                tally.think_us += start.elapsed().as_micros() as u64;
                Flow::Go
            }
            Step::Pace { index, interval, shared } => {
                let slot = if *shared {
                    self.exec.pace_slot(*index, *interval)
                } else {
                    let now = Instant::now();
                    let due = &mut self.pace_due[*index];
                    let slot = due.map_or(now, |d| d.max(now));
                    *due = Some(slot + *interval);
                    slot
                };
                self.pause_until(slot, tally).await
            }
        }
    }

    /// A timer's pause. A user started for an arrival that is already due sends at once, as
    /// with a request's own think time.
    async fn think(&mut self, t: &ThinkTime, tally: &mut Tally) -> Flow {
        if self.first_arrival.is_some() {
            return Flow::Go;
        }
        let pause = think(t, &mut self.rng);
        self.pause_until(Instant::now() + pause, tally).await
    }

    /// JMeter's WhileController: a blank condition ends after a pass whose last sample failed;
    /// `LAST` also does not enter when the sample before failed; a condition ends when it
    /// reads `false` before a pass (not when it merely is not `true`).
    async fn while_loop(&mut self, condition: &WhileCondition, steps: &[Step], tally: &mut Tally, emit: bool) -> Flow {
        if matches!(condition, WhileCondition::LastOk) && !self.last_ok {
            return Flow::Go;
        }
        loop {
            if !self.next_pass().await {
                return Flow::Stop;
            }
            if let WhileCondition::Until(c) = condition {
                if self.truth(c) == Some(false) {
                    return Flow::Go;
                }
            }
            let flow = self.steps(steps, tally, emit).await;
            match flow {
                Flow::Go | Flow::NextLoopPass => {}
                Flow::BreakLoop => return Flow::Go,
                _ => return flow,
            }
            let ended = match condition {
                // JMeter checks a blank condition only when the pass ran to its end.
                WhileCondition::BodyOk => flow == Flow::Go && !self.last_ok,
                WhileCondition::LastOk => !self.last_ok,
                WhileCondition::Until(_) => false,
            };
            if ended {
                return Flow::Go;
            }
        }
    }

    /// What a failed sample does to its user (`on_sample_error`).
    fn on_error(&self) -> Flow {
        let scenario = &self.exec.scenario;
        let (phase, name) = match scenario.on_error {
            OnError::Continue => return Flow::Go,
            OnError::NextIteration => return Flow::NextIteration,
            OnError::StopUser => return Flow::Stop,
            OnError::StopTest => (Phase::Stopping, "stoptest"),
            OnError::StopTestNow => (Phase::Aborting, "stoptestnow"),
        };
        let why = format!("a sample failed with `on_sample_error: {name}` in scenario `{}`", scenario.name);
        self.ctx.stop.advance_because(phase, why);
        Flow::Stop
    }

    /// JMeter's flow-control action.
    async fn action(&mut self, a: &Action) -> Flow {
        match a.kind {
            ActionKind::Pause => {
                if wait(self.ctx, Instant::now() + a.pause, self.deadline).await {
                    Flow::Go
                } else {
                    Flow::Stop
                }
            }
            ActionKind::Continue => Flow::NextIteration,
            ActionKind::NextLoopPass => Flow::NextLoopPass,
            ActionKind::BreakLoop => Flow::BreakLoop,
            ActionKind::Stop | ActionKind::StopNow => {
                if a.all_users {
                    // Gracefully: no new requests; at once: requests in flight are abandoned too.
                    let (phase, name) = match a.kind {
                        ActionKind::Stop => (Phase::Stopping, "stop"),
                        _ => (Phase::Aborting, "stop-now"),
                    };
                    let scenario = &self.exec.scenario.name;
                    let why = format!("`action: {name}` (target all-threads) in scenario `{scenario}`");
                    self.ctx.stop.advance_because(phase, why);
                }
                Flow::Stop
            }
        }
    }

    async fn transaction(&mut self, t: &Transaction, outer: &mut Tally, emit: bool) -> Flow {
        let mut tally = Tally::default();
        let flow = self.steps(&t.steps, &mut tally, emit && !t.parent_only).await;
        if tally.samples > 0 {
            let sample = tally.sample(t.label, t.include_timers);
            self.record(sample, outer, emit);
        }
        outer.think_us += tally.think_us;
        flow
    }

    async fn request(&mut self, r: &RequestPlan, tally: &mut Tally, emit: bool) -> Flow {
        let scheduled = match self.before_send(r.think_time.as_ref(), tally).await {
            Ok(scheduled) => scheduled,
            Err(flow) => return flow,
        };
        let sample = self.send(r, scheduled).await;
        self.sent(sample, tally, emit)
    }

    async fn grpc(&mut self, g: &GrpcPlan, tally: &mut Tally, emit: bool) -> Flow {
        let scheduled = match self.before_send(g.think_time.as_ref(), tally).await {
            Ok(scheduled) => scheduled,
            Err(flow) => return flow,
        };
        let sample = self.call(g, scheduled).await;
        self.sent(sample, tally, emit)
    }

    /// A request's think time, then its slot in the execution's rate schedule: the time it was
    /// due (when the schedule fixes one), or how the user goes on when the test ended first.
    async fn before_send(
        &mut self,
        think_time: Option<&ThinkTime>,
        tally: &mut Tally,
    ) -> Result<Option<Instant>, Flow> {
        if !self.running() {
            return Err(Flow::Stop);
        }
        let first = self.first_arrival.take();
        // A user started for an arrival that is already due sends at once.
        if first.is_none() {
            if let Some(t) = think_time {
                let pause = think(t, &mut self.rng);
                if !pause.is_zero() {
                    if !wait(self.ctx, Instant::now() + pause, self.deadline).await {
                        return Err(Flow::Stop);
                    }
                    tally.think_us += pause.as_micros() as u64;
                }
            }
        }
        let slot = if self.exec.load.is_open() {
            // Open model: the dispatcher hands out arrivals at their time.
            let k = match first {
                Some(k) => Some(k),
                None => tokio::select! {
                    k = self.exec.pacer.next_arrival() => k,
                    _ = self.ctx.stop.reached(Phase::Stopping) => None,
                },
            };
            let Some(k) = k else { return Err(Flow::Stop) };
            self.exec.pacer.arrival(k)
        } else {
            self.exec.pacer.claim(self.begin.elapsed().as_secs_f64())
        };
        let mut scheduled = None;
        if let Some(Slot { at, scheduled: fixed }) = slot {
            let when = self.begin + Duration::from_secs_f64(at);
            let must_wait = when > Instant::now() || self.deadline.is_some_and(|d| when >= d);
            if must_wait && !wait(self.ctx, when, self.deadline).await {
                return Err(Flow::Stop);
            }
            if fixed {
                scheduled = Some(when);
            }
        }
        Ok(scheduled)
    }

    /// Records a finished sample; a failed one does what `on_sample_error` says.
    fn sent(&mut self, sample: Sample, tally: &mut Tally, emit: bool) -> Flow {
        let failed = sample.error_kind.is_some();
        self.record(sample, tally, emit);
        self.last_ok = !failed;
        if failed {
            return self.on_error();
        }
        Flow::Go
    }

    /// Hands a finished sample to the aggregator (unless a parent transaction hides it).
    fn record(&self, sample: Sample, tally: &mut Tally, emit: bool) {
        tally.add(&sample);
        if emit {
            self.ctx.sent.fetch_add(1, Ordering::Relaxed);
            self.ctx.samples.record(sample);
        }
    }

    /// A sample of `label` starting `now`, `scheduled` being when it was due.
    fn start(&self, label: u32, now: Instant, scheduled: Option<Instant>) -> Sample {
        let start_wall = self.ctx.started_wall + (now - self.ctx.started);
        Sample {
            label,
            start_us: start_wall.duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0),
            elapsed_us: 0,
            connect_us: 0,
            ttfb_us: 0,
            status: 0,
            error_kind: None,
            error: None,
            bytes: 0,
            lag_us: scheduled.map_or(0, |s| now.saturating_duration_since(s).as_micros() as u64),
            stream: None,
        }
    }

    /// One gRPC call: its metadata and (unless encoded at plan time) its request rendered for
    /// this user, then the call on the execution's next channel; the gRPC status is the
    /// sample's response code (`GRPC_STATUS + code`), any but `OK` fails it.
    async fn call(&mut self, g: &GrpcPlan, scheduled: Option<Instant>) -> Sample {
        let now = Instant::now();
        let mut sample = self.start(g.label, now, scheduled);
        if let Some(message) = self.pending_error.take() {
            sample.elapsed_us = 1;
            fail(&mut sample, ErrorKind::Transport, message);
            return sample;
        }
        let (request, metadata) = match self.grpc_request(g) {
            Ok(parts) => parts,
            Err(message) => {
                sample.elapsed_us = 1;
                fail(&mut sample, ErrorKind::Transport, message);
                return sample;
            }
        };
        let channel = match self.exec.grpc_channels(g) {
            Ok(channels) => channels.pick(),
            Err(message) => {
                sample.elapsed_us = 1;
                fail(&mut sample, ErrorKind::Tls, message.to_string());
                return sample;
            }
        };
        let keep = !g.assertions.is_empty() || !g.extractors.is_empty();
        tokio::select! {
            mut out = grpc::call(channel, g, request, metadata, keep) => {
                sample.elapsed_us = out.elapsed_us;
                sample.stream = out.stream.take();
                sample.ttfb_us = out.ttfb_us;
                sample.bytes = out.bytes;
                sample.status = GRPC_STATUS + out.code;
                if let Some(message) = &out.message {
                    let kind = match out.kind {
                        Some(kind) => kind,
                        None if grpc::is_deadline(out.code) => ErrorKind::Timeout,
                        None => ErrorKind::Status,
                    };
                    let name = crate::sample::grpc_code_name(out.code).unwrap_or("UNKNOWN");
                    fail(&mut sample, kind, format!("{name}: {message}"));
                }
                if keep {
                    self.grpc_checks(g, &mut sample, &out);
                }
            }
            _ = self.ctx.stop.reached(Phase::Aborting) => {
                sample.elapsed_us = now.elapsed().as_micros() as u64;
                fail(&mut sample, ErrorKind::Transport, "aborted: the test stopped while the call was in flight".to_string());
            }
        }
        sample
    }

    /// The call's request messages and metadata for this user.
    fn grpc_request(&mut self, g: &GrpcPlan) -> Result<(Vec<Bytes>, http::HeaderMap), String> {
        let functions = &self.exec.scenario.functions;
        let mut request = Vec::with_capacity(g.body.len());
        for message in &g.body {
            request.push(match message {
                Value::Fixed(b) => b.clone(),
                Value::Template(t) => g.encode(&t.render(&mut self.vars, functions).map_err(|e| e.to_string())?)?,
            });
        }
        let mut metadata = http::HeaderMap::with_capacity(g.metadata.len());
        for (name, value) in &g.metadata {
            let value = match value {
                Value::Fixed(v) => v.clone(),
                Value::Template(t) => {
                    let text = t.render(&mut self.vars, functions).map_err(|e| e.to_string())?;
                    HeaderValue::from_str(&text).map_err(|_| format!("invalid value `{text}` for metadata `{name}`"))?
                }
            };
            metadata.append(name.clone(), value);
        }
        Ok((request, metadata))
    }

    /// Extractors and assertions on the response in canonical JSON: the message of a unary
    /// call, the messages of a stream as a JSON array.
    fn grpc_checks(&mut self, g: &GrpcPlan, sample: &mut Sample, out: &grpc::Outcome) {
        if out.message.is_some() {
            self.checks(&g.assertions, &g.extractors, sample, None);
            return;
        }
        let decoded: Result<Vec<String>, String> = out.kept.iter().map(|m| g.decode(m)).collect();
        let text = match decoded {
            Ok(mut messages) if !g.server_streaming && messages.len() == 1 => messages.pop().unwrap_or_default(),
            Ok(messages) => format!("[{}]", messages.join(",")),
            Err(message) => {
                fail(sample, ErrorKind::Transport, message);
                self.checks(&g.assertions, &g.extractors, sample, None);
                return;
            }
        };
        let mut response = Response::new(sample.status, text.as_bytes(), "", "");
        response.elapsed = Duration::from_micros(sample.elapsed_us);
        self.checks(&g.assertions, &g.extractors, sample, Some(response));
    }

    async fn send(&mut self, r: &RequestPlan, scheduled: Option<Instant>) -> Sample {
        let now = Instant::now();
        let mut sample = self.start(r.label, now, scheduled);
        if let Some(message) = self.pending_error.take() {
            sample.elapsed_us = 1;
            fail(&mut sample, ErrorKind::Transport, message);
            return sample;
        }
        let scenario = &self.exec.scenario;
        let at = (&mut self.vars, self.iteration);
        let request = match build(r, &scenario.auth, at, &scenario.functions, &mut self.headers) {
            Ok(req) => req,
            Err(message) => {
                sample.elapsed_us = 1;
                fail(&mut sample, ErrorKind::Transport, message);
                return sample;
            }
        };
        let want = Want { body: r.body_limit, headers: r.needs_headers, url: r.needs_url, stream: r.stream.as_deref() };
        tokio::select! {
            mut out = self.client.send(request, r.follow_redirects, r.timeouts, want) => {
                sample.elapsed_us = out.elapsed_us;
                sample.ttfb_us = out.ttfb_us;
                sample.connect_us = out.connect_us;
                sample.status = out.status;
                sample.bytes = out.bytes;
                sample.stream = out.stream.take();
                if let Some((kind, message)) = out.error.take() {
                    fail(&mut sample, kind, message);
                } else if out.status >= 400 {
                    let reason = http::StatusCode::from_u16(out.status).ok().and_then(|s| s.canonical_reason()).unwrap_or("");
                    fail(&mut sample, ErrorKind::Status, format!("{} {}", out.status, reason).trim_end().to_string());
                }
                self.check(r, &mut sample, &out);
            }
            _ = self.ctx.stop.reached(Phase::Aborting) => {
                sample.elapsed_us = now.elapsed().as_micros() as u64;
                fail(&mut sample, ErrorKind::Transport, "aborted: the test stopped while the request was in flight".to_string());
            }
        }
        sample
    }

    /// Extractors, then assertions (JMeter runs post-processors first), on a response that came.
    fn check(&mut self, r: &RequestPlan, sample: &mut Sample, out: &Outcome) {
        if r.assertions.is_empty() && r.extractors.is_empty() {
            return;
        }
        let response = (out.status != 0).then(|| {
            let mut response = Response::within(out.status, &out.body, &out.headers, &out.url, r.body_limit);
            response.elapsed = Duration::from_micros(sample.elapsed_us);
            response
        });
        self.checks(&r.assertions, &r.extractors, sample, response);
    }

    /// Runs checks on a response; without one (none came) the extractors set their defaults.
    fn checks(
        &mut self,
        assertions: &[Assertion],
        extractors: &[Extractor],
        sample: &mut Sample,
        response: Option<Response<'_>>,
    ) {
        let Some(mut response) = response else {
            // No response: the sample already failed; variables get their defaults.
            for e in extractors {
                set_var(&mut self.vars.vars, &e.var, &e.default);
            }
            return;
        };
        for e in extractors {
            if let Err(message) = checks::extract(e, &mut response, &mut self.vars.vars, &mut self.rng) {
                if sample.error_kind.is_none() {
                    fail(sample, ErrorKind::Extraction, message);
                }
            }
        }
        let assumes_success = assertions.iter().any(|a| matches!(a, Assertion::Contains { assume_success: true, .. }));
        if assumes_success && sample.error_kind == Some(ErrorKind::Status) {
            sample.error_kind = None;
            sample.error = None;
        }
        for a in assertions {
            if let Err(message) = checks::assert(a, &mut response, &mut self.vars, &self.exec.scenario.functions) {
                if sample.error_kind.is_none() {
                    fail(sample, ErrorKind::Assertion, message);
                }
                break;
            }
        }
    }
}

/// The request with its placeholders filled in for a user's variables in its iteration (headers
/// go to the user's reusable `headers`); a value that does not parse, or a body template that
/// does not render, fails the sample.
fn build<'a>(
    r: &'a RequestPlan,
    auth: &[BasicAuth],
    (vars, iteration): (&mut UserVars, u64),
    functions: &Functions,
    headers: &'a mut Vec<(HeaderName, HeaderValue)>,
) -> Result<Request<'a>, String> {
    let method = match &r.method {
        Value::Fixed(m) => m.clone(),
        Value::Template(t) => {
            let text = t.render(vars, functions).map_err(|e| e.to_string())?;
            Method::from_bytes(text.to_ascii_uppercase().as_bytes())
                .map_err(|_| format!("invalid HTTP method `{text}`"))?
        }
    };
    let url = match &r.url {
        Value::Fixed(u) => Cow::Borrowed(u),
        Value::Template(t) => {
            let text = t.render(vars, functions).map_err(|e| e.to_string())?;
            Cow::Owned(Url::parse(&text).map_err(|e| format!("invalid URL `{text}`: {e}"))?)
        }
    };
    headers.clear();
    for (name, value) in &r.headers {
        let value = match value {
            Value::Fixed(v) => v.clone(),
            Value::Template(t) => {
                let text = t.render(vars, functions).map_err(|e| e.to_string())?;
                HeaderValue::from_str(&text).map_err(|_| format!("invalid value `{text}` for header `{name}`"))?
            }
        };
        headers.push((name.clone(), value));
    }
    if !auth.is_empty() && !headers.iter().any(|(n, _)| n == http::header::AUTHORIZATION) {
        if let Some(a) = auth.iter().find(|a| url.as_str().starts_with(&a.url_prefix)) {
            headers.push((http::header::AUTHORIZATION, a.header.clone()));
        }
    }
    let body = match &r.body {
        None => None,
        Some(Body::Fixed(b)) => Some(b.clone()),
        Some(Body::Template(t)) => {
            Some(Bytes::from(t.render(vars, functions).map_err(|e| e.to_string())?.into_owned()))
        }
        Some(Body::Parts(chunks)) => {
            let mut out = Vec::new();
            for chunk in chunks {
                match chunk {
                    Chunk::Fixed(b) => out.extend_from_slice(b),
                    Chunk::Template(t) => {
                        out.extend_from_slice(t.render(vars, functions).map_err(|e| e.to_string())?.as_bytes())
                    }
                }
            }
            Some(Bytes::from(out))
        }
        Some(Body::Rendered(t)) => {
            let text = t
                .render(vars.thread_num, iteration)
                .map_err(|e| format!("the body template could not be rendered: {e}"))?;
            let text = if text.contains("${") {
                Template::parse(&text).render(vars, functions).map_err(|e| e.to_string())?.into_owned()
            } else {
                text
            };
            Some(Bytes::from(text))
        }
    };
    Ok(Request { method, url, headers, body, version: r.http_version })
}

/// Sets a variable, reusing its buffer.
fn set_var(vars: &mut HashMap<String, String>, name: &str, value: &str) {
    match vars.get_mut(name) {
        Some(v) => {
            v.clear();
            v.push_str(value);
        }
        None => {
            vars.insert(name.to_string(), value.to_string());
        }
    }
}

/// Sleeps until `until`; false if the test stopped or the deadline came first.
async fn wait(ctx: &Context, until: Instant, deadline: Option<Instant>) -> bool {
    if let Some(d) = deadline.filter(|d| until >= *d) {
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

fn fail(sample: &mut Sample, kind: ErrorKind, message: String) {
    sample.error_kind = Some(kind);
    sample.error = Some(message.into());
}

#[cfg(test)]
#[path = "vu_tests.rs"]
mod tests;
