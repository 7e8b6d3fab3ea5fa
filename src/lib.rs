//! `suite` runs declarative performance-regression suites written in Taurus YAML.
//!
//! Data flows one way through the stages, one folder each:
//! [`config`] (files merged into one located tree, typed model) → [`plan`] (validated, resolved
//! executions and scenarios) → [`engine`] (virtual users send requests and emit a [`sample::Sample`]
//! each) → [`aggregate`] (per-second, per-label KPIs in HDR histograms) → [`criteria`] (Taurus
//! pass/fail verdicts, judged every second) → [`report`] (JUnit, CSV, console). [`sample`] sits
//! beside the stages because every stage after the engine reads it; no stage imports one below it.
//! [`runner`] is the only module that drives every stage; [`outcome`] holds the exit codes;
//! [`output`] is the one way to stdout.

// Stdout may close early (`suite run | head`): printing goes through `output`, which never panics.
#![cfg_attr(not(test), warn(clippy::print_stdout, clippy::print_stderr))]

pub mod aggregate;
pub mod civil;
pub mod cli;
pub mod compare;
pub mod config;
pub mod criteria;
pub mod discover;
pub mod engine;
pub mod executors;
pub mod fsutil;
pub mod k8s;
pub mod monitoring;
pub mod outcome;
pub mod output;
pub mod plan;
pub mod report;
pub mod runner;
pub mod sample;
pub mod services;
pub mod tls;

#[cfg(test)]
mod testing;
