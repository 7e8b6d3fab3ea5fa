//! Fuzz harnesses that stay in the repository and run in plain `cargo test`.
//!
//! Nightly Rust and cargo-fuzz are not available offline, so each harness is a proptest
//! strategy of inputs and a property ("never panics; errors are fine") run by [`run`]: in a
//! normal test run for a small fixed number of cases from a fixed seed (a few seconds), and,
//! with `FUZZ_SECS=<n>` in the environment, for `n` seconds, round after round of fresh random
//! seeds, counting executions:
//!
//! ```sh
//! FUZZ_SECS=600 cargo test --test integration fuzz::config -- --nocapture
//! ```
//!
//! A failing case is shrunk by proptest and the test panics with the minimal input. How long
//! each harness ran, and what it found, is recorded in `docs/fuzzing.md`.

mod config;
mod criteria;

use std::cell::Cell;
use std::fmt::Debug;
use std::io::Write as _;
use std::panic::AssertUnwindSafe;
use std::sync::Once;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseResult, TestError, TestRng, TestRunner};

/// Runs `test` on inputs from `strategy`: `cases` of them (a harness picks a number that takes
/// a second or two), or rounds of `cases` until `FUZZ_SECS` have passed. Panics with the shrunk
/// input if a case fails or panics.
pub fn run<S>(name: &str, cases: u32, strategy: S, test: impl Fn(S::Value) -> TestCaseResult)
where
    S: Strategy,
    S::Value: Debug,
{
    let budget = std::env::var("FUZZ_SECS").ok().and_then(|s| s.parse::<u64>().ok()).map(Duration::from_secs);
    let executions = Cell::new(0u64);
    let counted = &|value: S::Value| {
        executions.set(executions.get() + 1);
        test(value)
    };
    let started = Instant::now();
    let mut rounds = 0u64;
    loop {
        let config = Config { cases, failure_persistence: None, max_shrink_iters: 4096, ..Config::default() };
        let rng = match budget {
            None => TestRng::deterministic_rng(RngAlgorithm::XorShift),
            Some(_) => TestRng::from_seed(RngAlgorithm::XorShift, &seed(rounds)),
        };
        let mut runner = TestRunner::new_with_rng(config, rng);
        match runner.run(&strategy, counted) {
            Ok(()) => {}
            Err(TestError::Fail(reason, input)) => {
                panic!("fuzz {name}: {reason} after {} executions\nminimal input: {input:#?}", executions.get())
            }
            Err(TestError::Abort(reason)) => panic!("fuzz {name}: aborted: {reason}"),
        }
        rounds += 1;
        if budget.is_none_or(|b| started.elapsed() >= b) {
            break;
        }
    }
    // Past the test harness's capture, so a timed run shows its figures without --nocapture.
    let _ = writeln!(
        std::io::stderr(),
        "fuzz {name}: {} executions in {:.1}s ({rounds} rounds), no failure",
        executions.get(),
        started.elapsed().as_secs_f64()
    );
}

/// Runs `f`, catching a panic without printing it (the panic hook stays quiet on this thread
/// meanwhile); returns the panic's message.
pub fn catch_quietly<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.get() {
                previous(info);
            }
        }));
    });
    QUIET.set(true);
    let result = std::panic::catch_unwind(AssertUnwindSafe(f));
    QUIET.set(false);
    result.map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

thread_local! {
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// A fresh seed per round of a timed run.
fn seed(round: u64) -> [u8; 16] {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut seed = [0u8; 16];
    seed[..8].copy_from_slice(&nanos.to_le_bytes());
    seed[8..].copy_from_slice(&round.to_le_bytes());
    seed
}
