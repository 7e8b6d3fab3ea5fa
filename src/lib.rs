//! `suite` runs declarative performance-regression suites written in Taurus YAML.
//!
//! Data flows one way through the stages, one folder each:
//! [`config`] (files merged into one located tree, typed model) → [`plan`] (validated, resolved
//! executions and scenarios) → [`engine`] (virtual users send requests and emit samples) →
//! [`aggregate`] (per-second, per-label KPIs in HDR histograms) → [`criteria`] (Taurus pass/fail
//! verdicts, judged every second) → [`report`] (JUnit, CSV, console). [`runner`] is the only module
//! that drives every stage; [`outcome`] holds the exit codes.

pub mod aggregate;
pub mod cli;
pub mod config;
pub mod criteria;
pub mod discover;
pub mod engine;
pub mod fsutil;
pub mod monit;
pub mod monitoring;
pub mod outcome;
pub mod plan;
pub mod report;
pub mod runner;
pub mod services;
